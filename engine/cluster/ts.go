package cluster

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// The Time-Series generator writes tables shaped like Netflix's
// Time-Series abstraction (docs/connectors.md): one table per time slice,
// named <table>_<slice start in Unix seconds>,
//
//	CREATE TABLE ts.events_1793491200 (id text, time_bucket bigint, event_bucket int,
//	    event_time timestamp, event_id text, event_item_key text, kind text, payload blob,
//	    PRIMARY KEY ((id, time_bucket, event_bucket), event_time, event_id, event_item_key))
//
// time_bucket is event_time (seconds) / SecondsPerBucket and event_bucket
// a hash of event_id modulo BucketsPerID. Events are inserted (some
// several items, some with a TTL), re-written with a new payload, and
// deleted one by one, by event_time range and by whole partition.

// TSOptions shape a Time-Series dataset. Zero values take the defaults.
type TSOptions struct {
	Keyspace string // default "ts"
	Table    string // the slice tables' prefix (default "events")
	// Slices is the number of slice tables (default 6), SecondsPerSlice
	// their width (default 21600), SecondsPerBucket the time bucket
	// (default 3600), BucketsPerID the event buckets (default 4).
	Slices           int
	SecondsPerSlice  int64
	SecondsPerBucket int64
	BucketsPerID     int
	IDs              int // default 8
	Ops              int // logical operations (default 600)
	// RewriteRate, DeleteRate, RangeDeleteRate, PartitionDeleteRate and
	// TTLRate are the shares of those operations (defaults 0.1, 0.05,
	// 0.02, 0.01 and 0.1).
	RewriteRate         float64
	DeleteRate          float64
	RangeDeleteRate     float64
	PartitionDeleteRate float64
	TTLRate             float64
	DropRate            float64 // share of writes one replica misses (default 0.15)
	Flushes             int     // SSTables per node and table (default 3)
	// Start is the first slice's start (default 2026-11-01T00:00Z; it is
	// rounded down to a multiple of SecondsPerSlice).
	Start time.Time
}

// TSEvent is one logical event item: what the timeseries connector emits.
type TSEvent struct {
	ID        string
	EventTime time.Time // millisecond precision, as CQL's timestamp
	EventID   string
	ItemKey   string
	Kind      string // "" is null
	Payload   []byte // nil is null
	WriteTime int64  // µs
}

// TSDataset is a generated Time-Series dataset: its cluster and its truth.
type TSDataset struct {
	Keyspace, Table string
	// SliceStarts are the slice tables' starts (Unix seconds), sorted.
	SliceStarts     []int64
	SecondsPerSlice int64
	SnapshotTime    time.Time
	s               *scripted
	events          map[string]*tsState
}

type tsState struct {
	ev         TSEvent
	tb         int64
	eb         int32
	ts         int64
	ttl        int32
	live       bool
	kindSet    bool
	payloadSet bool
}

func tsKey(id string, t time.Time, eid, item string) string {
	return fmt.Sprintf("%s\x00%020d\x00%s\x00%s", id, t.UnixMilli(), eid, item)
}

// SliceTable is the name of the slice table starting at start.
func (d *TSDataset) SliceTable(start int64) string { return fmt.Sprintf("%s_%d", d.Table, start) }

func (o *TSOptions) defaults() {
	if o.Keyspace == "" {
		o.Keyspace = "ts"
	}
	if o.Table == "" {
		o.Table = "events"
	}
	setInt(&o.Slices, 6)
	if o.SecondsPerSlice <= 0 {
		o.SecondsPerSlice = 21600
	}
	if o.SecondsPerBucket <= 0 {
		o.SecondsPerBucket = 3600
	}
	setInt(&o.BucketsPerID, 4)
	setInt(&o.IDs, 8)
	setInt(&o.Ops, 600)
	setRate(&o.RewriteRate, 0.1)
	setRate(&o.DeleteRate, 0.05)
	setRate(&o.RangeDeleteRate, 0.02)
	setRate(&o.PartitionDeleteRate, 0.01)
	setRate(&o.TTLRate, 0.1)
	setRate(&o.DropRate, 0.15)
	setInt(&o.Flushes, 3)
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	s := o.Start.Unix()
	o.Start = time.Unix(s-((s%o.SecondsPerSlice)+o.SecondsPerSlice)%o.SecondsPerSlice, 0).UTC()
}

func tsSchema(ks, table string) (*sstable.Schema, string) {
	text := cql.Simple(cql.KindText)
	sch := &sstable.Schema{Keyspace: ks, Table: table,
		PartitionKey: []sstable.ColumnDef{{Name: "id", Type: text}, {Name: "time_bucket", Type: cql.Simple(cql.KindBigint)}, {Name: "event_bucket", Type: cql.Simple(cql.KindInt)}},
		Clustering:   []sstable.ColumnDef{{Name: "event_time", Type: cql.Simple(cql.KindTimestamp)}, {Name: "event_id", Type: text}, {Name: "event_item_key", Type: text}},
		Regular:      []sstable.ColumnDef{{Name: "kind", Type: text}, {Name: "payload", Type: cql.Simple(cql.KindBlob)}}}
	create := fmt.Sprintf("CREATE TABLE %s.%s (\n    id text,\n    time_bucket bigint,\n    event_bucket int,\n    event_time timestamp,\n    event_id text,\n    event_item_key text,\n    kind text,\n    payload blob,\n    PRIMARY KEY ((id, time_bucket, event_bucket), event_time, event_id, event_item_key)\n) WITH CLUSTERING ORDER BY (event_time ASC, event_id ASC, event_item_key ASC);\n", ks, table)
	return sch, create
}

// GenerateTS plays a random Time-Series workload from seed on a three-node
// cluster and computes its logical events.
func GenerateTS(seed int64, o TSOptions) (*TSDataset, error) {
	o.defaults()
	r := rand.New(rand.NewPCG(uint64(seed), 0x7473))
	span := o.SecondsPerSlice * int64(o.Slices)
	end := o.Start.Add(time.Duration(span) * time.Second)
	snap := end.Add(time.Hour)
	d := &TSDataset{Keyspace: o.Keyspace, Table: o.Table, SecondsPerSlice: o.SecondsPerSlice, SnapshotTime: snap, events: map[string]*tsState{}}
	s := newScripted(r, o.Keyspace, o.Flushes, o.DropRate, snap)
	d.s = s
	for i := range o.Slices {
		start := o.Start.Unix() + int64(i)*o.SecondsPerSlice
		d.SliceStarts = append(d.SliceStarts, start)
		sch, create := tsSchema(o.Keyspace, d.SliceTable(start))
		s.addTable(sch, create)
	}
	ids := make([]string, o.IDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("device-%d", i)
	}
	kinds := []string{"play", "pause", "seek", "stop", ""}
	// writes arrive over the span; each op's timestamp is higher than the last
	step := (snap.UnixMicro() - time.Hour.Microseconds() - o.Start.UnixMicro()) / int64(o.Ops+1)
	var written []*tsState
	for i := range o.Ops {
		ts := o.Start.UnixMicro() + int64(i+1)*step
		x := r.Float64()
		switch {
		case len(written) > 0 && x < o.PartitionDeleteRate:
			e := written[r.IntN(len(written))]
			d.deletePartition(e, ts)
		case len(written) > 0 && x < o.PartitionDeleteRate+o.RangeDeleteRate:
			e := written[r.IntN(len(written))]
			from := e.ev.EventTime.Add(-time.Duration(r.IntN(1800)) * time.Second)
			to := e.ev.EventTime.Add(time.Duration(r.IntN(1800)) * time.Second)
			d.deleteRange(e, from, to, ts)
		case len(written) > 0 && x < o.PartitionDeleteRate+o.RangeDeleteRate+o.DeleteRate:
			d.deleteEvent(written[r.IntN(len(written))], ts)
		case len(written) > 0 && x < o.PartitionDeleteRate+o.RangeDeleteRate+o.DeleteRate+o.RewriteRate:
			e := written[r.IntN(len(written))]
			ev := e.ev
			ev.Payload = kvValue(r, 40)
			d.insert(ev, e.tb, e.eb, ts, 0)
		default:
			id := ids[r.IntN(len(ids))]
			at := o.Start.Add(time.Duration(r.Int64N(span*1000)) * time.Millisecond)
			eid := fmt.Sprintf("%08x", r.Uint32())
			h := fnv.New32a()
			h.Write([]byte(eid))
			eb := int32(h.Sum32() % uint32(o.BucketsPerID))
			tb := at.Unix() / o.SecondsPerBucket
			var ttl int32
			if r.Float64() < o.TTLRate {
				ttl = int32([]int{600, 30 * 86400}[r.IntN(2)])
			}
			for item := range 1 + r.IntN(3) {
				ev := TSEvent{ID: id, EventTime: at, EventID: eid, ItemKey: fmt.Sprintf("item-%d", item), Kind: kinds[r.IntN(len(kinds))]}
				if r.IntN(8) != 0 {
					ev.Payload = kvValue(r, 40)
				}
				written = append(written, d.insert(ev, tb, eb, ts, ttl))
			}
		}
	}
	return d, nil
}

func (d *TSDataset) slice(t time.Time) string {
	s := t.Unix()
	return d.SliceTable(s - ((s%d.SecondsPerSlice)+d.SecondsPerSlice)%d.SecondsPerSlice)
}

func (d *TSDataset) insert(ev TSEvent, tb int64, eb int32, ts int64, ttl int32) *tsState {
	ev.WriteTime = ts
	d.s.write(d.slice(ev.EventTime), ts, func(b *sstable.Builder) {
		row := b.Partition(ev.ID, tb, eb).Row(ev.EventTime, ev.EventID, ev.ItemKey).Insert(ts, ttl)
		if ev.Kind != "" {
			row.Set("kind", ev.Kind, ts, ttl)
		} else {
			row.Set("kind", nil, ts, 0)
		}
		if ev.Payload != nil {
			row.Set("payload", ev.Payload, ts, ttl)
		} else {
			row.Set("payload", nil, ts, 0)
		}
	})
	st := &tsState{ev: ev, tb: tb, eb: eb, ts: ts, ttl: ttl, live: true}
	d.events[tsKey(ev.ID, ev.EventTime, ev.EventID, ev.ItemKey)] = st
	return st
}

func (d *TSDataset) deleteEvent(e *tsState, ts int64) {
	ev := e.ev
	d.s.write(d.slice(ev.EventTime), ts, func(b *sstable.Builder) {
		b.Partition(ev.ID, e.tb, e.eb).Row(ev.EventTime, ev.EventID, ev.ItemKey).Delete(ts)
	})
	if st := d.events[tsKey(ev.ID, ev.EventTime, ev.EventID, ev.ItemKey)]; st != nil {
		st.live = false
	}
}

// deleteRange deletes the events of e's partition with from <= event_time
// <= to (both bounds inclusive, as DELETE … WHERE event_time >= ? AND
// event_time <= ?).
func (d *TSDataset) deleteRange(e *tsState, from, to time.Time, ts int64) {
	from, to = from.Truncate(time.Millisecond), to.Truncate(time.Millisecond)
	tbl := d.slice(e.ev.EventTime)
	d.s.write(tbl, ts, func(b *sstable.Builder) {
		b.Partition(e.ev.ID, e.tb, e.eb).DeleteRange(sstable.RangeBound{Values: []any{from}}, sstable.RangeBound{Values: []any{to}}, ts)
	})
	for _, st := range d.events {
		if st.ev.ID == e.ev.ID && st.tb == e.tb && st.eb == e.eb && d.slice(st.ev.EventTime) == tbl &&
			!st.ev.EventTime.Before(from) && !st.ev.EventTime.After(to) {
			st.live = false
		}
	}
}

func (d *TSDataset) deletePartition(e *tsState, ts int64) {
	tbl := d.slice(e.ev.EventTime)
	d.s.write(tbl, ts, func(b *sstable.Builder) { b.Partition(e.ev.ID, e.tb, e.eb).Delete(ts) })
	for _, st := range d.events {
		if st.ev.ID == e.ev.ID && st.tb == e.tb && st.eb == e.eb && d.slice(st.ev.EventTime) == tbl {
			st.live = false
		}
	}
}

func (d *TSDataset) alive(st *tsState) bool {
	return st.live && (st.ttl == 0 || d.SnapshotTime.Unix() < st.ts/1_000_000+int64(st.ttl))
}

// Events are the live events at the snapshot with from <= event_time < to
// (a zero bound is open), sorted by (id, event_time, event_id,
// event_item_key): what the timeseries connector emits for that range.
func (d *TSDataset) Events(from, to time.Time) []TSEvent {
	var out []TSEvent
	for _, st := range d.events {
		t := st.ev.EventTime
		if !d.alive(st) || (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
			continue
		}
		out = append(out, st.ev)
	}
	slices.SortFunc(out, compareTSEvents)
	return out
}

func compareTSEvents(a, b TSEvent) int {
	return cmp.Or(strings.Compare(a.ID, b.ID), a.EventTime.Compare(b.EventTime), strings.Compare(a.EventID, b.EventID), strings.Compare(a.ItemKey, b.ItemKey))
}

// Tables lists the slice tables, in time order.
func (d *TSDataset) Tables() []string {
	var out []string
	for _, s := range d.SliceStarts {
		out = append(out, d.SliceTable(s))
	}
	return out
}

// Raw is the expected raw content of one slice table at the snapshot.
func (d *TSDataset) Raw(table string) (*Table, error) {
	if !slices.Contains(d.Tables(), table) {
		return nil, fmt.Errorf("%w: %q (the dataset has %v)", ErrUnknownTable, table, d.Tables())
	}
	text := cql.Simple(cql.KindText)
	out := &Table{Keyspace: d.Keyspace, Name: table, Round: 1, SnapshotTime: d.SnapshotTime, Reference: d.SnapshotTime,
		Columns: []Column{{"id", text, schema.PartitionKey}, {"time_bucket", cql.Simple(cql.KindBigint), schema.PartitionKey},
			{"event_bucket", cql.Simple(cql.KindInt), schema.PartitionKey}, {"event_time", cql.Simple(cql.KindTimestamp), schema.Clustering},
			{"event_id", text, schema.Clustering}, {"event_item_key", text, schema.Clustering},
			{"kind", text, schema.Regular}, {"payload", cql.Simple(cql.KindBlob), schema.Regular}}}
	var sts []*tsState
	for _, st := range d.events {
		if d.alive(st) && d.slice(st.ev.EventTime) == table {
			sts = append(sts, st)
		}
	}
	slices.SortFunc(sts, func(a, b *tsState) int { return compareTSEvents(a.ev, b.ev) })
	for _, st := range sts {
		var kind, payload any
		if st.ev.Kind != "" {
			kind = st.ev.Kind
		}
		if st.ev.Payload != nil {
			payload = bytes.Clone(st.ev.Payload)
		}
		out.Rows = append(out.Rows, Row{Values: []any{st.ev.ID, st.tb, st.eb, cql.Timestamp(st.ev.EventTime.UnixMilli()), st.ev.EventID, st.ev.ItemKey, kind, payload},
			WriteTime: st.ts})
	}
	return out, nil
}

// Upload writes the dataset's SSTables and uploads them as the Medusa
// backup name (default "ts") to st, leaving out the slice tables starting
// at skip (to test a slice missing from the backup).
func (d *TSDataset) Upload(ctx context.Context, st objstore.Store, name, prefix string, skip ...int64) (BackupInfo, error) {
	if name == "" {
		name = "ts"
	}
	work, err := os.MkdirTemp("", "shadow-ts-")
	if err != nil {
		return BackupInfo{}, err
	}
	defer os.RemoveAll(work)
	sk := map[string]bool{}
	for _, s := range skip {
		sk[d.SliceTable(s)] = true
	}
	return d.s.upload(ctx, st, name, prefix, work, sk)
}

// Schema is the dataset's schema.cql (every slice table).
func (d *TSDataset) Schema() string { return d.s.schemaCQL(nil) }
