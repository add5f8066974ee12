package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/token"
)

// Cluster is a simulated Cassandra cluster after its whole history: every
// mutation, which replica received it, every memtable flush and every
// node snapshot. It holds no files: SSTables are written when the cluster
// is uploaded (Upload) or written out (WriteSSTables), always with the
// same bytes for the same seed and options. A Cluster is safe for
// concurrent reads once Random returns.
type Cluster struct {
	opts        Options
	seed        int64
	keyspace    string
	replication ring.Replication
	tables      []*table
	udts        map[string]*cql.Type
	nodes       []*Node // every node, joined later ones included, in creation order
	muts        []*mutation
	logs        [][]*nodeTable // [node][table]
	rounds      []*round
	changes     []time.Time // when schema version i+1 started

	cacheMu sync.Mutex
	caches  map[string]*sstCache // Upload's kept work folders
}

// mutation is one CQL write to one partition at one client timestamp.
type mutation struct {
	table, part int32
	arrival     int64 // µs since the epoch, when the coordinator got it; unique
	ts          int64 // client timestamp, µs
	ops         []op
}

type opKind uint8

const (
	opLiveness   opKind = iota // the row marker an INSERT writes
	opCell                     // a simple cell: a value, or null (a tombstone)
	opOverwrite                // a multi-cell column set whole: complex deletion at ts-1, then its elements
	opElement                  // one element: list append, set add, map put
	opElementDel               // one set or map element removed
	opColumnDel                // DELETE col: a cell tombstone, or a complex deletion at ts
	opRowDel
	opRangeDel
	opPartDel
	opCounter    // a counter increment: the leader's new shard
	opCounterDel // DELETE of a counter column
)

type op struct {
	kind       opKind
	row        int // index in the partition's row pool; -1 for the static row
	col        int // index in table.cols
	ttl        int32
	val        any // simple cells: the Go value, nil for null
	vb         []byte
	elems      []elem
	start, end bound
	sh         shard
}

type elem struct {
	path []byte
	pgo  any
	vb   []byte
	vgo  any
}

// delivery is one mutation as one node applied it, at its local time.
type delivery struct {
	mut   int32
	local int64 // the node's clock when it applied the write, seconds
}

// nodeTable is what one node holds of one table: every write it applied,
// in order, and how they were flushed.
type nodeTable struct {
	log       []delivery
	memStart  int // first entry still in the memtable
	threshold int
	sstables  []*sst
	gen       int
}

// sst is one SSTable: a slice of a node's log for a table.
type sst struct {
	node        *Node
	table       *table
	gen         int
	version     string
	compression string
	from, to    int // log entries [from, to)
	schema      int // schema version of its header
	flushed     time.Time
	streamed    bool // written by streaming when the node joined
}

// Name is the SSTable's descriptor, e.g. nb-3-big.
func (s *sst) name() string { return fmt.Sprintf("%s-%d-big", s.version, s.gen) }

// round is one cluster backup: a snapshot of every node of the ring.
type round struct {
	index  int // 1-based
	name   string
	base   time.Time
	schema int
	snaps  []*nodeSnap // ring nodes at that time, in node order
}

// nodeSnap is one node's snapshot.
type nodeSnap struct {
	node     *Node
	time     time.Time
	offsets  []int // per table: log entries included
	sstables []*sst
	schema   int
}

func (r *round) snap(name string) *nodeSnap {
	for _, s := range r.snaps {
		if s.node.Name == name {
			return s
		}
	}
	return nil
}

// Random simulates a cluster from a seed: the same seed and options give
// the same cluster, mutations, SSTables and backups.
func Random(seed int64, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0xc1a55e))
	c := &Cluster{opts: opts, seed: seed, keyspace: opts.Keyspace}
	var err error
	c.tables, c.udts, err = resolveTables(opts.Keyspace, opts.Types, opts.Tables, opts.AddColumn)
	if err != nil {
		return nil, err
	}
	initial, err := buildTopology(r, &c.opts)
	if err != nil {
		return nil, err
	}
	c.nodes = initial
	if opts.SimpleStrategy > 0 {
		c.replication = ring.Replication{Class: "SimpleStrategy", Factor: opts.SimpleStrategy}
	} else {
		c.replication = ring.Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{}}
		for _, d := range opts.DCs {
			c.replication.DCFactors[d.Name] = d.RF
		}
	}
	for _, t := range c.tables {
		if err := c.fillPool(r, t); err != nil {
			return nil, err
		}
	}
	if err := c.simulate(r); err != nil {
		return nil, err
	}
	return c, nil
}

// fillPool draws the table's partitions and, for each, its clustering rows
// (sorted in clustering order). Small key domains give fewer than asked.
func (c *Cluster) fillPool(r *rand.Rand, t *table) error {
	want := c.opts.Partitions
	if t.spec.Partitions > 0 {
		want = t.spec.Partitions
	}
	rows := c.opts.RowsPerPartition
	if t.spec.RowsPerPartition > 0 {
		rows = t.spec.RowsPerPartition
	}
	if len(t.ck) == 0 {
		rows = 1
	}
	keyType := cql.Simple(cql.KindBlob)
	if len(t.pk) > 1 {
		var ts []*cql.Type
		for _, col := range t.pk {
			ts = append(ts, col.t)
		}
		keyType = cql.CompositeOf(ts...)
	}
	seen := map[string]bool{}
	for tries := 0; len(t.parts) < want && tries < want*20; tries++ {
		var vals []any
		for i, col := range t.pk {
			v := genValue(r, col.t)
			if col.t.Kind == cql.KindText && i == 0 {
				v = fmt.Sprintf("%s-%d", words[r.IntN(len(words)-1)], r.IntN(1000))
			}
			vals = append(vals, v)
		}
		var key []byte
		if len(t.pk) == 1 {
			key = encode(t.pk[0].t, vals[0])
		} else {
			key = encode(keyType, vals)
		}
		if len(key) == 0 || seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		p := &partition{vals: vals, key: key, token: token.Murmur3Token(key)}
		rseen := map[string]bool{}
		for rt := 0; len(p.rows) < rows && rt < rows*20; rt++ {
			var cv []any
			var cb [][]byte
			for _, col := range t.ck {
				v := genValue(r, col.t)
				cv = append(cv, v)
				cb = append(cb, encode(col.t, v))
			}
			k := ckKey(cb)
			if rseen[k] {
				continue
			}
			rseen[k] = true
			p.rows = append(p.rows, &ckRow{vals: cv, b: cb})
		}
		slices.SortFunc(p.rows, func(a, b *ckRow) int { return compareClustering(t.ck, a.vals, b.vals) })
		t.parts = append(t.parts, p)
	}
	if len(t.parts) == 0 {
		return fmt.Errorf("%w: table %s: no partition key could be drawn", ErrBadOptions, t.name)
	}
	return nil
}

type eventKind int

const (
	evSchema eventKind = iota
	evJoin
	evSnapshot
	evMutation
	evEnd
)

type event struct {
	at    time.Time
	kind  eventKind
	round int   // evSnapshot
	node  *Node // evSnapshot
	index int   // evSchema, evJoin: which change
}

// simulate runs the cluster's history: mutations, flushes, schema and
// topology changes and node snapshots, in time order.
func (c *Cluster) simulate(r *rand.Rand) error {
	o := &c.opts
	c.logs = make([][]*nodeTable, len(c.nodes))
	for i := range c.nodes {
		c.logs[i] = c.newNodeTables(r)
	}
	for i := range o.Rounds {
		base := o.Start.Add(time.Duration(i+1) * o.Interval)
		c.rounds = append(c.rounds, &round{index: i + 1, base: base, name: base.Format("2006-01-02-1504")})
	}
	var events []event
	for i, ch := range o.AddColumn {
		at := c.rounds[ch.AfterRound-1].base.Add(o.Interval / 2).Add(time.Duration(i) * time.Second)
		events = append(events, event{at: at, kind: evSchema, index: i})
		c.changes = append(c.changes, at)
	}
	for i, ch := range o.AddNode {
		at := c.rounds[ch.AfterRound-1].base.Add(o.Interval/2 + time.Minute).Add(time.Duration(i) * time.Second)
		events = append(events, event{at: at, kind: evJoin, index: i})
	}
	// Mutations arrive over the whole history, up to the last snapshots.
	end := c.rounds[len(c.rounds)-1].base.Add(o.SnapshotSpread)
	span := end.Sub(o.Start).Microseconds()
	slot := span / int64(o.Mutations)
	if slot < 1 {
		return fmt.Errorf("%w: %d mutations do not fit in %v", ErrBadOptions, o.Mutations, end.Sub(o.Start))
	}
	for i := range o.Mutations {
		us := o.Start.UnixMicro() + int64(i)*slot + r.Int64N(slot)
		events = append(events, event{at: time.UnixMicro(us).UTC(), kind: evMutation})
	}
	events = append(events, event{at: end.Add(o.SnapshotSpread), kind: evEnd})
	sort.SliceStable(events, func(i, j int) bool {
		if !events[i].at.Equal(events[j].at) {
			return events[i].at.Before(events[j].at)
		}
		return events[i].kind < events[j].kind
	})
	g := newWorkload(c, r)
	active := slices.Clone(c.nodes)
	pl, err := newPlacement(active, c.replication)
	if err != nil {
		return err
	}
	schemaVersion := 0
	nextRound := 0
	for ei := 0; ei < len(events); ei++ {
		ev := events[ei]
		// Round snapshots are scheduled when the round comes, so that the
		// nodes of its ring (joins included) are known.
		for nextRound < len(c.rounds) && !c.rounds[nextRound].base.After(ev.at) {
			rd := c.rounds[nextRound]
			var snaps []event
			for _, n := range active {
				d := time.Duration(r.Int64N(int64(o.SnapshotSpread)))
				snaps = append(snaps, event{at: rd.base.Add(d).Truncate(time.Second), kind: evSnapshot, round: nextRound, node: n})
			}
			rest := append(snaps, events[ei:]...)
			sort.SliceStable(rest, func(i, j int) bool {
				if !rest[i].at.Equal(rest[j].at) {
					return rest[i].at.Before(rest[j].at)
				}
				return rest[i].kind < rest[j].kind
			})
			events = append(events[:ei], rest...)
			ev = events[ei]
			nextRound++
		}
		switch ev.kind {
		case evMutation:
			m := g.next(ev.at.UnixMicro(), schemaVersion)
			if m == nil {
				continue
			}
			c.muts = append(c.muts, m)
			c.deliver(r, g, pl, m, len(c.muts)-1)
		case evSnapshot:
			rd := c.rounds[ev.round]
			n := ev.node
			snap := &nodeSnap{node: n, time: ev.at, schema: schemaVersion}
			for ti, nt := range c.logs[n.index] {
				c.flush(r, n, ti, ev.at, schemaVersion)
				snap.offsets = append(snap.offsets, len(nt.log))
				snap.sstables = append(snap.sstables, nt.sstables...)
			}
			rd.snaps = append(rd.snaps, snap)
			rd.schema = schemaVersion
		case evSchema:
			ch := o.AddColumn[ev.index]
			for _, n := range active {
				for ti, t := range c.tables {
					if t.name == ch.Table {
						c.flush(r, n, ti, ev.at, schemaVersion)
					}
				}
			}
			schemaVersion++
		case evJoin:
			n, err := c.join(r, ev, active, schemaVersion)
			if err != nil {
				return err
			}
			active = append(active, n)
			if pl, err = newPlacement(active, c.replication); err != nil {
				return err
			}
		}
	}
	for _, rd := range c.rounds {
		slices.SortFunc(rd.snaps, func(a, b *nodeSnap) int { return a.node.index - b.node.index })
	}
	return nil
}

func (c *Cluster) newNodeTables(r *rand.Rand) []*nodeTable {
	out := make([]*nodeTable, len(c.tables))
	for i := range out {
		out[i] = &nodeTable{threshold: c.drawThreshold(r)}
	}
	return out
}

func (c *Cluster) drawThreshold(r *rand.Rand) int {
	f := c.opts.FlushEvery
	return max(1, f/2+r.IntN(f+1))
}

// deliver sends a mutation to the replicas of its partition; each may
// miss it. A counter increment is led by one replica that got it.
func (c *Cluster) deliver(r *rand.Rand, g *workload, pl *placement, m *mutation, mi int) {
	t := c.tables[m.table]
	p := t.parts[m.part]
	replicas := pl.of(p.token)
	var got []*Node
	for _, name := range replicas {
		n := c.node(name)
		if n.DropRate > 0 && r.Float64() < n.DropRate {
			continue
		}
		got = append(got, n)
	}
	if len(got) == 0 {
		return
	}
	if t.counter {
		g.lead(m, got[r.IntN(len(got))])
	}
	sec := m.arrival / 1_000_000
	for _, n := range got {
		nt := c.logs[n.index][m.table]
		nt.log = append(nt.log, delivery{mut: int32(mi), local: sec + n.skew})
		if len(nt.log)-nt.memStart >= nt.threshold {
			c.flush(r, n, int(m.table), time.UnixMicro(m.arrival).UTC(), c.schemaAt(m.arrival))
		}
	}
}

func (c *Cluster) schemaAt(us int64) int {
	v := 0
	for _, at := range c.changes {
		if at.UnixMicro() <= us {
			v++
		}
	}
	return v
}

// flush turns a node's memtable for a table into an SSTable.
func (c *Cluster) flush(r *rand.Rand, n *Node, ti int, at time.Time, schemaVersion int) {
	nt := c.logs[n.index][ti]
	if nt.memStart == len(nt.log) {
		return
	}
	nt.gen++
	s := &sst{node: n, table: c.tables[ti], gen: nt.gen, version: n.Version, from: nt.memStart, to: len(nt.log),
		schema: schemaVersion, flushed: at.Truncate(time.Second), compression: c.opts.Compressions[r.IntN(len(c.opts.Compressions))]}
	nt.sstables = append(nt.sstables, s)
	nt.memStart = len(nt.log)
	nt.threshold = c.drawThreshold(r)
}

func (c *Cluster) node(name string) *Node {
	for _, n := range c.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// join adds a node: it takes tokens, then streams, for every range it now
// replicates, the data of one replica that held it before (the one losing
// the range when there is one, as Cassandra's strict bootstrap does),
// into new SSTables.
func (c *Cluster) join(r *rand.Rand, ev event, active []*Node, schemaVersion int) (*Node, error) {
	o := &c.opts
	ch := o.AddNode[ev.index]
	dc := ch.DC
	if dc == "" {
		dc = o.DCs[0].Name
	}
	var spec *DCSpec
	for i := range o.DCs {
		if o.DCs[i].Name == dc {
			spec = &o.DCs[i]
		}
	}
	if spec == nil {
		return nil, fmt.Errorf("%w: node added to unknown dc %q", ErrBadOptions, dc)
	}
	used := map[int64]bool{}
	count := 0
	var racks []string
	for _, n := range c.nodes {
		for _, t := range n.Tokens {
			used[t] = true
		}
		if n.DC == dc {
			count++
			if !slices.Contains(racks, n.Rack) {
				racks = append(racks, n.Rack)
			}
		}
	}
	slices.Sort(racks)
	rack := ch.Rack
	if rack == "" {
		rack = racks[r.IntN(len(racks))]
	}
	n := &Node{DC: dc, Rack: rack, index: len(c.nodes), JoinedAfter: ch.AfterRound}
	n.Tokens = newTokens(r, used, o.Vnodes)
	n.Name = nodeName(o, dc, count+1, n.Tokens[0])
	finishNode(r, o, n)
	before, err := newPlacement(active, c.replication)
	if err != nil {
		return nil, err
	}
	after, err := newPlacement(append(slices.Clone(active), n), c.replication)
	if err != nil {
		return nil, err
	}
	c.nodes = append(c.nodes, n)
	c.logs = append(c.logs, c.newNodeTables(r))
	for ti, t := range c.tables {
		// source node per partition, then the sources' logs in order
		src := map[int][]int{} // source node index -> partitions
		for pi, p := range t.parts {
			if !slices.Contains(after.of(p.token), n.Name) {
				continue
			}
			old := before.of(p.token)
			newSet := after.of(p.token)
			var from *Node
			for _, name := range orderReplicas(c.nodeMap(), old, n.DC) {
				if !slices.Contains(newSet, name) {
					from = c.node(name)
					break
				}
			}
			if from == nil {
				from = c.node(orderReplicas(c.nodeMap(), old, n.DC)[0])
			}
			src[from.index] = append(src[from.index], pi)
		}
		nt := c.logs[n.index][ti]
		for _, si := range sortedIntKeys(src) {
			from := c.nodes[si]
			c.flush(r, from, ti, ev.at, schemaVersion)
			want := map[int32]bool{}
			for _, pi := range src[si] {
				want[int32(pi)] = true
			}
			for _, d := range c.logs[si][ti].log {
				if want[c.muts[d.mut].part] {
					nt.log = append(nt.log, d)
				}
			}
		}
		if len(nt.log) > 0 {
			c.flush(r, n, ti, ev.at, schemaVersion)
			nt.sstables[len(nt.sstables)-1].streamed = true
		}
	}
	return n, nil
}

func (c *Cluster) nodeMap() map[string]*Node {
	m := map[string]*Node{}
	for _, n := range c.nodes {
		m[n.Name] = n
	}
	return m
}

func sortedIntKeys[V any](m map[int]V) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Nodes returns every node the cluster ever had, in creation order.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = *n
		out[i].Tokens = slices.Clone(n.Tokens)
	}
	return out
}

// Keyspace is the keyspace of the simulated tables.
func (c *Cluster) Keyspace() string { return c.keyspace }

// Replication is the keyspace's replication strategy.
func (c *Cluster) Replication() ring.Replication {
	rep := c.replication
	if rep.DCFactors != nil {
		m := map[string]int{}
		for k, v := range rep.DCFactors {
			m[k] = v
		}
		rep.DCFactors = m
	}
	return rep
}

// Tables lists the table names.
func (c *Cluster) Tables() []string {
	var out []string
	for _, t := range c.tables {
		out = append(out, t.name)
	}
	return out
}

// Options returns the options the cluster was built with, defaults filled.
func (c *Cluster) Options() Options { return c.opts }

// Layout is the backup layout the cluster's nodes are shaped for.
func (c *Cluster) Layout() backup.Layout { return c.opts.Layout }

// Schema returns the keyspace's CQL (as schema.cql holds it) as of a
// backup round (1-based).
func (c *Cluster) Schema(round int) (string, error) {
	rd, err := c.round(round)
	if err != nil {
		return "", err
	}
	return c.schemaCQL(rd.schema), nil
}

func (c *Cluster) round(i int) (*round, error) {
	if i < 1 || i > len(c.rounds) {
		return nil, fmt.Errorf("%w: backup round %d: the cluster has rounds 1..%d", ErrNoBackup, i, len(c.rounds))
	}
	return c.rounds[i-1], nil
}

// Stats counts what the simulation did.
type Stats struct {
	Mutations  int            `json:"mutations"`
	Deliveries int            `json:"deliveries"` // (mutation, replica) pairs applied
	SSTables   int            `json:"sstables"`
	PerTable   map[string]int `json:"mutations_per_table"`
}

// Stats counts mutations, deliveries and SSTables.
func (c *Cluster) Stats() Stats {
	s := Stats{Mutations: len(c.muts), PerTable: map[string]int{}}
	for _, m := range c.muts {
		s.PerTable[c.tables[m.table].name]++
	}
	for _, nts := range c.logs {
		for _, nt := range nts {
			s.Deliveries += len(nt.log)
			s.SSTables += len(nt.sstables)
		}
	}
	return s
}

func priamID(t time.Time) string { return t.UTC().Format("200601021504") }

func itoa(i int) string { return strconv.Itoa(i) }
