// Package rows turns the live rows of the compaction into Arrow record
// batches, with the CQL schema mapped to Iceberg and Arrow types that
// iceberg-go writes and reads back unchanged.
//
//	compaction.Row ──Batcher.Append──▶ column builders ──Batcher.Flush──▶ arrow.RecordBatch
//
// The mapping (docs/engine.md has the reasons and the lossy cases):
//
//	CQL                     Iceberg                Arrow
//	ascii, text, varchar    string                 utf8
//	bigint, counter         long                   int64
//	int, smallint, tinyint  int                    int32
//	float / double          float / double         float32 / float64
//	boolean                 boolean                bool
//	blob                    binary                 binary
//	timestamp               timestamptz            timestamp[us, UTC]   (ms × 1000, exact)
//	date                    date                   date32               (exact)
//	time                    time                   time64[us]           (ns truncated to µs)
//	uuid, timeuuid          uuid                   arrow.uuid extension (fixed 16 bytes)
//	inet                    string                 utf8                 (Go's RFC 5952 form)
//	decimal                 string                 utf8                 (unbounded scale: exact text)
//	varint                  decimal(38, 0)         decimal128(38, 0)    (|v| < 10^38, else an error)
//	duration                struct<months: int, days: int, nanoseconds: long>
//	list, set, vector       list                   list
//	map                     map                    map
//	tuple                   struct<"0", "1", …>    struct
//	UDT                     struct by field name   struct
//
// Every column is optional (nullable): clustering columns are null in a
// partition's static-only row. The optional provenance columns are
// _writetime (timestamptz: the newest write time of the row's live data),
// _ttl_expires_at (timestamptz: when the row's first TTL'd value expires,
// null when none does) and _snapshot_time (timestamptz: the backup's
// snapshot time).
package rows

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apache/iceberg-go"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
)

// Provenance column names. The investigation log recognises them: keep
// them exactly.
const (
	ColWriteTime    = "_writetime"
	ColTTLExpiresAt = "_ttl_expires_at"
	ColSnapshotTime = "_snapshot_time"
)

// ErrUnsupported marks a CQL type or value that has no Iceberg mapping
// (a custom type, a varint of 38 digits or more).
var ErrUnsupported = errors.New("no Iceberg mapping")

// Options choose the output columns.
type Options struct {
	// Provenance adds _writetime, _ttl_expires_at and _snapshot_time.
	Provenance   bool
	SnapshotTime time.Time // the value of _snapshot_time
	// BatchRows is the number of rows per record batch (default 8192).
	BatchRows int
}

func (o Options) batchRows() int {
	if o.BatchRows <= 0 {
		return 8192
	}
	return o.BatchRows
}

// Schema returns the Iceberg schema of a table's rows: the partition key,
// clustering, then static and regular columns in declaration order, then
// the provenance columns. Field IDs are 1…n for the top-level columns,
// then nested fields in order.
func Schema(t *compaction.Table, opts Options) (*iceberg.Schema, error) {
	type col struct {
		name string
		typ  *cql.Type
	}
	var cols []col
	for _, c := range t.Key {
		cols = append(cols, col{c.Name, c.Type})
	}
	for _, c := range t.Clustering {
		cols = append(cols, col{c.Name, c.Type})
	}
	for _, c := range t.Values {
		cols = append(cols, col{c.Name, c.Type})
	}
	top := len(cols)
	if opts.Provenance {
		top += 3
	}
	next := top
	id := func() int { next++; return next }
	var fields []iceberg.NestedField
	for i, c := range cols {
		it, err := icebergType(c.typ, id)
		if err != nil {
			return nil, fmt.Errorf("%s.%s column %s: %w", t.Keyspace, t.Name, c.name, err)
		}
		fields = append(fields, iceberg.NestedField{ID: i + 1, Name: c.name, Type: it, Doc: "CQL " + c.typ.CQL()})
	}
	if opts.Provenance {
		n := len(cols)
		fields = append(fields,
			iceberg.NestedField{ID: n + 1, Name: ColWriteTime, Type: iceberg.PrimitiveTypes.TimestampTz, Doc: "newest write time of the row's live data"},
			iceberg.NestedField{ID: n + 2, Name: ColTTLExpiresAt, Type: iceberg.PrimitiveTypes.TimestampTz, Doc: "when the row's first TTL'd value expires"},
			iceberg.NestedField{ID: n + 3, Name: ColSnapshotTime, Type: iceberg.PrimitiveTypes.TimestampTz, Doc: "the backup's snapshot time"})
	}
	return iceberg.NewSchema(0, fields...), nil
}

// icebergType maps a CQL type; id hands out field IDs for nested fields.
func icebergType(t *cql.Type, id func() int) (iceberg.Type, error) {
	switch t.Kind {
	case cql.KindAscii, cql.KindText, cql.KindInet, cql.KindDecimal:
		return iceberg.PrimitiveTypes.String, nil
	case cql.KindBigint, cql.KindCounter:
		return iceberg.PrimitiveTypes.Int64, nil
	case cql.KindInt, cql.KindSmallint, cql.KindTinyint:
		return iceberg.PrimitiveTypes.Int32, nil
	case cql.KindFloat:
		return iceberg.PrimitiveTypes.Float32, nil
	case cql.KindDouble:
		return iceberg.PrimitiveTypes.Float64, nil
	case cql.KindBoolean:
		return iceberg.PrimitiveTypes.Bool, nil
	case cql.KindBlob, cql.KindEmpty:
		return iceberg.PrimitiveTypes.Binary, nil
	case cql.KindTimestamp:
		return iceberg.PrimitiveTypes.TimestampTz, nil
	case cql.KindDate:
		return iceberg.PrimitiveTypes.Date, nil
	case cql.KindTime:
		return iceberg.PrimitiveTypes.Time, nil
	case cql.KindUUID, cql.KindTimeuuid, cql.KindLexicalUUID:
		return iceberg.PrimitiveTypes.UUID, nil
	case cql.KindVarint:
		return iceberg.DecimalTypeOf(38, 0), nil
	case cql.KindDuration:
		return &iceberg.StructType{FieldList: []iceberg.NestedField{
			{ID: id(), Name: "months", Type: iceberg.PrimitiveTypes.Int32},
			{ID: id(), Name: "days", Type: iceberg.PrimitiveTypes.Int32},
			{ID: id(), Name: "nanoseconds", Type: iceberg.PrimitiveTypes.Int64},
		}}, nil
	case cql.KindList, cql.KindSet, cql.KindVector:
		eid := id()
		et, err := icebergType(t.Elems[0], id)
		if err != nil {
			return nil, err
		}
		return &iceberg.ListType{ElementID: eid, Element: et}, nil
	case cql.KindMap:
		kid, vid := id(), id()
		kt, err := icebergType(t.Elems[0], id)
		if err != nil {
			return nil, err
		}
		vt, err := icebergType(t.Elems[1], id)
		if err != nil {
			return nil, err
		}
		return &iceberg.MapType{KeyID: kid, KeyType: kt, ValueID: vid, ValueType: vt}, nil
	case cql.KindTuple, cql.KindUDT:
		ids := make([]int, len(t.Elems))
		for i := range ids {
			ids[i] = id()
		}
		st := &iceberg.StructType{}
		for i, e := range t.Elems {
			ft, err := icebergType(e, id)
			if err != nil {
				return nil, err
			}
			name := strconv.Itoa(i)
			if t.Kind == cql.KindUDT && i < len(t.Fields) {
				name = t.Fields[i]
			}
			st.FieldList = append(st.FieldList, iceberg.NestedField{ID: ids[i], Name: name, Type: ft})
		}
		return st, nil
	}
	return nil, fmt.Errorf("%w: CQL type %s", ErrUnsupported, t.CQL())
}
