package sstable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// canonical renders logical content (everything but encoding flags).
func canonRow(r *Row) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "row%x static=%v live=%v del=%v shadow=%v", [][]byte(r.Clustering), r.Static, r.Liveness, r.Deletion, r.Shadowable)
	for _, cd := range r.Columns {
		fmt.Fprintf(&sb, " | %s del=%v", cd.Column.Name, cd.Deletion)
		for _, c := range cd.Cells {
			fmt.Fprintf(&sb, " [ts=%d ttl=%d ldt=%d path=%x v=%x]", c.Timestamp, c.TTL, c.LocalDeletionTime, c.Path, c.Value)
		}
	}
	return sb.String()
}

func canonUnfiltered(u *Unfiltered) string {
	if u.Kind == UnfilteredMarker {
		m := u.Marker
		return fmt.Sprintf("marker %v %x close=%v open=%v", m.Bound.Kind, [][]byte(m.Bound.Values), m.Close, m.Open)
	}
	return canonRow(&u.Row)
}

func canonBuilt(parts []BuiltPartition) []string {
	var out []string
	for _, p := range parts {
		out = append(out, fmt.Sprintf("partition %x token=%v del=%v", p.Key, p.Token, p.Deletion))
		if p.Static != nil {
			out = append(out, canonRow(p.Static))
		}
		for i := range p.Unfiltereds {
			out = append(out, canonUnfiltered(&p.Unfiltereds[i]))
		}
	}
	return out
}

// canonRead reads a table as canonical lines, as a consumer would.
func canonRead(t testing.TB, dir string) []string {
	t.Helper()
	return canonScan(t, dir, false)
}

func diffLines(t testing.TB, got, want []string) {
	t.Helper()
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("line %d differs\n got %s\nwant %s", i, g, w)
		}
	}
}

func mustType(t testing.TB, s string, udts cql.UDTResolver) *cql.Type {
	t.Helper()
	ty, err := cql.ParseCQL(s, udts)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

// richSchema uses a composite partition key, a DESC clustering column,
// statics, every collection shape and a UDT.
func richSchema(t testing.TB) *Schema {
	addr := cql.UDTOf("ks", "addr", []string{"street", "zip"}, []*cql.Type{cql.Simple(cql.KindText), cql.Simple(cql.KindInt)})
	udts := func(ks, name string) (*cql.Type, error) { return addr, nil }
	ty := func(s string) *cql.Type { return mustType(t, s, udts) }
	return &Schema{Keyspace: "ks", Table: "rich",
		PartitionKey: []ColumnDef{{"id", ty("text")}, {"shard", ty("int")}},
		Clustering:   []ColumnDef{{"day", ty("date")}, {"seq", ty("bigint").Reverse()}},
		Static:       []ColumnDef{{"owner", ty("text")}},
		Regular: []ColumnDef{{"v", ty("text")}, {"n", ty("bigint")}, {"d", ty("decimal")}, {"u", ty("uuid")},
			{"l", ty("list<int>")}, {"s", ty("set<text>")}, {"m", ty("map<text, int>")}, {"a", ty("addr")},
			{"fl", ty("frozen<list<int>>")}, {"tu", ty("tuple<int, text>")}, {"blob", ty("blob")}}}
}

func richData(t testing.TB, b *Builder) {
	richDataNoTuple(t, b)
	b.Partition("alice", 1).Row(cql.Date(cql.DateEpoch+19000), int64(5)).Set("tu", []any{1, "x"}, 1_700_000_000_000_000, 0)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

func richDataNoTuple(t testing.TB, b *Builder) {
	const ts = int64(1_700_000_000_000_000)
	day := cql.Date(cql.DateEpoch + 19000)
	p := b.Partition("alice", 1)
	p.Static().Set("owner", "ops", ts, 0)
	p.Row(day, int64(1)).Insert(ts, 0).Set("v", "hello", ts, 0).Set("n", int64(-7), ts, 0).Set("d", "3.14", ts, 0)
	p.Row(day, int64(2)).Insert(ts, 3600).Set("v", "ttl'd", ts, 3600).Set("u", "50554d6e-29bb-11e5-b345-feff819cdc9f", ts+5, 0)
	p.Row(day, int64(3)).Set("l", []int{3, 1, 2}, ts, 0).Append("l", 9, ts+1, 0).Set("s", []string{"b", "a"}, ts, 0).Remove("s", "a", ts+2)
	p.Row(day, int64(4)).Set("m", map[string]int{"x": 1, "y": 2}, ts, 0).Put("m", "z", 3, ts+1, 60).Put("a", "zip", 75001, ts, 0).Put("a", "street", "rue", ts, 0)
	p.Row(day, int64(5)).Set("fl", []int{1, 2}, ts, 0).Set("blob", []byte{}, ts, 0).DeleteColumn("n", ts+3)
	p.Row(day, int64(6)).Delete(ts + 10)
	p.Row(day, int64(7)).Insert(ts, 0).DeleteColumn("l", ts+4)
	p.DeleteRange(RangeBound{Values: []any{day, int64(100)}}, RangeBound{Values: []any{day, int64(50)}, Exclusive: true}, ts+20)
	p.DeleteRange(RangeBound{Values: []any{day, int64(60)}}, RangeBound{Values: []any{day, int64(10)}}, ts+30) // overlaps: boundaries
	b.Partition("bob", 2).Delete(ts + 100)
	q := b.Partition("carol", 3)
	q.Row(day, int64(1)).Insert(ts, 0)
	q.DeleteRange(RangeBound{}, RangeBound{Values: []any{day}}, ts+40) // open start, prefix end
	for i := 0; i < 300; i++ {
		b.Partition(fmt.Sprintf("k%03d", i), i).Row(day, int64(i)).Insert(ts+int64(i), 0).Set("v", strings.Repeat("x", i), ts+int64(i), 0)
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderRoundTrip(t *testing.T) {
	for _, version := range []string{"nb", "oa"} {
		for _, comp := range []string{LZ4, Snappy, Deflate, Zstd, Noop, None} {
			t.Run(version+"/"+comp, func(t *testing.T) {
				s := richSchema(t)
				b, err := NewBuilder(s)
				if err != nil {
					t.Fatal(err)
				}
				richData(t, b)
				dir := t.TempDir()
				if _, err := b.WriteTo(dir, &WriterOptions{Version: version, Compression: comp, ChunkLength: 1024, ColumnIndexSize: 256}); err != nil {
					t.Fatal(err)
				}
				want := canonBuilt(b.Partitions(nil))
				diffLines(t, canonRead(t, dir), want)
				r, err := OpenPath(context.Background(), dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.VerifyDigest(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestCompressorsAgree writes the same data with every compressor and
// requires identical decoded content: Snappy, Deflate and Zstd have no
// Cassandra-written fixture.
func TestCompressorsAgree(t *testing.T) {
	var ref []string
	for _, comp := range []string{LZ4, Snappy, Deflate, Zstd, Noop, None} {
		b, _ := NewBuilder(richSchema(t))
		richData(t, b)
		dir := t.TempDir()
		if _, err := b.WriteTo(dir, &WriterOptions{Compression: comp}); err != nil {
			t.Fatal(err)
		}
		r, err := OpenPath(context.Background(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := oracleLines(t, r, "x")
		want := comp
		if r.Compression().Compressor != "" {
			want = r.Compression().Compressor
		} else {
			want = None
		}
		if want != comp {
			t.Fatalf("compressor %s read back as %s", comp, want)
		}
		if ref == nil {
			ref = got
			continue
		}
		diffLines(t, got, ref)
	}
}

func TestWriterRejectsDisorder(t *testing.T) {
	s := &Schema{Table: "t", PartitionKey: []ColumnDef{{"k", cql.Simple(cql.KindText)}}, Clustering: []ColumnDef{{"c", cql.Simple(cql.KindInt)}},
		Regular: []ColumnDef{{"v", cql.Simple(cql.KindInt)}}}
	w, err := NewWriter(t.TempDir(), s, &WriterOptions{Partitioner: token.ByteOrderedPartitioner{}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	k1, _ := s.EncodeKey("b")
	k0, _ := s.EncodeKey("a")
	if err := w.BeginPartition(k1, Live); err != nil {
		t.Fatal(err)
	}
	c2, _ := s.EncodeClustering(2)
	c1, _ := s.EncodeClustering(1)
	if err := w.WriteRow(&Row{Clustering: c2, Liveness: LivenessInfo{Timestamp: 1, LocalExpirationTime: NoDeletionTime}, Deletion: Live}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteRow(&Row{Clustering: c1, Liveness: LivenessInfo{Timestamp: 1, LocalExpirationTime: NoDeletionTime}, Deletion: Live}); !errors.Is(err, ErrOrder) {
		t.Fatalf("clustering disorder: %v", err)
	}
	w2, _ := NewWriter(t.TempDir(), s, &WriterOptions{Partitioner: token.ByteOrderedPartitioner{}})
	defer w2.Abort()
	w2.BeginPartition(k1, Live)
	w2.EndPartition()
	if err := w2.BeginPartition(k0, Live); !errors.Is(err, ErrOrder) {
		t.Fatalf("partition disorder: %v", err)
	}
}

// TestSeekToken seeks in a Murmur3 SSTable of 300+ partitions via Summary.db
// and Index.db and compares with a linear scan.
func TestSeekToken(t *testing.T) {
	b, _ := NewBuilder(richSchema(t))
	richData(t, b)
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	parts := b.Partitions(nil)
	ctx := context.Background()
	r, err := OpenPath(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := r.TokenRange(ctx)
	if err != nil || !first.Equal(parts[0].Token) || !last.Equal(parts[len(parts)-1].Token) {
		t.Fatalf("token range %v %v (%v), want %v %v", first, last, err, parts[0].Token, parts[len(parts)-1].Token)
	}
	for _, i := range []int{0, 1, 127, 128, 129, 200, len(parts) - 1} {
		for _, delta := range []int64{0, -1, 1} {
			target := token.Murmur3Of(parts[i].Token.Int64() + delta)
			want := len(parts)
			for j, p := range parts {
				if token.Compare(p.Token, target) >= 0 {
					want = j
					break
				}
			}
			sc, err := r.Scan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.SeekToken(ctx, target); err != nil {
				t.Fatal(err)
			}
			got := -1
			if sc.NextPartition() {
				for j, p := range parts {
					if string(p.Key) == string(sc.Partition().Key) {
						got = j
					}
				}
			} else {
				got = len(parts)
			}
			if sc.Err() != nil {
				t.Fatal(sc.Err())
			}
			sc.Close()
			if got != want {
				t.Fatalf("seek to %v: partition %d, want %d", target, got, want)
			}
		}
	}
}

func TestLargeSubsetAndCounters(t *testing.T) {
	// 70 regular columns exercise the ≥64-column subset encoding.
	s := &Schema{Table: "wide", PartitionKey: []ColumnDef{{"k", cql.Simple(cql.KindInt)}}}
	for i := 0; i < 70; i++ {
		s.Regular = append(s.Regular, ColumnDef{fmt.Sprintf("c%02d", i), cql.Simple(cql.KindInt)})
	}
	b, _ := NewBuilder(s)
	for k := 0; k < 4; k++ {
		r := b.Partition(k).Row()
		for i := 0; i < 70; i++ {
			if (k == 1 && i%3 == 0) || (k == 2 && i%3 != 0) || k == 3 {
				r.Set(fmt.Sprintf("c%02d", i), i, 1000, 0)
			}
		}
	}
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	diffLines(t, canonRead(t, dir), canonBuilt(b.Partitions(nil)))

	cs := &Schema{Table: "ctr", PartitionKey: []ColumnDef{{"k", cql.Simple(cql.KindText)}}, Regular: []ColumnDef{{"n", cql.Simple(cql.KindCounter)}}}
	cb, _ := NewBuilder(cs)
	cb.Partition("a").Row().Set("n", 41, 10, 0)
	cb.Partition("b").Row().Set("n", -3, 10, 0)
	dir = t.TempDir()
	if _, err := cb.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenPath(context.Background(), dir, nil)
	sc, _ := r.Scan(context.Background())
	defer sc.Close()
	totals := map[string]int64{}
	for sc.NextPartition() {
		for sc.Next() {
			v, err := cql.CounterTotal(sc.Unfiltered().Row.Columns[0].Cells[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			totals[string(sc.Partition().Key)] = v
		}
	}
	if totals["a"] != 41 || totals["b"] != -3 {
		t.Fatalf("counter totals %v", totals)
	}
}

func TestWriterFilesAndStats(t *testing.T) {
	b, _ := NewBuilder(richSchema(t))
	richData(t, b)
	dir := t.TempDir()
	files, err := b.WriteTo(dir, &WriterOptions{Version: "oa", Partitioner: token.ByteOrderedPartitioner{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{ComponentData, ComponentIndex, ComponentSummary, ComponentFilter, ComponentStatistics, ComponentCompressionInfo, ComponentDigest, ComponentTOC} {
		if _, err := os.Stat(filepath.Join(dir, "oa-1-big-"+c)); err != nil {
			t.Fatalf("missing %s (wrote %v)", c, files)
		}
	}
	r, err := OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := r.Statistics()
	if st.Partitioner != token.ByteOrderedClass || st.EstimatedPartitions() != int64(len(b.Partitions(token.ByteOrderedPartitioner{}))) {
		t.Fatalf("partitioner %s, estimated partitions %d", st.Partitioner, st.EstimatedPartitions())
	}
	if st.MinTimestamp != 1_700_000_000_000_000-1 || st.MaxTimestamp < st.MinTimestamp || !st.HasPartitionLevelDels || st.MaxTTL != 3600 {
		t.Fatalf("stats: min ts %d max ts %d partition deletions %v max ttl %d", st.MinTimestamp, st.MaxTimestamp, st.HasPartitionLevelDels, st.MaxTTL)
	}
	if string(st.FirstKey) != string(b.Partitions(token.ByteOrderedPartitioner{})[0].Key) {
		t.Fatalf("first key %x", st.FirstKey)
	}
	h := r.Header()
	if h.KeyType.Kind != cql.KindComposite || len(h.ClusteringTypes) != 2 || !h.ClusteringTypes[1].Reversed || h.Column("a") == nil || !h.Column("a").Complex() {
		t.Fatalf("header %+v", h)
	}
}
