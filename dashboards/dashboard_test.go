package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/promtest"
	"github.com/prometheus/common/model"
)

// panel is the part of a Grafana panel the tests read.
type panel struct {
	ID          int               `json:"id"`
	Type        string            `json:"type"`
	Title       string            `json:"title"`
	Datasource  map[string]string `json:"datasource"`
	Targets     []target          `json:"targets"`
	Panels      []panel           `json:"panels"` // rows
	Options     json.RawMessage   `json:"options"`
	FieldConfig struct {
		Defaults struct {
			Custom json.RawMessage `json:"custom"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type target struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type variable struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Query    json.RawMessage `json:"query"`
	AllValue string          `json:"allValue"`
	Current  struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", DashboardFile, err)
	}
	return d, b
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// query is one PromQL expression of the dashboard, with where it comes from.
type query struct {
	where string
	expr  string
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// queries returns every PromQL expression of the dashboard: panel targets and
// the query variables (label_values(METRIC, LABEL) is evaluated as METRIC).
func queries(t *testing.T, d dashboard) []query {
	t.Helper()
	var qs []query
	for _, p := range allPanels(d.Panels) {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %d %q target %s has no expr", p.ID, p.Title, tg.RefID)
			}
			qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Errorf("variable %s: query %s", v.Name, v.Query)
				continue
			}
		}
		m := labelValuesRe.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q.Query)
			continue
		}
		qs = append(qs, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return qs
}

var varRe = regexp.MustCompile(`\$(\{[a-zA-Z_][a-zA-Z0-9_]*\}|[a-zA-Z_][a-zA-Z0-9_]*)`)

// substitute replaces dashboard variables the way Grafana would for the
// given selection, and Grafana's interval variables with values that suit a
// Prometheus scraping every second.
func substitute(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRe.ReplaceAllStringFunc(expr, func(s string) string {
		name := strings.Trim(s[1:], "{}")
		if v, ok := vars[name]; ok {
			return v
		}
		missing = append(missing, name)
		return s
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined variables %v", missing)
	}
	return out, nil
}

func variables(d dashboard, selection map[string]string) map[string]string {
	vars := map[string]string{
		"__rate_interval": "1m", "__interval": "1m", "__range": "1h", // Grafana's own
	}
	for _, v := range d.Templating.List {
		switch {
		case selection[v.Name] != "":
			vars[v.Name] = selection[v.Name]
		case v.AllValue != "":
			vars[v.Name] = v.AllValue
		default:
			vars[v.Name] = fmt.Sprint(v.Current.Value)
		}
	}
	return vars
}

// serve serves the metrics on loopback and returns host:port for Prometheus.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// recordedMetrics stands in for a real `shadow serve` after a few runs: the
// metrics package's handler after recording runs through its API.
// TODO(lead): switch to scraping a real `shadow serve` once the runner lands.
func recordedMetrics(t *testing.T) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(metrics.Config{
		Datasets: []metrics.Dataset{{Name: "orders", SchedulePeriod: 24 * time.Hour}, {Name: "users", SchedulePeriod: time.Hour}},
		Cohorts:  []string{"canary"},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	stages := map[string]time.Duration{metrics.StagePlan: time.Second, metrics.StageMove: 40 * time.Second, metrics.StageDiff: 9 * time.Second, metrics.StageLog: time.Second}
	for _, r := range []metrics.Run{
		{Dataset: "orders", Status: metrics.StatusClean, Started: now.Add(-48 * time.Hour), Finished: now.Add(-48*time.Hour + time.Minute), Stages: stages,
			Diff: &metrics.Diff{LegacyRows: 1000, NewRows: 1000, Similarity: 1}, BackupTime: now.Add(-50 * time.Hour)},
		{Dataset: "orders", Status: metrics.StatusDiffers, Started: now.Add(-24 * time.Hour), Finished: now.Add(-24*time.Hour + time.Minute), Stages: stages,
			Diff: &metrics.Diff{LegacyRows: 1000, NewRows: 999, OnlyInLegacy: 4, OnlyInNew: 3, Changed: 3, Similarity: 0.996}, BackupTime: now.Add(-26 * time.Hour)},
		{Dataset: "users", Status: metrics.StatusFailed, Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 5*time.Second),
			Stages: map[string]time.Duration{metrics.StagePlan: 5 * time.Second}},
	} {
		if err := m.RecordRun(r); err != nil {
			t.Fatal(err)
		}
	}
	m.SetCleanStreak("orders", 0)
	m.SetCleanStreak("users", 9)
	m.RecordStage("orders", metrics.StageAlerts, 200*time.Millisecond)
	for i := 0; i < 20; i++ {
		m.ObjectStoreRequest(metrics.OpGet, metrics.ResultOK)
	}
	m.ObjectStoreRequest(metrics.OpGet, metrics.ResultError)
	m.ObjectStoreRequest(metrics.OpHead, metrics.ResultNotFound)
	m.Decision(metrics.PathNew, "canary")
	m.Decision(metrics.PathLegacy, "")
	m.Fallback("canary")
	m.Outcome(metrics.PathNew, metrics.OutcomeFallback, 90*time.Second)
	m.Outcome(metrics.PathLegacy, metrics.OutcomeSuccess, 10*time.Minute)
	return m
}

// Stand-in (a) for Grafana: every PromQL expression of the dashboard returns
// data from a real Prometheus that scraped real shadow metrics, for the
// "All" selection and for one dataset and cohort.
func TestDashboardQueriesReturnData(t *testing.T) {
	d, _ := loadDashboard(t)
	qs := queries(t, d)
	if len(qs) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(qs))
	}
	p := promtest.StartPrometheus(t, promtest.PrometheusConfig{
		Targets: []promtest.Target{{Job: "shadow", Addr: serve(t, recordedMetrics(t))}},
	})
	// rate() and increase() need two samples in their window.
	p.WaitForQuery(t, `count_over_time(shadow_runs_total{dataset="orders",status="clean"}[1m])`, time.Minute,
		func(v model.Value) bool { vec, _ := v.(model.Vector); return len(vec) == 1 && vec[0].Value >= 3 })

	for _, sel := range []map[string]string{
		{},
		{"dataset": "orders", "cohort": "canary"},
		{"dataset": "users", "cohort": "default", "streak": "3"},
	} {
		vars := variables(d, sel)
		for _, q := range qs {
			expr, err := substitute(q.expr, vars)
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := p.Query(ctx, expr)
			cancel()
			if err != nil {
				t.Errorf("%s with %v: %v", q.where, sel, err)
				continue
			}
			if !promtest.NonEmpty(v) {
				t.Errorf("%s with %v: no data for %s", q.where, sel, expr)
			}
		}
	}
	// The dataset filter really filters.
	v, err := p.Query(context.Background(), `max by (dataset) (shadow_similarity_ratio{dataset=~"users"})`)
	if err != nil || len(v.(model.Vector)) != 1 {
		t.Errorf("dataset filter: %v %v", v, err)
	}
}

func TestDashboardShape(t *testing.T) {
	d, _ := loadDashboard(t)
	if d.UID == "" {
		t.Error("dashboard has no uid")
	}
	names := map[string]bool{}
	for _, v := range d.Templating.List {
		names[v.Name] = true
	}
	for _, want := range []string{"datasource", "dataset", "cohort", "streak"} {
		if !names[want] {
			t.Errorf("no template variable %s", want)
		}
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %d %q: datasource %v, want the ${datasource} variable", p.ID, p.Title, p.Datasource)
		}
	}
	// Every metric of the contract is on the dashboard.
	all := ""
	for _, q := range queries(t, d) {
		all += q.expr + "\n"
	}
	for _, name := range []string{
		metrics.NameLastSuccess, metrics.NameStageDuration, metrics.NameRuns, metrics.NameRows,
		metrics.NameOnlyInLegacy, metrics.NameOnlyInNew, metrics.NameChanged, metrics.NameSimilarity, metrics.NameCleanStreak,
		metrics.NameSchedulePeriod, metrics.NameBackupAge, metrics.NameObjectStore, metrics.NameDecisions, metrics.NameFallbacks,
		metrics.NameOutcomeDuration,
	} {
		if !strings.Contains(all, name) {
			t.Errorf("no panel or variable uses %s", name)
		}
	}
}

// --- Stand-in (b): the JSON type-checks against Grafana's own schema. ---

// panelTypes maps a panel type to its options (and field config) types in
// @grafana/schema. A panel type missing here fails the check: add it.
var panelTypes = map[string]struct{ module, options, fieldConfig string }{
	"timeseries": {"@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", "Options", "FieldConfig"},
	"stat":       {"@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen", "Options", ""},
}

// tsHeader maps each string enum of the schema to the union of its values:
// JSON spells an enum by its value ("thresholds"), which TypeScript does not
// accept for an enum type. Numeric enums stay as they are.
const tsHeader = `import type { Dashboard } from '@grafana/schema';
type AsJSON<T> = T extends string ? ` + "`${T}`" + ` : T extends number | boolean | null | undefined ? T :
  T extends Array<infer U> ? Array<AsJSON<U>> : T extends object ? { [K in keyof T]: AsJSON<T[K]> } : T;
`

// tsWrapper writes the TypeScript that checks a dashboard: the whole JSON
// satisfies Dashboard, and each panel's options (and custom field config)
// satisfy its plugin's types. Every check is one line, named by its label.
func tsWrapper(checks []tsCheck) string {
	var b strings.Builder
	b.WriteString(tsHeader)
	imported := map[string]bool{}
	for _, c := range checks {
		if c.module != "" && !imported[c.module+c.typ] {
			imported[c.module+c.typ] = true
			fmt.Fprintf(&b, "import type { %s as %s } from '%s';\n", c.typ, c.alias(), c.module)
		}
	}
	for i, c := range checks {
		typ := "Dashboard"
		if c.module != "" {
			typ = c.alias()
		}
		fmt.Fprintf(&b, "export const check%d = (%s) satisfies AsJSON<%s>; // %s\n", i, oneLine(c.json), typ, c.label)
	}
	return b.String()
}

type tsCheck struct {
	label  string
	module string // "" for the dashboard itself
	typ    string
	json   []byte
}

func (c tsCheck) alias() string {
	base := filepath.Base(c.module)
	base = strings.TrimSuffix(base, "PanelCfg_types.gen")
	return base + c.typ
}

func oneLine(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b) // tsc will report it
	}
	return buf.String()
}

// checksFor returns the checks of one dashboard JSON.
func checksFor(name string, raw []byte) ([]tsCheck, error) {
	checks := []tsCheck{{label: name, json: raw}}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return checks, nil // tsc reports malformed JSON on the dashboard line
	}
	for _, p := range allPanels(d.Panels) {
		if p.Type == "row" || p.Type == "" { // a missing type fails the dashboard check
			continue
		}
		pt, ok := panelTypes[p.Type]
		if !ok {
			return nil, fmt.Errorf("%s: panel %d %q has type %q, which the type check does not know; add it to panelTypes", name, p.ID, p.Title, p.Type)
		}
		if len(p.Options) > 0 {
			checks = append(checks, tsCheck{fmt.Sprintf("%s panel %d options", name, p.ID), pt.module, pt.options, p.Options})
		}
		if pt.fieldConfig != "" && len(p.FieldConfig.Defaults.Custom) > 0 {
			checks = append(checks, tsCheck{fmt.Sprintf("%s panel %d fieldConfig.defaults.custom", name, p.ID), pt.module, pt.fieldConfig, p.FieldConfig.Defaults.Custom})
		}
	}
	return checks, nil
}

var tscLineRe = regexp.MustCompile(`^check\.ts\((\d+),\d+\): (error .*)$`)

// tsc type-checks the checks and returns the errors of each check by index.
func tsc(t *testing.T, checks []tsCheck) (map[int][]string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs node and dashboards/node_modules; skipped under -short")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found on PATH: run `make test-deps`")
	}
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}
	tscJS := filepath.Join(modules, "typescript", "bin", "tsc")
	for _, need := range []string{tscJS, filepath.Join(modules, "@grafana", "schema", "package.json")} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make test-deps` (npm ci in dashboards/)", need)
		}
	}
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	src := tsWrapper(checks)
	if err := os.WriteFile(filepath.Join(dir, "check.ts"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, tscJS, "--strict", "--noEmit", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "check.ts")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running tsc: %v", err)
		}
	}
	// Map error lines back to checks: check i is on the line after the
	// header and the imports.
	lines := strings.Split(src, "\n")
	first := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "export const check0 ") })
	errs := map[int][]string{}
	for _, l := range strings.Split(string(out), "\n") {
		m := tscLineRe.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		errs[n-1-first] = append(errs[n-1-first], m[2])
	}
	if err != nil && len(errs) == 0 {
		t.Fatalf("tsc failed without errors on checks:\n%s", out)
	}
	return errs, string(out)
}

func TestDashboardTypeChecks(t *testing.T) {
	_, raw := loadDashboard(t)
	checks, err := checksFor(DashboardFile, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) < 10 {
		t.Fatalf("only %d checks", len(checks))
	}
	errs, out := tsc(t, checks)
	for i, e := range errs {
		t.Errorf("%s does not type-check against @grafana/schema:\n  %s", checks[i].label, strings.Join(e, "\n  "))
	}
	if t.Failed() {
		t.Logf("tsc output:\n%s", out)
	}
}

// The check can fail: each of these breakages of the real dashboard must be
// rejected by tsc, on its own line.
func TestDashboardTypeCheckRejectsBroken(t *testing.T) {
	_, raw := loadDashboard(t)
	mutate := func(f func(d map[string]any)) []byte {
		var d map[string]any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		f(d)
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	firstOf := func(d map[string]any, typ string) map[string]any {
		for _, p := range d["panels"].([]any) {
			if pm := p.(map[string]any); pm["type"] == typ {
				return pm
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	cases := []struct {
		name  string
		json  []byte
		panel bool // broken in a panel's options: needs the per-panel checks
	}{
		{"schemaVersion as a string", mutate(func(d map[string]any) { d["schemaVersion"] = "42" }), false},
		{"graphTooltip out of its enum", mutate(func(d map[string]any) { d["graphTooltip"] = 7 }), false},
		{"unknown top-level field", mutate(func(d map[string]any) { d["refreshh"] = "1m" }), false},
		{"gridPos without w", mutate(func(d map[string]any) { delete(firstOf(d, "timeseries")["gridPos"].(map[string]any), "w") }), false},
		{"unknown panel field", mutate(func(d map[string]any) { firstOf(d, "stat")["legend"] = true }), false},
		{"panel without type", mutate(func(d map[string]any) { delete(firstOf(d, "timeseries"), "type") }), false},
		{"bad color mode", mutate(func(d map[string]any) {
			firstOf(d, "timeseries")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["color"] = map[string]any{"mode": "rainbow"}
		}), false},
		{"bad variable type", mutate(func(d map[string]any) {
			d["templating"].(map[string]any)["list"].([]any)[1].(map[string]any)["type"] = "dropdown"
		}), false},
		{"stat textMode out of its enum", mutate(func(d map[string]any) {
			firstOf(d, "stat")["options"].(map[string]any)["textMode"] = "big"
		}), true},
		{"timeseries legend without placement", mutate(func(d map[string]any) {
			delete(firstOf(d, "timeseries")["options"].(map[string]any)["legend"].(map[string]any), "placement")
		}), true},
		{"timeseries draw style out of its enum", mutate(func(d map[string]any) {
			firstOf(d, "timeseries")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["custom"].(map[string]any)["drawStyle"] = "area"
		}), true},
	}
	var checks []tsCheck
	owner := map[int]string{}
	for _, c := range cases {
		cs, err := checksFor(c.name, c.json)
		if err != nil {
			t.Fatal(err)
		}
		if !c.panel {
			cs = cs[:1] // the dashboard itself; keeps tsc quick
		}
		for _, ch := range cs {
			owner[len(checks)] = c.name
			checks = append(checks, ch)
		}
	}
	errs, out := tsc(t, checks)
	rejected := map[string]bool{}
	for i := range errs {
		rejected[owner[i]] = true
	}
	var names []string
	for _, c := range cases {
		if !rejected[c.name] {
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		t.Errorf("tsc accepted broken dashboards: %v\ntsc output:\n%s", names, out)
	}

	// Malformed JSON gets a run of its own: a syntax error stops tsc before
	// it type-checks anything else.
	checks, err := checksFor("not JSON", []byte(`{"schemaVersion": 42, "panels": [}`))
	if err != nil {
		t.Fatal(err)
	}
	if errs, out := tsc(t, checks); len(errs[0]) == 0 {
		t.Errorf("tsc accepted malformed JSON:\n%s", out)
	}
}
