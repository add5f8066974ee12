package diff

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// Value tags of the canonical encoding (see doc.go). A tag fixes how many
// bytes follow, or says where the length is, so a row can be split into its
// values without the schema.
const (
	tagNull      byte = 0x00
	tagFalse     byte = 0x01
	tagTrue      byte = 0x02
	tagInt       byte = 0x03 // int64, 8 bytes big-endian two's complement
	tagUint      byte = 0x04 // an unsigned value above MaxInt64, 8 bytes big-endian
	tagFloat     byte = 0x05 // float64 bits, 8 bytes big-endian
	tagDecimal   byte = 0x06 // int8 scale, uint8 n, n bytes big-endian two's complement unscaled value
	tagString    byte = 0x07 // uvarint n, n bytes
	tagBinary    byte = 0x08 // uvarint n, n bytes
	tagDate      byte = 0x09 // int32 days since 1970-01-01, 4 bytes big-endian
	tagTime      byte = 0x0A // int64 microseconds since midnight, 8 bytes
	tagTimestamp byte = 0x0B // int64 microseconds since the epoch, UTC, 8 bytes
	tagUUID      byte = 0x0C // 16 bytes
	tagList      byte = 0x0D // uvarint count, then the elements
	tagMap       byte = 0x0E // uvarint count, then key, value pairs sorted by the key's encoding
	tagStruct    byte = 0x0F // uvarint count, then the fields in name order
)

// canonicalNaN is the one NaN every NaN becomes.
const canonicalNaN = 0x7ff8000000000001

func normFloat(f float64) uint64 {
	switch {
	case f == 0:
		return 0 // -0.0 == 0.0
	case f != f:
		return canonicalNaN
	}
	return math.Float64bits(f)
}

// roundFloat rounds to n decimal places by the shortest decimal
// representation of the binary value (the way strconv prints it).
func roundFloat(f float64, n int) float64 {
	if f != f || math.IsInf(f, 0) {
		return f
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', n, 64), 64)
	if err != nil {
		return f
	}
	return r
}

func appendUint64(dst []byte, tag byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, tag), v)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// toMicros converts a timestamp or time value in unit u to microseconds,
// rounding sub-microsecond digits down.
func toMicros(v int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return v * 1_000_000
	case arrow.Millisecond:
		return v * 1000
	case arrow.Nanosecond:
		return floorDiv(v, 1000)
	}
	return v
}

func truncMicros(us, div int64) int64 {
	if div == 0 {
		return us
	}
	return floorDiv(us, div) * div
}

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < 19; i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// appendDecimal64 appends the canonical decimal u×10^-scale, rounded to
// round places when round >= 0.
func appendDecimal64(dst []byte, u int64, scale int32, round int) []byte {
	if round >= 0 && scale > int32(round) {
		d := scale - int32(round)
		if d > 18 || u == math.MinInt64 {
			return appendDecimalBig(dst, big.NewInt(u), scale, round)
		}
		p := pow10[d]
		q, r := u/p, u%p
		if r < 0 {
			r = -r
		}
		if 2*r >= p {
			if u < 0 {
				q--
			} else {
				q++
			}
		}
		u, scale = q, int32(round)
	}
	if u == 0 {
		scale = 0
	}
	for u != 0 && u%10 == 0 {
		u /= 10
		scale--
	}
	// Minimal big-endian two's complement.
	n := 8
	for n > 1 {
		top := u >> (8*(n-1) - 1) // the top byte plus the sign bit of the next
		if top != 0 && top != -1 {
			break
		}
		n--
	}
	dst = append(dst, tagDecimal, byte(int8(scale)), byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(u>>(8*i)))
	}
	return dst
}

var bigTen = big.NewInt(10)

// appendDecimalBig is appendDecimal64 for values that need more than 64 bits.
func appendDecimalBig(dst []byte, u *big.Int, scale int32, round int) []byte {
	u = new(big.Int).Set(u)
	if round >= 0 && scale > int32(round) {
		p := new(big.Int).Exp(bigTen, big.NewInt(int64(scale-int32(round))), nil)
		q, r := new(big.Int).QuoRem(u, p, new(big.Int))
		r.Abs(r).Lsh(r, 1)
		if r.Cmp(p) >= 0 {
			if u.Sign() < 0 {
				q.Sub(q, big.NewInt(1))
			} else {
				q.Add(q, big.NewInt(1))
			}
		}
		u, scale = q, int32(round)
	}
	if u.Sign() == 0 {
		scale = 0
	}
	m := new(big.Int)
	for u.Sign() != 0 {
		q, r := new(big.Int).QuoRem(u, bigTen, m)
		if r.Sign() != 0 {
			break
		}
		u = q
		scale--
	}
	if u.IsInt64() {
		return appendDecimal64(dst, u.Int64(), scale, -1)
	}
	b := twosComplement(u)
	return append(append(dst, tagDecimal, byte(int8(scale)), byte(len(b))), b...)
}

// twosComplement returns the minimal big-endian two's complement bytes of v.
func twosComplement(v *big.Int) []byte {
	if v.Sign() >= 0 {
		b := v.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -v - 1, inverted.
	w := new(big.Int).Neg(v)
	w.Sub(w, big.NewInt(1))
	b := w.Bytes()
	for i := range b {
		b[i] = ^b[i]
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func decimalScale(dt arrow.DataType) int32 {
	if d, ok := dt.(arrow.DecimalType); ok {
		return d.GetScale()
	}
	return 0
}

var structOrders sync.Map // *arrow.StructType → []int, field indexes by name

func structOrder(st *arrow.StructType) []int {
	if o, ok := structOrders.Load(st); ok {
		return o.([]int)
	}
	o := make([]int, st.NumFields())
	for i := range o {
		o[i] = i
	}
	sort.SliceStable(o, func(a, b int) bool { return st.Field(o[a]).Name < st.Field(o[b]).Name })
	structOrders.Store(st, o)
	return o
}

// appendValue appends the canonical encoding of row i of arr. It is the
// reference encoder: it handles every supported type, while the columnar
// fast paths in columns.go handle the common flat ones and must produce the
// same bytes. Rules apply to top-level columns only (nested values get noRule).
func appendValue(dst []byte, arr arrow.Array, i int, r colRule) []byte {
	if arr.IsNull(i) {
		return append(dst, tagNull)
	}
	switch a := arr.(type) {
	case *array.Dictionary:
		return appendValue(dst, a.Dictionary(), a.GetValueIndex(i), r)
	case *extensions.UUIDArray:
		u := a.Value(i)
		return append(append(dst, tagUUID), u[:]...)
	case array.ExtensionArray:
		return appendValue(dst, a.Storage(), i, r)
	case *array.Int8:
		return appendUint64(dst, tagInt, uint64(int64(a.Value(i))))
	case *array.Int16:
		return appendUint64(dst, tagInt, uint64(int64(a.Value(i))))
	case *array.Int32:
		return appendUint64(dst, tagInt, uint64(int64(a.Value(i))))
	case *array.Int64:
		return appendUint64(dst, tagInt, uint64(a.Value(i)))
	case *array.Uint8:
		return appendUint64(dst, tagInt, uint64(a.Value(i)))
	case *array.Uint16:
		return appendUint64(dst, tagInt, uint64(a.Value(i)))
	case *array.Uint32:
		return appendUint64(dst, tagInt, uint64(a.Value(i)))
	case *array.Uint64:
		v := a.Value(i)
		if v > math.MaxInt64 {
			return appendUint64(dst, tagUint, v)
		}
		return appendUint64(dst, tagInt, v)
	case *array.Float16:
		return appendFloat(dst, float64(a.Value(i).Float32()), r)
	case *array.Float32:
		return appendFloat(dst, float64(a.Value(i)), r)
	case *array.Float64:
		return appendFloat(dst, a.Value(i), r)
	case *array.Decimal32:
		return appendDecimal64(dst, int64(a.Value(i)), decimalScale(a.DataType()), r.round)
	case *array.Decimal64:
		return appendDecimal64(dst, int64(a.Value(i)), decimalScale(a.DataType()), r.round)
	case *array.Decimal128:
		v := a.Value(i)
		if h, l := v.HighBits(), v.LowBits(); (h == 0 && l <= math.MaxInt64) || (h == -1 && l > math.MaxInt64) {
			return appendDecimal64(dst, int64(l), decimalScale(a.DataType()), r.round)
		}
		return appendDecimalBig(dst, v.BigInt(), decimalScale(a.DataType()), r.round)
	case *array.Decimal256:
		return appendDecimalBig(dst, a.Value(i).BigInt(), decimalScale(a.DataType()), r.round)
	case *array.String:
		return appendBytes(dst, tagString, strBytes(a.Value(i)), r)
	case *array.LargeString:
		return appendBytes(dst, tagString, strBytes(a.Value(i)), r)
	case *array.StringView:
		return appendBytes(dst, tagString, strBytes(a.Value(i)), r)
	case *array.Binary:
		return appendBytes(dst, tagBinary, a.Value(i), r)
	case *array.LargeBinary:
		return appendBytes(dst, tagBinary, a.Value(i), r)
	case *array.BinaryView:
		return appendBytes(dst, tagBinary, a.Value(i), r)
	case *array.FixedSizeBinary:
		return appendBytes(dst, tagBinary, a.Value(i), r)
	case *array.Boolean:
		if a.Value(i) {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case *array.Date32:
		return binary.BigEndian.AppendUint32(append(dst, tagDate), uint32(a.Value(i)))
	case *array.Date64:
		return binary.BigEndian.AppendUint32(append(dst, tagDate), uint32(int32(floorDiv(int64(a.Value(i)), 86_400_000))))
	case *array.Time32:
		us := toMicros(int64(a.Value(i)), a.DataType().(*arrow.Time32Type).Unit)
		return appendUint64(dst, tagTime, uint64(truncMicros(us, r.truncate)))
	case *array.Time64:
		us := toMicros(int64(a.Value(i)), a.DataType().(*arrow.Time64Type).Unit)
		return appendUint64(dst, tagTime, uint64(truncMicros(us, r.truncate)))
	case *array.Timestamp:
		us := toMicros(int64(a.Value(i)), a.DataType().(*arrow.TimestampType).Unit)
		return appendUint64(dst, tagTimestamp, uint64(truncMicros(us, r.truncate)))
	case *array.Map:
		return appendMap(dst, a, i)
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		dst = binary.AppendUvarint(append(dst, tagList), uint64(end-start))
		vals := a.ListValues()
		for j := start; j < end; j++ {
			dst = appendValue(dst, vals, int(j), noRule)
		}
		return dst
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		order := structOrder(st)
		dst = binary.AppendUvarint(append(dst, tagStruct), uint64(len(order)))
		for _, f := range order {
			dst = appendValue(dst, a.Field(f), i, noRule)
		}
		return dst
	}
	// canonicalType rejects every other type before any row is encoded.
	panic(fmt.Sprintf("diff: no canonical encoding for %s", arr.DataType()))
}

// strBytes views a string's bytes without copying; appendBytes only reads them.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func appendFloat(dst []byte, f float64, r colRule) []byte {
	if r.round >= 0 {
		f = roundFloat(f, r.round)
	}
	return appendUint64(dst, tagFloat, normFloat(f))
}

func appendBytes(dst []byte, tag byte, b []byte, r colRule) []byte {
	if r.emptyNull && len(b) == 0 {
		return append(dst, tagNull)
	}
	dst = binary.AppendUvarint(append(dst, tag), uint64(len(b)))
	return append(dst, b...)
}

func appendMap(dst []byte, a *array.Map, i int) []byte {
	start, end := a.ValueOffsets(i)
	keys, items := a.Keys(), a.Items()
	type entry struct{ k, v []byte }
	entries := make([]entry, 0, end-start)
	for j := start; j < end; j++ {
		entries = append(entries, entry{appendValue(nil, keys, int(j), noRule), appendValue(nil, items, int(j), noRule)})
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if c := bytes.Compare(x.k, y.k); c != 0 {
			return c
		}
		return bytes.Compare(x.v, y.v)
	})
	dst = binary.AppendUvarint(append(dst, tagMap), uint64(len(entries)))
	for _, e := range entries {
		dst = append(append(dst, e.k...), e.v...)
	}
	return dst
}
