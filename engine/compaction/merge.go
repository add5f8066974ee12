package compaction

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

// Range is the token range (Start, End] a merge reads. A zero Start reads
// from the first partition, a zero End to the last.
type Range struct {
	Start, End token.Token
}

// Options configure a Merger.
type Options struct {
	// NowSec is the TTL reference in seconds since the epoch: an expiring
	// cell or row liveness is live while NowSec < its expiration.
	NowSec int64
	Range  Range
}

// Input is one SSTable to merge.
type Input struct {
	Reader *sstable.Reader
	// Name names the SSTable in errors (an object key); default the
	// reader's descriptor.
	Name string
}

// Row is one live CQL row. It and every byte slice it holds are valid
// until the next call to Next.
type Row struct {
	Key   []byte // the serialized partition key (CompositeType for several columns)
	Token token.Token
	// Clustering holds the clustering values; nil for a partition's
	// static-only row (a partition with live static columns and no live
	// row, which CQL returns with null clustering columns) and for tables
	// without clustering columns.
	Clustering sstable.Clustering
	// Values are indexed like Table.Values.
	Values []Value
	// WriteTime is the newest write timestamp (µs) of the row's live data:
	// its cells, its primary-key liveness and the partition's static cells.
	WriteTime int64
	// ExpiresAt is the earliest expiration (seconds) of the row's live TTL'd
	// data, when the row first changes by expiry; sstable.NoDeletionTime when
	// nothing in it expires.
	ExpiresAt int64
}

// Value is the value of one column in a Row.
type Value struct {
	Set bool // false: null
	// Bytes is a simple column's serialized value; for a counter, its
	// total as an 8-byte big-endian int64.
	Bytes []byte
	// Elems are a complex column's live cells in path order: list elements
	// (Path: a time UUID), set elements (Path: the element, Value empty),
	// map entries (Path: the key) or UDT fields (Path: the field index as
	// a big-endian int16).
	Elems []Elem
}

// Elem is one cell of a complex column.
type Elem struct{ Path, Value []byte }

// Stats count what a Merger read and wrote.
type Stats struct {
	Partitions int64 // partitions merged (at least one source had the key in range)
	RowsIn     int64 // rows read from all sources (static rows included)
	Markers    int64 // range tombstone markers read
	RowsOut    int64 // live rows emitted
}

// source is one SSTable being merged.
type source struct {
	name string
	sc   *sstable.Scanner
	b    *binding
	part *sstable.Partition  // current partition, valid until the next NextPartition
	u    *sstable.Unfiltered // current row or marker of the partition; nil at its end
	open sstable.DeletionTime
	eof  bool
}

// Merger merges the SSTables of one token range, from any number of
// replicas, the way Cassandra's compaction does, and emits the live CQL
// rows with every tombstone, expired cell and shadowed value purged.
//
//	sources ─(token, key) heap─▶ partition ─(clustering) heap─▶ reconcile ─▶ live Row
//
// Memory is one scanner window per SSTable plus one row per SSTable:
// partitions are never buffered, only streamed row by row.
type Merger struct {
	t    *Table
	opts Options
	ctx  context.Context
	cmp  sstable.Comparator
	all  []*source

	parts srcHeap // sources positioned on their next partition
	rows  srcHeap // sources of the current partition positioned on an unfiltered
	cur   []*source
	group []*source
	pend  []*source // sources whose unfiltered the last Row uses; advanced by the next Next

	inPart   bool
	emitted  bool
	partDel  sstable.DeletionTime
	rangeDel sstable.DeletionTime

	static    []Value // resolved static values of the current partition
	staticWT  int64
	staticExp int64
	staticOK  bool // a static cell is live

	dropTime []int64 // per value column: cells at or before are ignored
	row      Row

	// scratch, per value column
	best    []*sstable.Cell
	counter [][]*sstable.Cell
	complex [][]*sstable.ColumnData
	touched []int
	mark    []bool
	elems   [][]Elem
	ctrBuf  [][8]byte
	shards  []shard
	shards2 []shard
	shards3 []shard
	heads   []int
	rowsTmp []*sstable.Row
	binds   []*source

	stats Stats
	err   error
}

// NewMerger opens a scanner on every input, seeks each to the range and
// binds its header to the table (an error wrapping ErrSchemaMismatch when
// they do not fit). Close releases the scanners.
func NewMerger(ctx context.Context, t *Table, inputs []Input, opts Options) (*Merger, error) {
	m := &Merger{t: t, opts: opts, ctx: ctx, cmp: sstable.Comparator{Types: t.ClusteringTypes}}
	n := len(t.Values)
	m.static = make([]Value, n)
	m.row.Values = make([]Value, n)
	m.best = make([]*sstable.Cell, n)
	m.counter = make([][]*sstable.Cell, n)
	m.complex = make([][]*sstable.ColumnData, n)
	m.mark = make([]bool, n)
	m.elems = make([][]Elem, n)
	m.ctrBuf = make([][8]byte, n)
	m.dropTime = make([]int64, n)
	for i, c := range t.Values {
		m.dropTime[i] = math.MinInt64
		if d, ok := t.Dropped[c.Name]; ok {
			m.dropTime[i] = d
		}
	}
	m.parts.less = func(a, b *source) bool {
		return token.CompareKeys(a.part.Token, a.part.Key, b.part.Token, b.part.Key) < 0
	}
	m.rows.less = func(a, b *source) bool { return m.cmp.CompareUnfiltered(a.u, b.u) < 0 }
	for _, in := range inputs {
		name := in.Name
		if name == "" {
			name = in.Reader.Descriptor().String()
		}
		b, err := t.bind(in.Reader.Header(), name)
		if err != nil {
			m.Close()
			return nil, err
		}
		sc, err := in.Reader.Scan(ctx)
		if err != nil {
			m.Close()
			return nil, err
		}
		s := &source{name: name, sc: sc, b: b}
		m.all = append(m.all, s)
		if !opts.Range.Start.IsZero() {
			if err := sc.SeekToken(ctx, opts.Range.Start); err != nil {
				m.Close()
				return nil, err
			}
		}
		m.nextPartition(s)
		if m.err != nil {
			err := m.err
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// Close releases every scanner.
func (m *Merger) Close() error {
	var first error
	for _, s := range m.all {
		if err := s.sc.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.all = nil
	return first
}

// Err returns the first error met.
func (m *Merger) Err() error { return m.err }

// Stats returns what the merge has read and written so far.
func (m *Merger) Stats() Stats { return m.stats }

// Row returns the current row; valid until the next Next.
func (m *Merger) Row() *Row { return &m.row }

func (m *Merger) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// nextPartition moves a source to its next partition in range and puts it
// on the partition heap, or marks it finished.
func (m *Merger) nextPartition(s *source) {
	for s.sc.NextPartition() {
		p := s.sc.Partition()
		if !m.opts.Range.Start.IsZero() && token.Compare(p.Token, m.opts.Range.Start) <= 0 {
			continue
		}
		if !m.opts.Range.End.IsZero() && token.Compare(p.Token, m.opts.Range.End) > 0 {
			break
		}
		s.part = p
		m.parts.push(s)
		return
	}
	if err := s.sc.Err(); err != nil {
		m.fail(err)
	}
	s.eof = true
	s.part = nil
}

// advance moves a source to its next unfiltered within the partition.
func (m *Merger) advance(s *source) {
	for s.sc.Next() {
		if m.t.CompactStatic {
			// A compact table without clustering columns keeps its CQL
			// row in the static row; rows under its hidden clustering
			// column (Thrift's dynamic columns) are not visible in CQL.
			continue
		}
		s.u = s.sc.Unfiltered()
		m.rows.push(s)
		return
	}
	if err := s.sc.Err(); err != nil {
		m.fail(err)
	}
	s.u = nil
}

// Next advances to the next live row. It returns false at the end of the
// range or on error (see Err).
func (m *Merger) Next() bool {
	if m.err != nil {
		return false
	}
	for _, s := range m.pend {
		m.advance(s)
	}
	m.pend = m.pend[:0]
	for m.err == nil {
		if m.inPart {
			if m.nextInPartition() {
				m.stats.RowsOut++
				return true
			}
			if m.err != nil {
				return false
			}
			if !m.emitted && m.staticOK {
				m.emitted = true
				m.staticRow()
				m.stats.RowsOut++
				return true
			}
			m.endPartition()
			continue
		}
		if err := m.ctx.Err(); err != nil {
			m.fail(err)
			return false
		}
		if !m.startPartition() {
			return false
		}
	}
	return false
}

func (m *Merger) startPartition() bool {
	if m.parts.Len() == 0 {
		return false
	}
	first := m.parts.pop()
	m.cur = append(m.cur[:0], first)
	for m.parts.Len() > 0 {
		t := m.parts.top()
		if token.CompareKeys(t.part.Token, t.part.Key, first.part.Token, first.part.Key) != 0 {
			break
		}
		m.cur = append(m.cur, m.parts.pop())
	}
	m.stats.Partitions++
	m.row.Key, m.row.Token = first.part.Key, first.part.Token
	m.partDel = sstable.Live
	for _, s := range m.cur {
		m.partDel = maxDeletion(m.partDel, s.part.Deletion)
		s.open = sstable.Live
	}
	m.rangeDel = sstable.Live
	m.mergeStatic()
	m.rows.reset()
	for _, s := range m.cur {
		m.advance(s)
	}
	m.inPart, m.emitted = true, false
	return m.err == nil
}

func (m *Merger) endPartition() {
	m.inPart = false
	for _, s := range m.cur {
		m.nextPartition(s)
	}
	m.cur = m.cur[:0]
}

// mergeStatic resolves the static rows of the current partition.
func (m *Merger) mergeStatic() {
	for i := range m.static {
		m.static[i] = Value{}
	}
	m.staticOK, m.staticWT, m.staticExp = false, sstable.NoTimestamp, sstable.NoDeletionTime
	m.rowsTmp = m.rowsTmp[:0]
	m.binds = m.binds[:0]
	for _, s := range m.cur {
		if s.part.Static != nil {
			m.rowsTmp = append(m.rowsTmp, s.part.Static)
			m.binds = append(m.binds, s)
			m.stats.RowsIn++
		}
	}
	if len(m.rowsTmp) == 0 {
		return
	}
	live, wt, exp := m.resolve(m.rowsTmp, m.binds, true, m.partDel, m.static)
	m.staticOK, m.staticWT, m.staticExp = live && m.hasStaticValue(), wt, exp
}

func (m *Merger) hasStaticValue() bool {
	for i := range m.static {
		if m.static[i].Set {
			return true
		}
	}
	return false
}

// staticRow makes the static-only row of the current partition.
func (m *Merger) staticRow() {
	m.row.Clustering = nil
	for i, c := range m.t.Values {
		if c.Kind == schema.Static || m.t.CompactStatic {
			m.row.Values[i] = m.static[i]
		} else {
			m.row.Values[i] = Value{}
		}
	}
	m.row.WriteTime, m.row.ExpiresAt = m.staticWT, m.staticExp
}

// nextInPartition merges unfiltereds until it has a live row.
func (m *Merger) nextInPartition() bool {
	for m.rows.Len() > 0 && m.err == nil {
		first := m.rows.pop()
		m.group = append(m.group[:0], first)
		for m.rows.Len() > 0 && m.cmp.CompareUnfiltered(m.rows.top().u, first.u) == 0 {
			m.group = append(m.group, m.rows.pop())
		}
		if first.u.Kind == sstable.UnfilteredMarker {
			for _, s := range m.group {
				m.stats.Markers++
				mk := &s.u.Marker
				if mk.Bound.Kind.IsEnd() {
					s.open = sstable.Live
				}
				if mk.Bound.Kind.IsStart() {
					s.open = mk.Open
				}
			}
			m.rangeDel = sstable.Live
			for _, s := range m.cur {
				m.rangeDel = maxDeletion(m.rangeDel, s.open)
			}
			for _, s := range m.group {
				m.advance(s)
			}
			continue
		}
		m.rowsTmp = m.rowsTmp[:0]
		for _, s := range m.group {
			m.rowsTmp = append(m.rowsTmp, &s.u.Row)
			m.stats.RowsIn++
		}
		active := maxDeletion(m.partDel, m.rangeDel)
		for i, c := range m.t.Values {
			if c.Kind == schema.Static {
				m.row.Values[i] = m.static[i]
			} else {
				m.row.Values[i] = Value{}
			}
		}
		live, wt, exp := m.resolve(m.rowsTmp, m.group, false, active, m.row.Values)
		if live {
			m.emitted = true
			m.row.Clustering = first.u.Row.Clustering
			if m.staticOK {
				wt = max(wt, m.staticWT)
				exp = min(exp, m.staticExp)
			}
			m.row.WriteTime, m.row.ExpiresAt = wt, exp
			m.pend = append(m.pend[:0], m.group...)
			return true
		}
		for _, s := range m.group {
			m.advance(s)
		}
	}
	return false
}

// resolve reconciles rows of one clustering (or the static rows) from
// several sources under the active deletion, writing the live values of
// their columns into out. It reports whether the row is live (live
// primary-key liveness or a live cell) and its provenance.
func (m *Merger) resolve(rows []*sstable.Row, srcs []*source, static bool, active sstable.DeletionTime, out []Value) (live bool, wt, exp int64) {
	now := m.opts.NowSec
	// Row liveness and deletion (BTreeRow.merge / Rows.merge).
	info := sstable.EmptyLiveness
	del := sstable.Live
	shadowable := false
	for _, r := range rows {
		if livenessSupersedes(r.Liveness, info) {
			info = r.Liveness
		}
		if r.Deletion.Supersedes(del) {
			del, shadowable = r.Deletion, r.Shadowable
		}
	}
	if shadowable && info.Timestamp > del.MarkedForDeleteAt {
		del = sstable.Live // a shadowable deletion is shadowed by newer liveness
	}
	if del.Supersedes(active) {
		active = del
	}
	if active.Deletes(info.Timestamp) {
		info = sstable.EmptyLiveness
	}
	wt, exp = sstable.NoTimestamp, sstable.NoDeletionTime
	if info.IsLive(now) {
		live = true
		wt = info.Timestamp
		if info.IsExpiring() {
			exp = info.LocalExpirationTime
		}
	}

	// Gather cells per value column.
	m.touched = m.touched[:0]
	for ri, r := range rows {
		b := srcs[ri].b
		idx, complexes, counters := b.regulars, b.complexR, b.counterR
		if static {
			idx, complexes, counters = b.statics, b.complexS, b.counterS
		}
		for ci := range r.Columns {
			cd := &r.Columns[ci]
			hi := cd.Column.Index
			if hi < 0 || hi >= len(idx) {
				continue
			}
			vi := idx[hi]
			if vi < 0 {
				continue
			}
			if !m.mark[vi] {
				m.mark[vi] = true
				m.touched = append(m.touched, vi)
				m.best[vi] = nil
				m.counter[vi] = m.counter[vi][:0]
				m.complex[vi] = m.complex[vi][:0]
			}
			switch {
			case complexes[hi]:
				m.complex[vi] = append(m.complex[vi], cd)
			case len(cd.Cells) == 0:
			case counters[hi]:
				m.counter[vi] = append(m.counter[vi], &cd.Cells[0])
			default:
				c := &cd.Cells[0]
				if m.best[vi] == nil || regularWins(c, m.best[vi]) {
					m.best[vi] = c
				}
			}
		}
	}

	// Resolve each column.
	for _, vi := range m.touched {
		m.mark[vi] = false
		drop := m.dropTime[vi]
		switch {
		case len(m.complex[vi]) > 0:
			elems, w, e := m.resolveComplex(vi, active, drop)
			if len(elems) > 0 {
				out[vi] = Value{Set: true, Elems: elems}
				live = true
				wt, exp = max(wt, w), min(exp, e)
			}
		case len(m.counter[vi]) > 0:
			if v, w, ok := m.resolveCounter(vi, active, drop); ok {
				out[vi] = Value{Set: true, Bytes: v}
				live = true
				wt = max(wt, w)
			}
		case m.best[vi] != nil:
			c := m.best[vi]
			if active.Deletes(c.Timestamp) || c.Timestamp <= drop || !c.IsLive(now) {
				continue
			}
			out[vi] = Value{Set: true, Bytes: c.Value}
			live = true
			wt = max(wt, c.Timestamp)
			if c.IsExpiring() {
				exp = min(exp, c.LocalDeletionTime)
			}
		}
	}
	return live, wt, exp
}

// resolveCounter merges the counter cells of one column: cells under the
// deletion go first (Cells.reconcile filters before it merges), then any
// tombstone wins (CASSANDRA-7346), then the contexts merge shard by shard.
func (m *Merger) resolveCounter(vi int, active sstable.DeletionTime, drop int64) ([]byte, int64, bool) {
	ts := sstable.NoTimestamp
	m.shards = m.shards[:0]
	first := true
	for _, c := range m.counter[vi] {
		if active.Deletes(c.Timestamp) || c.Timestamp <= drop {
			continue
		}
		if c.IsTombstone() {
			return nil, 0, false
		}
		if len(c.Value) == 0 {
			continue
		}
		var err error
		m.shards2, err = parseContext(m.shards2[:0], c.Value)
		if err != nil {
			m.fail(fmt.Errorf("%w: counter column %s of %s.%s: %v", sstable.ErrCorrupt, m.t.Values[vi].Name, m.t.Keyspace, m.t.Name, err))
			return nil, 0, false
		}
		ts = max(ts, c.Timestamp)
		if first {
			m.shards = append(m.shards, m.shards2...)
			first = false
			continue
		}
		m.shards3 = mergeShards(m.shards3[:0], m.shards, m.shards2)
		m.shards, m.shards3 = m.shards3, m.shards
	}
	if first {
		return nil, 0, false
	}
	binary.BigEndian.PutUint64(m.ctrBuf[vi][:], uint64(shardTotal(m.shards)))
	return m.ctrBuf[vi][:], ts, true
}

// resolveComplex merges the cells of a multi-cell column by path. The
// column's complex deletion joins the active deletion when it supersedes
// it; each cell is filtered by that deletion, reconciled with the cells of
// the same path, then kept only when live.
func (m *Merger) resolveComplex(vi int, active sstable.DeletionTime, drop int64) ([]Elem, int64, int64) {
	cds := m.complex[vi]
	del := active
	for _, cd := range cds {
		if cd.Deletion.Supersedes(del) {
			del = cd.Deletion
		}
	}
	pt := m.t.Values[vi].pathType
	now := m.opts.NowSec
	elems := m.elems[vi][:0]
	wt, exp := sstable.NoTimestamp, sstable.NoDeletionTime
	m.heads = m.heads[:0]
	for range cds {
		m.heads = append(m.heads, 0)
	}
	for {
		// the smallest path among the heads
		var minPath []byte
		found := false
		for k, cd := range cds {
			if h := m.heads[k]; h < len(cd.Cells) {
				p := cd.Cells[h].Path
				if !found || cql.Compare(pt, p, minPath) < 0 {
					minPath, found = p, true
				}
			}
		}
		if !found {
			break
		}
		var best *sstable.Cell
		for k, cd := range cds {
			h := m.heads[k]
			if h >= len(cd.Cells) || cql.Compare(pt, cd.Cells[h].Path, minPath) != 0 {
				continue
			}
			m.heads[k]++
			c := &cd.Cells[h]
			if del.Deletes(c.Timestamp) || c.Timestamp <= drop {
				continue
			}
			if best == nil || regularWins(c, best) {
				best = c
			}
		}
		if best == nil || !best.IsLive(now) {
			continue
		}
		elems = append(elems, Elem{Path: best.Path, Value: best.Value})
		wt = max(wt, best.Timestamp)
		if best.IsExpiring() {
			exp = min(exp, best.LocalDeletionTime)
		}
	}
	m.elems[vi] = elems
	return elems, wt, exp
}
