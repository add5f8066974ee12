package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/promtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

var (
	t0      = time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	nightly = 24 * time.Hour
)

func newMetrics(t *testing.T, datasets ...string) *Metrics {
	t.Helper()
	var ds []Dataset
	for _, d := range datasets {
		ds = append(ds, Dataset{Name: d, SchedulePeriod: nightly})
	}
	m, err := New(Config{Datasets: ds, Cohorts: []string{"canary"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// series counts the series of each shadow_ family.
func series(t *testing.T, m *Metrics) map[string]int {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		out[mf.GetName()] = len(mf.GetMetric())
	}
	return out
}

func TestNewInitialisesEverySeries(t *testing.T) {
	m := newMetrics(t, "orders", "users")
	want := map[string]int{
		NameLastSuccess:     2,
		NameLastCompletion:  2,
		NameStageDuration:   2 * len(Stages),
		NameRuns:            2 * len(Statuses),
		NameRows:            2 * 2,
		NameOnlyInLegacy:    2,
		NameOnlyInNew:       2,
		NameChanged:         2,
		NameSimilarity:      2,
		NameCleanStreak:     2,
		NameSchedulePeriod:  2,
		NameBackupAge:       2,
		NameObjectStore:     len(Operations) * len(Results),
		NameDecisions:       2 * 2, // legacy/new × default/canary
		NameFallbacks:       2,
		NameOutcomeDuration: 2 * len(Outcomes),
	}
	got := series(t, m)
	for name, n := range want {
		if got[name] != n {
			t.Errorf("%s: %d series, want %d", name, got[name], n)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected family %s", name)
		}
	}
	// Exactly the labels of contracts §7, all zero but the schedule period.
	expected := `
# HELP shadow_run_stage_duration_seconds Seconds each stage of the dataset's last shadow run took (plan, move, diff, log, metrics, alerts); 0 for a stage the run did not reach.
# TYPE shadow_run_stage_duration_seconds gauge
shadow_run_stage_duration_seconds{dataset="orders",stage="alerts"} 0
shadow_run_stage_duration_seconds{dataset="orders",stage="diff"} 0
shadow_run_stage_duration_seconds{dataset="orders",stage="log"} 0
shadow_run_stage_duration_seconds{dataset="orders",stage="metrics"} 0
shadow_run_stage_duration_seconds{dataset="orders",stage="move"} 0
shadow_run_stage_duration_seconds{dataset="orders",stage="plan"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="alerts"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="diff"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="log"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="metrics"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="move"} 0
shadow_run_stage_duration_seconds{dataset="users",stage="plan"} 0
# HELP shadow_rows Rows on each side of the dataset's last diff: legacy (C) and new (M).
# TYPE shadow_rows gauge
shadow_rows{dataset="orders",side="legacy"} 0
shadow_rows{dataset="orders",side="new"} 0
shadow_rows{dataset="users",side="legacy"} 0
shadow_rows{dataset="users",side="new"} 0
# HELP shadow_runs_total Shadow runs finished, by status (clean, differs, failed, aborted).
# TYPE shadow_runs_total counter
shadow_runs_total{dataset="orders",status="aborted"} 0
shadow_runs_total{dataset="orders",status="clean"} 0
shadow_runs_total{dataset="orders",status="differs"} 0
shadow_runs_total{dataset="orders",status="failed"} 0
shadow_runs_total{dataset="users",status="aborted"} 0
shadow_runs_total{dataset="users",status="clean"} 0
shadow_runs_total{dataset="users",status="differs"} 0
shadow_runs_total{dataset="users",status="failed"} 0
# HELP shadow_schedule_period_seconds Seconds between two scheduled runs of the dataset.
# TYPE shadow_schedule_period_seconds gauge
shadow_schedule_period_seconds{dataset="orders"} 86400
shadow_schedule_period_seconds{dataset="users"} 86400
# HELP shadow_decider_decisions_total Decider decisions by path (legacy, new) and cohort.
# TYPE shadow_decider_decisions_total counter
shadow_decider_decisions_total{cohort="canary",path="legacy"} 0
shadow_decider_decisions_total{cohort="canary",path="new"} 0
shadow_decider_decisions_total{cohort="default",path="legacy"} 0
shadow_decider_decisions_total{cohort="default",path="new"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(expected),
		NameStageDuration, NameRows, NameRuns, NameSchedulePeriod, NameDecisions); err != nil {
		t.Error(err)
	}
}

func TestMetricNamesFollowConventions(t *testing.T) {
	m := newMetrics(t, "orders")
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// promtool check metrics lints the served exposition with the real tool.
func TestPromtoolCheckMetrics(t *testing.T) {
	bin := promtest.NeedBinary(t, "promtool")
	m := newMetrics(t, "orders")
	if err := m.RecordRun(Run{Dataset: "orders", Status: StatusClean, Started: t0, Finished: t0.Add(time.Minute),
		Diff: &Diff{LegacyRows: 3, NewRows: 3, Similarity: 1}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func gauge(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				if labelValue(mt, labels[i]) != labels[i+1] {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return mt.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(mt.GetHistogram().GetSampleCount())
			default:
				return mt.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestRecordRun(t *testing.T) {
	backup := t0.Add(-3 * time.Hour)
	stages := map[string]time.Duration{StagePlan: time.Second, StageMove: 90 * time.Second, StageDiff: 20 * time.Second, StageLog: 2 * time.Second}
	tests := []struct {
		name string
		runs []Run
		want map[string]float64 // "name dataset [label=value]" → value
	}{
		{
			name: "clean",
			runs: []Run{{Dataset: "orders", Status: StatusClean, Started: t0, Finished: t0.Add(2 * time.Minute), Stages: stages,
				Diff: &Diff{LegacyRows: 10, NewRows: 10, Similarity: 1}, BackupTime: backup}},
			want: map[string]float64{
				NameLastSuccess: float64(t0.Add(2 * time.Minute).Unix()), NameLastCompletion: float64(t0.Add(2 * time.Minute).Unix()),
				NameRuns + " status=clean": 1, NameRuns + " status=failed": 0,
				NameStageDuration + " stage=move": 90, NameStageDuration + " stage=alerts": 0,
				NameRows + " side=legacy": 10, NameRows + " side=new": 10, NameSimilarity: 1,
				NameBackupAge: 3 * 3600,
			},
		},
		{
			name: "differs, then failed keeps the last success and the diff",
			runs: []Run{
				{Dataset: "orders", Status: StatusDiffers, Started: t0, Finished: t0.Add(time.Minute), Stages: stages,
					Diff: &Diff{LegacyRows: 100, NewRows: 98, OnlyInLegacy: 5, OnlyInNew: 3, Changed: 2, Similarity: 0.95}},
				{Dataset: "orders", Status: StatusFailed, Started: t0.Add(nightly), Finished: t0.Add(nightly + 30*time.Second),
					Stages: map[string]time.Duration{StagePlan: 30 * time.Second}},
			},
			want: map[string]float64{
				NameLastSuccess: float64(t0.Add(time.Minute).Unix()), NameLastCompletion: float64(t0.Add(nightly + 30*time.Second).Unix()),
				NameRuns + " status=differs": 1, NameRuns + " status=failed": 1, NameRuns + " status=clean": 0,
				NameStageDuration + " stage=plan": 30, NameStageDuration + " stage=move": 0,
				NameOnlyInLegacy: 5, NameOnlyInNew: 3, NameChanged: 2, NameSimilarity: 0.95,
				NameRows + " side=legacy": 100, NameRows + " side=new": 98,
			},
		},
		{
			name: "aborted only counts",
			runs: []Run{{Dataset: "orders", Status: StatusAborted}},
			want: map[string]float64{
				NameRuns + " status=aborted": 1, NameLastCompletion: 0, NameLastSuccess: 0,
			},
		},
		{
			name: "failed before any stage",
			runs: []Run{{Dataset: "orders", Status: StatusFailed, Started: t0, Finished: t0}},
			want: map[string]float64{
				NameRuns + " status=failed": 1, NameLastCompletion: float64(t0.Unix()), NameLastSuccess: 0, NameBackupAge: 0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetrics(t, "orders", "users")
			for _, r := range tt.runs {
				if err := m.RecordRun(r); err != nil {
					t.Fatal(err)
				}
			}
			for k, want := range tt.want {
				f := strings.Fields(k)
				labels := []string{"dataset", "orders"}
				for _, kv := range f[1:] {
					k, v, _ := strings.Cut(kv, "=")
					labels = append(labels, k, v)
				}
				if got := gauge(t, m, f[0], labels...); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			// The other dataset is untouched.
			if got := gauge(t, m, NameRuns, "dataset", "users", "status", tt.runs[0].Status); got != 0 {
				t.Errorf("users runs = %v", got)
			}
		})
	}
}

func TestRecordRunRejects(t *testing.T) {
	ok := Run{Dataset: "orders", Status: StatusClean, Started: t0, Finished: t0.Add(time.Second), Diff: &Diff{LegacyRows: 1, NewRows: 1, Similarity: 1}}
	tests := []struct {
		name string
		edit func(r *Run)
		want error
	}{
		{"unknown dataset", func(r *Run) { r.Dataset = "nope" }, ErrUnknownDataset},
		{"unknown status", func(r *Run) { r.Status = "running" }, ErrInvalid},
		{"unknown stage", func(r *Run) { r.Stages = map[string]time.Duration{"publish": 1} }, ErrInvalid},
		{"negative stage", func(r *Run) { r.Stages = map[string]time.Duration{StageDiff: -1} }, ErrInvalid},
		{"no finish", func(r *Run) { r.Finished = time.Time{} }, ErrInvalid},
		{"finish before start", func(r *Run) { r.Finished = t0.Add(-time.Second) }, ErrInvalid},
		{"clean with differences", func(r *Run) { r.Diff = &Diff{LegacyRows: 1, NewRows: 1, OnlyInNew: 1, Similarity: 0} }, ErrInvalid},
		{"differs without differences", func(r *Run) { r.Status = StatusDiffers }, ErrInvalid},
		{"clean without a diff", func(r *Run) { r.Diff = nil }, ErrInvalid},
		{"similarity NaN", func(r *Run) { r.Diff = &Diff{Similarity: nan()} }, ErrInvalid},
		{"similarity above 1", func(r *Run) { r.Diff = &Diff{Similarity: 1.5} }, ErrInvalid},
		{"negative rows", func(r *Run) { r.Diff = &Diff{LegacyRows: -1, Similarity: 1} }, ErrInvalid},
		{"more only-in than rows", func(r *Run) {
			r.Status = StatusDiffers
			r.Diff = &Diff{LegacyRows: 1, NewRows: 1, OnlyInLegacy: 2, Similarity: 0}
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetrics(t, "orders")
			r := ok
			tt.edit(&r)
			err := m.RecordRun(r)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := gauge(t, m, NameRuns, "dataset", "orders", "status", StatusClean); got != 0 {
				t.Errorf("a rejected run was counted")
			}
		})
	}
	m := newMetrics(t, "orders")
	if err := m.RecordRun(ok); err != nil {
		t.Fatalf("valid run rejected: %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{Datasets: []Dataset{{Name: "", SchedulePeriod: nightly}}},
		{Datasets: []Dataset{{Name: "x"}}},
		{Datasets: []Dataset{{Name: "x", SchedulePeriod: -time.Hour}}},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%+v) err = %v, want ErrInvalid", cfg, err)
		}
	}
	many := make([]string, MaxCohorts+1)
	for i := range many {
		many[i] = "c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if _, err := New(Config{Cohorts: many}); !errors.Is(err, ErrInvalid) {
		t.Errorf("too many cohorts: err = %v", err)
	}
}

func TestStagesStreakAndLastRun(t *testing.T) {
	m := newMetrics(t, "orders")
	if err := m.RecordStage("orders", StageAlerts, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, m, NameStageDuration, "dataset", "orders", "stage", StageAlerts); got != 1.5 {
		t.Errorf("alerts stage = %v", got)
	}
	if err := m.RecordStage("orders", "publish", time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown stage: %v", err)
	}
	if err := m.RecordStage("nope", StageAlerts, time.Second); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("unknown dataset: %v", err)
	}
	if err := m.SetCleanStreak("orders", 9); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, m, NameCleanStreak, "dataset", "orders"); got != 9 {
		t.Errorf("streak = %v", got)
	}
	if err := m.SetCleanStreak("orders", -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative streak: %v", err)
	}
	if err := m.SetLastRun("orders", t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, m, NameLastSuccess, "dataset", "orders"); got != float64(t0.Unix()) {
		t.Errorf("last success = %v", got)
	}
	if got := gauge(t, m, NameLastCompletion, "dataset", "orders"); got != 0 {
		t.Errorf("a zero time changed the last completion: %v", got)
	}
}

func TestAddAndRemoveDataset(t *testing.T) {
	m := newMetrics(t, "orders")
	if err := m.RecordRun(Run{Dataset: "orders", Status: StatusFailed, Started: t0, Finished: t0}); err != nil {
		t.Fatal(err)
	}
	// Adding again changes the period and keeps the counts.
	if err := m.AddDataset(Dataset{Name: "orders", SchedulePeriod: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, m, NameSchedulePeriod, "dataset", "orders"); got != 3600 {
		t.Errorf("period = %v", got)
	}
	if got := gauge(t, m, NameRuns, "dataset", "orders", "status", StatusFailed); got != 1 {
		t.Errorf("failed runs = %v", got)
	}
	if err := m.AddDataset(Dataset{Name: "users", SchedulePeriod: time.Hour}); err != nil {
		t.Fatal(err)
	}
	m.RemoveDataset("orders")
	got := series(t, m)
	if got[NameRuns] != len(Statuses) || got[NameStageDuration] != len(Stages) || got[NameLastSuccess] != 1 {
		t.Errorf("after removing orders: %v", got)
	}
	if err := m.RecordRun(Run{Dataset: "orders", Status: StatusAborted}); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("removed dataset still recorded: %v", err)
	}
}

func TestObjectStoreAndDecider(t *testing.T) {
	m := newMetrics(t, "orders")
	m.ObjectStoreRequest(OpGet, ResultOK)
	m.ObjectStoreRequest(OpGet, ResultOK)
	m.ObjectStoreRequest(OpHead, ResultNotFound)
	m.ObjectStoreRequest("copy", "throttled")
	if got := gauge(t, m, NameObjectStore, "operation", OpGet, "result", ResultOK); got != 2 {
		t.Errorf("get ok = %v", got)
	}
	if got := gauge(t, m, NameObjectStore, "operation", OpOther, "result", ResultOther); got != 1 {
		t.Errorf("other = %v", got)
	}

	if err := m.Decision(PathNew, "canary"); err != nil {
		t.Fatal(err)
	}
	if err := m.Decision(PathLegacy, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Decision("connector", "canary"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad path: %v", err)
	}
	m.Fallback("canary")
	if got := gauge(t, m, NameDecisions, "path", PathNew, "cohort", "canary"); got != 1 {
		t.Errorf("new/canary = %v", got)
	}
	if got := gauge(t, m, NameDecisions, "path", PathLegacy, "cohort", DefaultCohort); got != 1 {
		t.Errorf("legacy/default = %v", got)
	}
	if got := gauge(t, m, NameFallbacks, "cohort", "canary"); got != 1 {
		t.Errorf("fallbacks = %v", got)
	}
	if err := m.Outcome(PathNew, OutcomeFallback, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.Outcome(PathNew, "maybe", time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad outcome: %v", err)
	}
	if got := gauge(t, m, NameOutcomeDuration, "path", PathNew, "outcome", OutcomeFallback); got != 1 {
		t.Errorf("outcome count = %v", got)
	}

	// New cohorts appear with both paths, until the cap folds them into other.
	for i := 0; i < 2*MaxCohorts; i++ {
		if err := m.Decision(PathNew, "cohort-"+string(rune('A'+i%26))+string(rune('A'+i/26))); err != nil {
			t.Fatal(err)
		}
	}
	got := series(t, m)
	if got[NameFallbacks] != MaxCohorts+1 || got[NameDecisions] != 2*(MaxCohorts+1) {
		t.Errorf("cohort cap: %d fallback series, %d decision series", got[NameFallbacks], got[NameDecisions])
	}
	if got := gauge(t, m, NameDecisions, "path", PathNew, "cohort", OtherCohort); got != float64(2*MaxCohorts-(MaxCohorts-2)) {
		t.Errorf("other cohort = %v", got)
	}
}

func TestHandlerServesExposition(t *testing.T) {
	m := newMetrics(t, "orders")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`shadow_run_last_success_timestamp_seconds{dataset="orders"} 0`,
		`shadow_schedule_period_seconds{dataset="orders"} 86400`,
		`shadow_objectstore_requests_total{operation="get",result="error"} 0`,
		`shadow_decider_fallbacks_total{cohort="default"} 0`,
		`shadow_decider_outcome_duration_seconds_bucket{outcome="success",path="new",le="+Inf"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if strings.Contains(string(b), "go_goroutines") {
		t.Errorf("process metrics without ProcessMetrics")
	}
	p, err := New(Config{ProcessMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := series(t, p); got["go_goroutines"] != 1 {
		t.Errorf("ProcessMetrics: no go_goroutines")
	}
}

// Concurrent use is safe (run with -race).
func TestConcurrentUse(t *testing.T) {
	m := newMetrics(t, "orders", "users")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				ds := []string{"orders", "users"}[j%2]
				if err := m.RecordRun(Run{Dataset: ds, Status: StatusFailed, Started: t0, Finished: t0}); err != nil {
					t.Error(err)
				}
				m.ObjectStoreRequest(OpGet, ResultOK)
				m.Decision(PathNew, "canary")
				m.Registry().Gather()
			}
		}(i)
	}
	wg.Wait()
	if got := gauge(t, m, NameRuns, "dataset", "orders", "status", StatusFailed); got != 400 {
		t.Errorf("orders failed = %v", got)
	}
	if got := gauge(t, m, NameObjectStore, "operation", OpGet, "result", ResultOK); got != 800 {
		t.Errorf("get ok = %v", got)
	}
}
