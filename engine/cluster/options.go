package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/sstable"
)

// ErrBadOptions marks options the generator cannot build a cluster from.
var ErrBadOptions = errors.New("bad cluster options")

// Options shape a simulated cluster. The zero value is a useful default:
// two data centers of three nodes (RF 3 and 2), three tables covering
// every feature, 1500 mutations and three daily Medusa backups. Rates and
// counts left at 0 take their default; a negative rate means none.
type Options struct {
	// Layout decides how nodes are named and tokened: medusa (default;
	// FQDNs, vnodes) or priam (one token per node, named by it).
	Layout backup.Layout
	// Keyspace is the keyspace of the tables (default "sim").
	Keyspace string
	// DCs are the data centers (default dc1 with 3 nodes and RF 3, dc2 with
	// 3 nodes and RF 2; Priam: us-east-1 and eu-west-1).
	DCs []DCSpec
	// SimpleStrategy > 0 replicates the keyspace with SimpleStrategy and
	// this replication factor instead of NetworkTopologyStrategy.
	SimpleStrategy int
	// Vnodes is num_tokens per node (default 8; Priam always 1).
	Vnodes int

	Types  []TypeSpec  // user-defined types (default DefaultTypes when Tables is empty)
	Tables []TableSpec // default DefaultTables

	Mutations        int // total mutations (default 1500)
	Partitions       int // distinct partitions per table (default 30)
	RowsPerPartition int // distinct clustering rows per partition (default 10)

	// Start is when the first mutation arrives (default 2026-11-01T00:00Z).
	Start time.Time
	// Rounds is the number of backups (default 3); round r's node
	// snapshots are taken at Start + r·Interval plus a per-node delay below
	// SnapshotSpread (defaults 24h and 40m). Mutations keep arriving while
	// nodes snapshot, as they do in a live cluster.
	Rounds         int
	Interval       time.Duration
	SnapshotSpread time.Duration

	// DropRate is the share of (write, replica) pairs lost: the replica
	// never sees the write (hinted handoff and repair are not simulated).
	// Default 0.05. NodeDropRate overrides it per node name.
	DropRate     float64
	NodeDropRate map[string]float64
	// FlushEvery is the mean memtable size, in mutations per table and
	// node, at which a node flushes an SSTable (default 60, jittered).
	FlushEvery int
	// ClockSkew bounds each node's local clock offset, which shifts the
	// local deletion and expiry times the node stamps (default 0).
	ClockSkew time.Duration
	// Versions are the SSTable formats nodes write, one per node (default
	// nb and oa); Compressions the Data.db compressions, one per SSTable
	// (default LZ4, Zstd, None, Snappy, Deflate).
	Versions     []string
	Compressions []string

	// TTLRate is the share of writes with a TTL (default 0.2), drawn from
	// TTLs (default 1h, 6h, 20h, 30h and 72h, so some expire before a
	// backup and some after). TieRate is the share of writes that reuse
	// the timestamp of a recent write to the same row (default 0.08);
	// OldRate the share written with a client timestamp up to 3h in the
	// past (default 0.08).
	TTLRate float64
	TTLs    []time.Duration
	TieRate float64
	OldRate float64
	// Mix weighs the kinds of mutations (default DefaultMix).
	Mix Mix

	// AddColumn lists schema changes; AddNode topology changes.
	AddColumn []ColumnChange
	AddNode   []NodeChange
}

// Mix weighs the kinds of mutations of regular tables. Counter tables take
// increments with a few counter deletions.
type Mix struct {
	Insert          int // INSERT of a row (liveness and values, maybe statics)
	Update          int // UPDATE of some cells
	Static          int // UPDATE of static columns
	Collection      int // list append, set add/remove, map put/remove
	DeleteCell      int // DELETE col (a cell tombstone or a collection deletion)
	DeleteRow       int
	DeleteRange     int
	DeletePartition int
}

// DefaultMix is the mix used when Options.Mix is zero.
var DefaultMix = Mix{Insert: 30, Update: 25, Static: 5, Collection: 15, DeleteCell: 6, DeleteRow: 6, DeleteRange: 5, DeletePartition: 2}

// DefaultTypes are the user-defined types of DefaultTables.
func DefaultTypes() []TypeSpec {
	return []TypeSpec{{Name: "address", Fields: []ColumnSpec{{Name: "street", Type: "text"}, {Name: "city", Type: "text"}, {Name: "zip", Type: "int"}}}}
}

// DefaultTables cover every feature the engine must reconcile: a composite
// partition key, ASC and DESC clustering, a static column, non-frozen
// list, set and map, a frozen UDT and a tuple (events); a single-column
// key without clustering and most scalar types (users); counters (pages).
func DefaultTables() []TableSpec {
	return []TableSpec{
		{
			Name:         "events",
			PartitionKey: []ColumnSpec{{Name: "tenant", Type: "text"}, {Name: "day", Type: "date"}},
			Clustering:   []ColumnSpec{{Name: "at", Type: "timestamp", Desc: true}, {Name: "seq", Type: "int"}},
			Static:       []ColumnSpec{{Name: "owner", Type: "text"}},
			Regular: []ColumnSpec{
				{Name: "kind", Type: "text"}, {Name: "n", Type: "bigint"}, {Name: "score", Type: "double"},
				{Name: "ok", Type: "boolean"}, {Name: "payload", Type: "blob"}, {Name: "ref", Type: "uuid"},
				{Name: "tags", Type: "set<text>"}, {Name: "attrs", Type: "map<text, int>"}, {Name: "hist", Type: "list<int>"},
				{Name: "addr", Type: "frozen<address>"}, {Name: "pos", Type: "tuple<int, text>"},
			},
			Weight: 3,
		},
		{
			Name:         "users",
			PartitionKey: []ColumnSpec{{Name: "id", Type: "uuid"}},
			Regular: []ColumnSpec{
				{Name: "name", Type: "text"}, {Name: "email", Type: "ascii"}, {Name: "age", Type: "int"},
				{Name: "rank", Type: "smallint"}, {Name: "level", Type: "tinyint"}, {Name: "height", Type: "float"},
				{Name: "born", Type: "date"}, {Name: "seen", Type: "timestamp"}, {Name: "login", Type: "time"},
				{Name: "session", Type: "timeuuid"}, {Name: "ip", Type: "inet"}, {Name: "roles", Type: "set<int>"},
			},
			Weight: 2,
		},
		{
			Name:         "pages",
			PartitionKey: []ColumnSpec{{Name: "site", Type: "text"}},
			Clustering:   []ColumnSpec{{Name: "page", Type: "text"}},
			Regular:      []ColumnSpec{{Name: "views", Type: "counter"}, {Name: "clicks", Type: "counter"}},
			Weight:       1,
		},
	}
}

// ExoticTable is a table of the types whose Arrow and Iceberg mapping is a
// choice (decimal, varint, duration). It is not in DefaultTables.
func ExoticTable() TableSpec {
	return TableSpec{
		Name:         "exotic",
		PartitionKey: []ColumnSpec{{Name: "k", Type: "bigint"}},
		Regular:      []ColumnSpec{{Name: "d", Type: "decimal"}, {Name: "v", Type: "varint"}, {Name: "du", Type: "duration"}},
	}
}

func (o *Options) defaults() error {
	if o.Layout == "" {
		o.Layout = backup.Medusa
	}
	if o.Layout != backup.Medusa && o.Layout != backup.Priam {
		return fmt.Errorf("%w: unknown layout %q", ErrBadOptions, o.Layout)
	}
	if o.Keyspace == "" {
		o.Keyspace = "sim"
	}
	if len(o.DCs) == 0 {
		if o.Layout == backup.Priam {
			o.DCs = []DCSpec{{Name: "us-east-1", Nodes: 3, Racks: 3, RF: 3}, {Name: "eu-west-1", Nodes: 3, Racks: 3, RF: 2}}
		} else {
			o.DCs = []DCSpec{{Name: "dc1", Nodes: 3, Racks: 3, RF: 3}, {Name: "dc2", Nodes: 3, Racks: 3, RF: 2}}
		}
	}
	for i := range o.DCs {
		d := &o.DCs[i]
		if d.RF <= 0 {
			d.RF = min(d.Nodes, 3)
		}
	}
	if o.Layout == backup.Priam {
		o.Vnodes = 1
	} else if o.Vnodes <= 0 {
		o.Vnodes = 8
	}
	if len(o.Tables) == 0 {
		o.Tables = DefaultTables()
		if len(o.Types) == 0 {
			o.Types = DefaultTypes()
		}
	}
	setInt(&o.Mutations, 1500)
	setInt(&o.Partitions, 30)
	setInt(&o.RowsPerPartition, 10)
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	o.Start = o.Start.UTC()
	setInt(&o.Rounds, 3)
	if o.Interval <= 0 {
		o.Interval = 24 * time.Hour
	}
	if o.SnapshotSpread <= 0 {
		o.SnapshotSpread = 40 * time.Minute
	}
	if o.SnapshotSpread >= backup.DefaultSnapshotWindow || o.SnapshotSpread >= o.Interval/2 {
		return fmt.Errorf("%w: snapshot spread %v must stay below the 6h snapshot window and half the interval %v", ErrBadOptions, o.SnapshotSpread, o.Interval)
	}
	if o.Interval <= backup.DefaultSnapshotWindow {
		return fmt.Errorf("%w: backups %v apart would be grouped into one by the catalog's 6h snapshot window", ErrBadOptions, o.Interval)
	}
	setRate(&o.DropRate, 0.05)
	setInt(&o.FlushEvery, 60)
	if len(o.Versions) == 0 {
		o.Versions = []string{"nb", "oa"}
	}
	for _, v := range o.Versions {
		if v != "nb" && v != "oa" {
			return fmt.Errorf("%w: the SSTable writer writes nb and oa, not %q", ErrBadOptions, v)
		}
	}
	if len(o.Compressions) == 0 {
		o.Compressions = []string{sstable.LZ4, sstable.Zstd, sstable.None, sstable.Snappy, sstable.Deflate}
	}
	setRate(&o.TTLRate, 0.2)
	setRate(&o.TieRate, 0.08)
	setRate(&o.OldRate, 0.08)
	if len(o.TTLs) == 0 {
		o.TTLs = []time.Duration{time.Hour, 6 * time.Hour, 20 * time.Hour, 30 * time.Hour, 72 * time.Hour}
	}
	if o.Mix == (Mix{}) {
		o.Mix = DefaultMix
	}
	for _, ch := range o.AddColumn {
		if ch.AfterRound < 1 || ch.AfterRound >= o.Rounds {
			return fmt.Errorf("%w: column %s added after round %d: want 1..%d", ErrBadOptions, ch.Column.Name, ch.AfterRound, o.Rounds-1)
		}
	}
	for _, ch := range o.AddNode {
		if ch.AfterRound < 1 || ch.AfterRound >= o.Rounds {
			return fmt.Errorf("%w: node added after round %d: want 1..%d", ErrBadOptions, ch.AfterRound, o.Rounds-1)
		}
	}
	return nil
}

func setInt(p *int, d int) {
	if *p <= 0 {
		*p = d
	}
}

func setRate(p *float64, d float64) {
	switch {
	case *p == 0:
		*p = d
	case *p < 0:
		*p = 0
	}
}

// RandomOptions draws the shape of a cluster from a seed, for property
// tests: one or two DCs of one to four nodes, vnodes, replication, a
// random set of tables (random keys, clustering orders, statics,
// collections, UDTs, counters), drop rates and flush sizes. Pass the
// result to Random with the same or another seed.
func RandomOptions(seed int64) Options {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	o := Options{}
	ndc := 1 + r.IntN(2)
	for i := range ndc {
		n := 1 + r.IntN(4)
		o.DCs = append(o.DCs, DCSpec{Name: fmt.Sprintf("dc%d", i+1), Nodes: n, Racks: 1 + r.IntN(n), RF: 1 + r.IntN(min(n, 3))})
	}
	if r.IntN(5) == 0 {
		total := 0
		for _, d := range o.DCs {
			total += d.Nodes
		}
		o.SimpleStrategy = 1 + r.IntN(min(total, 3))
	}
	o.Vnodes = 1 + r.IntN(12)
	o.Types = DefaultTypes()
	nt := 1 + r.IntN(3)
	for i := range nt {
		o.Tables = append(o.Tables, RandomTable(r, fmt.Sprintf("t%d", i+1)))
	}
	o.Mutations = 200 + r.IntN(900)
	o.Partitions = 3 + r.IntN(30)
	o.RowsPerPartition = 1 + r.IntN(12)
	o.Rounds = 2 + r.IntN(2)
	o.DropRate = []float64{-1, 0.02, 0.1, 0.3}[r.IntN(4)]
	o.FlushEvery = 5 + r.IntN(80)
	o.TieRate = 0.05 + r.Float64()*0.2
	o.OldRate = 0.05 + r.Float64()*0.2
	o.TTLRate = 0.05 + r.Float64()*0.4
	if r.IntN(3) == 0 {
		o.ClockSkew = time.Duration(r.IntN(5)) * time.Second
	}
	if r.IntN(3) == 0 {
		o.AddNode = []NodeChange{{DC: o.DCs[0].Name, AfterRound: 1}}
	}
	if r.IntN(3) == 0 && !isCounterSpec(o.Tables[0]) {
		o.AddColumn = []ColumnChange{{Table: o.Tables[0].Name, Column: ColumnSpec{Name: "added", Type: "text"}, AfterRound: 1}}
	}
	return o
}

func isCounterSpec(t TableSpec) bool {
	return len(t.Regular) > 0 && t.Regular[0].Type == "counter"
}

// RandomTable draws a table shape: a partition key of one to three
// columns, zero to three clustering columns in random orders, maybe a
// static column, and regular columns of random types including
// collections, a frozen UDT (DefaultTypes' address) and a tuple; one in
// six is a counter table.
func RandomTable(r *rand.Rand, name string) TableSpec {
	keyTypes := []string{"text", "int", "bigint", "ascii", "blob", "timestamp", "date", "smallint", "tinyint", "boolean"}
	pkTypes := append(keyTypes[:len(keyTypes):len(keyTypes)], "uuid", "timeuuid", "inet", "double")
	valTypes := []string{"text", "ascii", "int", "bigint", "smallint", "tinyint", "double", "float", "boolean", "blob",
		"timestamp", "date", "time", "uuid", "timeuuid", "inet",
		"set<text>", "set<int>", "map<text, int>", "map<int, text>", "list<int>", "list<text>", "frozen<address>", "tuple<int, text>", "tuple<bigint, boolean, text>"}
	t := TableSpec{Name: name}
	for i := range 1 + r.IntN(3) {
		ty := pkTypes[r.IntN(len(pkTypes))]
		if i == 0 && r.IntN(2) == 0 {
			ty = "text" // mostly readable keys
		}
		t.PartitionKey = append(t.PartitionKey, ColumnSpec{Name: fmt.Sprintf("pk%d", i), Type: ty})
	}
	for i := range r.IntN(4) {
		t.Clustering = append(t.Clustering, ColumnSpec{Name: fmt.Sprintf("ck%d", i), Type: keyTypes[r.IntN(len(keyTypes))], Desc: r.IntN(2) == 0})
	}
	if r.IntN(6) == 0 {
		for i := range 1 + r.IntN(2) {
			t.Regular = append(t.Regular, ColumnSpec{Name: fmt.Sprintf("c%d", i), Type: "counter"})
		}
		if len(t.Clustering) > 0 && r.IntN(2) == 0 {
			t.Static = []ColumnSpec{{Name: "sc", Type: "counter"}}
		}
		return t
	}
	if len(t.Clustering) > 0 && r.IntN(2) == 0 {
		t.Static = []ColumnSpec{{Name: "s", Type: valTypes[r.IntN(len(valTypes))]}}
	}
	for i := range 1 + r.IntN(6) {
		t.Regular = append(t.Regular, ColumnSpec{Name: fmt.Sprintf("v%d", i), Type: valTypes[r.IntN(len(valTypes))]})
	}
	if r.IntN(5) == 0 {
		t.DefaultTTL = 3600 * (1 + r.IntN(48))
	}
	return t
}
