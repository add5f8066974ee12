package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cassmove/shadow/diff"
	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cluster"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

func rowsOf(t *testing.T, sc *arrow.Schema, scan func(func(arrow.RecordBatch) error) error) []string {
	var out []string
	err := scan(func(rec arrow.RecordBatch) error {
		defer rec.Release()
		for i := range int(rec.NumRows()) {
			var b strings.Builder
			for _, f := range sc.Fields() {
				idx := rec.Schema().FieldIndices(f.Name)
				if len(idx) != 1 {
					return fmt.Errorf("no column %s", f.Name)
				}
				c := rec.Column(idx[0])
				if c.IsNull(i) {
					b.WriteString("NULL|")
				} else {
					fmt.Fprintf(&b, "%v|", c.GetOneForMarshal(i))
				}
			}
			out = append(out, b.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

var truthSeeds = flag.Int("truth-seeds", 4, "random clusters TestTruthMatchesEngine checks")

// The engine (engine/move, raw output) reads the generator's backups as
// the truth says, at ONE, LOCAL_QUORUM and ALL: the default cluster in
// both layouts, and random clusters (-truth-seeds N for more).
func TestTruthMatchesEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	for seed := int64(1); seed <= int64(2+*truthSeeds); seed++ {
		o := cluster.Options{Mutations: 500}
		switch {
		case seed == 2:
			o.Layout = backup.Priam
		case seed > 2:
			o = cluster.RandomOptions(seed)
		}
		c, err := cluster.Random(seed, o)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		st, _ := objstore.Open(ctx, "file://"+dir, objstore.Settings{})
		infos, err := c.Upload(ctx, st, cluster.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range []string{"LOCAL_QUORUM", "ALL", "ONE"} {
			src, err := move.Open(ctx, move.Job{Store: "file://" + dir, Keyspace: c.Keyspace(), Consistency: cl, Parallelism: 2,
				AsOf: infos[len(infos)-1].SnapshotTime, CacheDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			lvl, _ := ring.ParseConsistency(cl)
			for _, name := range c.Tables() {
				tr, err := c.Truth(cluster.Query{Table: name, Consistency: lvl})
				if err != nil {
					t.Fatal(err)
				}
				sc, _ := tr.ArrowSchema(false)
				esc, err := src.Schema(name)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range sc.Fields() {
					idx := esc.FieldIndices(f.Name)
					if len(idx) != 1 || !arrow.TypeEqual(esc.Field(idx[0]).Type, f.Type) {
						t.Logf("seed %d %s.%s: truth %s, engine %v", seed, name, f.Name, f.Type, esc.Field(idx[0]).Type)
					}
				}
				want := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return tr.Records(false, 100, f) })
				got := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return src.Scan(ctx, name, f) })
				if !slices.Equal(want, got) {
					n := 0
					for _, w := range want {
						if !slices.Contains(got, w) && n < 3 {
							t.Logf("  only in truth: %s", w)
							n++
						}
					}
					n = 0
					for _, g := range got {
						if !slices.Contains(want, g) && n < 3 {
							t.Logf("  only in engine: %s", g)
							n++
						}
					}
					t.Errorf("seed %d %s %s: truth %d rows, engine %d", seed, cl, name, len(want), len(got))
				}
			}
			src.Close()
		}
		// legacy emulation: one node read from its previous backup, TTLs
		// expired two days after the snapshot
		last := infos[len(infos)-1]
		stale := last.Nodes[0].Node // an initial node: it has a previous backup
		ref := last.SnapshotTime.Add(48 * time.Hour)
		src, err := move.Open(ctx, move.Job{Store: "file://" + dir, Keyspace: c.Keyspace(), Consistency: "ONE", Parallelism: 2,
			AsOf: last.SnapshotTime, CacheDir: t.TempDir(), PreviousBackupNodes: []string{stale}, TTLReference: ref})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range c.Tables() {
			tr, err := c.Truth(cluster.Query{Table: name, Consistency: ring.One, NodeRounds: map[string]int{stale: last.Round - 1}, TTLReference: ref})
			if err != nil {
				t.Fatal(err)
			}
			sc, _ := tr.ArrowSchema(false)
			want := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return tr.Records(false, 100, f) })
			got := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return src.Scan(ctx, name, f) })
			if !slices.Equal(want, got) {
				t.Errorf("seed %d previous backup of %s, TTL reference %v, %s: truth %d rows, engine %d", seed, stale, ref, name, len(want), len(got))
			}
		}
		src.Close()
	}
}

// The engine reads the backup of the real legacy fixtures
// (ByteOrderedPartitioner) as their golden dumps say.
func TestLegacyBackupThroughEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, _ := objstore.Open(ctx, "file://"+dir, objstore.Settings{})
	root := os.DirFS("../sstable/testdata/legacy-sstables")
	info, tables, err := cluster.LegacyBackup(ctx, st, root, cluster.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := move.Open(ctx, move.Job{Store: "file://" + dir, Keyspace: cluster.LegacyKeyspace, Parallelism: 2, AsOf: info.SnapshotTime, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, lt := range tables {
		tr, err := cluster.LegacyTruth(root, lt)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := tr.ArrowSchema(false)
		want := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return tr.Records(false, 100, f) })
		got := rowsOf(t, sc, func(f func(arrow.RecordBatch) error) error { return src.Scan(ctx, lt.Name, f) })
		if len(want) == 0 || !slices.Equal(want, got) {
			t.Errorf("%s: truth %d rows, engine %d", lt.Name, len(want), len(got))
		}
	}
}

// The demo's truth, exported to Parquet, diffs clean against the engine's
// output (provenance columns included) with diff/, keyed by the primary
// key; the truth of a stale read does not.
func TestDemoDiffsCleanAgainstEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	dir := t.TempDir()
	c, infos, err := cluster.Demo(ctx, 11, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	last := infos[len(infos)-1]
	src, err := move.Open(ctx, move.Job{Store: "file://" + filepath.Join(dir, "store"), Keyspace: c.Keyspace(), Parallelism: 2,
		AsOf: last.SnapshotTime, Provenance: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, name := range c.Tables() {
		key, err := src.Key(name)
		if err != nil {
			t.Fatal(err)
		}
		engineRows := func() diff.Source {
			sc, err := src.Schema(name)
			if err != nil {
				t.Fatal(err)
			}
			var recs []arrow.RecordBatch
			if err := src.Scan(ctx, name, func(r arrow.RecordBatch) error { recs = append(recs, r); return nil }); err != nil {
				t.Fatal(err)
			}
			rdr, err := array.NewRecordReader(sc, recs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				r.Release()
			}
			return diff.Records("engine:"+name, rdr)
		}
		for _, q := range []struct {
			label string
			q     cluster.Query
			clean bool
		}{
			{"latest", cluster.Query{Table: name}, true},
			{"stale", cluster.Query{Table: name, Round: last.Round - 1}, false},
		} {
			tr, err := c.Truth(q.q)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, name+"-"+q.label+".parquet")
			if err := tr.WriteParquet(p, true); err != nil {
				t.Fatal(err)
			}
			opts := diff.Options{Key: key, TempDir: t.TempDir(), Memory: 64 << 20}
			if !q.clean {
				opts.Rules.Ignore = []string{cluster.ColSnapshotTime}
			}
			rep, err := diff.Run(ctx, diff.Parquet(p), engineRows(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Clean != q.clean || rep.LegacyRows != int64(len(tr.Rows)) {
				t.Errorf("%s %s: clean %v (want %v), truth %d rows, engine %d, only in truth %d, only in engine %d, differing %v",
					name, q.label, rep.Clean, q.clean, rep.LegacyRows, rep.NewRows, rep.OnlyInLegacy, rep.OnlyInNew, rep.DifferingColumns)
			}
		}
	}
}
