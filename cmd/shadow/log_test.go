package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/investigations"
)

// The log commands are tested through the real binary against a database
// seeded with the writer API the nightly runner uses. Seeded times lie in
// March 2025; times the commands themselves record ("now") are scrubbed.

var seedDay = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)

func night(i int) string { return seedDay.AddDate(0, 0, i).Format("2006-01-02") }

type seedRun struct {
	dataset string
	night   int
	result  investigations.Result // Status "" derives from counts
	rows    []investigations.Discrepancy
	cap     int
	keep    bool // leave running
}

func changed(id int, col string, l, n any) investigations.Discrepancy {
	return investigations.Discrepancy{Side: investigations.Changed, Key: map[string]any{"id": id},
		Legacy: map[string]any{"id": id, col: l, "region": "eu"}, New: map[string]any{"id": id, col: n, "region": "eu"},
		Fingerprint: 0x1000 + uint64(id), NewFingerprint: 0x2000 + uint64(id)}
}

func counted(legacyRows int64, rows ...investigations.Discrepancy) investigations.Counts {
	c := investigations.Counts{LegacyRows: legacyRows}
	for _, d := range rows {
		switch d.Side {
		case investigations.OnlyInLegacy:
			c.OnlyInLegacy++
			c.Missing++
		case investigations.OnlyInNew:
			c.OnlyInNew++
			c.Extra++
		case investigations.Changed:
			c.OnlyInLegacy++
			c.OnlyInNew++
			c.Changed++
		}
	}
	c.NewRows = legacyRows - c.OnlyInLegacy + c.OnlyInNew
	return c
}

// seedLog writes a small, realistic log: three datasets, a differing night,
// a failed attempt re-run, a capped run, a dead run and a running one.
func seedLog(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := investigations.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.AddRule(ctx, investigations.Rule{Tag: investigations.TagTTLExpired, Category: "ttl-reference"}, "seed"); err != nil {
		t.Fatal(err)
	}
	ref := seedDay.AddDate(0, 0, 1)
	ordersDiff := []investigations.Discrepancy{
		changed(7, "amount", 10.5, 10.25),
		changed(8, "amount", 3, 4),
		changed(9, "note", nil, ""),
		{Side: investigations.OnlyInLegacy, Key: map[string]any{"id": 21}, Fingerprint: 0x3021,
			Legacy: map[string]any{"id": 21, "region": "us", "_ttl_expires_at": ref.Add(-time.Hour)}},
		{Side: investigations.OnlyInLegacy, Key: map[string]any{"id": 22}, Fingerprint: 0x3022,
			Legacy: map[string]any{"id": 22, "region": "us", "_ttl_expires_at": ref.Add(-time.Minute)}},
		{Side: investigations.OnlyInNew, Key: map[string]any{"id": 30}, Fingerprint: 0x4030,
			New: map[string]any{"id": 30, "region": "ap"}},
	}
	tsDiff := []investigations.Discrepancy{
		changed(1, "paid_at", "2025-03-04T10:00:00.123456Z", "2025-03-04T10:00:00.123Z"),
		changed(2, "paid_at", "2025-03-04T11:00:00.5Z", "2025-03-04T11:00:00Z"),
		changed(3, "paid_at", "2025-03-04T12:00:00.000001Z", "2025-03-04T12:00:00Z"),
	}
	runs := []seedRun{
		{dataset: "orders", night: 0, result: investigations.Result{Counts: counted(1000)}},
		{dataset: "orders", night: 1, result: investigations.Result{Counts: counted(1000, ordersDiff...)}, rows: ordersDiff},
		{dataset: "orders", night: 2, result: investigations.Result{Error: "engine: backup 2025-03-03 incomplete: node n3 has no snapshot"}},
		{dataset: "orders", night: 2, result: investigations.Result{Counts: counted(1001)}},
		{dataset: "orders", night: 3, result: investigations.Result{Counts: counted(1002)}},
		{dataset: "payments", night: 2, result: investigations.Result{Counts: counted(50)}},
		{dataset: "payments", night: 3, result: investigations.Result{Counts: counted(50, tsDiff...)}, rows: tsDiff, cap: 1},
		{dataset: "events", night: 3},
		{dataset: "events", night: 4, keep: true},
	}
	for i, sr := range runs {
		started := seedDay.AddDate(0, 0, sr.night).Add(time.Duration(i) * time.Minute)
		w, err := s.StartRun(ctx, investigations.NewRun{
			Dataset: sr.dataset, Night: night(sr.night), Started: started, MaxStoredPerSide: sr.cap,
			LegacySnapshotID: 5000 + int64(i), Backup: "s3://backups/" + sr.dataset + "/" + night(sr.night),
			TTLReferences: investigations.References{Legacy: ref.Add(-2 * time.Hour), New: ref},
			DiffOptions:   map[string]any{"key": []string{"id"}, "ignore": []string{"_writetime"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(sr.rows) > 0 {
			if err := w.Write(ctx, sr.rows); err != nil {
				t.Fatal(err)
			}
		}
		if sr.keep {
			continue
		}
		if sr.dataset == "events" && sr.night == 3 {
			// This process dies: the run is found and marked aborted.
			s.DB().Exec("UPDATE runs SET pid = ?, process_start = '' WHERE run_id = ?", deadPID(t), w.RunID())
			if _, err := s.AbortDead(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r := sr.result
		r.Finished = started.Add(14*time.Minute + 30*time.Second)
		r.NewSnapshotID = 9000 + int64(i)
		r.Stages = []investigations.Stage{{Name: "engine", Duration: 11 * time.Minute}, {Name: "diff", Duration: 3*time.Minute + 30*time.Second}}
		if _, err := w.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// logCase is one command whose stdout, stderr and exit code are golden.
type logCase struct {
	name string
	args []string
}

var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)

// scrubNow replaces the times recorded while the test ran with <now>; seeded
// times and times in messages stay.
func scrubNow(s string, start time.Time) string {
	end := time.Now().Add(time.Minute)
	return rfc3339.ReplaceAllStringFunc(s, func(m string) string {
		t, err := time.Parse(time.RFC3339Nano, m)
		if err == nil && !t.Before(start.Add(-time.Minute)) && t.Before(end) {
			return "<now>"
		}
		return m
	})
}

func TestLogCLI(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	db := filepath.Join(dir, "shadow.db")
	seedLog(t, db)
	logFile := filepath.Join(dir, "engine.log")
	os.WriteFile(logFile, []byte("02:13:07 WARN read ONE for range (-9223372036854775808, -3074457345618258603]\n02:13:07 WARN replica n2 behind\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "not-a-db"), []byte("orders,2025-03-01\n"), 0o644)

	cases := []logCase{
		{"runs", []string{"runs"}},
		{"runs-dataset-since", []string{"runs", "--dataset", "orders", "--since", "2025-03-02"}},
		{"runs-since-rfc3339-json", []string{"runs", "--since", "2025-03-04T02:07:00Z", "--json"}},
		{"runs-limit", []string{"runs", "--limit", "2"}},
		{"runs-bad-since", []string{"runs", "--since", "yesterday"}},
		{"runs-bad-limit", []string{"runs", "--limit", "-1"}},
		{"show-differs", []string{"show", "orders/2025-03-02"}},
		{"show-superseded-failed", []string{"show", "orders/2025-03-03"}},
		{"show-attempt-2", []string{"show", "orders/2025-03-03#2"}},
		{"show-aborted", []string{"show", "events/2025-03-04"}},
		{"show-running", []string{"show", "events/2025-03-05"}},
		{"show-capped-json", []string{"show", "payments/2025-03-04", "--json"}},
		{"show-unknown", []string{"show", "orders/2099-01-01"}},
		{"discrepancies", []string{"discrepancies"}},
		{"discrepancies-run-side", []string{"discrepancies", "--run", "orders/2025-03-02", "--side", "changed"}},
		{"discrepancies-legacy-json", []string{"discrepancies", "--side", "legacy", "--json"}},
		{"discrepancies-investigation", []string{"discrepancies", "--investigation", "3"}},
		{"discrepancies-limit", []string{"discrepancies", "--limit", "3"}},
		{"discrepancies-bad-side", []string{"discrepancies", "--side", "sideways"}},
		{"discrepancies-unknown-investigation", []string{"discrepancies", "--investigation", "99"}},
		{"discrepancies-unknown-run", []string{"discrepancies", "--run", "nope/2025-03-01"}},
		{"investigations", []string{"investigations"}},
		{"investigation-auto", []string{"investigation", "3"}},
		{"investigation-unknown", []string{"investigation", "42"}},
		{"investigation-bad-id", []string{"investigation", "abc"}},
		{"open", []string{"open", "Legacy reads some ranges at ONE", "--from-run", "orders/2025-03-02", "--side", "changed", "--owner", "ana", "--author", "ana"}},
		{"open-unknown-run", []string{"open", "x", "--from-run", "orders/2099-01-01"}},
		{"open-side-without-run", []string{"open", "x", "--side", "new"}},
		{"link", []string{"link", "6", "6", "4", "--author", "ana"}},
		{"link-unknown-discrepancy", []string{"link", "6", "999"}},
		{"link-unknown-investigation", []string{"link", "77", "1"}},
		{"categorize", []string{"categorize", "6", "consistency-level", "--author", "ana"}},
		{"categorize-unknown", []string{"categorize", "6", "cosmic-rays"}},
		{"note", []string{"note", "6", "Legacy job reads at ONE when a node is down", "--log", logFile, "--query", "SELECT * FROM orders WHERE id IN (7, 8)", "--author", "ana"}},
		{"note-nothing", []string{"note", "6"}},
		{"note-missing-log", []string{"note", "6", "--log", filepath.Join(dir, "no-such.log")}},
		{"resolve", []string{"resolve", "6", "--status", "explained", "--author", "ana"}},
		{"resolve-bad-status", []string{"resolve", "6", "--status", "open"}},
		{"investigation-manual", []string{"investigation", "6"}},
		{"investigation-manual-json", []string{"investigation", "6", "--json"}},
		{"investigations-explained-json", []string{"investigations", "--status", "explained", "--json"}},
		{"investigations-dataset", []string{"investigations", "--dataset", "payments"}},
		{"rules-list", []string{"rules", "list"}},
		{"rules-add", []string{"rules", "add", "--category", "business-logic", "--side", "changed", "--columns", "note", "--tag", "null->empty"}},
		{"rules-add-ts", []string{"rules", "add", "--category", "business-logic", "--dataset", "pay*", "--tag", "ts-precision", "--json"}},
		{"rules-add-unknown-category", []string{"rules", "add", "--category", "nope"}},
		{"rules-add-bad-side", []string{"rules", "add", "--category", "business-logic", "--side", "left"}},
		{"rules-list-json", []string{"rules", "list", "--json"}},
		{"rules-rm", []string{"rules", "rm", "2"}},
		{"rules-rm-unknown", []string{"rules", "rm", "2"}},
		{"categories", []string{"categories"}},
		{"categories-add", []string{"categories", "add", "clock-skew", "Write timestamps from a client with a skewed clock"}},
		{"confidence", []string{"confidence"}},
		{"confidence-dataset-json", []string{"confidence", "--dataset", "orders", "--json"}},
		{"confidence-unknown", []string{"confidence", "--dataset", "nope"}},
		{"export-csv", []string{"export", "--run", "orders/2025-03-02", "--format", "csv"}},
		{"export-json", []string{"export", "--run", "payments/2025-03-04", "--format", "json"}},
		{"export-empty-json", []string{"export", "--run", "orders/2025-03-01", "--json"}},
		{"export-no-format", []string{"export"}},
		{"export-bad-format", []string{"export", "--format", "xml"}},
		{"missing-db", []string{"runs", "--db", filepath.Join(dir, "missing.db")}},
		{"not-a-db", []string{"runs", "--db", filepath.Join(dir, "not-a-db")}},
	}
	for _, c := range cases {
		args := append([]string{"log", "--db", db}, c.args...)
		r := runShadow(t, dir, args...)
		got := fmt.Sprintf("$ shadow %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(c.args, " "), r.Code, r.Stdout, r.Stderr)
		golden(t, "log/"+c.name, scrubNow(got, start),
			regexp.QuoteMeta(dir), "<dir>",
			`"host": "[^"]*"`, `"host": "<host>"`,
			`"pid": \d+`, `"pid": <pid>`,
			`(pid|process) \d+ on \S+`, "$1 <pid> on <host>",
		)
	}
	// Read-only commands never create the file they were pointed at.
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !os.IsNotExist(err) {
		t.Fatalf("a read-only command created missing.db: %v", err)
	}
}

// TestLogReadsWhileWriting: read-only commands answer while a writer holds
// the write lock in the middle of a batch (WAL readers never wait).
func TestLogReadsWhileWriting(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shadow.db")
	seedLog(t, db)
	w, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tx, err := w.Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("UPDATE runs SET error = 'uncommitted' WHERE run_id = 'orders/2025-03-01'"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"runs"}, {"show", "orders/2025-03-01"}, {"discrepancies"}, {"confidence"}, {"investigations"}, {"export", "--format", "csv"}} {
		r := runShadow(t, dir, append([]string{"log", "--db", db}, args...)...)
		if r.Code != 0 {
			t.Fatalf("%v while writing: exit %d: %s", args, r.Code, r.Stderr)
		}
		if strings.Contains(r.Stdout, "uncommitted") {
			t.Fatalf("%v saw an uncommitted write", args)
		}
	}
	// A second writer waits for the lock instead of failing or corrupting.
	done := make(chan cliResult)
	go func() { done <- runShadow(t, dir, "log", "--db", db, "note", "1", "written after the lock") }()
	time.Sleep(200 * time.Millisecond) // let the note reach the lock; the result does not depend on it
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Code != 0 {
		t.Fatalf("note while another process wrote: exit %d: %s", r.Code, r.Stderr)
	}
}
