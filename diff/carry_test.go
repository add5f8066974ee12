package diff

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

var tsUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// The provenance columns the new engine emits (engine/rows ColWriteTime,
// ColTTLExpiresAt, ColSnapshotTime); the legacy side has none.
var provenance = []string{"_writetime", "_ttl_expires_at", "_snapshot_time"}

var plainSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

var provSchema = arrow.NewSchema([]arrow.Field{
	{Name: "_snapshot_time", Type: tsUTC, Nullable: true},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "_writetime", Type: tsUTC, Nullable: true},
	{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "_ttl_expires_at", Type: tsUTC, Nullable: true},
}, nil)

const plainRows = `[
 {"id": 1, "v": "a"},
 {"id": 2, "v": "b"},
 {"id": 3, "v": "c"}
]`

const provRows = `[
 {"id": 1, "v": "a", "_writetime": "2026-11-23T10:00:00Z", "_ttl_expires_at": null, "_snapshot_time": "2026-11-24T00:00:00Z"},
 {"id": 2, "v": "B", "_writetime": "2026-11-24T01:00:00.000001Z", "_ttl_expires_at": null, "_snapshot_time": "2026-11-24T00:00:00Z"},
 {"id": 4, "v": "d", "_writetime": "2026-11-24T02:00:00Z", "_ttl_expires_at": "2026-11-23T23:00:00Z", "_snapshot_time": "2026-11-24T00:00:00Z"}
]`

func collect(t *testing.T, legacy, newer Source, opts Options) (*Report, []Discrepancy) {
	t.Helper()
	var got []Discrepancy
	opts.OnDiscrepancy = func(d Discrepancy) error { got = append(got, d); return nil }
	rep, err := Run(context.Background(), legacy, newer, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep, got
}

// TestCarryNewSideOnly: provenance on the new side only is no schema
// mismatch; it reaches the new rows and nothing else.
func TestCarryNewSideOnly(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			opts := Options{Carry: provenance}
			if keyed {
				opts.Key = []string{"id"}
			}
			rep, got := collect(t, jsonSource(t, "c", plainSchema, plainRows), jsonSource(t, "m", provSchema, provRows), opts)
			if rep.OnlyInLegacy != 2 || rep.OnlyInNew != 2 || rep.Matched != 1 {
				t.Fatalf("only_in_legacy %d only_in_new %d matched %d, want 2 2 1", rep.OnlyInLegacy, rep.OnlyInNew, rep.Matched)
			}
			for _, c := range rep.Columns {
				if slices.Contains(provenance, c.Name) {
					t.Fatalf("carried column %q listed as compared", c.Name)
				}
			}
			if !slices.Equal(rep.Carry, provenance) {
				t.Fatalf("report carry %v", rep.Carry)
			}
			var newRows int
			for _, d := range got {
				if d.Legacy != nil {
					for _, c := range provenance {
						if _, ok := d.Legacy.Values[c]; ok {
							t.Fatalf("legacy row has carried column %q it does not have: %v", c, d.Legacy.Values)
						}
					}
				}
				if d.New == nil {
					continue
				}
				newRows++
				v := d.New.Values
				switch v["id"] {
				case int64(2):
					if v["_writetime"] != "2026-11-24T01:00:00.000001Z" || v["_ttl_expires_at"] != nil || v["_snapshot_time"] != "2026-11-24T00:00:00.000000Z" {
						t.Fatalf("id 2 carried values: %v", v)
					}
				case int64(4):
					if v["_writetime"] != "2026-11-24T02:00:00.000000Z" || v["_ttl_expires_at"] != "2026-11-23T23:00:00.000000Z" {
						t.Fatalf("id 4 carried values: %v", v)
					}
				default:
					t.Fatalf("unexpected new row %v", v)
				}
				for _, c := range d.Columns {
					if slices.Contains(provenance, c.Column) {
						t.Fatalf("carried column %q in ColumnDiffs", c.Column)
					}
				}
				if keyed && d.Side == Changed && (len(d.Columns) != 1 || d.Columns[0].Column != "v") {
					t.Fatalf("changed columns %+v, want v only", d.Columns)
				}
			}
			if newRows != 2 {
				t.Fatalf("%d new rows delivered, want 2", newRows)
			}
		})
	}
}

// TestCarryBothSidesNeverCompared: carried values that differ (even in
// kind) do not make rows differ, and are not in the fingerprint.
func TestCarryBothSidesNeverCompared(t *testing.T) {
	lsc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "_writetime", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, // microseconds, another kind
	}, nil)
	l := `[{"id": 1, "v": "a", "_writetime": 100}, {"id": 2, "v": "b", "_writetime": 200}, {"id": 3, "v": "c", "_writetime": 300}]`
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			opts := Options{Carry: []string{"_writetime"}, Rules: Rules{Ignore: []string{"_snapshot_time", "_ttl_expires_at"}}}
			if keyed {
				opts.Key = []string{"id"}
			}
			rep, got := collect(t, jsonSource(t, "c", lsc, l), jsonSource(t, "m", provSchema, provRows), opts)
			if rep.OnlyInLegacy != 2 || rep.OnlyInNew != 2 || rep.Matched != 1 || rep.Clean {
				t.Fatalf("only_in_legacy %d only_in_new %d matched %d", rep.OnlyInLegacy, rep.OnlyInNew, rep.Matched)
			}
			for _, d := range got {
				if d.Legacy != nil {
					want := d.Legacy.Values["id"].(int64) * 100
					if d.Legacy.Values["_writetime"] != want {
						t.Fatalf("legacy _writetime %v, want %d", d.Legacy.Values["_writetime"], want)
					}
				}
				if d.New != nil {
					if _, ok := d.New.Values["_writetime"].(string); !ok {
						t.Fatalf("new _writetime %#v, want its timestamp", d.New.Values["_writetime"])
					}
					if _, ok := d.New.Values["_snapshot_time"]; ok {
						t.Fatal("a column not carried is delivered")
					}
				}
				if keyed && d.Side == Changed {
					if len(d.Columns) != 1 || d.Columns[0].Column != "v" {
						t.Fatalf("changed columns %+v, want v only", d.Columns)
					}
					if d.Legacy.Values["_writetime"] != int64(200) || d.New.Values["_writetime"] != "2026-11-24T01:00:00.000001Z" {
						t.Fatalf("changed pair carried values %v / %v", d.Legacy.Values, d.New.Values)
					}
				}
			}
			// The fingerprint is the compared row's: the same as without the carried column.
			_, plain := collect(t, jsonSource(t, "c", plainSchema, plainRows), jsonSource(t, "m", plainSchema, `[{"id": 1, "v": "a"}]`), Options{})
			fps := map[Fingerprint]bool{}
			for _, d := range plain {
				fps[d.Legacy.Fingerprint] = true
			}
			for _, d := range got {
				if d.Legacy != nil && !fps[d.Legacy.Fingerprint] {
					t.Fatalf("legacy fingerprint %v depends on carried values", d.Legacy.Fingerprint)
				}
			}
		})
	}
	// Rows equal but for carried values are matched: clean.
	same := `[{"id": 1, "v": "a", "_writetime": 1}, {"id": 2, "v": "b", "_writetime": 2}, {"id": 3, "v": "c", "_writetime": 3}]`
	other := `[{"id": 3, "v": "c", "_writetime": 30}, {"id": 1, "v": "a", "_writetime": 10}, {"id": 2, "v": "b", "_writetime": null}]`
	for _, key := range [][]string{nil, {"id"}} {
		rep, got := collect(t, jsonSource(t, "c", lsc, same), jsonSource(t, "m", lsc, other), Options{Key: key, Carry: []string{"_writetime"}})
		if !rep.Clean || rep.Matched != 3 || rep.Similarity != 1 || len(got) != 0 {
			t.Fatalf("key %v: clean %v matched %d similarity %v, %d discrepancies", key, rep.Clean, rep.Matched, rep.Similarity, len(got))
		}
		// Without --carry the column is compared: three changed rows.
		rep, _ = collect(t, jsonSource(t, "c", lsc, same), jsonSource(t, "m", lsc, other), Options{Key: key})
		if rep.OnlyInLegacy != 3 {
			t.Fatalf("key %v: without carry only_in_legacy %d, want 3", key, rep.OnlyInLegacy)
		}
	}
}

func TestCarryBadInput(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want error
		msg  string
	}{
		{"unknown", Options{Carry: []string{"_nope"}}, ErrUnknownColumn, `"_nope" exists on neither side`},
		{"carried key", Options{Key: []string{"id"}, Carry: []string{"id"}}, ErrBadRule, "both carried (--carry) and a key column"},
		{"carried and ignored", Options{Carry: []string{"_writetime"}, Rules: Rules{Ignore: []string{"_writetime"}}}, ErrBadRule, "both carried (--carry) and ignored"},
		{"named twice", Options{Carry: []string{"_writetime", "_writetime"}}, ErrBadRule, "named twice"},
		{"rule on a carried column", Options{Carry: provenance, Rules: Rules{Truncate: map[string]string{"_writetime": "ms"}}}, ErrUnknownColumn, "not a compared column"},
		{"not carried: schema mismatch", Options{Carry: []string{"_writetime"}}, ErrSchemaMismatch, `"_snapshot_time" only in new`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), jsonSource(t, "c", plainSchema, plainRows), jsonSource(t, "m", provSchema, provRows), c.opts)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %v, want %v containing %q", err, c.want, c.msg)
			}
		})
	}
}

// TestCarrySpilled: with a small budget the row logs and the sort runs go
// to disk, and every carried value still arrives with its own row.
func TestCarrySpilled(t *testing.T) {
	const n = 30000
	wt := func(side, id int64) int64 { return 1.7e15 + id*1000 + side }
	build := func(side int64, carry bool) (Source, *arrow.Schema) {
		fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String}}
		if carry {
			fields = append(fields, arrow.Field{Name: "_writetime", Type: tsUTC, Nullable: true},
				arrow.Field{Name: "_origin", Type: arrow.BinaryTypes.String, Nullable: true})
		}
		sc := arrow.NewSchema(fields, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		var batches []arrow.RecordBatch
		for id := int64(0); id < n; id++ {
			b.Field(0).(*array.Int64Builder).Append(id)
			v := fmt.Sprintf("value %d", id)
			if side == 1 && id%3 == 0 {
				v += " changed"
			}
			b.Field(1).(*array.StringBuilder).Append(v)
			if carry {
				b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(wt(side, id)))
				b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("side %d row %d with some padding to make it longer", side, id))
			}
			if (id+1)%4096 == 0 || id == n-1 {
				batches = append(batches, b.NewRecordBatch())
			}
		}
		src := recordsOf(t, fmt.Sprint(side), sc, batches)
		for _, r := range batches {
			r.Release()
		}
		return src, sc
	}
	for _, c := range []struct {
		name        string
		legacyCarry bool
		key         []string
	}{{"new only, keyed", false, []string{"id"}}, {"both, keyed", true, []string{"id"}}, {"both, no key", true, nil}} {
		t.Run(c.name, func(t *testing.T) {
			ls, _ := build(0, c.legacyCarry)
			ns, _ := build(1, true)
			out := filepath.Join(t.TempDir(), "out")
			rep, got := collect(t, ls, ns, Options{Key: c.key, Carry: []string{"_writetime", "_origin"}, Memory: 2 << 20, Workers: 2, OutDir: out})
			if rep.Run.SpilledBytes == 0 {
				t.Fatal("nothing spilled: the test does not exercise the spill files")
			}
			if rep.OnlyInLegacy != n/3 || rep.OnlyInNew != n/3 {
				t.Fatalf("only_in_legacy %d only_in_new %d, want %d", rep.OnlyInLegacy, rep.OnlyInNew, n/3)
			}
			check := func(side int64, r *Row) {
				id := r.Values["id"].(int64)
				_, has := r.Values["_writetime"]
				if side == 0 && !c.legacyCarry {
					if has {
						t.Fatalf("legacy row %d has a carried value", id)
					}
					return
				}
				want := time.UnixMicro(wt(side, id)).UTC().Format(TimestampLayout)
				if r.Values["_writetime"] != want || r.Values["_origin"] != fmt.Sprintf("side %d row %d with some padding to make it longer", side, id) {
					t.Fatalf("side %d id %d: carried %v %v, want %s", side, id, r.Values["_writetime"], r.Values["_origin"], want)
				}
			}
			var rows int64
			for _, d := range got {
				if d.Legacy != nil {
					check(0, d.Legacy)
					rows++
				}
				if d.New != nil {
					check(1, d.New)
					rows++
				}
				if c.key != nil && (len(d.Columns) != 1 || d.Columns[0].Column != "v") {
					t.Fatalf("columns %+v, want v only", d.Columns)
				}
			}
			if rows != 2*n/3 {
				t.Fatalf("%d rows delivered, want %d", rows, 2*n/3)
			}
			// The --out files hold each side's carried columns too.
			for s, name := range []string{OnlyInLegacyFile, OnlyInNewFile} {
				tbl := readParquet(t, filepath.Join(out, name))
				want := 2
				if s == 1 || c.legacyCarry {
					want = 4
				}
				if tbl.NumCols() != int64(want) || tbl.NumRows() != n/3 {
					t.Fatalf("%s: %d columns %d rows, want %d and %d", name, tbl.NumCols(), tbl.NumRows(), want, n/3)
				}
				if want == 4 {
					idc := tbl.Column(tbl.Schema().FieldIndices("id")[0]).Data()
					wtc := tbl.Column(tbl.Schema().FieldIndices("_writetime")[0]).Data()
					for k, ch := range idc.Chunks() {
						ids, wts := ch.(*array.Int64), wtc.Chunk(k).(*array.Timestamp)
						for i := 0; i < ids.Len(); i++ {
							if int64(wts.Value(i)) != wt(int64(s), ids.Value(i)) {
								t.Fatalf("%s row %d: _writetime %d, want %d", name, i, wts.Value(i), wt(int64(s), ids.Value(i)))
							}
						}
					}
				}
				tbl.Release()
			}
		})
	}
}

func readParquet(t *testing.T, path string) arrow.Table {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// FuzzRowLogRecord: a damaged row log record, with or without a carried
// section, is an error, never a panic, and a whole record splits back.
func FuzzRowLogRecord(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0, 1}, true)
	f.Add([]byte{3, 0, 0, 0, 0, 1, 2}, false)
	f.Add([]byte{255, 255, 255, 255}, true)
	f.Fuzz(func(t *testing.T, data []byte, carry bool) {
		l := &rowLog{carry: carry, mem: [][]byte{data}, memBase: []int64{0}}
		row, c, _, err := l.row(0, nil)
		if err != nil {
			return
		}
		size := rowHeader + len(row)
		if carry {
			size += carryHeader + len(c)
		} else if c != nil {
			t.Fatal("carried section in a log without one")
		}
		if size > len(data) {
			t.Fatalf("record of %d bytes from %d", size, len(data))
		}
	})
}
