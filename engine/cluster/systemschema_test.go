package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/sstable"
)

// The system_schema SSTables a Priam node backs up describe the same
// columns, kinds and types as schema.cql, and follow schema changes.
func TestPriamSystemSchema(t *testing.T) {
	c, err := Random(3, Options{Layout: backup.Priam, Mutations: 200,
		AddColumn: []ColumnChange{{Table: "users", Column: ColumnSpec{Name: "nickname", Type: "text"}, AfterRound: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	cache := newSSTCache(c, t.TempDir())
	for ri, rd := range c.rounds {
		files, err := c.systemSchemaFiles(cache, rd.snaps[0])
		if err != nil {
			t.Fatal(err)
		}
		var data string
		tables := map[string]bool{}
		for _, f := range files {
			tables[f.Table] = true
			if f.Table == "columns" && strings.HasSuffix(f.Name, "-Data.db") {
				data = filepath.Join(cache.dir, rd.snaps[0].node.Name, "system_schema", f.TableDir(), f.Name)
			}
		}
		for _, want := range []string{"keyspaces", "tables", "columns", "types"} {
			if !tables[want] {
				t.Errorf("round %d: no system_schema.%s", ri+1, want)
			}
		}
		got := map[string]string{} // table.column -> kind type
		ctx := context.Background()
		r, err := sstable.OpenPath(ctx, data, nil)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := r.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for sc.NextPartition() {
			if string(sc.Partition().Key) != c.keyspace {
				t.Errorf("partition %q", sc.Partition().Key)
			}
			for sc.Next() {
				u := sc.Unfiltered()
				vals := map[string]string{}
				for _, cd := range u.Row.Columns {
					vals[cd.Column.Name] = string(cd.Cells[0].Value)
				}
				got[string(u.Row.Clustering[0])+"."+string(u.Row.Clustering[1])] = vals["kind"] + " " + vals["type"]
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		sc.Close()
		r.Close()
		want := map[string]string{}
		for _, tb := range c.tables {
			for _, col := range tb.cols {
				if col.added <= rd.schema {
					want[tb.name+"."+col.name] = col.kind.String() + " " + cqlTypeName(col.t)
				}
			}
		}
		if len(got) != len(want) {
			t.Errorf("round %d: %d columns, want %d", ri+1, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("round %d: %s = %q, want %q", ri+1, k, got[k], w)
			}
		}
		_, hasNick := got["users.nickname"]
		if hasNick != (ri > 0) {
			t.Errorf("round %d: users.nickname present = %v", ri+1, hasNick)
		}
	}
}
