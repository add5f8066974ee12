package investigations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SideCounts holds one number per side.
type SideCounts struct {
	OnlyInLegacy int64 `json:"only_in_legacy"`
	OnlyInNew    int64 `json:"only_in_new"`
	Changed      int64 `json:"changed"`
}

// Run is one run as recorded.
type Run struct {
	ID         string     `json:"run_id"`
	Dataset    string     `json:"dataset"`
	Night      string     `json:"night"`
	Scheduled  bool       `json:"scheduled"`
	Attempt    int        `json:"attempt"`
	Superseded bool       `json:"superseded"`
	Status     Status     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`

	LegacySnapshotID   *int64     `json:"legacy_snapshot_id"`
	NewSnapshotID      *int64     `json:"new_snapshot_id"`
	Backup             string     `json:"backup"`
	LegacyTTLReference *time.Time `json:"legacy_ttl_reference"`
	NewTTLReference    *time.Time `json:"new_ttl_reference"`

	Counts
	Similarity  *float64        `json:"similarity"`
	DiffOptions json.RawMessage `json:"diff_options"`
	Stages      []Stage         `json:"stages"`
	Error       string          `json:"error"`

	Host             string     `json:"host"`
	PID              int        `json:"pid"`
	MaxStoredPerSide int        `json:"max_stored_per_side"` // -1: no cap
	Seen             SideCounts `json:"seen"`                // discrepancies the runner streamed
	Stored           SideCounts `json:"stored"`              // of which stored (the rest hit the cap)

	row int64
}

// Duration is how long the run took, or has been running.
func (r Run) Duration(now time.Time) time.Duration {
	if r.FinishedAt != nil {
		return r.FinishedAt.Sub(r.StartedAt)
	}
	return now.Sub(r.StartedAt)
}

const runColumns = `id, run_id, dataset, night, scheduled, attempt, superseded, status, started_at, finished_at,
	legacy_snapshot_id, new_snapshot_id, backup, legacy_ttl_reference, new_ttl_reference,
	legacy_rows, new_rows, only_in_legacy, only_in_new, matched, changed, missing, extra, duplicate_keys,
	similarity, diff_options, stages, error, host, pid, max_stored_per_side,
	seen_only_in_legacy, seen_only_in_new, seen_changed, stored_only_in_legacy, stored_only_in_new, stored_changed`

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (Run, error) {
	var r Run
	var started string
	var finished, legacyRef, newRef sql.NullString
	var legacySnap, newSnap sql.NullInt64
	var sim sql.NullFloat64
	var opts, stages, status string
	c := &r.Counts
	err := sc.Scan(&r.row, &r.ID, &r.Dataset, &r.Night, &r.Scheduled, &r.Attempt, &r.Superseded, &status, &started, &finished,
		&legacySnap, &newSnap, &r.Backup, &legacyRef, &newRef,
		&c.LegacyRows, &c.NewRows, &c.OnlyInLegacy, &c.OnlyInNew, &c.Matched, &c.Changed, &c.Missing, &c.Extra, &c.DuplicateKeys,
		&sim, &opts, &stages, &r.Error, &r.Host, &r.PID, &r.MaxStoredPerSide,
		&r.Seen.OnlyInLegacy, &r.Seen.OnlyInNew, &r.Seen.Changed, &r.Stored.OnlyInLegacy, &r.Stored.OnlyInNew, &r.Stored.Changed)
	if err != nil {
		return r, err
	}
	r.Status = Status(status)
	r.StartedAt = parseTime(started)
	r.FinishedAt = optTime(finished)
	r.LegacyTTLReference = optTime(legacyRef)
	r.NewTTLReference = optTime(newRef)
	if legacySnap.Valid {
		r.LegacySnapshotID = &legacySnap.Int64
	}
	if newSnap.Valid {
		r.NewSnapshotID = &newSnap.Int64
	}
	if sim.Valid {
		r.Similarity = &sim.Float64
	}
	r.DiffOptions = json.RawMessage(opts)
	if err := json.Unmarshal([]byte(stages), &r.Stages); err != nil {
		r.Stages = nil
	}
	if r.Stages == nil {
		r.Stages = []Stage{}
	}
	return r, nil
}

func optTime(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := parseTime(s.String)
	return &t
}

// RunFilter selects runs; zero fields select everything.
type RunFilter struct {
	Dataset string
	Since   time.Time // runs started at or after
	Limit   int       // 0: no limit
}

// Runs lists runs, newest first, and the total that match the filter.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Dataset != "" {
		where = append(where, "dataset = ?")
		args = append(args, f.Dataset)
	}
	if !f.Since.IsZero() {
		where = append(where, "started_at >= ?")
		args = append(args, formatTime(f.Since))
	}
	w := strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM runs WHERE "+w, args...).Scan(&total); err != nil {
		return nil, 0, s.wrap(err)
	}
	q := "SELECT " + runColumns + " FROM runs WHERE " + w + " ORDER BY started_at DESC, id DESC" + limitClause(f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, 0, s.wrap(err)
		}
		out = append(out, r)
	}
	return out, total, s.wrap(rows.Err())
}

func limitClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// Run returns one run by id (orders/2026-11-24, orders/2026-11-24#2).
func (s *Store) Run(ctx context.Context, runID string) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE run_id = ?", runID))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %q: %w (want an id like dataset/2026-11-24 or dataset/2026-11-24#2; see shadow log runs)", runID, ErrNotFound)
	}
	return r, s.wrap(err)
}

func (s *Store) runRow(ctx context.Context, q querier, runID string) (int64, string, error) {
	var row int64
	var dataset string
	err := q.QueryRowContext(ctx, "SELECT id, dataset FROM runs WHERE run_id = ?", runID).Scan(&row, &dataset)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("run %q: %w (want an id like dataset/2026-11-24 or dataset/2026-11-24#2; see shadow log runs)", runID, ErrNotFound)
	}
	return row, dataset, s.wrap(err)
}

// RunSignature is one signature of a run with its exact count.
type RunSignature struct {
	Signature
	Text          string `json:"signature"`
	Seen          int64  `json:"seen"`
	Stored        int64  `json:"stored"`
	Investigation *int64 `json:"investigation"` // set by auto-triage
}

// RunSignatures lists a run's signatures, most frequent first.
func (s *Store) RunSignatures(ctx context.Context, runID string) ([]RunSignature, error) {
	row, _, err := s.runRow(ctx, s.db, runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT sg.signature, sg.side, sg.columns, sg.tags, rs.seen, rs.stored, rs.investigation
		FROM run_signatures rs JOIN signatures sg ON sg.id = rs.signature
		WHERE rs.run = ? ORDER BY rs.seen DESC, sg.signature`, row)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []RunSignature
	for rows.Next() {
		var rs RunSignature
		var side, cols, tags string
		var inv sql.NullInt64
		if err := rows.Scan(&rs.Text, &side, &cols, &tags, &rs.Seen, &rs.Stored, &inv); err != nil {
			return nil, s.wrap(err)
		}
		rs.Signature = decodeSignature(side, cols, tags)
		if inv.Valid {
			rs.Investigation = &inv.Int64
		}
		out = append(out, rs)
	}
	return out, s.wrap(rows.Err())
}

func decodeSignature(side, cols, tags string) Signature {
	sig := Signature{Side: Side(side)}
	_ = json.Unmarshal([]byte(cols), &sig.Columns)
	_ = json.Unmarshal([]byte(tags), &sig.Tags)
	if sig.Columns == nil {
		sig.Columns = []string{}
	}
	if sig.Tags == nil {
		sig.Tags = []string{}
	}
	return sig
}

// StoredDiscrepancy is a discrepancy as stored.
type StoredDiscrepancy struct {
	ID             int64           `json:"id"`
	RunID          string          `json:"run_id"`
	Dataset        string          `json:"dataset"`
	Side           Side            `json:"side"`
	Key            json.RawMessage `json:"key"`
	Columns        []string        `json:"columns"`
	Tags           []string        `json:"tags"`
	Signature      string          `json:"signature"`
	Legacy         json.RawMessage `json:"legacy_row"`
	New            json.RawMessage `json:"new_row"`
	Diffs          json.RawMessage `json:"diffs"`
	Fingerprint    *string         `json:"fingerprint"`     // 16 hex digits; null when not given
	NewFingerprint *string         `json:"new_fingerprint"` // changed only
	Investigations []int64         `json:"investigations"`
}

// DiscrepancyFilter selects discrepancies; zero fields select everything.
type DiscrepancyFilter struct {
	Run           string
	Side          Side
	Investigation int64
	Limit         int // 0: no limit
}

const discrepancyColumns = `d.id, r.run_id, r.dataset, d.side, d.key, d.legacy_row, d.new_row, d.diffs,
	sg.signature, sg.columns, sg.tags, d.fingerprint, d.new_fingerprint,
	(SELECT group_concat(l.investigation) FROM investigation_discrepancies l WHERE l.discrepancy = d.id)`

// discQuery is a filtered discrepancy query in parts. With an
// investigation, the link table leads (it holds the run too); otherwise the
// discrepancies' (run, side, signature) index does.
type discQuery struct {
	from, where string
	args        []any
	count       string // the count query
	order       string
}

func (s *Store) discrepancyQuery(ctx context.Context, f DiscrepancyFilter) (discQuery, error) {
	var q discQuery
	var runRow int64
	if f.Run != "" {
		row, _, err := s.runRow(ctx, s.db, f.Run)
		if err != nil {
			return q, err
		}
		runRow = row
	}
	var side Side
	if f.Side != "" {
		var err error
		if side, err = ParseSide(string(f.Side)); err != nil {
			return q, err
		}
	}
	where := []string{}
	if f.Investigation != 0 {
		if err := s.investigationExists(ctx, s.db, f.Investigation); err != nil {
			return q, err
		}
		q.from = " FROM investigation_discrepancies li JOIN discrepancies d ON d.id = li.discrepancy"
		where = append(where, "li.investigation = ?")
		q.args = append(q.args, f.Investigation)
		if runRow != 0 {
			where = append(where, "li.run = ?")
			q.args = append(q.args, runRow)
		}
		q.order = " ORDER BY li.discrepancy"
	} else {
		q.from = " FROM discrepancies d"
		if runRow != 0 {
			where = append(where, "d.run = ?")
			q.args = append(q.args, runRow)
		}
		q.order = " ORDER BY d.id"
	}
	if side != "" {
		where = append(where, "d.side = ?")
		q.args = append(q.args, string(side))
	}
	if len(where) > 0 {
		q.where = " WHERE " + strings.Join(where, " AND ")
	}
	q.count = "SELECT count(*)" + q.from + q.where
	if f.Investigation != 0 && side == "" {
		// Every link has its discrepancy (foreign key): count the links alone.
		q.count = "SELECT count(*) FROM investigation_discrepancies li" + q.where
	}
	return q, nil
}

// Discrepancies lists stored discrepancies in the order they were written,
// and the total that match the filter.
func (s *Store) Discrepancies(ctx context.Context, f DiscrepancyFilter) ([]StoredDiscrepancy, int, error) {
	q, err := s.discrepancyQuery(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.db.QueryRowContext(ctx, q.count, q.args...).Scan(&total); err != nil {
		return nil, 0, s.wrap(err)
	}
	var out []StoredDiscrepancy
	err = s.eachDiscrepancy(ctx, q, f.Limit, func(d StoredDiscrepancy) error {
		out = append(out, d)
		return nil
	})
	return out, total, err
}

// EachDiscrepancy streams the matching discrepancies (for export).
func (s *Store) EachDiscrepancy(ctx context.Context, f DiscrepancyFilter, fn func(StoredDiscrepancy) error) error {
	q, err := s.discrepancyQuery(ctx, f)
	if err != nil {
		return err
	}
	return s.eachDiscrepancy(ctx, q, f.Limit, fn)
}

func (s *Store) eachDiscrepancy(ctx context.Context, q discQuery, limit int, fn func(StoredDiscrepancy) error) error {
	sqlText := "SELECT " + discrepancyColumns + q.from +
		" JOIN runs r ON r.id = d.run JOIN signatures sg ON sg.id = d.signature" +
		q.where + q.order + limitClause(limit)
	rows, err := s.db.QueryContext(ctx, sqlText, q.args...)
	if err != nil {
		return s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d StoredDiscrepancy
		var side, key, cols, tags string
		var legacy, newRow, diffs, invs sql.NullString
		var fp, nfp sql.NullInt64
		if err := rows.Scan(&d.ID, &d.RunID, &d.Dataset, &side, &key, &legacy, &newRow, &diffs,
			&d.Signature, &cols, &tags, &fp, &nfp, &invs); err != nil {
			return s.wrap(err)
		}
		d.Side, d.Key = Side(side), json.RawMessage(key)
		sig := decodeSignature(side, cols, tags)
		d.Columns, d.Tags = sig.Columns, sig.Tags
		d.Legacy = rawOrNull(legacy)
		d.New = rawOrNull(newRow)
		d.Diffs = rawOrNull(diffs)
		d.Fingerprint, d.NewFingerprint = hexFingerprint(fp), hexFingerprint(nfp)
		d.Investigations = []int64{}
		if invs.Valid {
			for _, p := range strings.Split(invs.String, ",") {
				if id, err := strconv.ParseInt(p, 10, 64); err == nil {
					d.Investigations = append(d.Investigations, id)
				}
			}
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return s.wrap(rows.Err())
}

func hexFingerprint(v sql.NullInt64) *string {
	if !v.Valid {
		return nil
	}
	s := fmt.Sprintf("%016x", uint64(v.Int64))
	return &s
}

func rawOrNull(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return json.RawMessage("null")
	}
	return json.RawMessage(s.String)
}
