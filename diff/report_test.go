package diff

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func jsonSource(t *testing.T, name string, sc *arrow.Schema, rows string) Source {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return recordsOf(t, name, sc, []arrow.RecordBatch{rec})
}

var ordersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "loaded", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

const legacyOrders = `[
 {"id": 1, "amount": 1.0,  "at": "2026-01-01T00:00:00.000100Z", "note": "a",  "loaded": 1},
 {"id": 2, "amount": 2.0,  "at": "2026-01-01T00:00:01Z",        "note": "b",  "loaded": 1},
 {"id": 3, "amount": 3.0,  "at": "2026-01-01T00:00:02Z",        "note": null, "loaded": 1},
 {"id": 4, "amount": 4.0,  "at": "2026-01-01T00:00:03Z",        "note": "d",  "loaded": 1},
 {"id": 4, "amount": 4.0,  "at": "2026-01-01T00:00:03Z",        "note": "d",  "loaded": 1},
 {"id": 6, "amount": 6.0,  "at": "2026-01-01T00:00:05.123456Z", "note": null, "loaded": 1}
]`

const newOrders = `[
 {"id": 1, "amount": 1.0005, "at": "2026-01-01T00:00:00.000100Z", "note": "a",  "loaded": 2},
 {"id": 2, "amount": 2.5,    "at": "2026-01-01T00:00:01Z",        "note": "b",  "loaded": 2},
 {"id": 4, "amount": 4.0,    "at": "2026-01-01T00:00:03Z",        "note": "d",  "loaded": 2},
 {"id": 5, "amount": 5.0,    "at": "2026-01-01T00:00:04Z",        "note": "e",  "loaded": 2},
 {"id": 6, "amount": 6.0,    "at": "2026-01-01T00:00:05.123Z",    "note": "",   "loaded": 2}
]`

func TestClassification(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name                                                string
		rules                                               Rules
		onlyL, onlyN, changed, missing, extra, dups, within int64
		differing                                           map[string]int64
	}{
		{name: "loaded differs everywhere", onlyL: 6, onlyN: 5, changed: 4, missing: 1, extra: 1, dups: 1,
			differing: map[string]int64{"amount": 2, "loaded": 4, "note": 1, "at": 1}},
		{name: "ignore loaded", rules: Rules{Ignore: []string{"loaded"}},
			onlyL: 5, onlyN: 4, changed: 3, missing: 2, extra: 1, dups: 1, differing: map[string]int64{"amount": 2, "note": 1, "at": 1}},
		{name: "tolerance pairs id 1", rules: Rules{Ignore: []string{"loaded"}, Tolerance: map[string]string{"amount": "0.001"}},
			onlyL: 4, onlyN: 3, changed: 2, missing: 2, extra: 1, dups: 1, within: 1, differing: map[string]int64{"amount": 1, "note": 1, "at": 1}},
		{name: "truncate, empty as null and tolerance make id 6 match", rules: Rules{Ignore: []string{"loaded"}, Tolerance: map[string]string{"amount": "0.001"},
			Truncate: map[string]string{"at": "ms"}, EmptyAsNull: []string{"note"}},
			onlyL: 3, onlyN: 2, changed: 1, missing: 2, extra: 1, dups: 1, within: 1, differing: map[string]int64{"amount": 1}},
		{name: "round", rules: Rules{Ignore: []string{"loaded"}, Round: map[string]int{"amount": 2}, Truncate: map[string]string{"at": "s"}, EmptyAsNull: []string{"note"}},
			onlyL: 3, onlyN: 2, changed: 1, missing: 2, extra: 1, dups: 1, differing: map[string]int64{"amount": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []Discrepancy
			rep, err := Run(ctx, jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders),
				Options{Key: []string{"id"}, Rules: c.rules, OnDiscrepancy: func(d Discrepancy) error { got = append(got, d); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OnlyInLegacy != c.onlyL || rep.OnlyInNew != c.onlyN || *rep.Changed != c.changed || *rep.Missing != c.missing ||
				*rep.Extra != c.extra || *rep.DuplicateKeys != c.dups || *rep.WithinTolerance != c.within {
				t.Fatalf("got only_in_legacy %d only_in_new %d changed %d missing %d extra %d duplicate_keys %d within_tolerance %d",
					rep.OnlyInLegacy, rep.OnlyInNew, *rep.Changed, *rep.Missing, *rep.Extra, *rep.DuplicateKeys, *rep.WithinTolerance)
			}
			if rep.Matched != 6-c.onlyL || rep.Matched != 5-c.onlyN {
				t.Fatalf("matched %d", rep.Matched)
			}
			if len(rep.DifferingColumns) != len(c.differing) {
				t.Fatalf("differing columns %v, want %v", rep.DifferingColumns, c.differing)
			}
			for k, v := range c.differing {
				if rep.DifferingColumns[k] != v {
					t.Fatalf("differing columns %v, want %v", rep.DifferingColumns, c.differing)
				}
			}
			// Every delivered discrepancy is in key order, and the sides add up.
			var l, n int64
			for i, d := range got {
				if i > 0 && got[i-1].Key["id"].(int64) > d.Key["id"].(int64) {
					t.Fatalf("out of key order: %v then %v", got[i-1].Key, d.Key)
				}
				if d.Legacy != nil {
					l++
				}
				if d.New != nil {
					n++
				}
				if d.Side == Changed && d.Legacy != nil && d.New != nil && len(d.Columns) == 0 {
					t.Fatalf("changed pair without differing columns: %+v", d)
				}
			}
			if l != rep.OnlyInLegacy || n != rep.OnlyInNew {
				t.Fatalf("delivered %d legacy and %d new rows, counts say %d and %d", l, n, rep.OnlyInLegacy, rep.OnlyInNew)
			}
			if len(rep.Rules) != len(c.rules.List()) {
				t.Fatalf("rules in report: %v", rep.Rules)
			}
		})
	}
}

func TestChangedPairDetail(t *testing.T) {
	rep, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders),
		Options{Key: []string{"id"}, Rules: Rules{Ignore: []string{"loaded"}, Tolerance: map[string]string{"amount": "0.001"}}})
	if err != nil {
		t.Fatal(err)
	}
	ch := rep.Samples.Changed
	if len(ch) != 2 || ch[0].Key["id"] != int64(2) || ch[1].Key["id"] != int64(6) {
		t.Fatalf("changed sample: %+v", ch)
	}
	c0 := ch[0].Columns
	if len(c0) != 1 || c0[0].Column != "amount" || c0[0].Legacy != 2.0 || c0[0].New != 2.5 {
		t.Fatalf("id 2 columns: %+v", c0)
	}
	c1 := ch[1].Columns
	if len(c1) != 2 || c1[0].Column != "at" || c1[0].Legacy != "2026-01-01T00:00:05.123456Z" || c1[0].New != "2026-01-01T00:00:05.123000Z" ||
		c1[1].Column != "note" || c1[1].Legacy != nil || c1[1].New != "" {
		t.Fatalf("id 6 columns: %+v", c1)
	}
	if w := rep.Samples.WithinTolerance; len(w) != 1 || w[0].Key["id"] != int64(1) {
		t.Fatalf("within tolerance sample: %+v", w)
	}
	if m := rep.Samples.Missing; len(m) != 2 || m[0].Key["id"] != int64(3) || m[1].Key["id"] != int64(4) || m[0].Legacy.Values["note"] != nil {
		t.Fatalf("missing sample: %+v", m)
	}
	if e := rep.Samples.Extra; len(e) != 1 || e[0].New.Values["id"] != int64(5) {
		t.Fatalf("extra sample: %+v", e)
	}
	if d := rep.Samples.DuplicateKeys; len(d) != 1 || d[0]["id"] != int64(4) {
		t.Fatalf("duplicate keys sample: %+v", d)
	}
}

func TestTimestampTolerance(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String}, {Name: "at", Type: &arrow.TimestampType{Unit: arrow.Millisecond}}}, nil)
	c := `[{"k": "a", "at": 1000}, {"k": "b", "at": 1000}]`
	m := `[{"k": "a", "at": 1001}, {"k": "b", "at": 1002}]`
	rep, err := Run(context.Background(), jsonSource(t, "c", sc, c), jsonSource(t, "m", sc, m),
		Options{Key: []string{"k"}, Rules: Rules{Tolerance: map[string]string{"at": "1ms"}}})
	if err != nil {
		t.Fatal(err)
	}
	if *rep.WithinTolerance != 1 || *rep.Changed != 1 || rep.OnlyInLegacy != 1 {
		t.Fatalf("within %d changed %d only_in_legacy %d", *rep.WithinTolerance, *rep.Changed, rep.OnlyInLegacy)
	}
}

func TestEmptyTables(t *testing.T) {
	for _, c := range []struct{ l, n string }{{`[]`, `[]`}, {legacyOrders, `[]`}, {`[]`, newOrders}} {
		rep, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, c.l), jsonSource(t, "m", ordersSchema, c.n), Options{Key: []string{"id"}})
		if err != nil {
			t.Fatal(err)
		}
		if c.l == `[]` && c.n == `[]` {
			if !rep.Clean || rep.Similarity != 1 || rep.LegacyRows != 0 {
				t.Fatalf("two empty tables: %+v", rep)
			}
			continue
		}
		if rep.Clean || rep.Similarity != 0 || rep.Matched != 0 {
			t.Fatalf("one empty table: clean %v similarity %v matched %d", rep.Clean, rep.Similarity, rep.Matched)
		}
		if *rep.Changed != 0 || *rep.Missing+*rep.Extra != rep.OnlyInLegacy+rep.OnlyInNew {
			t.Fatalf("one empty table: changed %d missing %d extra %d", *rep.Changed, *rep.Missing, *rep.Extra)
		}
	}
}

func TestBadInput(t *testing.T) {
	other := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
		{Name: "extra_col", Type: arrow.PrimitiveTypes.Int32},
		{Name: "loaded", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	cases := []struct {
		name   string
		sc     *arrow.Schema
		opts   Options
		target error
		says   []string
	}{
		{"schema mismatch names columns and types", other, Options{}, ErrSchemaMismatch,
			[]string{`column "extra_col" only in new (int32`, `column "id": legacy int64 (kind integer), new utf8 (kind string)`, `column "note" only in legacy (utf8`}},
		{"ignoring columns resolves nothing else", other, Options{Rules: Rules{Ignore: []string{"extra_col", "note"}}}, ErrSchemaMismatch,
			[]string{`column "id": legacy int64`}},
		{"unknown key", ordersSchema, Options{Key: []string{"order_id"}}, ErrUnknownColumn, []string{`key column "order_id" does not exist (columns: amount, at, id, loaded, note)`}},
		{"ignored key", ordersSchema, Options{Key: []string{"id"}, Rules: Rules{Ignore: []string{"id"}}}, ErrUnknownColumn, []string{`key column "id" is ignored`}},
		{"ignore of nothing", ordersSchema, Options{Rules: Rules{Ignore: []string{"nope"}}}, ErrUnknownColumn, []string{`"nope" exists on neither side`}},
		{"truncate a string", ordersSchema, Options{Rules: Rules{Truncate: map[string]string{"note": "ms"}}}, ErrBadRule, []string{`column "note" is string`}},
		{"truncate unit", ordersSchema, Options{Rules: Rules{Truncate: map[string]string{"at": "us"}}}, ErrBadRule, []string{`want ms or s`}},
		{"round a timestamp", ordersSchema, Options{Rules: Rules{Round: map[string]int{"at": 2}}}, ErrBadRule, []string{`want float or decimal`}},
		{"empty-as-null on a number", ordersSchema, Options{Rules: Rules{EmptyAsNull: []string{"amount"}}}, ErrBadRule, []string{`want string or binary`}},
		{"tolerance on an unknown column", ordersSchema, Options{Rules: Rules{Tolerance: map[string]string{"x": "1"}}}, ErrUnknownColumn, []string{`"x"`}},
		{"tolerance not a duration", ordersSchema, Options{Rules: Rules{Tolerance: map[string]string{"at": "0.5"}}}, ErrBadRule, []string{`Go duration`}},
		{"tolerance not a number", ordersSchema, Options{Rules: Rules{Tolerance: map[string]string{"amount": "abc"}}}, ErrBadRule, []string{`non-negative number`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, `[]`), jsonSource(t, "m", c.sc, `[]`), c.opts)
			if !errors.Is(err, c.target) {
				t.Fatalf("err %v, want %v", err, c.target)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestOutFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	rep, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders),
		Options{Key: []string{"id"}, OutDir: dir, Rules: Rules{Ignore: []string{"loaded"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		rows int64
		ids  []int64
	}{{OnlyInLegacyFile, rep.OnlyInLegacy, []int64{1, 2, 3, 4, 6}}, {OnlyInNewFile, rep.OnlyInNew, []int64{1, 2, 5, 6}}} {
		r, err := file.OpenParquetFile(filepath.Join(dir, f.name), false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tbl.NumRows() != f.rows || tbl.NumCols() != 4 {
			t.Fatalf("%s: %d rows %d columns, want %d rows 4 columns", f.name, tbl.NumRows(), tbl.NumCols(), f.rows)
		}
		ids := tbl.Column(tbl.Schema().FieldIndices("id")[0]).Data().Chunk(0).(*array.Int64).Int64Values()
		if len(ids) != len(f.ids) {
			t.Fatalf("%s: ids %v, want %v", f.name, ids, f.ids)
		}
		for i := range ids {
			if ids[i] != f.ids[i] {
				t.Fatalf("%s: ids %v, want %v (in key order)", f.name, ids, f.ids)
			}
		}
		at := tbl.Column(tbl.Schema().FieldIndices("at")[0]).Data().Chunk(0).(*array.Timestamp)
		if at.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
			t.Fatalf("%s: at is %s, want the side's own type", f.name, at.DataType())
		}
		tbl.Release()
		r.Close()
	}
}

func TestCallbackErrorStops(t *testing.T) {
	stop := errors.New("enough")
	_, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders),
		Options{OnDiscrepancy: func(Discrepancy) error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want the callback's", err)
	}
}

func TestCancelLeavesNoSpill(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders), Options{TempDir: dir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if _, err := Run(context.Background(), jsonSource(t, "c", ordersSchema, legacyOrders), jsonSource(t, "m", ordersSchema, newOrders),
		Options{TempDir: dir, Memory: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("spill left behind: %v", entries)
	}
}
