package decider

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cassmove/shadow/shadow/alert"
	"github.com/cassmove/shadow/shadow/datasets"
)

// Outcomes a caller reports (POST /v1/outcomes).
const (
	OutcomeSuccess  = "success"  // the movement succeeded on Path
	OutcomeFailure  = "failure"  // it failed on Path (and nothing else ran)
	OutcomeFallback = "fallback" // it failed on the new path and the legacy path ran
)

// Outcome is a movement's result as its runner reports it.
type Outcome struct {
	Movement
	// Path is the path that ran; for a fallback, the one that failed (new;
	// empty means new).
	Path    Path   `json:"path"`
	Outcome string `json:"outcome"`
	// DurationSeconds is how long the movement took (optional).
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	Error           string   `json:"error,omitempty"`    // why it failed
	Reporter        string   `json:"reporter,omitempty"` // who reports (the executor, a Maestro workflow id)
	// DecisionID links the decision this movement ran under; 0 links the
	// movement's latest decision of the last 24 hours, if any.
	DecisionID int64 `json:"decision_id,omitempty"`
}

// OutcomeRecord is a recorded outcome.
type OutcomeRecord struct {
	ID              int64     `json:"id"`
	At              time.Time `json:"at"`
	Movement        string    `json:"movement"`
	Cohort          string    `json:"cohort"`
	Path            Path      `json:"path"`
	Outcome         string    `json:"outcome"`
	DurationSeconds *float64  `json:"duration_seconds"`
	Error           string    `json:"error"`
	Reporter        string    `json:"reporter"`
	DecisionID      *int64    `json:"decision_id"`
	// AlertError says why the fallback alert could not be sent, if it
	// could not; the outcome is recorded anyway.
	AlertError string `json:"alert_error,omitempty"`
}

const maxErrorText = 4096

// RecordOutcome records an outcome, feeds the metrics (outcome duration;
// fallbacks by cohort) and, for a fallback, fires ShadowDeciderFallback; a
// success on the new path after a fallback resolves it. Metrics and alerts
// are fed even when the registry cannot be written, and the error is then
// returned.
func (d *Decider) RecordOutcome(ctx context.Context, o Outcome) (OutcomeRecord, error) {
	rec, _, err := d.checkOutcome(ctx, o)
	if err != nil {
		return rec, err
	}
	// The alert carries the labels of contracts §7 only (alertname,
	// dataset, severity), so Alertmanager deduplicates repeated fallbacks of
	// a dataset; the dataset's own labels would split them.
	var labels map[string]string
	resolve := false
	var dbErr error
	if d.db == nil {
		dbErr = fmt.Errorf("%w: %v", ErrUnavailable, d.unavailable)
	} else {
		dbErr = d.write(ctx, func(tx *sql.Tx) error {
			if rec.Outcome == OutcomeSuccess && rec.Path == PathNew {
				var last string
				err := tx.QueryRowContext(ctx, "SELECT outcome FROM decider_outcomes WHERE movement = ? ORDER BY id DESC LIMIT 1", rec.Movement).Scan(&last)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				resolve = last == OutcomeFallback
			}
			if o.DecisionID != 0 {
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM decider_decisions WHERE id = ?", o.DecisionID).Scan(&n); err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("outcome: decision_id %d: %w", o.DecisionID, ErrNotFound)
				}
				id := o.DecisionID
				rec.DecisionID = &id
			} else {
				var id int64
				err := tx.QueryRowContext(ctx, "SELECT id FROM decider_decisions WHERE movement = ? AND at >= ? ORDER BY id DESC LIMIT 1",
					rec.Movement, formatTime(rec.At.Add(-24*time.Hour))).Scan(&id)
				if err == nil {
					rec.DecisionID = &id
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO decider_outcomes (at, movement, cohort, path, outcome, duration_seconds, error, reporter, decision)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, formatTime(rec.At), rec.Movement, rec.Cohort, rec.Path, rec.Outcome,
				rec.DurationSeconds, rec.Error, rec.Reporter, rec.DecisionID)
			if err != nil {
				return err
			}
			rec.ID, err = res.LastInsertId()
			return err
		})
		if errors.Is(dbErr, ErrNotFound) {
			return rec, dbErr // bad input: nothing recorded, nothing alerted
		}
	}
	if d.metrics != nil {
		if o.DurationSeconds != nil {
			if err := d.metrics.Outcome(string(rec.Path), rec.Outcome, time.Duration(*o.DurationSeconds*float64(time.Second))); err != nil {
				d.log.Warn("decider: metrics", "err", err)
			}
		}
		if rec.Outcome == OutcomeFallback {
			d.metrics.Fallback(rec.Cohort)
		}
	}
	if d.alerts != nil {
		var aerr error
		switch {
		case rec.Outcome == OutcomeFallback:
			cause := errors.New(orText(rec.Error, "no error reported"))
			aerr = d.alerts.NotifyFallback(ctx, alert.Fallback{Dataset: rec.Movement, Cohort: rec.Cohort, Err: cause, Labels: labels})
		case resolve:
			aerr = d.alerts.ResolveFallback(ctx, rec.Movement, labels)
		}
		if aerr != nil {
			rec.AlertError = aerr.Error()
			d.log.Error("decider: fallback alert not delivered", "movement", rec.Movement, "err", aerr)
		}
	}
	if dbErr != nil {
		d.log.Error("decider: outcome not recorded", "movement", rec.Movement, "outcome", rec.Outcome, "err", dbErr)
		return rec, dbErr
	}
	return rec, nil
}

// RecordFallback records that a data movement failed on the new path and
// the legacy path ran instead: an outcome (fallback, path new), the metric
// shadow_decider_fallbacks_total{cohort} and the ShadowDeciderFallback
// alert. It is RecordOutcome for the fallback executor (`shadow execute`):
// decisionID is Decision.ID of the decision it ran under (0 links the
// dataset's latest decision), took how long the new path ran before it
// failed (0 when unknown), cause why it failed. The metric and the alert
// are fed even when the registry cannot be written; the error says so.
func (d *Decider) RecordFallback(ctx context.Context, dataset string, decisionID int64, took time.Duration, cause error) (OutcomeRecord, error) {
	o := Outcome{Movement: Movement{Dataset: dataset}, Path: PathNew, Outcome: OutcomeFallback, Reporter: "shadow execute", DecisionID: decisionID}
	if cause != nil {
		o.Error = cause.Error()
	}
	if took > 0 {
		s := took.Seconds()
		o.DurationSeconds = &s
	}
	return d.RecordOutcome(ctx, o)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkOutcome validates an outcome and resolves its movement and cohort.
func (d *Decider) checkOutcome(ctx context.Context, o Outcome) (OutcomeRecord, *datasets.Dataset, error) {
	rec := OutcomeRecord{At: d.now().UTC(), Outcome: o.Outcome, Error: o.Error, Reporter: o.Reporter, DurationSeconds: o.DurationSeconds}
	switch o.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeFallback:
	case "":
		return rec, nil, fmt.Errorf("outcome: %w: missing; want success, failure or fallback", ErrInvalid)
	default:
		return rec, nil, fmt.Errorf("outcome %q: %w: want success, failure or fallback", o.Outcome, ErrInvalid)
	}
	switch {
	case o.Path == "" && o.Outcome == OutcomeFallback:
		rec.Path = PathNew
	case o.Path == "":
		return rec, nil, fmt.Errorf("outcome: %w: path missing; want legacy or new (the path that ran)", ErrInvalid)
	default:
		p, err := ParsePath(string(o.Path))
		if err != nil {
			return rec, nil, fmt.Errorf("outcome: %w", err)
		}
		rec.Path = p
	}
	if o.Outcome == OutcomeFallback && rec.Path != PathNew {
		return rec, nil, fmt.Errorf("outcome: %w: a fallback is a failure on the new path followed by the legacy one; report path new", ErrInvalid)
	}
	if s := o.DurationSeconds; s != nil && (*s < 0 || math.IsNaN(*s) || math.IsInf(*s, 0) || *s > 366*24*3600) {
		return rec, nil, fmt.Errorf("outcome: duration_seconds %v: %w: want a number of seconds from 0 to a year", *s, ErrInvalid)
	}
	if len(rec.Error) > maxErrorText {
		rec.Error = rec.Error[:maxErrorText] + "…"
	}
	if err := checkValue("reporter", o.Reporter); err != nil {
		return rec, nil, fmt.Errorf("outcome: %w", err)
	}
	ds, note, err := d.resolve(o.Movement)
	if err != nil {
		return rec, nil, fmt.Errorf("outcome: %w", err)
	}
	if o.Cohort != "" {
		if err := checkCohort(o.Cohort); err != nil {
			return rec, nil, fmt.Errorf("outcome: %w", err)
		}
	}
	switch {
	case ds != nil:
		rec.Movement = ds.Name
	default:
		// A movement outside the datasets file (decided by explicit rules):
		// named after its source.
		rec.Movement = o.Keyspace + "." + o.Table
		if o.Cluster != "" {
			rec.Movement = o.Cluster + "/" + rec.Movement
		}
		d.log.Debug("decider: outcome of a movement outside the datasets file", "movement", rec.Movement, "why", note)
	}
	rec.Cohort = o.Cohort
	if rec.Cohort == "" {
		rec.Cohort = datasets.DefaultCohort
		if ds != nil {
			rec.Cohort = ds.EffectiveCohort()
			if d.db != nil {
				var m string
				if err := d.db.QueryRowContext(ctx, "SELECT cohort FROM decider_members WHERE movement = ?", ds.Name).Scan(&m); err == nil {
					rec.Cohort = m
				}
			}
		}
	}
	return rec, ds, nil
}

// HistoryFilter selects history entries; zero fields select everything.
type HistoryFilter struct {
	Movement string // a dataset: its changes and outcomes
	Cohort   string // a cohort: its ramp changes, and outcomes in it
	Limit    int    // 0: no limit
}

// Entry is one line of the history: a change from the audit trail or a
// reported outcome.
type Entry struct {
	Kind    string          `json:"kind"` // change | outcome
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`  // who changed, or who reported
	Action  string          `json:"action"` // rule.set, pin.set, …, or the outcome
	Subject string          `json:"subject"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	// Outcomes only.
	Cohort          string   `json:"cohort,omitempty"`
	Path            Path     `json:"path,omitempty"`
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	Error           string   `json:"error,omitempty"`
	DecisionID      *int64   `json:"decision_id,omitempty"`
	Decision        string   `json:"decision,omitempty"` // source and rule of the linked decision
}

// History lists changes and outcomes, newest first, and the total that
// match.
func (d *Decider) History(ctx context.Context, f HistoryFilter) ([]Entry, int, error) {
	db, err := d.read()
	if err != nil {
		return nil, 0, err
	}
	aw, ow := []string{"1 = 1"}, []string{"1 = 1"}
	var aargs, oargs []any
	if f.Movement != "" {
		aw = append(aw, "subject = ?")
		aargs = append(aargs, f.Movement)
		ow = append(ow, "o.movement = ?")
		oargs = append(oargs, f.Movement)
	}
	if f.Cohort != "" {
		aw = append(aw, "(subject = ? AND action = 'ramp.set' OR json_extract(after, '$.cohort') = ? OR json_extract(before, '$.cohort') = ?)")
		aargs = append(aargs, f.Cohort, f.Cohort, f.Cohort)
		ow = append(ow, "o.cohort = ?")
		oargs = append(oargs, f.Cohort)
	}
	union := `SELECT 'change' AS kind, id, at, actor, action, subject, before, after, reason, '' AS cohort, '' AS path, NULL AS duration, '' AS error, NULL AS decision, '' AS decided
		FROM decider_audit WHERE ` + strings.Join(aw, " AND ") + `
		UNION ALL
		SELECT 'outcome', o.id, o.at, o.reporter, o.outcome, o.movement, NULL, NULL, '', o.cohort, o.path, o.duration_seconds, o.error, o.decision,
			coalesce(d.source || ': ' || d.reason, '')
		FROM decider_outcomes o LEFT JOIN decider_decisions d ON d.id = o.decision WHERE ` + strings.Join(ow, " AND ")
	args := append(aargs, oargs...)
	var total int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+union+")", args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	q := "SELECT * FROM (" + union + ") ORDER BY at DESC, kind, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var at string
		var before, after sql.NullString
		var dur sql.NullFloat64
		var dec sql.NullInt64
		var path string
		if err := rows.Scan(&e.Kind, &e.ID, &at, &e.Actor, &e.Action, &e.Subject, &before, &after, &e.Reason, &e.Cohort, &path,
			&dur, &e.Error, &dec, &e.Decision); err != nil {
			return nil, 0, err
		}
		e.At, e.Path = parseTime(at), Path(path)
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		if dur.Valid {
			v := dur.Float64
			e.DurationSeconds = &v
		}
		if dec.Valid {
			v := dec.Int64
			e.DecisionID = &v
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}
