package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/promtest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gw reads one value of the group {job="shadow", dataset} from the gateway.
// The second result is false when the series does not exist.
func gw(t *testing.T, pg *promtest.Pushgateway, dataset, name string, labels ...string) (float64, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	text, err := pg.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	mf := mfs[name]
next:
	for _, mt := range mf.GetMetric() {
		if labelValue(mt, "job") != DefaultJob || labelValue(mt, "dataset") != dataset {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			if labelValue(mt, labels[i]) != labels[i+1] {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return mt.GetCounter().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(mt.GetHistogram().GetSampleCount()), true
		default:
			return mt.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func mustGW(t *testing.T, pg *promtest.Pushgateway, dataset, name string, labels ...string) float64 {
	t.Helper()
	v, ok := gw(t, pg, dataset, name, labels...)
	if !ok {
		t.Fatalf("pushgateway has no %s{dataset=%q %v}", name, dataset, labels)
	}
	return v
}

// process stands for one `shadow run` process: fresh metrics, one run, one push.
func process(t *testing.T, pg *promtest.Pushgateway, r Run, streak int, extra func(m *Metrics)) {
	t.Helper()
	m := newMetrics(t, "orders", "users")
	if err := m.RecordRun(r); err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusFailed {
		if err := m.SetCleanStreak(r.Dataset, streak); err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		extra(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Push(ctx, PushConfig{URL: pg.URL, Dataset: r.Dataset}); err != nil {
		t.Fatal(err)
	}
}

func TestPushFailedRunKeepsLastSuccess(t *testing.T) {
	pg := promtest.StartPushgateway(t)
	night1, night2, night3 := t0, t0.Add(nightly), t0.Add(2*nightly)

	// Night 1 differs.
	process(t, pg, Run{Dataset: "orders", Status: StatusDiffers, Started: night1, Finished: night1.Add(time.Minute),
		Stages:     map[string]time.Duration{StagePlan: time.Second, StageMove: 40 * time.Second, StageDiff: 15 * time.Second},
		Diff:       &Diff{LegacyRows: 100, NewRows: 99, OnlyInLegacy: 4, OnlyInNew: 3, Changed: 3, Similarity: 0.96},
		BackupTime: night1.Add(-time.Hour)}, 0, func(m *Metrics) {
		m.ObjectStoreRequest(OpGet, ResultOK)
		m.ObjectStoreRequest(OpGet, ResultError)
	})
	if got := mustGW(t, pg, "orders", NameLastSuccess); got != float64(night1.Add(time.Minute).Unix()) {
		t.Fatalf("after night 1: last success %v", got)
	}

	// Night 2 fails in the move stage: the last success and the diff of
	// night 1 must survive the push.
	process(t, pg, Run{Dataset: "orders", Status: StatusFailed, Started: night2, Finished: night2.Add(10 * time.Second),
		Stages: map[string]time.Duration{StagePlan: time.Second, StageMove: 9 * time.Second}}, 0, func(m *Metrics) {
		m.ObjectStoreRequest(OpGet, ResultError)
		m.ObjectStoreRequest(OpGet, ResultError)
	})
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{NameLastSuccess, nil, float64(night1.Add(time.Minute).Unix())},
		{NameLastCompletion, nil, float64(night2.Add(10 * time.Second).Unix())},
		{NameRuns, []string{"status", StatusDiffers}, 1},
		{NameRuns, []string{"status", StatusFailed}, 1},
		{NameRuns, []string{"status", StatusClean}, 0},
		{NameOnlyInLegacy, nil, 4},
		{NameOnlyInNew, nil, 3},
		{NameSimilarity, nil, 0.96},
		{NameRows, []string{"side", SideNew}, 99},
		{NameBackupAge, nil, 3600},
		{NameStageDuration, []string{"stage", StageMove}, 9},
		{NameStageDuration, []string{"stage", StageDiff}, 0}, // the failed run never diffed
		{NameSchedulePeriod, nil, 86400},
		{NameObjectStore, []string{"operation", OpGet, "result", ResultError}, 3},
		{NameObjectStore, []string{"operation", OpGet, "result", ResultOK}, 1},
	}
	for _, w := range want {
		if got := mustGW(t, pg, "orders", w.name, w.labels...); got != w.value {
			t.Errorf("after the failed night 2: %s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}

	// Night 3 is clean: a new success, the diff gauges change, counters add up.
	process(t, pg, Run{Dataset: "orders", Status: StatusClean, Started: night3, Finished: night3.Add(2 * time.Minute),
		Diff: &Diff{LegacyRows: 100, NewRows: 100, Similarity: 1}}, 1, nil)
	for _, w := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{NameLastSuccess, nil, float64(night3.Add(2 * time.Minute).Unix())},
		{NameRuns, []string{"status", StatusClean}, 1},
		{NameRuns, []string{"status", StatusDiffers}, 1},
		{NameRuns, []string{"status", StatusFailed}, 1},
		{NameOnlyInLegacy, nil, 0},
		{NameSimilarity, nil, 1},
		{NameCleanStreak, nil, 1},
		{NameObjectStore, []string{"operation", OpGet, "result", ResultError}, 3},
	} {
		if got := mustGW(t, pg, "orders", w.name, w.labels...); got != w.value {
			t.Errorf("after the clean night 3: %s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	// Nothing leaked into the other dataset's group.
	if _, ok := gw(t, pg, "users", NameRuns, "status", StatusClean); ok {
		t.Errorf("orders' pushes created a users group")
	}
}

// A dataset whose first run ever fails still gets every series on the
// gateway, with a last success of 0, so that ShadowDatasetStale can fire.
func TestPushFirstRunFailedCreatesEverySeries(t *testing.T) {
	pg := promtest.StartPushgateway(t)
	process(t, pg, Run{Dataset: "users", Status: StatusFailed, Started: t0, Finished: t0.Add(time.Second)}, 0, nil)
	if got := mustGW(t, pg, "users", NameLastSuccess); got != 0 {
		t.Errorf("last success = %v, want 0", got)
	}
	if got := mustGW(t, pg, "users", NameLastCompletion); got != float64(t0.Add(time.Second).Unix()) {
		t.Errorf("last completion = %v", got)
	}
	for _, name := range []string{NameOnlyInLegacy, NameOnlyInNew, NameChanged, NameSimilarity, NameCleanStreak, NameBackupAge, NameSchedulePeriod} {
		mustGW(t, pg, "users", name)
	}
	for _, s := range Stages {
		mustGW(t, pg, "users", NameStageDuration, "stage", s)
	}
	for _, s := range Statuses {
		mustGW(t, pg, "users", NameRuns, "status", s)
	}
	mustGW(t, pg, "users", NameRows, "side", SideLegacy)
	mustGW(t, pg, "users", NameDecisions, "path", PathNew, "cohort", DefaultCohort)
	mustGW(t, pg, "users", NameOutcomeDuration, "path", PathNew, "outcome", OutcomeFallback)
}

// Pushing twice from one process never counts the same increment twice, and
// histograms accumulate across processes like counters.
func TestPushTwiceAndHistograms(t *testing.T) {
	pg := promtest.StartPushgateway(t)
	ctx := context.Background()
	m := newMetrics(t, "orders")
	if err := m.Decision(PathNew, "canary"); err != nil {
		t.Fatal(err)
	}
	m.Fallback("canary")
	if err := m.Outcome(PathNew, OutcomeFallback, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second push has nothing new
		if err := m.Push(ctx, PushConfig{URL: pg.URL + "/", Dataset: "orders"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Decision(PathNew, "canary"); err != nil {
		t.Fatal(err)
	}
	if err := m.Push(ctx, PushConfig{URL: pg.URL, Dataset: "orders"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGW(t, pg, "orders", NameDecisions, "path", PathNew, "cohort", "canary"); got != 2 {
		t.Errorf("decisions = %v, want 2", got)
	}
	if got := mustGW(t, pg, "orders", NameFallbacks, "cohort", "canary"); got != 1 {
		t.Errorf("fallbacks = %v, want 1", got)
	}

	// A second process with a cohort the first never saw.
	m2 := newMetrics(t, "orders")
	m2.Fallback("canary")
	m2.Fallback("beta")
	if err := m2.Outcome(PathNew, OutcomeFallback, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := m2.Push(ctx, PushConfig{URL: pg.URL, Dataset: "orders"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGW(t, pg, "orders", NameFallbacks, "cohort", "canary"); got != 2 {
		t.Errorf("fallbacks canary = %v, want 2", got)
	}
	if got := mustGW(t, pg, "orders", NameFallbacks, "cohort", "beta"); got != 1 {
		t.Errorf("fallbacks beta = %v, want 1", got)
	}
	if got := mustGW(t, pg, "orders", NameOutcomeDuration, "path", PathNew, "outcome", OutcomeFallback); got != 2 {
		t.Errorf("outcome count = %v, want 2", got)
	}
	// A third process that never saw beta keeps it on the gateway.
	m3 := newMetrics(t, "orders")
	m3.Fallback("canary")
	if err := m3.Push(ctx, PushConfig{URL: pg.URL, Dataset: "orders"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGW(t, pg, "orders", NameFallbacks, "cohort", "beta"); got != 1 {
		t.Errorf("fallbacks beta after a push without it = %v, want 1", got)
	}
	// Bucket by bucket: 20 s falls in the ≤64 s bucket, 5 min in ≤1024 s.
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	text, err := pg.Metrics(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`shadow_decider_outcome_duration_seconds_bucket{dataset="orders",instance="",job="shadow",outcome="fallback",path="new",le="16"} 0`,
		`shadow_decider_outcome_duration_seconds_bucket{dataset="orders",instance="",job="shadow",outcome="fallback",path="new",le="64"} 1`,
		`shadow_decider_outcome_duration_seconds_bucket{dataset="orders",instance="",job="shadow",outcome="fallback",path="new",le="1024"} 2`,
		`shadow_decider_outcome_duration_seconds_sum{dataset="orders",instance="",job="shadow",outcome="fallback",path="new"} 320`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("gateway lacks %s", want)
		}
	}
}

// Prometheus scraping the gateway with honor_labels sees the dataset's
// series under the pushed job and dataset labels.
func TestPushScrapedByPrometheus(t *testing.T) {
	pg := promtest.StartPushgateway(t)
	process(t, pg, Run{Dataset: "orders", Status: StatusDiffers, Started: t0, Finished: t0.Add(time.Minute),
		Diff: &Diff{LegacyRows: 10, NewRows: 10, OnlyInLegacy: 1, OnlyInNew: 1, Changed: 1, Similarity: 0.9}}, 0, nil)
	p := promtest.StartPrometheus(t, promtest.PrometheusConfig{
		Targets: []promtest.Target{{Job: "pushgateway", Addr: pg.Addr, HonorLabels: true}},
	})
	v := p.WaitForQuery(t, `shadow_only_in_legacy_rows{job="shadow",dataset="orders"}`, time.Minute, promtest.NonEmpty)
	if s := v.(model.Vector)[0]; s.Value != 1 {
		t.Errorf("scraped only_in_legacy = %v", s.Value)
	}
	v = p.WaitForQuery(t, `shadow_run_last_success_timestamp_seconds{job="shadow",dataset="orders"}`, time.Minute, promtest.NonEmpty)
	if s := v.(model.Vector)[0]; float64(s.Value) != float64(t0.Add(time.Minute).Unix()) {
		t.Errorf("scraped last success = %v", s.Value)
	}
}

// A gateway that answers 5xx is retried; one that refuses with 4xx is not.
func TestPushRetries(t *testing.T) {
	pg := promtest.StartPushgateway(t)
	target, _ := url.Parse(pg.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var calls, failPushes atomic.Int32
	failPushes.Store(2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method == http.MethodPost && failPushes.Add(-1) >= 0 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	m := newMetrics(t, "orders")
	if err := m.RecordRun(Run{Dataset: "orders", Status: StatusFailed, Started: t0, Finished: t0}); err != nil {
		t.Fatal(err)
	}
	if err := m.Push(context.Background(), PushConfig{URL: srv.URL, Dataset: "orders"}); err != nil {
		t.Fatalf("push with two transient failures: %v", err)
	}
	if got := mustGW(t, pg, "orders", NameRuns, "status", StatusFailed); got != 1 {
		t.Errorf("failed runs = %v after retried pushes, want 1", got)
	}
	if got := calls.Load(); got != 6 { // 3 × (GET + POST)
		t.Errorf("%d requests, want 6", got)
	}

	// 404 from a wrong URL is permanent: one attempt.
	calls.Store(0)
	err := m.Push(context.Background(), PushConfig{URL: srv.URL + "/wrong/prefix", Dataset: "orders"})
	if err == nil || !strings.Contains(err.Error(), "attempt 1 of 3") {
		t.Errorf("push to a wrong URL: %v", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d requests to a wrong URL, want 1", got)
	}

	if err := m.Push(context.Background(), PushConfig{URL: pg.URL, Dataset: "nope"}); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("unknown dataset: %v", err)
	}
	if err := m.Push(context.Background(), PushConfig{Dataset: "orders"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no URL: %v", err)
	}
}
