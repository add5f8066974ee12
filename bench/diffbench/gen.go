package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"
)

// The two tables: 8 columns of mixed types. Row i of the legacy table is a
// pure function of i, so both sides agree except where an edit says so.
var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "payload", Type: arrow.BinaryTypes.Binary},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// Every editEvery-th row is edited, cycling through the edit kinds, so that
// about 0.1% of rows differ, spread evenly through the table.
const editEvery = 1000

type editKind int

const (
	editMissing   editKind = iota // row absent from new
	editPhantom                   // new has an extra row with a fresh id
	editChanged                   // amount differs
	editDuplicate                 // new holds the row twice
	editNullEmpty                 // note NULL in legacy, '' in new
	editTSPrec                    // ts truncated to milliseconds in new
	numEdits
)

func editOf(i int64) (editKind, bool) {
	if i%editEvery != editEvery/2 {
		return 0, false
	}
	return editKind((i / editEvery) % int64(numEdits)), true
}

// expected is what both tools must report.
type expected struct {
	Rows         int64 `json:"rows"`
	LegacyRows   int64 `json:"legacy_rows"`
	NewRows      int64 `json:"new_rows"`
	OnlyInLegacy int64 `json:"only_in_legacy"`
	OnlyInNew    int64 `json:"only_in_new"`
	// With --key id:
	Changed       int64 `json:"changed"`
	Missing       int64 `json:"missing"`
	Extra         int64 `json:"extra"`
	DuplicateKeys int64 `json:"duplicate_keys"`
}

func expectedFor(rows int64) expected {
	e := expected{Rows: rows, LegacyRows: rows, NewRows: rows}
	for i := int64(0); i < rows; i++ {
		k, ok := editOf(i)
		if !ok {
			continue
		}
		switch k {
		case editMissing:
			e.NewRows--
			e.OnlyInLegacy++
			e.Missing++
		case editPhantom:
			e.NewRows++
			e.OnlyInNew++
			e.Extra++
		case editChanged, editNullEmpty, editTSPrec:
			e.OnlyInLegacy++
			e.OnlyInNew++
			e.Changed++
		case editDuplicate:
			e.NewRows++
			e.OnlyInNew++
			e.Extra++
			e.DuplicateKeys++
		}
	}
	return e
}

func mix(x uint64) uint64 { // splitmix64
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var firstNames = []string{"ada", "alan", "barbara", "claude", "donald", "edsger", "frances", "grace", "john", "ken", "leslie", "margaret", "niklaus", "radia", "tony", "whitfield"}

// row builds the legacy row i into the builders; for the new side, edit
// applies the row's edit.
type builders struct {
	b          *array.RecordBuilder
	id         *array.Int64Builder
	name, note *array.StringBuilder
	amount     *array.Float64Builder
	qty        *array.Int32Builder
	ts         *array.TimestampBuilder
	flag       *array.BooleanBuilder
	payload    *array.BinaryBuilder
	pay        [16]byte
	nameBuf    []byte
}

func newBuilders() *builders {
	b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
	return &builders{
		b: b, id: b.Field(0).(*array.Int64Builder), name: b.Field(1).(*array.StringBuilder),
		amount: b.Field(2).(*array.Float64Builder), qty: b.Field(3).(*array.Int32Builder),
		ts: b.Field(4).(*array.TimestampBuilder), flag: b.Field(5).(*array.BooleanBuilder),
		payload: b.Field(6).(*array.BinaryBuilder), note: b.Field(7).(*array.StringBuilder),
	}
}

var baseTS = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

func (b *builders) add(i int64, newSide bool) {
	k, edited := editOf(i)
	if newSide && edited && k == editMissing {
		return
	}
	reps := 1
	if newSide && edited && k == editDuplicate {
		reps = 2
	}
	for r := 0; r < reps; r++ {
		b.addRow(i, newSide && edited, k)
	}
	if newSide && edited && k == editPhantom {
		b.addRow(1<<40+i, false, 0)
	}
}

func (b *builders) addRow(i int64, edited bool, k editKind) {
	h := mix(uint64(i))
	b.id.Append(i)
	b.name.Append(firstNames[h%16] + "-" + fmt.Sprint(h>>40%5000))
	amount := float64(h>>20%1000000) / 100
	if edited && k == editChanged {
		amount += 1
	}
	b.amount.Append(amount)
	b.qty.Append(int32(h >> 8 % 1000))
	ts := baseTS + i*1000 + 1 + int64(h%999) // always has a sub-millisecond part
	if edited && k == editTSPrec {
		ts -= ts % 1000
	}
	b.ts.Append(arrow.Timestamp(ts))
	b.flag.Append(h&1 == 1)
	h2 := mix(h)
	for j := 0; j < 16; j += 8 {
		v := mix(h2 + uint64(j))
		for n := 0; n < 8; n++ {
			b.pay[j+n] = byte(v >> (8 * n))
		}
	}
	b.payload.Append(b.pay[:])
	_, nullEdit := editOf(i)
	nullEdit = nullEdit && k == editNullEmpty
	switch {
	case nullEdit && edited:
		b.note.Append("")
	case nullEdit || h>>50%10 < 3:
		b.note.AppendNull()
	default:
		b.note.Append(firstNames[h>>54%16] + " was here")
	}
}

// generate writes DIR/legacy/part-NNN.parquet and DIR/new/part-NNN.parquet,
// files per side, zstd (the Iceberg default codec), 512Ki-row row groups.
func generate(ctx context.Context, dir string, rows int64, files int) error {
	for _, side := range []string{"legacy", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, side), 0o755); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	per := (rows + int64(files) - 1) / int64(files)
	for _, side := range []string{"legacy", "new"} {
		for f := 0; f < files; f++ {
			lo, hi := int64(f)*per, min(int64(f+1)*per, rows)
			path := filepath.Join(dir, side, fmt.Sprintf("part-%03d.parquet", f))
			newSide := side == "new"
			g.Go(func() error { return writeFile(ctx, path, lo, hi, newSide) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	e := expectedFor(rows)
	buf, _ := json.MarshalIndent(e, "", "  ")
	return os.WriteFile(filepath.Join(dir, "expected.json"), buf, 0o644)
}

func writeFile(ctx context.Context, path string, lo, hi int64, newSide bool) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(512*1024), parquet.WithDictionaryDefault(true), parquet.WithStats(true))
	w, err := pqarrow.NewFileWriter(benchSchema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	b := newBuilders()
	defer b.b.Release()
	for i := lo; i < hi; i++ {
		b.add(i, newSide)
		if b.id.Len() >= 64*1024 || i == hi-1 {
			rec := b.b.NewRecordBatch()
			err := w.WriteBuffered(rec)
			rec.Release()
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
