package cluster

import (
	"bytes"
	"cmp"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/cassmove/shadow/engine/cql"
)

// Values are Go values in the representation cql.Decode returns (see the
// engine/cql package doc), so that the truth and the engine's decoded rows
// speak the same language. The generator draws them here and serializes
// them with cql.Encode for the SSTables; the truth keeps the Go values.

var words = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
	"kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
	"uniform", "victor", "whiskey", "xray", "yankee", "zulu", "été", "Ωmega", "naïve", "",
}

// genValue draws a value of type t. Values stay small; text may be empty
// (which is not null) and may hold non-ASCII characters.
func genValue(r *rand.Rand, t *cql.Type) any {
	switch t.Kind {
	case cql.KindText:
		n := r.IntN(3)
		var parts []string
		for range n + 1 {
			parts = append(parts, words[r.IntN(len(words))])
		}
		return strings.Join(parts, " ")
	case cql.KindAscii:
		b := make([]byte, 1+r.IntN(10))
		for i := range b {
			b[i] = 'a' + byte(r.IntN(26))
		}
		return string(b)
	case cql.KindInt:
		return int32(r.Uint32())
	case cql.KindBigint:
		if r.IntN(4) == 0 {
			return int64(r.IntN(100)) - 50
		}
		return int64(r.Uint64())
	case cql.KindSmallint:
		return int16(r.Uint32())
	case cql.KindTinyint:
		return int8(r.Uint32())
	case cql.KindBlob:
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case cql.KindBoolean:
		return r.IntN(2) == 1
	case cql.KindDouble:
		if r.IntN(8) == 0 {
			return float64(r.IntN(5)) // small integers, 0 included
		}
		return (r.Float64() - 0.5) * 1e6
	case cql.KindFloat:
		return float32((r.Float64() - 0.5) * 1e4)
	case cql.KindTimestamp:
		// 2000-01-01 .. 2030-01-01, millisecond precision
		return cql.Timestamp(946684800000 + r.Int64N(946771200000))
	case cql.KindDate:
		return cql.Date(cql.DateEpoch + 10957 + r.IntN(11000))
	case cql.KindTime:
		// whole microseconds, so that µs and ns representations agree
		return cql.Time(r.Int64N(86400_000_000) * 1000)
	case cql.KindUUID:
		var u cql.UUID
		fill(r, u[:])
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		return u
	case cql.KindTimeuuid:
		ts := uint64(0x01B21DD213814000) + uint64(1735689600+r.Int64N(86400*365))*10_000_000 + r.Uint64N(10_000_000)
		return timeUUID(ts, r.Uint64())
	case cql.KindInet:
		var a [4]byte
		fill(r, a[:])
		a[0] = 10 + byte(r.IntN(200))
		return netip.AddrFrom4(a)
	case cql.KindDecimal:
		return cql.Decimal{Unscaled: big.NewInt(r.Int64N(2_000_000) - 1_000_000), Scale: int32(r.IntN(5))}
	case cql.KindVarint:
		return big.NewInt(r.Int64() - r.Int64())
	case cql.KindDuration:
		return cql.Duration{Months: int32(r.IntN(13)), Days: int32(r.IntN(31)), Nanos: r.Int64N(86400) * 1_000_000_000}
	case cql.KindTuple, cql.KindUDT:
		out := make([]any, len(t.Elems))
		for i, e := range t.Elems {
			if r.IntN(6) > 0 { // some fields stay null
				out[i] = genValue(r, e)
			}
		}
		return out
	}
	panic(fmt.Sprintf("cluster: no generator for %s", t.CQL()))
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// timeUUID builds a version 1 UUID from a 60-bit count of 100 ns since
// 1582-10-15 and clock-sequence/node bits.
func timeUUID(t uint64, node uint64) cql.UUID {
	var u cql.UUID
	u[0], u[1], u[2], u[3] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
	u[4], u[5] = byte(t>>40), byte(t>>32)
	u[6], u[7] = byte(t>>56)&0x0f|0x10, byte(t>>48)
	for i := 8; i < 16; i++ {
		u[i] = byte(node >> (8 * (15 - i)))
	}
	u[8] = u[8]&0x3f | 0x80
	return u
}

// compareGo orders two values of an ordered type (see orderedType) the
// way Cassandra's comparator for that type does: signed integers and
// timestamps, unsigned dates, text and blobs as unsigned bytes.
func compareGo(t *cql.Type, a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int8:
		return cmp.Compare(x, b.(int8))
	case int16:
		return cmp.Compare(x, b.(int16))
	case int32:
		return cmp.Compare(x, b.(int32))
	case int64:
		return cmp.Compare(x, b.(int64))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case cql.Timestamp:
		return cmp.Compare(x, b.(cql.Timestamp))
	case cql.Date:
		return cmp.Compare(x, b.(cql.Date))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	panic(fmt.Sprintf("cluster: no order for %T (%s)", a, t.CQL()))
}

// compareClustering orders two clustering prefixes component by
// component (DESC columns reversed); a shorter prefix that matches is
// equal here, and bounds decide the rest.
func compareClustering(cols []*column, a, b []any) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		c := compareGo(cols[i].t, a[i], b[i])
		if cols[i].desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// covers reports whether the range [start, end] (bounds per their incl
// flags) holds the clustering ck.
func covers(cols []*column, rt rangeTomb, ck []any) bool {
	if len(rt.start.vals) > 0 {
		c := compareClustering(cols, ck, rt.start.vals)
		if c < 0 || (c == 0 && !rt.start.incl) {
			return false
		}
	}
	if len(rt.end.vals) > 0 {
		c := compareClustering(cols, ck, rt.end.vals)
		if c > 0 || (c == 0 && !rt.end.incl) {
			return false
		}
	}
	return true
}

// encode serializes a value; the generator only builds valid values.
func encode(t *cql.Type, v any) []byte {
	b, err := cql.Encode(t, v)
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding %v as %s: %v", v, t.CQL(), err))
	}
	return b
}

// cloneValue deep-copies a value so that callers cannot alter the truth.
func cloneValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return bytes.Clone(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case []cql.MapEntry:
		out := make([]cql.MapEntry, len(x))
		for i, e := range x {
			out[i] = cql.MapEntry{Key: cloneValue(e.Key), Value: cloneValue(e.Value)}
		}
		return out
	case *big.Int:
		return new(big.Int).Set(x)
	case cql.Decimal:
		return cql.Decimal{Unscaled: new(big.Int).Set(x.Unscaled), Scale: x.Scale}
	}
	return v
}
