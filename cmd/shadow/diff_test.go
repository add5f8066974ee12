package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cassmove/shadow/shadow/demo"
)

func writeParquetFile(t *testing.T, path string, sc *arrow.Schema, rows string) {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

var (
	cliLegacySchema = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	// The new side orders columns differently and stores milliseconds.
	cliNewSchema = arrow.NewSchema([]arrow.Field{
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
)

const cliLegacyRows = `[
 {"id": 1, "name": "ada",   "amount": 10.5,  "at": "2026-11-24T01:00:00.000000Z", "note": null},
 {"id": 2, "name": "alan",  "amount": 20.25, "at": "2026-11-24T02:00:00.123456Z", "note": "x"},
 {"id": 3, "name": "grace", "amount": 30,    "at": "2026-11-24T03:00:00.000000Z", "note": null},
 {"id": 4, "name": "ken",   "amount": 40,    "at": "2026-11-24T04:00:00.000000Z", "note": "y"},
 {"id": 5, "name": "linus", "amount": 50.001,"at": "2026-11-24T05:00:00.000000Z", "note": "z"}
]`

const cliNewRows = `[
 {"id": 1, "name": "ada",   "amount": 10.5,  "at": "2026-11-24T01:00:00.000Z", "note": ""},
 {"id": 2, "name": "alan",  "amount": 20.25, "at": "2026-11-24T02:00:00.123Z", "note": "x"},
 {"id": 4, "name": "ken",   "amount": 40,    "at": "2026-11-24T04:00:00.000Z", "note": "y"},
 {"id": 4, "name": "ken",   "amount": 40,    "at": "2026-11-24T04:00:00.000Z", "note": "y"},
 {"id": 5, "name": "linus", "amount": 50.002,"at": "2026-11-24T05:00:00.000Z", "note": "z"},
 {"id": 6, "name": "rob",   "amount": 60,    "at": "2026-11-24T06:00:00.000Z", "note": null}
]`

// cliFixtures writes legacy/ and new/ Parquet tables under dir.
func cliFixtures(t *testing.T, dir string) (legacy, newer string) {
	t.Helper()
	writeParquetFile(t, filepath.Join(dir, "legacy", "part-0.parquet"), cliLegacySchema, cliLegacyRows)
	writeParquetFile(t, filepath.Join(dir, "new", "part-0.parquet"), cliNewSchema, cliNewRows[:strings.Index(cliNewRows, `{"id": 4`)]+`{"id": 9, "name": "x", "amount": 0, "at": "2026-11-24T00:00:00Z", "note": null}]`)
	writeParquetFile(t, filepath.Join(dir, "new", "part-1.parquet"), cliNewSchema, `[`+cliNewRows[strings.Index(cliNewRows, `{"id": 4`):])
	return "parquet:" + filepath.Join(dir, "legacy", "*.parquet"), "parquet:" + filepath.Join(dir, "new", "part-*.parquet")
}

// scrubs keep goldens stable: temp dirs, timings, snapshot ids, CPU counts.
func diffScrubs(dir string) []string {
	return []string{
		regexpQuote(dir), "$$DIR",
		`seconds: plan [0-9.]+, digest [0-9.]+, exact [0-9.]+, report [0-9.]+, total [0-9.]+`, "seconds: (scrubbed)",
		`snapshot [0-9]+`, "snapshot N",
		`"snapshot_id": [0-9]+`, `"snapshot_id": N`,
		`"started": "[^"]+"`, `"started": "T"`,
		`"(plan|digest|exact|report|total)": [0-9.e-]+`, `"$1": 0`,
		`"workers": [0-9]+`, `"workers": N`,
		`"spill_buckets": [0-9]+`, `"spill_buckets": N`,
		`/[0-9]+/`, "/N/", // iceberg-go's data file names
		`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^"]*\.(parquet|avro)`, "UUID.$1",
	}
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestDiffGolden(t *testing.T) {
	dir := t.TempDir()
	legacy, newer := cliFixtures(t, dir)
	same := "parquet:" + filepath.Join(dir, "legacy", "part-0.parquet")
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"clean", []string{"diff", legacy, same}, exitOK},
		{"keyed", []string{"diff", legacy, newer, "--key", "id"}, exitDiffers},
		{"unkeyed", []string{"diff", legacy, newer, "--sample", "2"}, exitDiffers},
		{"rules", []string{"diff", legacy, newer, "--key", "id", "--truncate", "at=ms", "--empty-as-null", "note", "--tolerance", "amount=0.01"}, exitDiffers},
		{"round-and-ignore", []string{"diff", legacy, newer, "--key", "id", "--round", "amount=2", "--ignore", "at,note"}, exitDiffers},
		{"json", []string{"diff", legacy, newer, "--key", "id", "--json", "--sample", "1"}, exitDiffers},
		{"json-unkeyed", []string{"diff", legacy, same, "--json"}, exitOK},
		{"carry-text", []string{"diff", legacy, newer, "--key", "id", "--carry", "at,note", "--sample", "1"}, exitDiffers},
		{"carry", []string{"diff", legacy, newer, "--key", "id", "--carry", "at,note", "--json", "--sample", "1"}, exitDiffers},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, dir, c.args...)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.Code, c.code, r.Stderr)
			}
			if r.Stderr != "" {
				t.Fatalf("stderr: %s", r.Stderr)
			}
			golden(t, "diff/"+c.name, r.Stdout, diffScrubs(dir)...)
		})
	}
}

func TestDiffOut(t *testing.T) {
	dir := t.TempDir()
	legacy, newer := cliFixtures(t, dir)
	out := filepath.Join(dir, "rows")
	r := runShadow(t, dir, "diff", legacy, newer, "--key", "id", "--out", out, "--sample", "0")
	if r.Code != exitDiffers {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	golden(t, "diff/out", r.Stdout, diffScrubs(dir)...)
	for _, f := range []string{"only_in_legacy.parquet", "only_in_new.parquet"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// The files are tables too: diffing them shows the same rows again.
	r = runShadow(t, dir, "diff", "parquet:"+filepath.Join(out, "only_in_legacy.parquet"), "parquet:"+filepath.Join(out, "only_in_new.parquet"), "--key", "id", "--sample", "0")
	if r.Code != exitDiffers || !regexp.MustCompile(`only_in_legacy +4\n`).MatchString(r.Stdout) {
		t.Fatalf("diffing the --out files: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestDiffBadInput(t *testing.T) {
	dir := t.TempDir()
	legacy, newer := cliFixtures(t, dir)
	os.WriteFile(filepath.Join(dir, "corrupt.parquet"), []byte("PAR1 this is not a parquet file PAR1"), 0o644)
	writeParquetFile(t, filepath.Join(dir, "other", "a.parquet"), arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float32}, {Name: "at", Type: arrow.FixedWidthTypes.Date32},
		{Name: "extra", Type: arrow.PrimitiveTypes.Int8},
	}, nil), `[]`)
	cases := []struct {
		name string
		args []string
	}{
		{"missing file", []string{"diff", "parquet:" + filepath.Join(dir, "nope.parquet"), newer}},
		{"glob matching nothing", []string{"diff", legacy, "parquet:" + filepath.Join(dir, "nothing", "*.parquet")}},
		{"schema mismatch", []string{"diff", legacy, "parquet:" + filepath.Join(dir, "other", "*.parquet")}},
		{"corrupt parquet", []string{"diff", legacy, "parquet:" + filepath.Join(dir, "corrupt.parquet")}},
		{"unknown key", []string{"diff", legacy, newer, "--key", "order_id"}},
		{"bad reference", []string{"diff", "orders", newer}},
		{"missing iceberg catalog", []string{"diff", "iceberg:ns.orders", newer, "--catalog", "sqlite:" + filepath.Join(dir, "nope.db")}},
		{"bad memory", []string{"diff", legacy, newer, "--memory", "lots"}},
		{"bad truncate", []string{"diff", legacy, newer, "--truncate", "at=us"}},
		{"truncate a string", []string{"diff", legacy, newer, "--truncate", "name=ms"}},
		{"bad round", []string{"diff", legacy, newer, "--round", "amount=two"}},
		{"bad tolerance", []string{"diff", legacy, newer, "--tolerance", "at=1"}},
		{"carry unknown column", []string{"diff", legacy, newer, "--carry", "_writetime"}},
		{"carry a key column", []string{"diff", legacy, newer, "--key", "id", "--carry", "id"}},
		{"one argument", []string{"diff", legacy}},
	}
	var b strings.Builder
	for _, c := range cases {
		r := runShadow(t, dir, c.args...)
		if r.Code != exitUsage {
			t.Errorf("%s: exit %d, want %d; stderr %s", c.name, r.Code, exitUsage, r.Stderr)
		}
		if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine") {
			t.Errorf("%s: %s", c.name, r.Stderr)
		}
		fmt.Fprintf(&b, "== %s: exit %d\n%s", c.name, r.Code, r.Stderr)
	}
	golden(t, "diff/bad-input", b.String(), diffScrubs(dir)...)
}

func TestDiffIceberg(t *testing.T) {
	dir := t.TempDir()
	ds, err := demo.Generate(context.Background(), filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	r := runShadow(t, dir, "diff", ds.Legacy, ds.New, "--key", "order_id", "--sample", "3", "--catalog", ds.Location.Catalog)
	if r.Code != exitDiffers {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	golden(t, "diff/iceberg", r.Stdout, diffScrubs(dir)...)
	// Per-side catalogs and a missing table.
	r = runShadow(t, dir, "diff", ds.Legacy, "iceberg:demo.nope", "--legacy-catalog", ds.Location.Catalog, "--new-catalog", ds.Location.Catalog)
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "demo.nope") {
		t.Fatalf("missing table: exit %d: %s", r.Code, r.Stderr)
	}
}

func TestDemoGolden(t *testing.T) {
	dir := t.TempDir()
	r := runShadow(t, dir, "demo", "diff")
	if r.Code != exitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	golden(t, "demo/diff-stdout", r.Stdout, diffScrubs(dir)...)
	if _, err := os.Stat(filepath.Join(dir, "shadow-demo-diff", "catalog.db")); err != nil {
		t.Fatal(err)
	}
	// Running it again replaces the dataset and finds the same.
	r2 := runShadow(t, dir, "demo", "diff")
	if r2.Code != exitOK || !strings.Contains(r2.Stdout, "found exactly the planted differences") {
		t.Fatalf("second run: exit %d\n%s%s", r2.Code, r2.Stdout, r2.Stderr)
	}
}
