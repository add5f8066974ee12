package dashboards

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/promtest"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestRulesPromtool(t *testing.T) {
	if out, code := promtest.Promtool(t, ".", "check", "rules", RulesFile); code != 0 {
		t.Fatalf("promtool check rules:\n%s", out)
	}
	if out, code := promtest.Promtool(t, ".", "test", "rules", "shadow.rules_test.yml"); code != 0 {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// The rule unit tests can fail: the same tests against altered rules must.
func TestRulesPromtoolCatchesBrokenRules(t *testing.T) {
	rules, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("shadow.rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"difference waits", "        for: 0m\n        labels:\n          severity: critical", "        for: 10m\n        labels:\n          severity: critical"},
		{"difference paged as warning", "severity: critical", "severity: warning"},
		{"stale after one period", "> 2 * max by (dataset) (shadow_schedule_period_seconds)", "> 1 * max by (dataset) (shadow_schedule_period_seconds)"},
		{"run failed keeps job label", "max by (dataset) (shadow_run_last_completion_timestamp_seconds)", "max by (dataset, job) (shadow_run_last_completion_timestamp_seconds)"},
		{"object store alerts on any error", "> 0.01", "> 0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(rules), tc.from) {
				t.Fatalf("rules no longer contain %q", tc.from)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, RulesFile), []byte(strings.Replace(string(rules), tc.from, tc.to, 1)), 0o644)
			os.WriteFile(filepath.Join(dir, "shadow.rules_test.yml"), tests, 0o644)
			if out, code := promtest.Promtool(t, dir, "test", "rules", "shadow.rules_test.yml"); code == 0 {
				t.Errorf("promtool test rules passed altered rules:\n%s", out)
			}
		})
	}
}

// Every alert of contracts §7 has exactly one rule, with the severity,
// summary and runbook URL the runner uses too, a templated description, and
// a section in docs/runbook.md.
func TestRulesMatchRunnerAlerts(t *testing.T) {
	b, err := os.ReadFile(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen = append(seen, r.Alert)
			if !slices.Contains(alert.Names, r.Alert) {
				t.Errorf("rule %s is not an alert of contracts §7", r.Alert)
				continue
			}
			if got := r.Labels["severity"]; got != alert.Severity(r.Alert) {
				t.Errorf("%s: severity %q, runner uses %q", r.Alert, got, alert.Severity(r.Alert))
			}
			if got := r.Annotations["summary"]; got != alert.Summary(r.Alert) {
				t.Errorf("%s: summary %q, runner uses %q", r.Alert, got, alert.Summary(r.Alert))
			}
			if got, want := r.Annotations["runbook_url"], alert.RunbookURL("", r.Alert); got != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, got, want)
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "{{ $labels.") {
				t.Errorf("%s: description is not templated with labels: %q", r.Alert, d)
			}
			heading := regexp.MustCompile(`(?m)^## ` + r.Alert + `$`)
			if !heading.Match(runbook) {
				t.Errorf("docs/runbook.md has no section \"## %s\" (anchor #%s)", r.Alert, strings.ToLower(r.Alert))
			}
		}
	}
	slices.Sort(seen)
	want := slices.Clone(alert.Names)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("alert rules %v, want exactly %v", seen, want)
	}
}

// Prometheus evaluates the rules over a real metrics endpoint and sends the
// alerts to a real Alertmanager, where the runner posts the same alerts:
// Alertmanager holds one alert per alertname and dataset, and a clean run
// resolves it from both sides.
func TestRulesAndRunnerDeduplicate(t *testing.T) {
	m, err := metrics.New(metrics.Config{Datasets: []metrics.Dataset{
		{Name: "orders", SchedulePeriod: 24 * time.Hour},
		{Name: "users", SchedulePeriod: 24 * time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	record := func(r metrics.Run) {
		t.Helper()
		if err := m.RecordRun(r); err != nil {
			t.Fatal(err)
		}
	}
	record(metrics.Run{Dataset: "orders", Status: metrics.StatusDiffers, Started: now.Add(-time.Minute), Finished: now,
		Diff: &metrics.Diff{LegacyRows: 1000, NewRows: 998, OnlyInLegacy: 5, OnlyInNew: 3, Changed: 3, Similarity: 0.995}})
	record(metrics.Run{Dataset: "users", Status: metrics.StatusClean, Started: now.Add(-2 * time.Minute), Finished: now.Add(-time.Minute),
		Diff: &metrics.Diff{LegacyRows: 10, NewRows: 10, Similarity: 1}})
	record(metrics.Run{Dataset: "users", Status: metrics.StatusFailed, Started: now.Add(-time.Minute), Finished: now})
	target := serve(t, m)

	am := promtest.StartAlertmanager(t, "")
	p := promtest.StartPrometheus(t, promtest.PrometheusConfig{
		Targets:       []promtest.Target{{Job: "shadow", Addr: target}},
		RuleFiles:     []string{RulesFile},
		Alertmanagers: []string{am.Addr},
	})
	n := &alert.Notifier{Alertmanager: am.URL}
	ctx := context.Background()
	if err := n.NotifyRun(ctx, alert.Run{Dataset: "orders", RunID: "orders/2026-11-24", Status: "differs", OnlyInLegacy: 5, OnlyInNew: 3, Changed: 3, Similarity: 0.995}); err != nil {
		t.Fatal(err)
	}
	if err := n.NotifyRun(ctx, alert.Run{Dataset: "users", RunID: "users/2026-11-24#2", Status: "failed", Stage: "move"}); err != nil {
		t.Fatal(err)
	}

	// Wait until Prometheus fires both and has sent them to Alertmanager.
	p.WaitForQuery(t, `ALERTS{alertstate="firing",alertname=~"ShadowDifferenceDetected|ShadowRunFailed"}`, time.Minute,
		func(v model.Value) bool { return vecLen(v) == 2 })
	p.WaitForNotifications(t, 2, time.Minute)
	got, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"ShadowDifferenceDetected": {"alertname": "ShadowDifferenceDetected", "dataset": "orders", "severity": "critical"},
		"ShadowRunFailed":          {"alertname": "ShadowRunFailed", "dataset": "users", "severity": "warning"},
	}
	for _, a := range got {
		w := want[a.Labels["alertname"]]
		if !sameLabels(a.Labels, w) {
			t.Errorf("alert labels %v, want %v (Prometheus and runner must agree)", a.Labels, w)
		}
	}
	// Four posts, two alerts: had the rule kept job or instance, the label
	// sets would differ and Alertmanager would hold four.
	if len(got) != 2 {
		t.Fatalf("alertmanager holds %d alerts, want 2 (one per alertname and dataset): %+v", len(got), got)
	}

	// The next runs are clean: the gauges go to 0 and the runner resolves.
	record(metrics.Run{Dataset: "orders", Status: metrics.StatusClean, Started: time.Now(), Finished: time.Now(),
		Diff: &metrics.Diff{LegacyRows: 1000, NewRows: 1000, Similarity: 1}})
	record(metrics.Run{Dataset: "users", Status: metrics.StatusClean, Started: time.Now(), Finished: time.Now(),
		Diff: &metrics.Diff{LegacyRows: 10, NewRows: 10, Similarity: 1}})
	for _, ds := range []string{"orders", "users"} {
		if err := n.NotifyRun(ctx, alert.Run{Dataset: ds, RunID: ds + "/2026-11-25", Status: "clean"}); err != nil {
			t.Fatal(err)
		}
	}
	am.WaitForAlerts(t, time.Minute, func(as []promtest.AMAlert) bool { return len(as) == 0 })
	p.WaitForQuery(t, `absent(ALERTS{alertname=~"ShadowDifferenceDetected|ShadowRunFailed"})`, time.Minute,
		func(v model.Value) bool { return vecLen(v) == 1 })
}

func vecLen(v model.Value) int {
	if vec, ok := v.(model.Vector); ok {
		return len(vec)
	}
	return -1
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
