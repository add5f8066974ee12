package cluster

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
)

// The truth is computed here on its own: the replicas of every partition
// are placed again by a plain implementation of Cassandra's strategies
// (not engine/ring), chosen per consistency level as contracts §8 says,
// the writes each chosen replica had received by its snapshot are merged
// with the rules of model.go, and the live rows are read out at the TTL
// reference time with CQL's semantics.

var (
	// ErrNoBackup marks a backup round or ID the cluster does not have.
	ErrNoBackup = errors.New("no such backup")
	// ErrUnknownTable marks a table the cluster does not have.
	ErrUnknownTable = errors.New("unknown table")
	// ErrConsistency marks a consistency level the ring cannot satisfy.
	ErrConsistency = errors.New("consistency level cannot be met")
)

// Query asks for the expected content of one table in one backup.
type Query struct {
	Table string
	// Round is the backup round (1-based; 0 means the last). Backup, when
	// set, names the backup by its catalog ID instead (see BackupInfo.ID).
	Round  int
	Backup string
	// Consistency is the level the engine reads at (default LOCAL_QUORUM,
	// ring.Consistency's zero value).
	Consistency ring.Consistency
	// LocalDC is the DC read first (default: the first DC by name that
	// holds replicas of the keyspace).
	LocalDC string
	// TTLReference is the time at which TTLs are expired (default: the
	// backup's snapshot time, contracts §8).
	TTLReference time.Time
	// NodeRounds reads the named nodes from another round's snapshot
	// (the legacy connector read one node's previous backup).
	NodeRounds map[string]int
}

// Table is the expected logical content of a table: the live rows a
// correct engine emits, each once.
type Table struct {
	Keyspace string
	Name     string
	Columns  []Column
	Rows     []Row
	// Round and BackupID name the backup; SnapshotTime is its snapshot
	// time (the latest node snapshot); Reference the TTL reference used.
	Round        int
	BackupID     string
	SnapshotTime time.Time
	Reference    time.Time
	Consistency  ring.Consistency
	LocalDC      string
}

// Column is one output column.
type Column struct {
	Name string
	Type *cql.Type // the column's CQL type (DESC clustering columns are not reversed here)
	Kind schema.Kind
}

// Row is one live row. Values follow Table.Columns, as cql.Decode returns
// them (nil is null): a set is a []any in the element type's order, a map
// a []cql.MapEntry in key order, a list a []any in list order, a tuple or
// UDT a []any, a counter its total as int64.
type Row struct {
	Values []any
	Token  int64  // Murmur3 token of the partition key
	Key    []byte // the serialized partition key
	// WriteTime is the highest write timestamp (µs) of the live data the
	// row shows: its row marker and its live cells, static cells included.
	WriteTime int64
	// Expiry is the earliest expiry (Unix seconds) of the row's live
	// expiring data, 0 when nothing in it expires.
	Expiry int64
}

// ColumnIndex returns the position of a column, or -1.
func (t *Table) ColumnIndex(name string) int {
	return slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
}

// Truth computes the expected content of q.Table for one backup.
func (c *Cluster) Truth(q Query) (*Table, error) {
	rd, err := c.queryRound(q)
	if err != nil {
		return nil, err
	}
	var t *table
	ti := -1
	for i, x := range c.tables {
		if x.name == q.Table {
			t, ti = x, i
		}
	}
	if t == nil {
		return nil, fmt.Errorf("%w: %q (the cluster has %v)", ErrUnknownTable, q.Table, c.Tables())
	}
	snapTime := rd.snapshotTime()
	ref := q.TTLReference
	if ref.IsZero() {
		ref = snapTime
	}
	now := ref.Unix()
	var ringNodes []*Node
	for _, s := range rd.snaps {
		ringNodes = append(ringNodes, s.node)
	}
	local := q.LocalDC
	if local == "" {
		local = defaultLocalDC(ringNodes, c.replication)
	}
	// what every node holds of the table, by partition
	held := map[string]map[int32][]delivery{}
	for _, s := range rd.snaps {
		src := s
		if r, ok := q.NodeRounds[s.node.Name]; ok {
			other, err := c.round(r)
			if err != nil {
				return nil, err
			}
			if src = other.snap(s.node.Name); src == nil {
				return nil, fmt.Errorf("%w: node %s has no snapshot in round %d", ErrNoBackup, s.node.Name, r)
			}
		}
		byPart := map[int32][]delivery{}
		for _, d := range c.logs[s.node.index][ti].log[:src.offsets[ti]] {
			p := c.muts[d.mut].part
			byPart[p] = append(byPart[p], d)
		}
		held[s.node.Name] = byPart
	}
	nodes := map[string]*Node{}
	for _, n := range ringNodes {
		nodes[n.Name] = n
	}
	out := &Table{Keyspace: c.keyspace, Name: t.name, Round: rd.index, BackupID: c.backupID(rd), SnapshotTime: snapTime,
		Reference: ref, Consistency: q.Consistency, LocalDC: local}
	cols := outputColumns(t, rd.schema)
	for _, col := range cols {
		out.Columns = append(out.Columns, Column{Name: col.name, Type: col.t, Kind: col.kind})
	}
	parts := slices.Clone(t.parts)
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].token != parts[j].token {
			return parts[i].token < parts[j].token
		}
		return bytes.Compare(parts[i].key, parts[j].key) < 0
	})
	pidx := map[*partition]int32{}
	for i, p := range t.parts {
		pidx[p] = int32(i)
	}
	for _, p := range parts {
		replicas := placeReplicas(ringNodes, c.replication, p.token)
		chosen, err := chooseReplicas(nodes, replicas, c.replication, q.Consistency, local)
		if err != nil {
			return nil, fmt.Errorf("table %s partition %x: %w", t.name, p.key, err)
		}
		ps := newPart()
		for _, name := range chosen {
			for _, d := range held[name][pidx[p]] {
				applyMutation(ps, t, p, c.muts[d.mut], d.local)
			}
		}
		out.Rows = append(out.Rows, evaluate(ps, t, p, cols, now)...)
	}
	return out, nil
}

func (c *Cluster) queryRound(q Query) (*round, error) {
	if q.Backup != "" {
		for _, rd := range c.rounds {
			if c.backupID(rd) == q.Backup || rd.name == q.Backup {
				return rd, nil
			}
		}
		return nil, fmt.Errorf("%w: %q", ErrNoBackup, q.Backup)
	}
	if q.Round == 0 {
		return c.rounds[len(c.rounds)-1], nil
	}
	return c.round(q.Round)
}

func (rd *round) snapshotTime() time.Time {
	var t time.Time
	for _, s := range rd.snaps {
		if s.time.After(t) {
			t = s.time
		}
	}
	return t
}

func (rd *round) firstSnapshot() time.Time {
	t := rd.snaps[0].time
	for _, s := range rd.snaps {
		if s.time.Before(t) {
			t = s.time
		}
	}
	return t
}

// outputColumns: the partition key, the clustering columns, then the
// static and regular columns by name, as SELECT * orders them.
func outputColumns(t *table, v int) []*column {
	out := append(slices.Clone(t.pk), t.ck...)
	rest := t.valueCols(v)
	slices.SortFunc(rest, func(a, b *column) int { return cmp.Compare(a.name, b.name) })
	return append(out, rest...)
}

// applyMutation applies one mutation, as a node whose clock read local
// seconds applied it, to a partition.
func applyMutation(ps *partState, t *table, p *partition, m *mutation, local int64) {
	expiry := func(ttl int32) int64 {
		if ttl > 0 {
			return local + int64(ttl)
		}
		return noLDT
	}
	for i := range m.ops {
		o := &m.ops[i]
		row := func() *rowState {
			if o.row < 0 {
				return ps.staticRow()
			}
			r := p.rows[o.row]
			return ps.row(r.vals, r.b)
		}
		switch o.kind {
		case opLiveness:
			r := row()
			lv := liveness{ts: m.ts, ttl: o.ttl, exp: expiry(o.ttl)}
			if lv.supersedes(r.lv) {
				r.lv = lv
			}
		case opCell:
			if o.val == nil {
				row().putCell(o.col, &cell{ts: m.ts, ldt: local, tomb: true, val: []byte{}})
			} else {
				row().putCell(o.col, &cell{ts: m.ts, ttl: o.ttl, ldt: expiry(o.ttl), val: o.vb, gov: o.val})
			}
		case opOverwrite:
			r := row()
			r.deleteComplex(o.col, deletion{m.ts - 1, local})
			for _, e := range o.elems {
				r.putCell(o.col, &cell{ts: m.ts, ttl: o.ttl, ldt: expiry(o.ttl), val: e.vb, gov: e.vgo, path: e.path, pgo: e.pgo})
			}
		case opElement:
			for _, e := range o.elems {
				row().putCell(o.col, &cell{ts: m.ts, ttl: o.ttl, ldt: expiry(o.ttl), val: e.vb, gov: e.vgo, path: e.path, pgo: e.pgo})
			}
		case opElementDel:
			for _, e := range o.elems {
				row().putCell(o.col, &cell{ts: m.ts, ldt: local, tomb: true, val: []byte{}, path: e.path, pgo: e.pgo})
			}
		case opColumnDel:
			if t.cols[o.col].t.MultiCell() {
				row().deleteComplex(o.col, deletion{m.ts, local})
			} else {
				row().putCell(o.col, &cell{ts: m.ts, ldt: local, tomb: true, val: []byte{}})
			}
		case opCounterDel:
			row().putCell(o.col, &cell{ts: m.ts, ldt: local, tomb: true, val: []byte{}})
		case opRowDel:
			r := row()
			r.del = maxDel(r.del, deletion{m.ts, local})
		case opRangeDel:
			ps.addRange(rangeTomb{start: o.start, end: o.end, del: deletion{m.ts, local}})
		case opPartDel:
			ps.del = maxDel(ps.del, deletion{m.ts, local})
		case opCounter:
			row().putCell(o.col, &cell{ts: m.ts, ldt: noLDT, shards: []shard{o.sh}})
		}
	}
}

// evaluate reads the live rows of a merged partition at now (seconds).
func evaluate(ps *partState, t *table, p *partition, cols []*column, now int64) []Row {
	var statics []*column
	var regulars []*column
	for _, c := range cols {
		switch c.kind {
		case schema.Static:
			statics = append(statics, c)
		case schema.Regular:
			regulars = append(regulars, c)
		}
	}
	type acc struct {
		wt, exp int64
	}
	see := func(a *acc, ts, exp int64) {
		a.wt = max(a.wt, ts)
		if exp != noLDT && (a.exp == 0 || exp < a.exp) {
			a.exp = exp
		}
	}
	// value reads one column of a row under the deletion in force.
	value := func(r *rowState, c *column, d deletion, a *acc) any {
		cs := r.cols[c.idx]
		if cs == nil {
			return nil
		}
		if !c.t.MultiCell() {
			x := cs.cells[""]
			if x == nil || d.deletes(x.ts) || !x.liveAt(now) {
				return nil
			}
			see(a, x.ts, x.ldt)
			if x.counter() {
				return x.total()
			}
			return cloneValue(x.gov)
		}
		var live []*cell
		for _, x := range cs.cells {
			if !d.deletes(x.ts) && !cs.del.deletes(x.ts) && x.liveAt(now) {
				live = append(live, x)
				see(a, x.ts, x.ldt)
			}
		}
		if len(live) == 0 {
			return nil
		}
		switch c.t.Kind {
		case cql.KindList:
			slices.SortFunc(live, func(x, y *cell) int { return cmp.Compare(x.pgo.(int64), y.pgo.(int64)) })
			out := make([]any, len(live))
			for i, x := range live {
				out[i] = cloneValue(x.gov)
			}
			return out
		case cql.KindSet:
			slices.SortFunc(live, func(x, y *cell) int { return compareGo(c.t.Elems[0], x.pgo, y.pgo) })
			out := make([]any, len(live))
			for i, x := range live {
				out[i] = cloneValue(x.pgo)
			}
			return out
		default: // map
			slices.SortFunc(live, func(x, y *cell) int { return compareGo(c.t.Elems[0], x.pgo, y.pgo) })
			out := make([]cql.MapEntry, len(live))
			for i, x := range live {
				out[i] = cql.MapEntry{Key: cloneValue(x.pgo), Value: cloneValue(x.gov)}
			}
			return out
		}
	}
	var sa acc
	staticVals := make([]any, len(statics))
	staticLive := false
	if ps.static != nil {
		for i, c := range statics {
			staticVals[i] = value(ps.static, c, ps.del, &sa)
			staticLive = staticLive || staticVals[i] != nil
		}
	}
	rows := make([]*rowState, 0, len(ps.rows))
	for _, r := range ps.rows {
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b *rowState) int { return compareClustering(t.ck, a.ck, b.ck) })
	var out []Row
	emit := func(ck []any, regVals []any, a acc) {
		vals := make([]any, 0, len(cols))
		for _, v := range p.vals {
			vals = append(vals, cloneValue(v))
		}
		for i := range t.ck {
			if ck == nil {
				vals = append(vals, nil)
			} else {
				vals = append(vals, cloneValue(ck[i]))
			}
		}
		ri, si := 0, 0
		for _, c := range cols[len(t.pk)+len(t.ck):] {
			if c.kind == schema.Static {
				vals = append(vals, staticVals[si])
				si++
			} else {
				vals = append(vals, regVals[ri])
				ri++
			}
		}
		see(&a, sa.wt, noLDT)
		if sa.exp != 0 {
			see(&a, 0, sa.exp)
		}
		out = append(out, Row{Values: vals, Token: p.token, Key: bytes.Clone(p.key), WriteTime: a.wt, Expiry: a.exp})
	}
	for _, r := range rows {
		d := maxDel(ps.del, r.del)
		for _, rt := range ps.rts {
			if covers(t.ck, rt, r.ck) {
				d = maxDel(d, rt.del)
			}
		}
		var a acc
		exists := false
		if !d.deletes(r.lv.ts) && r.lv.liveAt(now) {
			exists = true
			see(&a, r.lv.ts, r.lv.exp)
		}
		regVals := make([]any, len(regulars))
		for i, c := range regulars {
			regVals[i] = value(r, c, d, &a)
			exists = exists || regVals[i] != nil
		}
		if exists {
			emit(r.ck, regVals, a)
		}
	}
	if len(out) == 0 && staticLive {
		emit(nil, make([]any, len(regulars)), acc{})
	}
	return out
}

// placeReplicas is the truth's own replica placement: SimpleStrategy
// takes the first RF distinct nodes clockwise from the token's range;
// NetworkTopologyStrategy follows Cassandra 4.0 (per DC, nodes of unseen
// racks, and nodes of seen racks while RF exceeds the DC's rack count).
func placeReplicas(nodes []*Node, rep ring.Replication, tok int64) []string {
	type owned struct {
		t int64
		n *Node
	}
	var ringTokens []owned
	for _, n := range nodes {
		for _, t := range n.Tokens {
			ringTokens = append(ringTokens, owned{t, n})
		}
	}
	sort.Slice(ringTokens, func(i, j int) bool { return ringTokens[i].t < ringTokens[j].t })
	start := sort.Search(len(ringTokens), func(i int) bool { return ringTokens[i].t >= tok })
	var out []string
	has := func(name string) bool { return slices.Contains(out, name) }
	if rep.Class == "SimpleStrategy" {
		distinct := map[string]bool{}
		for _, n := range nodes {
			distinct[n.Name] = true
		}
		want := min(rep.Factor, len(distinct))
		for i := 0; i < len(ringTokens) && len(out) < want; i++ {
			n := ringTokens[(start+i)%len(ringTokens)].n
			if !has(n.Name) {
				out = append(out, n.Name)
			}
		}
		return out
	}
	type dcState struct {
		left, repeats int
		racks         map[string]bool
	}
	dcs := map[string]*dcState{}
	for dc, rf := range rep.DCFactors {
		nodesIn, racks := 0, map[string]bool{}
		for _, n := range nodes {
			if n.DC == dc {
				nodesIn++
				racks[n.Rack] = true
			}
		}
		if rf <= 0 || nodesIn == 0 {
			continue
		}
		dcs[dc] = &dcState{left: min(rf, nodesIn), repeats: rf - len(racks), racks: map[string]bool{}}
	}
	for i := 0; i < len(ringTokens); i++ {
		n := ringTokens[(start+i)%len(ringTokens)].n
		s := dcs[n.DC]
		if s == nil || s.left == 0 || has(n.Name) {
			continue
		}
		if !s.racks[n.Rack] {
			s.racks[n.Rack] = true
		} else if s.repeats <= 0 {
			continue
		} else {
			s.repeats--
		}
		s.left--
		out = append(out, n.Name)
	}
	return out
}

func defaultLocalDC(nodes []*Node, rep ring.Replication) string {
	var dcs []string
	for _, n := range nodes {
		if !slices.Contains(dcs, n.DC) {
			dcs = append(dcs, n.DC)
		}
	}
	slices.Sort(dcs)
	for _, dc := range dcs {
		if rep.Class == "SimpleStrategy" || rep.DCFactors[dc] > 0 {
			return dc
		}
	}
	return ""
}

// orderReplicas sorts replicas as contracts §8 says: the local DC first,
// then the other DCs by name; within a DC by rack, then by node name.
func orderReplicas(nodes map[string]*Node, replicas []string, localDC string) []string {
	out := slices.Clone(replicas)
	slices.SortStableFunc(out, func(a, b string) int {
		na, nb := nodes[a], nodes[b]
		la, lb := na.DC != localDC, nb.DC != localDC
		if la != lb {
			if !la {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(na.DC, nb.DC); c != 0 {
			return c
		}
		if c := cmp.Compare(na.Rack, nb.Rack); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return out
}

// chooseReplicas picks the replicas a read at cl merges (contracts §8).
func chooseReplicas(nodes map[string]*Node, replicas []string, rep ring.Replication, cl ring.Consistency, localDC string) ([]string, error) {
	ordered := orderReplicas(nodes, replicas, localDC)
	total := rep.Factor
	if rep.Class != "SimpleStrategy" {
		total = 0
		for _, f := range rep.DCFactors {
			total += f
		}
	}
	pool := ordered
	var need int
	switch cl {
	case ring.One:
		need = 1
	case ring.All:
		if len(ordered) < total {
			return nil, fmt.Errorf("%w: ALL needs %d replicas, the ring has %d", ErrConsistency, total, len(ordered))
		}
		need = len(ordered)
	case ring.Quorum:
		need = total/2 + 1
	case ring.LocalQuorum:
		if rep.Class == "SimpleStrategy" {
			need = total/2 + 1
			break
		}
		rf := rep.DCFactors[localDC]
		if rf == 0 {
			return nil, fmt.Errorf("%w: LOCAL_QUORUM in dc %q, which holds no replicas", ErrConsistency, localDC)
		}
		need = rf/2 + 1
		pool = nil
		for _, name := range ordered {
			if nodes[name].DC == localDC {
				pool = append(pool, name)
			}
		}
	default:
		return nil, fmt.Errorf("%w: unknown level %v", ErrConsistency, cl)
	}
	if len(pool) < need {
		return nil, fmt.Errorf("%w: %v needs %d replicas, the ring has %d (%v)", ErrConsistency, cl, need, len(pool), pool)
	}
	return pool[:need], nil
}
