package rows

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/sstable"
)

// Batcher appends compaction rows to reused Arrow builders and cuts them
// into record batches. It is not safe for concurrent use; run one per
// goroutine.
type Batcher struct {
	t      *compaction.Table
	opts   Options
	schema *arrow.Schema
	rb     *array.RecordBuilder

	keys  []*conv // partition key columns
	cks   []*conv // clustering columns
	vals  []*conv // value columns, indexed like Table.Values
	wt    *array.TimestampBuilder
	exp   *array.TimestampBuilder
	snap  *array.TimestampBuilder
	snapV arrow.Timestamp

	parts [][]byte // scratch: split composite key
	n     int
}

// NewBatcher makes a Batcher producing records of schema, an Arrow schema
// of Schema(t, opts) (possibly with other field IDs, as an existing
// Iceberg table has them). Columns are matched by name.
func NewBatcher(t *compaction.Table, schema *arrow.Schema, opts Options, mem memory.Allocator) (*Batcher, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	b := &Batcher{t: t, opts: opts, schema: schema, rb: array.NewRecordBuilder(mem, schema)}
	field := func(name string) (array.Builder, error) {
		idx := schema.FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("%w: the Arrow schema has %d fields named %q", ErrUnsupported, len(idx), name)
		}
		return b.rb.Field(idx[0]), nil
	}
	mk := func(c *compaction.Column) (*conv, error) {
		fb, err := field(c.Name)
		if err != nil {
			return nil, err
		}
		cv, err := newConv(c.Type, fb)
		if err != nil {
			return nil, fmt.Errorf("%s.%s column %s: %w", t.Keyspace, t.Name, c.Name, err)
		}
		return cv, nil
	}
	for _, c := range t.Key {
		cv, err := mk(c)
		if err != nil {
			b.Release()
			return nil, err
		}
		b.keys = append(b.keys, cv)
	}
	for _, c := range t.Clustering {
		cv, err := mk(c)
		if err != nil {
			b.Release()
			return nil, err
		}
		b.cks = append(b.cks, cv)
	}
	for _, c := range t.Values {
		cv, err := mk(c)
		if err != nil {
			b.Release()
			return nil, err
		}
		b.vals = append(b.vals, cv)
	}
	if opts.Provenance {
		for _, p := range []struct {
			name string
			dst  **array.TimestampBuilder
		}{{ColWriteTime, &b.wt}, {ColTTLExpiresAt, &b.exp}, {ColSnapshotTime, &b.snap}} {
			fb, err := field(p.name)
			if err != nil {
				b.Release()
				return nil, err
			}
			tb, ok := fb.(*array.TimestampBuilder)
			if !ok {
				b.Release()
				return nil, fmt.Errorf("%w: provenance column %s is %s, want a timestamp", ErrUnsupported, p.name, fb.Type())
			}
			*p.dst = tb
		}
		b.snapV = arrow.Timestamp(opts.SnapshotTime.UnixMicro())
	}
	if n := len(t.Key) + len(t.Clustering) + len(t.Values) + 3*btoi(opts.Provenance); n != len(schema.Fields()) {
		b.Release()
		return nil, fmt.Errorf("%w: the Arrow schema has %d fields, the table %d", ErrUnsupported, len(schema.Fields()), n)
	}
	return b, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Schema is the Arrow schema of the batches.
func (b *Batcher) Schema() *arrow.Schema { return b.schema }

// Len is the number of rows appended since the last Flush.
func (b *Batcher) Len() int { return b.n }

// Full reports whether a batch has BatchRows rows.
func (b *Batcher) Full() bool { return b.n >= b.opts.batchRows() }

// Release frees the builders.
func (b *Batcher) Release() { b.rb.Release() }

// Flush returns the rows appended so far as a record batch (nil when
// none); the caller releases it.
func (b *Batcher) Flush() arrow.RecordBatch {
	if b.n == 0 {
		return nil
	}
	b.n = 0
	return b.rb.NewRecordBatch()
}

// Append adds one row. On error (a value that cannot be mapped) the
// builders may hold a partial row: discard the Batcher.
func (b *Batcher) Append(r *compaction.Row) error {
	if len(b.keys) == 1 {
		if err := b.keys[0].value(present(r.Key)); err != nil {
			return b.errAt(r, b.t.Key[0].Name, err)
		}
	} else {
		var err error
		b.parts, err = splitComposite(b.parts[:0], r.Key, len(b.keys))
		if err != nil {
			return b.errAt(r, "partition key", err)
		}
		for i, cv := range b.keys {
			if err := cv.value(present(b.parts[i])); err != nil {
				return b.errAt(r, b.t.Key[i].Name, err)
			}
		}
	}
	for i, cv := range b.cks {
		if i < len(r.Clustering) {
			if err := cv.value(present(r.Clustering[i])); err != nil {
				return b.errAt(r, b.t.Clustering[i].Name, err)
			}
		} else {
			cv.b.AppendNull()
		}
	}
	for i, cv := range b.vals {
		v := &r.Values[i]
		var err error
		switch {
		case !v.Set:
			cv.b.AppendNull()
		case b.t.Values[i].Complex:
			err = cv.elems(v.Elems)
		default:
			err = cv.value(present(v.Bytes))
		}
		if err != nil {
			return b.errAt(r, b.t.Values[i].Name, err)
		}
	}
	if b.wt != nil {
		if r.WriteTime == sstable.NoTimestamp {
			b.wt.AppendNull()
		} else {
			b.wt.Append(arrow.Timestamp(r.WriteTime))
		}
		if r.ExpiresAt == sstable.NoDeletionTime {
			b.exp.AppendNull()
		} else {
			b.exp.Append(arrow.Timestamp(r.ExpiresAt * 1_000_000))
		}
		b.snap.Append(b.snapV)
	}
	b.n++
	return nil
}

func (b *Batcher) errAt(r *compaction.Row, col string, err error) error {
	return fmt.Errorf("%s.%s partition %s column %s: %w", b.t.Keyspace, b.t.Name, cql.String(b.t.KeyType, r.Key), col, err)
}

// splitComposite splits a CompositeType key into n components without
// allocating (uint16 length, bytes, end-of-component byte per component).
func splitComposite(dst [][]byte, b []byte, n int) ([][]byte, error) {
	for len(b) > 0 {
		if len(b) < 3 {
			return dst, fmt.Errorf("%w: truncated composite key", cql.ErrBadValue)
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l+1 {
			return dst, fmt.Errorf("%w: composite component of %d bytes, %d left", cql.ErrBadValue, l, len(b)-2)
		}
		dst = append(dst, b[2:2+l])
		b = b[3+l:]
	}
	if len(dst) != n {
		return dst, fmt.Errorf("%w: composite key of %d components, want %d", cql.ErrBadValue, len(dst), n)
	}
	return dst, nil
}

// conv appends values of one CQL type to one Arrow builder.
type conv struct {
	t        *cql.Type
	b        array.Builder
	put      func(v []byte) error // v is a non-null serialized value
	children []*conv
}

// present is a value that is there: key, clustering and set column values
// are never null, and the decoder may give an empty one as nil (an empty
// string must not become null).
func present(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// value appends a serialized value; nil is null, and so is an empty value
// of a fixed-width type (CQL allows empty values for any type).
func (c *conv) value(v []byte) error {
	if v == nil || (len(v) == 0 && c.t.Kind != cql.KindText && c.t.Kind != cql.KindAscii && c.t.Kind != cql.KindBlob && c.t.Kind != cql.KindEmpty) {
		c.b.AppendNull()
		return nil
	}
	return c.put(v)
}

func wantLen(v []byte, n int, t *cql.Type) error {
	if len(v) != n {
		return fmt.Errorf("%w: %s value of %d bytes, want %d", cql.ErrBadValue, t.CQL(), len(v), n)
	}
	return nil
}

func newConv(t *cql.Type, ab array.Builder) (*conv, error) {
	c := &conv{t: t, b: ab}
	bad := func() (*conv, error) {
		return nil, fmt.Errorf("%w: CQL %s into Arrow %s", ErrUnsupported, t.CQL(), ab.Type())
	}
	switch t.Kind {
	case cql.KindAscii, cql.KindText:
		sb, ok := ab.(*array.StringBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error { sb.BinaryBuilder.Append(v); return nil }
	case cql.KindBlob, cql.KindEmpty:
		bb, ok := ab.(*array.BinaryBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error { bb.Append(v); return nil }
	case cql.KindBigint, cql.KindCounter:
		ib, ok := ab.(*array.Int64Builder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 8, t); err != nil {
				return err
			}
			ib.Append(int64(binary.BigEndian.Uint64(v)))
			return nil
		}
	case cql.KindInt, cql.KindSmallint, cql.KindTinyint:
		ib, ok := ab.(*array.Int32Builder)
		if !ok {
			return bad()
		}
		n := map[cql.Kind]int{cql.KindInt: 4, cql.KindSmallint: 2, cql.KindTinyint: 1}[t.Kind]
		c.put = func(v []byte) error {
			if err := wantLen(v, n, t); err != nil {
				return err
			}
			switch n {
			case 4:
				ib.Append(int32(binary.BigEndian.Uint32(v)))
			case 2:
				ib.Append(int32(int16(binary.BigEndian.Uint16(v))))
			default:
				ib.Append(int32(int8(v[0])))
			}
			return nil
		}
	case cql.KindFloat:
		fb, ok := ab.(*array.Float32Builder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 4, t); err != nil {
				return err
			}
			fb.Append(math.Float32frombits(binary.BigEndian.Uint32(v)))
			return nil
		}
	case cql.KindDouble:
		fb, ok := ab.(*array.Float64Builder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 8, t); err != nil {
				return err
			}
			fb.Append(math.Float64frombits(binary.BigEndian.Uint64(v)))
			return nil
		}
	case cql.KindBoolean:
		bb, ok := ab.(*array.BooleanBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 1, t); err != nil {
				return err
			}
			bb.Append(v[0] != 0)
			return nil
		}
	case cql.KindTimestamp:
		tb, ok := ab.(*array.TimestampBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 8, t); err != nil {
				return err
			}
			ms := int64(binary.BigEndian.Uint64(v))
			if ms > math.MaxInt64/1000 || ms < math.MinInt64/1000 {
				return fmt.Errorf("%w: timestamp %d ms does not fit microseconds", ErrUnsupported, ms)
			}
			tb.Append(arrow.Timestamp(ms * 1000))
			return nil
		}
	case cql.KindDate:
		db, ok := ab.(*array.Date32Builder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 4, t); err != nil {
				return err
			}
			db.Append(arrow.Date32(int32(binary.BigEndian.Uint32(v) - 1<<31)))
			return nil
		}
	case cql.KindTime:
		tb, ok := ab.(*array.Time64Builder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 8, t); err != nil {
				return err
			}
			tb.Append(arrow.Time64(int64(binary.BigEndian.Uint64(v)) / 1000))
			return nil
		}
	case cql.KindUUID, cql.KindTimeuuid, cql.KindLexicalUUID:
		ub, ok := ab.(*extensions.UUIDBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if err := wantLen(v, 16, t); err != nil {
				return err
			}
			ub.AppendBytes([16]byte(v))
			return nil
		}
	case cql.KindInet, cql.KindDecimal:
		sb, ok := ab.(*array.StringBuilder)
		if !ok {
			return bad()
		}
		c.put = func(v []byte) error {
			if _, err := cql.Decode(t, v); err != nil {
				return err
			}
			sb.Append(cql.String(t, v))
			return nil
		}
	case cql.KindVarint:
		db, ok := ab.(*array.Decimal128Builder)
		if !ok {
			return bad()
		}
		limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)
		c.put = func(v []byte) error {
			x, err := cql.Decode(t, v)
			if err != nil {
				return err
			}
			n := x.(*big.Int)
			if new(big.Int).Abs(n).Cmp(limit) >= 0 {
				return fmt.Errorf("%w: varint %s has more than 38 digits (the column is decimal(38, 0))", ErrUnsupported, n)
			}
			db.Append(decimal128.FromBigInt(n))
			return nil
		}
	case cql.KindDuration:
		sb, ok := ab.(*array.StructBuilder)
		if !ok || sb.NumField() != 3 {
			return bad()
		}
		mb, ok1 := sb.FieldBuilder(0).(*array.Int32Builder)
		db, ok2 := sb.FieldBuilder(1).(*array.Int32Builder)
		nb, ok3 := sb.FieldBuilder(2).(*array.Int64Builder)
		if !ok1 || !ok2 || !ok3 {
			return bad()
		}
		c.put = func(v []byte) error {
			x, err := cql.Decode(t, v)
			if err != nil {
				return err
			}
			d := x.(cql.Duration)
			sb.Append(true)
			mb.Append(d.Months)
			db.Append(d.Days)
			nb.Append(d.Nanos)
			return nil
		}
	case cql.KindList, cql.KindSet, cql.KindVector:
		lb, ok := ab.(*array.ListBuilder)
		if !ok {
			return bad()
		}
		ec, err := newConv(t.Elems[0], lb.ValueBuilder())
		if err != nil {
			return nil, err
		}
		c.children = []*conv{ec}
		c.put = func(v []byte) error {
			var es [][]byte
			var err error
			if t.Kind == cql.KindVector {
				es, err = cql.SplitVector(t, v)
			} else {
				es, err = cql.SplitCollection(v)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", t.CQL(), err)
			}
			lb.Append(true)
			for _, e := range es {
				if err := ec.value(e); err != nil {
					return err
				}
			}
			return nil
		}
	case cql.KindMap:
		mb, ok := ab.(*array.MapBuilder)
		if !ok {
			return bad()
		}
		kc, err := newConv(t.Elems[0], mb.KeyBuilder())
		if err != nil {
			return nil, err
		}
		vc, err := newConv(t.Elems[1], mb.ItemBuilder())
		if err != nil {
			return nil, err
		}
		c.children = []*conv{kc, vc}
		c.put = func(v []byte) error {
			es, err := cql.SplitCollection(v)
			if err != nil || len(es)%2 != 0 {
				return fmt.Errorf("%w: %s value of %d bytes", cql.ErrBadValue, t.CQL(), len(v))
			}
			mb.Append(true)
			for i := 0; i < len(es); i += 2 {
				if es[i] == nil {
					return fmt.Errorf("%w: %s with a null key", cql.ErrBadValue, t.CQL())
				}
				if err := kc.put(es[i]); err != nil {
					return err
				}
				if err := vc.value(es[i+1]); err != nil {
					return err
				}
			}
			return nil
		}
	case cql.KindTuple, cql.KindUDT:
		sb, ok := ab.(*array.StructBuilder)
		if !ok || sb.NumField() != len(t.Elems) {
			return bad()
		}
		for i, e := range t.Elems {
			fc, err := newConv(e, sb.FieldBuilder(i))
			if err != nil {
				return nil, err
			}
			c.children = append(c.children, fc)
		}
		c.put = func(v []byte) error {
			fs, err := cql.SplitTuple(v, len(t.Elems))
			if err != nil {
				return fmt.Errorf("%s: %w", t.CQL(), err)
			}
			sb.Append(true)
			for i, fc := range c.children {
				var f []byte
				if i < len(fs) {
					f = fs[i]
				}
				if err := fc.value(f); err != nil {
					return err
				}
			}
			return nil
		}
	default:
		return bad()
	}
	return c, nil
}

// elems appends a complex (multi-cell) column from its live cells.
func (c *conv) elems(es []compaction.Elem) error {
	switch c.t.Kind {
	case cql.KindList, cql.KindSet:
		lb := c.b.(*array.ListBuilder)
		lb.Append(true)
		ec := c.children[0]
		for _, e := range es {
			v := e.Value
			if c.t.Kind == cql.KindSet {
				v = e.Path
			}
			if err := ec.value(v); err != nil {
				return err
			}
		}
	case cql.KindMap:
		mb := c.b.(*array.MapBuilder)
		mb.Append(true)
		for _, e := range es {
			if err := c.children[0].put(e.Path); err != nil {
				return err
			}
			if err := c.children[1].value(e.Value); err != nil {
				return err
			}
		}
	case cql.KindUDT:
		sb := c.b.(*array.StructBuilder)
		sb.Append(true)
		next := 0
		for _, e := range es {
			if len(e.Path) != 2 {
				return fmt.Errorf("%w: UDT field path of %d bytes", cql.ErrBadValue, len(e.Path))
			}
			f := int(binary.BigEndian.Uint16(e.Path))
			if f < next || f >= len(c.children) {
				return fmt.Errorf("%w: UDT field %d of %d out of order", cql.ErrBadValue, f, len(c.children))
			}
			for ; next < f; next++ {
				c.children[next].b.AppendNull()
			}
			if err := c.children[f].value(e.Value); err != nil {
				return err
			}
			next = f + 1
		}
		for ; next < len(c.children); next++ {
			c.children[next].b.AppendNull()
		}
	default:
		return fmt.Errorf("%w: multi-cell %s", ErrUnsupported, c.t.CQL())
	}
	return nil
}
