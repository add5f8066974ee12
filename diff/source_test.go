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
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cassmove/shadow/engine/lake"
)

func writeParquet(t *testing.T, path string, sc *arrow.Schema, rows string, rowGroup int64) {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(rowGroup)), pqarrow.DefaultWriterProps())
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

func runGlobs(t *testing.T, c, m string, opts Options) (*Report, error) {
	t.Helper()
	cs, err := OpenRef("parquet:"+c, lake.Location{})
	if err != nil {
		return nil, err
	}
	ms, err := OpenRef("parquet:"+m, lake.Location{})
	if err != nil {
		return nil, err
	}
	return Run(context.Background(), cs, ms, opts)
}

func TestParquetGlobs(t *testing.T) {
	dir := t.TempDir()
	reordered := arrow.NewSchema([]arrow.Field{ordersSchema.Field(4), ordersSchema.Field(3), ordersSchema.Field(2), ordersSchema.Field(1), ordersSchema.Field(0)}, nil)
	os.MkdirAll(filepath.Join(dir, "c"), 0o755)
	os.MkdirAll(filepath.Join(dir, "m"), 0o755)
	writeParquet(t, filepath.Join(dir, "c", "a.parquet"), ordersSchema, legacyOrders, 2)
	writeParquet(t, filepath.Join(dir, "m", "a.parquet"), ordersSchema, newOrders[:strings.Index(newOrders, `{"id": 5`)]+`{"id": 9}]`, 1)
	writeParquet(t, filepath.Join(dir, "m", "b.parquet"), reordered, `[`+newOrders[strings.Index(newOrders, `{"id": 5`):], 3)
	rep, err := runGlobs(t, filepath.Join(dir, "c", "*.parquet"), filepath.Join(dir, "m", "*.parquet"), Options{Key: []string{"id"}, Rules: Rules{Ignore: []string{"loaded"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LegacyRows != 6 || rep.NewRows != 6 || rep.New.FilesRead != 2 || *rep.Extra != 2 {
		t.Fatalf("rows %d/%d files %d extra %d", rep.LegacyRows, rep.NewRows, rep.New.FilesRead, *rep.Extra)
	}
}

func TestParquetBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	writeParquet(t, good, ordersSchema, legacyOrders, 100)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.parquet")
	os.WriteFile(garbage, []byte("this is not parquet at all, not even close"), 0o644)
	truncated := filepath.Join(dir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	// Damage the pages but keep the footer: the error comes while reading.
	damaged := filepath.Join(dir, "damaged.parquet")
	bad := append([]byte(nil), data...)
	for i := 8; i < len(bad)/3; i++ {
		bad[i] ^= 0x5a
	}
	os.WriteFile(damaged, bad, 0o644)
	other := filepath.Join(dir, "other")
	os.MkdirAll(other, 0o755)
	writeParquet(t, filepath.Join(other, "a.parquet"), ordersSchema, legacyOrders, 100)
	writeParquet(t, filepath.Join(other, "b.parquet"), arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil), `[{"id": "x"}]`, 100)

	cases := []struct {
		name, c string
		target  error
		says    string
	}{
		{"missing file", filepath.Join(dir, "nope.parquet"), lake.ErrNotFound, "nope.parquet"},
		{"glob matching nothing", filepath.Join(dir, "*.nope"), lake.ErrNotFound, "no file matches"},
		{"garbage", garbage, ErrCorrupt, "garbage.parquet"},
		{"truncated", truncated, ErrCorrupt, "truncated.parquet"},
		{"damaged pages", damaged, ErrCorrupt, "damaged.parquet"},
		{"directory", other, ErrCorrupt, "is a directory"},
		{"files of one side disagree", filepath.Join(other, "*.parquet"), ErrSchemaMismatch, "b.parquet"},
		{"bad glob", filepath.Join(dir, "[x"), lake.ErrBadReference, "parquet:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runGlobs(t, c.c, good, Options{})
			if !errors.Is(err, c.target) {
				t.Fatalf("err %v, want %v", err, c.target)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not name %q", err, c.says)
			}
		})
	}
}

func TestOpenRef(t *testing.T) {
	for _, ref := range []string{"orders", "iceberg:orders", "iceberg:ns.t@yesterday", "parquet:", "hive:ns.t"} {
		if _, err := OpenRef(ref, lake.Location{}); !errors.Is(err, lake.ErrBadReference) {
			t.Errorf("%q: err %v, want ErrBadReference", ref, err)
		}
	}
}
