package cql

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Timestamp is a CQL timestamp: milliseconds since the Unix epoch.
type Timestamp int64

// Time returns the timestamp as a UTC time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t)).UTC() }

// Date is a CQL date: days since the Unix epoch plus 2^31, as stored.
type Date uint32

// DateEpoch is the stored value of 1970-01-01.
const DateEpoch = 1 << 31

// DateOf returns the date of t's UTC calendar day.
func DateOf(t time.Time) Date {
	days := int64(math.Floor(float64(t.UTC().Unix()) / 86400))
	return Date(days + DateEpoch)
}

// Days returns the number of days since 1970-01-01.
func (d Date) Days() int64 { return int64(d) - DateEpoch }

// Time returns midnight UTC of the date.
func (d Date) Time() time.Time { return time.Unix(d.Days()*86400, 0).UTC() }

// Time is a CQL time of day: nanoseconds since midnight.
type Time int64

// Duration is a CQL duration.
type Duration struct {
	Months, Days int32
	Nanos        int64
}

// Decimal is a CQL decimal: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// UUID is a uuid or timeuuid.
type UUID [16]byte

// MapEntry is one entry of a map value.
type MapEntry struct{ Key, Value any }

// EmptyValue is the value of zero bytes stored for a type whose values are
// otherwise never empty (Cassandra allows it, e.g. an int set to 0x).
type EmptyValue struct{}

func (u UUID) String() string {
	const hexd = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hexd[c>>4], hexd[c&15]
		j += 2
	}
	return string(b[:])
}

// ParseUUID reads the 8-4-4-4-12 hex form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return u, fmt.Errorf("%w: uuid %q", ErrBadValue, s)
	}
	for i := 0; i < 16; i++ {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, fmt.Errorf("%w: uuid %q", ErrBadValue, s)
		}
		u[i] = byte(v)
	}
	return u, nil
}

func badValue(t *Type, b []byte, want string) error {
	return fmt.Errorf("%w: %s value of %d bytes: want %s", ErrBadValue, t.CQL(), len(b), want)
}

// Decode converts the serialized bytes of a value of type t to its Go value
// (see the package doc). A nil slice is CQL null and decodes to nil.
func Decode(t *Type, b []byte) (any, error) {
	return decode(t, b, 0)
}

func decode(t *Type, b []byte, depth int) (any, error) {
	if b == nil {
		return nil, nil
	}
	if depth > maxDepth {
		return nil, badValue(t, b, "less nesting")
	}
	if len(b) == 0 {
		switch t.Kind {
		case KindAscii, KindText:
			return "", nil
		case KindBlob:
			return []byte{}, nil
		case KindEmpty:
			return EmptyValue{}, nil
		}
		return EmptyValue{}, nil
	}
	fixed := func(n int) error {
		if len(b) != n {
			return badValue(t, b, strconv.Itoa(n)+" bytes")
		}
		return nil
	}
	switch t.Kind {
	case KindAscii:
		for _, c := range b {
			if c >= 0x80 {
				return nil, badValue(t, b, "US-ASCII")
			}
		}
		return string(b), nil
	case KindText:
		if !utf8.Valid(b) {
			return nil, badValue(t, b, "UTF-8")
		}
		return string(b), nil
	case KindBlob, KindEmpty:
		return slices.Clone(b), nil
	case KindBigint, KindCounter:
		if t.Kind == KindCounter && len(b) != 8 {
			return CounterTotal(b)
		}
		if err := fixed(8); err != nil {
			return nil, err
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case KindTimestamp:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return Timestamp(int64(binary.BigEndian.Uint64(b))), nil
	case KindInt:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return int32(binary.BigEndian.Uint32(b)), nil
	case KindSmallint:
		if err := fixed(2); err != nil {
			return nil, err
		}
		return int16(binary.BigEndian.Uint16(b)), nil
	case KindTinyint:
		if err := fixed(1); err != nil {
			return nil, err
		}
		return int8(b[0]), nil
	case KindBoolean:
		if err := fixed(1); err != nil {
			return nil, err
		}
		return b[0] != 0, nil
	case KindFloat:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
	case KindDouble:
		if err := fixed(8); err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case KindDate:
		if err := fixed(4); err != nil {
			return nil, err
		}
		return Date(binary.BigEndian.Uint32(b)), nil
	case KindTime:
		if err := fixed(8); err != nil {
			return nil, err
		}
		v := int64(binary.BigEndian.Uint64(b))
		if v < 0 || v >= 86400*1e9 {
			return nil, badValue(t, b, "nanoseconds within a day")
		}
		return Time(v), nil
	case KindUUID, KindTimeuuid, KindLexicalUUID:
		if err := fixed(16); err != nil {
			return nil, err
		}
		var u UUID
		copy(u[:], b)
		return u, nil
	case KindVarint:
		return decodeVarint(b), nil
	case KindDecimal:
		if len(b) < 4 {
			return nil, badValue(t, b, "at least 4 bytes")
		}
		return Decimal{Unscaled: decodeVarint(b[4:]), Scale: int32(binary.BigEndian.Uint32(b))}, nil
	case KindDuration:
		m, n1 := Varint(b)
		if n1 == 0 {
			return nil, badValue(t, b, "three vints")
		}
		d, n2 := Varint(b[n1:])
		if n2 == 0 {
			return nil, badValue(t, b, "three vints")
		}
		ns, n3 := Varint(b[n1+n2:])
		if n3 == 0 || n1+n2+n3 != len(b) || m != int64(int32(m)) || d != int64(int32(d)) {
			return nil, badValue(t, b, "three vints (months, days, nanoseconds)")
		}
		return Duration{Months: int32(m), Days: int32(d), Nanos: ns}, nil
	case KindInet:
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return nil, badValue(t, b, "4 or 16 bytes")
		}
		return a, nil
	case KindList, KindSet:
		elems, err := SplitCollection(b)
		if err != nil {
			return nil, badValue(t, b, "a serialized "+t.Kind.String())
		}
		return decodeElems(t, elems, depth)
	case KindMap:
		elems, err := SplitCollection(b)
		if err != nil || len(elems)%2 != 0 {
			return nil, badValue(t, b, "a serialized map")
		}
		out := make([]MapEntry, len(elems)/2)
		for i := range out {
			k, err := decode(t.Elems[0], elems[2*i], depth+1)
			if err != nil {
				return nil, err
			}
			v, err := decode(t.Elems[1], elems[2*i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = MapEntry{k, v}
		}
		return out, nil
	case KindTuple, KindUDT:
		fields, err := SplitTuple(b, len(t.Elems))
		if err != nil {
			return nil, badValue(t, b, "a serialized "+t.Kind.String())
		}
		return decodeElems(t, fields, depth)
	case KindVector:
		elems, err := SplitVector(t, b)
		if err != nil {
			return nil, err
		}
		return decodeElems(t, elems, depth)
	case KindComposite:
		comps, err := SplitComposite(b)
		if err != nil || len(comps) > len(t.Elems) {
			return nil, badValue(t, b, "a serialized composite")
		}
		return decodeElems(t, comps, depth)
	}
	return nil, fmt.Errorf("%w: cannot decode %s", ErrBadType, t)
}

// decodeElems decodes the elements of a list, set or vector, all of type
// t.Elems[0], or the fields of a tuple, UDT or composite, field i of type
// t.Elems[i].
func decodeElems(t *Type, elems [][]byte, depth int) ([]any, error) {
	same := t.Kind == KindList || t.Kind == KindSet || t.Kind == KindVector
	out := make([]any, len(elems))
	for i, e := range elems {
		et := t.Elems[0]
		if !same {
			et = t.Elems[i]
		}
		var err error
		if out[i], err = decode(et, e, depth+1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeVarint(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// SplitCollection splits a frozen list, set or map (protocol v3 layout:
// int32 count, then int32 length + bytes per element; a map has 2 per entry).
func SplitCollection(b []byte) ([][]byte, error) {
	if len(b) < 4 {
		return nil, ErrBadValue
	}
	n := int(int32(binary.BigEndian.Uint32(b)))
	b = b[4:]
	// Maps have 2n values; each takes at least 4 bytes.
	if n < 0 || n > len(b)/4 {
		return nil, ErrBadValue
	}
	out, err := splitInt32Fields(make([][]byte, 0, n), b, 2*n)
	if err != nil || (len(out) != n && len(out) != 2*n) {
		return nil, ErrBadValue
	}
	return out, nil
}

// SplitTuple splits a tuple or UDT value into at most n fields (int32 length
// per field, -1 = null); missing trailing fields are null.
func SplitTuple(b []byte, n int) ([][]byte, error) {
	out, err := splitInt32Fields(make([][]byte, 0, n), b, n)
	if err != nil {
		return nil, err
	}
	for len(out) < n {
		out = append(out, nil)
	}
	return out, nil
}

// splitInt32Fields appends to out every field of b, each an int32 length
// (negative = null, appended as nil) and that many bytes. More
// than limit fields, or a field cut short, is ErrBadValue.
func splitInt32Fields(out [][]byte, b []byte, limit int) ([][]byte, error) {
	for len(b) > 0 {
		if len(out) == limit || len(b) < 4 {
			return nil, ErrBadValue
		}
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 {
			out = append(out, nil)
			continue
		}
		if l > len(b) {
			return nil, ErrBadValue
		}
		out = append(out, b[:l:l])
		b = b[l:]
	}
	return out, nil
}

// SplitVector splits a vector value: fixed-length elements back to back, or
// each variable-length element with an unsigned vint length.
func SplitVector(t *Type, b []byte) ([][]byte, error) {
	out := make([][]byte, 0, min(t.Dim, len(b)+1))
	if fl := t.Elems[0].FixedLen(); fl >= 0 {
		if len(b) != fl*t.Dim {
			return nil, badValue(t, b, strconv.Itoa(fl*t.Dim)+" bytes")
		}
		for i := 0; i < t.Dim; i++ {
			out = append(out, b[i*fl:(i+1)*fl:(i+1)*fl])
		}
		return out, nil
	}
	for i := 0; i < t.Dim; i++ {
		l, n := Uvarint(b)
		if n == 0 || l > uint64(len(b)-n) {
			return nil, badValue(t, b, "vint-length elements")
		}
		out = append(out, b[n:n+int(l):n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return nil, badValue(t, b, strconv.Itoa(t.Dim)+" elements")
	}
	return out, nil
}

// SplitComposite splits a CompositeType value: per component a uint16 length,
// the bytes and an end-of-component byte.
func SplitComposite(b []byte) ([][]byte, error) {
	var out [][]byte
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0xff { // static composite marker
		b = b[2:]
	}
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, ErrBadValue
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 3+l {
			return nil, ErrBadValue
		}
		out = append(out, b[2:2+l:2+l])
		b = b[3+l:]
	}
	return out, nil
}

// CounterTotal sums the shards of a counter context: int16 header count,
// that many int16 indexes, then shards of (16-byte counter id, int64 clock,
// int64 count).
func CounterTotal(b []byte) (int64, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: counter context of %d bytes", ErrBadValue, len(b))
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	if n < 0 {
		n = -n
	}
	body := 2 + 2*n
	if body > len(b) || (len(b)-body)%32 != 0 {
		return 0, fmt.Errorf("%w: counter context of %d bytes with %d headers: want 2+2×headers+32×shards bytes", ErrBadValue, len(b), n)
	}
	var total int64
	for i := body; i < len(b); i += 32 {
		total += int64(binary.BigEndian.Uint64(b[i+24:]))
	}
	return total, nil
}

// Encode serializes a Go value as type t. Besides the types Decode returns it
// accepts the obvious conveniences: any Go integer for integer types (range
// checked), string or []byte for text and blob, time.Time for timestamp and
// date, time.Duration for time and duration, string for uuid, inet, decimal
// and varint, net.IP, Go slices for lists, sets and vectors, Go maps for maps,
// and map[string]any for UDTs. nil encodes as null (a nil slice). A counter
// encodes as its 8-byte total; SSTable writers wrap it in a counter context.
func Encode(t *Type, v any) ([]byte, error) {
	return AppendValue(nil, t, v)
}

func encErr(t *Type, v any) error {
	return fmt.Errorf("%w: cannot encode %T %v as %s", ErrBadValue, v, v, t.CQL())
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case Timestamp:
		return int64(x), true
	case Time:
		return int64(x), true
	}
	return 0, false
}

func appendVarint(dst []byte, v *big.Int) []byte {
	if v.Sign() >= 0 {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			dst = append(dst, 0)
		}
		return append(dst, b...)
	}
	// two's complement of a negative number in the minimal byte count
	n := (v.BitLen() + 8) / 8
	m := new(big.Int).Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	b := m.FillBytes(make([]byte, n))
	for len(b) > 1 && b[0] == 0xff && b[1]&0x80 != 0 {
		b = b[1:]
	}
	return append(dst, b...)
}

// AppendValue appends the serialization of v (see Encode). A nil v appends
// nothing and reports it by returning dst unchanged and a nil error; use
// Encode to tell null (nil result) from empty.
func AppendValue(dst []byte, t *Type, v any) ([]byte, error) {
	return appendValue(dst, t, v, 0)
}

func appendValue(dst []byte, t *Type, v any, depth int) ([]byte, error) {
	if v == nil {
		return dst, nil
	}
	if depth > maxDepth {
		return nil, encErr(t, v)
	}
	if _, ok := v.(EmptyValue); ok {
		if dst == nil {
			dst = []byte{}
		}
		return dst, nil
	}
	if dst == nil {
		dst = make([]byte, 0, 16)
	}
	intIn := func(lo, hi int64) (int64, error) {
		i, ok := toInt64(v)
		if !ok || i < lo || i > hi {
			return 0, encErr(t, v)
		}
		return i, nil
	}
	switch t.Kind {
	case KindAscii, KindText:
		switch x := v.(type) {
		case string:
			return append(dst, x...), nil
		case []byte:
			return append(dst, x...), nil
		}
	case KindBlob, KindEmpty, KindLexicalUUID:
		switch x := v.(type) {
		case []byte:
			return append(dst, x...), nil
		case string:
			return append(dst, x...), nil
		case UUID:
			return append(dst, x[:]...), nil
		}
	case KindBigint, KindCounter, KindTimestamp:
		if tm, ok := v.(time.Time); ok && t.Kind == KindTimestamp {
			return binary.BigEndian.AppendUint64(dst, uint64(tm.UnixMilli())), nil
		}
		i, err := intIn(math.MinInt64, math.MaxInt64)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint64(dst, uint64(i)), nil
	case KindInt:
		i, err := intIn(math.MinInt32, math.MaxInt32)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint32(dst, uint32(i)), nil
	case KindSmallint:
		i, err := intIn(math.MinInt16, math.MaxInt16)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint16(dst, uint16(i)), nil
	case KindTinyint:
		i, err := intIn(math.MinInt8, math.MaxInt8)
		if err != nil {
			return nil, err
		}
		return append(dst, byte(i)), nil
	case KindBoolean:
		if b, ok := v.(bool); ok {
			if b {
				return append(dst, 1), nil
			}
			return append(dst, 0), nil
		}
	case KindFloat:
		switch x := v.(type) {
		case float32:
			return binary.BigEndian.AppendUint32(dst, math.Float32bits(x)), nil
		case float64:
			return binary.BigEndian.AppendUint32(dst, math.Float32bits(float32(x))), nil
		}
	case KindDouble:
		switch x := v.(type) {
		case float64:
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(x)), nil
		case float32:
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(float64(x))), nil
		}
	case KindDate:
		switch x := v.(type) {
		case Date:
			return binary.BigEndian.AppendUint32(dst, uint32(x)), nil
		case time.Time:
			return binary.BigEndian.AppendUint32(dst, uint32(DateOf(x))), nil
		}
	case KindTime:
		var ns int64
		switch x := v.(type) {
		case Time:
			ns = int64(x)
		case time.Duration:
			ns = int64(x)
		default:
			return nil, encErr(t, v)
		}
		if ns < 0 || ns >= 86400*1e9 {
			return nil, encErr(t, v)
		}
		return binary.BigEndian.AppendUint64(dst, uint64(ns)), nil
	case KindUUID, KindTimeuuid:
		switch x := v.(type) {
		case UUID:
			return append(dst, x[:]...), nil
		case [16]byte:
			return append(dst, x[:]...), nil
		case string:
			u, err := ParseUUID(x)
			if err != nil {
				return nil, err
			}
			return append(dst, u[:]...), nil
		}
	case KindVarint:
		switch x := v.(type) {
		case *big.Int:
			return appendVarint(dst, x), nil
		case string:
			b, ok := new(big.Int).SetString(x, 10)
			if !ok {
				return nil, encErr(t, v)
			}
			return appendVarint(dst, b), nil
		default:
			if i, ok := toInt64(v); ok {
				return appendVarint(dst, big.NewInt(i)), nil
			}
		}
	case KindDecimal:
		var d Decimal
		switch x := v.(type) {
		case Decimal:
			d = x
		case string:
			var err error
			if d, err = ParseDecimal(x); err != nil {
				return nil, err
			}
		default:
			return nil, encErr(t, v)
		}
		if d.Unscaled == nil {
			d.Unscaled = new(big.Int)
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(d.Scale))
		return appendVarint(dst, d.Unscaled), nil
	case KindDuration:
		var d Duration
		switch x := v.(type) {
		case Duration:
			d = x
		case time.Duration:
			d = Duration{Nanos: int64(x)}
		default:
			return nil, encErr(t, v)
		}
		dst = AppendVarint(dst, int64(d.Months))
		dst = AppendVarint(dst, int64(d.Days))
		return AppendVarint(dst, d.Nanos), nil
	case KindInet:
		switch x := v.(type) {
		case netip.Addr:
			return append(dst, x.AsSlice()...), nil
		case net.IP:
			if x4 := x.To4(); x4 != nil {
				return append(dst, x4...), nil
			}
			if len(x) == 16 {
				return append(dst, x...), nil
			}
		case string:
			a, err := netip.ParseAddr(x)
			if err != nil {
				return nil, encErr(t, v)
			}
			return append(dst, a.AsSlice()...), nil
		}
	case KindList, KindSet, KindVector:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, encErr(t, v)
		}
		elems := make([][]byte, rv.Len())
		for i := range elems {
			e, err := Encode(t.Elems[0], rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			if e == nil {
				return nil, fmt.Errorf("%w: null element in %s", ErrBadValue, t.CQL())
			}
			elems[i] = e
		}
		if t.Kind == KindVector {
			if len(elems) != t.Dim {
				return nil, fmt.Errorf("%w: %d elements for %s", ErrBadValue, len(elems), t.CQL())
			}
			fixed := t.Elems[0].FixedLen() >= 0
			for _, e := range elems {
				if !fixed {
					dst = AppendUvarint(dst, uint64(len(e)))
				}
				dst = append(dst, e...)
			}
			return dst, nil
		}
		if t.Kind == KindSet {
			elems = SortUnique(t.Elems[0], elems)
		}
		return AppendCollection(dst, elems, len(elems)), nil
	case KindMap:
		var keys, vals [][]byte
		add := func(key, val any) error {
			k, err := Encode(t.Elems[0], key)
			if err != nil {
				return err
			}
			x, err := Encode(t.Elems[1], val)
			if err != nil {
				return err
			}
			keys, vals = append(keys, k), append(vals, x)
			return nil
		}
		if es, ok := v.([]MapEntry); ok {
			for _, e := range es {
				if err := add(e.Key, e.Value); err != nil {
					return nil, err
				}
			}
		} else {
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Map {
				return nil, encErr(t, v)
			}
			it := rv.MapRange()
			for it.Next() {
				if err := add(it.Key().Interface(), it.Value().Interface()); err != nil {
					return nil, err
				}
			}
		}
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return Compare(t.Elems[0], keys[a], keys[b]) })
		flat := make([][]byte, 0, 2*len(keys))
		for i, j := range idx {
			if i > 0 && Compare(t.Elems[0], keys[idx[i-1]], keys[j]) == 0 {
				flat[len(flat)-1] = vals[j] // last write wins
				continue
			}
			flat = append(flat, keys[j], vals[j])
		}
		return AppendCollection(dst, flat, len(flat)/2), nil
	case KindTuple, KindUDT:
		fields := make([]any, len(t.Elems))
		switch x := v.(type) {
		case []any:
			if len(x) > len(t.Elems) {
				return nil, encErr(t, v)
			}
			copy(fields, x)
		case map[string]any:
			if t.Kind != KindUDT {
				return nil, encErr(t, v)
			}
			for name, fv := range x {
				i := slices.Index(t.Fields, name)
				if i < 0 {
					return nil, fmt.Errorf("%w: %s has no field %q", ErrBadValue, t.CQL(), name)
				}
				fields[i] = fv
			}
		default:
			return nil, encErr(t, v)
		}
		for i, f := range fields {
			e, err := Encode(t.Elems[i], f)
			if err != nil {
				return nil, err
			}
			if e == nil {
				dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)
				continue
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(e)))
			dst = append(dst, e...)
		}
		return dst, nil
	case KindComposite:
		x, ok := v.([]any)
		if !ok || len(x) != len(t.Elems) {
			return nil, encErr(t, v)
		}
		for i, f := range x {
			e, err := Encode(t.Elems[i], f)
			if err != nil {
				return nil, err
			}
			if len(e) > math.MaxUint16 {
				return nil, encErr(t, v)
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(e)))
			dst = append(dst, e...)
			dst = append(dst, 0)
		}
		return dst, nil
	}
	return nil, encErr(t, v)
}

// AppendCollection appends a frozen collection: int32 n, then int32 length +
// bytes per element (n counts entries; maps pass 2n elements).
func AppendCollection(dst []byte, elems [][]byte, n int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	for _, e := range elems {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(e)))
		dst = append(dst, e...)
	}
	return dst
}

// SortUnique sorts serialized values by t's order and drops duplicates.
func SortUnique(t *Type, vs [][]byte) [][]byte {
	slices.SortStableFunc(vs, func(a, b []byte) int { return Compare(t, a, b) })
	return slices.CompactFunc(vs, func(a, b []byte) bool { return Compare(t, a, b) == 0 })
}

// ParseDecimal reads a decimal such as "-12.340" or "1E-3".
func ParseDecimal(s string) (Decimal, error) {
	bad := fmt.Errorf("%w: decimal %q", ErrBadValue, s)
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil {
			return Decimal{}, bad
		}
		mant, exp = s[:i], e
	}
	scale := int64(0)
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		scale = int64(len(mant) - i - 1)
		mant = mant[:i] + mant[i+1:]
	}
	u, ok := new(big.Int).SetString(mant, 10)
	if !ok {
		return Decimal{}, bad
	}
	scale -= exp
	if scale != int64(int32(scale)) {
		return Decimal{}, bad
	}
	return Decimal{Unscaled: u, Scale: int32(scale)}, nil
}

// String renders the decimal like Java's BigDecimal.toString: plain
// notation unless the exponent is large, then scientific (1.23E+10).
func (d Decimal) String() string {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	digits := new(big.Int).Abs(u).String()
	sign := ""
	if u.Sign() < 0 {
		sign = "-"
	}
	scale := int64(d.Scale)
	adjusted := -scale + int64(len(digits)-1)
	if scale >= 0 && adjusted >= -6 {
		switch {
		case scale == 0:
			return sign + digits
		case int64(len(digits)) > scale:
			return sign + digits[:int64(len(digits))-scale] + "." + digits[int64(len(digits))-scale:]
		default:
			return sign + "0." + strings.Repeat("0", int(scale-int64(len(digits)))) + digits
		}
	}
	s := digits[:1]
	if len(digits) > 1 {
		s += "." + digits[1:]
	}
	e := strconv.FormatInt(adjusted, 10)
	if adjusted >= 0 {
		e = "+" + e
	}
	return sign + s + "E" + e
}
