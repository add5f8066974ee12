package compaction_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

// shardSpec is one shard of a counter context: kind 'g' global, 'l' local,
// 'r' remote.
type shardSpec struct {
	kind         byte
	id           byte
	clock, count int64
}

// counterContext builds a context with the given shards (sorted by id).
func counterContext(shards ...shardSpec) []byte {
	slices.SortFunc(shards, func(a, b shardSpec) int { return int(a.id) - int(b.id) })
	var hdr []uint16
	for i, s := range shards {
		switch s.kind {
		case 'g':
			hdr = append(hdr, uint16(0x8000|i))
		case 'l':
			hdr = append(hdr, uint16(i))
		}
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(len(hdr)))
	for _, h := range hdr {
		b = binary.BigEndian.AppendUint16(b, h)
	}
	for _, s := range shards {
		id := make([]byte, 16)
		id[15] = s.id
		b = append(b, id...)
		b = binary.BigEndian.AppendUint64(b, uint64(s.clock))
		b = binary.BigEndian.AppendUint64(b, uint64(s.count))
	}
	return b
}

// counterCell is one counter cell to write: a context, or a tombstone.
type counterCell struct {
	ts     int64
	shards []shardSpec
	tomb   bool
}

func writeCounters(t *testing.T, tb *compaction.Table, cells ...counterCell) compaction.Input {
	t.Helper()
	dir := t.TempDir()
	w, err := sstable.NewWriter(dir, tb.SSTableSchema(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := tb.SSTableSchema().EncodeKey("k")
	w.BeginPartition(key, sstable.Live)
	col := w.Header().Column("c")
	row := sstable.Row{Clustering: sstable.Clustering{}, Liveness: sstable.EmptyLiveness, Deletion: sstable.Live}
	for i, c := range cells {
		cell := sstable.Cell{Timestamp: c.ts, LocalDeletionTime: sstable.NoDeletionTime, Value: counterContext(c.shards...)}
		if c.tomb {
			cell.LocalDeletionTime, cell.Value = c.ts/1_000_000, []byte{}
		}
		ck, _ := tb.SSTableSchema().EncodeClustering(i)
		row.Clustering = ck
		row.Columns = []sstable.ColumnData{{Column: col, Cells: []sstable.Cell{cell}, Deletion: sstable.Live}}
		if err := w.WriteRow(&row); err != nil {
			t.Fatal(err)
		}
	}
	w.EndPartition()
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := sstable.OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return compaction.Input{Reader: r}
}

// TestCounters checks CounterContext merging across replicas: per counter
// id the global shard with the highest clock (then the highest count) wins,
// so a shard replicated to several nodes counts once; local shards add
// up; a global shard beats a local one, a local one a remote one; a
// tombstone always wins.
func TestCounters(t *testing.T) {
	tb := table(t, "CREATE TABLE ks.t (pk text, ck int, c counter, PRIMARY KEY (pk, ck));")
	g := func(id byte, clock, count int64) shardSpec { return shardSpec{'g', id, clock, count} }
	l := func(id byte, clock, count int64) shardSpec { return shardSpec{'l', id, clock, count} }
	r := func(id byte, clock, count int64) shardSpec { return shardSpec{'r', id, clock, count} }
	tests := []struct {
		name     string
		replicas [][]counterCell // per replica (SSTable), the cell of row 0
		want     string
	}{
		{"one replica", [][]counterCell{{{ts(1), []shardSpec{g(1, 3, 5), g(2, 1, 7)}, false}}}, "12"},
		{"same shards on three replicas count once", [][]counterCell{
			{{ts(1), []shardSpec{g(1, 3, 5), g(2, 1, 7)}, false}},
			{{ts(1), []shardSpec{g(1, 3, 5), g(2, 1, 7)}, false}},
			{{ts(1), []shardSpec{g(1, 3, 5), g(2, 1, 7)}, false}},
		}, "12"},
		{"the newer clock of a shard wins", [][]counterCell{
			{{ts(2), []shardSpec{g(1, 4, 9), g(2, 1, 7)}, false}},
			{{ts(1), []shardSpec{g(1, 3, 5), g(2, 2, 8)}, false}},
		}, "17"},
		{"a replica missed a shard", [][]counterCell{
			{{ts(2), []shardSpec{g(1, 4, 9)}, false}},
			{{ts(1), []shardSpec{g(1, 3, 5), g(3, 1, 1)}, false}},
		}, "10"},
		{"equal clocks: the higher count", [][]counterCell{
			{{ts(2), []shardSpec{g(1, 4, 9)}, false}},
			{{ts(2), []shardSpec{g(1, 4, 11)}, false}},
		}, "11"},
		{"local shards add up", [][]counterCell{
			{{ts(1), []shardSpec{l(1, 1, 1)}, false}},
			{{ts(1), []shardSpec{l(1, 2, 4)}, false}},
		}, "5"},
		{"global beats local beats remote", [][]counterCell{
			{{ts(1), []shardSpec{l(1, 9, 100), r(2, 9, 100)}, false}},
			{{ts(1), []shardSpec{g(1, 1, 1), l(2, 1, 2)}, false}},
		}, "3"},
		{"remote shards: the higher clock", [][]counterCell{
			{{ts(1), []shardSpec{r(1, 2, 20)}, false}},
			{{ts(1), []shardSpec{r(1, 3, 30)}, false}},
		}, "30"},
		{"a tombstone always wins, even when older", [][]counterCell{
			{{ts(5), []shardSpec{g(1, 4, 9)}, false}},
			{{ts(1), nil, true}},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in []compaction.Input
			for _, cells := range tc.replicas {
				in = append(in, writeCounters(t, tb, cells...))
			}
			got := render(t, tb, in, compaction.Options{NowSec: now}, false)
			want := []string{"k | 0 | c=" + tc.want}
			if tc.want == "" {
				want = nil
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	t.Run("a deletion filters cells before they merge", func(t *testing.T) {
		// The row deletion at ts(3) removes the replica's ts(1) cell
		// before the merge, so its shard does not leak into the total.
		in := []compaction.Input{
			writeCounters(t, tb, counterCell{ts(5), []shardSpec{g(1, 4, 9)}, false}),
			writeCounters(t, tb, counterCell{ts(1), []shardSpec{g(2, 1, 100)}, false}),
		}
		b := write(t, tb, token.Murmur3Partitioner{}, func(b *sstable.Builder) { b.Partition("k").Row(0).Delete(ts(3)) })
		got := render(t, tb, append(in, b...), compaction.Options{NowSec: now}, false)
		if want := []string{"k | 0 | c=9"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("builder counters from two nodes", func(t *testing.T) {
		n1 := func(b *sstable.Builder) { b.CounterID[15] = 1; b.Partition("k").Row(0).Set("c", 5, ts(1), 0) }
		n2 := func(b *sstable.Builder) { b.CounterID[15] = 2; b.Partition("k").Row(0).Set("c", 7, ts(2), 0) }
		got := render(t, tb, write(t, tb, token.Murmur3Partitioner{}, n1, n2, n1, n2), compaction.Options{NowSec: now}, false)
		if want := []string{"k | 0 | c=12"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestDroppedColumns: cells of a dropped column written at or before the
// drop are ignored, also when the column was added again; columns the
// schema does not know at all are ignored.
func TestDroppedColumns(t *testing.T) {
	full := table(t, "CREATE TABLE ks.t (pk text, ck int, v int, gone text, PRIMARY KEY (pk, ck));")
	in := write(t, full, token.Murmur3Partitioner{}, func(b *sstable.Builder) {
		b.Partition("a").Row(1).Set("v", 1, ts(1), 0).Set("gone", "old", ts(1), 0)
		b.Partition("a").Row(2).Set("gone", "old", ts(1), 0)
		b.Partition("a").Row(3).Set("v", 3, ts(1), 0).Set("gone", "new", ts(9), 0)
	})
	// gone dropped at ts(5), then added again
	s, _ := schema.Parse("x.cql", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\nCREATE TABLE ks.t (pk text, ck int, v int, gone text, PRIMARY KEY (pk, ck));")
	st := s.Keyspace("ks").Tables[0]
	st.Dropped = []schema.DroppedColumn{{Name: "gone", Type: "text", Time: ts(5)}}
	readded, err := compaction.NewTable(s.Keyspace("ks"), st)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, readded, in, compaction.Options{NowSec: now}, false)
	if want := []string{"a | 1 | v=1", "a | 3 | v=3 gone=new"}; !slices.Equal(got, want) {
		t.Errorf("re-added: got %q, want %q", got, want)
	}
	// gone no longer in the schema at all
	without := table(t, "CREATE TABLE ks.t (pk text, ck int, v int, PRIMARY KEY (pk, ck));")
	got = render(t, without, in, compaction.Options{NowSec: now}, false)
	if want := []string{"a | 1 | v=1", "a | 3 | v=3"}; !slices.Equal(got, want) {
		t.Errorf("unknown: got %q, want %q", got, want)
	}
}

// TestSchemaMismatch: a header that does not fit the schema is refused
// with ErrSchemaMismatch, naming the SSTable and the column.
func TestSchemaMismatch(t *testing.T) {
	written := table(t, "CREATE TABLE ks.t (pk text, ck int, v int, s int static, PRIMARY KEY (pk, ck));")
	in := write(t, written, token.Murmur3Partitioner{}, func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", 1, ts(1), 0) })
	tests := []struct{ ddl, want string }{
		{"CREATE TABLE ks.t (pk int, ck int, v int, PRIMARY KEY (pk, ck));", "the partition key is int in the schema but text in the SSTable header"},
		{"CREATE TABLE ks.t (pk text, ck bigint, v int, PRIMARY KEY (pk, ck));", "clustering column ck is bigint in the schema but int in the SSTable header"},
		{"CREATE TABLE ks.t (pk text, ck int, v int, PRIMARY KEY (pk, ck)) WITH CLUSTERING ORDER BY (ck DESC);", "clustering column ck is int (DESC) in the schema but int in the SSTable header"},
		{"CREATE TABLE ks.t (pk text, ck int, v text, PRIMARY KEY (pk, ck));", "column v is text in the schema but int in the SSTable header"},
		{"CREATE TABLE ks.t (pk text, ck int, c1 int, v int, PRIMARY KEY (pk, ck, c1));", "the schema has 2 clustering columns, the SSTable header 1"},
		{"CREATE TABLE ks.t (pk text, ck int, v int, s int, PRIMARY KEY (pk, ck));", "column s is regular in the schema but static in the SSTable header"},
		{"CREATE TABLE ks.t (pk text, ck int, v list<int>, PRIMARY KEY (pk, ck));", "column v is list<int> in the schema but int in the SSTable header"},
	}
	for _, tc := range tests {
		_, err := compaction.NewMerger(context.Background(), table(t, tc.ddl), in, compaction.Options{NowSec: now})
		if !errors.Is(err, compaction.ErrSchemaMismatch) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sstable-0") {
			t.Errorf("%s: got %v, want ErrSchemaMismatch with %q", tc.ddl, err, tc.want)
		}
	}
}

// TestRanges: a merge reads (Start, End] only, for every partitioner.
func TestRanges(t *testing.T) {
	tb := table(t, "CREATE TABLE ks.t (pk int PRIMARY KEY, v int);")
	for _, p := range []token.Partitioner{token.Murmur3Partitioner{}, token.RandomPartitioner{}, token.ByteOrderedPartitioner{}} {
		t.Run(fmt.Sprintf("%T", p), func(t *testing.T) {
			// two SSTables with interleaved keys
			in := write(t, tb, p,
				func(b *sstable.Builder) {
					for k := 0; k < 200; k += 2 {
						b.Partition(k).Row().Set("v", k, ts(1), 0)
					}
				},
				func(b *sstable.Builder) {
					for k := 1; k < 200; k += 2 {
						b.Partition(k).Row().Set("v", k, ts(1), 0)
					}
				})
			all := render(t, tb, in, compaction.Options{NowSec: now}, false)
			if len(all) != 200 {
				t.Fatalf("full range: %d rows, want 200", len(all))
			}
			// tokens in ring order, then cut at three of them
			var toks []token.Token
			sch := tb.SSTableSchema()
			for k := 0; k < 200; k++ {
				key, _ := sch.EncodeKey(k)
				toks = append(toks, p.Token(key))
			}
			slices.SortFunc(toks, token.Compare)
			cuts := []token.Range{{Left: token.Token{}, Right: toks[49]}, {Left: toks[49], Right: toks[50]}, {Left: toks[50], Right: toks[150]}, {Left: toks[150], Right: token.Token{}}}
			var pieces []string
			for _, c := range cuts {
				got := render(t, tb, in, compaction.Options{NowSec: now, Range: compaction.Range{Start: c.Left, End: c.Right}}, false)
				pieces = append(pieces, got...)
			}
			if !slices.Equal(pieces, all) {
				t.Errorf("ranges cover %d rows, the whole ring %d; or order differs", len(pieces), len(all))
			}
			one := render(t, tb, in, compaction.Options{NowSec: now, Range: compaction.Range{Start: toks[49], End: toks[50]}}, false)
			if len(one) != 1 {
				t.Errorf("(t49, t50]: %d rows, want 1", len(one))
			}
		})
	}
}

// TestCompactStorage: a compact table without clustering keeps its values
// in the static row; the static row is then the CQL row.
func TestCompactStorage(t *testing.T) {
	tb := table(t, "CREATE TABLE ks.t (pk text PRIMARY KEY, val text) WITH COMPACT STORAGE;")
	if !tb.CompactStatic {
		t.Fatal("CompactStatic not set")
	}
	in := write(t, tb, token.ByteOrderedPartitioner{},
		func(b *sstable.Builder) {
			b.Partition("a").Static().Set("val", "x", ts(1), 0)
			b.Partition("b").Static().Set("val", "y", ts(1), 0)
		},
		func(b *sstable.Builder) { b.Partition("b").Static().DeleteColumn("val", ts(2)) })
	got := render(t, tb, in, compaction.Options{NowSec: now}, false)
	if want := []string{"a | | val=x"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPropertySplitWrites is a property test against an oracle: random
// writes (inserts, updates, TTLs, deletions of every kind, collections,
// statics) applied to one Builder (Cassandra's memtable reconciliation,
// then one SSTable) must merge to the same rows as the same writes spread
// at random over several SSTables of several "replicas". Timestamps are
// unique so that the order-independent rules decide; ties have their own
// table tests.
func TestPropertySplitWrites(t *testing.T) {
	tb := table(t, `CREATE TABLE ks.t (pk int, ck int, s text static, v int, w text, l list<int>, m map<int, text>, PRIMARY KEY (pk, ck));`)
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		nsst := 2 + rng.IntN(5)
		type op func(b *sstable.Builder)
		var ops []op
		next := int64(0)
		stamp := func() int64 { next += 1 + int64(rng.IntN(3)); return ts(next) }
		for i := 0; i < 300; i++ {
			pk, ck := rng.IntN(6), rng.IntN(12)
			t1 := stamp()
			ttl := int32(0)
			if rng.IntN(5) == 0 {
				ttl = int32(3500 + rng.IntN(400)) // expires around the reference
			}
			val := rng.IntN(1000)
			switch rng.IntN(14) {
			case 0, 1, 2:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Insert(t1, ttl).Set("v", val, t1, ttl) })
			case 3, 4:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Set("w", fmt.Sprint(val), t1, ttl) })
			case 5:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Delete(t1) })
			case 6:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).DeleteColumn("v", t1) })
			case 7:
				lo, hi := rng.IntN(12), rng.IntN(12)
				if lo > hi {
					lo, hi = hi, lo
				}
				ex1, ex2 := rng.IntN(2) == 0, rng.IntN(2) == 0
				if lo == hi {
					ex1, ex2 = false, false
				}
				ops = append(ops, func(b *sstable.Builder) {
					b.Partition(pk).DeleteRange(sstable.RangeBound{Values: []any{lo}, Exclusive: ex1}, sstable.RangeBound{Values: []any{hi}, Exclusive: ex2}, t1)
				})
			case 8:
				if rng.IntN(4) == 0 {
					ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Delete(t1) })
				}
			case 9:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Static().Set("s", fmt.Sprint(val), t1, ttl) })
			case 10:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Append("l", val, t1, ttl) })
			case 11:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Put("m", val%5, fmt.Sprint(val), t1, ttl) })
			case 12:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Remove("m", val%5, t1) })
			case 13:
				ops = append(ops, func(b *sstable.Builder) { b.Partition(pk).Row(ck).Set("m", map[int]string{val % 5: "set"}, t1, ttl) })
			}
		}
		// oracle: one memtable
		one := write(t, tb, token.Murmur3Partitioner{}, func(b *sstable.Builder) {
			for _, o := range ops {
				o(b)
			}
		})
		// spread: each write lands in one random SSTable
		owner := make([]int, len(ops))
		for i := range owner {
			owner[i] = rng.IntN(nsst)
		}
		var fns []sst
		for s := 0; s < nsst; s++ {
			fns = append(fns, func(b *sstable.Builder) {
				for i, o := range ops {
					if owner[i] == s {
						o(b)
					}
				}
			})
		}
		spread := write(t, tb, token.Murmur3Partitioner{}, fns...)
		want := render(t, tb, one, compaction.Options{NowSec: now}, true)
		got := render(t, tb, spread, compaction.Options{NowSec: now}, true)
		// and an independent, naive evaluation of the memtable's content
		b, _ := sstable.NewBuilder(tb.SSTableSchema())
		for _, o := range ops {
			o(b)
		}
		if naive := naiveRows(tb, b.Partitions(token.Murmur3Partitioner{}), now); !slices.Equal(naive, want) {
			t.Fatalf("seed %d: the merge of one SSTable differs from the naive evaluation\n got %d:\n  %s\nwant %d:\n  %s", seed, len(want), strings.Join(want, "\n  "), len(naive), strings.Join(naive, "\n  "))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d (%d SSTables): merged rows differ\n got %d:\n  %s\nwant %d:\n  %s", seed, nsst, len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
		}
	}
}

// TestBoundedMemory merges a wide partition and checks that the merge does
// not allocate per row: memory stays bounded by the scanners' windows
// whatever the partition size.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 400k rows")
	}
	tb := table(t, "CREATE TABLE ks.t (pk text, ck int, v text, PRIMARY KEY (pk, ck));")
	half := func(from int) sst {
		return func(b *sstable.Builder) {
			for ck := from; ck < 200_000; ck += 2 {
				b.Partition("wide").Row(ck).Insert(ts(1), 0).Set("v", "some value of a row", ts(1), 0)
			}
		}
	}
	in := write(t, tb, token.Murmur3Partitioner{}, half(0), half(1), half(0))
	m, err := compaction.NewMerger(context.Background(), tb, in, compaction.Options{NowSec: now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rows := 0
	allocs := testing.AllocsPerRun(1, func() {
		for m.Next() {
			rows++
		}
	})
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 200_000 {
		t.Fatalf("%d rows, want 200000", rows)
	}
	if allocs > 1000 {
		t.Errorf("%v allocations for %d rows: the merge allocates per row", allocs, rows)
	}
	st := m.Stats()
	if st.RowsIn != 300_000 || st.RowsOut != 200_000 || st.Partitions != 1 {
		t.Errorf("stats %+v", st)
	}
	_ = cql.KindInt
}

// naiveRows evaluates the logical content of one memtable directly, the
// simplest way: no merge, deletions applied as the rules say.
func naiveRows(tb *compaction.Table, parts []sstable.BuiltPartition, nowSec int64) []string {
	maxDel := func(a, b sstable.DeletionTime) sstable.DeletionTime {
		if b.Supersedes(a) {
			return b
		}
		return a
	}
	eval := func(r *sstable.Row, d sstable.DeletionTime, out []compaction.Value) (bool, int64, int64) {
		d = maxDel(d, r.Deletion)
		live, wt, exp := false, sstable.NoTimestamp, sstable.NoDeletionTime
		if !d.Deletes(r.Liveness.Timestamp) && r.Liveness.IsLive(nowSec) {
			live, wt = true, r.Liveness.Timestamp
			if r.Liveness.IsExpiring() {
				exp = r.Liveness.LocalExpirationTime
			}
		}
		for _, cd := range r.Columns {
			vi := tb.Value(cd.Column.Name)
			cdel := maxDel(d, cd.Deletion)
			var v compaction.Value
			for i := range cd.Cells {
				c := &cd.Cells[i]
				if cdel.Deletes(c.Timestamp) || !c.IsLive(nowSec) {
					continue
				}
				live, wt = true, max(wt, c.Timestamp)
				if c.IsExpiring() {
					exp = min(exp, c.LocalDeletionTime)
				}
				v.Set = true
				if cd.Column.Complex() {
					v.Elems = append(v.Elems, compaction.Elem{Path: c.Path, Value: c.Value})
				} else {
					v.Bytes = c.Value
				}
			}
			out[vi] = v
		}
		return live, wt, exp
	}
	var rows []string
	for _, p := range parts {
		static := make([]compaction.Value, len(tb.Values))
		sLive, swt, sexp := false, sstable.NoTimestamp, sstable.NoDeletionTime
		if p.Static != nil {
			sLive, swt, sexp = eval(p.Static, p.Deletion, static)
		}
		open := sstable.Live
		emitted := false
		for _, u := range p.Unfiltereds {
			if u.Kind == sstable.UnfilteredMarker {
				if u.Marker.Bound.Kind.IsEnd() {
					open = sstable.Live
				}
				if u.Marker.Bound.Kind.IsStart() {
					open = u.Marker.Open
				}
				continue
			}
			vals := slices.Clone(static)
			live, wt, exp := eval(&u.Row, maxDel(p.Deletion, open), vals)
			if !live {
				continue
			}
			if sLive {
				wt, exp = max(wt, swt), min(exp, sexp)
			}
			emitted = true
			rows = append(rows, renderRow(tb, &compaction.Row{Key: p.Key, Clustering: u.Row.Clustering, Values: vals, WriteTime: wt, ExpiresAt: exp}, true))
		}
		if !emitted && sLive {
			rows = append(rows, renderRow(tb, &compaction.Row{Key: p.Key, Values: static, WriteTime: swt, ExpiresAt: sexp}, true))
		}
	}
	return rows
}
