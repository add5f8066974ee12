package diff

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/uuid"
)

// Output files of --out: every row of C − M and of M − C, in report order,
// with the compared columns in each side's own types (dictionaries
// decoded), then the side's carried columns (Options.Carry) in Carry order.
// Compared values are the normalized ones; carried values are as read.
const (
	OnlyInLegacyFile = "only_in_legacy.parquet"
	OnlyInNewFile    = "only_in_new.parquet"
)

type outWriter struct {
	cols   []column
	carry  [2][]string // carried columns per side, after the compared ones
	paths  [2]string
	files  [2]*os.File
	w      [2]*pqarrow.FileWriter
	b      [2]*array.RecordBuilder
	n      [2]int
	split  [][]byte
	closed bool
}

func plainType(dt arrow.DataType) arrow.DataType {
	if d, ok := dt.(*arrow.DictionaryType); ok {
		return d.ValueType
	}
	return dt
}

func newOutWriter(dir string, cols []column, carry *carried) (*outWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	o := &outWriter{cols: cols}
	for s, name := range []string{OnlyInLegacyFile, OnlyInNewFile} {
		var fields []arrow.Field
		for _, c := range cols {
			dt := c.legacyType
			if s == 1 {
				dt = c.newType
			}
			fields = append(fields, arrow.Field{Name: c.name, Type: plainType(dt), Nullable: true})
		}
		if carry != nil {
			for k, name := range carry.names[s] {
				fields = append(fields, arrow.Field{Name: name, Type: plainType(carry.arrow[s][k]), Nullable: true})
			}
			o.carry[s] = carry.names[s]
		}
		sc := arrow.NewSchema(fields, nil)
		o.paths[s] = filepath.Join(dir, name)
		f, err := os.Create(o.paths[s])
		if err != nil {
			o.abort()
			return nil, fmt.Errorf("--out: %w", err)
		}
		o.files[s] = f
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd))
		w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			o.abort()
			return nil, fmt.Errorf("--out %s: %w", o.paths[s], err)
		}
		o.w[s] = w
		o.b[s] = array.NewRecordBuilder(memory.DefaultAllocator, sc)
	}
	return o, nil
}

func (o *outWriter) write(side byte, row, carry []byte) error {
	if o == nil {
		return nil
	}
	var err error
	if o.split, err = splitRow(row, len(o.cols), o.split); err != nil {
		return err
	}
	b := o.b[side]
	for j := range o.cols {
		if err := appendBuilder(b.Field(j), o.split[j]); err != nil {
			return fmt.Errorf("--out column %q: %w", o.cols[j].name, err)
		}
	}
	if names := o.carry[side]; len(names) > 0 {
		if o.split, err = splitRow(carry, len(names), o.split); err != nil {
			return fmt.Errorf("--out carried values: %w", err)
		}
		for j, name := range names {
			if err := appendBuilder(b.Field(len(o.cols)+j), o.split[j]); err != nil {
				return fmt.Errorf("--out carried column %q: %w", name, err)
			}
		}
	}
	o.n[side]++
	if o.n[side] >= batchRows {
		return o.flushSide(side)
	}
	return nil
}

func (o *outWriter) flushSide(s byte) error {
	if o.n[s] == 0 {
		return nil
	}
	rec := o.b[s].NewRecordBatch()
	defer rec.Release()
	o.n[s] = 0
	if err := o.w[s].WriteBuffered(rec); err != nil {
		return fmt.Errorf("--out %s: %w", o.paths[s], err)
	}
	return nil
}

func (o *outWriter) close() error {
	if o == nil || o.closed {
		return nil
	}
	o.closed = true
	var first error
	for s := range o.w {
		if err := o.flushSide(byte(s)); err != nil && first == nil {
			first = err
		}
		if err := o.w[s].Close(); err != nil && first == nil {
			first = fmt.Errorf("--out %s: %w", o.paths[s], err)
		}
		o.b[s].Release()
	}
	return first
}

// abort closes and removes partial outputs after a failure.
func (o *outWriter) abort() {
	if o == nil {
		return
	}
	for s := range o.files {
		if o.w[s] != nil && !o.closed {
			o.w[s].Close()
		}
		if o.files[s] != nil {
			o.files[s].Close()
			os.Remove(o.paths[s])
		}
		if o.b[s] != nil && !o.closed {
			o.b[s].Release()
		}
	}
	o.closed = true
}

// appendBuilder appends a canonical value to a builder of the column's
// own type.
func appendBuilder(bl array.Builder, v []byte) error {
	if v[0] == tagNull {
		bl.AppendNull()
		return nil
	}
	i64 := func() int64 { return int64(binary.BigEndian.Uint64(v[1:])) }
	f64 := func() float64 { return math.Float64frombits(binary.BigEndian.Uint64(v[1:])) }
	bs := func() []byte {
		n, k := binary.Uvarint(v[1:])
		return v[1+k : 1+k+int(n)]
	}
	switch b := bl.(type) {
	case *array.Int8Builder:
		b.Append(int8(i64()))
	case *array.Int16Builder:
		b.Append(int16(i64()))
	case *array.Int32Builder:
		b.Append(int32(i64()))
	case *array.Int64Builder:
		b.Append(i64())
	case *array.Uint8Builder:
		b.Append(uint8(i64()))
	case *array.Uint16Builder:
		b.Append(uint16(i64()))
	case *array.Uint32Builder:
		b.Append(uint32(i64()))
	case *array.Uint64Builder:
		b.Append(binary.BigEndian.Uint64(v[1:]))
	case *array.Float16Builder:
		b.Append(float16.New(float32(f64())))
	case *array.Float32Builder:
		b.Append(float32(f64()))
	case *array.Float64Builder:
		b.Append(f64())
	case *array.Decimal32Builder, *array.Decimal64Builder, *array.Decimal128Builder, *array.Decimal256Builder:
		return appendDecimalBuilder(bl, v)
	case *array.StringBuilder:
		b.BinaryBuilder.Append(bs())
	case *array.LargeStringBuilder:
		b.BinaryBuilder.Append(bs())
	case *array.StringViewBuilder:
		b.Append(string(bs()))
	case *array.BinaryBuilder:
		b.Append(bs())
	case *array.BinaryViewBuilder:
		b.Append(bs())
	case *array.FixedSizeBinaryBuilder:
		b.Append(bs())
	case *extensions.UUIDBuilder:
		b.Append(uuid.UUID(v[1:17]))
	case *array.BooleanBuilder:
		b.Append(v[0] == tagTrue)
	case *array.Date32Builder:
		b.Append(arrow.Date32(int32(binary.BigEndian.Uint32(v[1:]))))
	case *array.Date64Builder:
		b.Append(arrow.Date64(int64(int32(binary.BigEndian.Uint32(v[1:]))) * 86_400_000))
	case *array.Time32Builder:
		b.Append(arrow.Time32(fromMicros(i64(), b.Type().(*arrow.Time32Type).Unit)))
	case *array.Time64Builder:
		b.Append(arrow.Time64(fromMicros(i64(), b.Type().(*arrow.Time64Type).Unit)))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(fromMicros(i64(), b.Type().(*arrow.TimestampType).Unit)))
	case *array.MapBuilder:
		c, k := binary.Uvarint(v[1:])
		rest := v[1+k:]
		b.Append(true)
		for j := uint64(0); j < c; j++ {
			for _, sub := range []array.Builder{b.KeyBuilder(), b.ItemBuilder()} {
				n, err := skipValue(rest)
				if err != nil {
					return err
				}
				if err := appendBuilder(sub, rest[:n]); err != nil {
					return err
				}
				rest = rest[n:]
			}
		}
	case array.ListLikeBuilder:
		c, k := binary.Uvarint(v[1:])
		rest := v[1+k:]
		b.Append(true)
		for j := uint64(0); j < c; j++ {
			n, err := skipValue(rest)
			if err != nil {
				return err
			}
			if err := appendBuilder(b.ValueBuilder(), rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
	case *array.StructBuilder:
		c, k := binary.Uvarint(v[1:])
		rest := v[1+k:]
		order := structOrder(b.Type().(*arrow.StructType))
		if int(c) != len(order) {
			return fmt.Errorf("%w: struct of %d fields, want %d", ErrCorruptRow, c, len(order))
		}
		b.Append(true)
		for _, f := range order {
			n, err := skipValue(rest)
			if err != nil {
				return err
			}
			if err := appendBuilder(b.FieldBuilder(f), rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
	default:
		return fmt.Errorf("no Parquet output for %s", bl.Type())
	}
	return nil
}

func fromMicros(us int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return floorDiv(us, 1_000_000)
	case arrow.Millisecond:
		return floorDiv(us, 1000)
	case arrow.Nanosecond:
		return us * 1000
	}
	return us
}

func appendDecimalBuilder(bl array.Builder, v []byte) error {
	if v[0] != tagDecimal {
		return fmt.Errorf("%w: decimal column holds tag 0x%02x", ErrCorruptRow, v[0])
	}
	u, s := decimalParts(v)
	ts := bl.Type().(arrow.DecimalType).GetScale()
	if d := ts - s; d > 0 {
		u.Mul(u, new(big.Int).Exp(bigTen, big.NewInt(int64(d)), nil))
	} else if d < 0 {
		u.Quo(u, new(big.Int).Exp(bigTen, big.NewInt(int64(-d)), nil))
	}
	switch b := bl.(type) {
	case *array.Decimal32Builder:
		b.Append(decimal.Decimal32(u.Int64()))
	case *array.Decimal64Builder:
		b.Append(decimal.Decimal64(u.Int64()))
	case *array.Decimal128Builder:
		b.Append(decimal128.FromBigInt(u))
	case *array.Decimal256Builder:
		b.Append(decimal256.FromBigInt(u))
	}
	return nil
}
