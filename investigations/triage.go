package investigations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Rule maps signatures to a category. Every field is a pattern where '*'
// matches any run of characters (and a lone '*' matches anything):
//
//	Dataset  the run's dataset
//	Side     '*' or a side token
//	Columns  the signature's sorted differing columns joined by ','
//	Tag      any one of the signature's pattern tags
//
// When several rules match, the most specific (most fields other than '*')
// wins; ties go to the older rule.
type Rule struct {
	ID        int64     `json:"id"`
	Dataset   string    `json:"dataset"`
	Side      string    `json:"side"`
	Columns   string    `json:"columns"`
	Tag       string    `json:"tag"`
	Category  string    `json:"category"`
	CreatedAt time.Time `json:"created_at"`
}

// normalize fills wildcards, checks the side and sorts a plain column list.
func (r Rule) normalize() (Rule, error) {
	trim := func(s string) string {
		s = strings.TrimSpace(s)
		if s == "" {
			return "*"
		}
		return s
	}
	r.Dataset, r.Side, r.Columns, r.Tag = trim(r.Dataset), trim(r.Side), trim(r.Columns), trim(r.Tag)
	r.Category = strings.TrimSpace(r.Category)
	if r.Category == "" {
		return r, fmt.Errorf("rule: %w: a category is required", ErrInvalid)
	}
	if r.Side != "*" {
		side, err := ParseSide(r.Side)
		if err != nil {
			return r, fmt.Errorf("rule: %w", err)
		}
		r.Side = string(side)
	}
	parts := strings.Split(r.Columns, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if !strings.Contains(r.Columns, "*") {
		sort.Strings(parts)
	}
	r.Columns = strings.Join(parts, ",")
	return r, nil
}

// Matches reports whether the rule applies to a signature seen in dataset.
func (r Rule) Matches(dataset string, sig Signature) bool {
	if !globMatch(r.Dataset, dataset) {
		return false
	}
	if r.Side != "*" && r.Side != string(sig.Side) {
		return false
	}
	if !globMatch(r.Columns, strings.Join(sig.Columns, ",")) {
		return false
	}
	if r.Tag == "*" {
		return true
	}
	for _, t := range sig.Tags {
		if globMatch(r.Tag, t) {
			return true
		}
	}
	return false
}

// Specificity is the number of fields that are not a lone '*'.
func (r Rule) Specificity() int {
	n := 0
	for _, f := range []string{r.Dataset, r.Side, r.Columns, r.Tag} {
		if f != "*" {
			n++
		}
	}
	return n
}

// bestRule picks the rule for a signature, or nil. rules are in id order.
func bestRule(rules []Rule, dataset string, sig Signature) *Rule {
	var best *Rule
	for i := range rules {
		r := &rules[i]
		if r.Matches(dataset, sig) && (best == nil || r.Specificity() > best.Specificity()) {
			best = r
		}
	}
	return best
}

// globMatch matches s against a pattern where '*' is any run of characters
// and everything else is literal.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// Rules lists the auto-triage rules in id order.
func (s *Store) Rules(ctx context.Context) ([]Rule, error) {
	return loadRules(ctx, s.db)
}

func loadRules(ctx context.Context, q querier) ([]Rule, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, dataset, side, columns, tag, category, created_at FROM triage_rules ORDER BY id")
	if err != nil {
		return nil, wrapSQLite(err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		var created string
		if err := rows.Scan(&r.ID, &r.Dataset, &r.Side, &r.Columns, &r.Tag, &r.Category, &created); err != nil {
			return nil, wrapSQLite(err)
		}
		r.CreatedAt = parseTime(created)
		out = append(out, r)
	}
	return out, wrapSQLite(rows.Err())
}

// AddRule stores a rule and applies the rules to every open, triaged or
// explained investigation that has no category yet. It returns the rule and
// the investigations it categorized.
func (s *Store) AddRule(ctx context.Context, r Rule, author string) (Rule, []int64, error) {
	r, err := r.normalize()
	if err != nil {
		return r, nil, err
	}
	now := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, nil, s.wrap(err)
	}
	defer tx.Rollback()
	if err := categoryExists(ctx, tx, r.Category); err != nil {
		return r, nil, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO triage_rules (dataset, side, columns, tag, category, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		r.Dataset, r.Side, r.Columns, r.Tag, r.Category, formatTime(now))
	if err != nil {
		return r, nil, s.wrap(err)
	}
	r.ID, _ = res.LastInsertId()
	r.CreatedAt = parseTime(formatTime(now))
	categorized, err := applyRules(ctx, tx, author, now)
	if err != nil {
		return r, nil, s.wrap(err)
	}
	return r, categorized, s.wrap(tx.Commit())
}

// RemoveRule deletes a rule. Categories it assigned stay.
func (s *Store) RemoveRule(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM triage_rules WHERE id = ?", id)
	if err != nil {
		return s.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rule %d: %w (see shadow log rules list)", id, ErrNotFound)
	}
	return nil
}

// applyRules categorizes uncategorized active investigations from the
// (dataset, signature) pairs they cover.
func applyRules(ctx context.Context, tx *sql.Tx, author string, now time.Time) ([]int64, error) {
	rules, err := loadRules(ctx, tx)
	if err != nil || len(rules) == 0 {
		return []int64{}, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT i.id, s.dataset, sg.side, sg.columns, sg.tags
		FROM investigations i
		JOIN investigation_signatures s ON s.investigation = i.id
		JOIN signatures sg ON sg.id = s.signature
		WHERE i.category IS NULL AND i.status IN ('open', 'triaged', 'explained')
		ORDER BY i.id, sg.signature, s.dataset`)
	if err != nil {
		return nil, err
	}
	type hit struct {
		inv  int64
		rule Rule
	}
	var hits []hit
	seen := map[int64]bool{}
	for rows.Next() {
		var inv int64
		var dataset, side, cols, tags string
		if err := rows.Scan(&inv, &dataset, &side, &cols, &tags); err != nil {
			rows.Close()
			return nil, err
		}
		if seen[inv] {
			continue
		}
		if r := bestRule(rules, dataset, decodeSignature(side, cols, tags)); r != nil {
			seen[inv] = true
			hits = append(hits, hit{inv, *r})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []int64{}
	for _, h := range hits {
		if err := setCategory(ctx, tx, h.inv, h.rule.Category, fmt.Sprintf("rule %d", h.rule.ID), author, now); err != nil {
			return nil, err
		}
		out = append(out, h.inv)
	}
	return out, nil
}

// autoTriage runs inside a finishing run's transaction (contracts §6). For
// each of the run's signatures it finds the newest open, triaged or explained
// investigation covering (dataset, signature), or opens one titled after the
// signature; it links the run's stored discrepancies of that signature to it
// and lets the rules set a category where none is set.
func autoTriage(ctx context.Context, tx *sql.Tx, runRow int64, runID, dataset string, now time.Time) (opened, linked []int64, err error) {
	opened, linked = []int64{}, []int64{}
	rules, err := loadRules(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	type runSig struct {
		id     int64
		text   string
		sig    Signature
		seen   int64
		stored int64
	}
	rows, err := tx.QueryContext(ctx, `SELECT sg.id, sg.signature, sg.side, sg.columns, sg.tags, rs.seen, rs.stored
		FROM run_signatures rs JOIN signatures sg ON sg.id = rs.signature
		WHERE rs.run = ? ORDER BY sg.signature`, runRow)
	if err != nil {
		return nil, nil, err
	}
	var sigs []runSig
	for rows.Next() {
		var r runSig
		var side, cols, tags string
		if err := rows.Scan(&r.id, &r.text, &side, &cols, &tags, &r.seen, &r.stored); err != nil {
			rows.Close()
			return nil, nil, err
		}
		r.sig = decodeSignature(side, cols, tags)
		sigs = append(sigs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	const by = "shadow"
	for _, rs := range sigs {
		var inv int64
		var category sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT i.id, i.category FROM investigation_signatures s JOIN investigations i ON i.id = s.investigation
			WHERE s.dataset = ? AND s.signature = ? AND i.status IN ('open', 'triaged', 'explained')
			ORDER BY i.id DESC LIMIT 1`, dataset, rs.id).Scan(&inv, &category)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			inv, err = createInvestigation(ctx, tx, rs.sig.Title(dataset), "", true, by, now,
				fmt.Sprintf("opened by run %s: %d discrepancies with signature %s (%d stored)", runID, rs.seen, rs.text, rs.stored))
			if err != nil {
				return nil, nil, err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO investigation_signatures (investigation, dataset, signature) VALUES (?, ?, ?)", inv, dataset, rs.id); err != nil {
				return nil, nil, err
			}
			opened = append(opened, inv)
		case err != nil:
			return nil, nil, err
		default:
			if err := addEvent(ctx, tx, inv, fmt.Sprintf("run %s: %d more discrepancies with signature %s (%d stored)", runID, rs.seen, rs.text, rs.stored), by, now); err != nil {
				return nil, nil, err
			}
			linked = append(linked, inv)
		}
		if !category.Valid {
			if r := bestRule(rules, dataset, rs.sig); r != nil {
				if err := setCategory(ctx, tx, inv, r.Category, fmt.Sprintf("rule %d", r.ID), by, now); err != nil {
					return nil, nil, err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE run_signatures SET investigation = ? WHERE run = ? AND signature = ?", inv, runRow, rs.id); err != nil {
			return nil, nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO investigation_discrepancies (investigation, discrepancy, run)
			SELECT ?, id, run FROM discrepancies WHERE run = ? AND side = ? AND signature = ?`, inv, runRow, string(rs.sig.Side), rs.id); err != nil {
			return nil, nil, err
		}
	}
	return opened, dedupe(linked), nil
}

func dedupe(ids []int64) []int64 {
	seen := map[int64]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
