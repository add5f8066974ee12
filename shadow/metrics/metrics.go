// Package metrics holds the Prometheus metrics of shadow runs and of the
// decider, with exactly the names and labels of contracts §7, on a registry of
// its own (never the global default registry).
//
//	runner ──RecordRun / RecordStage / SetCleanStreak──▶ ┐
//	object store hook ──ObjectStoreRequest────────────▶ ├─ Metrics ──Handler──▶ GET /metrics (shadow serve)
//	decider ──Decision / Fallback / Outcome───────────▶ ┘          └──Push────▶ Pushgateway (one-shot shadow run)
//
// Every series of a configured dataset exists from start-up: New initialises
// each counter and gauge to 0 for each dataset, status, stage, side, object
// store operation and result, decider path and cohort, so that every dashboard
// query and alert rule has data before the first run. The only label with many
// values is dataset; nothing is labelled per row, key or run.
//
// The batch-job conventions of prometheus/docs (instrumentation.md) apply:
// the key metric is the last success timestamp; the last completion and the
// duration of each stage of the last run are gauges too. A run that completed
// (status clean or differs) is a success: it did its job, which is to find
// differences. Only failed runs leave the last success where it was.
//
// Stage names, in run order: plan, move, diff, log, metrics, alerts (see
// docs/metrics.md).
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sentinel errors; every error wraps one.
var (
	// ErrUnknownDataset: a dataset that New or AddDataset did not configure.
	ErrUnknownDataset = errors.New("unknown dataset")
	// ErrInvalid: a value outside the metric's vocabulary or range.
	ErrInvalid = errors.New("invalid metric value")
)

// Run statuses counted by shadow_runs_total (contracts §3). `running` is not
// a completion and is never counted.
const (
	StatusClean   = "clean"
	StatusDiffers = "differs"
	StatusFailed  = "failed"
	StatusAborted = "aborted"
)

// Statuses lists the values of shadow_runs_total's status label.
var Statuses = []string{StatusClean, StatusDiffers, StatusFailed, StatusAborted}

// Stages of a run, in order (issue 6: plan → move → diff → log → metrics →
// alerts). They are the values of shadow_run_stage_duration_seconds' stage
// label.
const (
	StagePlan    = "plan"    // pick the backup and the legacy snapshot, resolve the dataset's settings
	StageMove    = "move"    // the new engine: backup → compaction → connector → Iceberg
	StageDiff    = "diff"    // C−M and M−C of the legacy and new tables
	StageLog     = "log"     // the investigation log: discrepancies, auto-open, streak
	StageMetrics = "metrics" // recording (and for one-shot runs, pushing) metrics
	StageAlerts  = "alerts"  // posting to Alertmanager and the webhook
)

// Stages lists the stage label's values in run order.
var Stages = []string{StagePlan, StageMove, StageDiff, StageLog, StageMetrics, StageAlerts}

// Sides of shadow_rows (contracts §1: C is legacy, M is new).
const (
	SideLegacy = "legacy"
	SideNew    = "new"
)

// Decider paths (contracts §3).
const (
	PathLegacy = "legacy"
	PathNew    = "new"
)

// Object-store operations and results of shadow_objectstore_requests_total.
// An operation or result outside these sets is counted as "other", so that a
// caller can never grow the label set without bound.
const (
	OpGet    = "get"
	OpHead   = "head"
	OpList   = "list"
	OpPut    = "put"
	OpDelete = "delete"
	OpOther  = "other"

	ResultOK       = "ok"
	ResultNotFound = "not_found"
	ResultError    = "error"
	ResultOther    = "other"
)

// Operations and Results list the pre-initialised values.
var (
	Operations = []string{OpGet, OpHead, OpList, OpPut, OpDelete}
	Results    = []string{ResultOK, ResultNotFound, ResultError}
)

// Outcomes reported to the decider (issue 7, POST /v1/outcomes).
const (
	OutcomeSuccess  = "success"
	OutcomeFailure  = "failure"
	OutcomeFallback = "fallback"
)

// Outcomes lists the outcome label's values.
var Outcomes = []string{OutcomeSuccess, OutcomeFailure, OutcomeFallback}

// DefaultCohort labels decisions made without a cohort; OtherCohort collects
// cohorts beyond MaxCohorts.
const (
	DefaultCohort = "default"
	OtherCohort   = "other"
	MaxCohorts    = 64
	maxWarned     = 256
)

// Metric names (contracts §7), plus the decider's outcome latency.
const (
	NameLastSuccess      = "shadow_run_last_success_timestamp_seconds"
	NameLastCompletion   = "shadow_run_last_completion_timestamp_seconds"
	NameStageDuration    = "shadow_run_stage_duration_seconds"
	NameRuns             = "shadow_runs_total"
	NameRows             = "shadow_rows"
	NameOnlyInLegacy     = "shadow_only_in_legacy_rows"
	NameOnlyInNew        = "shadow_only_in_new_rows"
	NameChanged          = "shadow_changed_rows"
	NameSimilarity       = "shadow_similarity_ratio"
	NameCleanStreak      = "shadow_clean_streak_nights"
	NameSchedulePeriod   = "shadow_schedule_period_seconds"
	NameBackupAge        = "shadow_backup_age_seconds"
	NameObjectStore      = "shadow_objectstore_requests_total"
	NameDecisions        = "shadow_decider_decisions_total"
	NameFallbacks        = "shadow_decider_fallbacks_total"
	NameOutcomeDuration  = "shadow_decider_outcome_duration_seconds"
	labelDataset         = "dataset"
	outcomeBucketsStart  = 1.0
	outcomeBucketsFactor = 4.0
	outcomeBucketsCount  = 9 // 1 s … 18 h
)

// Dataset is one configured dataset.
type Dataset struct {
	Name string
	// SchedulePeriod is the time between two scheduled runs (24h for a
	// nightly cron). ShadowDatasetStale compares the age of the last success
	// with twice this period plus the last run's duration.
	SchedulePeriod time.Duration
}

// Config configures New.
type Config struct {
	Datasets []Dataset
	// Cohorts are the decider's cohorts whose series are initialised at
	// start-up; DefaultCohort always is. Others are added when first seen,
	// up to MaxCohorts.
	Cohorts []string
	// ProcessMetrics adds the Go runtime and process collectors (for the
	// daemon). They are never pushed.
	ProcessMetrics bool
	Logger         *slog.Logger
}

// Metrics is the set of shadow metrics on its own registry. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	lastSuccess    *prometheus.GaugeVec
	lastCompletion *prometheus.GaugeVec
	stageDuration  *prometheus.GaugeVec
	runs           *prometheus.CounterVec
	rows           *prometheus.GaugeVec
	onlyInLegacy   *prometheus.GaugeVec
	onlyInNew      *prometheus.GaugeVec
	changed        *prometheus.GaugeVec
	similarity     *prometheus.GaugeVec
	cleanStreak    *prometheus.GaugeVec
	schedulePeriod *prometheus.GaugeVec
	backupAge      *prometheus.GaugeVec
	objectStore    *prometheus.CounterVec
	decisions      *prometheus.CounterVec
	fallbacks      *prometheus.CounterVec
	outcome        *prometheus.HistogramVec

	mu       sync.Mutex
	datasets map[string]Dataset
	cohorts  map[string]bool
	warned   map[string]bool
	push     pushState
}

// New creates the metrics, registers them on a new registry and initialises
// every series of every configured dataset and cohort.
func New(cfg Config) (*Metrics, error) {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		log:      cfg.Logger,
		datasets: map[string]Dataset{},
		cohorts:  map[string]bool{},
		warned:   map[string]bool{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.push.init()
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(g)
		return g
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.lastSuccess = gauge(NameLastSuccess, "Unix time the dataset's last successful (clean or differs) shadow run finished; 0 if none yet.", labelDataset)
	m.lastCompletion = gauge(NameLastCompletion, "Unix time the dataset's last shadow run finished, whatever its status; 0 if none yet.", labelDataset)
	m.stageDuration = gauge(NameStageDuration, "Seconds each stage of the dataset's last shadow run took (plan, move, diff, log, metrics, alerts); 0 for a stage the run did not reach.", labelDataset, "stage")
	m.runs = counter(NameRuns, "Shadow runs finished, by status (clean, differs, failed, aborted).", labelDataset, "status")
	m.rows = gauge(NameRows, "Rows on each side of the dataset's last diff: legacy (C) and new (M).", labelDataset, "side")
	m.onlyInLegacy = gauge(NameOnlyInLegacy, "Rows of the last diff only in the legacy output, |C−M| (EXCEPT ALL), changed rows included.", labelDataset)
	m.onlyInNew = gauge(NameOnlyInNew, "Rows of the last diff only in the new output, |M−C| (EXCEPT ALL), changed rows included.", labelDataset)
	m.changed = gauge(NameChanged, "Keys of the last diff present on both sides with different rows.", labelDataset)
	m.similarity = gauge(NameSimilarity, "Similarity of the last diff: matched / max(legacy rows, new rows); 1 when both sides are empty.", labelDataset)
	m.cleanStreak = gauge(NameCleanStreak, "Clean nights in a row, from the newest attempt of each night (contracts §6).", labelDataset)
	m.schedulePeriod = gauge(NameSchedulePeriod, "Seconds between two scheduled runs of the dataset.", labelDataset)
	m.backupAge = gauge(NameBackupAge, "Age in seconds of the backup the dataset's last run read, at the run's start.", labelDataset)
	m.objectStore = counter(NameObjectStore, "Object-store requests by operation (get, head, list, put, delete) and result (ok, not_found, error).", "operation", "result")
	m.decisions = counter(NameDecisions, "Decider decisions by path (legacy, new) and cohort.", "path", "cohort")
	m.fallbacks = counter(NameFallbacks, "Data movements that failed on the new path and fell back to the legacy one, by cohort.", "cohort")
	m.outcome = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    NameOutcomeDuration,
		Help:    "Duration of data movements as reported to the decider's outcomes API, by path and outcome (success, failure, fallback).",
		Buckets: prometheus.ExponentialBuckets(outcomeBucketsStart, outcomeBucketsFactor, outcomeBucketsCount),
	}, []string{"path", "outcome"})
	m.reg.MustRegister(m.outcome)
	if cfg.ProcessMetrics {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	for _, op := range Operations {
		for _, r := range Results {
			m.objectStore.WithLabelValues(op, r)
		}
	}
	for _, p := range []string{PathLegacy, PathNew} {
		for _, o := range Outcomes {
			m.outcome.WithLabelValues(p, o)
		}
	}
	m.addCohort(DefaultCohort)
	for _, c := range cfg.Cohorts {
		if c == "" {
			continue
		}
		if len(m.cohorts) >= MaxCohorts {
			return nil, fmt.Errorf("metrics: %d cohorts configured: %w: at most %d", len(cfg.Cohorts), ErrInvalid, MaxCohorts)
		}
		m.addCohort(c)
	}
	for _, d := range cfg.Datasets {
		if err := m.AddDataset(d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Registry returns the registry that holds the metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats (GET
// /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// AddDataset initialises every series of a dataset. Adding a dataset again
// updates its schedule period and keeps its values.
func (m *Metrics) AddDataset(d Dataset) error {
	if d.Name == "" {
		return fmt.Errorf("metrics: dataset with no name: %w", ErrInvalid)
	}
	if d.SchedulePeriod <= 0 {
		return fmt.Errorf("metrics: dataset %s: schedule period %s: %w: want > 0", d.Name, d.SchedulePeriod, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, known := m.datasets[d.Name]
	m.datasets[d.Name] = d
	m.schedulePeriod.WithLabelValues(d.Name).Set(d.SchedulePeriod.Seconds())
	m.markDirty(d.Name, NameSchedulePeriod)
	if known {
		return nil
	}
	n := d.Name
	m.lastSuccess.WithLabelValues(n)
	m.lastCompletion.WithLabelValues(n)
	for _, s := range Stages {
		m.stageDuration.WithLabelValues(n, s)
	}
	for _, s := range Statuses {
		m.runs.WithLabelValues(n, s)
	}
	m.rows.WithLabelValues(n, SideLegacy)
	m.rows.WithLabelValues(n, SideNew)
	m.onlyInLegacy.WithLabelValues(n)
	m.onlyInNew.WithLabelValues(n)
	m.changed.WithLabelValues(n)
	m.similarity.WithLabelValues(n)
	m.cleanStreak.WithLabelValues(n)
	m.backupAge.WithLabelValues(n)
	return nil
}

// RemoveDataset deletes every series of a dataset that is no longer
// configured.
func (m *Metrics) RemoveDataset(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.datasets, name)
	l := prometheus.Labels{labelDataset: name}
	for _, v := range m.perDataset() {
		v.DeletePartialMatch(l)
	}
}

// deleter is what GaugeVec and CounterVec have in common here.
type deleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

func (m *Metrics) perDataset() []deleter {
	return []deleter{m.lastSuccess, m.lastCompletion, m.stageDuration, m.runs, m.rows, m.onlyInLegacy,
		m.onlyInNew, m.changed, m.similarity, m.cleanStreak, m.schedulePeriod, m.backupAge}
}

// perDatasetNames are the families labelled by dataset.
var perDatasetNames = map[string]bool{
	NameLastSuccess: true, NameLastCompletion: true, NameStageDuration: true, NameRuns: true, NameRows: true,
	NameOnlyInLegacy: true, NameOnlyInNew: true, NameChanged: true, NameSimilarity: true, NameCleanStreak: true,
	NameSchedulePeriod: true, NameBackupAge: true,
}

// Diff holds the counts of a finished diff (contracts §1).
type Diff struct {
	LegacyRows   int64
	NewRows      int64
	OnlyInLegacy int64
	OnlyInNew    int64
	Changed      int64
	Similarity   float64 // matched / max(legacy, new); 1 when both are empty
}

// Clean reports whether the diff found no difference (contracts §1).
func (d Diff) Clean() bool { return d.OnlyInLegacy == 0 && d.OnlyInNew == 0 }

// Run is the result of one finished run, as the runner reports it.
type Run struct {
	Dataset  string
	Status   string // clean, differs, failed or aborted
	Started  time.Time
	Finished time.Time
	// Stages holds the duration of each stage the run went through; stages
	// missing here are set to 0 (the last run spent no time in them).
	// Stages that end after RecordRun (metrics, alerts) are reported with
	// RecordStage.
	Stages map[string]time.Duration
	// Diff is nil when the run failed before the diff finished; the diff
	// gauges then keep the previous diff's values.
	Diff *Diff
	// BackupTime is the snapshot time of the backup the run read (contracts
	// §8); zero when the run did not get that far.
	BackupTime time.Time
}

// RecordRun records a finished run:
//   - shadow_runs_total{status} goes up by one;
//   - for clean, differs and failed runs, the last completion becomes
//     Finished, and each stage's duration is set (0 for stages not run);
//   - for clean and differs runs, the last success becomes Finished;
//   - with a Diff, the rows, only-in, changed and similarity gauges are set;
//   - with a BackupTime, the backup age becomes Started − BackupTime.
//
// An aborted run (found still running after its process died) only counts:
// it has no reliable end time or stage durations.
//
// A Run that contradicts itself (a clean status with differences, a differs
// status without any, a similarity outside [0, 1]) is rejected with
// ErrInvalid and records nothing.
func (m *Metrics) RecordRun(r Run) error {
	if err := m.validRun(r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.datasets[r.Dataset]; !ok {
		return fmt.Errorf("metrics: run of dataset %q: %w", r.Dataset, ErrUnknownDataset)
	}
	n := r.Dataset
	m.runs.WithLabelValues(n, r.Status).Inc()
	m.markDirty(n, NameRuns)
	if r.Status == StatusAborted {
		return nil
	}
	fin := unixSeconds(r.Finished)
	m.lastCompletion.WithLabelValues(n).Set(fin)
	m.markDirty(n, NameLastCompletion)
	if r.Status == StatusClean || r.Status == StatusDiffers {
		m.lastSuccess.WithLabelValues(n).Set(fin)
		m.markDirty(n, NameLastSuccess)
	}
	for _, s := range Stages {
		m.stageDuration.WithLabelValues(n, s).Set(r.Stages[s].Seconds())
	}
	m.markDirty(n, NameStageDuration)
	if d := r.Diff; d != nil {
		m.rows.WithLabelValues(n, SideLegacy).Set(float64(d.LegacyRows))
		m.rows.WithLabelValues(n, SideNew).Set(float64(d.NewRows))
		m.onlyInLegacy.WithLabelValues(n).Set(float64(d.OnlyInLegacy))
		m.onlyInNew.WithLabelValues(n).Set(float64(d.OnlyInNew))
		m.changed.WithLabelValues(n).Set(float64(d.Changed))
		m.similarity.WithLabelValues(n).Set(d.Similarity)
		m.markDirty(n, NameRows, NameOnlyInLegacy, NameOnlyInNew, NameChanged, NameSimilarity)
	}
	if !r.BackupTime.IsZero() {
		m.backupAge.WithLabelValues(n).Set(math.Max(0, r.Started.Sub(r.BackupTime).Seconds()))
		m.markDirty(n, NameBackupAge)
	}
	return nil
}

func (m *Metrics) validRun(r Run) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("metrics: run of dataset %s: %s: %w", r.Dataset, fmt.Sprintf(format, a...), ErrInvalid)
	}
	if !slices.Contains(Statuses, r.Status) {
		return bad("status %q, want one of %v", r.Status, Statuses)
	}
	if r.Status != StatusAborted {
		if r.Finished.IsZero() || r.Started.IsZero() {
			return bad("start or finish time missing")
		}
		if r.Finished.Before(r.Started) {
			return bad("finished at %s before it started at %s", r.Finished.Format(time.RFC3339), r.Started.Format(time.RFC3339))
		}
	}
	for s, d := range r.Stages {
		if !slices.Contains(Stages, s) {
			return bad("stage %q, want one of %v", s, Stages)
		}
		if d < 0 {
			return bad("stage %s took %s", s, d)
		}
	}
	if d := r.Diff; d != nil {
		if d.LegacyRows < 0 || d.NewRows < 0 || d.OnlyInLegacy < 0 || d.OnlyInNew < 0 || d.Changed < 0 {
			return bad("negative count in %+v", *d)
		}
		if d.OnlyInLegacy > d.LegacyRows || d.OnlyInNew > d.NewRows {
			return bad("more rows only on one side than on that side in %+v", *d)
		}
		if !(d.Similarity >= 0 && d.Similarity <= 1) { // also rejects NaN
			return bad("similarity %v, want 0 ≤ s ≤ 1", d.Similarity)
		}
		if r.Status == StatusClean && !d.Clean() {
			return bad("status clean with %d only in legacy and %d only in new", d.OnlyInLegacy, d.OnlyInNew)
		}
		if r.Status == StatusDiffers && d.Clean() {
			return bad("status differs with no difference")
		}
	} else if r.Status == StatusClean || r.Status == StatusDiffers {
		return bad("status %s without diff counts", r.Status)
	}
	return nil
}

// RecordStage sets the duration of one stage of the dataset's last run, for
// the stages that end after RecordRun (metrics, alerts).
func (m *Metrics) RecordStage(dataset, stage string, d time.Duration) error {
	if !slices.Contains(Stages, stage) {
		return fmt.Errorf("metrics: dataset %s: stage %q: %w: want one of %v", dataset, stage, ErrInvalid, Stages)
	}
	if d < 0 {
		return fmt.Errorf("metrics: dataset %s: stage %s took %s: %w", dataset, stage, d, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.datasets[dataset]; !ok {
		return fmt.Errorf("metrics: stage of dataset %q: %w", dataset, ErrUnknownDataset)
	}
	m.stageDuration.WithLabelValues(dataset, stage).Set(d.Seconds())
	m.markDirty(dataset, NameStageDuration)
	return nil
}

// SetCleanStreak sets the dataset's clean streak in nights, as the
// investigation log computes it (contracts §6). The runner calls it after the
// log stage of every run, and shadow serve at start-up for every dataset.
func (m *Metrics) SetCleanStreak(dataset string, nights int) error {
	if nights < 0 {
		return fmt.Errorf("metrics: dataset %s: clean streak %d: %w", dataset, nights, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.datasets[dataset]; !ok {
		return fmt.Errorf("metrics: streak of dataset %q: %w", dataset, ErrUnknownDataset)
	}
	m.cleanStreak.WithLabelValues(dataset).Set(float64(nights))
	m.markDirty(dataset, NameCleanStreak)
	return nil
}

// SetLastRun seeds the last success and last completion gauges from the
// investigation log when shadow serve starts, so that a restart does not make
// every dataset look stale. A zero time leaves that gauge alone.
func (m *Metrics) SetLastRun(dataset string, lastSuccess, lastCompletion time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.datasets[dataset]; !ok {
		return fmt.Errorf("metrics: last run of dataset %q: %w", dataset, ErrUnknownDataset)
	}
	if !lastSuccess.IsZero() {
		m.lastSuccess.WithLabelValues(dataset).Set(unixSeconds(lastSuccess))
		m.markDirty(dataset, NameLastSuccess)
	}
	if !lastCompletion.IsZero() {
		m.lastCompletion.WithLabelValues(dataset).Set(unixSeconds(lastCompletion))
		m.markDirty(dataset, NameLastCompletion)
	}
	return nil
}

// ObjectStoreRequest counts one object-store request. Its signature fits a
// func(operation, result string) hook in the object-store package, which
// must not import this one (data flows one way). Values outside Operations
// and Results are counted as "other".
func (m *Metrics) ObjectStoreRequest(operation, result string) {
	if !slices.Contains(Operations, operation) {
		m.warnOnce("operation:"+operation, "metrics: unknown object-store operation counted as other", "operation", operation)
		operation = OpOther
	}
	if !slices.Contains(Results, result) {
		m.warnOnce("result:"+result, "metrics: unknown object-store result counted as other", "result", result)
		result = ResultOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objectStore.WithLabelValues(operation, result).Inc()
	m.markDirty("", NameObjectStore)
}

// Decision counts one decider decision for a data movement in a cohort ("" is
// DefaultCohort).
func (m *Metrics) Decision(path, cohort string) error {
	if path != PathLegacy && path != PathNew {
		return fmt.Errorf("metrics: decision path %q: %w: want legacy or new", path, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.decisions.WithLabelValues(path, m.cohortLocked(cohort)).Inc()
	m.markDirty("", NameDecisions)
	return nil
}

// Fallback counts one data movement that failed on the new path and ran the
// legacy one instead.
func (m *Metrics) Fallback(cohort string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fallbacks.WithLabelValues(m.cohortLocked(cohort)).Inc()
	m.markDirty("", NameFallbacks)
}

// Outcome observes the duration of a data movement reported to the decider's
// outcomes API.
func (m *Metrics) Outcome(path, outcome string, d time.Duration) error {
	if path != PathLegacy && path != PathNew {
		return fmt.Errorf("metrics: outcome path %q: %w: want legacy or new", path, ErrInvalid)
	}
	if !slices.Contains(Outcomes, outcome) {
		return fmt.Errorf("metrics: outcome %q: %w: want one of %v", outcome, ErrInvalid, Outcomes)
	}
	if d < 0 {
		return fmt.Errorf("metrics: outcome duration %s: %w", d, ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcome.WithLabelValues(path, outcome).Observe(d.Seconds())
	m.markDirty("", NameOutcomeDuration)
	return nil
}

// cohortLocked returns the label value for a cohort, adding its series the
// first time it is seen. m.mu is held.
func (m *Metrics) cohortLocked(c string) string {
	if c == "" {
		return DefaultCohort
	}
	if m.cohorts[c] {
		return c
	}
	if len(m.cohorts) >= MaxCohorts {
		if !m.warned["cohort:"+c] && len(m.warned) < maxWarned {
			m.warned["cohort:"+c] = true
			m.log.Warn("metrics: too many decider cohorts; counting this one as other", "cohort", c, "max", MaxCohorts)
		}
		if !m.cohorts[OtherCohort] {
			m.addCohort(OtherCohort)
		}
		return OtherCohort
	}
	m.addCohort(c)
	return c
}

func (m *Metrics) addCohort(c string) {
	m.cohorts[c] = true
	m.decisions.WithLabelValues(PathLegacy, c)
	m.decisions.WithLabelValues(PathNew, c)
	m.fallbacks.WithLabelValues(c)
}

func (m *Metrics) warnOnce(key, msg string, args ...any) {
	m.mu.Lock()
	seen := m.warned[key]
	if len(m.warned) < maxWarned { // bounded: callers may pass anything
		m.warned[key] = true
	}
	m.mu.Unlock()
	if !seen {
		m.log.Warn(msg, args...)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
