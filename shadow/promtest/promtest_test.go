package promtest

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/model"
)

// TestStackScrapesAndAlerts proves the three binaries work together the way
// the project's tests use them: Prometheus scrapes a test HTTP server and a
// Pushgateway, evaluates a rule and sends the alert to Alertmanager.
func TestStackScrapesAndAlerts(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "promtest_answer", Help: "A test gauge."})
	g.Set(42)
	reg.MustRegister(g)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	pg := StartPushgateway(t)
	pushed := prometheus.NewGauge(prometheus.GaugeOpts{Name: "promtest_pushed", Help: "A pushed gauge."})
	pushed.Set(7)
	if err := push.New(pg.URL, "batch").Grouping("dataset", "orders").Collector(pushed).Add(); err != nil {
		t.Fatal(err)
	}

	am := StartAlertmanager(t, "")
	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: promtest
    rules:
      - alert: PromtestAnswer
        expr: max by (job) (promtest_answer) == 42
        labels: {severity: info}
        annotations: {summary: The answer is known.}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := StartPrometheus(t, PrometheusConfig{
		Targets: []Target{
			{Job: "promtest", Addr: strings.TrimPrefix(srv.URL, "http://")},
			{Job: "pushgateway", Addr: pg.Addr, HonorLabels: true},
		},
		RuleFiles:     []string{rules},
		Alertmanagers: []string{am.Addr},
	})

	v := p.WaitForQuery(t, `promtest_answer{job="promtest"}`, time.Minute, NonEmpty)
	if s := v.(model.Vector)[0]; s.Value != 42 {
		t.Errorf("promtest_answer = %v, want 42", s.Value)
	}
	// honor_labels keeps the pushed group's job and dataset labels.
	v = p.WaitForQuery(t, `promtest_pushed{job="batch",dataset="orders"}`, time.Minute, NonEmpty)
	if s := v.(model.Vector)[0]; s.Value != 7 {
		t.Errorf("promtest_pushed = %v, want 7", s.Value)
	}
	got := am.WaitForAlerts(t, time.Minute, func(a []AMAlert) bool { return len(a) == 1 }, `alertname="PromtestAnswer"`)
	if got[0].Labels["job"] != "promtest" || got[0].Labels["severity"] != "info" {
		t.Errorf("alert labels = %v", got[0].Labels)
	}
	if got[0].Annotations["summary"] != "The answer is known." {
		t.Errorf("alert annotations = %v", got[0].Annotations)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := pg.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, `promtest_pushed{dataset="orders",instance="",job="batch"} 7`) {
		t.Errorf("pushgateway exposition lacks the pushed gauge:\n%s", text)
	}
}

func TestPromtool(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("groups:\n  - name: x\n    rules:\n      - alert: Bad\n        expr: sum(\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := Promtool(t, dir, "check", "rules", "bad.yml")
	if code == 0 {
		t.Fatalf("promtool accepted a broken rule file:\n%s", out)
	}
}

func TestPrometheusYAML(t *testing.T) {
	b, err := prometheusYAML(PrometheusConfig{
		ScrapeInterval: time.Second, EvaluationInterval: 2 * time.Second,
		Targets:       []Target{{Addr: "127.0.0.1:1"}, {Job: "pg", Addr: "127.0.0.1:2", HonorLabels: true, MetricsPath: "/m"}},
		RuleFiles:     []string{"/abs/rules.yml"},
		Alertmanagers: []string{"127.0.0.1:3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `global:
  scrape_interval: 1s
  evaluation_interval: 2s
rule_files:
  - "/abs/rules.yml"
alerting:
  alertmanagers:
    - static_configs:
        - targets:
            - "127.0.0.1:3"
scrape_configs:
  - job_name: "shadow-0"
    static_configs:
      - targets: ["127.0.0.1:1"]
        labels: {job: "shadow"}
  - job_name: "pg-1"
    metrics_path: "/m"
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:2"]
        labels: {job: "pg"}
`
	if string(b) != want {
		t.Errorf("config:\n%s\nwant:\n%s", b, want)
	}
	// Prometheus itself must accept it.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// promtool check config also checks that rule files exist; give it one.
	b2 := strings.Replace(string(b), "/abs/rules.yml", filepath.Join(dir, "r.yml"), 1)
	os.WriteFile(filepath.Join(dir, "r.yml"), []byte("groups: []\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p.yml"), []byte(b2), 0o644)
	if out, code := Promtool(t, dir, "check", "config", "p.yml"); code != 0 {
		t.Errorf("promtool check config: %s", out)
	}
}

// The empty config must also be valid for Prometheus.
func TestPrometheusYAMLEmpty(t *testing.T) {
	b, err := prometheusYAML(PrometheusConfig{ScrapeInterval: time.Second, EvaluationInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yml"), b, 0o644)
	if out, code := Promtool(t, dir, "check", "config", "p.yml"); code != 0 {
		t.Errorf("promtool check config: %s\n%s", out, b)
	}
}

// Debian's Pushgateway persists to a shared file by default; two gateways of
// one test run must not share state.
func TestPushgatewaysAreIsolated(t *testing.T) {
	// The first gateway stops (and persists) at the end of its subtest.
	t.Run("first", func(t *testing.T) {
		pg1 := StartPushgateway(t)
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "promtest_isolated", Help: "A pushed gauge."})
		if err := push.New(pg1.URL, "iso").Collector(g).Add(); err != nil {
			t.Fatal(err)
		}
	})
	pg2 := StartPushgateway(t)
	text, err := pg2.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "promtest_isolated") {
		t.Errorf("a new Pushgateway starts with another's groups")
	}
}
