package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/rows"
	"github.com/cassmove/shadow/engine/rows/rowstest"
	"github.com/cassmove/shadow/engine/sink"
)

// TestRoundTripAllTypes writes a row of every CQL type through the type
// mapping into a real Iceberg table (iceberg-go, SQLite catalog, Parquet)
// and reads it back: every value must come back as it went in.
func TestRoundTripAllTypes(t *testing.T) {
	ctx := context.Background()
	tb := rowstest.AllTypes(t)
	opts := rows.Options{Provenance: true, SnapshotTime: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}
	sc, err := rows.Schema(tb, opts)
	if err != nil {
		t.Fatal(err)
	}
	cat := openCatalog(t)
	ref, _ := lake.ParseTableRef("types.all")
	w, err := sink.Open(ctx, cat, ref, sc, sink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bt, err := rows.NewBatcher(tb, w.ArrowSchema(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Release()
	m, err := compaction.NewMerger(ctx, tb, rowstest.WriteAllTypes(t, tb), compaction.Options{NowSec: rowstest.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for m.Next() {
		if err := bt.Append(m.Row()); err != nil {
			t.Fatal(err)
		}
	}
	rec := bt.Flush()
	if err := w.Write(ctx, seq(rec)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tbl, _, err := cat.LoadTable(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	if at.NumRows() != 2 {
		t.Fatalf("%d rows read back, want 2", at.NumRows())
	}
	tr := array.NewTableReader(at, 10)
	defer tr.Release()
	tr.Next()
	got := tr.RecordBatch()
	full := 0
	if got.Column(0).ValueStr(0) != "key" {
		full = 1
	}
	for i, f := range got.Schema().Fields() {
		want := rowstest.Want[f.Name]
		if v := got.Column(i).ValueStr(full); v != want {
			t.Errorf("column %s (%s): read back %s, want %s", f.Name, f.Type, v, want)
		}
		if w := w.ArrowSchema().Field(i).Type; !arrow.TypeEqual(w, f.Type) {
			t.Errorf("column %s: read back as %s, written as %s", f.Name, f.Type, w)
		}
	}
}
