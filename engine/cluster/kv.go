package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// The Key-Value generator writes tables shaped like Netflix's Key-Value
// abstraction (docs/connectors.md):
//
//	CREATE TABLE kv.items (id text, key blob, value blob, value_metadata blob, PRIMARY KEY (id, key))
//	CREATE TABLE kv.items_chunks (id text, key blob, chunk int, data blob, PRIMARY KEY ((id, key), chunk))
//
// value_metadata is empty (null or zero bytes) for a plain value, or the
// JSON {"chunks": N, "size": BYTES, "compression": "none|lz4|zstd",
// "sha256": HEX}, where size and sha256 describe the value as stored: the
// compressed bytes, which are the concatenated chunks when N > 0. A
// chunked item's value cell is null; its chunks are rows 0..N-1 of the
// chunk partition (id, key). Every put first deletes the chunk partition
// (at ts-1), so no chunk of an older value survives; a delete removes the
// item row and the chunk partition; an id delete removes the partition.

// KVOptions shape a Key-Value dataset. Zero values take the defaults.
type KVOptions struct {
	Keyspace string // default "kv"
	Table    string // the items table (default "items"); chunks go to <Table>_chunks
	IDs      int    // distinct ids (default 30)
	Keys     int    // distinct keys per id (default 6)
	Ops      int    // logical operations (default 400)
	// ChunkRate is the share of puts stored in chunks (default 0.3);
	// ChunkSize the bytes per chunk (default 1024); MaxValue the largest
	// logical value (default 6000 bytes).
	ChunkRate float64
	ChunkSize int
	MaxValue  int
	// CompressRate is the share of puts compressed, half lz4, half zstd
	// (default 0.4).
	CompressRate float64
	// DeleteRate and IDDeleteRate are the shares of item and whole-id
	// deletions (default 0.1 and 0.02); TTLRate the share of puts with a
	// TTL (default 0.1; half expire before the snapshot).
	DeleteRate   float64
	IDDeleteRate float64
	TTLRate      float64
	// DropRate is the share of writes one of the three replicas misses
	// (default 0.15); Flushes the SSTables per node and table (default 3).
	DropRate float64
	Flushes  int
	// Start is the first write (default 2026-11-01T00:00Z); the backup is
	// taken 24h later.
	Start time.Time
	// LoseChunk leaves one chunk of one live chunked item out of every
	// replica: the connector must fail on that item (KVDataset.Broken).
	LoseChunk bool
}

// KVItem is one logical item: what the keyvalue connector emits.
type KVItem struct {
	ID    string
	Key   []byte
	Value []byte // the logical (decompressed, reassembled) value
	// Metadata says whether the item has value_metadata; the fields below
	// are its content (zero when it has none).
	Metadata    bool
	Chunks      int32
	Size        int64
	Compression string
	SHA256      string
	WriteTime   int64 // µs, of the put
}

// KVDataset is a generated Key-Value dataset: its cluster and its truth.
type KVDataset struct {
	Keyspace, Table, ChunkTable string
	// Items are the live logical items at the snapshot, by (id, key).
	Items []KVItem
	// Broken is the item missing a chunk (LoseChunk), else nil.
	Broken       *KVItem
	SnapshotTime time.Time
	s            *scripted
	items        map[string]*kvState
	chunks       map[string]map[int32]chunkState
}

type kvState struct {
	id              string
	key             []byte
	value, meta     []byte // nil: null
	ts              int64
	ttl             int32
	live            bool
	logical         []byte
	info            KVItem
	emptyMetaStored bool
}

type chunkState struct {
	data []byte
	ts   int64
	ttl  int32
}

// KVTables are the CQL of the Key-Value tables.
func kvSchemas(ks, table string) (*sstable.Schema, string, *sstable.Schema, string) {
	blob, text, i32 := cql.Simple(cql.KindBlob), cql.Simple(cql.KindText), cql.Simple(cql.KindInt)
	items := &sstable.Schema{Keyspace: ks, Table: table,
		PartitionKey: []sstable.ColumnDef{{Name: "id", Type: text}},
		Clustering:   []sstable.ColumnDef{{Name: "key", Type: blob}},
		Regular:      []sstable.ColumnDef{{Name: "value", Type: blob}, {Name: "value_metadata", Type: blob}}}
	chunks := &sstable.Schema{Keyspace: ks, Table: table + "_chunks",
		PartitionKey: []sstable.ColumnDef{{Name: "id", Type: text}, {Name: "key", Type: blob}},
		Clustering:   []sstable.ColumnDef{{Name: "chunk", Type: i32}},
		Regular:      []sstable.ColumnDef{{Name: "data", Type: blob}}}
	itemsCQL := fmt.Sprintf("CREATE TABLE %s.%s (\n    id text,\n    key blob,\n    value blob,\n    value_metadata blob,\n    PRIMARY KEY (id, key)\n) WITH CLUSTERING ORDER BY (key ASC);\n", ks, table)
	chunksCQL := fmt.Sprintf("CREATE TABLE %s.%s_chunks (\n    id text,\n    key blob,\n    chunk int,\n    data blob,\n    PRIMARY KEY ((id, key), chunk)\n) WITH CLUSTERING ORDER BY (chunk ASC);\n", ks, table)
	return items, itemsCQL, chunks, chunksCQL
}

func (o *KVOptions) defaults() {
	if o.Keyspace == "" {
		o.Keyspace = "kv"
	}
	if o.Table == "" {
		o.Table = "items"
	}
	setInt(&o.IDs, 30)
	setInt(&o.Keys, 6)
	setInt(&o.Ops, 400)
	setRate(&o.ChunkRate, 0.3)
	setInt(&o.ChunkSize, 1024)
	setInt(&o.MaxValue, 6000)
	setRate(&o.CompressRate, 0.4)
	setRate(&o.DeleteRate, 0.1)
	setRate(&o.IDDeleteRate, 0.02)
	setRate(&o.TTLRate, 0.1)
	setRate(&o.DropRate, 0.15)
	setInt(&o.Flushes, 3)
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
}

func kvKey(id string, key []byte) string { return id + "\x00" + string(key) }

// GenerateKV plays a random Key-Value workload from seed on a three-node
// cluster and computes its logical items.
func GenerateKV(seed int64, o KVOptions) (*KVDataset, error) {
	o.defaults()
	r := rand.New(rand.NewPCG(uint64(seed), 0x6b76))
	snap := o.Start.Add(24 * time.Hour)
	d := &KVDataset{Keyspace: o.Keyspace, Table: o.Table, ChunkTable: o.Table + "_chunks", SnapshotTime: snap,
		items: map[string]*kvState{}, chunks: map[string]map[int32]chunkState{}}
	s := newScripted(r, o.Keyspace, o.Flushes, o.DropRate, snap)
	d.s = s
	isch, icql, csch, ccql := kvSchemas(o.Keyspace, o.Table)
	s.addTable(isch, icql)
	s.addTable(csch, ccql)
	ids := make([]string, o.IDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", words[r.IntN(len(words)-1)], i)
	}
	keys := map[string][][]byte{}
	for _, id := range ids {
		seen := map[string]bool{}
		for len(keys[id]) < o.Keys {
			k := make([]byte, 1+r.IntN(6))
			fill(r, k)
			if !seen[string(k)] {
				seen[string(k)] = true
				keys[id] = append(keys[id], k)
			}
		}
	}
	step := int64(20*time.Hour/time.Microsecond) / int64(o.Ops+1)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	for i := range o.Ops {
		ts := o.Start.UnixMicro() + int64(i+1)*step
		id := ids[r.IntN(len(ids))]
		key := keys[id][r.IntN(len(keys[id]))]
		switch x := r.Float64(); {
		case x < o.IDDeleteRate:
			d.deleteID(id, keys[id], ts)
		case x < o.IDDeleteRate+o.DeleteRate:
			d.deleteItem(id, key, ts)
		default:
			var ttl int32
			if r.Float64() < o.TTLRate {
				ttl = int32([]int{3600, 3 * 86400}[r.IntN(2)]) // 1h: expired at the snapshot unless written in its last hour
			}
			d.put(r, enc, &o, id, key, ts, ttl)
		}
	}
	// the truth
	now := snap.Unix()
	for _, st := range d.items {
		if !st.live || (st.ttl > 0 && now >= st.ts/1_000_000+int64(st.ttl)) {
			continue
		}
		d.Items = append(d.Items, st.info)
	}
	slices.SortFunc(d.Items, func(a, b KVItem) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return bytes.Compare(a.Key, b.Key)
	})
	if o.LoseChunk {
		for i := range d.Items {
			it := d.Items[i]
			if it.Chunks > 1 {
				d.Broken = &it
				d.Items = slices.Delete(d.Items, i, i+1)
				d.loseChunk(it)
				break
			}
		}
		if d.Broken == nil {
			return nil, fmt.Errorf("%w: LoseChunk: no live item has two chunks or more", ErrBadOptions)
		}
	}
	return d, nil
}

// kvValue draws a compressible logical value.
func kvValue(r *rand.Rand, maxLen int) []byte {
	n := 1 + r.IntN(maxLen)
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words)-1)])
		if r.IntN(4) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		}
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

func (d *KVDataset) put(r *rand.Rand, enc *zstd.Encoder, o *KVOptions, id string, key []byte, ts int64, ttl int32) {
	logical := kvValue(r, o.MaxValue)
	comp := "none"
	if r.Float64() < o.CompressRate {
		comp = []string{"lz4", "zstd"}[r.IntN(2)]
	}
	stored := logical
	switch comp {
	case "lz4":
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		w.Write(logical)
		w.Close()
		stored = b.Bytes()
	case "zstd":
		stored = enc.EncodeAll(logical, nil)
	}
	chunked := r.Float64() < o.ChunkRate
	info := KVItem{ID: id, Key: bytes.Clone(key), Value: logical, WriteTime: ts}
	var meta []byte
	if chunked || comp != "none" || r.IntN(5) == 0 {
		info.Metadata = true
		info.Compression = comp
		info.Size = int64(len(stored))
		sum := sha256.Sum256(stored)
		info.SHA256 = hex.EncodeToString(sum[:])
		var parts [][]byte
		if chunked {
			for off := 0; off < len(stored); off += o.ChunkSize {
				parts = append(parts, stored[off:min(off+o.ChunkSize, len(stored))])
			}
			info.Chunks = int32(len(parts))
		}
		meta, _ = json.Marshal(map[string]any{"chunks": info.Chunks, "size": info.Size, "compression": comp, "sha256": info.SHA256})
		// the chunk partition: old chunks go, the new ones come
		d.s.write(d.ChunkTable, ts-1, func(b *sstable.Builder) { b.Partition(id, key).Delete(ts - 1) })
		cs := map[int32]chunkState{}
		for i, p := range parts {
			p := bytes.Clone(p)
			d.s.write(d.ChunkTable, ts, func(b *sstable.Builder) {
				b.Partition(id, key).Row(int32(i)).Insert(ts, ttl).Set("data", p, ts, ttl)
			})
			cs[int32(i)] = chunkState{data: p, ts: ts, ttl: ttl}
		}
		d.chunks[kvKey(id, key)] = cs
	} else {
		d.s.write(d.ChunkTable, ts-1, func(b *sstable.Builder) { b.Partition(id, key).Delete(ts - 1) })
		delete(d.chunks, kvKey(id, key))
	}
	var value []byte
	if !chunked {
		value = bytes.Clone(stored)
	}
	emptyMeta := meta == nil && r.IntN(2) == 0 // a plain value's metadata: null or zero bytes
	d.s.write(d.Table, ts, func(b *sstable.Builder) {
		row := b.Partition(id).Row(key).Insert(ts, ttl)
		if value == nil {
			row.Set("value", nil, ts, 0)
		} else {
			row.Set("value", value, ts, ttl)
		}
		switch {
		case meta != nil:
			row.Set("value_metadata", meta, ts, ttl)
		case emptyMeta:
			row.Set("value_metadata", []byte{}, ts, ttl)
		default:
			row.Set("value_metadata", nil, ts, 0)
		}
	})
	d.items[kvKey(id, key)] = &kvState{id: id, key: bytes.Clone(key), value: value, meta: meta, ts: ts, ttl: ttl, live: true,
		logical: logical, info: info, emptyMetaStored: emptyMeta}
}

func (d *KVDataset) deleteItem(id string, key []byte, ts int64) {
	d.s.write(d.Table, ts, func(b *sstable.Builder) { b.Partition(id).Row(key).Delete(ts) })
	d.s.write(d.ChunkTable, ts, func(b *sstable.Builder) { b.Partition(id, key).Delete(ts) })
	d.items[kvKey(id, key)] = &kvState{id: id, key: bytes.Clone(key), ts: ts}
	delete(d.chunks, kvKey(id, key))
}

func (d *KVDataset) deleteID(id string, keys [][]byte, ts int64) {
	d.s.write(d.Table, ts, func(b *sstable.Builder) { b.Partition(id).Delete(ts) })
	for _, k := range keys {
		d.s.write(d.ChunkTable, ts, func(b *sstable.Builder) { b.Partition(id, k).Delete(ts) })
		d.items[kvKey(id, k)] = &kvState{id: id, key: bytes.Clone(k), ts: ts}
		delete(d.chunks, kvKey(id, k))
	}
}

// loseChunk removes the middle chunk of it from every replica.
func (d *KVDataset) loseChunk(it KVItem) {
	lost := it.Chunks / 2
	var ws []scriptWrite
	for _, w := range d.s.writes {
		if w.table == d.ChunkTable && w.ts == it.WriteTime {
			b, _ := sstable.NewBuilder(d.s.tables[d.ChunkTable])
			w.apply(b)
			ps := b.Partitions(nil)
			if len(ps) == 1 && string(ps[0].Key) == string(encode(cql.CompositeOf(cql.Simple(cql.KindText), cql.Simple(cql.KindBlob)), []any{it.ID, it.Key})) &&
				len(ps[0].Unfiltereds) == 1 && string(ps[0].Unfiltereds[0].Row.Clustering[0]) == string(encode(cql.Simple(cql.KindInt), lost)) {
				continue
			}
		}
		ws = append(ws, w)
	}
	d.s.writes = ws
	delete(d.chunks[kvKey(it.ID, it.Key)], lost)
}

// Raw is the expected raw content of the items or chunks table at the
// snapshot (what the raw connector emits), for tests of the keyvalue
// connector over an in-memory source.
func (d *KVDataset) Raw(table string) (*Table, error) {
	now := d.SnapshotTime.Unix()
	alive := func(ts int64, ttl int32) bool { return ttl == 0 || now < ts/1_000_000+int64(ttl) }
	blob, text, i32 := cql.Simple(cql.KindBlob), cql.Simple(cql.KindText), cql.Simple(cql.KindInt)
	out := &Table{Keyspace: d.Keyspace, Name: table, Round: 1, SnapshotTime: d.SnapshotTime, Reference: d.SnapshotTime}
	switch table {
	case d.Table:
		out.Columns = []Column{{"id", text, schema.PartitionKey}, {"key", blob, schema.Clustering}, {"value", blob, schema.Regular}, {"value_metadata", blob, schema.Regular}}
		for _, k := range sortedKeys(d.items) {
			st := d.items[k]
			if !st.live || !alive(st.ts, st.ttl) {
				continue
			}
			row := Row{Values: []any{st.id, bytes.Clone(st.key), nil, nil}, WriteTime: st.ts}
			if st.value != nil {
				row.Values[2] = bytes.Clone(st.value)
			}
			if st.meta != nil {
				row.Values[3] = bytes.Clone(st.meta)
			} else if st.emptyMetaStored {
				row.Values[3] = []byte{}
			}
			out.Rows = append(out.Rows, row)
		}
	case d.ChunkTable:
		out.Columns = []Column{{"id", text, schema.PartitionKey}, {"key", blob, schema.PartitionKey}, {"chunk", i32, schema.Clustering}, {"data", blob, schema.Regular}}
		for _, k := range sortedKeys(d.chunks) {
			id, key, _ := strings.Cut(k, "\x00")
			cs := d.chunks[k]
			var ns []int32
			for n := range cs {
				ns = append(ns, n)
			}
			slices.Sort(ns)
			for _, n := range ns {
				c := cs[n]
				if alive(c.ts, c.ttl) {
					out.Rows = append(out.Rows, Row{Values: []any{id, []byte(key), n, bytes.Clone(c.data)}, WriteTime: c.ts})
				}
			}
		}
	default:
		return nil, fmt.Errorf("%w: %q (the dataset has %s and %s)", ErrUnknownTable, table, d.Table, d.ChunkTable)
	}
	return out, nil
}

// Upload writes the dataset's SSTables and uploads them as the Medusa
// backup name (default "kv") to st; prefix is Medusa's storage prefix.
func (d *KVDataset) Upload(ctx context.Context, st objstore.Store, name, prefix string) (BackupInfo, error) {
	if name == "" {
		name = "kv"
	}
	work, err := os.MkdirTemp("", "shadow-kv-")
	if err != nil {
		return BackupInfo{}, err
	}
	defer os.RemoveAll(work)
	return d.s.upload(ctx, st, name, prefix, work, nil)
}

// Schema is the dataset's schema.cql.
func (d *KVDataset) Schema() string { return d.s.schemaCQL(nil) }
