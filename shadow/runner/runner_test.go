package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/demo"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/runner"
)

// newRunner builds a demo world in a temporary directory (real SSTables in a
// Medusa layout on the file system, a real Iceberg catalog on SQLite) and a
// runner over it with a real investigation log and real metrics.
func newRunner(t *testing.T, o demo.WorldOptions) (*runner.Runner, *demo.World) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a simulated cluster and Iceberg tables")
	}
	ctx := context.Background()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "world")
	}
	if o.Mutations == 0 {
		o.Mutations = 1500
	}
	w, err := demo.BuildWorld(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.ReadFile(w.Datasets, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := investigations.Open(ctx, w.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := metrics.New(metrics.Config{Datasets: []metrics.Dataset{{Name: "orders", SchedulePeriod: 24 * time.Hour}, {Name: "users", SchedulePeriod: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	return &runner.Runner{Datasets: ds, Log: store, Metrics: m, Legacy: w.Legacy, New: w.New, TempDir: t.TempDir()}, w
}

// A faithful legacy output (made with the engine's own settings) is clean;
// the legacy emulation differs, and every count agrees with the log and the
// metrics. Re-running the night makes attempt 2, which supersedes attempt 1.
func TestRunCleanAndDiffers(t *testing.T) {
	ctx := context.Background()
	r, _ := newRunner(t, demo.WorldOptions{Faithful: true})
	night := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	res, err := r.Run(ctx, runner.Request{Dataset: "orders", Scheduled: night})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != investigations.Clean || res.Err != nil {
		t.Fatalf("faithful legacy output: status %s, err %v, counts %+v", res.Status, res.Err, res.Counts)
	}
	if res.RunID != "orders/2026-11-24" || res.Counts.LegacyRows == 0 || res.Counts.Matched != res.Counts.LegacyRows {
		t.Fatalf("clean run: %+v", res)
	}
	if v := metricValue(t, r, "shadow_runs_total", "orders", "clean"); v != 1 {
		t.Errorf("shadow_runs_total{orders,clean} = %v, want 1", v)
	}
	if v := metricValue(t, r, "shadow_similarity_ratio", "orders", ""); v != 1 {
		t.Errorf("shadow_similarity_ratio{orders} = %v, want 1", v)
	}

	r2, _ := newRunner(t, demo.WorldOptions{})
	res, err = r2.Run(ctx, runner.Request{Dataset: "orders", Scheduled: night})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != investigations.Differs || res.Err != nil {
		t.Fatalf("legacy emulation: status %s, err %v", res.Status, res.Err)
	}
	c := res.Counts
	if c.OnlyInLegacy == 0 && c.OnlyInNew == 0 {
		t.Fatalf("legacy emulation found no difference: %+v", c)
	}
	if c.LegacyRows-c.OnlyInLegacy != c.Matched || c.NewRows-c.OnlyInNew != c.Matched {
		t.Errorf("counts disagree: %+v", c)
	}
	if len(res.Opened) == 0 {
		t.Error("no investigation opened for a run that differs")
	}
	stored, total, err := r2.Log.Discrepancies(ctx, investigations.DiscrepancyFilter{Run: res.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Changed + c.Missing + c.Extra; int64(total) < want || len(stored) == 0 {
		t.Errorf("log holds %d discrepancies, want at least %d (changed+missing+extra)", total, want)
	}
	for _, name := range []string{"plan", "move", "diff", "log", "metrics", "alerts"} {
		found := false
		for _, s := range res.Stages {
			found = found || s.Name == name
		}
		if !found {
			t.Errorf("stage %s not timed: %+v", name, res.Stages)
		}
	}
	if v := metricValue(t, r2, "shadow_only_in_new_rows", "orders", ""); v != float64(c.OnlyInNew) {
		t.Errorf("shadow_only_in_new_rows = %v, want %d", v, c.OnlyInNew)
	}
	if v := metricValue(t, r2, "shadow_only_in_legacy_rows", "orders", ""); v != float64(c.OnlyInLegacy) {
		t.Errorf("shadow_only_in_legacy_rows = %v, want %d", v, c.OnlyInLegacy)
	}

	// The same night again: attempt 2 supersedes attempt 1.
	again, err := r2.Run(ctx, runner.Request{Dataset: "orders", Scheduled: night})
	if err != nil {
		t.Fatal(err)
	}
	if again.RunID != "orders/2026-11-24#2" || again.Counts != c {
		t.Fatalf("second attempt: %s %+v, want orders/2026-11-24#2 with %+v", again.RunID, again.Counts, c)
	}
	first, err := r2.Log.Run(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Superseded {
		t.Errorf("attempt 1 not superseded: %+v", first)
	}
	// The TTL references: the new side's is the backup's snapshot time (the
	// dataset's default ttl_reference); the legacy side's is the one its
	// snapshot records (the engine in legacy mode wrote it).
	if first.NewTTLReference == nil || !first.NewTTLReference.Equal(res.BackupTime) {
		t.Errorf("new TTL reference %v, want the backup's snapshot time %v", first.NewTTLReference, res.BackupTime)
	}
	if first.LegacyTTLReference == nil || !first.LegacyTTLReference.After(res.BackupTime) {
		t.Errorf("legacy TTL reference %v, want one after the snapshot time %v (legacy expires TTLs when it runs)", first.LegacyTTLReference, res.BackupTime)
	}
	// The demo's datasets ask for provenance: the new side's rows carry
	// their TTL expiry through the diff, so the rows the legacy side lost to
	// TTLs expired at its later reference are tagged.
	if tagged, untagged := ttlTagged(t, r2, res.RunID); tagged == 0 || untagged == 0 {
		t.Errorf("ttl-expired-at-reference on %d discrepancies, not on %d: want both", tagged, untagged)
	}
	stored, _, err = r2.Log.Discrepancies(ctx, investigations.DiscrepancyFilter{Run: res.RunID, Side: investigations.OnlyInNew})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatal("no only_in_new discrepancy stored")
	}
	for _, d := range stored {
		if !strings.Contains(string(d.New), `"_snapshot_time":`) {
			t.Fatalf("only_in_new row without its carried provenance: %s", d.New)
		}
	}
	conf, err := r2.Log.Confidence(ctx, "orders")
	if err != nil || len(conf) != 1 || conf[0].Nights != 1 {
		t.Errorf("confidence after two attempts of one night: %+v %v", conf, err)
	}
}

// A stage that fails finishes the run as failed, with the stage and an error
// that names what failed, and a cancelled run is aborted; neither is left
// running.
func TestRunFailsAndAborts(t *testing.T) {
	ctx := context.Background()
	r, w := newRunner(t, demo.WorldOptions{})
	// The backups vanish: the move stage fails.
	if err := os.RemoveAll(filepath.Join(w.Dir, "backups")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(w.Dir, "backups"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, runner.Request{Dataset: "users"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != investigations.Failed || res.Stage != metrics.StageMove || res.Err == nil {
		t.Fatalf("run without backups: status %s stage %q err %v", res.Status, res.Stage, res.Err)
	}
	if !strings.Contains(res.Error, "backup") {
		t.Errorf("error does not say what failed: %s", res.Error)
	}
	logged, err := r.Log.Run(ctx, res.RunID)
	if err != nil || logged.Status != investigations.Failed || logged.Error == "" {
		t.Fatalf("logged run: %+v %v", logged, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	res, err = r.Run(cctx, runner.Request{Dataset: "users"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != investigations.Aborted || !errors.Is(res.Err, runner.ErrAborted) {
		t.Fatalf("cancelled run: status %s err %v", res.Status, res.Err)
	}
	logged, err = r.Log.Run(ctx, res.RunID)
	if err != nil || logged.Status != investigations.Aborted {
		t.Fatalf("logged cancelled run: %+v %v", logged, err)
	}

	// An unknown dataset is not a run at all.
	if _, err := r.Run(ctx, runner.Request{Dataset: "nope"}); !errors.Is(err, datasets.ErrNotFound) {
		t.Errorf("unknown dataset: %v", err)
	}
}

// metricValue reads one series of the runner's registry: name with the
// dataset label and, when status is set, the status label.
func metricValue(t *testing.T, r *runner.Runner, name, dataset, status string) float64 {
	t.Helper()
	mfs, err := r.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "dataset" && l.GetValue() != dataset) || (status != "" && l.GetName() == "status" && l.GetValue() != status) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no series %s{dataset=%q,status=%q}", name, dataset, status)
	return 0
}

// Switching a dataset's provenance off and on again between runs changes
// the new table's schema; the runs go on (the runner owns that table), and
// the counts do not depend on it.
func TestRunProvenanceToggle(t *testing.T) {
	ctx := context.Background()
	r, _ := newRunner(t, demo.WorldOptions{})
	night := time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	setProvenance := func(on bool) {
		for i := range r.Datasets.Datasets {
			if r.Datasets.Datasets[i].Name == "orders" {
				r.Datasets.Datasets[i].Provenance = on
			}
		}
	}
	var first investigations.Counts
	for i, on := range []bool{true, false, true} {
		setProvenance(on)
		res, err := r.Run(ctx, runner.Request{Dataset: "orders", Scheduled: night})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != investigations.Differs || res.Err != nil {
			t.Fatalf("attempt %d (provenance %v): status %s, err %v", i+1, on, res.Status, res.Err)
		}
		if i == 0 {
			first = res.Counts
		} else if res.Counts != first {
			t.Errorf("attempt %d (provenance %v): counts %+v, want %+v", i+1, on, res.Counts, first)
		}
		if tagged, _ := ttlTagged(t, r, res.RunID); (tagged > 0) != on {
			t.Errorf("attempt %d (provenance %v): ttl-expired-at-reference on %d discrepancies", i+1, on, tagged)
		}
	}
}

// ttlTagged counts a run's discrepancies whose signature has the
// ttl-expired-at-reference tag, and the others.
func ttlTagged(t *testing.T, r *runner.Runner, runID string) (tagged, untagged int64) {
	t.Helper()
	sigs, err := r.Log.RunSignatures(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range sigs {
		if slices.Contains(sg.Tags, investigations.TagTTLExpired) {
			tagged += sg.Seen
		} else {
			untagged += sg.Seen
		}
	}
	return tagged, untagged
}
