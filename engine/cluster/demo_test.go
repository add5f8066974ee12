package cluster

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/apache/iceberg-go/catalog"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore"
)

func TestDemo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, infos, err := Demo(ctx, 7, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes()) != 6 || len(infos) != 2 {
		t.Fatalf("%d nodes, %d backups", len(c.Nodes()), len(infos))
	}
	st, err := objstore.Open(ctx, "file://"+dir, objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := backup.Open(ctx, st, backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	bs, err := cat.Backups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].ID != infos[1].ID {
		t.Fatalf("catalog backups %v, uploaded %v", bs, infos)
	}
	for _, name := range c.Tables() {
		tr, err := c.Truth(Query{Table: name})
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Rows) < 1500 || len(tr.Rows) > 5000 {
			t.Errorf("%s: %d rows, want a few thousand", name, len(tr.Rows))
		}
		t.Logf("%s: %d rows", name, len(tr.Rows))
		// the Parquet export holds the same rows
		p := filepath.Join(t.TempDir(), name+".parquet")
		if err := tr.WriteParquet(p, true); err != nil {
			t.Fatal(err)
		}
		rdr, err := file.OpenParquetFile(p, false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tbl.NumRows() != int64(len(tr.Rows)) || tbl.NumCols() != int64(len(tr.Columns)+3) {
			t.Errorf("%s: parquet %d rows × %d cols, truth %d × %d+3", name, tbl.NumRows(), tbl.NumCols(), len(tr.Rows), len(tr.Columns))
		}
		want, _ := tr.ArrowSchema(true)
		for i, f := range want.Fields() {
			if got := tbl.Schema().Field(i); got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) {
				t.Errorf("%s: parquet column %d %v, want %v", name, i, got, f)
			}
		}
		tbl.Release()
		rdr.Close()
	}
	// the Iceberg export: one snapshot with every row, the events table's
	// nested types (set, map, list, UDT, tuple) included
	loc := lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "cat.db"), Warehouse: filepath.Join(dir, "wh")}
	lc, err := lake.Open(ctx, loc, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	rc, err := Random(3, Options{Mutations: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range rc.Tables() {
		tr, err := rc.Truth(Query{Table: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.WriteIceberg(ctx, lc, catalog.ToIdentifier("truth", name), true); err != nil {
			t.Fatal(err)
		}
		tbl, err := lc.Catalog.LoadTable(ctx, catalog.ToIdentifier("truth", name))
		if err != nil {
			t.Fatal(err)
		}
		at, err := tbl.Scan().ToArrowTable(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if at.NumRows() != int64(len(tr.Rows)) {
			t.Errorf("iceberg truth.%s: %d rows, want %d", name, at.NumRows(), len(tr.Rows))
		}
		at.Release()
	}
	// deterministic: the same seed, the same truth
	c2, err := Random(7, DemoOptions())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Truth(Query{Table: "orders"})
	b, _ := c2.Truth(Query{Table: "orders"})
	compareTables(t, "same seed", a, b)
}
