package lake

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
)

func TestParseTableRef(t *testing.T) {
	cases := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "ns.t", want: "ns.t"},
		{in: "a.b.t", want: "a.b.t"},
		{in: "ns.t@42", want: "ns.t@42"},
		{in: "ns.t@2026-11-24", want: "ns.t@2026-11-24T00:00:00Z"},
		{in: "ns.t@2026-11-24T01:02:03+01:00", want: "ns.t@2026-11-24T00:02:03Z"},
		{in: "t", bad: true},
		{in: "ns.", bad: true},
		{in: ".t", bad: true},
		{in: "ns.t@yesterday", bad: true},
	}
	for _, c := range cases {
		ref, err := ParseTableRef(c.in)
		if c.bad {
			if !errors.Is(err, ErrBadReference) {
				t.Errorf("%q: err %v, want ErrBadReference", c.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if ref.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.in, ref.String(), c.want)
		}
	}
}

func TestOpenCreateAppendTimeTravel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	loc := Location{Catalog: "sqlite:" + filepath.Join(dir, "cat.db"), Warehouse: filepath.Join(dir, "wh")}

	if _, err := Open(ctx, loc, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("opening a missing catalog read-only: err %v, want ErrNotFound", err)
	}
	cat, err := Open(ctx, loc, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if err := cat.CreateNamespace(ctx, catalog.ToIdentifier("ns"), nil); err != nil {
		t.Fatal(err)
	}
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	tbl, err := cat.CreateTable(ctx, catalog.ToIdentifier("ns", "t"), sc)
	if err != nil {
		t.Fatal(err)
	}
	appendRows := func(vals ...int64) {
		t.Helper()
		b := array.NewInt64Builder(memory.DefaultAllocator)
		b.AppendValues(vals, nil)
		col := b.NewArray()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, int64(len(vals)))
		rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		tbl, err = tbl.Append(ctx, rdr, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	appendRows(1, 2)
	first := tbl.CurrentSnapshot()
	time.Sleep(5 * time.Millisecond) // snapshots need distinct milliseconds for as-of lookups
	appendRows(3)

	ref, _ := ParseTableRef("ns.t")
	_, snap, err := cat.LoadTable(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if snap.SnapshotID == first.SnapshotID {
		t.Fatal("current snapshot is still the first one")
	}
	id := first.SnapshotID
	_, snap, err = cat.LoadTable(ctx, TableRef{Namespace: []string{"ns"}, Name: "t", Snapshot: &id})
	if err != nil || snap.SnapshotID != id {
		t.Fatalf("by id: %v %v", snap, err)
	}
	asOf := time.UnixMilli(first.TimestampMs)
	_, snap, err = cat.LoadTable(ctx, TableRef{Namespace: []string{"ns"}, Name: "t", AsOf: &asOf})
	if err != nil || snap.SnapshotID != id {
		t.Fatalf("as of: %v %v", snap, err)
	}
	early := time.Unix(0, 0)
	if _, _, err := cat.LoadTable(ctx, TableRef{Namespace: []string{"ns"}, Name: "t", AsOf: &early}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("as of 1970: err %v, want ErrNotFound", err)
	}
	bad := int64(12345)
	if _, _, err := cat.LoadTable(ctx, TableRef{Namespace: []string{"ns"}, Name: "t", Snapshot: &bad}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad snapshot: err %v, want ErrNotFound", err)
	}
	if _, _, err := cat.LoadTable(ctx, TableRef{Namespace: []string{"ns"}, Name: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing table: err %v, want ErrNotFound", err)
	}
}
