package cluster

import (
	"bytes"
	"math"
	"slices"
)

// This file is the generator's own model of Cassandra's storage semantics:
// the reconcile rules of db/rows/Cells.java, LivenessInfo.java and
// DeletionTime.java (cassandra-sstables-and-backups.md §7). It imports
// nothing from the engine: the truth is computed with it, and so are the
// memtables whose flushes become the SSTables the engine reads. Every
// merge here is a join (commutative, associative, idempotent), so merging
// the writes one node received and then the chosen replicas gives the same
// result as merging everything at once, in any order.

const (
	noTS  int64 = math.MinInt64 // no timestamp (absent liveness, live deletion)
	noLDT int64 = math.MaxInt64 // no local deletion time (live, not expiring)
)

// deletion is a DeletionTime: data written at ts ≤ at is shadowed.
type deletion struct{ at, ldt int64 }

var liveDel = deletion{noTS, noLDT}

func (d deletion) isLive() bool { return d.at == noTS }

// supersedes is DeletionTime.supersedes: a higher markedForDeleteAt, then a
// higher localDeletionTime.
func (d deletion) supersedes(o deletion) bool {
	return d.at > o.at || (d.at == o.at && d.ldt > o.ldt)
}

func (d deletion) deletes(ts int64) bool { return !d.isLive() && ts <= d.at }

func maxDel(a, b deletion) deletion {
	if b.supersedes(a) {
		return b
	}
	return a
}

// liveness is a row's primary-key liveness (what INSERT writes).
type liveness struct {
	ts  int64 // noTS when absent
	ttl int32
	exp int64 // local expiration time; noLDT unless ttl > 0
}

var noLiveness = liveness{noTS, 0, noLDT}

func (l liveness) empty() bool { return l.ts == noTS }

// supersedes is LivenessInfo.supersedes (4.0): the higher timestamp; on a
// tie an expiring liveness beats a non-expiring one, and of two expiring
// ones the later expiration wins.
func (l liveness) supersedes(o liveness) bool {
	if l.ts != o.ts {
		return l.ts > o.ts
	}
	le, oe := l.ttl > 0, o.ttl > 0
	if le == oe {
		return l.exp > o.exp
	}
	return le
}

func (l liveness) liveAt(now int64) bool {
	return !l.empty() && (l.ttl == 0 || now < l.exp)
}

// shard is one global shard of a counter context.
type shard struct {
	id           [16]byte
	clock, count int64
}

// cell is one cell: a simple column's value, a collection element, or a
// counter. Tombstones have tomb set and ldt = deletion time; expiring cells
// have ttl > 0 and ldt = expiry.
type cell struct {
	ts   int64
	ttl  int32
	ldt  int64
	tomb bool
	val  []byte // serialized value; empty for tombstones and set elements
	gov  any    // the Go value of val, for the truth
	path []byte // element path of a multi-cell column; nil for simple columns
	pgo  any    // set element or map key as a Go value; list: int64 time of the path
	// counter cells: the shards, sorted by id
	shards []shard
}

func (c *cell) counter() bool { return c.shards != nil }

func (c *cell) liveAt(now int64) bool {
	return !c.tomb && (c.ttl == 0 || now < c.ldt)
}

// reconcile returns the cell that wins between a and b, which are
// versions of the same cell. Counter cells merge into a new cell.
func reconcile(a, b *cell) *cell {
	if a.counter() || b.counter() {
		return reconcileCounter(a, b)
	}
	// Cells.resolveRegular (4.0):
	if a.ts != b.ts {
		if a.ts > b.ts {
			return a
		}
		return b
	}
	aET, bET := a.ldt != noLDT, b.ldt != noLDT // expiring or tombstone
	if aET || bET {
		if aET != bET {
			if aET {
				return a
			}
			return b
		}
		if a.tomb != b.tomb { // a pure tombstone beats an expiring cell
			if a.tomb {
				return a
			}
			return b
		}
		if a.ldt != b.ldt {
			if a.ldt > b.ldt {
				return a
			}
			return b
		}
	}
	// compareValues: unsigned byte order, left wins when ≥
	if bytes.Compare(a.val, b.val) >= 0 {
		return a
	}
	return b
}

// reconcileCounter is Cells.resolveCounter: a tombstone always wins (the
// later one of two); otherwise the contexts merge shard by shard, the
// higher clock winning per counter id.
func reconcileCounter(a, b *cell) *cell {
	switch {
	case a.tomb && b.tomb:
		if b.ts > a.ts || (b.ts == a.ts && b.ldt > a.ldt) {
			return b
		}
		return a
	case a.tomb:
		return a
	case b.tomb:
		return b
	}
	m := &cell{ts: max(a.ts, b.ts), ldt: noLDT, path: a.path}
	i, j := 0, 0
	for i < len(a.shards) || j < len(b.shards) {
		switch {
		case j == len(b.shards) || (i < len(a.shards) && bytes.Compare(a.shards[i].id[:], b.shards[j].id[:]) < 0):
			m.shards = append(m.shards, a.shards[i])
			i++
		case i == len(a.shards) || bytes.Compare(a.shards[i].id[:], b.shards[j].id[:]) > 0:
			m.shards = append(m.shards, b.shards[j])
			j++
		default:
			s := a.shards[i]
			if t := b.shards[j]; t.clock > s.clock || (t.clock == s.clock && t.count > s.count) {
				s = t
			}
			m.shards = append(m.shards, s)
			i++
			j++
		}
	}
	return m
}

func (c *cell) total() int64 {
	var n int64
	for _, s := range c.shards {
		n += s.count
	}
	return n
}

// colState is one column of one row: its cells by path ("" for a simple
// column) and, for a multi-cell column, its complex deletion.
type colState struct {
	del   deletion
	cells map[string]*cell
}

// rowState is one row (or the static row) of a partition.
type rowState struct {
	ck   []any    // clustering values (nil for the static row)
	ckb  [][]byte // serialized clustering values
	lv   liveness
	del  deletion
	cols map[int]*colState // by column index in the table
}

func newRow(ck []any, ckb [][]byte) *rowState {
	return &rowState{ck: ck, ckb: ckb, lv: noLiveness, del: liveDel, cols: map[int]*colState{}}
}

func (r *rowState) col(i int) *colState {
	c := r.cols[i]
	if c == nil {
		c = &colState{del: liveDel, cells: map[string]*cell{}}
		r.cols[i] = c
	}
	return c
}

func (r *rowState) putCell(col int, c *cell) {
	cs := r.col(col)
	k := string(c.path)
	if old := cs.cells[k]; old != nil {
		c = reconcile(old, c)
	}
	cs.cells[k] = c
}

func (r *rowState) deleteComplex(col int, d deletion) {
	cs := r.col(col)
	cs.del = maxDel(cs.del, d)
}

// bound is one end of a range deletion: a clustering prefix (none for an
// open end) and whether the bound itself is included.
type bound struct {
	vals []any
	b    [][]byte
	incl bool
}

type rangeTomb struct {
	start, end bound
	del        deletion
}

// partState is one partition as one node (or a merge of nodes) holds it.
type partState struct {
	del    deletion
	static *rowState
	rows   map[string]*rowState // by the serialized clustering
	rts    []rangeTomb
}

func newPart() *partState {
	return &partState{del: liveDel, rows: map[string]*rowState{}}
}

func ckKey(ckb [][]byte) string {
	var b []byte
	for _, v := range ckb {
		b = append(b, byte(len(v)>>24), byte(len(v)>>16), byte(len(v)>>8), byte(len(v)))
		b = append(b, v...)
	}
	return string(b)
}

func (p *partState) row(ck []any, ckb [][]byte) *rowState {
	k := ckKey(ckb)
	r := p.rows[k]
	if r == nil {
		r = newRow(ck, ckb)
		p.rows[k] = r
	}
	return r
}

func (p *partState) staticRow() *rowState {
	if p.static == nil {
		p.static = newRow(nil, nil)
	}
	return p.static
}

func (p *partState) addRange(rt rangeTomb) {
	for i, o := range p.rts {
		if sameBound(o.start, rt.start) && sameBound(o.end, rt.end) {
			p.rts[i].del = maxDel(o.del, rt.del)
			return
		}
	}
	p.rts = append(p.rts, rt)
}

func sameBound(a, b bound) bool {
	return a.incl == b.incl && slices.EqualFunc(a.b, b.b, bytes.Equal)
}

// merge joins o into p (o is left untouched; cells are shared, never
// mutated).
func (p *partState) merge(o *partState) {
	p.del = maxDel(p.del, o.del)
	if o.static != nil {
		mergeRow(p.staticRow(), o.static)
	}
	for k, r := range o.rows {
		mergeRow(p.row(r.ck, r.ckb), r)
		_ = k
	}
	for _, rt := range o.rts {
		p.addRange(rt)
	}
}

func mergeRow(dst, src *rowState) {
	if src.lv.supersedes(dst.lv) {
		dst.lv = src.lv
	}
	dst.del = maxDel(dst.del, src.del)
	for i, cs := range src.cols {
		d := dst.col(i)
		d.del = maxDel(d.del, cs.del)
		for k, c := range cs.cells {
			if old := d.cells[k]; old != nil {
				c = reconcile(old, c)
			}
			d.cells[k] = c
		}
	}
}
