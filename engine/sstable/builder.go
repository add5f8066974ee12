package sstable

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// Builder collects writes in memory the way a Cassandra memtable does
// (inserts, updates, TTLs, deletions of partitions, ranges, rows, cells and
// collections, counters), then writes them as one SSTable sorted by token
// and clustering. It is meant for tests, demos and simulated clusters; for
// data that does not fit in memory use Writer directly.
//
//	b, _ := sstable.NewBuilder(schema)
//	b.Partition("k1").Row(1).Insert(ts, 0).Set("v", "hello", ts, 0)
//	b.Partition("k1").DeleteRange(sstable.RangeBound{Values: []any{5}}, sstable.RangeBound{}, ts2)
//	paths, err := b.WriteTo(dir, &sstable.WriterOptions{Version: "oa"})
//
// Methods record the first error (bad column, bad value) and return their
// receiver so calls chain; WriteTo and Err report it.
type Builder struct {
	schema *Schema
	h      *Header
	cmp    Comparator
	parts  map[string]*PartitionBuilder
	err    error
	seq    uint64
	// LocalTime maps a write timestamp (µs) to the local time in seconds
	// used for deletion times and TTL expiry. Default: ts / 1e6.
	LocalTime func(ts int64) int64
	// CounterID identifies this "node" in counter contexts (one global shard).
	CounterID cql.UUID
}

// NewBuilder starts an empty Builder for a schema.
func NewBuilder(schema *Schema) (*Builder, error) {
	h, err := schema.header()
	if err != nil {
		return nil, err
	}
	b := &Builder{schema: schema, h: h, cmp: h.Comparator(), parts: map[string]*PartitionBuilder{}}
	b.CounterID = cql.UUID{0x5a, 0xd0, 0x00, 0x00, 0, 0, 0x10, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}
	return b, nil
}

// Err returns the first error recorded.
func (b *Builder) Err() error { return b.err }

func (b *Builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) local(ts int64) int64 {
	if b.LocalTime != nil {
		return b.LocalTime(ts)
	}
	return floorDiv(ts, 1e6)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PartitionBuilder collects the writes of one partition.
type PartitionBuilder struct {
	b        *Builder
	key      []byte
	deletion DeletionTime
	static   *RowBuilder
	rows     map[string]*RowBuilder
	rts      []rangeTombstone
}

type rangeTombstone struct {
	start, end Bound
	del        DeletionTime
}

// Partition returns the partition with these key values, creating it.
func (b *Builder) Partition(key ...any) *PartitionBuilder {
	k, err := b.schema.EncodeKey(key...)
	if err != nil {
		b.fail(err)
		k = []byte{0}
	}
	return b.PartitionRaw(k)
}

// PartitionRaw returns the partition with this serialized key.
func (b *Builder) PartitionRaw(key []byte) *PartitionBuilder {
	p := b.parts[string(key)]
	if p == nil {
		p = &PartitionBuilder{b: b, key: key, deletion: Live, rows: map[string]*RowBuilder{}}
		b.parts[string(key)] = p
	}
	return p
}

// Delete deletes the partition at ts (DELETE FROM t WHERE pk = ...).
func (p *PartitionBuilder) Delete(ts int64) *PartitionBuilder {
	d := DeletionTime{ts, p.b.local(ts)}
	if d.Supersedes(p.deletion) || p.deletion.IsLive() {
		p.deletion = d
	}
	return p
}

// RangeBound is one end of a range deletion: clustering values (a prefix;
// none for an open end) and whether the bound itself is excluded.
type RangeBound struct {
	Values    []any
	Exclusive bool
}

// DeleteRange deletes the clustering range [start, end] (ends excluded per
// their Exclusive flag) at ts.
func (p *PartitionBuilder) DeleteRange(start, end RangeBound, ts int64) *PartitionBuilder {
	sv, err := p.b.schema.EncodeClustering(start.Values...)
	if err != nil {
		p.b.fail(err)
		return p
	}
	ev, err := p.b.schema.EncodeClustering(end.Values...)
	if err != nil {
		p.b.fail(err)
		return p
	}
	sk, ek := KindInclStartBound, KindInclEndBound
	if start.Exclusive && len(sv) > 0 {
		sk = KindExclStartBound
	}
	if end.Exclusive && len(ev) > 0 {
		ek = KindExclEndBound
	}
	s, e := Bound{sk, sv}, Bound{ek, ev}
	if p.b.cmp.CompareBounds(s, e) >= 0 {
		p.b.fail(fmt.Errorf("%w: empty range deletion", cql.ErrBadValue))
		return p
	}
	p.rts = append(p.rts, rangeTombstone{s, e, DeletionTime{ts, p.b.local(ts)}})
	return p
}

// Static returns the partition's static row.
func (p *PartitionBuilder) Static() *RowBuilder {
	if len(p.b.h.Statics) == 0 {
		p.b.fail(fmt.Errorf("%w: table %s has no static columns", cql.ErrBadValue, p.b.schema.Table))
	}
	if p.static == nil {
		p.static = newRowBuilder(p, nil, true)
	}
	return p.static
}

// Row returns the row with these clustering values, creating it.
func (p *PartitionBuilder) Row(ck ...any) *RowBuilder {
	c, err := p.b.schema.EncodeClustering(ck...)
	if err == nil && len(c) != len(p.b.schema.Clustering) {
		err = fmt.Errorf("%w: %d clustering values for %d clustering columns", cql.ErrBadValue, len(c), len(p.b.schema.Clustering))
	}
	if err != nil {
		p.b.fail(err)
	}
	k := string(appendClustering(nil, p.b.h.ClusteringTypes, c))
	r := p.rows[k]
	if r == nil {
		r = newRowBuilder(p, c, false)
		p.rows[k] = r
	}
	return r
}

// RowBuilder collects the writes of one row.
type RowBuilder struct {
	p          *PartitionBuilder
	clustering Clustering
	static     bool
	liveness   LivenessInfo
	deletion   DeletionTime
	cols       map[string]*colState
}

type colState struct {
	col      *Column
	deletion DeletionTime
	cells    map[string]Cell // by path; "" for a simple column
}

func newRowBuilder(p *PartitionBuilder, c Clustering, static bool) *RowBuilder {
	return &RowBuilder{p: p, clustering: c, static: static, liveness: EmptyLiveness, deletion: Live, cols: map[string]*colState{}}
}

func (r *RowBuilder) column(name string) *colState {
	if cs := r.cols[name]; cs != nil {
		return cs
	}
	c := r.p.b.h.Column(name)
	if c == nil || c.Static != r.static {
		kind := "regular"
		if r.static {
			kind = "static"
		}
		r.p.b.fail(fmt.Errorf("%w: %q is not a %s column of %s", cql.ErrBadValue, name, kind, r.p.b.schema.Table))
		return nil
	}
	cs := &colState{col: c, deletion: Live, cells: map[string]Cell{}}
	r.cols[name] = cs
	return cs
}

// Insert sets the row's primary-key liveness (what INSERT writes) with an
// optional TTL in seconds.
func (r *RowBuilder) Insert(ts int64, ttl int32) *RowBuilder {
	l := LivenessInfo{Timestamp: ts, LocalExpirationTime: NoDeletionTime}
	if ttl > 0 {
		l.TTL, l.LocalExpirationTime = ttl, r.p.b.local(ts)+int64(ttl)
	}
	if r.liveness.IsEmpty() || l.Timestamp >= r.liveness.Timestamp {
		r.liveness = l
	}
	return r
}

// Delete deletes the row at ts.
func (r *RowBuilder) Delete(ts int64) *RowBuilder {
	d := DeletionTime{ts, r.p.b.local(ts)}
	if r.deletion.IsLive() || d.Supersedes(r.deletion) {
		r.deletion = d
	}
	return r
}

// reconcile keeps the winning cell of two writes to the same cell:
// the higher timestamp; on a tie a tombstone, then the later write.
func reconcile(old, nw Cell) Cell {
	if nw.Timestamp != old.Timestamp {
		if nw.Timestamp > old.Timestamp {
			return nw
		}
		return old
	}
	if old.IsTombstone() && !nw.IsTombstone() {
		return old
	}
	return nw
}

func (r *RowBuilder) put(cs *colState, path []byte, c Cell) {
	k := string(path)
	c.Path = path
	if old, ok := cs.cells[k]; ok {
		c = reconcile(old, c)
	}
	cs.cells[k] = c
}

func (r *RowBuilder) cell(value []byte, ts int64, ttl int32) Cell {
	c := Cell{Timestamp: ts, TTL: NoTTL, LocalDeletionTime: NoDeletionTime, Value: value}
	if ttl > 0 {
		c.TTL, c.LocalDeletionTime = ttl, r.p.b.local(ts)+int64(ttl)
	}
	if c.Value == nil {
		c.Value = []byte{}
	}
	return c
}

// Set writes a column. For a non-frozen collection or UDT it replaces the
// whole value, as CQL does: a collection deletion at ts-1, then one cell per
// element. A nil value deletes the column. For a counter column v is the total.
func (r *RowBuilder) Set(col string, v any, ts int64, ttl int32) *RowBuilder {
	cs := r.column(col)
	if cs == nil {
		return r
	}
	if v == nil {
		return r.DeleteColumn(col, ts)
	}
	t := cs.col.Type
	if t.Kind == cql.KindCounter {
		n, err := cql.Encode(t, v)
		if err != nil {
			r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
			return r
		}
		r.put(cs, nil, r.cell(CounterContext(r.p.b.CounterID, ts, int64(binary.BigEndian.Uint64(n))), ts, 0))
		return r
	}
	if !t.MultiCell() {
		b, err := cql.Encode(t, v)
		if err != nil {
			r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
			return r
		}
		r.put(cs, nil, r.cell(b, ts, ttl))
		return r
	}
	// whole-collection overwrite
	del := DeletionTime{ts - 1, r.p.b.local(ts)}
	if cs.deletion.IsLive() || del.Supersedes(cs.deletion) {
		cs.deletion = del
	}
	frozen := t.Freeze()
	b, err := cql.Encode(frozen, v)
	if err != nil {
		r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
		return r
	}
	switch t.Kind {
	case cql.KindList:
		elems, _ := cql.SplitCollection(b)
		for _, e := range elems {
			r.put(cs, r.p.b.listPath(ts), r.cell(e, ts, ttl))
		}
	case cql.KindSet:
		elems, _ := cql.SplitCollection(b)
		for _, e := range elems {
			r.put(cs, e, r.cell(nil, ts, ttl))
		}
	case cql.KindMap:
		elems, _ := cql.SplitCollection(b)
		for i := 0; i+1 < len(elems); i += 2 {
			r.put(cs, elems[i], r.cell(elems[i+1], ts, ttl))
		}
	case cql.KindUDT:
		fields, _ := cql.SplitTuple(b, len(t.Elems))
		for i, f := range fields {
			if f != nil {
				r.put(cs, udtPath(i), r.cell(f, ts, ttl))
			}
		}
	}
	return r
}

func udtPath(i int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(i)) }

// listPath makes a unique, increasing time UUID for a list element written at ts.
func (b *Builder) listPath(ts int64) []byte {
	b.seq++
	t := uint64(ts)*10 + 0x01B21DD213814000 + b.seq%10
	var u [16]byte
	binary.BigEndian.PutUint32(u[0:], uint32(t))
	binary.BigEndian.PutUint16(u[4:], uint16(t>>32))
	binary.BigEndian.PutUint16(u[6:], uint16(t>>48)&0x0fff|0x1000)
	binary.BigEndian.PutUint64(u[8:], 0x8000000000000000|b.seq&0x3fffffffffffffff)
	u[8] = u[8]&0x3f | 0x80
	return u[:]
}

// DeleteColumn deletes a column at ts: a cell tombstone, or a collection
// deletion for a multi-cell column.
func (r *RowBuilder) DeleteColumn(col string, ts int64) *RowBuilder {
	cs := r.column(col)
	if cs == nil {
		return r
	}
	d := DeletionTime{ts, r.p.b.local(ts)}
	if cs.col.Type.MultiCell() {
		if cs.deletion.IsLive() || d.Supersedes(cs.deletion) {
			cs.deletion = d
		}
		return r
	}
	r.put(cs, nil, Cell{Timestamp: ts, TTL: NoTTL, LocalDeletionTime: d.LocalDeletionTime, Value: []byte{}})
	return r
}

func (r *RowBuilder) multi(col string, kind cql.Kind) *colState {
	cs := r.column(col)
	if cs == nil {
		return nil
	}
	if !cs.col.Type.MultiCell() || (kind != cql.KindInvalid && cs.col.Type.Kind != kind) {
		r.p.b.fail(fmt.Errorf("%w: column %s of type %s is not a non-frozen %v", cql.ErrBadValue, col, cs.col.Type.CQL(), kind))
		return nil
	}
	return cs
}

// Append appends an element to a non-frozen list (col = col + [v]).
func (r *RowBuilder) Append(col string, v any, ts int64, ttl int32) *RowBuilder {
	if cs := r.multi(col, cql.KindList); cs != nil {
		b, err := cql.Encode(cs.col.Type.Elems[0], v)
		if err != nil {
			r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
			return r
		}
		r.put(cs, r.p.b.listPath(ts), r.cell(b, ts, ttl))
	}
	return r
}

// Add adds an element to a non-frozen set (col = col + {v}).
func (r *RowBuilder) Add(col string, elem any, ts int64, ttl int32) *RowBuilder {
	if cs := r.multi(col, cql.KindSet); cs != nil {
		b, err := cql.Encode(cs.col.Type.Elems[0], elem)
		if err != nil {
			r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
			return r
		}
		r.put(cs, b, r.cell(nil, ts, ttl))
	}
	return r
}

// Put sets one map entry (col[key] = v) or, for a non-frozen UDT, one field
// (key is the field name).
func (r *RowBuilder) Put(col string, key, v any, ts int64, ttl int32) *RowBuilder {
	cs := r.multi(col, cql.KindInvalid)
	if cs == nil {
		return r
	}
	t := cs.col.Type
	path, vt, err := r.pathOf(t, key)
	if err != nil {
		r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
		return r
	}
	if t.Kind != cql.KindMap && t.Kind != cql.KindUDT {
		r.p.b.fail(fmt.Errorf("%w: Put on %s column %s", cql.ErrBadValue, t.CQL(), col))
		return r
	}
	if v == nil {
		d := r.p.b.local(ts)
		r.put(cs, path, Cell{Timestamp: ts, TTL: NoTTL, LocalDeletionTime: d, Value: []byte{}})
		return r
	}
	b, err := cql.Encode(vt, v)
	if err != nil {
		r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
		return r
	}
	r.put(cs, path, r.cell(b, ts, ttl))
	return r
}

func (r *RowBuilder) pathOf(t *cql.Type, key any) ([]byte, *cql.Type, error) {
	switch t.Kind {
	case cql.KindMap:
		b, err := cql.Encode(t.Elems[0], key)
		return b, t.Elems[1], err
	case cql.KindSet:
		b, err := cql.Encode(t.Elems[0], key)
		return b, nil, err
	case cql.KindUDT:
		name, _ := key.(string)
		i := slices.Index(t.Fields, name)
		if i < 0 {
			return nil, nil, fmt.Errorf("%w: %s has no field %v", cql.ErrBadValue, t.CQL(), key)
		}
		return udtPath(i), t.Elems[i], nil
	}
	return nil, nil, fmt.Errorf("%w: no element keys in %s", cql.ErrBadValue, t.CQL())
}

// Remove deletes one element of a non-frozen set or map (or one UDT field)
// at ts: a cell tombstone with that path.
func (r *RowBuilder) Remove(col string, key any, ts int64) *RowBuilder {
	cs := r.multi(col, cql.KindInvalid)
	if cs == nil {
		return r
	}
	path, _, err := r.pathOf(cs.col.Type, key)
	if err != nil {
		r.p.b.fail(fmt.Errorf("column %s: %w", col, err))
		return r
	}
	r.put(cs, path, Cell{Timestamp: ts, TTL: NoTTL, LocalDeletionTime: r.p.b.local(ts), Value: []byte{}})
	return r
}

// CounterContext builds a counter cell value holding one global shard
// (counter id, clock, count), the shape Cassandra 2.1+ writes.
func CounterContext(id cql.UUID, clock, count int64) []byte {
	b := make([]byte, 0, 36)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0x8000) // global shard at index 0
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(clock))
	return binary.BigEndian.AppendUint64(b, uint64(count))
}

// build turns the row into the read model, columns and paths sorted.
func (r *RowBuilder) build() Row {
	row := Row{Clustering: r.clustering, Static: r.static, Liveness: r.liveness, Deletion: r.deletion}
	var names []string
	for n := range r.cols {
		names = append(names, n)
	}
	// header order: simple columns first, then complex, by name bytes
	slices.SortFunc(names, func(a, b string) int { return r.cols[a].col.Index - r.cols[b].col.Index })
	for _, n := range names {
		cs := r.cols[n]
		cd := ColumnData{Column: cs.col, Deletion: cs.deletion}
		for _, c := range cs.cells {
			cd.Cells = append(cd.Cells, c)
		}
		if cs.col.Type.MultiCell() {
			pt := pathType(cs.col.Type)
			slices.SortFunc(cd.Cells, func(a, b Cell) int { return cql.Compare(pt, a.Path, b.Path) })
		} else if len(cd.Cells) == 0 {
			continue
		}
		if cs.col.Type.MultiCell() && len(cd.Cells) == 0 && cd.Deletion.IsLive() {
			continue
		}
		row.Columns = append(row.Columns, cd)
	}
	return row
}

// markers turns possibly overlapping range deletions into the sequence of
// bounds and boundaries Cassandra stores: at every bound the deletion in
// force (the one that supersedes the others) may change.
func (p *PartitionBuilder) markers() []RangeTombstoneMarker {
	if len(p.rts) == 0 {
		return nil
	}
	cmp := p.b.cmp
	var pts []Bound
	for _, rt := range p.rts {
		pts = append(pts, rt.start, rt.end)
	}
	slices.SortStableFunc(pts, cmp.CompareBounds)
	pts = slices.CompactFunc(pts, func(a, b Bound) bool { return cmp.CompareBounds(a, b) == 0 })
	// in force just after position x: start ≤ x < end
	after := func(x Bound) DeletionTime {
		d := Live
		for _, rt := range p.rts {
			if cmp.CompareBounds(rt.start, x) <= 0 && cmp.CompareBounds(x, rt.end) < 0 {
				if d.IsLive() || rt.del.Supersedes(d) {
					d = rt.del
				}
			}
		}
		return d
	}
	var out []RangeTombstoneMarker
	cur := Live
	for _, x := range pts {
		nd := after(x)
		if nd == cur {
			continue
		}
		// Kinds with comparison 0 sit before the clustering of their values,
		// those with comparison 3 after it.
		beforeClustering := kindComparison[x.Kind] == 0
		var k BoundKind
		switch {
		case cur.IsLive() && beforeClustering:
			k = KindInclStartBound
		case cur.IsLive():
			k = KindExclStartBound
		case nd.IsLive() && beforeClustering:
			k = KindExclEndBound
		case nd.IsLive():
			k = KindInclEndBound
		case beforeClustering:
			k = KindExclEndInclStartBoundary
		default:
			k = KindInclEndExclStartBoundary
		}
		out = append(out, RangeTombstoneMarker{Bound: Bound{Kind: k, Values: x.Values}, Close: cur, Open: nd})
		cur = nd
	}
	return out
}

// BuiltPartition is one partition as the Builder will write it: rows and
// range tombstone markers sorted in clustering order.
type BuiltPartition struct {
	Key         []byte
	Token       token.Token
	Deletion    DeletionTime
	Static      *Row // nil when the partition wrote no static data
	Unfiltereds []Unfiltered
}

// Partitions returns what WriteTo writes, sorted by the partitioner's token
// order: the logical content of the SSTable.
func (b *Builder) Partitions(p token.Partitioner) []BuiltPartition {
	if p == nil {
		p = token.Murmur3Partitioner{}
	}
	var out []BuiltPartition
	for k, pb := range b.parts {
		bp := BuiltPartition{Key: []byte(k), Token: p.Token([]byte(k)), Deletion: pb.deletion}
		if pb.static != nil {
			r := pb.static.build()
			bp.Static = &r
		}
		for _, rb := range pb.rows {
			bp.Unfiltereds = append(bp.Unfiltereds, Unfiltered{Kind: UnfilteredRow, Row: rb.build()})
		}
		for _, m := range pb.markers() {
			bp.Unfiltereds = append(bp.Unfiltereds, Unfiltered{Kind: UnfilteredMarker, Marker: m})
		}
		slices.SortStableFunc(bp.Unfiltereds, func(x, y Unfiltered) int { return b.cmp.CompareUnfiltered(&x, &y) })
		out = append(out, bp)
	}
	slices.SortFunc(out, func(x, y BuiltPartition) int { return token.CompareKeys(x.Token, x.Key, y.Token, y.Key) })
	return out
}

// WriteTo writes everything collected as one SSTable in dir.
func (b *Builder) WriteTo(dir string, opts *WriterOptions) ([]string, error) {
	if b.err != nil {
		return nil, b.err
	}
	o := WriterOptions{}
	if opts != nil {
		o = *opts
	}
	parts := b.Partitions(o.Partitioner)
	minTS, minLDT, minTTL := int64(math.MaxInt64), int64(math.MaxInt64), int32(math.MaxInt32)
	seeTS := func(ts int64) { minTS = min(minTS, ts) }
	seeLDT := func(l int64) {
		if l != NoDeletionTime {
			minLDT = min(minLDT, l)
		}
	}
	seeDel := func(d DeletionTime) {
		if !d.IsLive() {
			seeTS(d.MarkedForDeleteAt)
			seeLDT(d.LocalDeletionTime)
		}
	}
	seeRow := func(r *Row) {
		if !r.Liveness.IsEmpty() {
			seeTS(r.Liveness.Timestamp)
			if r.Liveness.IsExpiring() {
				minTTL = min(minTTL, r.Liveness.TTL)
				seeLDT(r.Liveness.LocalExpirationTime)
			}
		}
		seeDel(r.Deletion)
		for _, cd := range r.Columns {
			seeDel(cd.Deletion)
			for _, c := range cd.Cells {
				seeTS(c.Timestamp)
				seeLDT(c.LocalDeletionTime)
				if c.TTL != NoTTL {
					minTTL = min(minTTL, c.TTL)
				}
			}
		}
	}
	for _, bp := range parts {
		seeDel(bp.Deletion)
		if bp.Static != nil {
			seeRow(bp.Static)
		}
		for i := range bp.Unfiltereds {
			u := &bp.Unfiltereds[i]
			if u.Kind == UnfilteredRow {
				seeRow(&u.Row)
			} else {
				seeDel(u.Marker.Open)
				seeDel(u.Marker.Close)
			}
		}
	}
	if o.MinTimestamp == nil && minTS != math.MaxInt64 {
		o.MinTimestamp = &minTS
	}
	if o.MinLocalDeletionTime == nil && minLDT != math.MaxInt64 {
		o.MinLocalDeletionTime = &minLDT
	}
	if o.MinTTL == nil && minTTL != math.MaxInt32 {
		o.MinTTL = &minTTL
	}
	w, err := NewWriter(dir, b.schema, &o)
	if err != nil {
		return nil, err
	}
	for _, bp := range parts {
		if err := w.BeginPartition(bp.Key, bp.Deletion); err != nil {
			w.Abort()
			return nil, err
		}
		if bp.Static != nil {
			if err := w.WriteStatic(bp.Static); err != nil {
				w.Abort()
				return nil, err
			}
		}
		for j := range bp.Unfiltereds {
			if err := w.Write(&bp.Unfiltereds[j]); err != nil {
				w.Abort()
				return nil, err
			}
		}
		if err := w.EndPartition(); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w.Close()
}
