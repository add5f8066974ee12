package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	itable "github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/lake"
)

// Exporting the truth: the expected rows as Arrow record batches, with the
// CQL→Arrow mapping the engine's Iceberg output has (docs/cluster.md), so
// that diff/ compares the truth with the engine's table column by column.
//
//	ascii, text, inet, decimal → utf8 (inet and decimal as cql.String)
//	bigint, counter → int64; int, smallint, tinyint → int32
//	float → float32; double → float64; boolean → bool; blob → binary
//	timestamp → timestamp[us, UTC]; date → date32; time → time64[us]
//	uuid, timeuuid → the arrow.uuid extension (fixed_size_binary(16))
//	varint → decimal128(38, 0); duration → struct<months, days, nanoseconds>
//	list, set → list; map → map; tuple → struct<0, 1, …>; UDT → struct of its fields
//
// With provenance, three timestamp[us, UTC] columns follow: _writetime,
// _ttl_expires_at (null when nothing expires) and _snapshot_time.

// Provenance column names, as the engine writes them.
const (
	ColWriteTime    = "_writetime"
	ColTTLExpiresAt = "_ttl_expires_at"
	ColSnapshotTime = "_snapshot_time"
)

// ErrExport marks a value the Arrow mapping cannot hold (a varint of more
// than 38 digits).
var ErrExport = errors.New("cannot export value")

// ArrowType maps a CQL type to the Arrow type of the engine's output.
func ArrowType(t *cql.Type) (arrow.DataType, error) {
	switch t.Kind {
	case cql.KindAscii, cql.KindText, cql.KindInet, cql.KindDecimal:
		return arrow.BinaryTypes.String, nil
	case cql.KindBigint, cql.KindCounter:
		return arrow.PrimitiveTypes.Int64, nil
	case cql.KindInt, cql.KindSmallint, cql.KindTinyint:
		return arrow.PrimitiveTypes.Int32, nil
	case cql.KindFloat:
		return arrow.PrimitiveTypes.Float32, nil
	case cql.KindDouble:
		return arrow.PrimitiveTypes.Float64, nil
	case cql.KindBoolean:
		return arrow.FixedWidthTypes.Boolean, nil
	case cql.KindBlob, cql.KindEmpty:
		return arrow.BinaryTypes.Binary, nil
	case cql.KindTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case cql.KindDate:
		return arrow.FixedWidthTypes.Date32, nil
	case cql.KindTime:
		return arrow.FixedWidthTypes.Time64us, nil
	case cql.KindUUID, cql.KindTimeuuid, cql.KindLexicalUUID:
		return extensions.NewUUIDType(), nil
	case cql.KindVarint:
		return &arrow.Decimal128Type{Precision: 38, Scale: 0}, nil
	case cql.KindDuration:
		return arrow.StructOf(
			arrow.Field{Name: "months", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "days", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			arrow.Field{Name: "nanoseconds", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), nil
	case cql.KindList, cql.KindSet, cql.KindVector:
		e, err := ArrowType(t.Elems[0])
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(e), nil
	case cql.KindMap:
		k, err := ArrowType(t.Elems[0])
		if err != nil {
			return nil, err
		}
		v, err := ArrowType(t.Elems[1])
		if err != nil {
			return nil, err
		}
		return arrow.MapOf(k, v), nil
	case cql.KindTuple, cql.KindUDT:
		var fs []arrow.Field
		for i, e := range t.Elems {
			et, err := ArrowType(e)
			if err != nil {
				return nil, err
			}
			name := strconv.Itoa(i)
			if t.Kind == cql.KindUDT && i < len(t.Fields) {
				name = t.Fields[i]
			}
			fs = append(fs, arrow.Field{Name: name, Type: et, Nullable: true})
		}
		return arrow.StructOf(fs...), nil
	}
	return nil, fmt.Errorf("%w: CQL type %s has no Arrow mapping", ErrExport, t.CQL())
}

// ArrowSchema is the schema of the truth's batches; provenance adds the
// three provenance columns.
func (t *Table) ArrowSchema(provenance bool) (*arrow.Schema, error) {
	var fs []arrow.Field
	for _, c := range t.Columns {
		at, err := ArrowType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s column %s: %w", t.Keyspace, t.Name, c.Name, err)
		}
		fs = append(fs, arrow.Field{Name: c.Name, Type: at, Nullable: true})
	}
	if provenance {
		ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		fs = append(fs, arrow.Field{Name: ColWriteTime, Type: ts, Nullable: true},
			arrow.Field{Name: ColTTLExpiresAt, Type: ts, Nullable: true},
			arrow.Field{Name: ColSnapshotTime, Type: ts, Nullable: true})
	}
	return arrow.NewSchema(fs, nil), nil
}

// Records streams the truth as record batches of at most batchRows rows
// (default 8192). emit owns each batch and must Release it.
func (t *Table) Records(provenance bool, batchRows int, emit func(arrow.RecordBatch) error) error {
	sc, err := t.ArrowSchema(provenance)
	if err != nil {
		return err
	}
	if batchRows <= 0 {
		batchRows = 8192
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		rec := b.NewRecordBatch()
		n = 0
		return emit(rec)
	}
	for _, r := range t.Rows {
		for i, c := range t.Columns {
			if err := appendValue(b.Field(i), c.Type, r.Values[i]); err != nil {
				return fmt.Errorf("%s.%s column %s: %w", t.Keyspace, t.Name, c.Name, err)
			}
		}
		if provenance {
			k := len(t.Columns)
			b.Field(k).(*array.TimestampBuilder).Append(arrow.Timestamp(r.WriteTime))
			if r.Expiry == 0 {
				b.Field(k + 1).AppendNull()
			} else {
				b.Field(k + 1).(*array.TimestampBuilder).Append(arrow.Timestamp(r.Expiry * 1_000_000))
			}
			b.Field(k + 2).(*array.TimestampBuilder).Append(arrow.Timestamp(t.SnapshotTime.UnixMicro()))
		}
		n++
		if n >= batchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func appendValue(ab array.Builder, t *cql.Type, v any) error {
	if v == nil {
		ab.AppendNull()
		return nil
	}
	if _, empty := v.(cql.EmptyValue); empty {
		ab.AppendNull() // an empty value of a non-empty type reads as null
		return nil
	}
	switch t.Kind {
	case cql.KindAscii, cql.KindText:
		ab.(*array.StringBuilder).Append(v.(string))
	case cql.KindInet, cql.KindDecimal:
		b, err := cql.Encode(t, v)
		if err != nil {
			return err
		}
		ab.(*array.StringBuilder).Append(cql.String(t, b))
	case cql.KindBigint, cql.KindCounter:
		ab.(*array.Int64Builder).Append(v.(int64))
	case cql.KindInt:
		ab.(*array.Int32Builder).Append(v.(int32))
	case cql.KindSmallint:
		ab.(*array.Int32Builder).Append(int32(v.(int16)))
	case cql.KindTinyint:
		ab.(*array.Int32Builder).Append(int32(v.(int8)))
	case cql.KindFloat:
		ab.(*array.Float32Builder).Append(v.(float32))
	case cql.KindDouble:
		ab.(*array.Float64Builder).Append(v.(float64))
	case cql.KindBoolean:
		ab.(*array.BooleanBuilder).Append(v.(bool))
	case cql.KindBlob, cql.KindEmpty:
		ab.(*array.BinaryBuilder).Append(v.([]byte))
	case cql.KindTimestamp:
		ab.(*array.TimestampBuilder).Append(arrow.Timestamp(int64(v.(cql.Timestamp)) * 1000))
	case cql.KindDate:
		ab.(*array.Date32Builder).Append(arrow.Date32(int32(uint32(v.(cql.Date)) - 1<<31)))
	case cql.KindTime:
		ab.(*array.Time64Builder).Append(arrow.Time64(int64(v.(cql.Time)) / 1000))
	case cql.KindUUID, cql.KindTimeuuid, cql.KindLexicalUUID:
		ab.(*extensions.UUIDBuilder).AppendBytes([16]byte(v.(cql.UUID)))
	case cql.KindVarint:
		n := v.(*big.Int)
		limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)
		if new(big.Int).Abs(n).Cmp(limit) >= 0 {
			return fmt.Errorf("%w: varint %s has more than 38 digits", ErrExport, n)
		}
		ab.(*array.Decimal128Builder).Append(decimal128.FromBigInt(n))
	case cql.KindDuration:
		d := v.(cql.Duration)
		sb := ab.(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int32Builder).Append(d.Months)
		sb.FieldBuilder(1).(*array.Int32Builder).Append(d.Days)
		sb.FieldBuilder(2).(*array.Int64Builder).Append(d.Nanos)
	case cql.KindList, cql.KindSet, cql.KindVector:
		lb := ab.(*array.ListBuilder)
		lb.Append(true)
		for _, e := range v.([]any) {
			if err := appendValue(lb.ValueBuilder(), t.Elems[0], e); err != nil {
				return err
			}
		}
	case cql.KindMap:
		mb := ab.(*array.MapBuilder)
		mb.Append(true)
		for _, e := range v.([]cql.MapEntry) {
			if err := appendValue(mb.KeyBuilder(), t.Elems[0], e.Key); err != nil {
				return err
			}
			if err := appendValue(mb.ItemBuilder(), t.Elems[1], e.Value); err != nil {
				return err
			}
		}
	case cql.KindTuple, cql.KindUDT:
		sb := ab.(*array.StructBuilder)
		sb.Append(true)
		fs := v.([]any)
		for i := range t.Elems {
			var f any
			if i < len(fs) {
				f = fs[i]
			}
			if err := appendValue(sb.FieldBuilder(i), t.Elems[i], f); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: CQL type %s", ErrExport, t.CQL())
	}
	return nil
}

// WriteParquet writes the truth to one Parquet file (zstd), for
// `shadow diff parquet:PATH …`.
func (t *Table) WriteParquet(path string, provenance bool) error {
	sc, err := t.ArrowSchema(provenance)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		return err
	}
	err = t.Records(provenance, 0, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		return w.WriteBuffered(rec)
	})
	if cerr := w.Close(); err == nil {
		err = cerr // closes f too
	}
	if err != nil {
		return fmt.Errorf("writing the truth of %s.%s to %s: %w", t.Keyspace, t.Name, path, err)
	}
	return nil
}

// WriteIceberg writes the truth as a new Iceberg table ident (namespace
// created when missing) in one snapshot, for `shadow diff iceberg:NS.T …`.
func (t *Table) WriteIceberg(ctx context.Context, cat *lake.Catalog, ident itable.Identifier, provenance bool) error {
	sc, err := t.ArrowSchema(provenance)
	if err != nil {
		return err
	}
	if len(ident) > 1 {
		ns := ident[:len(ident)-1]
		if err := cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return fmt.Errorf("namespace %v: %w", ns, err)
		}
	}
	isch, err := itable.ArrowSchemaToIcebergWithFreshIDs(sc, false)
	if err != nil {
		return fmt.Errorf("truth of %s.%s: %w", t.Keyspace, t.Name, err)
	}
	tbl, err := cat.CreateTable(ctx, ident, isch, catalog.WithProperties(iceberg.Properties{"format-version": "2"}))
	if err != nil {
		return fmt.Errorf("creating %v: %w", ident, err)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	if err := t.Records(provenance, 0, func(rec arrow.RecordBatch) error { recs = append(recs, rec); return nil }); err != nil {
		return err
	}
	rdr, err := array.NewRecordReader(sc, recs)
	if err != nil {
		return err
	}
	defer rdr.Release()
	if _, err := tbl.Append(ctx, rdr, nil); err != nil {
		return fmt.Errorf("appending the truth to %v: %w", ident, err)
	}
	return nil
}
