package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/demo"
	"github.com/cassmove/shadow/shadow/promtest"
)

// buildWorld builds a small demo world under dir/world (file store, SQLite
// catalog) and returns it.
func buildWorld(t *testing.T, dir string, o demo.WorldOptions) *demo.World {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a simulated cluster and Iceberg tables")
	}
	o.Dir = filepath.Join(dir, "world")
	if o.Mutations == 0 {
		o.Mutations = 1200
	}
	w, err := demo.BuildWorld(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	w := buildWorld(t, dir, demo.WorldOptions{})
	cfg := "--config=" + w.Config

	r := runShadow(t, dir, cfg, "run", "--dataset", "orders", "--night", "2026-11-24")
	if r.Code != exitDiffers || !strings.Contains(r.Stdout, "run orders/2026-11-24: differs") || !strings.Contains(r.Stdout, "only in new (M−C)") {
		t.Fatalf("run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = runShadow(t, dir, cfg, "--json", "run", "--dataset", "orders", "--night", "2026-11-24")
	var res struct {
		RunID  string         `json:"run_id"`
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
		Stages []any          `json:"stages"`
	}
	if r.Code != exitDiffers || json.Unmarshal([]byte(r.Stdout), &res) != nil {
		t.Fatalf("run --json: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if res.RunID != "orders/2026-11-24#2" || res.Status != "differs" || res.Counts["legacy_rows"] == 0 || len(res.Stages) != 6 {
		t.Errorf("run --json: %+v", res)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run"}, exitUsage, "--dataset is required"},
		{[]string{"run", "--dataset", "nope"}, exitUsage, `dataset "nope"`},
		{[]string{"run", "--dataset", "orders", "--night", "24/11/2026"}, exitUsage, "--night"},
		{[]string{"run", "--dataset", "orders", "--ad-hoc", "--night", "2026-11-24"}, exitUsage, "exclude"},
		{[]string{"run", "--dataset", "orders", "--memory", "lots"}, exitUsage, "--memory"},
	} {
		r := runShadow(t, dir, append([]string{cfg}, c.args...)...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, r.Code, c.code, c.msg, r.Stderr)
		}
	}

	// A one-shot run pushes its metrics (push-add) and posts its alert
	// itself, with no Prometheus in between.
	pg := promtest.StartPushgateway(t)
	am := promtest.StartAlertmanager(t, "")
	r = runShadow(t, dir, cfg, "run", "--dataset", "users", "--pushgateway", pg.URL, "--alertmanager", am.URL)
	if r.Code != exitDiffers {
		t.Fatalf("run with pushgateway and alertmanager: exit %d\n%s", r.Code, r.Stderr)
	}
	body, err := pg.Metrics(context.Background())
	if err != nil || !strings.Contains(body, `shadow_runs_total{dataset="users",instance="",job="shadow",status="differs"} 1`) {
		t.Errorf("the Pushgateway lacks the run (%v):\n%s", err, grepLines(body, "shadow_runs_total"))
	}
	am.WaitForAlerts(t, 30*time.Second, func(a []promtest.AMAlert) bool { return len(a) == 1 },
		`alertname="ShadowDifferenceDetected"`, `dataset="users"`)

	// The backups are gone: the run fails in the move stage, says so, and
	// the log has it.
	if err := os.RemoveAll(filepath.Join(w.Dir, "backups")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(w.Dir, "backups"), 0o755)
	r = runShadow(t, dir, cfg, "run", "--dataset", "users", "--ad-hoc")
	if r.Code == exitOK || r.Code == exitDiffers || !strings.Contains(r.Stdout, "failed in stage move") || !strings.Contains(r.Stderr, "backup") {
		t.Fatalf("run without backups: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = runShadow(t, dir, cfg, "log", "runs", "--dataset", "users")
	if r.Code != 0 || !strings.Contains(r.Stdout, "failed") {
		t.Errorf("log runs after a failed run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The failed run pushes with push-add: the group keeps the earlier
	// success (shadow_run_last_success_timestamp_seconds stays set).
	r = runShadow(t, dir, cfg, "run", "--dataset", "users", "--ad-hoc", "--pushgateway", pg.URL)
	body, err = pg.Metrics(context.Background())
	if err != nil || !strings.Contains(body, `shadow_runs_total{dataset="users",instance="",job="shadow",status="failed"} 1`) ||
		!regexp.MustCompile(`(?m)^shadow_run_last_success_timestamp_seconds\{dataset="users",instance="",job="shadow"\} [1-9]`).MatchString(body) {
		t.Errorf("after a failed run the Pushgateway has (%v):\n%s", err, grepLines(body, `dataset="users"`))
	}
}

// The fallback executor: the decider's path, the new engine, the legacy
// command when the engine fails, and the exit codes.
func TestExecute(t *testing.T) {
	dir := t.TempDir()
	w := buildWorld(t, dir, demo.WorldOptions{})
	cfg := "--config=" + w.Config
	marker := filepath.Join(dir, "legacy-ran")
	legacy := []string{"--", "sh", "-c", "echo legacy connector ran; touch " + marker}
	ran := func() bool {
		_, err := os.Stat(marker)
		os.Remove(marker)
		return err == nil
	}

	// No rule: LEGACY, the legacy command runs.
	r := runShadow(t, dir, append([]string{cfg, "execute", "--dataset", "users"}, legacy...)...)
	if r.Code != exitOK || !ran() || !strings.Contains(r.Stderr, "LEGACY") || !strings.Contains(r.Stdout, "legacy connector ran") {
		t.Fatalf("legacy path: exit %d ran=%v\n%s%s", r.Code, ran(), r.Stdout, r.Stderr)
	}

	// Pinned to the new path: the engine writes the destination table and
	// the legacy command does not run.
	if r := runShadow(t, dir, cfg, "decider", "pin", "users", "new", "--reason", "test", "--author", "oncall"); r.Code != 0 {
		t.Fatalf("pin: %d %s", r.Code, r.Stderr)
	}
	r = runShadow(t, dir, append([]string{cfg, "execute", "--dataset", "users"}, legacy...)...)
	if r.Code != exitOK || ran() || !strings.Contains(r.Stderr, "MOVE_DATA") || !strings.Contains(r.Stderr, "the new engine wrote") {
		t.Fatalf("new path: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// The engine fails (the backups are gone): the legacy command runs and
	// the fallback is recorded.
	if err := os.RemoveAll(filepath.Join(w.Dir, "backups")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(w.Dir, "backups"), 0o755)
	r = runShadow(t, dir, append([]string{cfg, "execute", "--dataset", "users"}, legacy...)...)
	if r.Code != exitOK || !ran() || !strings.Contains(r.Stderr, "falling back to the legacy command") {
		t.Fatalf("fallback: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	h := runShadow(t, dir, cfg, "--json", "decider", "history", "--limit", "0")
	if h.Code != 0 || !strings.Contains(h.Stdout, `"fallback"`) {
		t.Errorf("the fallback is not in the decider's history:\n%s%s", h.Stdout, h.Stderr)
	}

	// Both paths fail: exit 3.
	r = runShadow(t, dir, cfg, "execute", "--dataset", "users", "--", "sh", "-c", "exit 7")
	if r.Code != exitFailure || !strings.Contains(r.Stderr, "both paths failed") {
		t.Fatalf("both fail: exit %d\n%s", r.Code, r.Stderr)
	}

	// A registry that cannot be read answers LEGACY: the legacy command runs.
	bad := filepath.Join(dir, "not-a-db")
	os.WriteFile(bad, []byte("this is not SQLite"), 0o644)
	r = runShadow(t, dir, append([]string{cfg, "--db", bad, "execute", "--dataset", "users"}, legacy...)...)
	if r.Code != exitOK || !ran() || !strings.Contains(r.Stderr, "LEGACY") {
		t.Fatalf("unreadable registry: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"execute", "--dataset", "users"},
		{"execute", "--", "true"},
		{"execute", "--dataset", "nope", "--", "true"},
	} {
		if r := runShadow(t, dir, append([]string{cfg}, args...)...); r.Code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.Code, r.Stderr)
		}
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
