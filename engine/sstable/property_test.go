package sstable

import (
	"fmt"
	"math/big"
	"math/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

var simpleKinds = []cql.Kind{cql.KindAscii, cql.KindBigint, cql.KindBlob, cql.KindBoolean, cql.KindDate, cql.KindDecimal,
	cql.KindDouble, cql.KindDuration, cql.KindFloat, cql.KindInet, cql.KindInt, cql.KindSmallint, cql.KindText,
	cql.KindTime, cql.KindTimestamp, cql.KindTimeuuid, cql.KindTinyint, cql.KindUUID, cql.KindVarint}

// keyKinds can be partition keys and clustering columns (no duration).
var keyKinds = []cql.Kind{cql.KindAscii, cql.KindBigint, cql.KindBlob, cql.KindBoolean, cql.KindDate, cql.KindDecimal,
	cql.KindDouble, cql.KindFloat, cql.KindInet, cql.KindInt, cql.KindSmallint, cql.KindText,
	cql.KindTime, cql.KindTimestamp, cql.KindTimeuuid, cql.KindTinyint, cql.KindUUID, cql.KindVarint}

func randSimple(r *rand.Rand, kinds []cql.Kind) *cql.Type {
	return cql.Simple(kinds[r.Intn(len(kinds))])
}

func randColumnType(r *rand.Rand, n int) *cql.Type {
	e := func() *cql.Type { return randSimple(r, keyKinds) }
	switch r.Intn(10) {
	case 0:
		return cql.ListOf(e())
	case 1:
		return cql.SetOf(e())
	case 2:
		return cql.MapOf(e(), e())
	case 3:
		return cql.ListOf(e()).Freeze()
	case 4:
		return cql.TupleOf(e(), randSimple(r, simpleKinds))
	case 5:
		return cql.UDTOf("ks", fmt.Sprintf("u%d", n), []string{"f1", "f2", "f3"}, []*cql.Type{e(), randSimple(r, simpleKinds), cql.SetOf(e())})
	case 6:
		return cql.MapOf(e(), cql.ListOf(e())).Freeze()
	default:
		return randSimple(r, simpleKinds)
	}
}

func randValue(r *rand.Rand, t *cql.Type) any {
	switch t.Kind {
	case cql.KindAscii:
		return fmt.Sprintf("a%d", r.Intn(50))
	case cql.KindText:
		return []string{"", "é", "text", "日本", "x y"}[r.Intn(5)] + fmt.Sprint(r.Intn(20))
	case cql.KindBigint, cql.KindCounter:
		return r.Int63() - r.Int63()
	case cql.KindBlob:
		b := make([]byte, r.Intn(6))
		r.Read(b)
		return b
	case cql.KindBoolean:
		return r.Intn(2) == 0
	case cql.KindDate:
		return cql.Date(cql.DateEpoch + uint32(r.Intn(40000)) - 20000)
	case cql.KindDecimal:
		return cql.Decimal{Unscaled: big.NewInt(r.Int63n(1e6) - 5e5), Scale: int32(r.Intn(6))}
	case cql.KindDouble:
		return r.NormFloat64() * 1e6
	case cql.KindFloat:
		return float32(r.NormFloat64())
	case cql.KindDuration:
		return cql.Duration{Months: int32(r.Intn(20)), Days: int32(r.Intn(40)), Nanos: r.Int63n(1e12)}
	case cql.KindInet:
		if r.Intn(2) == 0 {
			return netip.AddrFrom4([4]byte{10, byte(r.Intn(256)), 0, byte(r.Intn(256))})
		}
		var a [16]byte
		r.Read(a[:])
		return netip.AddrFrom16(a)
	case cql.KindInt:
		return int32(r.Uint32())
	case cql.KindSmallint:
		return int16(r.Intn(65536) - 32768)
	case cql.KindTinyint:
		return int8(r.Intn(256) - 128)
	case cql.KindTime:
		return cql.Time(r.Int63n(86400e9))
	case cql.KindTimestamp:
		return cql.Timestamp(r.Int63n(4e12) - 1e12)
	case cql.KindUUID, cql.KindTimeuuid:
		var u cql.UUID
		r.Read(u[:])
		u[6] = u[6]&0x0f | 0x10
		u[8] = u[8]&0x3f | 0x80
		return u
	case cql.KindVarint:
		return new(big.Int).Lsh(big.NewInt(r.Int63()-r.Int63()), uint(r.Intn(70)))
	case cql.KindList, cql.KindSet:
		n := r.Intn(4)
		out := make([]any, n)
		for i := range out {
			out[i] = randValue(r, t.Elems[0])
		}
		return out
	case cql.KindMap:
		n := r.Intn(4)
		out := make([]cql.MapEntry, n)
		for i := range out {
			out[i] = cql.MapEntry{Key: randValue(r, t.Elems[0]), Value: randValue(r, t.Elems[1])}
		}
		return out
	case cql.KindTuple, cql.KindUDT:
		out := make([]any, len(t.Elems))
		for i := range out {
			if r.Intn(4) > 0 {
				out[i] = randValue(r, t.Elems[i])
			}
		}
		return out
	}
	panic(t.CQL())
}

func randSchema(r *rand.Rand) *Schema {
	s := &Schema{Keyspace: "ks", Table: "t"}
	for i := 0; i < 1+r.Intn(2); i++ {
		s.PartitionKey = append(s.PartitionKey, ColumnDef{fmt.Sprintf("pk%d", i), randSimple(r, keyKinds)})
	}
	for i := 0; i < r.Intn(4); i++ {
		t := randSimple(r, keyKinds)
		if r.Intn(3) == 0 {
			t = t.Reverse()
		}
		s.Clustering = append(s.Clustering, ColumnDef{fmt.Sprintf("ck%d", i), t})
	}
	if len(s.Clustering) > 0 {
		for i := 0; i < r.Intn(3); i++ {
			s.Static = append(s.Static, ColumnDef{fmt.Sprintf("s%d", i), randColumnType(r, 100+i)})
		}
	}
	for i := 0; i < 1+r.Intn(8); i++ {
		s.Regular = append(s.Regular, ColumnDef{fmt.Sprintf("Col_%d", i), randColumnType(r, i)})
	}
	return s
}

func randOps(r *rand.Rand, s *Schema, b *Builder) {
	ts := func() int64 { return 1_600_000_000_000_000 + r.Int63n(1e12) }
	ttl := func() int32 {
		if r.Intn(4) == 0 {
			return int32(1 + r.Intn(100000))
		}
		return 0
	}
	keyVals := func(defs []ColumnDef, n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = randValue(r, defs[i].Type)
		}
		return out
	}
	for p := 0; p < 1+r.Intn(12); p++ {
		kv := keyVals(s.PartitionKey, len(s.PartitionKey))
		for k, err := s.EncodeKey(kv...); err != nil || len(k) == 0; k, err = s.EncodeKey(kv...) {
			kv = keyVals(s.PartitionKey, len(s.PartitionKey))
		}
		pb := b.Partition(kv...)
		if r.Intn(8) == 0 {
			pb.Delete(ts())
		}
		if len(s.Static) > 0 && r.Intn(2) == 0 {
			c := s.Static[r.Intn(len(s.Static))]
			pb.Static().Set(c.Name, randValue(r, c.Type), ts(), ttl())
		}
		for i := 0; i < r.Intn(15); i++ {
			rb := pb.Row(keyVals(s.Clustering, len(s.Clustering))...)
			switch r.Intn(10) {
			case 0:
				rb.Delete(ts())
			case 1:
				rb.Insert(ts(), ttl())
			}
			for _, c := range s.Regular {
				if r.Intn(3) == 0 {
					continue
				}
				switch {
				case r.Intn(10) == 0:
					rb.DeleteColumn(c.Name, ts())
				case c.Type.MultiCell() && c.Type.Kind == cql.KindList && r.Intn(2) == 0:
					rb.Append(c.Name, randValue(r, c.Type.Elems[0]), ts(), ttl())
				case c.Type.MultiCell() && c.Type.Kind == cql.KindSet && r.Intn(2) == 0:
					rb.Remove(c.Name, randValue(r, c.Type.Elems[0]), ts())
				case c.Type.MultiCell() && c.Type.Kind == cql.KindMap && r.Intn(2) == 0:
					rb.Put(c.Name, randValue(r, c.Type.Elems[0]), randValue(r, c.Type.Elems[1]), ts(), ttl())
				case c.Type.MultiCell() && c.Type.Kind == cql.KindUDT && r.Intn(2) == 0:
					rb.Put(c.Name, "f2", randValue(r, c.Type.Elems[1]), ts(), ttl())
				default:
					rb.Set(c.Name, randValue(r, c.Type), ts(), ttl())
				}
			}
		}
		if len(s.Clustering) > 0 {
			for i := 0; i < r.Intn(3); i++ {
				a := keyVals(s.Clustering, r.Intn(len(s.Clustering)+1))
				z := keyVals(s.Clustering, r.Intn(len(s.Clustering)+1))
				sb, _ := s.EncodeClustering(a...)
				eb, _ := s.EncodeClustering(z...)
				cmp := Comparator{Types: clusteringTypes(s)}
				sx, ex := r.Intn(2) == 0, r.Intn(2) == 0
				sk, ek := KindInclStartBound, KindInclEndBound
				if sx && len(sb) > 0 {
					sk = KindExclStartBound
				}
				if ex && len(eb) > 0 {
					ek = KindExclEndBound
				}
				if cmp.CompareBounds(Bound{sk, sb}, Bound{ek, eb}) >= 0 {
					continue
				}
				pb.DeleteRange(RangeBound{a, sx}, RangeBound{z, ex}, ts())
			}
		}
	}
}

func clusteringTypes(s *Schema) []*cql.Type {
	var out []*cql.Type
	for _, c := range s.Clustering {
		out = append(out, c.Type)
	}
	return out
}

// TestPropertyRoundTrip: for random schemas and writes, what the reader
// decodes equals what the Builder meant to write (its Partitions), for every
// version, compressor and partitioner.
func TestPropertyRoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	iterations := 60
	if testing.Short() {
		iterations = 15
	}
	comps := []string{LZ4, Snappy, Deflate, Zstd, Noop, None}
	parts := []token.Partitioner{token.Murmur3Partitioner{}, token.ByteOrderedPartitioner{}, token.RandomPartitioner{}}
	for i := 0; i < iterations; i++ {
		r := rand.New(rand.NewSource(seed + int64(i)))
		s := randSchema(r)
		b, err := NewBuilder(s)
		if err != nil {
			t.Fatal(err)
		}
		randOps(r, s, b)
		if err := b.Err(); err != nil {
			t.Fatalf("seed %d: %v", seed+int64(i), err)
		}
		opts := &WriterOptions{Version: []string{"nb", "oa"}[r.Intn(2)], Compression: comps[r.Intn(len(comps))],
			Partitioner: parts[r.Intn(len(parts))], ChunkLength: 1 << (6 + r.Intn(10)), ColumnIndexSize: 64 + r.Intn(4096)}
		dir := t.TempDir()
		if _, err := b.WriteTo(dir, opts); err != nil {
			t.Fatalf("seed %d (%s %s): %v", seed+int64(i), opts.Version, opts.Compression, err)
		}
		got, want := canonRead(t, dir), canonBuilt(b.Partitions(opts.Partitioner))
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d lines read, want %d", seed+int64(i), len(got), len(want))
		}
		for j := range got {
			if got[j] != want[j] {
				t.Fatalf("seed %d (%s %s %T) line %d:\n got %s\nwant %s", seed+int64(i), opts.Version, opts.Compression, opts.Partitioner, j, got[j], want[j])
			}
		}
	}
}
