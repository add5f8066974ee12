package main

// shadow run and shadow serve: the nightly shadow runs (issue 6).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/decider"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/runner"
	"github.com/cassmove/shadow/shadow/service"
)

func init() {
	addCommand(newRunCmd)
	addCommand(newServeCmd)
}

// runFlags are the flags run and serve share.
type runFlags struct {
	alertmanager string
	webhook      string
	memory       string
	tempDir      string
	maxStored    int
}

func (f *runFlags) add(cmd *cobra.Command) {
	addDatasetsFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.alertmanager, "alertmanager", "", "Alertmanager base URL to post alerts to (default alerting.alertmanager in shadow.yaml)")
	fl.StringVar(&f.webhook, "webhook", "", "URL that receives a JSON POST per alert (default alerting.webhook in shadow.yaml)")
	fl.StringVar(&f.memory, "memory", "1GiB", "memory budget of each run's diff")
	fl.StringVar(&f.tempDir, "temp-dir", "", "directory for the diff's spill files (default the system's)")
	fl.IntVar(&f.maxStored, "max-stored", 0, "discrepancies stored per side and run (0: 10,000; counts stay exact)")
}

// newRunner builds the runner shared by run, serve and demo.
func newRunner(ctx context.Context, f *runFlags, ds *datasets.File, daemon bool) (*runner.Runner, *investigations.Store, error) {
	mem, err := parseSize(f.memory)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--memory: %w", err)}
	}
	if f.maxStored < 0 {
		return nil, nil, usageError{fmt.Errorf("--max-stored %d: want 0 or more", f.maxStored)}
	}
	store, err := openLog(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	m, err := metrics.New(metricsConfig(ds, daemon))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	al := g.cfg.Alerting
	am := pickString(f.alertmanager, al.Alertmanager)
	hook := pickString(f.webhook, al.Webhook)
	var n *alert.Notifier
	if am != "" || hook != "" {
		n = &alert.Notifier{Alertmanager: am, Webhook: hook, RunbookBase: al.RunbookURL}
	}
	r := &runner.Runner{
		Datasets:         ds,
		Log:              store,
		Metrics:          m,
		Notifier:         n,
		Legacy:           g.legacyLocation(),
		New:              g.newLocation(),
		Memory:           mem,
		TempDir:          f.tempDir,
		MaxStoredPerSide: f.maxStored,
		Labels:           al.Labels,
	}
	return r, store, nil
}

func newRunCmd() *cobra.Command {
	var (
		f           runFlags
		dataset     string
		night       string
		adHoc       bool
		pushgateway string
	)
	cmd := &cobra.Command{
		Use:   "run --dataset D",
		Short: "Make one shadow run of a dataset: plan → move → diff → log → metrics → alerts",
		Long: `Make one shadow run of a dataset of the datasets file: run the new engine
into the dataset's new table (M), diff it with the legacy table (C), record
every discrepancy in the investigation log, record the metrics (and push them
with --pushgateway) and post alerts.

The run is the dataset's latest scheduled night at or before now (run id
DATASET/NIGHT); --night picks another night and --ad-hoc makes a run outside
the schedule (run id DATASET/START-INSTANT). Re-running a night makes its next
attempt (DATASET/NIGHT#2), which supersedes the older ones.

Exit codes: 0 clean, 1 differences found, 2 bad input (config, datasets,
incomplete backup, schema mismatch), 3 a runtime failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dataset == "" {
				return usageError{errors.New("--dataset is required")}
			}
			if adHoc && night != "" {
				return usageError{errors.New("--ad-hoc and --night exclude each other")}
			}
			ds, err := loadDatasets(true)
			if err != nil {
				return err
			}
			d, err := ds.Get(dataset)
			if err != nil {
				return err
			}
			var scheduled time.Time
			switch {
			case adHoc:
			case night != "":
				day, err := time.Parse("2006-01-02", night)
				if err != nil {
					return usageError{fmt.Errorf("--night %q: want a date like 2026-11-24", night)}
				}
				scheduled = d.ScheduledOn(day)
			default:
				scheduled = d.Latest(time.Now().UTC())
			}
			r, store, err := newRunner(ctx, &f, ds, false)
			if err != nil {
				return err
			}
			defer store.Close()
			r.Pushgateway = pickString(pushgateway, g.cfg.Alerting.Pushgateway)
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := r.Run(ctx, runner.Request{Dataset: d.Name, Scheduled: scheduled})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if g.json {
				if err := printJSON(w, res); err != nil {
					return err
				}
			} else if err := printRunResult(w, res); err != nil {
				return err
			}
			return runExit(res)
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&dataset, "dataset", "", "the dataset to run (a name in the datasets file)")
	fl.StringVar(&night, "night", "", "run this night (a UTC date) instead of the latest scheduled one")
	fl.BoolVar(&adHoc, "ad-hoc", false, "a run outside the schedule, identified by its start instant")
	fl.StringVar(&pushgateway, "pushgateway", "", "Pushgateway base URL to push-add the run's metrics to (default alerting.pushgateway in shadow.yaml)")
	return cmd
}

// runExit maps a run's status to the exit code (contracts §4).
func runExit(res *runner.Result) error {
	switch res.Status {
	case investigations.Clean:
		return nil
	case investigations.Differs:
		return differsError{}
	}
	if res.Err != nil {
		return res.Err
	}
	return fmt.Errorf("run %s %s", res.RunID, res.Status)
}

func printRunResult(w io.Writer, res *runner.Result) error {
	fmt.Fprintf(w, "run %s: %s\n", res.RunID, res.Status)
	if res.Error != "" {
		fmt.Fprintf(w, "  failed in stage %s: %s\n", res.Stage, res.Error)
	}
	if res.Backup != "" {
		fmt.Fprintf(w, "  backup %s (snapshot %s)\n", res.Backup, res.BackupTime.Format(time.RFC3339))
	}
	if res.LegacySnapshotID != 0 || res.NewSnapshotID != 0 {
		fmt.Fprintf(w, "  legacy snapshot %d, new snapshot %d\n", res.LegacySnapshotID, res.NewSnapshotID)
	}
	if res.Report != nil {
		printCounts(w, res.Counts, len(res.Key) > 0)
		if res.Similarity != nil {
			fmt.Fprintf(w, "  similarity %.6f\n", *res.Similarity)
		}
	}
	var st []string
	for _, s := range res.Stages {
		st = append(st, fmt.Sprintf("%s %s", s.Name, s.Duration.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "  stages: %s\n", strings.Join(st, ", "))
	if n := len(res.Opened); n > 0 {
		fmt.Fprintf(w, "  investigations opened: %d (%s)\n", n, idRange(res.Opened))
	}
	if n := len(res.Linked); n > 0 {
		fmt.Fprintf(w, "  investigations linked: %d (%s)\n", n, idRange(res.Linked))
	}
	return nil
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprintf("#%d", id)
	}
	return strings.Join(s, ", ")
}

func pickString(flag, cfg string) string {
	if flag != "" {
		return flag
	}
	return cfg
}

func newServeCmd() *cobra.Command {
	var (
		f           runFlags
		listen      string
		concurrency int
		grace       time.Duration
		runAtStart  bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: schedule every dataset's shadow runs and serve /metrics, /healthz, /readyz",
		Long: `Run the shadow daemon. It schedules every dataset of the datasets file by its
cron schedule, with at most --concurrency runs at once, and serves HTTP on
--listen (loopback by default):

  /metrics   Prometheus metrics, every series initialised at start-up
  /healthz   liveness
  /readyz    readiness (503 while starting or shutting down)

On SIGINT or SIGTERM it stops scheduling, gives the runs in flight --grace
to finish, and aborts the rest (recorded as aborted in the log).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := loadDatasets(true)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, store, err := newRunner(ctx, &f, ds, true)
			if err != nil {
				return err
			}
			defer store.Close()
			dec, err := serveDecider(r, store, ds)
			if err != nil {
				return err
			}
			sv := g.cfg.Serve
			if !cmd.Flags().Changed("listen") && sv.Listen != "" {
				listen = sv.Listen
			}
			if !cmd.Flags().Changed("concurrency") && sv.Concurrency > 0 {
				concurrency = sv.Concurrency
			}
			if concurrency < 1 {
				return usageError{fmt.Errorf("--concurrency %d: want 1 or more", concurrency)}
			}
			s := &service.Service{
				Runner:      r,
				Datasets:    ds,
				Concurrency: concurrency,
				Listen:      listen,
				Grace:       grace,
				RunAtStart:  runAtStart,
				Ready:       func(ctx context.Context) error { return store.DB().PingContext(ctx) },
				Mounts:      map[string]http.Handler{"/v1/": dec.Handler(sv.Token)},
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "shadow serve: %d datasets, listening on http://%s\n", len(ds.Datasets), listen)
			return s.Serve(ctx)
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", service.DefaultListen, "HTTP address for /metrics, /healthz, /readyz and the decider API")
	fl.IntVar(&concurrency, "concurrency", 2, "runs in flight at most")
	fl.DurationVar(&grace, "grace", 30*time.Second, "on shutdown, how long runs in flight may take to finish before they are aborted")
	fl.BoolVar(&runAtStart, "run-at-start", false, "run every dataset once at start-up (ad-hoc runs), then follow the schedules")
	return cmd
}

// serveDecider builds the decider of serve: its API is mounted at /v1/, and
// with the policy's auto: true it promotes and demotes after each run.
func serveDecider(r *runner.Runner, store *investigations.Store, ds *datasets.File) (*decider.Decider, error) {
	pol, err := decider.ParsePolicy(&g.cfg.Decider)
	if err != nil {
		return nil, usageError{err}
	}
	d := decider.New(store, deciderOptions(pol, ds, r))
	r.AfterRun = func(ctx context.Context, res *runner.Result) error {
		ch, err := d.AfterRun(ctx, res.Dataset, res.Status)
		if err != nil {
			return err
		}
		if ch != nil {
			slog.Info("decider", "dataset", res.Dataset, "change", ch)
		}
		return nil
	}
	return d, nil
}

// deciderOptions are the options of a decider that runs beside runner r (nil
// for none): r's metrics, and r's notifier when alerts are configured (a nil
// *alert.Notifier must not become a non-nil Alerts interface).
func deciderOptions(pol decider.Policy, ds *datasets.File, r *runner.Runner) decider.Options {
	opts := decider.Options{Datasets: ds, Policy: pol}
	if r != nil {
		opts.Metrics = r.Metrics
		if r.Notifier != nil {
			opts.Alerts = r.Notifier
		}
	}
	return opts
}

// metricsConfig initialises the series of every dataset and cohort of ds;
// daemon adds the Go runtime and process collectors.
func metricsConfig(ds *datasets.File, daemon bool) metrics.Config {
	cfg := metrics.Config{ProcessMetrics: daemon}
	cohorts := map[string]bool{}
	for _, d := range ds.Datasets {
		cfg.Datasets = append(cfg.Datasets, metrics.Dataset{Name: d.Name, SchedulePeriod: d.SchedulePeriod()})
		cohorts[d.EffectiveCohort()] = true
	}
	for c := range cohorts {
		cfg.Cohorts = append(cfg.Cohorts, c)
	}
	sort.Strings(cfg.Cohorts)
	return cfg
}
