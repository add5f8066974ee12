package sink_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/sink"
)

func openCatalog(t *testing.T) *lake.Catalog {
	t.Helper()
	dir := t.TempDir()
	cat, err := lake.Open(context.Background(), lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "catalog.db"), Warehouse: "file://" + filepath.Join(dir, "wh")}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

var testSchema = iceberg.NewSchema(0,
	iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64},
	iceberg.NestedField{ID: 2, Name: "who", Type: iceberg.PrimitiveTypes.String})

// batch makes one record batch of ids [from, from+n) written by who.
func batch(as *arrow.Schema, from, n int, who string) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, as)
	defer b.Release()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(who)
	}
	return b.NewRecordBatch()
}

func seq(recs ...arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for i, r := range recs {
			if !yield(r, nil) {
				for _, rest := range recs[i+1:] {
					rest.Release()
				}
				return
			}
		}
	}
}

// scan reads the table (at a snapshot, 0 = current) as "id:who" strings.
func scan(t *testing.T, cat *lake.Catalog, name string, snap int64) []string {
	t.Helper()
	ref, _ := lake.ParseTableRef(name)
	tbl, _, err := cat.LoadTable(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	var opts []table.ScanOption
	if snap != 0 {
		opts = append(opts, table.WithSnapshotID(snap))
	}
	at, err := tbl.Scan(opts...).ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var out []string
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		for i := 0; i < int(r.NumRows()); i++ {
			out = append(out, r.Column(0).ValueStr(i)+":"+r.Column(1).ValueStr(i))
		}
	}
	slices.Sort(out)
	return out
}

func TestAppendOverwrite(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	ref, _ := lake.ParseTableRef("shadow.t")
	w, err := sink.Open(ctx, cat, ref, testSchema, sink.Options{Mode: sink.Append, Properties: map[string]string{"shadow.backup-id": "b1"}})
	if err != nil {
		t.Fatal(err)
	}
	as := w.ArrowSchema()
	// two concurrent writers of one snapshot
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Write(ctx, seq(batch(as, g*100, 50, "a"), batch(as, g*100+50, 50, "a"))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r1, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Committed || !r1.Created || r1.Rows != 200 || r1.DataFiles != 2 || r1.Attempts != 1 {
		t.Errorf("first commit %+v", r1)
	}
	if got := scan(t, cat, "shadow.t", 0); len(got) != 200 {
		t.Fatalf("after append: %d rows", len(got))
	}
	// overwrite replaces everything, in one snapshot
	w2, err := sink.Open(ctx, cat, ref, testSchema, sink.Options{Mode: sink.Overwrite, Properties: map[string]string{"shadow.backup-id": "b2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, seq(batch(w2.ArrowSchema(), 1000, 3, "b"))); err != nil {
		t.Fatal(err)
	}
	r2, err := w2.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1000:b", "1001:b", "1002:b"}; !slices.Equal(scan(t, cat, "shadow.t", 0), want) {
		t.Errorf("after overwrite: %v", scan(t, cat, "shadow.t", 0))
	}
	if got := scan(t, cat, "shadow.t", r1.SnapshotID); len(got) != 200 {
		t.Errorf("time travel to the append: %d rows", len(got))
	}
	tbl, _, _ := cat.LoadTable(ctx, ref)
	snap := tbl.SnapshotByID(r2.SnapshotID)
	if snap == nil || snap.Summary.Properties["shadow.backup-id"] != "b2" || snap.Summary.Properties[sink.CommitIDProperty] != r2.CommitID {
		t.Errorf("snapshot summary %+v", snap)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 2 {
		t.Errorf("%d snapshots, want 2 (one per run)", n)
	}
	// an overwrite with no rows empties the table
	w3, _ := sink.Open(ctx, cat, ref, testSchema, sink.Options{Mode: sink.Overwrite})
	r3, err := w3.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := scan(t, cat, "shadow.t", 0); len(got) != 0 || !r3.Committed {
		t.Errorf("empty overwrite: %d rows, %+v", len(got), r3)
	}
	// an append with no rows makes no snapshot
	w4, _ := sink.Open(ctx, cat, ref, testSchema, sink.Options{})
	r4, err := w4.Commit(ctx)
	if err != nil || r4.Committed || r4.SnapshotID != r3.SnapshotID {
		t.Errorf("empty append: %+v %v", r4, err)
	}
}

func TestSchemaConflict(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	ref, _ := lake.ParseTableRef("ns.t")
	if _, err := sink.Open(ctx, cat, ref, testSchema, sink.Options{}); err != nil {
		t.Fatal(err)
	}
	other := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int32},
		iceberg.NestedField{ID: 2, Name: "who", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "extra", Type: iceberg.PrimitiveTypes.String})
	_, err := sink.Open(ctx, cat, ref, other, sink.Options{})
	if !errors.Is(err, sink.ErrSchemaConflict) || !strings.Contains(err.Error(), "missing column extra") {
		t.Errorf("got %v", err)
	}
	bad, _ := lake.ParseTableRef("ns.t@123")
	if _, err := sink.Open(ctx, cat, bad, testSchema, sink.Options{}); !errors.Is(err, sink.ErrBadOption) {
		t.Errorf("writing at a snapshot: %v", err)
	}
}

// TestConcurrentCommits: many writers append to one table at once. Commits
// from this process are serialised; commits from an outside writer (plain
// iceberg-go, as another process would do) race with them and are
// retried. No commit is lost.
func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	ref, _ := lake.ParseTableRef("ns.race")
	if _, err := sink.Open(ctx, cat, ref, testSchema, sink.Options{}); err != nil {
		t.Fatal(err)
	}
	// a second catalog handle on the same database plays the other process
	other, err := lake.Open(ctx, cat.Location, false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const writers, each = 6, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []int64
	outside, attempts := 0, 0
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // the outside writer: plain iceberg-go appends, no retries of its own
		defer wg.Done()
		for i := 0; i < 30; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tbl, err := other.Catalog.LoadTable(ctx, ref.Ident())
			if err != nil {
				t.Error(err)
				return
			}
			as, _ := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
			rec := batch(as, 1_000_000+i, 1, "outside")
			rdr, _ := array.NewRecordReader(as, []arrow.RecordBatch{rec})
			tx := tbl.NewTransaction()
			if err := tx.Append(ctx, rdr, nil); err == nil {
				if _, err := tx.Commit(ctx); err == nil {
					mu.Lock()
					outside++
					mu.Unlock()
				}
			}
			rdr.Release()
			rec.Release()
		}
	}()
	var sw sync.WaitGroup
	for g := 0; g < writers; g++ {
		sw.Add(1)
		go func() {
			defer sw.Done()
			for k := 0; k < each; k++ {
				w, err := sink.Open(ctx, cat, ref, testSchema, sink.Options{})
				if err != nil {
					t.Error(err)
					return
				}
				if err := w.Write(ctx, seq(batch(w.ArrowSchema(), (g*each+k)*10, 10, fmt.Sprint(g)))); err != nil {
					t.Error(err)
					return
				}
				r, err := w.Commit(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, r.SnapshotID)
				attempts += r.Attempts
				mu.Unlock()
			}
		}()
	}
	sw.Wait()
	close(stop)
	wg.Wait()
	if len(ids) != writers*each {
		t.Fatalf("%d commits succeeded, want %d", len(ids), writers*each)
	}
	got := scan(t, cat, "ns.race", 0)
	mine := 0
	for _, r := range got {
		if !strings.HasSuffix(r, ":outside") {
			mine++
		}
	}
	if mine != writers*each*10 || len(got)-mine != outside {
		t.Errorf("table holds %d of our rows (want %d) and %d outside rows (outside commits: %d)", mine, writers*each*10, len(got)-mine, outside)
	}
	t.Logf("%d sink commits in %d attempts, %d outside commits", len(ids), attempts, outside)
}

// TestReplaceSchema: an overwrite with ReplaceSchema adds and drops whole
// columns of a table it owns (a shadow run's new table when provenance is
// switched on, then off); old snapshots stay readable; anything else is
// still a conflict, and nothing is committed for it.
func TestReplaceSchema(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	ref, _ := lake.ParseTableRef("shadow.m")
	write := func(sc *iceberg.Schema, opts sink.Options, from int) (*sink.Result, error) {
		w, err := sink.Open(ctx, cat, ref, sc, opts)
		if err != nil {
			return nil, err
		}
		as := w.ArrowSchema()
		b := array.NewRecordBuilder(memory.DefaultAllocator, as)
		defer b.Release()
		for i := from; i < from+3; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.StringBuilder).Append("x")
			for f := 2; f < len(as.Fields()); f++ {
				b.Field(f).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
			}
		}
		if err := w.Write(ctx, seq(b.NewRecordBatch())); err != nil {
			return nil, err
		}
		return w.Commit(ctx)
	}
	columns := func() string {
		tbl, _, err := cat.LoadTable(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range tbl.Schema().Fields() {
			names = append(names, f.Name)
		}
		return strings.Join(names, ",")
	}
	ts := iceberg.PrimitiveTypes.TimestampTz
	withProv := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64},
		iceberg.NestedField{ID: 2, Name: "who", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 3, Name: "_writetime", Type: ts, Required: true},
		iceberg.NestedField{ID: 4, Name: "_ttl_expires_at", Type: ts})
	over := sink.Options{Mode: sink.Overwrite, ReplaceSchema: true}

	first, err := write(testSchema, over, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Without ReplaceSchema (or in append mode) a new column is a conflict.
	for _, o := range []sink.Options{{Mode: sink.Overwrite}, {Mode: sink.Append, ReplaceSchema: true}} {
		if _, err := write(withProv, o, 10); !errors.Is(err, sink.ErrSchemaConflict) {
			t.Fatalf("%+v: %v, want a schema conflict", o, err)
		}
	}
	if got := columns(); got != "id,who" {
		t.Fatalf("after refused writes: columns %s", got)
	}
	// Switched on: two columns added, the rows replaced.
	if _, err := write(withProv, over, 10); err != nil {
		t.Fatal(err)
	}
	if got := columns(); got != "id,who,_writetime,_ttl_expires_at" {
		t.Fatalf("provenance on: columns %s", got)
	}
	if got := scan(t, cat, "shadow.m", 0); fmt.Sprint(got) != "[10:x 11:x 12:x]" {
		t.Fatalf("provenance on: rows %v", got)
	}
	// The snapshot written before the change still reads.
	if got := scan(t, cat, "shadow.m", first.SnapshotID); fmt.Sprint(got) != "[0:x 1:x 2:x]" {
		t.Fatalf("old snapshot: rows %v", got)
	}
	// Switched off: both dropped.
	if _, err := write(testSchema, over, 20); err != nil {
		t.Fatal(err)
	}
	if got := columns(); got != "id,who" {
		t.Fatalf("provenance off: columns %s", got)
	}
	// A changed type is not a whole column: still a conflict.
	retyped := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: 2, Name: "who", Type: iceberg.PrimitiveTypes.String})
	if _, err := sink.Open(ctx, cat, ref, retyped, over); !errors.Is(err, sink.ErrSchemaConflict) || !strings.Contains(err.Error(), "only whole columns") {
		t.Fatalf("retyped: %v", err)
	}
	if got := columns(); got != "id,who" {
		t.Fatalf("after a refused retype: columns %s", got)
	}
}
