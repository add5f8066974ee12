package investigations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "shadow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationFiles(t *testing.T) {
	ms := Migrations()
	if len(ms) < 2 {
		t.Fatalf("want a sequence of migrations, got %d", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 || m.Name == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d: %+v", i, m)
		}
	}
	bad := []fstest.MapFS{
		{"s/0001_a.sql": {Data: []byte("x")}, "s/0003_c.sql": {Data: []byte("x")}}, // gap
		{"s/0001_a.sql": {Data: []byte("x")}, "s/1_b.sql": {Data: []byte("x")}},    // misnamed
		{"s/0002_a.sql": {Data: []byte("x")}},                                      // does not start at 1
	}
	for i, fsys := range bad {
		if _, err := loadMigrations(fsys, "s"); err == nil {
			t.Errorf("bad sequence %d accepted", i)
		}
	}
}

// seeds holds data as it would exist at each version; a database migrated
// to version v gets seeds 1..v before it is upgraded to the latest. A new
// migration adds its seed here.
var seeds = map[int]string{
	1: `INSERT INTO runs (run_id, dataset, night, scheduled, attempt, superseded, status, started_at, finished_at, legacy_rows, new_rows, matched, similarity)
	    VALUES ('orders/2026-11-20', 'orders', '2026-11-20', 1, 1, 0, 'clean', '2026-11-20T02:00:00.000000Z', '2026-11-20T02:10:00.000000Z', 10, 10, 10, 1.0);`,
	2: `INSERT INTO signatures (id, signature, side, columns, tags) VALUES (1, 'changed:amount:', 'changed', '["amount"]', '[]');
	    INSERT INTO runs (run_id, dataset, night, scheduled, attempt, status, started_at, finished_at, legacy_rows, new_rows, only_in_legacy, only_in_new, matched, changed, similarity, seen_changed, stored_changed)
	    VALUES ('orders/2026-11-21', 'orders', '2026-11-21', 1, 1, 'differs', '2026-11-21T02:00:00.000000Z', '2026-11-21T02:10:00.000000Z', 10, 10, 1, 1, 9, 1, 0.9, 1, 1);
	    INSERT INTO discrepancies (run, side, key, legacy_row, new_row, diffs, signature) VALUES
	    ((SELECT id FROM runs WHERE run_id = 'orders/2026-11-21'), 'changed', '{"id":1}', '{"id":1,"amount":1}', '{"id":1,"amount":2}', '[{"column":"amount","legacy":1,"new":2}]', 1);
	    INSERT INTO run_signatures (run, signature, seen, stored) VALUES ((SELECT id FROM runs WHERE run_id = 'orders/2026-11-21'), 1, 1, 1);`,
	3: `INSERT INTO investigations (id, title, status, category, created_at, updated_at) VALUES (1, 'orders: changed amount', 'open', NULL, '2026-11-21T03:00:00.000000Z', '2026-11-21T03:00:00.000000Z');
	    INSERT INTO investigation_signatures VALUES (1, 'orders', 1);
	    INSERT INTO investigation_discrepancies VALUES (1, 1, (SELECT id FROM runs WHERE run_id = 'orders/2026-11-21'));
	    INSERT INTO timeline (investigation, kind, body, author, created_at) VALUES (1, 'note', 'rounding?', 'ana', '2026-11-21T03:01:00.000000Z');`,
	4: `INSERT INTO triage_rules (dataset, side, columns, tag, category, created_at) VALUES ('*', 'changed', 'amount', '*', 'business-logic', '2026-11-21T04:00:00.000000Z');`,
	5: `INSERT INTO decider_cohorts (name, ramp, updated_by, updated_at) VALUES ('early', 30, 'ana', '2026-11-21T05:00:00.000000Z');
	    INSERT INTO decider_members (movement, cohort, updated_by, updated_at) VALUES ('orders', 'early', 'ana', '2026-11-21T05:00:00.000000Z');
	    INSERT INTO decider_rules (cluster, keyspace, table_name, destination, cohort, path, reason, created_by, created_at, updated_at)
	    VALUES ('payments', '*', '*', '*', '*', 'legacy', 'freeze', 'ana', '2026-11-21T05:00:00.000000Z', '2026-11-21T05:00:00.000000Z');
	    INSERT INTO decider_pins (movement, path, reason, created_by, created_at) VALUES ('orders', 'legacy', 'incident', 'ana', '2026-11-21T05:01:00.000000Z');
	    INSERT INTO decider_promotions (movement, state, night, run_id, streak, reason, updated_by, updated_at)
	    VALUES ('orders', 'demoted', '2026-11-21', 'orders/2026-11-21', 0, 'differs', 'shadow', '2026-11-21T05:02:00.000000Z');
	    INSERT INTO decider_audit (at, actor, action, subject, before, after, reason) VALUES ('2026-11-21T05:01:00.000000Z', 'ana', 'pin.set', 'orders', NULL, '{"path":"legacy"}', 'incident');
	    INSERT INTO decider_decisions (id, at, movement, cohort, path, source, reason) VALUES (1, '2026-11-21T05:03:00.000000Z', 'orders', 'early', 'legacy', 'pin', 'pinned');
	    INSERT INTO decider_outcomes (at, movement, cohort, path, outcome, duration_seconds, decision) VALUES ('2026-11-21T05:30:00.000000Z', 'orders', 'early', 'legacy', 'success', 1500, 1);`,
}

func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000&_foreign_keys=1&_txlock=immediate&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	latest := LatestVersion()
	fresh := openTemp(t)
	want := schemaOf(t, fresh.DB())
	if v, _ := fresh.SchemaVersion(ctx); v != latest {
		t.Fatalf("fresh database at version %d, want %d", v, latest)
	}
	for from := 0; from < latest; from++ {
		t.Run(fmt.Sprintf("from-%d", from), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shadow.db")
			db := rawOpen(t, path)
			if err := migrate(ctx, db, from); err != nil {
				t.Fatal(err)
			}
			for v := 1; v <= from; v++ {
				if seeds[v] == "" {
					t.Fatalf("no seed data for version %d: add one to seeds when adding a migration", v)
				}
				if _, err := db.Exec(seeds[v]); err != nil {
					t.Fatalf("seed %d: %v", v, err)
				}
			}
			db.Close()

			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if v, _ := s.SchemaVersion(ctx); v != latest {
				t.Fatalf("at version %d after Open, want %d", v, latest)
			}
			if got := schemaOf(t, s.DB()); got != want {
				t.Fatalf("schema after upgrading from %d differs from a fresh one:\n%s\nwant\n%s", from, got, want)
			}
			var n int
			s.DB().QueryRow("SELECT count(*) FROM runs").Scan(&n)
			if want := min(from, 2); n != want {
				t.Fatalf("%d runs survived the upgrade, want %d", n, want)
			}
			if from >= 3 {
				d, err := s.Investigation(ctx, 1)
				if err != nil || len(d.Timeline) != 1 || d.Discrepancies != 1 {
					t.Fatalf("investigation after upgrade: %+v, %v", d, err)
				}
			}
			// The upgraded database works end to end.
			w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-22"})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(ctx, []Discrepancy{{Side: Changed, Key: map[string]any{"id": 2}, Legacy: map[string]any{"id": 2, "amount": 1}, New: map[string]any{"id": 2, "amount": 3}}}); err != nil {
				t.Fatal(err)
			}
			sum, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 10, NewRows: 10, OnlyInLegacy: 1, OnlyInNew: 1, Changed: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if from >= 3 {
				if len(sum.Linked) != 1 || sum.Linked[0] != 1 || len(sum.Opened) != 0 {
					t.Fatalf("finish after upgrade: %+v, want linked to investigation 1", sum)
				}
			} else if len(sum.Opened) != 1 {
				t.Fatalf("finish after upgrade: %+v, want one investigation opened", sum)
			}
		})
	}
}

// TestOpenIsIdempotentAndConcurrent opens fresh files from several
// goroutines at once, many times: the switch to WAL mode used to fail with
// "database is locked" about once in twenty.
func TestOpenIsIdempotentAndConcurrent(t *testing.T) {
	ctx := context.Background()
	for i := range 50 {
		path := filepath.Join(t.TempDir(), "shadow.db")
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				s, err := Open(ctx, path)
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("iteration %d: %v", i, err)
			}
		}
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var mode string
		s.DB().QueryRow("SELECT count(*) FROM schema_version").Scan(&n)
		s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode)
		s.Close()
		if n != LatestVersion() || mode != "wal" {
			t.Fatalf("iteration %d: %d schema_version rows (want %d), journal mode %q", i, n, LatestVersion(), mode)
		}
	}
}

func TestOpenMustExist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	_, err := Open(context.Background(), path, MustExist())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open with MustExist created %s", path)
	}
}

func fileDigests(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestOpenRefusesForeignAndCorruptFiles(t *testing.T) {
	ctx := context.Background()
	makeDB := func(t *testing.T, path string, stmts ...string) {
		db, err := sql.Open("sqlite3", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, s := range stmts {
			if _, err := db.Exec(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	// tamper changes a valid state file behind the store's back.
	tamper := func(t *testing.T, p, stmt string) {
		s, err := Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().Exec(stmt); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	cases := []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"text file", func(t *testing.T, p string) { os.WriteFile(p, []byte("orders,2026-11-24\n"), 0o644) }, "not an SQLite database"},
		{"short file", func(t *testing.T, p string) { os.WriteFile(p, []byte("SQLite"), 0o644) }, "not an SQLite database"},
		{"unrelated tables", func(t *testing.T, p string) {
			makeDB(t, p, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users VALUES (1, 'ana')")
		}, "another application (tables users)"},
		{"iceberg catalog", func(t *testing.T, p string) {
			makeDB(t, p, "CREATE TABLE iceberg_tables (catalog_name TEXT, table_namespace TEXT, table_name TEXT)",
				"CREATE TABLE iceberg_namespace_properties (catalog_name TEXT)")
		}, "another application (tables iceberg_namespace_properties, iceberg_tables)"},
		{"other application id", func(t *testing.T, p string) {
			makeDB(t, p, "PRAGMA application_id = 1234", "CREATE TABLE t (x)")
		}, "application_id 0x000004d2"},
		{"newer schema", func(t *testing.T, p string) {
			tamper(t, p, fmt.Sprintf("INSERT INTO schema_version VALUES (%d, 'from_the_future', '2030-01-01T00:00:00.000000Z')", LatestVersion()+1))
		}, fmt.Sprintf("schema version %d was written by a newer shadow", LatestVersion()+1)},
		{"diverged schema", func(t *testing.T, p string) {
			tamper(t, p, "UPDATE schema_version SET name = 'something_else' WHERE version = 2")
		}, `schema version 2 is "something_else"`},
		{"damaged pages", func(t *testing.T, p string) {
			makeDB(t, p, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
			b, _ := os.ReadFile(p)
			for i := 100; i < len(b); i++ {
				b[i] = 0xa5
			}
			os.WriteFile(p, b, 0o644)
		}, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "shadow.db")
			c.make(t, path)
			before := fileDigests(t, dir)
			_, err := Open(ctx, path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file and say %q", err, c.want)
			}
			after := fileDigests(t, dir)
			for n, d := range before {
				if after[n] != d {
					t.Fatalf("%s changed", n)
				}
			}
			// A WAL-mode file may get its -shm index and an empty -wal from
			// the read-only check; nothing else may appear.
			for n := range after {
				if _, ok := before[n]; ok {
					continue
				}
				fi, _ := os.Stat(filepath.Join(dir, n))
				switch {
				case strings.HasSuffix(n, "-shm"):
				case strings.HasSuffix(n, "-wal") && fi.Size() == 0:
				default:
					t.Fatalf("Open left %s (%d bytes)", n, fi.Size())
				}
			}
		})
	}
}

// checkOrphans stands in for the foreign keys the hot tables do not declare.
func checkOrphans(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, q := range []string{
		"SELECT count(*) FROM discrepancies d LEFT JOIN runs r ON r.id = d.run WHERE r.id IS NULL",
		"SELECT count(*) FROM discrepancies d LEFT JOIN signatures s ON s.id = d.signature WHERE s.id IS NULL",
		"SELECT count(*) FROM investigation_discrepancies l LEFT JOIN investigations i ON i.id = l.investigation WHERE i.id IS NULL",
		"SELECT count(*) FROM investigation_discrepancies l LEFT JOIN discrepancies d ON d.id = l.discrepancy WHERE d.id IS NULL OR d.run != l.run",
		"PRAGMA foreign_key_check",
	} {
		var n int
		err := db.QueryRow(q).Scan(&n)
		if q == "PRAGMA foreign_key_check" {
			if err != sql.ErrNoRows {
				t.Fatalf("foreign_key_check: %v", err)
			}
			continue
		}
		if err != nil || n != 0 {
			t.Fatalf("%s: %d (%v)", q, n, err)
		}
	}
}
