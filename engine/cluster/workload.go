package cluster

import (
	"fmt"
	"math/rand/v2"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
)

// workload draws the stream of mutations: which table, partition and row,
// what kind of write, with which client timestamp and TTL.
type workload struct {
	c       *Cluster
	r       *rand.Rand
	recent  []recentWrite
	next_   int
	shards  map[shardKey]shardState
	dead    map[string]bool // counter partitions, rows and cells deleted: no increments after
	pools   map[*column][]elem
	weights []int
}

type recentWrite struct {
	table, part int32
	row         int
	ts          int64
}

type shardKey struct {
	table, part int32
	row, col    int
	leader      int
}

type shardState struct{ clock, count int64 }

func newWorkload(c *Cluster, r *rand.Rand) *workload {
	g := &workload{c: c, r: r, shards: map[shardKey]shardState{}, dead: map[string]bool{}, pools: map[*column][]elem{}}
	for _, t := range c.tables {
		g.weights = append(g.weights, t.weight)
	}
	return g
}

const gregorianOffset = 0x01B21DD213814000 // 100 ns intervals from 1582-10-15 to 1970-01-01

func (g *workload) pickTable() int {
	total := 0
	for _, w := range g.weights {
		total += w
	}
	x := g.r.IntN(total)
	for i, w := range g.weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(g.weights) - 1
}

// pickPart favours the first partitions, so that a few are hot.
func (g *workload) pickPart(t *table) int32 {
	u := g.r.Float64()
	return int32(float64(len(t.parts)) * u * u)
}

func (g *workload) pickRow(t *table, part int32) int {
	return g.r.IntN(len(t.parts[part].rows))
}

func (g *workload) remember(w recentWrite) {
	if len(g.recent) < 64 {
		g.recent = append(g.recent, w)
		return
	}
	g.recent[g.next_] = w
	g.next_ = (g.next_ + 1) % len(g.recent)
}

// ttl draws a write's TTL: an explicit one, or the table's default.
func (g *workload) ttl(t *table) int32 {
	if g.r.Float64() < g.c.opts.TTLRate {
		d := g.c.opts.TTLs[g.r.IntN(len(g.c.opts.TTLs))]
		return int32(d.Seconds())
	}
	return t.ttl
}

// next draws the mutation arriving at arrival (µs); schemaVersion says
// which columns exist. It returns nil when nothing fits (a counter table
// whose every row was deleted).
func (g *workload) next(arrival int64, schemaVersion int) *mutation {
	ti := g.pickTable()
	t := g.c.tables[ti]
	m := &mutation{table: int32(ti), arrival: arrival, ts: arrival}
	if t.counter {
		return g.counterMutation(t, m, schemaVersion)
	}
	o := &g.c.opts
	if len(g.recent) > 0 && g.r.Float64() < o.TieRate {
		return g.tie(m, schemaVersion)
	}
	if g.r.Float64() < o.OldRate {
		m.ts = arrival - 1_000_000 - g.r.Int64N(3*3600*1_000_000)
	}
	m.part = g.pickPart(t)
	statics, regulars := g.cols(t, schemaVersion)
	mix := o.Mix
	if len(statics) == 0 {
		mix.Static = 0
	}
	if len(t.ck) == 0 {
		mix.DeleteRange = 0
	}
	if !hasMulti(statics) && !hasMulti(regulars) {
		mix.Collection = 0
	}
	kinds := []int{mix.Insert, mix.Update, mix.Static, mix.Collection, mix.DeleteCell, mix.DeleteRow, mix.DeleteRange, mix.DeletePartition}
	k := pickWeighted(g.r, kinds)
	row := g.pickRow(t, m.part)
	switch k {
	case 0: // INSERT [USING TTL]
		ttl := g.ttl(t)
		m.ops = append(m.ops, op{kind: opLiveness, row: row, ttl: ttl})
		for _, c := range regulars {
			if g.r.IntN(10) < 7 {
				m.ops = append(m.ops, g.setOp(c, row, ttl, m.arrival))
			}
		}
		if len(statics) > 0 && g.r.IntN(3) == 0 {
			for _, c := range statics {
				m.ops = append(m.ops, g.setOp(c, -1, ttl, m.arrival))
			}
		}
	case 1: // UPDATE [USING TTL] SET a few columns
		ttl := g.ttl(t)
		for range 1 + g.r.IntN(3) {
			c := regulars[g.r.IntN(len(regulars))]
			if c.t.MultiCell() && g.r.IntN(2) == 0 {
				m.ops = append(m.ops, g.elementOp(c, row, ttl, m.arrival))
			} else {
				m.ops = append(m.ops, g.setOp(c, row, ttl, m.arrival))
			}
		}
	case 2: // UPDATE of static columns
		ttl := g.ttl(t)
		c := statics[g.r.IntN(len(statics))]
		m.ops = append(m.ops, g.setOp(c, -1, ttl, m.arrival))
		row = -1
	case 3: // collection element operations
		var multi []*column
		var rows []int
		for _, c := range regulars {
			if c.t.MultiCell() {
				multi, rows = append(multi, c), append(rows, row)
			}
		}
		for _, c := range statics {
			if c.t.MultiCell() {
				multi, rows = append(multi, c), append(rows, -1)
			}
		}
		i := g.r.IntN(len(multi))
		m.ops = append(m.ops, g.elementOp(multi[i], rows[i], g.ttl(t), m.arrival))
		row = rows[i]
	case 4: // DELETE col
		all := append(append([]*column{}, regulars...), statics...)
		c := all[g.r.IntN(len(all))]
		if c.kind == schema.Static {
			row = -1
		}
		m.ops = append(m.ops, op{kind: opColumnDel, row: row, col: c.idx})
	case 5: // DELETE row (a partition deletion without clustering columns)
		if len(t.ck) == 0 {
			m.ops = append(m.ops, op{kind: opPartDel})
		} else {
			m.ops = append(m.ops, op{kind: opRowDel, row: row})
		}
	case 6:
		m.ops = append(m.ops, g.rangeOp(t, m.part))
	case 7:
		m.ops = append(m.ops, op{kind: opPartDel})
	}
	g.remember(recentWrite{table: m.table, part: m.part, row: row, ts: m.ts})
	return m
}

func pickWeighted(r *rand.Rand, w []int) int {
	total := 0
	for _, x := range w {
		total += max(x, 0)
	}
	x := r.IntN(total)
	for i, v := range w {
		if x < max(v, 0) {
			return i
		}
		x -= max(v, 0)
	}
	return len(w) - 1
}

func hasMulti(cols []*column) bool {
	for _, c := range cols {
		if c.t.MultiCell() {
			return true
		}
	}
	return false
}

func (g *workload) cols(t *table, v int) (statics, regulars []*column) {
	for _, c := range t.valueCols(v) {
		if c.kind == schema.Static {
			statics = append(statics, c)
		} else {
			regulars = append(regulars, c)
		}
	}
	return
}

// setOp writes a whole column: a value, or null one time in ten.
func (g *workload) setOp(c *column, row int, ttl int32, arrival int64) op {
	o := op{kind: opCell, row: row, col: c.idx, ttl: ttl}
	if c.t.MultiCell() {
		o.kind = opOverwrite
		if g.r.IntN(10) > 0 {
			n := g.r.IntN(5)
			for i := range n {
				o.elems = append(o.elems, g.element(c, arrival, i))
			}
			o.elems = dedupElems(o.elems)
		}
		return o
	}
	if g.r.IntN(10) == 0 {
		return o // null: a cell tombstone
	}
	o.val = genValue(g.r, c.t)
	o.vb = encode(c.t, o.val)
	return o
}

func dedupElems(es []elem) []elem {
	seen := map[string]bool{}
	var out []elem
	for _, e := range es {
		if !seen[string(e.path)] {
			seen[string(e.path)] = true
			out = append(out, e)
		}
	}
	return out
}

// elementOp adds, puts, appends or removes one element.
func (g *workload) elementOp(c *column, row int, ttl int32, arrival int64) op {
	o := op{kind: opElement, row: row, col: c.idx, ttl: ttl}
	e := g.element(c, arrival, 0)
	if c.t.Kind != cql.KindList && g.r.IntN(3) == 0 {
		o.kind = opElementDel
		o.ttl = 0
		e.vb, e.vgo = nil, nil
	}
	o.elems = []elem{e}
	return o
}

// element draws one element of a multi-cell column. Set elements and map
// keys come from a small pool per column, so that adds, puts and removes
// meet; list elements get a time-UUID path from the coordinator's clock,
// as Lists.Appender does.
func (g *workload) element(c *column, arrival int64, i int) elem {
	t := c.t
	switch t.Kind {
	case cql.KindList:
		tu := uint64(gregorianOffset + arrival*10 + int64(i))
		v := genValue(g.r, t.Elems[0])
		u := timeUUID(tu, uint64(arrival)*31+uint64(c.idx))
		return elem{path: u[:], pgo: int64(tu), vb: encode(t.Elems[0], v), vgo: v}
	case cql.KindSet:
		k := g.poolKey(c)
		return elem{path: k.path, pgo: k.pgo, vb: []byte{}}
	case cql.KindMap:
		k := g.poolKey(c)
		v := genValue(g.r, t.Elems[1])
		return elem{path: k.path, pgo: k.pgo, vb: encode(t.Elems[1], v), vgo: v}
	}
	panic(fmt.Sprintf("cluster: element of %s", t.CQL()))
}

func (g *workload) poolKey(c *column) elem {
	pool := g.pools[c]
	if pool == nil {
		seen := map[string]bool{}
		for tries := 0; len(pool) < 6 && tries < 60; tries++ {
			v := genValue(g.r, c.t.Elems[0])
			b := encode(c.t.Elems[0], v)
			if seen[string(b)] {
				continue
			}
			seen[string(b)] = true
			pool = append(pool, elem{path: b, pgo: v})
		}
		g.pools[c] = pool
	}
	return pool[g.r.IntN(len(pool))]
}

// rangeOp draws a range deletion: a clustering prefix (ck1 = x), a slice
// between two prefixes of the same length with either end in- or
// excluded, or a slice open at one end. Bounds are in clustering order.
func (g *workload) rangeOp(t *table, part int32) op {
	rows := t.parts[part].rows
	n := len(t.ck)
	l := 1 + g.r.IntN(n)
	a := rows[g.r.IntN(len(rows))]
	b := rows[g.r.IntN(len(rows))]
	pa, pb := prefix(a, l), prefix(b, l)
	c := compareClustering(t.ck, pa.vals, pb.vals)
	if c > 0 {
		pa, pb = pb, pa
	}
	o := op{kind: opRangeDel}
	switch {
	case c == 0 || g.r.IntN(4) == 0:
		// a prefix: both ends inclusive
		pa.incl, pb = true, pa
		pb.incl = true
	default:
		pa.incl, pb.incl = g.r.IntN(2) == 0, g.r.IntN(2) == 0
		switch g.r.IntN(5) {
		case 0:
			pa = bound{incl: true}
		case 1:
			pb = bound{incl: true}
		}
	}
	o.start, o.end = pa, pb
	return o
}

func prefix(r *ckRow, l int) bound {
	return bound{vals: r.vals[:l:l], b: r.b[:l:l]}
}

// tie writes again, at the client timestamp of a recent write to the same
// row, something that must win or lose by the tie rules: a different
// value, an expiring value, a tombstone, a row marker with or without TTL,
// or a row deletion.
func (g *workload) tie(m *mutation, schemaVersion int) *mutation {
	w := g.recent[g.r.IntN(len(g.recent))]
	t := g.c.tables[w.table]
	m.table, m.part, m.ts = w.table, w.part, w.ts
	statics, regulars := g.cols(t, schemaVersion)
	cols := regulars
	if w.row < 0 {
		cols = statics
	}
	var simple []*column
	for _, c := range cols {
		if !c.t.MultiCell() {
			simple = append(simple, c)
		}
	}
	if len(simple) == 0 {
		simple = cols
	}
	c := simple[g.r.IntN(len(simple))]
	switch k := g.r.IntN(7); {
	case k <= 1 || c.t.MultiCell(): // another value, no TTL
		m.ops = append(m.ops, g.setOp(c, w.row, 0, m.arrival))
	case k == 2: // an expiring value
		o := g.setOp(c, w.row, int32(g.c.opts.TTLs[g.r.IntN(len(g.c.opts.TTLs))].Seconds()), m.arrival)
		m.ops = append(m.ops, o)
	case k == 3: // a tombstone
		m.ops = append(m.ops, op{kind: opColumnDel, row: w.row, col: c.idx})
	case k == 4 && w.row >= 0: // a row marker, maybe expiring, and a value
		ttl := int32(0)
		if g.r.IntN(2) == 0 {
			ttl = int32(g.c.opts.TTLs[g.r.IntN(len(g.c.opts.TTLs))].Seconds())
		}
		m.ops = append(m.ops, op{kind: opLiveness, row: w.row, ttl: ttl}, g.setOp(c, w.row, ttl, m.arrival))
	case k == 5 && w.row >= 0 && len(t.ck) > 0: // a row deletion at the same timestamp
		m.ops = append(m.ops, op{kind: opRowDel, row: w.row})
	default:
		m.ops = append(m.ops, g.setOp(c, w.row, 0, m.arrival))
	}
	return m
}

// counterMutation draws counter increments, and now and then a counter
// deletion, after which that partition, row or cell is never incremented
// again (Cassandra leaves counters written after a deletion undefined).
func (g *workload) counterMutation(t *table, m *mutation, schemaVersion int) *mutation {
	statics, regulars := g.cols(t, schemaVersion)
	for range 10 {
		m.part = g.pickPart(t)
		row := g.pickRow(t, m.part)
		pk := fmt.Sprintf("p%d:%d", m.table, m.part)
		rk := fmt.Sprintf("%s:%d", pk, row)
		if g.dead[pk] || g.dead[rk] {
			continue
		}
		live := func(row, col int) bool { return !g.dead[fmt.Sprintf("%s:%d:%d", pk, row, col)] }
		if g.r.IntN(40) == 0 {
			switch g.r.IntN(3) {
			case 0:
				c := regulars[g.r.IntN(len(regulars))]
				g.dead[fmt.Sprintf("%s:%d:%d", pk, row, c.idx)] = true
				m.ops = append(m.ops, op{kind: opCounterDel, row: row, col: c.idx})
			case 1:
				if len(t.ck) > 0 {
					g.dead[rk] = true
					m.ops = append(m.ops, op{kind: opRowDel, row: row})
					break
				}
				fallthrough
			default:
				g.dead[pk] = true
				m.ops = append(m.ops, op{kind: opPartDel})
			}
			return m
		}
		for _, c := range regulars {
			if g.r.IntN(3) > 0 && live(row, c.idx) {
				m.ops = append(m.ops, op{kind: opCounter, row: row, col: c.idx, val: int64(g.r.IntN(26) - 5)})
			}
		}
		for _, c := range statics {
			if g.r.IntN(3) == 0 && live(-1, c.idx) {
				m.ops = append(m.ops, op{kind: opCounter, row: -1, col: c.idx, val: int64(g.r.IntN(10) + 1)})
			}
		}
		if len(m.ops) > 0 {
			return m
		}
	}
	return nil
}

// lead applies a counter mutation at its leader: each increment becomes
// the leader's new shard (clock + 1, count + delta), which the replicas
// receive as it is.
func (g *workload) lead(m *mutation, leader *Node) {
	for i := range m.ops {
		o := &m.ops[i]
		if o.kind != opCounter {
			continue
		}
		k := shardKey{table: m.table, part: m.part, row: o.row, col: o.col, leader: leader.index}
		s := g.shards[k]
		s.clock++
		s.count += o.val.(int64)
		g.shards[k] = s
		o.sh = shard{id: leader.hostID, clock: s.clock, count: s.count}
	}
}
