package cluster

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cassmove/shadow/engine/cql"
)

// Hand-computed cases for each merge rule of
// cassandra-sstables-and-backups.md §7.

func live(ts int64, v byte) *cell { return &cell{ts: ts, ldt: noLDT, val: []byte{v}, gov: v} }
func expiring(ts int64, ttl int32, ldt int64, v byte) *cell {
	return &cell{ts: ts, ttl: ttl, ldt: ldt, val: []byte{v}, gov: v}
}
func tombstone(ts, ldt int64) *cell { return &cell{ts: ts, ldt: ldt, tomb: true, val: []byte{}} }

func TestReconcileRegular(t *testing.T) {
	cases := []struct {
		name string
		a, b *cell
		want string // "a" or "b"
	}{
		{"higher timestamp wins", live(10, 1), live(11, 0), "b"},
		{"higher timestamp beats a tombstone", tombstone(10, 100), live(11, 0), "b"},
		{"tombstone with the higher timestamp", live(11, 9), tombstone(12, 5), "b"},
		{"tie: greater value bytes", live(10, 0x7f), live(10, 0x80), "b"}, // unsigned: 0x80 > 0x7f
		{"tie: equal values keep the left", live(10, 5), live(10, 5), "a"},
		{"tie: expiring beats live, even with smaller value", live(10, 0xff), expiring(10, 60, 1000, 0x00), "b"},
		{"tie: tombstone beats live", live(10, 0xff), tombstone(10, 1), "b"},
		{"tie: tombstone beats expiring even when expiring has later ldt", expiring(10, 60, 5000, 1), tombstone(10, 100), "b"},
		{"tie: two expiring, later expiry wins", expiring(10, 60, 2000, 9), expiring(10, 3600, 3000, 1), "b"},
		{"tie: two expiring, same expiry, greater value", expiring(10, 60, 2000, 1), expiring(10, 60, 2000, 2), "b"},
		{"tie: two tombstones, later deletion time", tombstone(10, 7), tombstone(10, 6), "a"},
	}
	for _, c := range cases {
		for _, swap := range []bool{false, true} {
			a, b, want := c.a, c.b, c.want
			if swap {
				a, b = b, a
				want = map[string]string{"a": "b", "b": "a"}[want]
				if c.name == "tie: equal values keep the left" {
					want = "a"
				}
			}
			got := reconcile(a, b)
			wantCell := map[string]*cell{"a": a, "b": b}[want]
			if got != wantCell {
				t.Errorf("%s (swap %v): got %+v, want %+v", c.name, swap, got, wantCell)
			}
		}
	}
}

func counterCell(ts int64, shards ...shard) *cell {
	return &cell{ts: ts, ldt: noLDT, shards: shards}
}

func TestReconcileCounter(t *testing.T) {
	a, b, c := [16]byte{1}, [16]byte{2}, [16]byte{3}
	x := counterCell(10, shard{a, 3, 10}, shard{b, 1, 5})
	y := counterCell(20, shard{a, 2, 7}, shard{c, 4, 1})
	m := reconcile(x, y)
	if m.ts != 20 || !reflect.DeepEqual(m.shards, []shard{{a, 3, 10}, {b, 1, 5}, {c, 4, 1}}) || m.total() != 16 {
		t.Errorf("merge: got ts %d shards %+v total %d", m.ts, m.shards, m.total())
	}
	// A tombstone wins whatever its timestamp (CASSANDRA-7346).
	d := tombstone(5, 100)
	if reconcile(x, d) != d || reconcile(d, y) != d {
		t.Error("counter tombstone must win")
	}
	// Commutative.
	if !reflect.DeepEqual(reconcile(y, x).shards, m.shards) {
		t.Error("counter merge not commutative")
	}
}

func TestLivenessAndDeletion(t *testing.T) {
	plain := liveness{ts: 10, exp: noLDT}
	ttl := liveness{ts: 10, ttl: 60, exp: 1000}
	ttlLater := liveness{ts: 10, ttl: 60, exp: 2000}
	if !ttl.supersedes(plain) || plain.supersedes(ttl) {
		t.Error("tie: an expiring liveness beats a plain one")
	}
	if !ttlLater.supersedes(ttl) || ttl.supersedes(ttlLater) {
		t.Error("tie: the later expiry wins")
	}
	if !(liveness{ts: 11, exp: noLDT}).supersedes(ttlLater) {
		t.Error("a higher timestamp wins")
	}
	if !ttl.liveAt(999) || ttl.liveAt(1000) {
		t.Error("an expiring liveness dies at its expiration time")
	}
	d1, d2, d3 := deletion{10, 5}, deletion{10, 6}, deletion{11, 1}
	if !d2.supersedes(d1) || !d3.supersedes(d2) || d1.supersedes(d2) {
		t.Error("deletion order: higher markedForDeleteAt, then local deletion time")
	}
	if !d1.deletes(10) || d1.deletes(11) || liveDel.deletes(noTS+1) {
		t.Error("a deletion shadows timestamps up to and including its own")
	}
}

// testTable builds a table with one partition whose rows are the given
// clustering values.
func testTable(t *testing.T, spec TableSpec, ck ...[]any) (*table, *partition) {
	t.Helper()
	tabs, _, err := resolveTables("ks", DefaultTypes(), []TableSpec{spec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tb := tabs[0]
	var pv []any
	for _, c := range tb.pk {
		pv = append(pv, map[cql.Kind]any{cql.KindText: "k", cql.KindInt: int32(1)}[c.t.Kind])
	}
	p := &partition{vals: pv, key: encode(tb.pk[0].t, pv[0])}
	for _, vals := range ck {
		r := &ckRow{vals: vals}
		for i, v := range vals {
			r.b = append(r.b, encode(tb.ck[i].t, v))
		}
		p.rows = append(p.rows, r)
	}
	tb.parts = []*partition{p}
	return tb, p
}

type write struct {
	ts    int64
	local int64
	ops   []op
}

func run(tb *table, p *partition, now int64, replicas ...[]write) []Row {
	ps := newPart()
	for _, rep := range replicas {
		x := newPart()
		for _, w := range rep {
			applyMutation(x, tb, p, &mutation{ts: w.ts, ops: w.ops}, w.local)
		}
		ps.merge(x)
	}
	return evaluate(ps, tb, p, outputColumns(tb, 0), now)
}

func values(rows []Row) [][]any {
	var out [][]any
	for _, r := range rows {
		out = append(out, r.Values)
	}
	return out
}

func cellInt(tb *table, row int, col string, v int32, ttl int32) op {
	c := tb.column(col)
	return op{kind: opCell, row: row, col: c.idx, val: v, vb: encode(c.t, v), ttl: ttl}
}

func TestEvaluateRules(t *testing.T) {
	spec := TableSpec{Name: "t", PartitionKey: []ColumnSpec{{Name: "k", Type: "text"}},
		Clustering: []ColumnSpec{{Name: "c", Type: "int", Desc: true}},
		Static:     []ColumnSpec{{Name: "s", Type: "int"}},
		Regular:    []ColumnSpec{{Name: "v", Type: "int"}, {Name: "tags", Type: "set<text>"}}}
	tb, p := testTable(t, spec, []any{int32(3)}, []any{int32(2)}, []any{int32(1)}) // DESC: 3, 2, 1
	v := func(row int, x int32) op { return cellInt(tb, row, "v", x, 0) }
	ins := func(row int, ttl int32) op { return op{kind: opLiveness, row: row, ttl: ttl} }
	tags := tb.column("tags")
	el := func(s string) elem { return elem{path: []byte(s), pgo: s, vb: []byte{}} }
	cases := []struct {
		name     string
		now      int64
		replicas [][]write
		want     [][]any
	}{
		{
			name: "overwrite at a higher timestamp wins across replicas",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), v(0, 1)}}},
				{{ts: 20, local: 2, ops: []op{v(0, 2)}}},
			},
			want: [][]any{{"k", int32(3), nil, nil, int32(2)}},
		},
		{
			name: "tie: tombstone on one replica beats the value on the other",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{v(0, 7)}}},
				{{ts: 10, local: 5, ops: []op{{kind: opColumnDel, row: 0, col: tb.column("v").idx}}}},
			},
			want: nil,
		},
		{
			name: "tie: expiring beats live; expired at the reference it is gone",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), v(0, 9)}}},
				{{ts: 10, local: 1, ops: []op{cellInt(tb, 0, "v", 1, 50)}}}, // expires at 51
			},
			want: [][]any{{"k", int32(3), nil, nil, nil}},
		},
		{
			name: "TTL before the reference: still live",
			now:  50,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), cellInt(tb, 0, "v", 1, 50)}}},
			},
			want: [][]any{{"k", int32(3), nil, nil, int32(1)}},
		},
		{
			name: "expiring row marker and cells: the row vanishes at expiry",
			now:  51,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 50), cellInt(tb, 0, "v", 1, 50)}}},
			},
			want: nil,
		},
		{
			name: "range tombstone [3, 2] (DESC order) deletes rows 3 and 2, not 1 nor later writes",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), ins(1, 0), ins(2, 0)}}},
				{{ts: 15, local: 2, ops: []op{{kind: opRangeDel, start: bound{vals: []any{int32(3)}, b: [][]byte{encode(cql.Simple(cql.KindInt), int32(3))}, incl: true},
					end: bound{vals: []any{int32(2)}, b: [][]byte{encode(cql.Simple(cql.KindInt), int32(2))}, incl: true}}}},
					{ts: 20, local: 3, ops: []op{v(0, 5)}}},
			},
			want: [][]any{{"k", int32(3), nil, nil, int32(5)}, {"k", int32(1), nil, nil, nil}},
		},
		{
			name: "range tombstone with an exclusive end and an open start",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), ins(1, 0), ins(2, 0)}},
					{ts: 15, local: 2, ops: []op{{kind: opRangeDel, start: bound{incl: true},
						end: bound{vals: []any{int32(2)}, b: [][]byte{encode(cql.Simple(cql.KindInt), int32(2))}}}}}},
			},
			want: [][]any{{"k", int32(2), nil, nil, nil}, {"k", int32(1), nil, nil, nil}},
		},
		{
			name: "row deletion, then a newer insert",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(1, 0), v(1, 1)}}, {ts: 12, local: 1, ops: []op{{kind: opRowDel, row: 1}}}},
				{{ts: 13, local: 1, ops: []op{ins(1, 0)}}},
			},
			want: [][]any{{"k", int32(2), nil, nil, nil}},
		},
		{
			name: "partition deletion shadows older rows and statics; a static alone shows one row",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), cellInt(tb, -1, "s", 4, 0)}}, {ts: 11, local: 1, ops: []op{{kind: opPartDel}}}},
				{{ts: 12, local: 1, ops: []op{cellInt(tb, -1, "s", 5, 0)}}},
			},
			want: [][]any{{"k", nil, int32(5), nil, nil}},
		},
		{
			name: "set: overwrite drops older elements; a remove on another replica wins",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{{kind: opElement, row: 0, col: tags.idx, elems: []elem{el("old")}}}},
					{ts: 20, local: 1, ops: []op{{kind: opOverwrite, row: 0, col: tags.idx, elems: []elem{el("b"), el("a"), el("c")}}}}},
				{{ts: 25, local: 1, ops: []op{{kind: opElementDel, row: 0, col: tags.idx, elems: []elem{el("c")}}}}},
			},
			want: [][]any{{"k", int32(3), nil, []any{"a", "b"}, nil}},
		},
		{
			name: "whole-collection deletion at the same timestamp as an element",
			now:  100,
			replicas: [][]write{
				{{ts: 10, local: 1, ops: []op{ins(0, 0), {kind: opElement, row: 0, col: tags.idx, elems: []elem{el("x")}}}}},
				{{ts: 10, local: 1, ops: []op{{kind: opColumnDel, row: 0, col: tags.idx}}}},
			},
			want: [][]any{{"k", int32(3), nil, nil, nil}},
		},
	}
	for _, c := range cases {
		got := values(run(tb, p, c.now, c.replicas...))
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

func TestEvaluateCounters(t *testing.T) {
	spec := TableSpec{Name: "c", PartitionKey: []ColumnSpec{{Name: "k", Type: "text"}}, Regular: []ColumnSpec{{Name: "n", Type: "counter"}}}
	tb, p := testTable(t, spec, nil)
	n := tb.column("n").idx
	a, b := [16]byte{1}, [16]byte{2}
	inc := func(id [16]byte, clock, count int64) op {
		return op{kind: opCounter, row: 0, col: n, sh: shard{id, clock, count}}
	}
	// Replica 1 saw leader a's first two increments and b's first; replica
	// 2 saw a's first and b's two: per leader the higher clock, summed.
	got := values(run(tb, p, 100,
		[]write{{ts: 1, ops: []op{inc(a, 1, 5)}}, {ts: 2, ops: []op{inc(a, 2, 8)}}, {ts: 3, ops: []op{inc(b, 1, 1)}}},
		[]write{{ts: 1, ops: []op{inc(a, 1, 5)}}, {ts: 3, ops: []op{inc(b, 1, 1)}}, {ts: 4, ops: []op{inc(b, 2, 11)}}},
	))
	if want := [][]any{{"k", int64(19)}}; !reflect.DeepEqual(got, want) {
		t.Errorf("counter merge: got %v, want %v", got, want)
	}
	got = values(run(tb, p, 100,
		[]write{{ts: 5, ops: []op{inc(a, 3, 8)}}},
		[]write{{ts: 1, local: 1, ops: []op{{kind: opCounterDel, row: 0, col: n}}}},
	))
	if got != nil {
		t.Errorf("a counter tombstone must win whatever its timestamp, got %v", got)
	}
}

func TestCompareGoMatchesCassandraOrder(t *testing.T) {
	r := newRand(7)
	for _, name := range []string{"text", "ascii", "int", "bigint", "smallint", "tinyint", "blob", "timestamp", "date", "boolean"} {
		ty, err := cql.ParseCQL(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 300 {
			a, b := genValue(r, ty), genValue(r, ty)
			want := cql.Compare(ty, encode(ty, a), encode(ty, b))
			if got := compareGo(ty, a, b); sign(got) != sign(want) {
				t.Fatalf("%s: compare(%v, %v) = %d, Cassandra order says %d", name, a, b, got, want)
			}
		}
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 1)) }
