package move_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	itable "github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/diff"
	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cluster"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// diffTables runs the diff package on two Iceberg tables of cat, keyed.
func diffTables(t testing.TB, cat *lake.Catalog, legacy, newer string, key []string) *diff.Report {
	t.Helper()
	ctx := context.Background()
	open := func(name string) diff.Source {
		tbl, snap, err := cat.LoadTable(ctx, ref(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return diff.Iceberg("iceberg:"+name, tbl, snap)
	}
	rep, err := diff.Run(ctx, open(legacy), open(newer), diff.Options{Key: key, TempDir: t.TempDir(), Workers: 2, Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// canonical reads an Iceberg table back as sorted lines, one per row: the
// columns by name with their values as Arrow prints them. Two tables with
// the same lines hold the same multiset of rows.
func canonical(t testing.TB, cat *lake.Catalog, name string, skip map[string]bool) []string {
	t.Helper()
	var out []string
	readBatches(t, cat, name, func(rec arrow.RecordBatch) {
		fields := rec.Schema().Fields()
		idx := make([]int, 0, len(fields))
		for i, f := range fields {
			if !skip[f.Name] {
				idx = append(idx, i)
			}
		}
		sort.Slice(idx, func(a, b int) bool { return fields[idx[a]].Name < fields[idx[b]].Name })
		for r := range int(rec.NumRows()) {
			var b strings.Builder
			for _, i := range idx {
				fmt.Fprintf(&b, "%s=%s;", fields[i].Name, rec.Column(i).ValueStr(r))
			}
			out = append(out, b.String())
		}
	})
	sort.Strings(out)
	return out
}

// TestClusterEndToEnd: the simulated cluster (every kind of write, replicas
// that missed writes, TTLs, every deletion, schema changes) uploaded to a
// real S3 server as Medusa and as Priam; the engine's output equals the
// generator's independent truth exactly, for every table, at several
// consistency levels, with provenance columns, and in legacy emulation.
func TestClusterEndToEnd(t *testing.T) {
	ctx := context.Background()
	srv := backupsBucket(t)
	for _, layout := range []backup.Layout{backup.Medusa, backup.Priam} {
		t.Run(string(layout), func(t *testing.T) {
			c, err := cluster.Random(11, cluster.Options{Layout: layout, Mutations: 3000})
			if err != nil {
				t.Fatal(err)
			}
			uri := "s3://backups/" + string(layout)
			st, err := objstore.Open(ctx, uri, objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
			if err != nil {
				t.Fatal(err)
			}
			bs, err := c.Upload(ctx, st, cluster.UploadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			last := bs[len(bs)-1]
			cat := openLake(t)
			s3 := lake.S3{Endpoint: srv.Endpoint, PathStyle: true}
			cases := []struct {
				name       string
				cl         ring.Consistency
				clName     string
				provenance bool
				legacy     bool
			}{
				{"local_quorum", ring.LocalQuorum, "", true, false},
				{"one", ring.One, "ONE", false, false},
				{"all", ring.All, "ALL", false, false},
				{"legacy", ring.One, "ONE", false, true},
			}
			differs := 0
			defer func() {
				// The check can fail: reading at ALL is not what the
				// truth at ONE says, for some table at least.
				if !t.Failed() && differs == 0 {
					t.Errorf("the diff found ALL equal to the truth at ONE for every table")
				}
			}()
			for _, tb := range c.Tables() {
				for _, tc := range cases {
					job := move.Job{Store: uri, S3: s3, Cluster: c.Keyspace(), Keyspace: c.Keyspace(), Table: tb, Consistency: tc.clName, Provenance: tc.provenance, AsOf: last.SnapshotTime}
					if layout == backup.Medusa {
						job.Cluster = ""
					}
					q := cluster.Query{Table: tb, Consistency: tc.cl}
					if tc.legacy {
						stale := last.Nodes[0].Node
						job.TTLReference = last.SnapshotTime.Add(5 * 3600e9)
						job.PreviousBackupNodes = []string{stale}
						q.TTLReference = job.TTLReference
						q.NodeRounds = map[string]int{stale: last.Round - 1}
					}
					name := fmt.Sprintf("m.%s_%s", tb, tc.name)
					res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, name)}, nil)
					if err != nil {
						t.Fatalf("%s %s: %v", tb, tc.name, err)
					}
					truth, err := c.Truth(q)
					if err != nil {
						t.Fatal(err)
					}
					if res.Backup != truth.BackupID || !res.SnapshotTime.Equal(truth.SnapshotTime) {
						t.Errorf("%s: engine read backup %s at %s, truth is of %s at %s", name, res.Backup, res.SnapshotTime, truth.BackupID, truth.SnapshotTime)
					}
					tname := fmt.Sprintf("truth.%s_%s", tb, tc.name)
					if err := truth.WriteIceberg(ctx, cat, itable.Identifier{"truth", tb + "_" + tc.name}, tc.provenance); err != nil {
						t.Fatal(err)
					}
					got, want := canonical(t, cat, name, nil), canonical(t, cat, tname, nil)
					if len(want) == 0 {
						t.Errorf("%s: the truth is empty: the test proves nothing", name)
					}
					sameRows(t, fmt.Sprintf("%s %s (%s)", layout, tb, tc.name), got, want)
					// And the diff (contracts §1) finds them equal.
					rep := diffTables(t, cat, tname, name, res.Key)
					if tc.name == "all" {
						if r := diffTables(t, cat, fmt.Sprintf("truth.%s_one", tb), name, res.Key); !r.Clean {
							differs++
						}
					}
					if !rep.Clean || rep.LegacyRows != int64(len(want)) || rep.NewRows != res.Rows {
						t.Errorf("%s: diff against the truth: %d legacy (truth) rows, %d new, only_in_legacy %d, only_in_new %d",
							name, rep.LegacyRows, rep.NewRows, rep.OnlyInLegacy, rep.OnlyInNew)
					}
				}
			}
		})
	}
}
