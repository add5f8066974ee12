package diff

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore/s3test"
)

var icebergSchema = iceberg.NewSchema(0,
	iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
	iceberg.NestedField{ID: 2, Name: "name", Type: iceberg.PrimitiveTypes.String},
	iceberg.NestedField{ID: 3, Name: "amount", Type: iceberg.DecimalTypeOf(10, 2)},
	iceberg.NestedField{ID: 4, Name: "at", Type: iceberg.PrimitiveTypes.TimestampTz},
)

// appendIDs appends rows lo..hi-1; name and amount derive from the id.
func appendIDs(t *testing.T, ctx context.Context, tbl *table.Table, lo, hi int64) *table.Table {
	t.Helper()
	sc, err := table.SchemaToArrowSchema(icebergSchema, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for id := lo; id < hi; id++ {
		rows = append(rows, fmt.Sprintf(`{"id": %d, "name": "n%d", "amount": "%d.50", "at": "2026-11-24T00:00:%02d.000001Z"}`, id, id%7, id, id%60))
	}
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	tbl, err = tbl.Append(ctx, rdr, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // distinct snapshot milliseconds for as-of lookups
	return tbl
}

func deleteBelow(t *testing.T, ctx context.Context, tbl *table.Table, id int64) *table.Table {
	t.Helper()
	tbl, err := tbl.Delete(ctx, iceberg.LessThan(iceberg.Reference("id"), id), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	return tbl
}

func diffRefs(t *testing.T, loc lake.Location, c, m string, opts Options) *Report {
	t.Helper()
	cs, err := OpenRef(c, loc)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := OpenRef(m, loc)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), cs, ms, opts)
	if err != nil {
		t.Fatalf("%s vs %s: %v", c, m, err)
	}
	return rep
}

// icebergScenario builds two tables over several snapshots: ns.c deletes
// with copy-on-write, ns.m with merge-on-read (position delete files).
func icebergScenario(t *testing.T, loc lake.Location) {
	ctx := context.Background()
	cat, err := lake.Open(ctx, loc, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if err := cat.CreateNamespace(ctx, catalog.ToIdentifier("ns"), nil); err != nil {
		t.Fatal(err)
	}
	c, err := cat.CreateTable(ctx, catalog.ToIdentifier("ns", "c"), icebergSchema)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cat.CreateTable(ctx, catalog.ToIdentifier("ns", "m"), icebergSchema,
		catalog.WithProperties(iceberg.Properties{"format-version": "2", table.WriteDeleteModeKey: table.WriteModeMergeOnRead}))
	if err != nil {
		t.Fatal(err)
	}
	c = appendIDs(t, ctx, c, 1, 101)
	c1 := c.CurrentSnapshot()
	c = appendIDs(t, ctx, c, 101, 151)
	c = deleteBelow(t, ctx, c, 10)
	m = appendIDs(t, ctx, m, 1, 151)
	m = deleteBelow(t, ctx, m, 10)
	var deleteFiles int
	tasks, err := m.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		deleteFiles += len(task.DeleteFiles) + len(task.DeletionVectorFiles)
	}
	if deleteFiles == 0 {
		t.Fatal("the merge-on-read delete wrote no delete file")
	}

	// Current snapshots: the same 141 rows, reached differently.
	rep := diffRefs(t, loc, "iceberg:ns.c", "iceberg:ns.m", Options{Key: []string{"id"}})
	if !rep.Clean || rep.LegacyRows != 141 || rep.NewRows != 141 {
		t.Fatalf("current snapshots: clean %v rows %d/%d", rep.Clean, rep.LegacyRows, rep.NewRows)
	}
	if rep.New.SnapshotID == nil || *rep.New.SnapshotID != m.CurrentSnapshot().SnapshotID || rep.New.FilesRead < 2 {
		t.Fatalf("new side metadata: %+v", rep.New)
	}
	// The first legacy snapshot: ids 1..9 still there, 101..150 not yet.
	first := fmt.Sprintf("iceberg:ns.c@%d", c1.SnapshotID)
	rep = diffRefs(t, loc, first, "iceberg:ns.m", Options{Key: []string{"id"}})
	if rep.OnlyInLegacy != 9 || rep.OnlyInNew != 50 || *rep.Missing != 9 || *rep.Extra != 50 || *rep.Changed != 0 {
		t.Fatalf("first snapshot: only_in_legacy %d only_in_new %d", rep.OnlyInLegacy, rep.OnlyInNew)
	}
	// As of the first snapshot's time: the same snapshot.
	asOf := "iceberg:ns.c@" + time.UnixMilli(c1.TimestampMs).UTC().Format(time.RFC3339Nano)
	rep = diffRefs(t, loc, asOf, first, Options{})
	if !rep.Clean || *rep.Legacy.SnapshotID != c1.SnapshotID {
		t.Fatalf("as-of: clean %v snapshot %v", rep.Clean, rep.Legacy.SnapshotID)
	}
	// The first snapshot of m had rows 1..150; only the deletes differ.
	mh := m.Metadata().Snapshots()
	rep = diffRefs(t, loc, fmt.Sprintf("iceberg:ns.m@%d", mh[0].SnapshotID), "iceberg:ns.m", Options{Memory: 64 << 10})
	if rep.OnlyInLegacy != 9 || rep.OnlyInNew != 0 {
		t.Fatalf("m before and after its delete: only_in_legacy %d only_in_new %d", rep.OnlyInLegacy, rep.OnlyInNew)
	}
	if d := rep.Samples.OnlyInLegacy[0].Legacy.Values; d["amount"] == nil || d["at"] == nil {
		t.Fatalf("sample row: %v", d)
	}
}

func TestIcebergSnapshotsAndDeletes(t *testing.T) {
	dir := t.TempDir()
	icebergScenario(t, lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "cat.db"), Warehouse: "file://" + filepath.Join(dir, "wh")})
}

func TestIcebergOnS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.Setenv(t)
	srv.CreateBucket(t, "lake")
	dir := t.TempDir()
	icebergScenario(t, lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "cat.db"), Warehouse: "s3://lake/wh",
		S3: lake.S3{Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region}})
}

func TestIcebergMissing(t *testing.T) {
	dir := t.TempDir()
	loc := lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "cat.db"), Warehouse: "file://" + filepath.Join(dir, "wh")}
	src, err := OpenRef("iceberg:ns.nope", loc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), src, src, Options{}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing catalog: %v", err)
	}
}
