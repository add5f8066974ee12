package investigations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// InvestigationStatus is an investigation's status (contracts §3).
type InvestigationStatus string

const (
	StatusOpen      InvestigationStatus = "open"
	StatusTriaged   InvestigationStatus = "triaged"   // categorized, by hand or by a rule
	StatusExplained InvestigationStatus = "explained" // understood and accepted; keeps collecting matches
	StatusFixed     InvestigationStatus = "fixed"
	StatusWontFix   InvestigationStatus = "wontfix"
)

// ParseInvestigationStatus checks a status token.
func ParseInvestigationStatus(s string) (InvestigationStatus, error) {
	switch st := InvestigationStatus(s); st {
	case StatusOpen, StatusTriaged, StatusExplained, StatusFixed, StatusWontFix:
		return st, nil
	}
	return "", fmt.Errorf("investigation status %q: %w: want open, triaged, explained, fixed or wontfix", s, ErrInvalid)
}

// EntryKind is the kind of a timeline entry.
type EntryKind string

const (
	Note  EntryKind = "note"
	Log   EntryKind = "log"   // a log excerpt
	Query EntryKind = "query" // a query, stored as text and never run
	Event EntryKind = "event" // written by shadow: opened, linked, categorized, status changes
)

// MaxEntryBytes bounds one timeline entry (a log excerpt, not a whole log).
const MaxEntryBytes = 1 << 20

// Investigation is one investigation.
type Investigation struct {
	ID            int64               `json:"id"`
	Title         string              `json:"title"`
	Status        InvestigationStatus `json:"status"`
	Category      string              `json:"category"`
	Owner         string              `json:"owner"`
	Auto          bool                `json:"auto"` // opened by a run's auto-triage
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
	Discrepancies int64               `json:"discrepancies"` // linked, stored discrepancies
}

// Entry is one timeline entry.
type Entry struct {
	ID        int64     `json:"id"`
	Kind      EntryKind `json:"kind"`
	Body      string    `json:"body"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// CoveredSignature is a (dataset, signature) pair an investigation covers.
type CoveredSignature struct {
	Dataset string `json:"dataset"`
	Signature
	Text string `json:"signature"`
}

// InvestigationDetail is an investigation with its signatures, runs and timeline.
type InvestigationDetail struct {
	Investigation
	Signatures []CoveredSignature `json:"signatures"`
	Runs       []string           `json:"runs"` // runs whose signatures were linked to it
	Timeline   []Entry            `json:"timeline"`
}

const investigationColumns = `i.id, i.title, i.status, coalesce(i.category, ''), i.owner, i.auto, i.created_at, i.updated_at,
	(SELECT count(*) FROM investigation_discrepancies l WHERE l.investigation = i.id)`

func scanInvestigation(sc scanner) (Investigation, error) {
	var inv Investigation
	var status, created, updated string
	if err := sc.Scan(&inv.ID, &inv.Title, &status, &inv.Category, &inv.Owner, &inv.Auto, &created, &updated, &inv.Discrepancies); err != nil {
		return inv, err
	}
	inv.Status = InvestigationStatus(status)
	inv.CreatedAt, inv.UpdatedAt = parseTime(created), parseTime(updated)
	return inv, nil
}

func (s *Store) investigationExists(ctx context.Context, q querier, id int64) error {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM investigations WHERE id = ?", id).Scan(&n); err != nil {
		return s.wrap(err)
	}
	if n == 0 {
		return fmt.Errorf("investigation %d: %w (see shadow log investigations)", id, ErrNotFound)
	}
	return nil
}

// InvestigationFilter selects investigations; zero fields select everything.
type InvestigationFilter struct {
	Status   InvestigationStatus
	Category string
	Dataset  string // covering a signature of this dataset
	Limit    int
}

// Investigations lists investigations, most recently updated first.
func (s *Store) Investigations(ctx context.Context, f InvestigationFilter) ([]Investigation, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if f.Status != "" {
		if _, err := ParseInvestigationStatus(string(f.Status)); err != nil {
			return nil, 0, err
		}
		where = append(where, "i.status = ?")
		args = append(args, string(f.Status))
	}
	if f.Category != "" {
		where = append(where, "i.category = ?")
		args = append(args, f.Category)
	}
	if f.Dataset != "" {
		where = append(where, "EXISTS (SELECT 1 FROM investigation_signatures s WHERE s.investigation = i.id AND s.dataset = ?)")
		args = append(args, f.Dataset)
	}
	w := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM investigations i"+w, args...).Scan(&total); err != nil {
		return nil, 0, s.wrap(err)
	}
	// Count links only for the page, not for every investigation.
	rows, err := s.db.QueryContext(ctx, "SELECT "+investigationColumns+" FROM (SELECT * FROM investigations i"+w+
		" ORDER BY i.updated_at DESC, i.id DESC"+limitClause(f.Limit)+") i ORDER BY i.updated_at DESC, i.id DESC", args...)
	if err != nil {
		return nil, 0, s.wrap(err)
	}
	defer rows.Close()
	var out []Investigation
	for rows.Next() {
		inv, err := scanInvestigation(rows)
		if err != nil {
			return nil, 0, s.wrap(err)
		}
		out = append(out, inv)
	}
	return out, total, s.wrap(rows.Err())
}

// Investigation returns one investigation in full.
func (s *Store) Investigation(ctx context.Context, id int64) (InvestigationDetail, error) {
	var d InvestigationDetail
	inv, err := scanInvestigation(s.db.QueryRowContext(ctx, "SELECT "+investigationColumns+" FROM investigations i WHERE i.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("investigation %d: %w (see shadow log investigations)", id, ErrNotFound)
	}
	if err != nil {
		return d, s.wrap(err)
	}
	d.Investigation = inv
	d.Signatures, d.Runs, d.Timeline = []CoveredSignature{}, []string{}, []Entry{}
	rows, err := s.db.QueryContext(ctx, `SELECT s.dataset, sg.signature, sg.side, sg.columns, sg.tags
		FROM investigation_signatures s JOIN signatures sg ON sg.id = s.signature
		WHERE s.investigation = ? ORDER BY s.dataset, sg.signature`, id)
	if err != nil {
		return d, s.wrap(err)
	}
	for rows.Next() {
		var c CoveredSignature
		var side, cols, tags string
		if err := rows.Scan(&c.Dataset, &c.Text, &side, &cols, &tags); err != nil {
			rows.Close()
			return d, s.wrap(err)
		}
		c.Signature = decodeSignature(side, cols, tags)
		d.Signatures = append(d.Signatures, c)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT r.run_id FROM runs r WHERE r.id IN (
			SELECT rs.run FROM run_signatures rs WHERE rs.investigation = ?
			UNION SELECT l.run FROM investigation_discrepancies l WHERE l.investigation = ?)
		ORDER BY r.started_at, r.id`, id, id)
	if err != nil {
		return d, s.wrap(err)
	}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			rows.Close()
			return d, s.wrap(err)
		}
		d.Runs = append(d.Runs, r)
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, "SELECT id, kind, body, author, created_at FROM timeline WHERE investigation = ? ORDER BY id", id)
	if err != nil {
		return d, s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Entry
		var kind, created string
		if err := rows.Scan(&e.ID, &kind, &e.Body, &e.Author, &created); err != nil {
			return d, s.wrap(err)
		}
		e.Kind, e.CreatedAt = EntryKind(kind), parseTime(created)
		d.Timeline = append(d.Timeline, e)
	}
	return d, s.wrap(rows.Err())
}

func createInvestigation(ctx context.Context, tx *sql.Tx, title, owner string, auto bool, author string, now time.Time, event string) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO investigations (title, owner, auto, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
		title, owner, auto, formatTime(now), formatTime(now))
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return id, addEvent(ctx, tx, id, event, author, now)
}

func addEntry(ctx context.Context, tx *sql.Tx, inv int64, kind EntryKind, body, author string, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO timeline (investigation, kind, body, author, created_at) VALUES (?, ?, ?, ?, ?)",
		inv, string(kind), body, author, formatTime(now))
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE investigations SET updated_at = ? WHERE id = ?", formatTime(now), inv); err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func addEvent(ctx context.Context, tx *sql.Tx, inv int64, body, author string, now time.Time) error {
	_, err := addEntry(ctx, tx, inv, Event, body, author, now)
	return err
}

// setCategory sets the category; an open investigation becomes triaged.
func setCategory(ctx context.Context, tx *sql.Tx, inv int64, category, by, author string, now time.Time) error {
	var status string
	var old sql.NullString
	if err := tx.QueryRowContext(ctx, "SELECT status, category FROM investigations WHERE id = ?", inv).Scan(&status, &old); err != nil {
		return err
	}
	newStatus := status
	if status == string(StatusOpen) {
		newStatus = string(StatusTriaged)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE investigations SET category = ?, status = ? WHERE id = ?", category, newStatus, inv); err != nil {
		return err
	}
	msg := "category " + category
	if old.Valid && old.String != category {
		msg = "category " + old.String + " → " + category
	}
	if by != "" {
		msg += " (" + by + ")"
	}
	if newStatus != status {
		msg += "; status " + status + " → " + newStatus
	}
	return addEvent(ctx, tx, inv, msg, author, now)
}

// OpenRequest opens an investigation by hand.
type OpenRequest struct {
	Title   string
	Owner   string
	FromRun string // optional: link this run's stored discrepancies…
	Side    Side   // …of this side only (optional)
	Author  string
}

// OpenInvestigation opens an investigation. With FromRun, the run's stored
// discrepancies (of Side, if given) are linked and their signatures become
// the investigation's, so that later runs' matching discrepancies join it.
func (s *Store) OpenInvestigation(ctx context.Context, req OpenRequest) (InvestigationDetail, error) {
	title := strings.TrimSpace(req.Title)
	if title == "" {
		return InvestigationDetail{}, fmt.Errorf("investigation: %w: empty title", ErrInvalid)
	}
	if req.Side != "" {
		side, err := ParseSide(string(req.Side))
		if err != nil {
			return InvestigationDetail{}, err
		}
		req.Side = side
	}
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return InvestigationDetail{}, s.wrap(err)
	}
	defer tx.Rollback()
	event := "opened"
	var runRow int64
	var dataset string
	if req.FromRun != "" {
		runRow, dataset, err = s.runRow(ctx, tx, req.FromRun)
		if err != nil {
			return InvestigationDetail{}, err
		}
		event = "opened from run " + req.FromRun
		if req.Side != "" {
			event += " (" + string(req.Side) + ")"
		}
	}
	id, err := createInvestigation(ctx, tx, title, req.Owner, false, req.Author, now, event)
	if err != nil {
		return InvestigationDetail{}, s.wrap(err)
	}
	if req.FromRun != "" {
		sideCond, args := "", []any{id, dataset, runRow}
		if req.Side != "" {
			sideCond = " AND sg.side = ?"
			args = append(args, string(req.Side))
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO investigation_signatures (investigation, dataset, signature)
			SELECT ?, ?, rs.signature FROM run_signatures rs JOIN signatures sg ON sg.id = rs.signature WHERE rs.run = ?`+sideCond, args...); err != nil {
			return InvestigationDetail{}, s.wrap(err)
		}
		upd := "UPDATE run_signatures SET investigation = ? WHERE run = ?"
		uargs := []any{id, runRow}
		if req.Side != "" {
			upd += " AND signature IN (SELECT id FROM signatures WHERE side = ?)"
			uargs = append(uargs, string(req.Side))
		}
		if _, err := tx.ExecContext(ctx, upd, uargs...); err != nil {
			return InvestigationDetail{}, s.wrap(err)
		}
		linkSide, largs := "", []any{id, runRow}
		if req.Side != "" {
			linkSide = " AND side = ?"
			largs = append(largs, string(req.Side))
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO investigation_discrepancies (investigation, discrepancy, run)
			SELECT ?, id, run FROM discrepancies WHERE run = ?`+linkSide, largs...)
		if err != nil {
			return InvestigationDetail{}, s.wrap(err)
		}
		n, _ := res.RowsAffected()
		if err := addEvent(ctx, tx, id, fmt.Sprintf("linked %d discrepancies of run %s", n, req.FromRun), req.Author, now); err != nil {
			return InvestigationDetail{}, s.wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return InvestigationDetail{}, s.wrap(err)
	}
	return s.Investigation(ctx, id)
}

// Link links discrepancies to an investigation and makes their signatures
// its own. It returns how many links are new.
func (s *Store) Link(ctx context.Context, inv int64, discrepancies []int64, author string) (int, error) {
	if len(discrepancies) == 0 {
		return 0, fmt.Errorf("link: %w: no discrepancy ids", ErrInvalid)
	}
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.wrap(err)
	}
	defer tx.Rollback()
	if err := s.investigationExists(ctx, tx, inv); err != nil {
		return 0, err
	}
	added := 0
	var ids []string
	for _, d := range discrepancies {
		var sig, run int64
		var dataset string
		err := tx.QueryRowContext(ctx, "SELECT d.signature, d.run, r.dataset FROM discrepancies d JOIN runs r ON r.id = d.run WHERE d.id = ?", d).Scan(&sig, &run, &dataset)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("discrepancy %d: %w (see shadow log discrepancies)", d, ErrNotFound)
		}
		if err != nil {
			return 0, s.wrap(err)
		}
		res, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO investigation_discrepancies (investigation, discrepancy, run) VALUES (?, ?, ?)", inv, d, run)
		if err != nil {
			return 0, s.wrap(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			added++
			ids = append(ids, fmt.Sprint(d))
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO investigation_signatures (investigation, dataset, signature) VALUES (?, ?, ?)", inv, dataset, sig); err != nil {
			return 0, s.wrap(err)
		}
	}
	if added > 0 {
		if err := addEvent(ctx, tx, inv, "linked discrepancies "+strings.Join(ids, ", "), author, now); err != nil {
			return 0, s.wrap(err)
		}
	}
	return added, s.wrap(tx.Commit())
}

// Categorize sets an investigation's category; an open one becomes triaged.
func (s *Store) Categorize(ctx context.Context, inv int64, category, author string) error {
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback()
	if err := s.investigationExists(ctx, tx, inv); err != nil {
		return err
	}
	if err := categoryExists(ctx, tx, category); err != nil {
		return err
	}
	if err := setCategory(ctx, tx, inv, category, "", author, now); err != nil {
		return s.wrap(err)
	}
	return s.wrap(tx.Commit())
}

// AddEntry appends a note, log excerpt or query to the timeline.
func (s *Store) AddEntry(ctx context.Context, inv int64, kind EntryKind, body, author string) (Entry, error) {
	switch kind {
	case Note, Log, Query:
	default:
		return Entry{}, fmt.Errorf("timeline entry kind %q: %w: want note, log or query", kind, ErrInvalid)
	}
	if strings.TrimSpace(body) == "" {
		return Entry{}, fmt.Errorf("%s for investigation %d: %w: empty", kind, inv, ErrInvalid)
	}
	if len(body) > MaxEntryBytes {
		return Entry{}, fmt.Errorf("%s for investigation %d: %w: %d bytes, at most %d (keep the relevant excerpt)", kind, inv, ErrInvalid, len(body), MaxEntryBytes)
	}
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Entry{}, s.wrap(err)
	}
	defer tx.Rollback()
	if err := s.investigationExists(ctx, tx, inv); err != nil {
		return Entry{}, err
	}
	id, err := addEntry(ctx, tx, inv, kind, body, author, now)
	if err != nil {
		return Entry{}, s.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return Entry{}, s.wrap(err)
	}
	return Entry{ID: id, Kind: kind, Body: body, Author: author, CreatedAt: parseTime(formatTime(now))}, nil
}

// Resolve closes an investigation as explained, fixed or wontfix. An
// explained one keeps collecting matching discrepancies of later runs; a
// fixed or wontfix one does not, so a recurrence opens a new investigation.
func (s *Store) Resolve(ctx context.Context, inv int64, status InvestigationStatus, author string) error {
	switch status {
	case StatusExplained, StatusFixed, StatusWontFix:
	default:
		return fmt.Errorf("resolve investigation %d: status %q: %w: want explained, fixed or wontfix", inv, status, ErrInvalid)
	}
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(err)
	}
	defer tx.Rollback()
	var old string
	err = tx.QueryRowContext(ctx, "SELECT status FROM investigations WHERE id = ?", inv).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("investigation %d: %w (see shadow log investigations)", inv, ErrNotFound)
	}
	if err != nil {
		return s.wrap(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE investigations SET status = ? WHERE id = ?", string(status), inv); err != nil {
		return s.wrap(err)
	}
	if err := addEvent(ctx, tx, inv, "status "+old+" → "+string(status), author, now); err != nil {
		return s.wrap(err)
	}
	return s.wrap(tx.Commit())
}

// Category is a named group of investigations.
type Category struct {
	Name           string `json:"name"`
	Description    string `json:"description"`
	Investigations int64  `json:"investigations"`
}

// Categories lists the categories by name.
func (s *Store) Categories(ctx context.Context) ([]Category, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.name, c.description, (SELECT count(*) FROM investigations i WHERE i.category = c.name)
		FROM categories c ORDER BY c.name`)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Category
	for rows.Next() {
		var c Category
		if err := rows.Scan(&c.Name, &c.Description, &c.Investigations); err != nil {
			return nil, s.wrap(err)
		}
		out = append(out, c)
	}
	return out, s.wrap(rows.Err())
}

// AddCategory adds a category, or changes the description of one.
func (s *Store) AddCategory(ctx context.Context, name, description string) error {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("category %q: %w: want a name without spaces", name, ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO categories (name, description, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET description = excluded.description`, name, description, formatTime(time.Now()))
	return s.wrap(err)
}

func categoryExists(ctx context.Context, q querier, name string) error {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM categories WHERE name = ?", name).Scan(&n); err != nil {
		return wrapSQLite(err)
	}
	if n > 0 {
		return nil
	}
	var names []string
	rows, err := q.QueryContext(ctx, "SELECT name FROM categories ORDER BY name")
	if err == nil {
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				names = append(names, s)
			}
		}
		rows.Close()
	}
	return fmt.Errorf("category %q: %w (known: %s; add one with shadow log categories add)", name, ErrNotFound, strings.Join(names, ", "))
}
