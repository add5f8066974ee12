// Package decider is the connector controller of issue 7: for each data
// movement it chooses a path, legacy or new (contracts §3), so that a data
// movement's job definition never changes while the movement moves from the
// legacy connector to the new engine, cohort by cohort.
//
//	Maestro Decider step ──GET /v1/decide──▶ Decider ──▶ MOVE_DATA | LEGACY
//	executor / Maestro   ──POST /v1/outcomes─▶ Decider ──▶ SQLite, metrics, alerts
//	shadow serve (auto)  ──AfterRun──────────▶ Decider ──▶ promote / demote
//
// A movement is a dataset of the datasets file; its id is the dataset's
// name. The registry lives in the service's state file, next to the
// investigation log (contracts §5, migration 0005_decider.sql): rules,
// cohorts and their ramps, cohort membership, pins, promotion state, an
// append-only audit trail, and the decisions and outcomes served.
//
// Precedence, first match wins:
//
//	pin > explicit rule > promotion state > cohort ramp > default (legacy)
//
// Safe defaults: a movement that nothing sends to the new path goes to
// legacy, and so does every movement while the registry cannot be read; the
// decider never guesses the new path.
//
// Ramps use a stable hash of the movement id:
//
//	bucket(id) = xxhash64(id) mod 10000        (0 … 9999)
//	new path   ⟺ bucket(id) < ramp% × 100
//
// so a movement inside a 30% ramp stays inside at 40%.
package decider

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/datasets"
)

// Sentinel errors. Bad input wraps ErrInvalid, ErrNotFound or ErrConflict;
// nothing is written when one is returned.
var (
	// ErrInvalid marks bad input: an unknown path, a ramp outside 0–100, a
	// bad pattern or parameter.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound marks an unknown dataset, rule or pin.
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a change that collides with the registry: a second
	// pin for a movement without replace.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable marks a registry that cannot be read or written.
	ErrUnavailable = errors.New("decider registry unavailable")
)

// Path is where a movement runs (contracts §3).
type Path string

// The two paths.
const (
	PathLegacy Path = "legacy"
	PathNew    Path = "new"
)

// The plain-text answers of GET /v1/decide.
const (
	AnswerMoveData = "MOVE_DATA"
	AnswerLegacy   = "LEGACY"
)

// Answer is the plain-text answer for the path.
func (p Path) Answer() string {
	if p == PathNew {
		return AnswerMoveData
	}
	return AnswerLegacy
}

// ParsePath reads legacy or new. A connector name or an API answer is
// rejected with a message that says what a path is.
func ParsePath(s string) (Path, error) {
	switch p := Path(strings.ToLower(strings.TrimSpace(s))); p {
	case PathLegacy, PathNew:
		return p, nil
	}
	if slices.Contains(datasets.Connectors, strings.ToLower(s)) {
		return "", fmt.Errorf("path %q: %w: %s is a connector (the engine's output shape, set per dataset in the datasets file), not a path; want legacy or new", s, ErrInvalid, s)
	}
	switch strings.ToUpper(s) {
	case AnswerMoveData:
		return "", fmt.Errorf("path %q: %w: MOVE_DATA is the API's answer for the path new; want legacy or new", s, ErrInvalid)
	case AnswerLegacy:
		return "", fmt.Errorf("path %q: %w: want legacy or new (lower case)", s, ErrInvalid)
	}
	return "", fmt.Errorf("path %q: %w: want legacy or new", s, ErrInvalid)
}

// Source says which level of the precedence decided.
type Source string

// Decision sources, in precedence order, then the safe fallback.
const (
	SourcePin         Source = "pin"
	SourceRule        Source = "rule"
	SourcePromotion   Source = "promotion"
	SourceRamp        Source = "ramp"
	SourceDefault     Source = "default"
	SourceUnavailable Source = "unavailable" // the registry could not be read
)

// Buckets is the number of ramp buckets: a ramp of p% covers the buckets
// below p × Buckets / 100.
const Buckets = 10000

// Bucket is a movement's ramp bucket, 0 to 9999: xxhash64 of the id, modulo
// 10000. It depends on the id alone, so it never changes.
func Bucket(movement string) int { return int(xxhash.Sum64String(movement) % Buckets) }

// InRamp reports whether a movement is on the new path under a ramp of
// percent (0–100). Raising the ramp never removes a movement.
func InRamp(movement string, percent int) bool { return Bucket(movement) < percent*Buckets/100 }

// Movement is what a caller asks about. Dataset is the movement id; when
// it is empty the movement is found in the datasets file by its source
// cluster, keyspace and table and its destination.
type Movement struct {
	Dataset     string `json:"dataset,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	Keyspace    string `json:"keyspace,omitempty"`
	Table       string `json:"table,omitempty"`
	Destination string `json:"destination,omitempty"`
	// Cohort is the caller's migration cohort; empty means the movement's
	// own (registry membership, else the datasets file, else "default").
	Cohort string `json:"cohort,omitempty"`
}

// Decision is the decider's answer and why.
type Decision struct {
	Answer   string `json:"decision"` // MOVE_DATA or LEGACY
	Path     Path   `json:"path"`
	Movement string `json:"movement"` // the dataset; "" when none matched
	Cohort   string `json:"cohort"`
	Source   Source `json:"source"`
	// Rule names what decided: "pin", "rule 3 (cluster=… …)", "promotion",
	// "ramp early 30%", "default".
	Rule   string `json:"rule"`
	RuleID int64  `json:"rule_id,omitempty"`
	Reason string `json:"reason"`
	// Bucket is the movement's ramp bucket (known movements only).
	Bucket *int `json:"bucket,omitempty"`
	// ID is the recorded decision's id (Decide only), for outcomes.
	ID int64 `json:"decision_id,omitempty"`

	Cluster     string `json:"cluster"`
	Keyspace    string `json:"keyspace"`
	Table       string `json:"table"`
	Destination string `json:"destination"`
}

// Metrics receives decisions, fallbacks and outcomes; *metrics.Metrics of
// shadow/metrics implements it.
type Metrics interface {
	Decision(path, cohort string) error
	Fallback(cohort string)
	Outcome(path, outcome string, d time.Duration) error
}

// Alerts fires and resolves ShadowDeciderFallback; *alert.Notifier of
// shadow/alert implements it.
type Alerts interface {
	NotifyFallback(ctx context.Context, f alert.Fallback) error
	ResolveFallback(ctx context.Context, dataset string, labels map[string]string) error
}

// Options configure a Decider. Every field is optional.
type Options struct {
	Datasets *datasets.File // the movements; nil means none
	Policy   Policy
	Metrics  Metrics
	Alerts   Alerts
	Logger   *slog.Logger
	Now      func() time.Time
}

// Decider answers decisions from the registry. It is safe for concurrent
// use.
type Decider struct {
	store       *investigations.Store
	db          *sql.DB
	unavailable error
	files       *datasets.File
	policy      Policy
	metrics     Metrics
	alerts      Alerts
	log         *slog.Logger
	now         func() time.Time
}

// New returns a decider over an open state database (investigations.Open
// migrates it to the registry's schema).
func New(store *investigations.Store, opts Options) *Decider {
	d := newDecider(opts)
	d.store, d.db = store, store.DB()
	return d
}

// Unavailable returns a decider without a registry, for when the state
// file cannot be opened: every decision is LEGACY, with err as the reason,
// and every change fails with ErrUnavailable.
func Unavailable(err error, opts Options) *Decider {
	d := newDecider(opts)
	if err == nil {
		err = errors.New("no state database")
	}
	d.unavailable = err
	d.log.Error("decider: registry unavailable; every decision is LEGACY", "err", err)
	return d
}

func newDecider(opts Options) *Decider {
	d := &Decider{files: opts.Datasets, policy: opts.Policy.withDefaults(), metrics: opts.Metrics, alerts: opts.Alerts, log: opts.Logger, now: opts.Now}
	if d.files == nil {
		d.files = &datasets.File{}
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Policy returns the promotion policy in force.
func (d *Decider) Policy() Policy { return d.policy }

// Datasets returns the movements the decider knows.
func (d *Decider) Datasets() *datasets.File { return d.files }

// Decide answers for a movement, records the decision and counts it in the
// metrics. Bad input (an unknown dataset, a bad cohort, a movement without
// keyspace and table) is an error; a registry that cannot be read is not:
// the answer is then LEGACY, logged, with source "unavailable".
func (d *Decider) Decide(ctx context.Context, m Movement) (Decision, error) {
	dec, err := d.Explain(ctx, m)
	if err != nil {
		return dec, err
	}
	if d.db != nil && dec.Source != SourceUnavailable {
		id, err := d.recordDecision(ctx, dec)
		if err != nil {
			d.log.Warn("decider: could not record a decision", "movement", dec.Movement, "err", err)
		}
		dec.ID = id
	}
	if d.metrics != nil {
		if err := d.metrics.Decision(string(dec.Path), dec.Cohort); err != nil {
			d.log.Warn("decider: metrics", "err", err)
		}
	}
	return dec, nil
}

// Explain answers like Decide without recording or counting anything.
func (d *Decider) Explain(ctx context.Context, m Movement) (Decision, error) {
	ds, note, err := d.resolve(m)
	if err != nil {
		return Decision{}, err
	}
	req := attributes(m, ds)
	if m.Cohort != "" && m.Cohort != "*" && !datasets.CohortPattern.MatchString(m.Cohort) {
		return Decision{}, fmt.Errorf("cohort %q: %w: want letters, digits, '_', '.' or '-'", m.Cohort, ErrInvalid)
	}
	if m.Cohort == "*" {
		return Decision{}, fmt.Errorf("cohort %q: %w: a cohort, not a pattern", m.Cohort, ErrInvalid)
	}
	if d.db == nil {
		return d.unavailableDecision(req, ds, m.Cohort, d.unavailable), nil
	}
	snap, err := d.readSnapshot(ctx, ds)
	if err != nil {
		if ctx.Err() != nil {
			return Decision{}, ctx.Err()
		}
		return d.unavailableDecision(req, ds, m.Cohort, err), nil
	}
	return evaluate(req, ds, m.Cohort, note, snap), nil
}

func (d *Decider) unavailableDecision(req Decision, ds *datasets.Dataset, cohort string, cause error) Decision {
	if cohort == "" {
		cohort = datasets.DefaultCohort
		if ds != nil {
			cohort = ds.EffectiveCohort()
		}
	}
	d.log.Error("decider: registry cannot be read; answering LEGACY", "movement", req.Movement, "err", cause)
	req.Path, req.Answer, req.Source, req.Rule, req.Cohort = PathLegacy, AnswerLegacy, SourceUnavailable, "unavailable", cohort
	req.Reason = fmt.Sprintf("the decider registry cannot be read (%v); the safe default is legacy", cause)
	return req
}

// attributes fills the decision's echo of the movement, taking what the
// caller left out from the dataset.
func attributes(m Movement, ds *datasets.Dataset) Decision {
	dec := Decision{Cluster: m.Cluster, Keyspace: m.Keyspace, Table: m.Table, Destination: trimIceberg(m.Destination)}
	if ds != nil {
		dec.Movement = ds.Name
		if dec.Cluster == "" {
			dec.Cluster = ds.Source.Cluster
		}
		if dec.Keyspace == "" {
			dec.Keyspace = ds.Source.Keyspace
		}
		if dec.Table == "" {
			dec.Table = ds.Source.Table
		}
		if dec.Destination == "" {
			dec.Destination = trimIceberg(ds.Destination)
		}
	}
	return dec
}

func trimIceberg(s string) string { return strings.TrimPrefix(s, "iceberg:") }

// resolve finds the dataset a movement names. A movement that no dataset
// matches, or that several match, is decided by explicit rules alone; note
// says why.
func (d *Decider) resolve(m Movement) (*datasets.Dataset, string, error) {
	for name, v := range map[string]string{"dataset": m.Dataset, "cluster": m.Cluster, "keyspace": m.Keyspace, "table": m.Table, "destination": m.Destination, "cohort": m.Cohort} {
		if err := checkValue(name, v); err != nil {
			return nil, "", err
		}
	}
	if m.Dataset != "" {
		ds, err := d.files.Get(m.Dataset)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		for _, c := range []struct{ name, got, want string }{
			{"cluster", m.Cluster, ds.Source.Cluster}, {"keyspace", m.Keyspace, ds.Source.Keyspace},
			{"table", m.Table, ds.Source.Table}, {"destination", trimIceberg(m.Destination), trimIceberg(ds.Destination)},
		} {
			if c.got != "" && c.got != c.want {
				return nil, "", fmt.Errorf("dataset %s: %w: its %s is %q, not %q", ds.Name, ErrInvalid, c.name, c.want, c.got)
			}
		}
		return &ds, "", nil
	}
	if m.Keyspace == "" || m.Table == "" {
		return nil, "", fmt.Errorf("movement: %w: want dataset, or keyspace and table (with cluster and destination to tell datasets apart)", ErrInvalid)
	}
	var found []*datasets.Dataset
	for i := range d.files.Datasets {
		ds := &d.files.Datasets[i]
		if ds.Source.Keyspace != m.Keyspace || ds.Source.Table != m.Table {
			continue
		}
		if m.Cluster != "" && ds.Source.Cluster != m.Cluster {
			continue
		}
		if m.Destination != "" && trimIceberg(ds.Destination) != trimIceberg(m.Destination) {
			continue
		}
		found = append(found, ds)
	}
	what := m.Keyspace + "." + m.Table
	if m.Cluster != "" {
		what = m.Cluster + "/" + what
	}
	switch len(found) {
	case 0:
		return nil, fmt.Sprintf("no dataset of the datasets file reads %s", what), nil
	case 1:
		return found[0], "", nil
	}
	names := make([]string, len(found))
	for i, ds := range found {
		names[i] = ds.Name
	}
	return nil, fmt.Sprintf("datasets %s all read %s (pass destination or dataset to tell them apart)", strings.Join(names, ", "), what), nil
}

// checkValue bounds a request value: at most 256 bytes, no control
// characters.
func checkValue(name, v string) error {
	if len(v) > 256 {
		return fmt.Errorf("%s: %w: longer than 256 bytes", name, ErrInvalid)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q: %w: control character", name, v, ErrInvalid)
		}
	}
	return nil
}

// snapshot is what the registry says about one movement.
type snapshot struct {
	rules  []Rule
	pin    *Pin
	promo  *Promotion
	member string // registry cohort membership, "" if none
	ramps  map[string]int
}

// evaluate applies the precedence to a snapshot. It is pure.
func evaluate(dec Decision, ds *datasets.Dataset, cohort, note string, s snapshot) Decision {
	if cohort == "" {
		switch {
		case s.member != "":
			cohort = s.member
		case ds != nil:
			cohort = ds.EffectiveCohort()
		default:
			cohort = datasets.DefaultCohort
		}
	}
	dec.Cohort = cohort
	set := func(p Path, src Source, rule, reason string) Decision {
		dec.Path, dec.Answer, dec.Source, dec.Rule, dec.Reason = p, p.Answer(), src, rule, reason
		return dec
	}
	if ds != nil {
		b := Bucket(ds.Name)
		dec.Bucket = &b
	}
	if ds != nil && s.pin != nil {
		why := fmt.Sprintf("pinned to %s by %s at %s", s.pin.Path, orUnknown(s.pin.CreatedBy), s.pin.CreatedAt.Format(time.RFC3339))
		if s.pin.Reason != "" {
			why += ": " + s.pin.Reason
		}
		return set(s.pin.Path, SourcePin, "pin", why)
	}
	if r := bestRule(s.rules, dec); r != nil {
		why := fmt.Sprintf("explicit rule %d matches", r.ID)
		if r.Reason != "" {
			why += ": " + r.Reason
		}
		dec.RuleID = r.ID
		return set(r.Path, SourceRule, fmt.Sprintf("rule %d (%s)", r.ID, r.Patterns()), why)
	}
	if ds == nil {
		if note == "" {
			note = "no dataset matches"
		}
		return set(PathLegacy, SourceDefault, "default", note+"; no explicit rule matches; the default path is legacy")
	}
	if s.promo != nil {
		if s.promo.State == StatePromoted {
			return set(PathNew, SourcePromotion, "promotion", fmt.Sprintf("promoted at night %s after %d clean nights in a row (%s)", s.promo.Night, s.promo.Streak, s.promo.RunID))
		}
		why := fmt.Sprintf("demoted: run %s differs", s.promo.RunID)
		if s.promo.Reason != "" {
			why = "demoted: " + s.promo.Reason
		}
		return set(PathLegacy, SourcePromotion, "promotion", why)
	}
	if ramp := s.ramps[cohort]; ramp > 0 {
		b := *dec.Bucket
		limit := ramp * Buckets / 100
		rule := fmt.Sprintf("ramp %s %d%%", cohort, ramp)
		if b < limit {
			return set(PathNew, SourceRamp, rule, fmt.Sprintf("bucket %d < %d: inside the %d%% ramp of cohort %s", b, limit, ramp, cohort))
		}
		return set(PathLegacy, SourceRamp, rule, fmt.Sprintf("bucket %d ≥ %d: outside the %d%% ramp of cohort %s", b, limit, ramp, cohort))
	}
	return set(PathLegacy, SourceDefault, "default", fmt.Sprintf("no pin, rule, promotion or ramp applies (cohort %s has a 0%% ramp); the default path is legacy", cohort))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// bestRule picks the matching rule with the most fields that are not a
// lone '*'; on a tie legacy wins (the safe side), then the older rule.
func bestRule(rules []Rule, dec Decision) *Rule {
	var best *Rule
	for i := range rules {
		r := &rules[i]
		if !r.Matches(dec.Cluster, dec.Keyspace, dec.Table, dec.Destination, dec.Cohort) {
			continue
		}
		if best == nil {
			best = r
			continue
		}
		rs, bs := r.Specificity(), best.Specificity()
		switch {
		case rs > bs:
			best = r
		case rs == bs && r.Path == PathLegacy && best.Path == PathNew:
			best = r
		case rs == bs && r.Path == best.Path && r.ID < best.ID:
			best = r
		}
	}
	return best
}

// globMatch matches '*' as any run of characters; everything else is
// literal.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last) && len(s) >= len(last)
}
