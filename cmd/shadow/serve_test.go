package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/cassmove/shadow/dashboards"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore/s3test"
	"github.com/cassmove/shadow/shadow/demo"
	"github.com/cassmove/shadow/shadow/promtest"
)

// daemon is a `shadow serve` process.
type daemon struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit, once done is closed
}

func startServe(t *testing.T, dir string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(shadowBin, append([]string{"serve"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TZ=UTC"}, env...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &errb, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("shadow serve output:\n%s", errb.String())
		}
	})
	return d
}

// waitFor polls ok until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestServeEndToEnd is the acceptance test of the nightly service: `shadow
// serve`, on a short schedule, against a real S3 server (versitygw) holding
// the backups and the Iceberg warehouse, a real Prometheus scraping it and
// evaluating the alerting rules, and a real Alertmanager. It sees a run
// complete, Prometheus scrape its metrics, Alertmanager receive the mismatch
// alert, and the discrepancies in the log.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with versitygw, Prometheus and Alertmanager")
	}
	ctx := context.Background()
	s3 := s3test.Start(t)
	s3.Setenv(t)
	s3.CreateBucket(t, "backups")
	s3.CreateBucket(t, "lake")
	dir := t.TempDir()
	s3cfg := lake.S3{Endpoint: s3.Endpoint, PathStyle: true, Region: "us-east-1"}
	loc := lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "world", "catalog.db"), Warehouse: "s3://lake/warehouse", S3: s3cfg}
	world, err := demo.BuildWorld(ctx, demo.WorldOptions{
		Dir:       filepath.Join(dir, "world"),
		Store:     "s3://backups/shop",
		S3:        s3cfg,
		Legacy:    loc,
		New:       loc,
		Mutations: 2500,
		Schedule:  "@every 4s",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("world built: %s", world.Dir)

	am := promtest.StartAlertmanager(t, "")
	listen := promtest.FreeAddr(t)
	rules, err := filepath.Abs("../../dashboards/shadow.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusConfig{
		Targets:       []promtest.Target{{Job: "shadow", Addr: listen}},
		RuleFiles:     []string{rules},
		Alertmanagers: []string{am.Addr},
	})

	d := startServe(t, dir, s3.Env(), "--config", world.Config, "--listen", listen,
		"--alertmanager", am.URL, "--concurrency", "2", "--grace", "20s", "--log-level", "info")

	t.Logf("serve started on %s", listen)
	// The daemon answers its health and readiness probes.
	waitFor(t, "/readyz", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// A run completes: the log has a finished run of orders that differs.
	var runID string
	waitFor(t, "a finished run of orders in the log", 2*time.Minute, func() bool {
		r := runShadowEnv(t, dir, s3.Env(), "--config", world.Config, "--json", "log", "runs", "--dataset", "orders")
		var out struct {
			Items []struct {
				RunID  string `json:"run_id"`
				Status string `json:"status"`
			} `json:"items"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &out) != nil {
			return false
		}
		for _, it := range out.Items {
			if it.Status == "differs" {
				runID = it.RunID
				return true
			}
			if it.Status == "failed" {
				t.Fatalf("run %s failed:\n%s\ndaemon:\n%s", it.RunID, r.Stdout, d.stderr)
			}
		}
		return false
	})

	t.Logf("run %s finished", runID)
	// The discrepancies are in the log.
	r := runShadowEnv(t, dir, s3.Env(), "--config", world.Config, "--json", "log", "discrepancies", "--run", runID, "--limit", "5")
	var disc struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &disc) != nil || disc.Total == 0 || len(disc.Items) == 0 {
		t.Fatalf("discrepancies of %s: exit %d total %d\n%s%s", runID, r.Code, disc.Total, r.Stdout, r.Stderr)
	}

	// Prometheus scraped the run's metrics.
	prom.WaitForQuery(t, `shadow_runs_total{dataset="orders",status="differs"} >= 1`, time.Minute, promtest.NonEmpty)
	prom.WaitForQuery(t, `shadow_only_in_new_rows{dataset="orders"} > 0`, time.Minute, promtest.NonEmpty)
	v := prom.WaitForQuery(t, `shadow_objectstore_requests_total{operation="get",result="ok"}`, time.Minute, promtest.NonEmpty)
	if vec, ok := v.(model.Vector); !ok || vec[0].Value == 0 {
		t.Errorf("no object-store GETs counted: %v", v)
	}

	// Stand-in for Grafana: every PromQL expression of the dashboard returns
	// data from this Prometheus, which scraped a real `shadow serve`.
	qs, err := dashboards.Queries()
	if err != nil {
		t.Fatal(err)
	}
	// rate() and increase() need two samples of the run counters.
	prom.WaitForQuery(t, `count_over_time(shadow_runs_total{dataset="orders",status="differs"}[1m]) >= 2`, time.Minute, promtest.NonEmpty)
	for _, sel := range []map[string]string{{}, {"dataset": "orders", "cohort": "default"}} {
		for _, q := range qs {
			expr, err := dashboards.Expand(q.Expr, sel)
			if err != nil {
				t.Errorf("%s: %v", q.Where, err)
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			v, err := prom.Query(qctx, expr)
			cancel()
			if err != nil || !promtest.NonEmpty(v) {
				t.Errorf("%s with %v: no data for %s (%v)", q.Where, sel, expr, err)
			}
		}
	}

	// Alertmanager received the mismatch alert, from the runner (and from
	// Prometheus' rule; both carry the same labels, so they are one alert).
	alerts := am.WaitForAlerts(t, time.Minute, func(a []promtest.AMAlert) bool { return len(a) > 0 },
		`alertname="ShadowDifferenceDetected"`, `dataset="orders"`)
	if a := alerts[0]; a.Labels["severity"] == "" || a.Annotations["runbook_url"] == "" {
		t.Errorf("alert without severity or runbook: %+v", a)
	}

	// SIGTERM: the daemon stops cleanly, finishing or aborting runs in flight.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			t.Fatalf("serve exited with %v", d.err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute of SIGTERM\n%s", d.stderr)
	}
	r = runShadowEnv(t, dir, s3.Env(), "--config", world.Config, "--json", "log", "runs", "--limit", "0")
	if strings.Contains(r.Stdout, `"status":"running"`) {
		t.Errorf("runs left running after shutdown:\n%s", r.Stdout)
	}
}
