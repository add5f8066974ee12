package systemschema_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/systemschema"
)

// view is what a schema read from system_schema must keep of the CQL one.
type colView struct {
	Name, Type string
	Kind       schema.Kind
	Order      schema.Order
	Index      int
}
type tableView struct {
	Name       string
	Columns    []colView
	DefaultTTL int64
	GCGrace    int64
	ID         string
	Compact    bool
	Dropped    []schema.DroppedColumn
}
type ksView struct {
	Name    string
	Class   string
	Factor  int
	DCs     map[string]int
	Durable bool
	Types   []schema.Type
	Tables  []tableView
}

func view(s *schema.Schema) []ksView {
	var out []ksView
	for _, ks := range s.Keyspaces {
		v := ksView{Name: ks.Name, Class: ks.Replication.Class, Factor: ks.Replication.Factor, DCs: ks.Replication.DCFactors, Durable: ks.DurableWrites}
		for _, ty := range ks.Types {
			v.Types = append(v.Types, schema.Type{Keyspace: ty.Keyspace, Name: ty.Name, Fields: ty.Fields})
		}
		sort.Slice(v.Types, func(i, j int) bool { return v.Types[i].Name < v.Types[j].Name })
		if len(v.DCs) == 0 {
			v.DCs = nil
		}
		for _, t := range ks.Tables {
			gc := t.GCGraceSeconds
			if gc < 0 {
				gc = 864000
			}
			tv := tableView{Name: t.Name, DefaultTTL: t.DefaultTTL, GCGrace: gc, ID: t.ID, Compact: t.CompactStorage, Dropped: t.Dropped}
			if len(tv.Dropped) == 0 {
				tv.Dropped = nil
			}
			for _, c := range t.Columns {
				tv.Columns = append(tv.Columns, colView{c.Name, c.Type, c.Kind, c.Order, c.Index})
			}
			// system_schema keeps no declaration order for non-key columns.
			sort.SliceStable(tv.Columns, func(i, j int) bool {
				a, b := tv.Columns[i], tv.Columns[j]
				ka, kb := a.Kind == schema.PartitionKey || a.Kind == schema.Clustering, b.Kind == schema.PartitionKey || b.Kind == schema.Clustering
				if ka != kb {
					return ka
				}
				if ka {
					return false
				}
				return a.Name < b.Name
			})
			v.Tables = append(v.Tables, tv)
		}
		sort.Slice(v.Tables, func(i, j int) bool { return v.Tables[i].Name < v.Tables[j].Name })
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func files(t *testing.T, byTable map[string][]string) []backup.File {
	t.Helper()
	var out []backup.File
	for table, paths := range byTable {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, backup.File{Keyspace: systemschema.Keyspace, Table: table, Name: filepath.Base(p), Data: b})
		}
	}
	return out
}

// TestPriamRoundTrip writes a schema as system_schema SSTables (two flushes:
// the second drops a table), uploads them as a Priam backup, and decodes the
// schema back through the backup catalog.
func TestPriamRoundTrip(t *testing.T) {
	ctx := context.Background()
	want, err := schema.ParseFile("testdata/schema.cql")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	dir := t.TempDir()
	gen1, err := systemschema.Write(filepath.Join(dir, "1"), want, ts, &sstable.WriterOptions{Generation: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A later flush drops legacy.hits: a row deletion in tables, a range
	// deletion of its columns.
	drop := ts + 1000
	var gen2 = map[string][]string{}
	for _, name := range []string{"tables", "columns"} {
		sc, _ := systemschema.SSTableSchema(name)
		b, _ := sstable.NewBuilder(sc)
		if name == "tables" {
			b.Partition("legacy").Row("hits").Delete(drop)
		} else {
			b.Partition("legacy").DeleteRange(sstable.RangeBound{Values: []any{"hits"}}, sstable.RangeBound{Values: []any{"hits"}}, drop)
		}
		d := filepath.Join(dir, "2", name)
		os.MkdirAll(d, 0o755)
		paths, err := b.WriteTo(d, &sstable.WriterOptions{Generation: 2})
		if err != nil {
			t.Fatal(err)
		}
		gen2[name] = paths
	}
	st := file.New(t.TempDir(), objstore.Settings{})
	w := &backup.PriamWriter{Store: st, App: "app"}
	snap := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	up := backup.NodeUpload{Node: ring.Node{Name: "n1", DC: "us-east-1", Rack: "a", Tokens: []int64{0}}, Time: snap,
		Files: append(files(t, gen1), files(t, gen2)...)}
	if err := w.WriteNode(ctx, up); err != nil {
		t.Fatal(err)
	}
	cat, err := backup.Open(ctx, st, backup.Options{Cluster: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	b, _, err := cat.Pick(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	s, src, err := cat.LoadSchema(ctx, b, "")
	if err != nil || s != nil || src.Kind != "system_schema" {
		t.Fatalf("LoadSchema = %v, %+v, %v; want a system_schema source", s, src, err)
	}
	got, err := systemschema.Load(ctx, cat, src, snap.Unix())
	if err != nil {
		t.Fatal(err)
	}
	want.Keyspace("legacy").Tables = slicesDelete(want.Keyspace("legacy").Tables, "hits")
	if g, w := view(got), view(want); !reflect.DeepEqual(g, w) {
		t.Errorf("decoded schema differs:\n got %+v\nwant %+v", g, w)
	}
	// The decoded schema is usable by the engine.
	for _, ks := range got.Keyspaces {
		for _, tb := range ks.Tables {
			if _, err := compaction.NewTable(ks, tb); err != nil {
				t.Errorf("%s.%s: %v", ks.Name, tb.Name, err)
			}
		}
	}
}

func slicesDelete(ts []*schema.Table, name string) []*schema.Table {
	var out []*schema.Table
	for _, t := range ts {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := systemschema.Decode(ctx, nil, 0); !errors.Is(err, systemschema.ErrSchema) {
		t.Errorf("no tables: %v", err)
	}
	// A keyspace without a replication class.
	dir := t.TempDir()
	sc, _ := systemschema.SSTableSchema("keyspaces")
	b, _ := sstable.NewBuilder(sc)
	b.Partition("ks").Row().Insert(1, 0).Set("replication", map[string]string{"x": "1"}, 1, 0)
	paths, err := b.WriteTo(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sstable.OpenPath(ctx, paths[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sc2, _ := systemschema.SSTableSchema("tables")
	b2, _ := sstable.NewBuilder(sc2)
	b2.Partition("ks").Row("t").Insert(1, 0)
	dir2 := t.TempDir()
	p2, err := b2.WriteTo(dir2, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := sstable.OpenPath(ctx, p2[0], nil)
	defer r2.Close()
	_, err = systemschema.Decode(ctx, map[string][]compaction.Input{"keyspaces": {{Reader: r}}, "tables": {{Reader: r2}}}, 10)
	if !errors.Is(err, systemschema.ErrSchema) {
		t.Errorf("no class: %v", err)
	}
	if _, err := systemschema.SSTableSchema("nope"); !errors.Is(err, systemschema.ErrSchema) {
		t.Errorf("unknown table: %v", err)
	}
}

// FuzzDecode writes system_schema rows with arbitrary kinds, positions,
// types, flags and replication, and decodes them: the decoder returns a
// schema or an error wrapping ErrSchema, and never panics.
func FuzzDecode(f *testing.F) {
	f.Add("k", "t", "pk", "partition_key", int32(0), "int", "v", "regular", int32(-1), "text", "compound", "SimpleStrategy", "1")
	f.Add("k", "t", "pk", "clustering", int32(3), "frozen<list<int>>", "v", "static", int32(-1), "empty", "dense", "NetworkTopologyStrategy", "x")
	f.Add("", "", "", "bogus", int32(-5), "", "", "", int32(0), "map<", "", "", "")
	f.Fuzz(func(t *testing.T, ks, tb, c1, k1 string, p1 int32, t1, c2, k2 string, p2 int32, t2, flag, class, rf string) {
		ctx := context.Background()
		build := func(name string, fill func(b *sstable.Builder)) compaction.Input {
			sc, err := systemschema.SSTableSchema(name)
			if err != nil {
				t.Fatal(err)
			}
			b, err := sstable.NewBuilder(sc)
			if err != nil {
				t.Fatal(err)
			}
			fill(b)
			dir := t.TempDir()
			paths, err := b.WriteTo(dir, nil)
			if err != nil {
				t.Skip(err) // a value the writer itself refuses
			}
			r, err := sstable.OpenPath(ctx, paths[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return compaction.Input{Reader: r}
		}
		in := map[string][]compaction.Input{
			"keyspaces": {build("keyspaces", func(b *sstable.Builder) {
				b.Partition(ks).Row().Insert(1, 0).Set("replication", map[string]string{"class": class, "replication_factor": rf}, 1, 0)
			})},
			"tables": {build("tables", func(b *sstable.Builder) {
				b.Partition(ks).Row(tb).Insert(1, 0).Set("flags", []string{flag}, 1, 0)
			})},
			"columns": {build("columns", func(b *sstable.Builder) {
				b.Partition(ks).Row(tb, c1).Insert(1, 0).Set("kind", k1, 1, 0).Set("position", p1, 1, 0).Set("type", t1, 1, 0)
				b.Partition(ks).Row(tb, c2).Insert(1, 0).Set("kind", k2, 1, 0).Set("position", p2, 1, 0).Set("type", t2, 1, 0)
			})},
		}
		s, err := systemschema.Decode(ctx, in, 10)
		if err != nil {
			if !errors.Is(err, systemschema.ErrSchema) {
				t.Fatalf("error %v does not wrap ErrSchema", err)
			}
			return
		}
		for _, k := range s.Keyspaces {
			for _, x := range k.Tables {
				compaction.NewTable(k, x) // may refuse the types; must not panic
			}
		}
	})
}
