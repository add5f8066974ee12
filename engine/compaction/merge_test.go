package compaction_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

const now = 1_700_000_000 // the TTL reference of the tests, in seconds

// ts returns a write timestamp n seconds after an hour before now.
func ts(n int64) int64 { return (now - 3600 + n) * 1_000_000 }

// table parses one CREATE TABLE (in keyspace ks) into a compaction table.
func table(t testing.TB, ddl string) *compaction.Table {
	t.Helper()
	s, err := schema.Parse("test.cql", "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3};\n"+ddl)
	if err != nil {
		t.Fatal(err)
	}
	ks := s.Keyspace("ks")
	tb, err := compaction.NewTable(ks, ks.Tables[0])
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// write writes one SSTable per function and opens them.
func write(t testing.TB, tb *compaction.Table, p token.Partitioner, fns ...func(b *sstable.Builder)) []compaction.Input {
	t.Helper()
	var out []compaction.Input
	for i, fn := range fns {
		b, err := sstable.NewBuilder(tb.SSTableSchema())
		if err != nil {
			t.Fatal(err)
		}
		fn(b)
		dir := t.TempDir()
		if _, err := b.WriteTo(dir, &sstable.WriterOptions{Partitioner: p, Version: []string{"nb", "oa"}[i%2]}); err != nil {
			t.Fatal(err)
		}
		r, err := sstable.OpenPath(context.Background(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		out = append(out, compaction.Input{Reader: r, Name: fmt.Sprintf("sstable-%d", i)})
	}
	return out
}

// render merges and renders every row as "key | clustering | col=value ...",
// with the provenance in brackets when prov is set.
func render(t testing.TB, tb *compaction.Table, in []compaction.Input, opts compaction.Options, prov bool) []string {
	t.Helper()
	m, err := compaction.NewMerger(context.Background(), tb, in, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []string
	for m.Next() {
		out = append(out, renderRow(tb, m.Row(), prov))
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func renderRow(tb *compaction.Table, r *compaction.Row, prov bool) string {
	var sb strings.Builder
	sb.WriteString(cql.String(tb.KeyType, r.Key))
	sb.WriteString(" |")
	if r.Clustering == nil && len(tb.Clustering) > 0 {
		sb.WriteString(" static")
	}
	for i, v := range r.Clustering {
		sb.WriteString(" " + cql.String(tb.Clustering[i].Type, v))
	}
	sb.WriteString(" |")
	for i, c := range tb.Values {
		v := r.Values[i]
		if !v.Set {
			continue
		}
		sb.WriteString(" " + c.Name + "=")
		switch {
		case c.Counter:
			sb.WriteString(fmt.Sprint(int64(binary.BigEndian.Uint64(v.Bytes))))
		case c.Complex:
			var parts []string
			for _, e := range v.Elems {
				switch c.Type.Kind {
				case cql.KindList:
					parts = append(parts, cql.String(c.Type.Elems[0], e.Value))
				case cql.KindSet:
					parts = append(parts, cql.String(c.Type.Elems[0], e.Path))
				case cql.KindMap:
					parts = append(parts, cql.String(c.Type.Elems[0], e.Path)+":"+cql.String(c.Type.Elems[1], e.Value))
				default:
					parts = append(parts, fmt.Sprintf("%d:%s", binary.BigEndian.Uint16(e.Path), cql.String(c.Type.Elems[binary.BigEndian.Uint16(e.Path)], e.Value)))
				}
			}
			sb.WriteString("[" + strings.Join(parts, ",") + "]")
		default:
			sb.WriteString(cql.String(c.Type, v.Bytes))
		}
	}
	if prov {
		exp := "-"
		if r.ExpiresAt != sstable.NoDeletionTime {
			exp = fmt.Sprint(r.ExpiresAt - now)
		}
		fmt.Fprintf(&sb, " [wt=%d exp=%s]", (r.WriteTime/1_000_000)-(now-3600), exp)
	}
	return sb.String()
}

type sst = func(b *sstable.Builder)

// TestMergeRules checks each reconciliation rule of Cassandra (cassandra-
// sstables-and-backups.md §7) with SSTables written by the Builder, one
// SSTable per replica or flush.
func TestMergeRules(t *testing.T) {
	simple := "CREATE TABLE ks.t (pk text, ck int, v text, w int, PRIMARY KEY (pk, ck));"
	tests := []struct {
		name  string
		ddl   string
		ssts  []sst
		want  []string
		prov  bool
		nowAt int64 // TTL reference override (seconds after `now`)
	}{
		{name: "higher timestamp wins", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "old", ts(1), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "new", ts(2), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("w", 7, ts(0), 0) },
		}, want: []string{"a | 1 | v=new w=7 [wt=2 exp=-]"}, prov: true},
		{name: "higher timestamp wins whatever the order", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "new", ts(2), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "old", ts(1), 0) },
		}, want: []string{"a | 1 | v=new"}},
		{name: "tie: a tombstone beats a live cell", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "zzz", ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).DeleteColumn("v", ts(5)) },
		}, want: []string{"a | 1 |"}},
		{name: "tie: an expiring cell beats a live cell, whatever the bytes", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "zzz", ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "aaa", ts(5), 7200) },
		}, want: []string{"a | 1 | v=aaa [wt=5 exp=3605]"}, prov: true},
		{name: "tie: an expired expiring cell still beats the live cell", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "zzz", ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "aaa", ts(5), 60) },
		}, want: []string{"a | 1 |"}},
		{name: "tie: a tombstone beats an expiring cell", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "aaa", ts(5), 7200) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).DeleteColumn("v", ts(5)) },
		}, want: []string{"a | 1 |"}},
		{name: "tie: two expiring cells, the later expiry wins", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "zzz", ts(5), 7200) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "aaa", ts(5), 9000) },
		}, want: []string{"a | 1 | v=aaa [wt=5 exp=5405]"}, prov: true},
		{name: "tie: two live cells, the greater value bytes win", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "abc", ts(5), 0).Set("w", -1, ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "abd", ts(5), 0).Set("w", 1, ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "ab", ts(5), 0) },
		}, want: []string{"a | 1 | v=abd w=-1"}}, // -1 is 0xffffffff: the greater bytes
		{name: "liveness tie: the expiring liveness wins, and has expired", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(5), 60) },
			func(b *sstable.Builder) { b.Partition("a").Row(2).Insert(ts(5), 60) },
			func(b *sstable.Builder) { b.Partition("a").Row(2).Insert(ts(5), 7200) },
		}, want: []string{"a | 2 | [wt=5 exp=3605]"}, prov: true},
		{name: "liveness: the higher timestamp wins even when it expires", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(5), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(6), 60) },
		}, want: nil},
		{name: "TTL expires at the reference time", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Insert(ts(0), 0).Set("v", "gone", ts(0), 3600).Set("w", 1, ts(0), 3601)
				b.Partition("b").Row(1).Insert(ts(0), 3600).Set("v", "gone", ts(0), 3600)
				b.Partition("c").Row(1).Insert(ts(0), 3600).Set("v", "stays", ts(0), 0)
			},
		}, want: []string{"a | 1 | w=1 [wt=0 exp=1]", "c | 1 | v=stays [wt=0 exp=-]"}, prov: true},
		{name: "TTL one second before the reference", ddl: simple, nowAt: -1, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("b").Row(1).Insert(ts(0), 3600).Set("v", "x", ts(0), 3600) },
		}, want: []string{"b | 1 | v=x"}},
		{name: "partition deletion shadows older data only", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "x", ts(1), 0)
				b.Partition("a").Row(2).Insert(ts(1), 0).Set("v", "y", ts(1), 0)
			},
			func(b *sstable.Builder) { b.Partition("a").Delete(ts(2)) },
			func(b *sstable.Builder) { b.Partition("a").Row(2).Set("w", 5, ts(3), 0) },
		}, want: []string{"a | 2 | w=5"}},
		{name: "deletion at the same timestamp shadows", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(2), 0).Set("v", "x", ts(2), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).Delete(ts(2)) },
		}, want: nil},
		{name: "row deletion", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "x", ts(1), 0)
				b.Partition("a").Row(2).Insert(ts(1), 0).Set("v", "y", ts(1), 0)
			},
			func(b *sstable.Builder) { b.Partition("a").Row(1).Delete(ts(2)); b.Partition("a").Row(2).Delete(ts(0)) },
		}, want: []string{"a | 2 | v=y"}},
		{name: "cell tombstone; the row lives on its liveness", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Insert(ts(1), 0).Set("v", "x", ts(1), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).DeleteColumn("v", ts(2)) },
		}, want: []string{"a | 1 |"}},
		{name: "a row without liveness dies with its last cell", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) { b.Partition("a").Row(1).Set("v", "x", ts(1), 0) },
			func(b *sstable.Builder) { b.Partition("a").Row(1).DeleteColumn("v", ts(2)) },
		}, want: nil},
		{name: "range tombstone, inclusive and exclusive bounds", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				for ck := 1; ck <= 6; ck++ {
					b.Partition("a").Row(ck).Insert(ts(1), 0)
				}
			},
			func(b *sstable.Builder) {
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{2}}, sstable.RangeBound{Values: []any{3}}, ts(2))
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{4}, Exclusive: true}, sstable.RangeBound{Values: []any{6}, Exclusive: true}, ts(2))
			},
		}, want: []string{"a | 1 |", "a | 4 |", "a | 6 |"}},
		{name: "range tombstone shadows older data only", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(2).Insert(ts(3), 0)
				b.Partition("a").Row(3).Insert(ts(1), 0)
			},
			func(b *sstable.Builder) {
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{1}}, sstable.RangeBound{}, ts(2))
			},
		}, want: []string{"a | 2 |"}},
		{name: "overlapping range tombstones from two replicas, boundaries", ddl: simple, ssts: []sst{
			func(b *sstable.Builder) {
				for ck := 1; ck <= 9; ck++ {
					b.Partition("a").Row(ck).Insert(ts(int64(ck)), 0)
				}
			},
			func(b *sstable.Builder) {
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{2}}, sstable.RangeBound{Values: []any{6}}, ts(4))
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{5}}, sstable.RangeBound{Values: []any{8}}, ts(7))
			},
			func(b *sstable.Builder) {
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{3}, Exclusive: true}, sstable.RangeBound{Values: []any{9}, Exclusive: true}, ts(1))
			},
		}, want: []string{"a | 1 |", "a | 8 |", "a | 9 |"}},
		{name: "prefix range tombstone over two clustering columns",
			ddl: "CREATE TABLE ks.t (pk text, c1 int, c2 int, v int, PRIMARY KEY (pk, c1, c2));", ssts: []sst{
				func(b *sstable.Builder) {
					for c1 := 1; c1 <= 3; c1++ {
						for c2 := 1; c2 <= 2; c2++ {
							b.Partition("a").Row(c1, c2).Insert(ts(1), 0)
						}
					}
				},
				func(b *sstable.Builder) {
					b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{2}}, sstable.RangeBound{Values: []any{2}}, ts(2))
				},
			}, want: []string{"a | 1 1 |", "a | 1 2 |", "a | 3 1 |", "a | 3 2 |"}},
		{name: "DESC clustering order", ddl: "CREATE TABLE ks.t (pk text, ck int, v int, PRIMARY KEY (pk, ck)) WITH CLUSTERING ORDER BY (ck DESC);", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Set("v", 1, ts(1), 0)
				b.Partition("a").Row(3).Set("v", 3, ts(1), 0)
			},
			func(b *sstable.Builder) {
				b.Partition("a").Row(2).Set("v", 2, ts(1), 0)
				b.Partition("a").DeleteRange(sstable.RangeBound{Values: []any{3}}, sstable.RangeBound{Values: []any{3}}, ts(2))
			},
		}, want: []string{"a | 2 | v=2", "a | 1 | v=1"}},
		{name: "collection deletion then newer elements", ddl: "CREATE TABLE ks.t (pk text, ck int, l list<int>, s set<text>, m map<text, int>, PRIMARY KEY (pk, ck));", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Append("l", 1, ts(1), 0).Add("s", "x", ts(1), 0).Put("m", "k", 1, ts(1), 0).Put("m", "j", 2, ts(1), 0)
			},
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Set("l", []any{7, 8}, ts(3), 0).Remove("s", "x", ts(2)).Add("s", "y", ts(2), 0).Put("m", "k", 9, ts(2), 0)
			},
			func(b *sstable.Builder) { b.Partition("a").Row(1).DeleteColumn("m", ts(2)).Put("m", "i", 5, ts(3), 0) },
		}, want: []string{"a | 1 | l=[7,8] s=[y] m=[i:5]"}},
		{name: "collection element TTL", ddl: "CREATE TABLE ks.t (pk text, ck int, s set<int>, PRIMARY KEY (pk, ck));", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Add("s", 1, ts(0), 3600).Add("s", 2, ts(0), 0).Add("s", 3, ts(0), 7200)
			},
		}, want: []string{"a | 1 | s=[2,3] [wt=0 exp=3600]"}, prov: true},
		{name: "non-frozen UDT fields", ddl: "CREATE TYPE ks.addr (street text, zip int);\nCREATE TABLE ks.t (pk text, ck int, a addr, PRIMARY KEY (pk, ck));", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Row(1).Put("a", "street", "main", ts(1), 0).Put("a", "zip", 5, ts(1), 0)
			},
			func(b *sstable.Builder) { b.Partition("a").Row(1).Remove("a", "street", ts(2)) },
		}, want: []string{"a | 1 | a=[1:5]"}},
		{name: "static row joins every row and survives alone", ddl: "CREATE TABLE ks.t (pk text, ck int, s text static, v int, PRIMARY KEY (pk, ck));", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Static().Set("s", "sa", ts(1), 0)
				b.Partition("a").Row(1).Set("v", 1, ts(1), 0)
				b.Partition("a").Row(2).Set("v", 2, ts(1), 0)
				b.Partition("b").Static().Set("s", "sb", ts(1), 0)
				b.Partition("c").Static().Set("s", "sc", ts(1), 0)
				b.Partition("c").Row(1).Set("v", 1, ts(1), 0)
			},
			func(b *sstable.Builder) {
				b.Partition("a").Row(2).Delete(ts(2))
				b.Partition("c").Row(1).Delete(ts(2))
				b.Partition("d").Static().Set("s", "sd", ts(1), 0)
				b.Partition("d").Delete(ts(2))
			},
		}, want: []string{"a | 1 | s=sa v=1", "b | static | s=sb", "c | static | s=sc"}},
		{name: "static provenance joins the rows", ddl: "CREATE TABLE ks.t (pk text, ck int, s text static, v int, PRIMARY KEY (pk, ck));", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition("a").Static().Set("s", "sa", ts(9), 5000)
				b.Partition("a").Row(1).Set("v", 1, ts(1), 0)
			},
		}, want: []string{"a | 1 | s=sa v=1 [wt=9 exp=1409]"}, prov: true},
		{name: "no clustering columns", ddl: "CREATE TABLE ks.t (pk int PRIMARY KEY, v text);", ssts: []sst{
			func(b *sstable.Builder) {
				b.Partition(1).Row().Insert(ts(1), 0).Set("v", "a", ts(1), 0)
				b.Partition(2).Row().Set("v", "b", ts(1), 0)
			},
			func(b *sstable.Builder) {
				b.Partition(2).Row().DeleteColumn("v", ts(2))
				b.Partition(3).Row().Set("v", "c", ts(1), 0)
			},
		}, want: []string{"1 | | v=a", "3 | | v=c"}},
		{name: "composite partition key", ddl: "CREATE TABLE ks.t (a int, b text, v int, PRIMARY KEY ((a, b)));", ssts: []sst{
			func(b *sstable.Builder) { b.Partition(1, "x").Row().Set("v", 1, ts(1), 0) },
			func(b *sstable.Builder) { b.Partition(1, "x").Row().Set("v", 2, ts(2), 0) },
		}, want: []string{"(1, 'x') | | v=2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := table(t, tc.ddl)
			in := write(t, tb, token.Murmur3Partitioner{}, tc.ssts...)
			got := render(t, tb, in, compaction.Options{NowSec: now + tc.nowAt}, tc.prov)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
