package investigations

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Status is a run's status (contracts §3).
type Status string

const (
	Running Status = "running"
	Clean   Status = "clean"
	Differs Status = "differs"
	Failed  Status = "failed"
	Aborted Status = "aborted" // found running after its process died
)

// DefaultMaxStoredPerSide caps the discrepancies stored per run and side
// (changed is a side of its own). Counts stay exact beyond it.
const DefaultMaxStoredPerSide = 10000

// Counts are the count fields of contracts §1.
type Counts struct {
	LegacyRows    int64 `json:"legacy_rows"`
	NewRows       int64 `json:"new_rows"`
	OnlyInLegacy  int64 `json:"only_in_legacy"`
	OnlyInNew     int64 `json:"only_in_new"`
	Matched       int64 `json:"matched"`
	Changed       int64 `json:"changed"`
	Missing       int64 `json:"missing"`
	Extra         int64 `json:"extra"`
	DuplicateKeys int64 `json:"duplicate_keys"`
}

// Clean reports whether the counts describe a clean run (contracts §1).
func (c Counts) Clean() bool { return c.OnlyInLegacy == 0 && c.OnlyInNew == 0 }

// Similarity is matched / max(legacy_rows, new_rows), 1 when both are empty.
func (c Counts) Similarity() float64 {
	m := max(c.LegacyRows, c.NewRows)
	if m == 0 {
		return 1
	}
	return float64(c.Matched) / float64(m)
}

// Stage is how long one stage of a run took.
type Stage struct {
	Name     string
	Duration time.Duration
}

type stageJSON struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
}

func (s Stage) MarshalJSON() ([]byte, error) {
	return json.Marshal(stageJSON{s.Name, s.Duration.Seconds()})
}

func (s *Stage) UnmarshalJSON(b []byte) error {
	var j stageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	s.Name, s.Duration = j.Stage, time.Duration(math.Round(j.Seconds*1e9))
	return nil
}

// NewRun describes a run as it starts.
type NewRun struct {
	Dataset string
	// Night is the scheduled night, a UTC date (2026-11-24). Empty for an
	// ad-hoc run, whose id then uses its start instant.
	Night   string
	Started time.Time // zero: now

	LegacySnapshotID int64 // 0 when not known yet (Finish may set it)
	NewSnapshotID    int64
	Backup           string     // the backup the engine read
	TTLReferences    References // per side, when known; feed the pattern tags
	DiffOptions      any        // JSON-encodable; stored as given
	// MaxStoredPerSide caps stored discrepancies per side: 0 means
	// DefaultMaxStoredPerSide, a negative value means no cap.
	MaxStoredPerSide int
}

// Result is how a run ended.
type Result struct {
	// Status is clean, differs, failed or aborted (a shutdown; Error says why). Empty: failed when Error is set,
	// otherwise clean or differs from the counts.
	Status   Status
	Counts   Counts
	Stages   []Stage
	Error    string
	Finished time.Time // zero: now
	// Set these when known only at the end; zero values keep what
	// StartRun recorded.
	LegacySnapshotID int64
	NewSnapshotID    int64
	Backup           string
}

// FinishSummary says what the finish did.
type FinishSummary struct {
	RunID      string   `json:"run_id"`
	Status     Status   `json:"status"`
	Similarity *float64 `json:"similarity"`
	Opened     []int64  `json:"opened"` // investigations opened automatically
	Linked     []int64  `json:"linked"` // existing investigations the run's signatures were linked to
}

// RunWriter streams one run's discrepancies. It is safe for use by several
// goroutines; each Write is one transaction.
type RunWriter struct {
	s       *Store
	row     int64
	runID   string
	dataset string
	refs    References

	mu       sync.Mutex
	sigCache map[string]int64
	finished bool
}

// RunID is the run's id (contracts §6): dataset/night or dataset/night#N.
func (w *RunWriter) RunID() string { return w.runID }

// Dataset is the run's dataset.
func (w *RunWriter) Dataset() string { return w.dataset }

// ValidateDataset checks that a dataset name can be part of a run id.
func ValidateDataset(d string) error {
	if d == "" || strings.ContainsAny(d, "/# \t\n") {
		return fmt.Errorf("dataset %q: %w: want a non-empty name without '/', '#' or spaces", d, ErrInvalid)
	}
	return nil
}

// StartRun records a run as running and returns its writer. Re-running a
// night makes the next attempt (orders/2026-11-24#2) and marks the older
// attempts superseded. Runs of dead processes are marked aborted first.
func (s *Store) StartRun(ctx context.Context, nr NewRun) (*RunWriter, error) {
	if err := ValidateDataset(nr.Dataset); err != nil {
		return nil, err
	}
	started := nr.Started
	if started.IsZero() {
		started = time.Now()
	}
	started = started.UTC()
	night, scheduled := nr.Night, true
	if night == "" {
		night, scheduled = started.Truncate(time.Second).Format(time.RFC3339), false
	} else if _, err := time.Parse("2006-01-02", night); err != nil {
		return nil, fmt.Errorf("run of %s: night %q: %w: want a date like 2026-11-24", nr.Dataset, night, ErrInvalid)
	}
	opts := []byte("{}")
	if nr.DiffOptions != nil {
		b, err := json.Marshal(nr.DiffOptions)
		if err != nil {
			return nil, fmt.Errorf("run of %s: diff options: %w: %v", nr.Dataset, ErrInvalid, err)
		}
		opts = b
	}
	maxStored := nr.MaxStoredPerSide
	if maxStored == 0 {
		maxStored = DefaultMaxStoredPerSide
	}
	if maxStored < 0 {
		maxStored = -1
	}
	if _, err := s.AbortDead(ctx); err != nil {
		return nil, err
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer tx.Rollback()
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(attempt) FROM runs WHERE dataset = ? AND night = ?", nr.Dataset, night).Scan(&last); err != nil {
		return nil, s.wrap(err)
	}
	attempt := int(last.Int64) + 1
	runID := nr.Dataset + "/" + night
	if attempt > 1 {
		runID += "#" + strconv.Itoa(attempt)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE runs SET superseded = 1 WHERE dataset = ? AND night = ? AND attempt < ?", nr.Dataset, night, attempt); err != nil {
		return nil, s.wrap(err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (run_id, dataset, night, scheduled, attempt, status, started_at,
		legacy_snapshot_id, new_snapshot_id, backup, legacy_ttl_reference, new_ttl_reference, diff_options,
		host, pid, process_start, max_stored_per_side)
		VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runID, nr.Dataset, night, scheduled, attempt, formatTime(started),
		nullInt(nr.LegacySnapshotID), nullInt(nr.NewSnapshotID), nr.Backup,
		nullTime(nr.TTLReferences.Legacy), nullTime(nr.TTLReferences.New), string(opts),
		s.host, s.proc.pid, s.proc.token, maxStored)
	if err != nil {
		return nil, s.wrap(err)
	}
	row, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, s.wrap(err)
	}
	return &RunWriter{s: s, row: row, runID: runID, dataset: nr.Dataset, refs: nr.TTLReferences, sigCache: map[string]int64{}}, nil
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// prepared is a discrepancy encoded outside the transaction.
type prepared struct {
	side                    Side
	sig                     Signature
	sigText                 string
	key, legacy, newRow     string
	diffs                   sql.NullString
	hasLegacy, hasNew       bool
	fingerprint, newFingerp any
}

// Write stores a batch of discrepancies in one transaction: either all of
// the batch is stored (up to the cap) and counted, or none of it. Rows are
// encoded while earlier ones are being inserted.
// SetTTLReferences records the run's TTL reference times once they are
// known, which is often after the run started (the legacy snapshot's commit
// time, the backup's snapshot time). A zero side keeps what the run had.
// Discrepancies written from then on are signed with them.
func (w *RunWriter) SetTTLReferences(ctx context.Context, refs References) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return fmt.Errorf("run %s: %w: already finished", w.runID, ErrInvalid)
	}
	next := w.refs
	if !refs.Legacy.IsZero() {
		next.Legacy = refs.Legacy
	}
	if !refs.New.IsZero() {
		next.New = refs.New
	}
	if _, err := w.s.db.ExecContext(ctx, "UPDATE runs SET legacy_ttl_reference = ?, new_ttl_reference = ? WHERE id = ?",
		nullTime(next.Legacy), nullTime(next.New), w.row); err != nil {
		return w.s.wrap(err)
	}
	w.refs = next
	return nil
}

func (w *RunWriter) Write(ctx context.Context, batch []Discrepancy) error {
	if len(batch) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return fmt.Errorf("run %s: %w: already finished", w.runID, ErrInvalid)
	}
	s := w.s
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback()
	b := &batchState{tx: tx, perSig: map[int64]*sigCount{}, newSigs: map[string]int64{}}
	var status string
	if err := tx.QueryRowContext(ctx, "SELECT status, max_stored_per_side, stored_only_in_legacy, stored_only_in_new, stored_changed FROM runs WHERE id = ?", w.row).
		Scan(&status, &b.maxStored, &b.stored[0], &b.stored[1], &b.stored[2]); err != nil {
		return s.wrap(err)
	}
	if Status(status) != Running {
		return fmt.Errorf("run %s: %w: it is %s, not running", w.runID, ErrInvalid, status)
	}
	if b.ins, err = tx.PrepareContext(ctx, `INSERT INTO discrepancies (run, side, key, legacy_row, new_row, diffs, signature, fingerprint, new_fingerprint)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return s.wrap(err)
	}
	defer b.ins.Close()

	// Encoding runs ahead of SQLite on another core; rows travel in chunks
	// so that the goroutines do not hand over every row. Statements run
	// without the caller's cancellation (the driver would start a goroutine
	// per statement to watch it); the context is checked per row instead.
	const chunk = 32
	g, gctx := errgroup.WithContext(ctx)
	chunks := make(chan []prepared, 4)
	g.Go(func() error {
		defer close(chunks)
		var scratch []byte
		for start := 0; start < len(batch); start += chunk {
			part := batch[start:min(start+chunk, len(batch))]
			ps := make([]prepared, len(part))
			for i, d := range part {
				p, err := w.prepare(d, &scratch)
				if err != nil {
					return fmt.Errorf("run %s: discrepancy %d of the batch: %w", w.runID, start+i, err)
				}
				ps[i] = p
			}
			select {
			case chunks <- ps:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		bg := context.WithoutCancel(gctx)
		for ps := range chunks {
			for _, p := range ps {
				if err := gctx.Err(); err != nil {
					return err
				}
				if err := w.insert(bg, b, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.commitBatch(ctx, b)
}

// batchState is what one Write accumulates inside its transaction.
type batchState struct {
	tx        *sql.Tx
	ins       *sql.Stmt
	maxStored int64
	stored    [3]int64 // per side, for the whole run
	seen      [3]int64 // per side, this batch
	perSig    map[int64]*sigCount
	newSigs   map[string]int64 // signatures created in this transaction
}

// sigCount is how many rows of one signature a batch saw and stored.
type sigCount struct{ seen, stored int64 }

// insert counts one row and stores it unless its side is at the cap.
func (w *RunWriter) insert(ctx context.Context, b *batchState, p prepared) error {
	si := sideIndex(p.side)
	b.seen[si]++
	id, err := w.signatureID(ctx, b.tx, p, b.newSigs)
	if err != nil {
		return w.s.wrap(err)
	}
	c := b.perSig[id]
	if c == nil {
		c = &sigCount{}
		b.perSig[id] = c
	}
	c.seen++
	if b.maxStored >= 0 && b.stored[si] >= b.maxStored {
		return nil
	}
	if insertHook != nil {
		insertHook()
	}
	var legacy, newRow any
	if p.hasLegacy {
		legacy = p.legacy
	}
	if p.hasNew {
		newRow = p.newRow
	}
	if _, err := b.ins.ExecContext(ctx, w.row, string(p.side), p.key, legacy, newRow, p.diffs, id, p.fingerprint, p.newFingerp); err != nil {
		return w.s.wrap(err)
	}
	b.stored[si]++
	c.stored++
	return nil
}

// commitBatch adds a batch's counts to the run and commits it.
func (w *RunWriter) commitBatch(ctx context.Context, b *batchState) error {
	s, tx := w.s, b.tx
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET
		seen_only_in_legacy = seen_only_in_legacy + ?, seen_only_in_new = seen_only_in_new + ?, seen_changed = seen_changed + ?,
		stored_only_in_legacy = ?, stored_only_in_new = ?, stored_changed = ? WHERE id = ?`,
		b.seen[0], b.seen[1], b.seen[2], b.stored[0], b.stored[1], b.stored[2], w.row); err != nil {
		return s.wrap(err)
	}
	for id, c := range b.perSig {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_signatures (run, signature, seen, stored) VALUES (?, ?, ?, ?)
			ON CONFLICT (run, signature) DO UPDATE SET seen = seen + excluded.seen, stored = stored + excluded.stored`,
			w.row, id, c.seen, c.stored); err != nil {
			return s.wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(err)
	}
	for k, v := range b.newSigs {
		w.sigCache[k] = v
	}
	return nil
}

// insertHook lets the crash test stop a process in the middle of a batch.
var insertHook func()

func sideIndex(s Side) int {
	switch s {
	case OnlyInLegacy:
		return 0
	case OnlyInNew:
		return 1
	}
	return 2
}

func (w *RunWriter) prepare(d Discrepancy, scratch *[]byte) (prepared, error) {
	switch d.Side {
	case OnlyInLegacy:
		if d.Legacy == nil {
			return prepared{}, fmt.Errorf("%w: only_in_legacy needs the legacy row", ErrInvalid)
		}
	case OnlyInNew:
		if d.New == nil {
			return prepared{}, fmt.Errorf("%w: only_in_new needs the new row", ErrInvalid)
		}
	case Changed:
		if d.Legacy == nil || d.New == nil {
			return prepared{}, fmt.Errorf("%w: changed needs both rows", ErrInvalid)
		}
	default:
		return prepared{}, fmt.Errorf("side %q: %w: want only_in_legacy, only_in_new or changed", d.Side, ErrInvalid)
	}
	sig, diffs := Sign(d, w.refs)
	p := prepared{side: d.Side, sig: sig, sigText: sig.String()}
	var err error
	key := d.Key
	if key == nil {
		key = map[string]any{}
	}
	if p.key, err = encodeJSON(scratch, key); err != nil {
		return p, fmt.Errorf("key: %w", err)
	}
	if d.Legacy != nil {
		p.hasLegacy = true
		if p.legacy, err = encodeJSON(scratch, d.Legacy); err != nil {
			return p, fmt.Errorf("legacy row: %w", err)
		}
	}
	if d.New != nil {
		p.hasNew = true
		if p.newRow, err = encodeJSON(scratch, d.New); err != nil {
			return p, fmt.Errorf("new row: %w", err)
		}
	}
	if d.Side == Changed {
		if diffs == nil {
			diffs = []ColumnDiff{}
		}
		s, err := encodeJSON(scratch, diffs)
		if err != nil {
			return p, fmt.Errorf("diffs: %w", err)
		}
		p.diffs = sql.NullString{String: s, Valid: true}
	}
	p.fingerprint = nullFingerprint(d.Fingerprint)
	p.newFingerp = nullFingerprint(d.NewFingerprint)
	return p, nil
}

func nullFingerprint(f uint64) any {
	if f == 0 {
		return nil
	}
	return int64(f)
}

func (w *RunWriter) signatureID(ctx context.Context, tx *sql.Tx, p prepared, pending map[string]int64) (int64, error) {
	if id, ok := w.sigCache[p.sigText]; ok {
		return id, nil
	}
	if id, ok := pending[p.sigText]; ok {
		return id, nil
	}
	id, err := upsertSignature(ctx, tx, p.sig)
	if err != nil {
		return 0, err
	}
	pending[p.sigText] = id
	return id, nil
}

func upsertSignature(ctx context.Context, tx *sql.Tx, sig Signature) (int64, error) {
	cols, _ := json.Marshal(sig.Columns)
	tags, _ := json.Marshal(sig.Tags)
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO signatures (signature, side, columns, tags) VALUES (?, ?, ?, ?)
		ON CONFLICT (signature) DO UPDATE SET side = excluded.side RETURNING id`,
		sig.String(), string(sig.Side), string(cols), string(tags)).Scan(&id)
	return id, err
}

// encodeJSON encodes v; NaN and infinities, which JSON lacks, become the
// strings "NaN", "+Inf" and "-Inf".
// scratch is reused between calls.
func encodeJSON(scratch *[]byte, v any) (string, error) {
	b, err := appendJSON((*scratch)[:0], v)
	*scratch = b
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return string(b), nil
}

func sanitize(v any) any {
	switch x := v.(type) {
	case float64:
		return floatJSON(x)
	case float32:
		return floatJSON(float64(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = sanitize(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = sanitize(e)
		}
		return s
	case []ColumnDiff:
		s := make([]ColumnDiff, len(x))
		for i, e := range x {
			s[i] = ColumnDiff{Column: e.Column, Legacy: sanitize(e.Legacy), New: sanitize(e.New)}
		}
		return s
	case []float64:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = floatJSON(e)
		}
		return s
	}
	return v
}

func floatJSON(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// Finish ends the run in one transaction: its status, counts, similarity,
// stage durations and error, and for a run that differs, the auto-triage of
// its signatures (see AutoTriage).
func (w *RunWriter) Finish(ctx context.Context, r Result) (FinishSummary, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := FinishSummary{RunID: w.runID, Opened: []int64{}, Linked: []int64{}}
	if w.finished {
		return sum, fmt.Errorf("run %s: %w: already finished", w.runID, ErrInvalid)
	}
	status, err := resultStatus(w.runID, &r)
	if err != nil {
		return sum, err
	}
	sum.Status = status
	var sim any
	if status == Clean || status == Differs {
		v := r.Counts.Similarity()
		sum.Similarity = &v
		sim = v
	}
	stages := r.Stages
	if stages == nil {
		stages = []Stage{}
	}
	stagesJSON, _ := json.Marshal(stages)
	finished := r.Finished
	if finished.IsZero() {
		finished = time.Now()
	}
	s := w.s
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return sum, s.wrap(err)
	}
	defer tx.Rollback()
	c := r.Counts
	res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?,
		legacy_rows = ?, new_rows = ?, only_in_legacy = ?, only_in_new = ?, matched = ?, changed = ?, missing = ?, extra = ?, duplicate_keys = ?,
		similarity = ?, stages = ?, error = ?,
		legacy_snapshot_id = coalesce(?, legacy_snapshot_id), new_snapshot_id = coalesce(?, new_snapshot_id),
		backup = CASE WHEN ? = '' THEN backup ELSE ? END
		WHERE id = ? AND status = 'running'`,
		string(status), formatTime(finished),
		c.LegacyRows, c.NewRows, c.OnlyInLegacy, c.OnlyInNew, c.Matched, c.Changed, c.Missing, c.Extra, c.DuplicateKeys,
		sim, string(stagesJSON), r.Error,
		nullInt(r.LegacySnapshotID), nullInt(r.NewSnapshotID), r.Backup, r.Backup, w.row)
	if err != nil {
		return sum, s.wrap(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		var st string
		_ = tx.QueryRowContext(ctx, "SELECT status FROM runs WHERE id = ?", w.row).Scan(&st)
		return sum, fmt.Errorf("run %s: %w: it is %s, not running", w.runID, ErrInvalid, st)
	}
	if status == Differs {
		if err := countUnstreamed(ctx, tx, w.row, r.Counts); err != nil {
			return sum, fmt.Errorf("run %s: %w", w.runID, s.wrap(err))
		}
		opened, linked, err := autoTriage(ctx, tx, w.row, w.runID, w.dataset, finished)
		if err != nil {
			return sum, fmt.Errorf("run %s: auto-triage: %w", w.runID, s.wrap(err))
		}
		sum.Opened, sum.Linked = opened, linked
	}
	if err := tx.Commit(); err != nil {
		return sum, s.wrap(err)
	}
	w.finished = true
	return sum, nil
}

// countUnstreamed makes sure every nonzero side of a differing run is
// triaged: a side whose counts are nonzero but of which the runner streamed
// no discrepancy gets the bare signature "side::" with its count, none stored.
func countUnstreamed(ctx context.Context, tx *sql.Tx, runRow int64, c Counts) error {
	var seen [3]int64
	if err := tx.QueryRowContext(ctx, "SELECT seen_only_in_legacy, seen_only_in_new, seen_changed FROM runs WHERE id = ?", runRow).
		Scan(&seen[0], &seen[1], &seen[2]); err != nil {
		return err
	}
	// With unique keys these are missing, extra and changed; without keys
	// nothing is changed and every row is one-sided.
	expected := [3]int64{c.OnlyInLegacy - c.Changed, c.OnlyInNew - c.Changed, c.Changed}
	for i, side := range Sides {
		if expected[i] <= 0 || seen[i] > 0 {
			continue
		}
		id, err := upsertSignature(ctx, tx, Signature{Side: side, Columns: []string{}, Tags: []string{}})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_signatures (run, signature, seen, stored) VALUES (?, ?, ?, 0)
			ON CONFLICT (run, signature) DO UPDATE SET seen = seen + excluded.seen`, runRow, id, expected[i]); err != nil {
			return err
		}
	}
	return nil
}

// resultStatus decides and checks the final status against the counts.
func resultStatus(runID string, r *Result) (Status, error) {
	c := &r.Counts
	for _, v := range []int64{c.LegacyRows, c.NewRows, c.OnlyInLegacy, c.OnlyInNew, c.Matched, c.Changed, c.Missing, c.Extra, c.DuplicateKeys} {
		if v < 0 {
			return "", fmt.Errorf("run %s: %w: negative count", runID, ErrInvalid)
		}
	}
	st := r.Status
	if st == "" {
		switch {
		case r.Error != "":
			st = Failed
		case c.Clean():
			st = Clean
		default:
			st = Differs
		}
	}
	switch st {
	case Failed:
		return st, nil
	case Aborted:
		// A run stopped on purpose (a shutdown) says why.
		if r.Error == "" {
			return "", fmt.Errorf("run %s: %w: an aborted run needs its error", runID, ErrInvalid)
		}
		return st, nil
	case Clean, Differs:
	default:
		return "", fmt.Errorf("run %s: status %q: %w: a run finishes clean, differs, failed or aborted", runID, st, ErrInvalid)
	}
	if (st == Clean) != c.Clean() {
		return "", fmt.Errorf("run %s: %w: status %s but only_in_legacy=%d only_in_new=%d", runID, ErrInvalid, st, c.OnlyInLegacy, c.OnlyInNew)
	}
	if c.Matched == 0 {
		c.Matched = c.LegacyRows - c.OnlyInLegacy
	}
	if c.Matched != c.LegacyRows-c.OnlyInLegacy || c.Matched != c.NewRows-c.OnlyInNew {
		return "", fmt.Errorf("run %s: %w: matched=%d must equal legacy_rows-only_in_legacy=%d and new_rows-only_in_new=%d (contracts §1)",
			runID, ErrInvalid, c.Matched, c.LegacyRows-c.OnlyInLegacy, c.NewRows-c.OnlyInNew)
	}
	return st, nil
}

// AbortDead marks `aborted` every run still `running` whose process, on this
// host, is gone. Runs of other hosts are left alone: their liveness cannot be
// told from here. It returns the ids it marked.
func (s *Store) AbortDead(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, run_id, pid, process_start FROM runs WHERE status = 'running' AND host = ?", s.host)
	if err != nil {
		return nil, s.wrap(err)
	}
	type cand struct {
		id    int64
		runID string
		pid   int
	}
	var dead []cand
	for rows.Next() {
		var c cand
		var token string
		if err := rows.Scan(&c.id, &c.runID, &c.pid, &token); err != nil {
			rows.Close()
			return nil, s.wrap(err)
		}
		if !alive(c.pid, token) {
			dead = append(dead, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	var marked []string
	for _, c := range dead {
		res, err := s.db.ExecContext(ctx, `UPDATE runs SET status = 'aborted', finished_at = ?,
			error = CASE WHEN error = '' THEN ? ELSE error END WHERE id = ? AND status = 'running'`,
			formatTime(time.Now()), fmt.Sprintf("process %d on %s ended while the run was running", c.pid, s.host), c.id)
		if err != nil {
			return marked, s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			marked = append(marked, c.runID)
		}
	}
	return marked, nil
}
