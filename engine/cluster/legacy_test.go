package cluster

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/backup"
)

// the Cassandra-written fixtures, copied in engine/sstable/testdata (see
// its README for provenance)
const legacyFixtures = "../sstable/testdata/legacy-sstables"

func TestLegacyBackup(t *testing.T) {
	ctx := context.Background()
	root := os.DirFS(legacyFixtures)
	for _, s := range stores(t, s3Server(t)) {
		t.Run(s.name, func(t *testing.T) {
			info, tables, err := LegacyBackup(ctx, s.st, root, LegacyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) != 61 {
				t.Errorf("%d fixture tables, want the 61 of contracts §10", len(tables))
			}
			cat, err := backup.Open(ctx, s.st, backup.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			b, _, err := cat.Pick(ctx, info.SnapshotTime)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := cat.Verify(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Complete {
				t.Fatalf("legacy backup incomplete: %v", rep.Problems)
			}
			sch, _, err := cat.LoadSchema(ctx, b, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, lt := range tables {
				if _, err := sch.Table(LegacyKeyspace, lt.Name); err != nil {
					t.Error(err)
				}
				ssts, err := cat.SSTables(ctx, b, LegacyNode.Name, LegacyKeyspace, lt.Name)
				if err != nil || len(ssts) != 1 {
					t.Errorf("%s: %d SSTables, %v", lt.Name, len(ssts), err)
				}
			}
		})
	}
}

func TestLegacyTruth(t *testing.T) {
	root := os.DirFS(legacyFixtures)
	tables, err := legacyTables(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range tables {
		tr, err := LegacyTruth(root, lt)
		if err != nil {
			t.Fatal(err)
		}
		want := 250
		switch {
		case strings.HasSuffix(lt.Name, "inaccurate_min_max"):
			want = 1
		case strings.Contains(lt.Name, "_simple"):
			want = 5
		}
		if len(tr.Rows) != want {
			t.Errorf("%s: %d rows, want %d", lt.Name, len(tr.Rows), want)
			continue
		}
		vi := tr.ColumnIndex("val")
		for _, r := range tr.Rows {
			switch {
			case strings.Contains(lt.Name, "counter"):
				if r.Values[vi] != int64(1) {
					t.Errorf("%s: counter %v, want 1", lt.Name, r.Values[vi])
				}
			case strings.Contains(lt.Name, "_simple"):
				if r.Values[vi] != "foo bar baz" {
					t.Errorf("%s: val %q", lt.Name, r.Values[vi])
				}
			case vi >= 0:
				if s, _ := r.Values[vi].(string); len(s) != 128 {
					t.Errorf("%s: val %q, want 128 random letters", lt.Name, r.Values[vi])
				}
			}
		}
		if tr.Rows[0].Values[tr.ColumnIndex(tr.Columns[0].Name)] == nil {
			t.Errorf("%s: null key", lt.Name)
		}
	}
}
