package investigations

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"orders", "orders", true},
		{"orders", "orders2", false},
		{"orders*", "orders_eu", true},
		{"*_eu", "orders_eu", true},
		{"*_eu", "orders_us", false},
		{"o*s*u", "orders_eu", true},
		{"*amount*", "amount,updated_at", true},
		{"*amount*", "note", false},
		{"a*b*c", "abxbc", true},
		{"a*b*c", "abxbd", false},
		{"", "", true},
		{"", "x", false},
		{"null->*", "null->empty", true},
		{"**", "x", true},
	}
	for _, c := range cases {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	sigAmount := Signature{Side: Changed, Columns: []string{"amount", "updated_at"}, Tags: []string{"ts-precision"}}
	sigTTL := Signature{Side: OnlyInLegacy, Columns: []string{}, Tags: []string{"ttl-expired-at-reference"}}
	cases := []struct {
		rule    Rule
		dataset string
		sig     Signature
		want    bool
	}{
		{Rule{Category: "c"}, "orders", sigAmount, true},
		{Rule{Dataset: "orders", Category: "c"}, "orders", sigAmount, true},
		{Rule{Dataset: "pay*", Category: "c"}, "orders", sigAmount, false},
		{Rule{Side: "changed", Category: "c"}, "orders", sigAmount, true},
		{Rule{Side: "legacy", Category: "c"}, "orders", sigAmount, false},
		{Rule{Side: "legacy", Category: "c"}, "orders", sigTTL, true},
		{Rule{Columns: "updated_at, amount", Category: "c"}, "orders", sigAmount, true}, // order and spaces do not matter
		{Rule{Columns: "amount", Category: "c"}, "orders", sigAmount, false},            // the whole list must match
		{Rule{Columns: "*amount*", Category: "c"}, "orders", sigAmount, true},
		{Rule{Tag: "ttl-*", Category: "c"}, "orders", sigTTL, true},
		{Rule{Tag: "ttl-*", Category: "c"}, "orders", sigAmount, false},
		{Rule{Tag: "ts-precision", Side: "changed", Columns: "*", Dataset: "ord*", Category: "c"}, "orders", sigAmount, true},
		{Rule{Tag: "x", Category: "c"}, "orders", Signature{Side: OnlyInNew, Columns: []string{}, Tags: []string{}}, false},
	}
	for i, c := range cases {
		r, err := c.rule.normalize()
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Matches(c.dataset, c.sig); got != c.want {
			t.Errorf("case %d: %+v matches %s in %s = %v, want %v", i, r, c.sig, c.dataset, got, c.want)
		}
	}
	if _, err := (Rule{}).normalize(); !errors.Is(err, ErrInvalid) {
		t.Error("rule without category accepted")
	}
	if _, err := (Rule{Side: "left", Category: "c"}).normalize(); !errors.Is(err, ErrInvalid) {
		t.Error("rule with a bad side accepted")
	}
}

func TestBestRuleIsMostSpecificThenOldest(t *testing.T) {
	sig := Signature{Side: Changed, Columns: []string{"amount"}, Tags: []string{"ts-precision"}}
	rules := []Rule{
		{ID: 1, Dataset: "*", Side: "*", Columns: "*", Tag: "ts-precision", Category: "general"},
		{ID: 2, Dataset: "orders", Side: "changed", Columns: "*", Tag: "ts-precision", Category: "specific"},
		{ID: 3, Dataset: "orders", Side: "changed", Columns: "*", Tag: "*", Category: "tie-later"},
		{ID: 4, Dataset: "orders", Side: "*", Columns: "amount", Tag: "ts-precision", Category: "tie-later-too"},
	}
	if r := bestRule(rules, "orders", sig); r == nil || r.ID != 2 {
		t.Fatalf("best rule %+v, want 2", r)
	}
	if r := bestRule(rules, "payments", sig); r == nil || r.ID != 1 {
		t.Fatalf("best rule for payments %+v, want 1", r)
	}
	if r := bestRule(rules, "payments", Signature{Side: OnlyInNew}); r != nil {
		t.Fatalf("best rule %+v, want none", r)
	}
}

// finishRun writes the discrepancies and finishes the run with counts that
// agree with them.
func finishRun(t *testing.T, s *Store, dataset, night string, ds ...Discrepancy) (*RunWriter, FinishSummary) {
	t.Helper()
	ctx := context.Background()
	w, err := s.StartRun(ctx, NewRun{Dataset: dataset, Night: night, TTLReferences: References{Legacy: night0, New: night0.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, ds); err != nil {
		t.Fatal(err)
	}
	var c Counts
	c.LegacyRows, c.NewRows = 100, 100
	for _, d := range ds {
		switch d.Side {
		case OnlyInLegacy:
			c.Missing++
			c.OnlyInLegacy++
		case OnlyInNew:
			c.Extra++
			c.OnlyInNew++
		case Changed:
			c.Changed++
			c.OnlyInLegacy++
			c.OnlyInNew++
		}
	}
	c.NewRows = c.LegacyRows - c.OnlyInLegacy + c.OnlyInNew
	sum, err := w.Finish(ctx, Result{Counts: c})
	if err != nil {
		t.Fatal(err)
	}
	return w, sum
}

func ttlRow(id int) Discrepancy {
	return Discrepancy{Side: OnlyInLegacy, Key: map[string]any{"id": id},
		Legacy: map[string]any{"id": id, "_ttl_expires_at": night0.Add(30 * time.Minute)}}
}

func titles(t *testing.T, s *Store, ids []int64) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		d, err := s.Investigation(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%d", d.Title, d.Status, d.Category, d.Discrepancies))
	}
	sort.Strings(out)
	return out
}

func TestAutoTriage(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, _, err := s.AddRule(ctx, Rule{Tag: "ttl-expired-at-reference", Category: "ttl-reference"}, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddRule(ctx, Rule{Dataset: "orders", Side: "changed", Columns: "amount", Category: "business-logic"}, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddRule(ctx, Rule{Category: "no-such-category"}, "ana"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rule with unknown category: %v", err)
	}

	// Night 1: three signatures, three new investigations, two categorized by rules.
	_, sum := finishRun(t, s, "orders", "2026-11-24",
		changedRow(1, "amount", 1, 2), changedRow(2, "amount", 5, 6), changedRow(3, "amount", 7, 8),
		ttlRow(10), ttlRow(11), extraRow(20))
	if len(sum.Opened) != 3 || len(sum.Linked) != 0 {
		t.Fatalf("night 1: %+v", sum)
	}
	want := []string{
		"orders: changed amount|triaged|business-logic|3",
		"orders: only_in_legacy [ttl-expired-at-reference]|triaged|ttl-reference|2",
		"orders: only_in_new|open||1",
	}
	if got := titles(t, s, sum.Opened); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("night 1 investigations:\n%v\nwant\n%v", got, want)
	}
	byTitle := map[string]int64{}
	for _, id := range sum.Opened {
		d, _ := s.Investigation(ctx, id)
		byTitle[d.Title] = id
	}
	amount, ttl, extra := byTitle["orders: changed amount"], byTitle["orders: only_in_legacy [ttl-expired-at-reference]"], byTitle["orders: only_in_new"]
	if err := s.Resolve(ctx, ttl, StatusExplained, "ana"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resolve(ctx, amount, StatusFixed, "ana"); err != nil {
		t.Fatal(err)
	}

	// Night 2: explained and open ones collect the new discrepancies; the
	// fixed one does not, so its signature opens a new investigation.
	_, sum = finishRun(t, s, "orders", "2026-11-25", changedRow(1, "amount", 1, 3), ttlRow(12), extraRow(21), extraRow(22))
	sort.Slice(sum.Linked, func(i, j int) bool { return sum.Linked[i] < sum.Linked[j] })
	wantLinked := []int64{ttl, extra}
	sort.Slice(wantLinked, func(i, j int) bool { return wantLinked[i] < wantLinked[j] })
	if len(sum.Opened) != 1 || fmt.Sprint(sum.Linked) != fmt.Sprint(wantLinked) {
		t.Fatalf("night 2: %+v, want one opened and %v linked", sum, wantLinked)
	}
	if got := titles(t, s, []int64{sum.Opened[0], ttl, extra, amount}); fmt.Sprint(got) != fmt.Sprint([]string{
		"orders: changed amount|fixed|business-logic|3",
		"orders: changed amount|triaged|business-logic|1",
		"orders: only_in_legacy [ttl-expired-at-reference]|explained|ttl-reference|3",
		"orders: only_in_new|open||3",
	}) {
		t.Fatalf("night 2 investigations: %v", got)
	}
	d, _ := s.Investigation(ctx, extra)
	if fmt.Sprint(d.Runs) != "[orders/2026-11-24 orders/2026-11-25]" || len(d.Timeline) != 2 {
		t.Fatalf("investigation %d: runs %v timeline %+v", extra, d.Runs, d.Timeline)
	}

	// Signatures are matched within a dataset.
	_, sum = finishRun(t, s, "payments", "2026-11-25", extraRow(1))
	if len(sum.Opened) != 1 || len(sum.Linked) != 0 {
		t.Fatalf("payments: %+v", sum)
	}
	pay := sum.Opened[0]

	// A rule added later categorizes the uncategorized active investigations.
	r, categorized, err := s.AddRule(ctx, Rule{Dataset: "pay*", Side: "new", Category: "backup-selection"}, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if r.Side != "only_in_new" || fmt.Sprint(categorized) != fmt.Sprint([]int64{pay}) {
		t.Fatalf("rule %+v categorized %v, want [%d]", r, categorized, pay)
	}
	if err := s.RemoveRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRule(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing a removed rule: %v", err)
	}
	d, _ = s.Investigation(ctx, pay)
	if d.Category != "backup-selection" || d.Status != StatusTriaged {
		t.Fatalf("payments investigation after rule: %+v", d.Investigation)
	}
	checkOrphans(t, s.DB())
}

func TestManualTriage(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := finishRun(t, s, "orders", "2026-11-24", changedRow(1, "amount", 1, 2), changedRow(2, "note", nil, ""), extraRow(3))

	d, err := s.OpenInvestigation(ctx, OpenRequest{Title: "QUORUM vs ONE", FromRun: w.RunID(), Side: "changed", Owner: "bo", Author: "bo"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Discrepancies != 2 || len(d.Signatures) != 2 || d.Owner != "bo" || d.Auto || d.Status != StatusOpen {
		t.Fatalf("opened %+v", d)
	}
	sigs, _ := s.RunSignatures(ctx, w.RunID())
	for _, sg := range sigs {
		if (sg.Side == Changed) != (*sg.Investigation == d.ID) {
			t.Errorf("signature %s is with investigation %d", sg.Text, *sg.Investigation)
		}
	}
	// The next night's changed rows follow the manual grouping (newest match wins).
	_, sum := finishRun(t, s, "orders", "2026-11-25", changedRow(1, "amount", 1, 2))
	if fmt.Sprint(sum.Linked) != fmt.Sprint([]int64{d.ID}) {
		t.Fatalf("night 2 linked %v, want [%d]", sum.Linked, d.ID)
	}

	list, _, _ := s.Discrepancies(ctx, DiscrepancyFilter{Run: w.RunID(), Side: OnlyInNew})
	if len(list) != 1 {
		t.Fatalf("%d only_in_new discrepancies", len(list))
	}
	n, err := s.Link(ctx, d.ID, []int64{list[0].ID}, "bo")
	if err != nil || n != 1 {
		t.Fatalf("link: %d %v", n, err)
	}
	if n, _ := s.Link(ctx, d.ID, []int64{list[0].ID}, "bo"); n != 0 {
		t.Fatalf("linking twice added %d", n)
	}
	if _, err := s.Link(ctx, d.ID, []int64{999999}, "bo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link unknown discrepancy: %v", err)
	}
	if _, err := s.Link(ctx, 424242, []int64{list[0].ID}, "bo"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link to unknown investigation: %v", err)
	}
	linked, total, _ := s.Discrepancies(ctx, DiscrepancyFilter{Investigation: d.ID})
	if total != 4 || len(linked) != 4 {
		t.Fatalf("investigation lists %d discrepancies, want 4", total)
	}

	if err := s.Categorize(ctx, d.ID, "consistency-level", "bo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Categorize(ctx, d.ID, "nope", "bo"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ttl-reference") {
		t.Fatalf("unknown category: %v", err)
	}
	if _, err := s.AddEntry(ctx, d.ID, Query, "SELECT * FROM orders WHERE id = 1", "bo"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEntry(ctx, d.ID, Note, "  ", "bo"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty note: %v", err)
	}
	if _, err := s.AddEntry(ctx, d.ID, Log, strings.Repeat("x", MaxEntryBytes+1), "bo"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("huge log: %v", err)
	}
	if _, err := s.AddEntry(ctx, d.ID, Event, "x", "bo"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("user event: %v", err)
	}
	if err := s.Resolve(ctx, d.ID, StatusOpen, "bo"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("resolve as open: %v", err)
	}
	if err := s.Resolve(ctx, d.ID, StatusWontFix, "bo"); err != nil {
		t.Fatal(err)
	}
	full, _ := s.Investigation(ctx, d.ID)
	var kinds []string
	for _, e := range full.Timeline {
		kinds = append(kinds, string(e.Kind)+":"+e.Body)
	}
	want := []string{
		"event:opened from run orders/2026-11-24 (changed)",
		"event:linked 2 discrepancies of run orders/2026-11-24",
		"event:run orders/2026-11-25: 1 more discrepancies with signature changed:amount: (1 stored)",
		fmt.Sprintf("event:linked discrepancies %d", list[0].ID),
		"event:category consistency-level; status open → triaged",
		"query:SELECT * FROM orders WHERE id = 1",
		"event:status triaged → wontfix",
	}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant\n%s", strings.Join(kinds, "\n"), strings.Join(want, "\n"))
	}
	// The timeline is append-only, even to SQL.
	if _, err := s.DB().Exec("UPDATE timeline SET body = 'x'"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("timeline update: %v", err)
	}
	if _, err := s.DB().Exec("DELETE FROM timeline"); err == nil {
		t.Fatal("timeline delete allowed")
	}
	invs, total, err := s.Investigations(ctx, InvestigationFilter{Status: StatusWontFix})
	if err != nil || total != 1 || invs[0].ID != d.ID {
		t.Fatalf("wontfix list: %+v %d %v", invs, total, err)
	}
	if _, err := s.OpenInvestigation(ctx, OpenRequest{Title: "x", FromRun: "orders/1999-01-01"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open from unknown run: %v", err)
	}
	if _, err := s.OpenInvestigation(ctx, OpenRequest{Title: " "}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("open without title: %v", err)
	}
	checkOrphans(t, s.DB())
}
