// Package runner makes one shadow run of one dataset: the nightly job that
// proves, row by row, that the new engine's output M equals the legacy
// connector's output C.
//
//	plan ──▶ move ──▶ diff ──▶ log ──▶ metrics ──▶ alerts
//
//	plan     resolve the dataset, the run's night and as-of instant, and the
//	         legacy table's snapshot (C)
//	move     the new engine: backup → compaction → connector → Iceberg (M)
//	diff     C − M and M − C, streamed into the investigation log
//	log      finish the run: counts, status, auto-triage of its signatures
//	metrics  record the run (and push it, for a one-shot run)
//	alerts   post to Alertmanager and the webhook; a clean run resolves
//
// Every stage is timed. A run is recorded as `running` before anything else
// happens, so a crash leaves a trace (the next process marks it aborted), and a
// failure in any stage finishes it as `failed` with the stage and the error,
// records the metrics and fires ShadowRunFailed. Re-running a night makes the
// next attempt, which supersedes the older ones (contracts §6).
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/diff"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/metrics"
)

// ErrAborted is the error of a run stopped by a shutdown.
var ErrAborted = errors.New("run aborted")

// Runner makes shadow runs. Its fields are set once; Run is safe for
// concurrent use (serve runs several datasets at once).
type Runner struct {
	Datasets *datasets.File
	Log      *investigations.Store
	Metrics  *metrics.Metrics
	// Notifier posts alerts; nil sends none.
	Notifier *alert.Notifier
	// AfterRun, when set, is called with each finished run (the decider's
	// promotion hook). Its error is logged, never fails the run.
	AfterRun func(ctx context.Context, res *Result) error
	// Legacy and New are where the two sides' Iceberg tables live.
	Legacy, New lake.Location
	// Pushgateway, when set, receives the run's metrics with push-add
	// (one-shot runs; the daemon is scraped instead).
	Pushgateway string
	// Diff settings: the memory budget, spill directory and parallelism.
	Memory  int64
	TempDir string
	Workers int
	// MaxStoredPerSide caps the stored discrepancies per side (0: the log's
	// default, 10,000).
	MaxStoredPerSide int
	// Labels are added to every alert (alert routing).
	Labels map[string]string
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	cats map[string]*lake.Catalog
}

// Request is one run to make.
type Request struct {
	Dataset string
	// Scheduled is the scheduled time of the run; its UTC date is the
	// night. Zero: an ad-hoc run, identified by its start instant.
	Scheduled time.Time
}

// Result is how a run ended.
type Result struct {
	RunID            string                 `json:"run_id"`
	Dataset          string                 `json:"dataset"`
	Night            string                 `json:"night,omitempty"`
	Status           investigations.Status  `json:"status"`
	Stage            string                 `json:"failed_stage,omitempty"`
	Error            string                 `json:"error,omitempty"`
	Counts           investigations.Counts  `json:"counts"`
	Similarity       *float64               `json:"similarity"`
	Started          time.Time              `json:"started"`
	Finished         time.Time              `json:"finished"`
	Stages           []investigations.Stage `json:"stages"`
	Backup           string                 `json:"backup,omitempty"`
	BackupTime       time.Time              `json:"backup_time,omitzero"`
	LegacySnapshotID int64                  `json:"legacy_snapshot_id,omitempty"`
	NewSnapshotID    int64                  `json:"new_snapshot_id,omitempty"`
	Key              []string               `json:"key,omitempty"`
	Opened           []int64                `json:"investigations_opened"`
	Linked           []int64                `json:"investigations_linked"`
	// Report is the diff's report (nil when the run failed before it).
	Report *diff.Report `json:"-"`
	// Err is the error of a failed or aborted run.
	Err error `json:"-"`
}

// run is the state of one run in progress.
type run struct {
	r       *Runner
	d       datasets.Dataset
	res     *Result
	w       *investigations.RunWriter
	started time.Time
	asOf    time.Time
	legacy  diff.Source
	newSrc  diff.Source
	// refs are the TTL reference times of the two sides, learnt by plan
	// (legacy) and move (new) and given to the log before the diff
	refs investigations.References
	// carry are the provenance columns of the new table the diff carries
	carry    []string
	stageDur map[string]time.Duration
}

// Run makes one run of req.Dataset. It returns an error only when the run
// could not be recorded at all (an unknown dataset, an unusable state
// database); a run that fails in a stage is a Result with Status failed and
// Err set.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	if r.Datasets == nil || r.Log == nil || r.Metrics == nil {
		return nil, errors.New("runner: Datasets, Log and Metrics are required")
	}
	d, err := r.Datasets.Get(req.Dataset)
	if err != nil {
		return nil, err
	}
	now := r.now()
	// An ad-hoc run is scheduled at its start and has no night.
	sched, night := now, ""
	if !req.Scheduled.IsZero() {
		sched, night = req.Scheduled, datasets.Night(req.Scheduled)
	}
	x := &run{r: r, d: d, started: now, asOf: d.Source.AsOfTime(sched, now), stageDur: map[string]time.Duration{}}
	// The run is recorded even when ctx is already cancelled: it then ends
	// at once as aborted, so a shutdown leaves a trace of what it stopped.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	w, err := r.Log.StartRun(sctx, investigations.NewRun{
		Dataset:          d.Name,
		Night:            night,
		Started:          now,
		DiffOptions:      diffOptionsRecord(d),
		MaxStoredPerSide: r.MaxStoredPerSide,
	})
	if err != nil {
		return nil, fmt.Errorf("dataset %s: recording the run: %w", d.Name, err)
	}
	x.w = w
	x.res = &Result{RunID: w.RunID(), Dataset: d.Name, Night: night, Started: now, Opened: []int64{}, Linked: []int64{}}
	log := r.logger().With("dataset", d.Name, "run", w.RunID())
	log.Info("run started", "as_of", x.asOf)

	stage, err := x.execute(ctx, log)
	x.finish(ctx, log, stage, err)
	return x.res, nil
}

// execute runs plan, move and diff; it returns the stage that failed.
func (x *run) execute(ctx context.Context, log *slog.Logger) (string, error) {
	for _, s := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{metrics.StagePlan, x.plan},
		{metrics.StageMove, x.move},
		{metrics.StageDiff, x.diff},
	} {
		if err := ctx.Err(); err != nil {
			return s.name, fmt.Errorf("%w before stage %s: %w", ErrAborted, s.name, context.Cause(ctx))
		}
		t := time.Now()
		err := s.fn(ctx)
		x.stageDur[s.name] += time.Since(t)
		log.Debug("stage done", "stage", s.name, "duration", time.Since(t), "err", err)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w in stage %s: %w", ErrAborted, s.name, err)
			}
			return s.name, fmt.Errorf("stage %s: %w", s.name, err)
		}
	}
	return "", nil
}

// plan resolves the legacy table's snapshot: C is read as it was when the
// run planned, whatever the legacy connector commits later.
func (x *run) plan(ctx context.Context) error {
	ref := x.d.LegacyTable()
	cat, err := x.r.catalog(ctx, x.r.Legacy)
	if err != nil {
		return fmt.Errorf("legacy catalog: %w", err)
	}
	tbl, snap, err := cat.LoadTable(ctx, ref)
	if err != nil {
		return fmt.Errorf("legacy table %s: %w", ref, err)
	}
	if snap != nil {
		x.res.LegacySnapshotID = snap.SnapshotID
		x.refs.Legacy = legacyTTLReference(snap)
	}
	x.legacy = diff.Iceberg("iceberg:"+ref.String(), tbl, snap)
	return nil
}

// legacyTTLReference is the instant the legacy side judged TTLs against:
// the shadow.ttl-reference its snapshot records when the engine wrote it
// (legacy emulation), otherwise its commit time, since the legacy
// connector expires TTLs when it runs.
func legacyTTLReference(snap *table.Snapshot) time.Time {
	if snap.Summary != nil {
		if v := snap.Summary.Properties[move.PropTTLReference]; v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return time.UnixMilli(snap.TimestampMs).UTC()
}

// diff computes C − M and M − C and streams every discrepancy into the log.
func (x *run) diff(ctx context.Context) error {
	key := []string(x.d.Key)
	if len(key) == 0 {
		key = x.res.Key
	}
	x.res.Key = key
	var batch []investigations.Discrepancy
	var logTime time.Duration
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		t := time.Now()
		err := x.w.Write(ctx, batch)
		logTime += time.Since(t)
		batch = batch[:0]
		return err
	}
	opts := diff.Options{
		Key:     key,
		Memory:  x.r.Memory,
		TempDir: x.r.TempDir,
		Workers: x.r.Workers,
		Sample:  -1,
		Carry:   x.carry,
		Rules: diff.Rules{
			Ignore:      x.d.Normalize.Ignore,
			Truncate:    x.d.Normalize.Truncate,
			EmptyAsNull: x.d.Normalize.EmptyAsNull,
			Round:       x.d.Normalize.Round,
			Tolerance:   x.d.Normalize.Tolerance,
		},
		OnDiscrepancy: func(dd diff.Discrepancy) error {
			batch = append(batch, logDiscrepancy(dd))
			if len(batch) >= 1000 {
				return flush()
			}
			return nil
		},
	}
	// The references sign the discrepancies (ttl-expired-at-reference) and
	// are shown with the run; a log that cannot take them is a log failure.
	if err := x.w.SetTTLReferences(ctx, x.refs); err != nil {
		return fmt.Errorf("recording the TTL references: %w", err)
	}
	rep, err := diff.Run(ctx, x.legacy, x.newSrc, opts)
	if err == nil {
		err = flush()
	}
	x.stageDur[metrics.StageLog] += logTime
	x.stageDur[metrics.StageDiff] -= logTime
	if err != nil {
		return err
	}
	x.res.Report = rep
	x.res.Counts = countsOf(rep)
	return nil
}

// finish records the run in the log, the metrics and the alerts. Each of
// these is attempted even when an earlier one failed: a run that cannot be
// logged must still alert.
func (x *run) finish(ctx context.Context, log *slog.Logger, stage string, runErr error) {
	// Finishing must happen even when ctx is cancelled (shutdown): use a
	// context that keeps ctx's values but not its cancellation, bounded.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	r, res := x.r, x.res

	status := investigations.Clean
	switch {
	case runErr != nil && errors.Is(runErr, ErrAborted):
		status = investigations.Aborted
	case runErr != nil:
		status = investigations.Failed
	case !res.Counts.Clean():
		status = investigations.Differs
	}
	if runErr != nil {
		res.Stage, res.Err, res.Error = stage, runErr, runErr.Error()
	}

	t := time.Now()
	sum, err := x.w.Finish(fctx, investigations.Result{
		Status:           status,
		Counts:           res.Counts,
		Stages:           x.stages(),
		Error:            res.Error,
		LegacySnapshotID: res.LegacySnapshotID,
		NewSnapshotID:    res.NewSnapshotID,
		Backup:           res.Backup,
	})
	x.stageDur[metrics.StageLog] += time.Since(t)
	if err != nil {
		// The log could not take the run: it stays `running` until the next
		// process marks it aborted. Report it as a failure everywhere else.
		log.Error("recording the run's end failed", "err", err)
		if runErr == nil {
			res.Stage, res.Err, res.Error = metrics.StageLog, err, "stage log: "+err.Error()
			status = investigations.Failed
		}
	} else {
		res.Opened, res.Linked = sum.Opened, sum.Linked
		res.Similarity = sum.Similarity
	}
	res.Status = status
	res.Finished = r.now()

	t = time.Now()
	x.recordMetrics(fctx, log)
	x.stageDur[metrics.StageMetrics] = time.Since(t)

	t = time.Now()
	if r.Notifier != nil {
		if err := r.Notifier.NotifyRun(fctx, x.alertRun()); err != nil {
			log.Error("posting alerts failed", "err", err)
		}
	}
	x.stageDur[metrics.StageAlerts] = time.Since(t)
	if err := r.Metrics.RecordStage(x.d.Name, metrics.StageAlerts, x.stageDur[metrics.StageAlerts]); err != nil {
		log.Warn("recording the alerts stage", "err", err)
	}
	res.Stages = x.stages()
	if r.AfterRun != nil {
		if err := r.AfterRun(fctx, res); err != nil {
			log.Error("after-run hook failed", "err", err)
		}
	}
	lvl := slog.LevelInfo
	if status == investigations.Failed || status == investigations.Aborted {
		lvl = slog.LevelError
	}
	log.Log(fctx, lvl, "run finished", "status", status, "only_in_legacy", res.Counts.OnlyInLegacy,
		"only_in_new", res.Counts.OnlyInNew, "changed", res.Counts.Changed, "stage", res.Stage, "err", res.Error)
}

func (x *run) recordMetrics(ctx context.Context, log *slog.Logger) {
	r, res := x.r, x.res
	mr := metrics.Run{
		Dataset:    x.d.Name,
		Status:     string(res.Status),
		Started:    res.Started,
		Finished:   res.Finished,
		Stages:     map[string]time.Duration{},
		BackupTime: res.BackupTime,
	}
	for _, s := range []string{metrics.StagePlan, metrics.StageMove, metrics.StageDiff, metrics.StageLog} {
		mr.Stages[s] = x.stageDur[s]
	}
	if res.Report != nil {
		mr.Diff = &metrics.Diff{
			LegacyRows:   res.Counts.LegacyRows,
			NewRows:      res.Counts.NewRows,
			OnlyInLegacy: res.Counts.OnlyInLegacy,
			OnlyInNew:    res.Counts.OnlyInNew,
			Changed:      res.Counts.Changed,
			Similarity:   res.Counts.Similarity(),
		}
	}
	if err := r.Metrics.RecordRun(mr); err != nil {
		log.Error("recording metrics", "err", err)
	}
	if conf, err := r.Log.Confidence(ctx, x.d.Name); err != nil {
		log.Error("reading the clean streak", "err", err)
	} else if len(conf) == 1 {
		if err := r.Metrics.SetCleanStreak(x.d.Name, conf[0].CleanStreakNights); err != nil {
			log.Error("recording the clean streak", "err", err)
		}
	}
	if r.Pushgateway != "" {
		if err := r.Metrics.RecordStage(x.d.Name, metrics.StageMetrics, time.Since(res.Finished)); err != nil {
			log.Warn("recording the metrics stage", "err", err)
		}
		if err := r.Metrics.Push(ctx, metrics.PushConfig{URL: r.Pushgateway, Dataset: x.d.Name}); err != nil {
			log.Error("pushing metrics to the Pushgateway", "url", r.Pushgateway, "err", err)
		}
	}
}

func (x *run) alertRun() alert.Run {
	res := x.res
	labels := map[string]string{}
	for k, v := range x.r.Labels {
		labels[k] = v
	}
	for k, v := range x.d.Labels {
		labels[k] = v
	}
	ar := alert.Run{
		Dataset:        x.d.Name,
		RunID:          res.RunID,
		Status:         string(res.Status),
		OnlyInLegacy:   res.Counts.OnlyInLegacy,
		OnlyInNew:      res.Counts.OnlyInNew,
		Changed:        res.Counts.Changed,
		Stage:          res.Stage,
		Err:            res.Err,
		SchedulePeriod: x.d.SchedulePeriod(),
		Labels:         labels,
	}
	if res.Similarity != nil {
		ar.Similarity = *res.Similarity
	}
	return ar
}

// stages lists the stage durations in pipeline order.
func (x *run) stages() []investigations.Stage {
	var out []investigations.Stage
	for _, s := range metrics.Stages {
		if d, ok := x.stageDur[s]; ok {
			out = append(out, investigations.Stage{Name: s, Duration: d})
		}
	}
	return out
}

// catalog opens (once) the catalog of a location.
func (r *Runner) catalog(ctx context.Context, loc lake.Location) (*lake.Catalog, error) {
	k := loc.Catalog + "\x00" + loc.Warehouse
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cats[k]; ok {
		return c, nil
	}
	c, err := lake.Open(ctx, loc, true)
	if err != nil {
		return nil, err
	}
	if r.cats == nil {
		r.cats = map[string]*lake.Catalog{}
	}
	r.cats[k] = c
	return c, nil
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func countsOf(rep *diff.Report) investigations.Counts {
	c := investigations.Counts{
		LegacyRows:   rep.LegacyRows,
		NewRows:      rep.NewRows,
		OnlyInLegacy: rep.OnlyInLegacy,
		OnlyInNew:    rep.OnlyInNew,
		Matched:      rep.Matched,
	}
	for _, p := range []struct {
		v  *int64
		to *int64
	}{{rep.Changed, &c.Changed}, {rep.Missing, &c.Missing}, {rep.Extra, &c.Extra}, {rep.DuplicateKeys, &c.DuplicateKeys}} {
		if p.v != nil {
			*p.to = *p.v
		}
	}
	return c
}

// logDiscrepancy converts the diff's discrepancy into the log's.
func logDiscrepancy(d diff.Discrepancy) investigations.Discrepancy {
	out := investigations.Discrepancy{Side: investigations.Side(d.Side), Key: d.Key}
	if d.Legacy != nil {
		out.Legacy = d.Legacy.Values
		out.Fingerprint = uint64(d.Legacy.Fingerprint)
	}
	if d.New != nil {
		out.New = d.New.Values
		if d.Legacy == nil {
			out.Fingerprint = uint64(d.New.Fingerprint)
		} else {
			out.NewFingerprint = uint64(d.New.Fingerprint)
		}
	}
	for _, c := range d.Columns {
		out.Diffs = append(out.Diffs, investigations.ColumnDiff{Column: c.Column, Legacy: c.Legacy, New: c.New})
	}
	return out
}

// diffOptionsRecord is what the log stores as the run's diff options.
func diffOptionsRecord(d datasets.Dataset) any {
	return map[string]any{
		"key":       d.Key,
		"normalize": d.Normalize,
		"connector": d.Connector,
		"legacy":    d.Legacy,
		"new":       d.New,
	}
}
