package decider

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/datasets"
)

// DefaultPromoteAfter is the clean nights in a row that make a movement
// eligible for the new path when the config does not say.
const DefaultPromoteAfter = 7

// Policy is the promotion policy, `decider:` in shadow.yaml:
//
//	decider:
//	  promote_after: 7     # clean nights in a row (contracts §6) before promotion
//	  auto: false          # shadow serve applies promotions and demotions after each run
//	  cohorts: [early]     # only these cohorts' movements are promoted; empty: all
//
// A movement is demoted whenever a night differs, whatever its cohort.
type Policy struct {
	PromoteAfter int      `yaml:"promote_after" json:"promote_after"`
	Auto         bool     `yaml:"auto" json:"auto"`
	Cohorts      []string `yaml:"cohorts" json:"cohorts"`
}

func (p Policy) withDefaults() Policy {
	if p.PromoteAfter == 0 {
		p.PromoteAfter = DefaultPromoteAfter
	}
	if p.Cohorts == nil {
		p.Cohorts = []string{}
	}
	return p
}

var policyKeys = []string{"promote_after", "auto", "cohorts"}

// ParsePolicy decodes the `decider:` node of shadow.yaml strictly: unknown
// keys and bad values are errors wrapping ErrInvalid. An absent node gives
// the defaults.
func ParsePolicy(n *yaml.Node) (Policy, error) {
	var p Policy
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return p.withDefaults(), nil
	}
	if n.Kind != yaml.MappingNode {
		return p, fmt.Errorf("config decider: line %d: %w: want a mapping (promote_after, auto, cohorts)", n.Line, ErrInvalid)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(policyKeys, k.Value) {
			return p, fmt.Errorf("config decider: line %d: %w: unknown key %q%s; want %s", k.Line, ErrInvalid, k.Value, datasets.Suggest(k.Value, policyKeys), strings.Join(policyKeys, ", "))
		}
	}
	if err := n.Decode(&p); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		return p, fmt.Errorf("config decider: %w: %s", ErrInvalid, msg)
	}
	if p.PromoteAfter < 0 {
		return p, fmt.Errorf("config decider: promote_after %d: %w: want a number of clean nights, at least 1", p.PromoteAfter, ErrInvalid)
	}
	for _, c := range p.Cohorts {
		if err := checkCohort(c); err != nil {
			return p, fmt.Errorf("config decider: cohorts: %w", err)
		}
	}
	return p.withDefaults(), nil
}

// Plan actions.
const (
	ActionPromote = "promote"
	ActionDemote  = "demote"
	// ActionReinstate lifts a demotion of a movement whose cohort is not
	// promoted (decider.cohorts), after promote_after clean nights, so that
	// its cohort's ramp applies again.
	ActionReinstate = "reinstate"
	ActionNone      = "none"
)

// Change is what the promotion policy does, or would do, to one movement.
type Change struct {
	Dataset    string `json:"dataset"`
	Cohort     string `json:"cohort"`
	Action     string `json:"action"` // promote, demote, none
	From       string `json:"from"`   // the promotion state before: "", promoted, demoted
	To         string `json:"to"`
	Streak     int    `json:"clean_streak_nights"`
	Night      string `json:"night"`  // the night the change rests on
	RunID      string `json:"run_id"` // and its run
	PathBefore Path   `json:"path_before"`
	PathAfter  Path   `json:"path_after"`
	Source     Source `json:"source_after"` // what decides the path after the change
	Reason     string `json:"reason"`
	// Note says why the path does not follow the change, when a pin or a
	// rule decides it.
	Note string  `json:"note,omitempty"`
	prev *string // the state the plan saw ("" none), checked again when applying
}

// Plan lists what the promotion policy would do to every dataset (Action
// none included), from the nights recorded in the investigation log.
func (d *Decider) Plan(ctx context.Context) ([]Change, error) {
	if d.db == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, d.unavailable)
	}
	confs, err := d.store.Confidence(ctx, "")
	if err != nil {
		return nil, err
	}
	byName := map[string]investigations.Confidence{}
	for _, c := range confs {
		byName[c.Dataset] = c
	}
	out := make([]Change, 0, len(d.files.Datasets))
	for i := range d.files.Datasets {
		ds := &d.files.Datasets[i]
		c, err := d.planOne(ctx, ds, byName[ds.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (d *Decider) planOne(ctx context.Context, ds *datasets.Dataset, conf investigations.Confidence) (Change, error) {
	snap, err := d.readSnapshot(ctx, ds)
	if err != nil {
		return Change{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req := attributes(Movement{Dataset: ds.Name}, ds)
	before := evaluate(req, ds, "", "", snap)
	ch := Change{Dataset: ds.Name, Cohort: before.Cohort, Action: ActionNone, Streak: conf.CleanStreakNights,
		Night: conf.LastNight, RunID: conf.LastRun, PathBefore: before.Path, PathAfter: before.Path, Source: before.Source}
	cur := ""
	if snap.promo != nil {
		cur = snap.promo.State
	}
	ch.From, ch.To, ch.prev = cur, cur, &cur
	n := d.policy.PromoteAfter
	eligible := len(d.policy.Cohorts) == 0 || slices.Contains(d.policy.Cohorts, before.Cohort)
	switch {
	case conf.Nights == 0:
		ch.Reason = "no scheduled run recorded yet"
	case conf.CleanStreakNights >= n && cur == StatePromoted:
		ch.Reason = fmt.Sprintf("already promoted; %d clean nights in a row", conf.CleanStreakNights)
	case conf.CleanStreakNights >= n && !eligible && cur == StateDemoted:
		ch.Action, ch.To = ActionReinstate, ""
		ch.Reason = fmt.Sprintf("%d clean nights in a row since the demotion; cohort %s is not in decider.cohorts %v, so the demotion is lifted and the cohort's ramp applies", conf.CleanStreakNights, before.Cohort, d.policy.Cohorts)
	case conf.CleanStreakNights >= n && !eligible:
		ch.Reason = fmt.Sprintf("%d clean nights in a row, but cohort %s is not in decider.cohorts %v", conf.CleanStreakNights, before.Cohort, d.policy.Cohorts)
	case conf.CleanStreakNights >= n:
		ch.Action, ch.To = ActionPromote, StatePromoted
		ch.Reason = fmt.Sprintf("%d clean nights in a row (promote_after %d)", conf.CleanStreakNights, n)
	case conf.LastDifferingNight != nil && cur == StateDemoted:
		ch.Reason = fmt.Sprintf("demoted; %d of %d clean nights since %s differed", conf.CleanStreakNights, n, *conf.LastDifferingRun)
	case conf.LastDifferingNight != nil && (cur == "" || *conf.LastDifferingNight >= snap.promo.Night):
		ch.Action, ch.To = ActionDemote, StateDemoted
		ch.Night, ch.RunID = *conf.LastDifferingNight, *conf.LastDifferingRun
		ch.Reason = fmt.Sprintf("run %s differs (%s since)", *conf.LastDifferingRun, nights(conf.CleanStreakNights))
	default:
		ch.Reason = fmt.Sprintf("%d of %d clean nights in a row", conf.CleanStreakNights, n)
	}
	if ch.Action != ActionNone {
		after := snap
		after.promo = &Promotion{Movement: ds.Name, State: ch.To, Night: ch.Night, RunID: ch.RunID, Streak: ch.Streak, Reason: ch.Reason}
		if ch.To == StateDemoted {
			after.promo.Reason = ""
		}
		if ch.To == "" {
			after.promo = nil
		}
		dec := evaluate(req, ds, "", "", after)
		ch.PathAfter, ch.Source = dec.Path, dec.Source
		if dec.Source != SourcePromotion {
			// Say why the path does not follow the promotion state.
			ch.Note = fmt.Sprintf("the path stays %s: %s decides (%s)", dec.Path, dec.Source, dec.Rule)
		}
	}
	return ch, nil
}

// nights says "1 clean night" or "N clean nights".
func nights(n int) string {
	if n == 1 {
		return "1 clean night"
	}
	return fmt.Sprintf("%d clean nights", n)
}

type promoState struct {
	State  string `json:"state"`
	Night  string `json:"night"`
	RunID  string `json:"run_id"`
	Streak int    `json:"clean_streak_nights"`
}

// Apply carries out the plan's promotions and demotions and returns the
// changes made. A movement whose state changed since the plan was read is
// left for the next apply.
func (d *Decider) Apply(ctx context.Context, actor string) ([]Change, error) {
	if err := checkActor(actor); err != nil {
		return nil, err
	}
	plan, err := d.Plan(ctx)
	if err != nil {
		return nil, err
	}
	var todo []Change
	for _, c := range plan {
		if c.Action != ActionNone {
			todo = append(todo, c)
		}
	}
	return d.applyChanges(ctx, todo, actor)
}

func (d *Decider) applyChanges(ctx context.Context, todo []Change, actor string) ([]Change, error) {
	done := []Change{}
	if len(todo) == 0 {
		return done, nil
	}
	now := d.now()
	err := d.write(ctx, func(tx *sql.Tx) error {
		for _, c := range todo {
			old, err := loadPromotion(ctx, tx, c.Dataset)
			if err != nil {
				return err
			}
			cur := ""
			var before any
			if old != nil {
				cur = old.State
				before = promoState{old.State, old.Night, old.RunID, old.Streak}
			}
			if c.prev != nil && cur != *c.prev {
				d.log.Warn("decider: promotion state changed since the plan; skipped", "dataset", c.Dataset, "planned_from", *c.prev, "now", cur)
				continue
			}
			if c.To == "" {
				if _, err := tx.ExecContext(ctx, "DELETE FROM decider_promotions WHERE movement = ?", c.Dataset); err != nil {
					return err
				}
				if err := audit(ctx, tx, now, actor, c.Action, c.Dataset, before, nil, c.Reason); err != nil {
					return err
				}
				done = append(done, c)
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO decider_promotions (movement, state, night, run_id, streak, reason, updated_by, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (movement) DO UPDATE SET state = excluded.state, night = excluded.night, run_id = excluded.run_id,
					streak = excluded.streak, reason = excluded.reason, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
				c.Dataset, c.To, c.Night, c.RunID, c.Streak, c.Reason, actor, formatTime(now)); err != nil {
				return err
			}
			if err := audit(ctx, tx, now, actor, c.Action, c.Dataset, before, promoState{c.To, c.Night, c.RunID, c.Streak}, c.Reason); err != nil {
				return err
			}
			done = append(done, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, c := range done {
		d.log.Info("decider: "+c.Action, "dataset", c.Dataset, "night", c.Night, "run", c.RunID, "reason", c.Reason, "path", c.PathAfter, "by", actor)
	}
	return done, nil
}

// AutoActor names the runner in the audit trail of automatic changes.
const AutoActor = "shadow serve (auto)"

// AfterRun applies the promotion policy to one dataset after one of its
// runs finished (call it after the run's Finish). With `auto: false` it
// does nothing and returns nil: `shadow decider apply` applies the plan
// instead. It returns the change made, or nil.
func (d *Decider) AfterRun(ctx context.Context, dataset string, status investigations.Status) (*Change, error) {
	switch status {
	case investigations.Clean, investigations.Differs, investigations.Failed, investigations.Aborted:
	default:
		return nil, fmt.Errorf("decider: after run of %s: status %q: %w: want clean, differs, failed or aborted (call AfterRun after the run finished)", dataset, status, ErrInvalid)
	}
	ds, err := d.files.Get(dataset)
	if err != nil {
		return nil, fmt.Errorf("decider: after run: %w: %v", ErrNotFound, err)
	}
	if !d.policy.Auto {
		return nil, nil
	}
	if d.db == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, d.unavailable)
	}
	confs, err := d.store.Confidence(ctx, dataset)
	if err != nil && !errors.Is(err, investigations.ErrNotFound) {
		return nil, err
	}
	var conf investigations.Confidence
	if len(confs) > 0 {
		conf = confs[0]
	}
	c, err := d.planOne(ctx, &ds, conf)
	if err != nil {
		return nil, err
	}
	if c.Action == ActionNone {
		return nil, nil
	}
	done, err := d.applyChanges(ctx, []Change{c}, AutoActor)
	if err != nil || len(done) == 0 {
		return nil, err
	}
	return &done[0], nil
}
