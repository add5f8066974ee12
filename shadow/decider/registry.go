package decider

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/cassmove/shadow/shadow/datasets"
)

// Rule maps (cluster, keyspace, table, destination, cohort) patterns to a
// path. '*' matches any run of characters.
type Rule struct {
	ID          int64     `json:"id"`
	Cluster     string    `json:"cluster"`
	Keyspace    string    `json:"keyspace"`
	Table       string    `json:"table"`
	Destination string    `json:"destination"`
	Cohort      string    `json:"cohort"`
	Path        Path      `json:"path"`
	Reason      string    `json:"reason"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Matches reports whether the rule covers a movement's attributes.
func (r Rule) Matches(cluster, keyspace, table, destination, cohort string) bool {
	return globMatch(r.Cluster, cluster) && globMatch(r.Keyspace, keyspace) && globMatch(r.Table, table) &&
		globMatch(r.Destination, destination) && globMatch(r.Cohort, cohort)
}

// Specificity counts the fields that are not a lone '*'.
func (r Rule) Specificity() int {
	n := 0
	for _, f := range []string{r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort} {
		if f != "*" {
			n++
		}
	}
	return n
}

// Patterns prints the rule's patterns.
func (r Rule) Patterns() string {
	return fmt.Sprintf("cluster=%s keyspace=%s table=%s destination=%s cohort=%s", r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort)
}

func (r Rule) normalize() (Rule, error) {
	for _, f := range []*string{&r.Cluster, &r.Keyspace, &r.Table, &r.Destination, &r.Cohort} {
		*f = strings.TrimSpace(*f)
		if *f == "" {
			*f = "*"
		}
	}
	r.Destination = trimIceberg(r.Destination)
	for name, v := range map[string]string{"cluster": r.Cluster, "keyspace": r.Keyspace, "table": r.Table, "destination": r.Destination, "cohort": r.Cohort} {
		if err := checkValue(name, v); err != nil {
			return r, fmt.Errorf("rule: %w", err)
		}
	}
	p, err := ParsePath(string(r.Path))
	if err != nil {
		return r, fmt.Errorf("rule: %w", err)
	}
	r.Path = p
	return r, nil
}

// Pin fixes one movement's path.
type Pin struct {
	Movement  string    `json:"movement"`
	Path      Path      `json:"path"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Promotion states.
const (
	StatePromoted = "promoted"
	StateDemoted  = "demoted"
)

// Promotion is a movement's promotion state.
type Promotion struct {
	Movement  string    `json:"movement"`
	State     string    `json:"state"` // promoted | demoted
	Night     string    `json:"night"`
	RunID     string    `json:"run_id"`
	Streak    int       `json:"clean_streak_nights"`
	Reason    string    `json:"reason"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Cohort is a cohort, its ramp and its members.
type Cohort struct {
	Name      string     `json:"name"`
	Ramp      int        `json:"ramp"` // percent
	Members   []string   `json:"members"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		slog.Warn("decider: unparsable time in the registry", "value", s)
	}
	return t.UTC()
}

// readSnapshot reads what the registry holds for one movement (nil: rules
// and ramps only) in one read transaction, so a decision never mixes two
// states of the registry.
func (d *Decider) readSnapshot(ctx context.Context, ds *datasets.Dataset) (snapshot, error) {
	var s snapshot
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return s, err
	}
	defer conn.Close()
	// A deferred transaction takes no write lock: readers never wait for
	// writers in WAL mode.
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return s, err
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	if s.rules, err = loadRules(ctx, conn); err != nil {
		return s, err
	}
	rows, err := conn.QueryContext(ctx, "SELECT name, ramp FROM decider_cohorts")
	if err != nil {
		return s, err
	}
	s.ramps = map[string]int{}
	for rows.Next() {
		var n string
		var r int
		if err := rows.Scan(&n, &r); err != nil {
			rows.Close()
			return s, err
		}
		s.ramps[n] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	if ds == nil {
		return s, nil
	}
	if s.pin, err = loadPin(ctx, conn, ds.Name); err != nil {
		return s, err
	}
	if s.promo, err = loadPromotion(ctx, conn, ds.Name); err != nil {
		return s, err
	}
	err = conn.QueryRowContext(ctx, "SELECT cohort FROM decider_members WHERE movement = ?", ds.Name).Scan(&s.member)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return s, err
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type execer interface {
	queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const ruleColumns = "id, cluster, keyspace, table_name, destination, cohort, path, reason, created_by, created_at, updated_at"

func scanRule(sc interface{ Scan(...any) error }) (Rule, error) {
	var r Rule
	var c, u string
	if err := sc.Scan(&r.ID, &r.Cluster, &r.Keyspace, &r.Table, &r.Destination, &r.Cohort, &r.Path, &r.Reason, &r.CreatedBy, &c, &u); err != nil {
		return r, err
	}
	r.CreatedAt, r.UpdatedAt = parseTime(c), parseTime(u)
	return r, nil
}

func loadRules(ctx context.Context, q queryer) ([]Rule, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+ruleColumns+" FROM decider_rules ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func loadPin(ctx context.Context, q queryer, movement string) (*Pin, error) {
	p := Pin{Movement: movement}
	var at string
	err := q.QueryRowContext(ctx, "SELECT path, reason, created_by, created_at FROM decider_pins WHERE movement = ?", movement).
		Scan(&p.Path, &p.Reason, &p.CreatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.CreatedAt = parseTime(at)
	return &p, nil
}

func loadPromotion(ctx context.Context, q queryer, movement string) (*Promotion, error) {
	p := Promotion{Movement: movement}
	var at string
	err := q.QueryRowContext(ctx, "SELECT state, night, run_id, streak, reason, updated_by, updated_at FROM decider_promotions WHERE movement = ?", movement).
		Scan(&p.State, &p.Night, &p.RunID, &p.Streak, &p.Reason, &p.UpdatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.UpdatedAt = parseTime(at)
	return &p, nil
}

// audit appends one entry to the audit trail inside tx.
func audit(ctx context.Context, tx execer, at time.Time, actor, action, subject string, before, after any, reason string) error {
	enc := func(v any) (any, error) {
		if v == nil {
			return nil, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if string(b) == "null" {
			return nil, nil
		}
		return string(b), nil
	}
	b, err := enc(before)
	if err != nil {
		return err
	}
	a, err := enc(after)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO decider_audit (at, actor, action, subject, before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
		formatTime(at), actor, action, subject, b, a, reason)
	return err
}

// write runs fn in one write transaction (BEGIN IMMEDIATE).
func (d *Decider) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.db == nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, d.unavailable)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

func (d *Decider) read() (*sql.DB, error) {
	if d.db == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, d.unavailable)
	}
	return d.db, nil
}

func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%w: say who makes the change (--author, or $USER)", ErrInvalid)
	}
	return nil
}

// ruleState is a rule as the audit trail records it.
type ruleState struct {
	Cluster     string `json:"cluster"`
	Keyspace    string `json:"keyspace"`
	Table       string `json:"table"`
	Destination string `json:"destination"`
	Cohort      string `json:"cohort"`
	Path        Path   `json:"path"`
	Reason      string `json:"reason,omitempty"`
}

func (r Rule) state() ruleState {
	return ruleState{r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort, r.Path, r.Reason}
}

// SetRule creates the rule for its patterns, or replaces the path and
// reason of the rule that has the same patterns. Empty patterns mean '*'.
func (d *Decider) SetRule(ctx context.Context, r Rule, actor string) (Rule, bool, error) {
	r, err := r.normalize()
	if err != nil {
		return r, false, err
	}
	if err := checkActor(actor); err != nil {
		return r, false, err
	}
	created := false
	now := d.now()
	err = d.write(ctx, func(tx *sql.Tx) error {
		old, err := scanRule(tx.QueryRowContext(ctx, "SELECT "+ruleColumns+" FROM decider_rules WHERE cluster = ? AND keyspace = ? AND table_name = ? AND destination = ? AND cohort = ?",
			r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			res, err := tx.ExecContext(ctx, `INSERT INTO decider_rules (cluster, keyspace, table_name, destination, cohort, path, reason, created_by, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort, r.Path, r.Reason, actor, formatTime(now), formatTime(now))
			if err != nil {
				return err
			}
			r.ID, _ = res.LastInsertId()
			r.CreatedBy, r.CreatedAt, r.UpdatedAt = actor, now.UTC(), now.UTC()
			return audit(ctx, tx, now, actor, "rule.set", fmt.Sprintf("rule %d", r.ID), nil, r.state(), r.Reason)
		case err != nil:
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE decider_rules SET path = ?, reason = ?, updated_at = ? WHERE id = ?", r.Path, r.Reason, formatTime(now), old.ID); err != nil {
			return err
		}
		r.ID, r.CreatedBy, r.CreatedAt, r.UpdatedAt = old.ID, old.CreatedBy, old.CreatedAt, now.UTC()
		return audit(ctx, tx, now, actor, "rule.set", fmt.Sprintf("rule %d", r.ID), old.state(), r.state(), r.Reason)
	})
	return r, created, err
}

// RemoveRule deletes a rule.
func (d *Decider) RemoveRule(ctx context.Context, id int64, actor, reason string) (Rule, error) {
	if err := checkActor(actor); err != nil {
		return Rule{}, err
	}
	var old Rule
	err := d.write(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanRule(tx.QueryRowContext(ctx, "SELECT "+ruleColumns+" FROM decider_rules WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("rule %d: %w: no rule has this id (shadow decider rules lists them)", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM decider_rules WHERE id = ?", id); err != nil {
			return err
		}
		return audit(ctx, tx, d.now(), actor, "rule.remove", fmt.Sprintf("rule %d", id), old.state(), nil, reason)
	})
	return old, err
}

// Rules lists the rules, oldest first.
func (d *Decider) Rules(ctx context.Context) ([]Rule, error) {
	db, err := d.read()
	if err != nil {
		return nil, err
	}
	return loadRules(ctx, db)
}

type pinState struct {
	Path   Path   `json:"path"`
	Reason string `json:"reason,omitempty"`
}

// PinMovement pins a movement to a path. A movement has at most one pin: a
// second pin is rejected with ErrConflict unless replace is set, which
// replaces the first (and the audit trail keeps both).
func (d *Decider) PinMovement(ctx context.Context, movement string, path Path, replace bool, actor, reason string) (Pin, error) {
	p, err := ParsePath(string(path))
	if err != nil {
		return Pin{}, err
	}
	if _, err := d.files.Get(movement); err != nil {
		return Pin{}, fmt.Errorf("pin: %w: %v", ErrNotFound, err)
	}
	if err := checkActor(actor); err != nil {
		return Pin{}, err
	}
	now := d.now()
	pin := Pin{Movement: movement, Path: p, Reason: reason, CreatedBy: actor, CreatedAt: now.UTC()}
	err = d.write(ctx, func(tx *sql.Tx) error {
		old, err := loadPin(ctx, tx, movement)
		if err != nil {
			return err
		}
		action := "pin.set"
		var before any
		if old != nil {
			if !replace {
				return fmt.Errorf("dataset %s: %w: already pinned to %s by %s at %s%s; pass replace (--replace) to replace the pin, or unpin it first",
					movement, ErrConflict, old.Path, orUnknown(old.CreatedBy), old.CreatedAt.Format(time.RFC3339), reasonSuffix(old.Reason))
			}
			action, before = "pin.replace", pinState{old.Path, old.Reason}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO decider_pins (movement, path, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (movement) DO UPDATE SET path = excluded.path, reason = excluded.reason, created_by = excluded.created_by, created_at = excluded.created_at`,
			movement, p, reason, actor, formatTime(now)); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, action, movement, before, pinState{p, reason}, reason)
	})
	return pin, err
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// Unpin removes a movement's pin.
func (d *Decider) Unpin(ctx context.Context, movement, actor, reason string) (Pin, error) {
	if err := checkActor(actor); err != nil {
		return Pin{}, err
	}
	var old *Pin
	err := d.write(ctx, func(tx *sql.Tx) error {
		var err error
		if old, err = loadPin(ctx, tx, movement); err != nil {
			return err
		}
		if old == nil {
			return fmt.Errorf("dataset %s: %w: it is not pinned", movement, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM decider_pins WHERE movement = ?", movement); err != nil {
			return err
		}
		return audit(ctx, tx, d.now(), actor, "pin.remove", movement, pinState{old.Path, old.Reason}, nil, reason)
	})
	if err != nil {
		return Pin{}, err
	}
	return *old, nil
}

// Pins lists the pins by movement.
func (d *Decider) Pins(ctx context.Context) ([]Pin, error) {
	db, err := d.read()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT movement, path, reason, created_by, created_at FROM decider_pins ORDER BY movement")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Pin
	for rows.Next() {
		var p Pin
		var at string
		if err := rows.Scan(&p.Movement, &p.Path, &p.Reason, &p.CreatedBy, &at); err != nil {
			return nil, err
		}
		p.CreatedAt = parseTime(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

func checkCohort(c string) error {
	if !datasets.CohortPattern.MatchString(c) {
		return fmt.Errorf("cohort %q: %w: want letters, digits, '_', '.' or '-', starting with a letter or digit (at most 64)", c, ErrInvalid)
	}
	return nil
}

type rampState struct {
	Ramp int `json:"ramp"`
}

// SetRamp sets a cohort's ramp, 0 to 100 percent of its movements on the
// new path (those whose bucket is below percent × 100).
func (d *Decider) SetRamp(ctx context.Context, cohort string, percent int, actor, reason string) (Cohort, error) {
	if err := checkCohort(cohort); err != nil {
		return Cohort{}, err
	}
	if percent < 0 || percent > 100 {
		return Cohort{}, fmt.Errorf("ramp %d%% for cohort %s: %w: want a percentage from 0 to 100", percent, cohort, ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return Cohort{}, err
	}
	now := d.now()
	err := d.write(ctx, func(tx *sql.Tx) error {
		var old int
		var before any
		err := tx.QueryRowContext(ctx, "SELECT ramp FROM decider_cohorts WHERE name = ?", cohort).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			before = rampState{old}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO decider_cohorts (name, ramp, updated_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET ramp = excluded.ramp, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			cohort, percent, actor, formatTime(now)); err != nil {
			return err
		}
		return audit(ctx, tx, now, actor, "ramp.set", cohort, before, rampState{percent}, reason)
	})
	if err != nil {
		return Cohort{}, err
	}
	t := now.UTC()
	return Cohort{Name: cohort, Ramp: percent, UpdatedBy: actor, UpdatedAt: &t}, nil
}

type memberState struct {
	Cohort string `json:"cohort"`
}

// AssignCohort makes movements members of a cohort in the registry,
// overriding the cohort the datasets file gives them. Every movement must
// be a dataset; nothing is written otherwise.
func (d *Decider) AssignCohort(ctx context.Context, cohort string, movements []string, actor, reason string) error {
	if err := checkCohort(cohort); err != nil {
		return err
	}
	if len(movements) == 0 {
		return fmt.Errorf("cohort %s: %w: name at least one dataset", cohort, ErrInvalid)
	}
	for _, m := range movements {
		if _, err := d.files.Get(m); err != nil {
			return fmt.Errorf("cohort %s: %w: %v", cohort, ErrNotFound, err)
		}
	}
	if err := checkActor(actor); err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO decider_cohorts (name, ramp, updated_by, updated_at) VALUES (?, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
			cohort, actor, formatTime(now)); err != nil {
			return err
		}
		for _, m := range movements {
			ds, _ := d.files.Get(m)
			before := memberState{ds.EffectiveCohort()}
			var cur string
			err := tx.QueryRowContext(ctx, "SELECT cohort FROM decider_members WHERE movement = ?", m).Scan(&cur)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if cur != "" {
				before.Cohort = cur
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO decider_members (movement, cohort, updated_by, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (movement) DO UPDATE SET cohort = excluded.cohort, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
				m, cohort, actor, formatTime(now)); err != nil {
				return err
			}
			if err := audit(ctx, tx, now, actor, "cohort.add", m, before, memberState{cohort}, reason); err != nil {
				return err
			}
		}
		return nil
	})
}

// UnassignCohort removes the registry's cohort membership of movements, so
// that the datasets file's cohort applies again.
func (d *Decider) UnassignCohort(ctx context.Context, movements []string, actor, reason string) error {
	if len(movements) == 0 {
		return fmt.Errorf("cohort: %w: name at least one dataset", ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return err
	}
	now := d.now()
	return d.write(ctx, func(tx *sql.Tx) error {
		for _, m := range movements {
			var cur string
			err := tx.QueryRowContext(ctx, "SELECT cohort FROM decider_members WHERE movement = ?", m).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("dataset %s: %w: the registry gives it no cohort", m, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM decider_members WHERE movement = ?", m); err != nil {
				return err
			}
			after := memberState{datasets.DefaultCohort}
			if ds, err := d.files.Get(m); err == nil {
				after.Cohort = ds.EffectiveCohort()
			}
			if err := audit(ctx, tx, now, actor, "cohort.remove", m, memberState{cur}, after, reason); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cohorts lists every cohort the registry or the datasets file knows, with
// its ramp and its members (registry membership over the file's).
func (d *Decider) Cohorts(ctx context.Context) ([]Cohort, error) {
	db, err := d.read()
	if err != nil {
		return nil, err
	}
	byName := map[string]*Cohort{}
	get := func(n string) *Cohort {
		if c, ok := byName[n]; ok {
			return c
		}
		c := &Cohort{Name: n, Members: []string{}}
		byName[n] = c
		return c
	}
	rows, err := db.QueryContext(ctx, "SELECT name, ramp, updated_by, updated_at FROM decider_cohorts")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, by, at string
		var ramp int
		if err := rows.Scan(&n, &ramp, &by, &at); err != nil {
			rows.Close()
			return nil, err
		}
		c := get(n)
		t := parseTime(at)
		c.Ramp, c.UpdatedBy, c.UpdatedAt = ramp, by, &t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	members := map[string]string{}
	rows, err = db.QueryContext(ctx, "SELECT movement, cohort FROM decider_members")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var m, c string
		if err := rows.Scan(&m, &c); err != nil {
			rows.Close()
			return nil, err
		}
		members[m] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, ds := range d.files.Datasets {
		c := ds.EffectiveCohort()
		if m, ok := members[ds.Name]; ok {
			c = m
		}
		get(c).Members = append(get(c).Members, ds.Name)
	}
	out := make([]Cohort, 0, len(byName))
	for _, c := range byName {
		sort.Strings(c.Members)
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CohortNames lists the cohorts the registry or the datasets file knows,
// sorted: pass them to metrics.Config.Cohorts at start-up so that every
// cohort's series exist before its first decision.
func (d *Decider) CohortNames(ctx context.Context) ([]string, error) {
	cs, err := d.Cohorts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out, nil
}

// recordDecision stores a served decision.
func (d *Decider) recordDecision(ctx context.Context, dec Decision) (int64, error) {
	var rule any
	if dec.RuleID != 0 {
		rule = dec.RuleID
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO decider_decisions (at, movement, cluster, keyspace, table_name, destination, cohort, path, source, rule, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, formatTime(d.now()), dec.Movement, dec.Cluster, dec.Keyspace, dec.Table, dec.Destination,
		dec.Cohort, dec.Path, dec.Source, rule, dec.Reason)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// Status explains the path of every dataset, in file order.
func (d *Decider) Status(ctx context.Context) ([]Decision, error) {
	out := make([]Decision, 0, len(d.files.Datasets))
	for _, ds := range d.files.Datasets {
		dec, err := d.Explain(ctx, Movement{Dataset: ds.Name})
		if err != nil {
			return nil, err
		}
		out = append(out, dec)
	}
	return out, nil
}
