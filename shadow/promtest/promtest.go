// Package promtest starts the real Prometheus, Alertmanager and Pushgateway
// binaries (Debian's prometheus, prometheus-alertmanager and
// prometheus-pushgateway) as plain processes on 127.0.0.1, each on a free port
// with its own temporary directory, for the duration of one test.
//
//	test ──scrape──▶ httptest /metrics           (PrometheusConfig.Targets)
//	     Prometheus ──rules──▶ alerts ──▶ Alertmanager   (PrometheusConfig.Alertmanagers)
//	     Prometheus ──scrape, honor_labels──▶ Pushgateway ◀──push-add── one-shot run
//
// The binaries are installed by `make test-deps` (scripts/test-deps.sh). Under
// -short every Start function skips the test; otherwise a missing binary fails
// it with a message that says how to install it, never a silent skip.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// startTimeout bounds how long a binary may take to answer its readiness
// endpoint. It is generous because the machine is shared.
const startTimeout = 60 * time.Second

// Binary finds one of the stack's binaries (prometheus, promtool,
// prometheus-alertmanager, amtool, prometheus-pushgateway) on PATH.
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found on PATH: run `make test-deps` (it installs prometheus, prometheus-alertmanager and prometheus-pushgateway from Debian)", name)
}

// NeedBinary returns the path of a binary for a test: it skips under -short
// and fails the test if the binary is missing.
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s; skipped under -short", name)
	}
	p, err := Binary(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Target is one scrape job of the test Prometheus.
type Target struct {
	Job         string // job label; default "shadow"
	Addr        string // host:port serving the metrics
	MetricsPath string // default /metrics
	// HonorLabels keeps the target's own job and instance labels, as a
	// Pushgateway scrape must (prometheus docs, pushing.md).
	HonorLabels bool
}

// PrometheusConfig configures StartPrometheus.
type PrometheusConfig struct {
	ScrapeInterval     time.Duration // default 1s
	EvaluationInterval time.Duration // default 1s
	Targets            []Target
	RuleFiles          []string // rule files, loaded as they are (absolute or relative to the test's directory)
	Alertmanagers      []string // host:port of Alertmanagers to send alerts to
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	Dir  string // config and TSDB
}

// StartPrometheus runs Prometheus for the duration of the test.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	bin := NeedBinary(t, "prometheus")
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	if cfg.EvaluationInterval == 0 {
		cfg.EvaluationInterval = time.Second
	}
	dir := t.TempDir()
	conf, err := prometheusYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	p := &Prometheus{URL: "http://" + addr, Addr: addr, Dir: dir}
	start(t, "prometheus", bin, []string{
		"--config.file=" + confPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.enable-lifecycle",
		"--log.level=warn",
	}, dir, p.URL+"/-/ready")
	return p
}

// prometheusYAML renders the config. Every value is quoted with %q, which is
// valid YAML for the strings used here.
func prometheusYAML(cfg PrometheusConfig) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", model.Duration(cfg.ScrapeInterval), model.Duration(cfg.EvaluationInterval))
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			abs, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "  - %q\n", abs)
		}
	}
	if len(cfg.Alertmanagers) > 0 {
		b.WriteString("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets:\n")
		for _, a := range cfg.Alertmanagers {
			fmt.Fprintf(&b, "            - %q\n", a)
		}
	}
	b.WriteString("scrape_configs:\n")
	if len(cfg.Targets) == 0 {
		// Prometheus scrapes itself so that the config is never empty.
		b.WriteString("  - job_name: prometheus\n    static_configs: [{targets: []}]\n")
	}
	for i, tg := range cfg.Targets {
		job := tg.Job
		if job == "" {
			job = "shadow"
		}
		// Job names must be unique in a config even when the job label is not.
		fmt.Fprintf(&b, "  - job_name: %q\n", fmt.Sprintf("%s-%d", job, i))
		if tg.MetricsPath != "" {
			fmt.Fprintf(&b, "    metrics_path: %q\n", tg.MetricsPath)
		}
		if tg.HonorLabels {
			b.WriteString("    honor_labels: true\n")
		}
		fmt.Fprintf(&b, "    static_configs:\n      - targets: [%q]\n        labels: {job: %q}\n", tg.Addr, job)
	}
	return b.Bytes(), nil
}

// Query evaluates an instant query now through Prometheus' HTTP API
// (GET /api/v1/query). The result is a model.Vector, model.Matrix,
// *model.Scalar or *model.String.
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Value, error) {
	q := url.Values{"query": {expr}, "time": {fmt.Sprintf("%.3f", float64(time.Now().UnixMilli())/1000)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", expr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", expr, err)
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("prometheus query %q: HTTP %d: %s", expr, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s", expr, r.Error)
	}
	var v model.Value
	switch r.Data.ResultType {
	case "vector":
		v = &model.Vector{}
	case "matrix":
		v = &model.Matrix{}
	case "scalar":
		v = &model.Scalar{}
	case "string":
		v = &model.String{}
	default:
		return nil, fmt.Errorf("prometheus query %q: unknown result type %q", expr, r.Data.ResultType)
	}
	if err := json.Unmarshal(r.Data.Result, v); err != nil {
		return nil, fmt.Errorf("prometheus query %q: decoding %s: %w", expr, r.Data.ResultType, err)
	}
	switch x := v.(type) {
	case *model.Vector:
		return *x, nil
	case *model.Matrix:
		return *x, nil
	}
	return v, nil
}

// WaitForQuery polls an instant query until ok accepts its result, and fails
// the test after timeout with the last result. It is how a test waits for a
// scrape or a rule evaluation to have happened; it asserts nothing about speed.
func (p *Prometheus) WaitForQuery(t testing.TB, expr string, timeout time.Duration, ok func(model.Value) bool) model.Value {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last model.Value
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		v, err := p.Query(ctx, expr)
		cancel()
		if err == nil && ok(v) {
			return v
		}
		last, lastErr = v, err
		if time.Now().After(deadline) {
			t.Fatalf("prometheus: %q did not reach the expected result within %s; last result %v, error %v", expr, timeout, last, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// NotificationsSent returns how many alerts Prometheus has sent to
// Alertmanagers (prometheus_notifications_sent_total on its own /metrics).
func (p *Prometheus) NotificationsSent(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prometheus %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "prometheus_notifications_sent_total") {
			continue
		}
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			return 0, fmt.Errorf("prometheus %s: %q: %w", p.URL, line, err)
		}
		sum += v
	}
	return sum, nil
}

// WaitForNotifications waits until Prometheus has sent at least n alerts to
// Alertmanager, and fails the test after timeout.
func (p *Prometheus) WaitForNotifications(t testing.TB, n float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := p.NotificationsSent(ctx)
		cancel()
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus sent %v alerts within %s, want at least %v (error %v)", got, timeout, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// NonEmpty accepts a query result with at least one sample or series.
func NonEmpty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) > 0
	case model.Matrix:
		return len(v) > 0
	case *model.Scalar, *model.String:
		return v != nil
	}
	return false
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	Dir  string
}

// DefaultAlertmanagerConfig routes every alert to a receiver that notifies
// nobody: tests read alerts through the API.
const DefaultAlertmanagerConfig = `route:
  receiver: "null"
  group_by: [alertname, dataset]
receivers:
  - name: "null"
`

// WebhookAlertmanagerConfig routes every alert, firing and resolved, to a
// webhook receiver at url with short group timers, so that a test sees
// notifications within seconds.
func WebhookAlertmanagerConfig(url string) string {
	return fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, dataset]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %q
        send_resolved: true
`, url)
}

// StartAlertmanager runs Alertmanager with the given configuration YAML (""
// means DefaultAlertmanagerConfig), with clustering off.
func StartAlertmanager(t testing.TB, config string) *Alertmanager {
	t.Helper()
	bin := NeedBinary(t, "prometheus-alertmanager")
	if config == "" {
		config = DefaultAlertmanagerConfig
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	am := &Alertmanager{URL: "http://" + addr, Addr: addr, Dir: dir}
	start(t, "alertmanager", bin, []string{
		"--config.file=" + confPath,
		"--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	}, dir, am.URL+"/-/ready")
	return am
}

// AMAlert is an alert as Alertmanager's API v2 lists it (GET /api/v2/alerts).
type AMAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"` // active, suppressed, unprocessed
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds that are not resolved, filtered
// by label matchers such as `alertname="ShadowRunFailed"` (API v2 filter
// syntax). Alertmanager drops resolved alerts from this list.
func (am *Alertmanager) Alerts(ctx context.Context, matchers ...string) ([]AMAlert, error) {
	q := url.Values{}
	for _, m := range matchers {
		q.Add("filter", m)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/api/v2/alerts?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: list alerts: %w", am.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("alertmanager %s: list alerts: HTTP %d: %s", am.URL, resp.StatusCode, body)
	}
	var alerts []AMAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("alertmanager %s: list alerts: %w", am.URL, err)
	}
	return alerts, nil
}

// WaitForAlerts polls Alerts until ok accepts the list, and fails the test
// after timeout with the last list.
func (am *Alertmanager) WaitForAlerts(t testing.TB, timeout time.Duration, ok func([]AMAlert) bool, matchers ...string) []AMAlert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := am.Alerts(ctx, matchers...)
		cancel()
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager: alerts %v did not reach the expected state within %s; last list %+v, error %v", matchers, timeout, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Pushgateway is a running Pushgateway. Its persistence file lives in the
// test's temporary directory: Debian's build defaults to
// /var/lib/prometheus/pushgateway.data, which would leak groups from one test
// (or one test run) into the next.
type Pushgateway struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
}

// StartPushgateway runs a Pushgateway for the duration of the test.
func StartPushgateway(t testing.TB) *Pushgateway {
	t.Helper()
	bin := NeedBinary(t, "prometheus-pushgateway")
	dir := t.TempDir()
	addr := FreeAddr(t)
	pg := &Pushgateway{URL: "http://" + addr, Addr: addr}
	start(t, "pushgateway", bin, []string{
		"--web.listen-address=" + addr,
		"--persistence.file=" + filepath.Join(dir, "pushgateway.data"),
		"--log.level=warn",
	}, dir, pg.URL+"/-/ready")
	return pg
}

// Metrics returns the Pushgateway's /metrics exposition (every group).
func (pg *Pushgateway) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pg.URL+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("pushgateway %s: %w", pg.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("pushgateway %s: HTTP %d: %s", pg.URL, resp.StatusCode, b)
	}
	return string(b), nil
}

// Promtool runs `promtool ARGS...` in dir and returns its combined output and
// exit code. It skips under -short and fails if promtool is missing.
func Promtool(t testing.TB, dir string, args ...string) (string, int) {
	t.Helper()
	bin := NeedBinary(t, "promtool")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// start runs a binary until the end of the test and waits until readyURL
// answers 200. Its output goes to NAME.log in dir, shown if it fails to start.
func start(t testing.TB, name, bin string, args []string, dir, readyURL string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM lets Prometheus close its TSDB; kill if it lingers.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited at start-up: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s did not become ready on %s within %s: %s", name, readyURL, startTimeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
