package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/investigations"
)

// seedNights records scheduled nights through the investigation log's
// writer API, as the nightly runner does: one status per night from
// 2026-11-01.
func seedNights(t *testing.T, path, dataset string, statuses ...investigations.Status) {
	t.Helper()
	ctx := context.Background()
	s, err := investigations.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, st := range statuses {
		night := time.Date(2026, 11, 1+i, 0, 0, 0, 0, time.UTC)
		w, err := s.StartRun(ctx, investigations.NewRun{Dataset: dataset, Night: night.Format("2006-01-02"), Started: night.Add(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		r := investigations.Result{Finished: night.Add(3 * time.Hour)}
		switch st {
		case investigations.Clean:
			r.Counts = investigations.Counts{LegacyRows: 10, NewRows: 10, Matched: 10}
		case investigations.Differs:
			if err := w.Write(ctx, []investigations.Discrepancy{{Side: investigations.OnlyInLegacy, Key: map[string]any{"id": i}, Legacy: map[string]any{"id": i}}}); err != nil {
				t.Fatal(err)
			}
			r.Counts = investigations.Counts{LegacyRows: 10, NewRows: 9, OnlyInLegacy: 1, Missing: 1, Matched: 9}
		case investigations.Failed:
			r.Status, r.Error = investigations.Failed, "engine: out of memory"
		}
		if _, err := w.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeciderCLI(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"shadow.yaml":             testConfig + "decider: {promote_after: 2, cohorts: [early, late]}\n",
		"datasets.yaml":           testDatasets,
		"badpolicy/shadow.yaml":   testConfig + "decider: {promote_aftr: 2}\n",
		"badpolicy/datasets.yaml": testDatasets,
		"nodatasets/shadow.yaml":  "db: x.db\n",
	})
	db := filepath.Join(dir, "shadow.db")
	seedNights(t, db, "orders", investigations.Clean, investigations.Clean, investigations.Failed, investigations.Clean)
	seedNights(t, db, "users", investigations.Clean, investigations.Differs, investigations.Clean)

	missing := filepath.Join(dir, "missing.db")
	cases := []struct {
		name string
		dir  string
		args []string
		code int
	}{
		{"decide-all", "", []string{"decide"}, exitOK},
		{"decide-dataset-json", "", []string{"decide", "--dataset", "orders", "--json"}, exitOK},
		{"decide-attributes", "", []string{"decide", "--keyspace", "shop", "--table", "orders"}, exitOK},
		{"decide-no-dataset", "", []string{"decide", "--keyspace", "nowhere", "--table", "x"}, exitOK},
		{"decide-unknown-dataset", "", []string{"decide", "--dataset", "nope"}, exitUsage},
		{"decide-no-table", "", []string{"decide", "--keyspace", "shop"}, exitUsage},
		{"decide-mismatch", "", []string{"decide", "--dataset", "orders", "--table", "users"}, exitUsage},
		{"set", "", []string{"set", "--table", "orders", "--path", "new", "--reason", "canary", "--author", "ana"}, exitOK},
		{"set-update-json", "", []string{"set", "--table", "orders", "--path", "legacy", "--reason", "rollback", "--author", "bob", "--json"}, exitOK},
		{"set-connector-as-path", "", []string{"set", "--cluster", "main", "--path", "keyvalue", "--author", "ana"}, exitUsage},
		{"set-unknown-path", "", []string{"set", "--cluster", "main", "--path", "casspactor", "--author", "ana"}, exitUsage},
		{"set-path-and-remove", "", []string{"set", "--path", "new", "--remove", "1"}, exitUsage},
		{"set-no-author", "", []string{"set", "--cluster", "main", "--path", "new", "--author", ""}, exitUsage},
		{"set-wildcard", "", []string{"set", "--cluster", "main", "--table", "ev*", "--path", "new", "--author", "ana"}, exitOK},
		{"rules", "", []string{"rules"}, exitOK},
		{"rules-json", "", []string{"rules", "--json"}, exitOK},
		{"decide-rule", "", []string{"decide", "--dataset", "events"}, exitOK},
		{"set-remove", "", []string{"set", "--remove", "2", "--reason", "done", "--author", "ana"}, exitOK},
		{"set-remove-unknown", "", []string{"set", "--remove", "2", "--author", "ana"}, exitUsage},
		{"ramp-above-100", "", []string{"ramp", "early", "101", "--author", "ana"}, exitUsage},
		{"ramp-not-a-number", "", []string{"ramp", "early", "half", "--author", "ana"}, exitUsage},
		{"ramp-bad-cohort", "", []string{"ramp", "no/slash", "10", "--author", "ana"}, exitUsage},
		{"ramp-one-arg", "", []string{"ramp", "early"}, exitUsage},
		{"ramp", "", []string{"ramp", "early", "100%", "--reason", "all in", "--author", "ana"}, exitOK},
		{"ramp-list", "", []string{"ramp"}, exitOK},
		{"pin", "", []string{"pin", "users", "new", "--reason", "incident 42", "--author", "ana"}, exitOK},
		{"pin-overlapping", "", []string{"pin", "users", "legacy", "--author", "bob"}, exitUsage},
		{"pin-replace", "", []string{"pin", "users", "legacy", "--replace", "--reason", "incident 43", "--author", "bob"}, exitOK},
		{"pin-unknown-dataset", "", []string{"pin", "nope", "new", "--author", "ana"}, exitUsage},
		{"pin-no-path", "", []string{"pin", "users"}, exitUsage},
		{"pin-answer-as-path", "", []string{"pin", "events", "MOVE_DATA", "--author", "ana"}, exitUsage},
		{"pin-list", "", []string{"pin"}, exitOK},
		{"cohort", "", []string{"cohort", "late", "events", "--author", "ana"}, exitOK},
		{"cohort-unknown-dataset", "", []string{"cohort", "late", "nope", "--author", "ana"}, exitUsage},
		{"decide-all-after-changes", "", []string{"decide"}, exitOK},
		{"plan", "", []string{"plan"}, exitOK},
		{"plan-json", "", []string{"plan", "--json"}, exitOK},
		{"apply", "", []string{"apply", "--author", "ana"}, exitOK},
		{"apply-again", "", []string{"apply", "--author", "ana"}, exitOK},
		{"plan-after-apply", "", []string{"plan"}, exitOK},
		{"pin-remove", "", []string{"pin", "--remove", "users", "--author", "ana"}, exitOK},
		{"cohort-unset", "", []string{"cohort", "--unset", "events", "--author", "ana"}, exitOK},
		{"decide-all-final", "", []string{"decide"}, exitOK},
		{"history", "", []string{"history"}, exitOK},
		{"history-dataset-json", "", []string{"history", "--dataset", "users", "--json"}, exitOK},
		{"history-cohort-limit", "", []string{"history", "--cohort", "late", "--limit", "1"}, exitOK},
		{"history-bad-limit", "", []string{"history", "--limit", "-3"}, exitUsage},
		{"decide-missing-db", "", []string{"decide", "--dataset", "orders", "--db", missing}, exitOK},
		{"rules-missing-db", "", []string{"rules", "--db", missing}, exitUsage},
		{"bad-policy", "badpolicy", []string{"plan"}, exitUsage},
		{"plan-no-datasets", "nodatasets", []string{"plan"}, exitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"decider", "--db", db}, c.args...)
			r := runShadow(t, filepath.Join(dir, c.dir), args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			got := fmt.Sprintf("$ shadow decider %s\n%s", strings.Join(c.args, " "), transcript(r))
			golden(t, "decider/"+c.name, scrubNow(got, start), regexp.QuoteMeta(dir), "<dir>")
		})
	}
	// Read-only commands never create the file they were pointed at.
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("a read-only command created missing.db: %v", err)
	}
}
