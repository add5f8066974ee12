package rows_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/rows"
	"github.com/cassmove/shadow/engine/rows/rowstest"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

const now = rowstest.Now

// batches merges inputs into record batches.
func batches(t testing.TB, tb *compaction.Table, in []compaction.Input, opts rows.Options) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	sc, err := rows.Schema(tb, opts)
	if err != nil {
		t.Fatal(err)
	}
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := rows.NewBatcher(tb, as, opts, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Release()
	m, err := compaction.NewMerger(context.Background(), tb, in, compaction.Options{NowSec: now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []arrow.RecordBatch
	for m.Next() {
		if err := bt.Append(m.Row()); err != nil {
			t.Fatal(err)
		}
		if bt.Full() {
			out = append(out, bt.Flush())
		}
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	if r := bt.Flush(); r != nil {
		out = append(out, r)
	}
	return as, out
}

// TestAllTypes maps one row of every CQL type and checks every Arrow value.
func TestAllTypes(t *testing.T) {
	tb := rowstest.AllTypes(t)
	opts := rows.Options{Provenance: true, SnapshotTime: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}
	as, recs := batches(t, tb, rowstest.WriteAllTypes(t, tb), opts)
	if len(recs) != 1 || recs[0].NumRows() != 2 {
		t.Fatalf("got %d batches, want 1 of 2 rows", len(recs))
	}
	rec := recs[0]
	defer rec.Release()
	// the row of partition ("key", 7) comes first or second by token
	full := 0
	if rec.Column(0).ValueStr(0) != "key" {
		full = 1
	}
	for i, f := range as.Fields() {
		want, ok := rowstest.Want[f.Name]
		if !ok {
			t.Errorf("unexpected column %s", f.Name)
			continue
		}
		if got := rec.Column(i).ValueStr(full); got != want {
			t.Errorf("column %s (%s): got %s, want %s", f.Name, f.Type, got, want)
		}
	}
	// the static-only row: clustering and regular columns null
	so := 1 - full
	for i, f := range as.Fields() {
		v := rec.Column(i).ValueStr(so)
		switch f.Name {
		case "k1":
			if v != "static-only" {
				t.Errorf("static row k1 %s", v)
			}
		case "k2", "s", "_writetime", "_snapshot_time":
			if v == "(null)" {
				t.Errorf("static row %s is null", f.Name)
			}
		default:
			if v != "(null)" {
				t.Errorf("static row %s = %s, want null", f.Name, v)
			}
		}
	}
}

func TestSchemaNames(t *testing.T) {
	sc, err := rows.Schema(rowstest.AllTypes(t), rows.Options{Provenance: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	got := strings.Join(names, ",")
	want := "k1,k2,ck,s,a,bi,bl,bo,da,de,do,du,fl,ine,i,si,ti,ts,tu,ty,u,vc,vi,l,st,m,fl2,tup,ad,fad,vec,mu,_writetime,_ttl_expires_at,_snapshot_time"
	if got != want {
		t.Errorf("columns\n got %s\nwant %s", got, want)
	}
}

// TestVarintTooWide: a varint of 38 digits does not fit decimal(38, 0).
func TestVarintTooWide(t *testing.T) {
	s, _ := schema.Parse("v.cql", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\nCREATE TABLE ks.v (k int PRIMARY KEY, v varint);")
	tb, err := compaction.NewTable(s.Keyspace("ks"), s.Keyspace("ks").Tables[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sstable.NewBuilder(tb.SSTableSchema())
	big38, _ := new(big.Int).SetString("1"+strings.Repeat("0", 38), 10)
	b.Partition(1).Row().Set("v", big38, 1, 0)
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, &sstable.WriterOptions{Partitioner: token.Murmur3Partitioner{}}); err != nil {
		t.Fatal(err)
	}
	r, _ := sstable.OpenPath(context.Background(), dir, nil)
	defer r.Close()
	sc, _ := rows.Schema(tb, rows.Options{})
	as, _ := table.SchemaToArrowSchema(sc, nil, true, false)
	bt, _ := rows.NewBatcher(tb, as, rows.Options{}, nil)
	defer bt.Release()
	m, _ := compaction.NewMerger(context.Background(), tb, []compaction.Input{{Reader: r}}, compaction.Options{NowSec: now})
	defer m.Close()
	if !m.Next() {
		t.Fatal("no row")
	}
	err = bt.Append(m.Row())
	if !errors.Is(err, rows.ErrUnsupported) || !strings.Contains(err.Error(), "column v") {
		t.Errorf("got %v, want ErrUnsupported naming column v", err)
	}
	_ = array.NewBuilder
}

// TestEmptyText: the empty string in a partition key component, a clustering
// column and a regular column stays empty, never null; a null column stays null.
func TestEmptyText(t *testing.T) {
	s, _ := schema.Parse("e.cql", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\nCREATE TABLE ks.e (a text, b text, c text, v text, w text, s text static, PRIMARY KEY ((a, b), c));")
	tb, err := compaction.NewTable(s.Keyspace("ks"), s.Keyspace("ks").Tables[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sstable.NewBuilder(tb.SSTableSchema())
	b.Partition("", "x").Static().Set("s", "", 1, 0)
	b.Partition("", "x").Row("").Insert(1, 0).Set("v", "", 1, 0)
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	r, err := sstable.OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, bs := batches(t, tb, []compaction.Input{{Reader: r}}, rows.Options{})
	if len(bs) != 1 || bs[0].NumRows() != 1 {
		t.Fatalf("batches %v", bs)
	}
	rec := bs[0]
	defer rec.Release()
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		wantNull := f.Name == "w"
		if col.IsNull(0) != wantNull {
			t.Errorf("column %s: null %v, want %v", f.Name, col.IsNull(0), wantNull)
		}
		if !wantNull && f.Name != "b" && col.(*array.String).Value(0) != "" {
			t.Errorf("column %s = %q, want ''", f.Name, col.(*array.String).Value(0))
		}
	}
}
