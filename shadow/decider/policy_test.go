package decider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cassmove/shadow/investigations"
)

// runNight records one scheduled night through the investigation log's
// writer API, as the nightly runner does.
func runNight(t *testing.T, s *investigations.Store, dataset string, day int, status investigations.Status) string {
	t.Helper()
	ctx := context.Background()
	night := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, day).Format("2006-01-02")
	w, err := s.StartRun(ctx, investigations.NewRun{Dataset: dataset, Night: night})
	if err != nil {
		t.Fatal(err)
	}
	var r investigations.Result
	switch status {
	case investigations.Clean:
		r.Counts = investigations.Counts{LegacyRows: 10, NewRows: 10, Matched: 10}
	case investigations.Differs:
		d := investigations.Discrepancy{Side: investigations.OnlyInLegacy, Key: map[string]any{"id": day}, Legacy: map[string]any{"id": day}}
		if err := w.Write(ctx, []investigations.Discrepancy{d}); err != nil {
			t.Fatal(err)
		}
		r.Counts = investigations.Counts{LegacyRows: 10, NewRows: 9, OnlyInLegacy: 1, Missing: 1, Matched: 9}
	case investigations.Failed:
		r.Status, r.Error = investigations.Failed, "engine: out of memory"
	}
	if _, err := w.Finish(ctx, r); err != nil {
		t.Fatal(err)
	}
	return w.RunID()
}

func TestAutoPromotionAndDemotion(t *testing.T) {
	ctx := context.Background()
	d, s := newTestDecider(t, Options{Policy: Policy{PromoteAfter: 3, Auto: true}})
	// A full ramp would send orders to the new path; promotion state takes
	// precedence over it once set.
	if _, err := d.SetRamp(ctx, "early", 100, "ana", ""); err != nil {
		t.Fatal(err)
	}
	step := func(day int, st investigations.Status, wantAction string, wantPath Path, wantSource Source) {
		t.Helper()
		runNight(t, s, "orders", day, st)
		ch, err := d.AfterRun(ctx, "orders", st)
		if err != nil {
			t.Fatal(err)
		}
		got := ActionNone
		if ch != nil {
			got = ch.Action
		}
		if got != wantAction {
			t.Fatalf("night %d (%s): action %s, want %s (%+v)", day, st, got, wantAction, ch)
		}
		dec, err := d.Decide(ctx, Movement{Dataset: "orders"})
		if err != nil {
			t.Fatal(err)
		}
		if dec.Path != wantPath || dec.Source != wantSource {
			t.Fatalf("night %d (%s): path %s by %s (%s), want %s by %s", day, st, dec.Path, dec.Source, dec.Reason, wantPath, wantSource)
		}
	}
	step(1, investigations.Differs, ActionDemote, PathLegacy, SourcePromotion) // a differing night beats the 100% ramp
	step(2, investigations.Clean, ActionNone, PathLegacy, SourcePromotion)
	step(3, investigations.Clean, ActionNone, PathLegacy, SourcePromotion)
	step(4, investigations.Failed, ActionNone, PathLegacy, SourcePromotion) // neither adds nor resets
	step(5, investigations.Clean, ActionPromote, PathNew, SourcePromotion)  // 3 clean nights
	step(6, investigations.Clean, ActionNone, PathNew, SourcePromotion)
	step(7, investigations.Differs, ActionDemote, PathLegacy, SourcePromotion)
	step(8, investigations.Clean, ActionNone, PathLegacy, SourcePromotion)

	// Re-running night 8 as a differing attempt demotes again only if it
	// was promoted; it stays demoted here. Two more clean nights promote.
	step(9, investigations.Clean, ActionNone, PathLegacy, SourcePromotion)
	step(10, investigations.Clean, ActionPromote, PathNew, SourcePromotion)
	// A second attempt of night 10 that differs supersedes the clean one.
	runNight(t, s, "orders", 10, investigations.Differs)
	ch, err := d.AfterRun(ctx, "orders", investigations.Differs)
	if err != nil || ch == nil || ch.Action != ActionDemote || !strings.HasPrefix(ch.RunID, "orders/2026-11-11#2") {
		t.Fatalf("re-run of night 10 that differs: %+v %v", ch, err)
	}

	// The audit trail names the runner.
	h, _, err := d.History(ctx, HistoryFilter{Movement: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range h {
		if e.Actor != AutoActor {
			t.Errorf("actor %q", e.Actor)
		}
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "demote,promote,demote,promote,demote" {
		t.Fatalf("history %v", actions)
	}
	if _, err := d.AfterRun(ctx, "orders", investigations.Running); !errors.Is(err, ErrInvalid) {
		t.Fatalf("running status: %v", err)
	}
	if _, err := d.AfterRun(ctx, "nope", investigations.Clean); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown dataset: %v", err)
	}
}

func TestManualPlanAndApply(t *testing.T) {
	ctx := context.Background()
	d, s := newTestDecider(t, Options{Policy: Policy{PromoteAfter: 2, Cohorts: []string{"early"}}})
	for day := 1; day <= 3; day++ {
		runNight(t, s, "orders", day, investigations.Clean) // early: promoted after 2
		runNight(t, s, "events", day, investigations.Clean) // default cohort: not eligible
		ch, err := d.AfterRun(ctx, "orders", investigations.Clean)
		if err != nil || ch != nil {
			t.Fatalf("auto off: AfterRun must do nothing, got %+v %v", ch, err)
		}
	}
	runNight(t, s, "users", 1, investigations.Clean)
	runNight(t, s, "users", 2, investigations.Differs)
	runNight(t, s, "users", 3, investigations.Clean)

	plan, err := d.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range plan {
		got[c.Dataset] = c
	}
	if c := got["orders"]; c.Action != ActionPromote || c.PathBefore != PathLegacy || c.PathAfter != PathNew || c.Streak != 3 || c.RunID != "orders/2026-11-04" {
		t.Errorf("orders: %+v", c)
	}
	if c := got["users"]; c.Action != ActionDemote || c.RunID != "users/2026-11-03" || c.PathAfter != PathLegacy || c.Source != SourcePromotion {
		t.Errorf("users: %+v", c)
	}
	if c := got["events"]; c.Action != ActionNone || !strings.Contains(c.Reason, "not in decider.cohorts") {
		t.Errorf("events: %+v", c)
	}
	if c := got["events-eu"]; c.Action != ActionNone || c.Reason != "no scheduled run recorded yet" {
		t.Errorf("events-eu: %+v", c)
	}
	// Planning wrote nothing.
	if h, _, _ := d.History(ctx, HistoryFilter{}); len(h) != 0 {
		t.Fatalf("plan wrote %d entries", len(h))
	}
	if _, err := d.Apply(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("apply without an actor: %v", err)
	}
	done, err := d.Apply(ctx, "ana")
	if err != nil || len(done) != 2 {
		t.Fatalf("apply: %+v %v", done, err)
	}
	if dec, _ := d.Explain(ctx, Movement{Dataset: "orders"}); dec.Path != PathNew || dec.Source != SourcePromotion {
		t.Fatalf("after apply: %+v", dec)
	}
	again, err := d.Apply(ctx, "ana")
	if err != nil || len(again) != 0 {
		t.Fatalf("second apply changed %+v %v", again, err)
	}
	// A differing night after the promotion demotes; a failed one does not.
	runNight(t, s, "orders", 4, investigations.Failed)
	if done, _ := d.Apply(ctx, "ana"); len(done) != 0 {
		t.Fatalf("failed night changed %+v", done)
	}
	runNight(t, s, "orders", 5, investigations.Differs)
	done, err = d.Apply(ctx, "ana")
	if err != nil || len(done) != 1 || done[0].Action != ActionDemote || done[0].From != StatePromoted {
		t.Fatalf("demotion: %+v %v", done, err)
	}
}

func TestParsePolicy(t *testing.T) {
	parse := func(s string) (Policy, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			t.Fatal(err)
		}
		return ParsePolicy(n.Content[0])
	}
	p, err := ParsePolicy(&yaml.Node{})
	if err != nil || p.PromoteAfter != DefaultPromoteAfter || p.Auto {
		t.Fatalf("defaults: %+v %v", p, err)
	}
	p, err = parse("promote_after: 14\nauto: true\ncohorts: [early, wave-2]\n")
	if err != nil || p.PromoteAfter != 14 || !p.Auto || len(p.Cohorts) != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"promote_afte: 3\n", "promote_after: -1\n", "auto: maybe\n", "cohorts: [\"a b\"]\n", "promote_after: x\n"} {
		if _, err := parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// A movement whose cohort is not promoted is still demoted when a night
// differs; after promote_after clean nights the demotion is lifted and its
// cohort's ramp applies again.
func TestReinstateOutsidePromotedCohorts(t *testing.T) {
	ctx := context.Background()
	d, s := newTestDecider(t, Options{Policy: Policy{PromoteAfter: 2, Cohorts: []string{"early"}, Auto: true}})
	if _, err := d.SetRamp(ctx, "default", 100, "ana", ""); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		st     investigations.Status
		action string
		path   Path
		source Source
	}{
		{investigations.Clean, ActionNone, PathNew, SourceRamp},
		{investigations.Differs, ActionDemote, PathLegacy, SourcePromotion},
		{investigations.Clean, ActionNone, PathLegacy, SourcePromotion},
		{investigations.Clean, ActionReinstate, PathNew, SourceRamp},
		{investigations.Clean, ActionNone, PathNew, SourceRamp},
	}
	for i, st := range steps {
		runNight(t, s, "events", i+1, st.st)
		ch, err := d.AfterRun(ctx, "events", st.st)
		if err != nil {
			t.Fatal(err)
		}
		got := ActionNone
		if ch != nil {
			got = ch.Action
		}
		dec, _ := d.Explain(ctx, Movement{Dataset: "events"})
		if got != st.action || dec.Path != st.path || dec.Source != st.source {
			t.Fatalf("night %d (%s): %s, path %s by %s; want %s, %s by %s", i+1, st.st, got, dec.Path, dec.Source, st.action, st.path, st.source)
		}
	}
	h, _, err := d.History(ctx, HistoryFilter{Movement: "events"})
	if err != nil || len(h) != 2 || h[0].Action != ActionReinstate || h[0].After != nil || string(h[0].Before) == "" {
		t.Fatalf("history %+v %v", h, err)
	}
}
