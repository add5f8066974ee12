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

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/sstable"
)

const moveDDL = `CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;
CREATE TABLE shop.orders (id text, line int, item text, qty bigint, PRIMARY KEY (id, line)) WITH ID = 6a1c395e-b41f-11e5-9f22-ba0be0483c18;
`

// moveStore uploads one Medusa backup of a 3-node cluster whose replicas
// disagree: node3 missed the last update, node1 missed a deletion.
func moveStore(t *testing.T, st objstore.Store) {
	t.Helper()
	ctx := context.Background()
	text, bigint, integer := cql.Simple(cql.KindText), cql.Simple(cql.KindBigint), cql.Simple(cql.KindInt)
	sc := &sstable.Schema{Keyspace: "shop", Table: "orders",
		PartitionKey: []sstable.ColumnDef{{Name: "id", Type: text}}, Clustering: []sstable.ColumnDef{{Name: "line", Type: integer}},
		Regular: []sstable.ColumnDef{{Name: "item", Type: text}, {Name: "qty", Type: bigint}}}
	ts := backupDay.Add(-time.Hour).UnixMicro()
	nodes := []ring.Node{
		{Name: "node1.example.com", DC: "dc1", Rack: "r1", Tokens: []int64{-6000000000000000000, 0}},
		{Name: "node2.example.com", DC: "dc1", Rack: "r2", Tokens: []int64{-3000000000000000000, 3000000000000000000}},
		{Name: "node3.example.com", DC: "dc1", Rack: "r3", Tokens: []int64{-1000000000000000000, 6000000000000000000}},
	}
	w := &backup.MedusaWriter{Store: st, Schema: moveDDL, Ring: nodes}
	for i, n := range nodes {
		b, err := sstable.NewBuilder(sc)
		if err != nil {
			t.Fatal(err)
		}
		for o := range 20 {
			id := fmt.Sprintf("order-%02d", o)
			for line := range 3 {
				b.Partition(id).Row(line).Insert(ts, 0).Set("item", fmt.Sprintf("item-%d", line), ts, 0).Set("qty", int64(o*line), ts, 0)
			}
			if i != 2 {
				b.Partition(id).Row(0).Set("qty", int64(100+o), ts+10, 0)
			}
			if i != 0 && o%5 == 0 {
				b.Partition(id).Row(2).Delete(ts + 20)
			}
		}
		dir := t.TempDir()
		paths, err := b.WriteTo(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		var files []backup.File
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, backup.File{Keyspace: "shop", Table: "orders", TableID: "6a1c395eb41f11e59f22ba0be0483c18", Name: filepath.Base(p), Data: data})
		}
		if err := w.WriteNode(ctx, "2026-11-20", backup.NodeUpload{Node: n, Time: backupDay.Add(time.Duration(i) * time.Minute), Files: files}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMoveGolden(t *testing.T) {
	dir, uri := fileStore(t, moveStore)
	work := t.TempDir()
	catalog := []string{"--catalog", "sqlite:" + filepath.Join(work, "catalog.db"), "--warehouse", "file://" + filepath.Join(work, "wh")}
	base := []string{"move", "--store", uri, "--keyspace", "shop", "--table", "orders", "--parallelism", "2", "--memory", "256MiB"}
	scrub := []string{regexp.QuoteMeta(dir), "STORE", regexp.QuoteMeta(work), "WORK", `snapshot [0-9]+`, "snapshot ID", `"snapshot_id": -?[0-9]+`, `"snapshot_id": ID`,
		`wrote [0-9]+ data files, [0-9.]+ [KMG]?i?B`, "wrote N data files, SIZE", `"(output_bytes|data_files)": [0-9]+`, `"$1": N`,
		`"(catalog|schema|plan|move|commit)": [0-9.e-]+`, `"$1": SECONDS`}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"plan", append(base, "--plan"), 0},
		{"plan-json", append(base, "--plan", "--json", "--consistency", "ONE"), 0},
		{"move", append(append(base, "--to", "iceberg:shop.orders"), catalog...), 0},
		{"move-json", append(append(base, "--to", "iceberg:shop.orders_all", "--consistency", "ALL", "--json"), catalog...), 0},
		{"move-overwrite", append(append(base, "--to", "iceberg:shop.orders", "--mode", "overwrite", "--ttl-reference", "2026-11-21"), catalog...), 0},
		{"bad-missing-flags", []string{"move", "--store", uri}, 2},
		{"bad-to", append(base, "--to", "parquet:x/*.parquet"), 2},
		{"bad-consistency", append(append(base, "--to", "iceberg:a.b", "--consistency", "TWO"), catalog...), 2},
		{"bad-keyspace", append([]string{"move", "--store", uri, "--keyspace", "nope", "--table", "orders", "--to", "iceberg:a.b"}, catalog...), 2},
		{"bad-as-of", append(append(base, "--to", "iceberg:a.b", "--as-of", "2026-01-01"), catalog...), 2},
		{"bad-memory", append(base, "--plan", "--memory", "lots"), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, work, c.args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			golden(t, "move/"+c.name, transcript(r), scrub...)
		})
	}
	// The rows: LOCAL_QUORUM reads node1 and node2 (racks r1, r2): the
	// update is everywhere there, node2 has the deletions.
	r := runShadow(t, work, append([]string{"move", "--store", uri, "--keyspace", "shop", "--table", "orders", "--to", "iceberg:shop.check", "--json"}, catalog...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"rows": 56`) {
		t.Errorf("LOCAL_QUORUM rows: %s %s", r.Stdout, r.Stderr)
	}
}
