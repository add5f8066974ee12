package diff

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// ErrCorruptRow marks canonical row bytes that do not decode; it can only
// come from a damaged spill file.
var ErrCorruptRow = errors.New("corrupt canonical row")

const maxDepth = 64

// skipValue returns the length of the canonical value at the start of b.
func skipValue(b []byte) (int, error) { return skipDepth(b, 0) }

func skipDepth(b []byte, depth int) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: value expected, row ended", ErrCorruptRow)
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrCorruptRow, maxDepth)
	}
	need := func(n int) (int, error) {
		if len(b) < n {
			return 0, fmt.Errorf("%w: tag 0x%02x needs %d bytes, %d left", ErrCorruptRow, b[0], n, len(b))
		}
		return n, nil
	}
	switch b[0] {
	case tagNull, tagFalse, tagTrue:
		return 1, nil
	case tagInt, tagUint, tagFloat, tagTime, tagTimestamp:
		return need(9)
	case tagDate:
		return need(5)
	case tagUUID:
		return need(17)
	case tagDecimal:
		if _, err := need(3); err != nil {
			return 0, err
		}
		n := int(b[2])
		if n == 0 {
			return 0, fmt.Errorf("%w: empty decimal", ErrCorruptRow)
		}
		return need(3 + n)
	case tagString, tagBinary:
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > uint64(len(b)) {
			return 0, fmt.Errorf("%w: bad length", ErrCorruptRow)
		}
		return need(1 + k + int(n))
	case tagList, tagStruct, tagMap:
		c, k := binary.Uvarint(b[1:])
		if k <= 0 || c > uint64(len(b)) {
			return 0, fmt.Errorf("%w: bad count", ErrCorruptRow)
		}
		if b[0] == tagMap {
			c *= 2
		}
		off := 1 + k
		for j := uint64(0); j < c; j++ {
			n, err := skipDepth(b[off:], depth+1)
			if err != nil {
				return 0, err
			}
			off += n
		}
		return off, nil
	}
	return 0, fmt.Errorf("%w: unknown tag 0x%02x", ErrCorruptRow, b[0])
}

// splitRow splits a canonical row into its n column values.
func splitRow(row []byte, n int, out [][]byte) ([][]byte, error) {
	out = out[:0]
	for j := 0; j < n; j++ {
		k, err := skipValue(row)
		if err != nil {
			return nil, err
		}
		out = append(out, row[:k])
		row = row[k:]
	}
	if len(row) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last column", ErrCorruptRow, len(row))
	}
	return out, nil
}

// decimalParts returns the unscaled value and scale of a canonical decimal.
func decimalParts(v []byte) (*big.Int, int32) {
	scale := int32(int8(v[1]))
	b := v[3 : 3+int(v[2])]
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return u, scale
}

func decimalString(u *big.Int, scale int32) string {
	s := new(big.Int).Abs(u).String()
	neg := u.Sign() < 0
	switch {
	case scale <= 0:
		s += strings.Repeat("0", int(-scale))
		if u.Sign() == 0 {
			s = "0"
		}
	case int(scale) >= len(s):
		s = "0." + strings.Repeat("0", int(scale)-len(s)) + s
	default:
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// TimestampLayout is how timestamps appear in reports: UTC, microseconds.
const TimestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// decodeValue turns a canonical value into a JSON-friendly Go value:
// nil, bool, int64, uint64, float64, string (decimals, dates, times,
// timestamps, UUIDs, NaN and infinities, binaries as 0x-hex), []any for
// lists, []any of {"key","value"} for maps, map[string]any for structs.
func decodeValue(v []byte, t *ctype) (any, error) {
	if _, err := skipValue(v); err != nil {
		return nil, err
	}
	return decodeChecked(v, t), nil
}

func decodeChecked(v []byte, t *ctype) any {
	switch v[0] {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt:
		return int64(binary.BigEndian.Uint64(v[1:]))
	case tagUint:
		return binary.BigEndian.Uint64(v[1:])
	case tagFloat:
		f := math.Float64frombits(binary.BigEndian.Uint64(v[1:]))
		switch {
		case f != f:
			return "NaN"
		case math.IsInf(f, 1):
			return "Infinity"
		case math.IsInf(f, -1):
			return "-Infinity"
		}
		return f
	case tagDecimal:
		return decimalString(decimalParts(v))
	case tagString:
		n, k := binary.Uvarint(v[1:])
		return string(v[1+k : 1+k+int(n)])
	case tagBinary:
		n, k := binary.Uvarint(v[1:])
		return "0x" + hex.EncodeToString(v[1+k:1+k+int(n)])
	case tagDate:
		days := int64(int32(binary.BigEndian.Uint32(v[1:])))
		return time.Unix(days*86400, 0).UTC().Format("2006-01-02")
	case tagTime:
		us := int64(binary.BigEndian.Uint64(v[1:]))
		return fmt.Sprintf("%02d:%02d:%02d.%06d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000)
	case tagTimestamp:
		return time.UnixMicro(int64(binary.BigEndian.Uint64(v[1:]))).UTC().Format(TimestampLayout)
	case tagUUID:
		h := hex.EncodeToString(v[1:17])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	case tagList, tagMap, tagStruct:
		c, k := binary.Uvarint(v[1:])
		rest := v[1+k:]
		next := func(t *ctype) any {
			n, _ := skipValue(rest)
			out := decodeChecked(rest[:n], t)
			rest = rest[n:]
			return out
		}
		switch v[0] {
		case tagList:
			var et *ctype
			if t != nil {
				et = t.elem
			}
			out := make([]any, 0, c)
			for j := uint64(0); j < c; j++ {
				out = append(out, next(et))
			}
			return out
		case tagMap:
			var kt, vt *ctype
			if t != nil {
				kt, vt = t.key, t.value
			}
			out := make([]any, 0, c)
			for j := uint64(0); j < c; j++ {
				key := next(kt)
				out = append(out, map[string]any{"key": key, "value": next(vt)})
			}
			return out
		default:
			out := make(map[string]any, c)
			for j := uint64(0); j < c; j++ {
				name := fmt.Sprintf("f%d", j)
				var ft *ctype
				if t != nil && int(j) < len(t.fields) {
					name, ft = t.fields[j].name, t.fields[j].typ
				}
				out[name] = next(ft)
			}
			return out
		}
	}
	return nil
}

// appendOrderKey appends an order-preserving, injective encoding of the
// canonical value v (memcomparable): comparing the results with
// bytes.Compare orders values by kind-natural order (numbers by value,
// strings and binaries by bytes, NULL first). Keys are sorted by it.
func appendOrderKey(dst, v []byte) []byte {
	if v[0] == tagNull {
		return append(dst, 0x00)
	}
	dst = append(dst, 0x01)
	switch v[0] {
	case tagFalse:
		return append(dst, 0)
	case tagTrue:
		return append(dst, 1)
	case tagInt:
		return binary.BigEndian.AppendUint64(append(dst, 0x01), binary.BigEndian.Uint64(v[1:])^(1<<63))
	case tagUint:
		return append(append(dst, 0x02), v[1:9]...)
	case tagFloat:
		bits := binary.BigEndian.Uint64(v[1:])
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits ^= 1 << 63
		}
		return binary.BigEndian.AppendUint64(dst, bits)
	case tagDate:
		return binary.BigEndian.AppendUint32(dst, binary.BigEndian.Uint32(v[1:])^(1<<31))
	case tagTime, tagTimestamp:
		return binary.BigEndian.AppendUint64(dst, binary.BigEndian.Uint64(v[1:])^(1<<63))
	case tagUUID:
		return append(dst, v[1:17]...)
	case tagString, tagBinary:
		n, k := binary.Uvarint(v[1:])
		for _, c := range v[1+k : 1+k+int(n)] {
			if c == 0 {
				dst = append(dst, 0, 0xff)
			} else {
				dst = append(dst, c)
			}
		}
		return append(dst, 0, 0)
	case tagDecimal:
		return appendDecimalOrder(dst, v)
	case tagList, tagMap, tagStruct:
		c, k := binary.Uvarint(v[1:])
		if v[0] == tagMap {
			c *= 2
		}
		rest := v[1+k:]
		for j := uint64(0); j < c; j++ {
			n, _ := skipValue(rest)
			dst = appendOrderKey(append(dst, 0x01), rest[:n])
			rest = rest[n:]
		}
		return append(dst, 0x00)
	}
	return dst
}

// appendDecimalOrder orders decimals by value: a sign class, then the
// decimal exponent and the digits (no trailing zeros), inverted for
// negative numbers.
func appendDecimalOrder(dst, v []byte) []byte {
	u, scale := decimalParts(v)
	switch u.Sign() {
	case 0:
		return append(dst, 0x02)
	case 1:
		dst = append(dst, 0x03)
	default:
		dst = append(dst, 0x01)
	}
	digits := new(big.Int).Abs(u).String()
	exp := int32(len(digits)) - scale
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(exp)^(1<<31))
	dst = append(dst, digits...)
	dst = append(dst, 0x00)
	if u.Sign() < 0 {
		for i := start; i < len(dst); i++ {
			dst[i] = ^dst[i]
		}
	}
	return dst
}

// numericRat returns an integer or decimal value as a rational.
func numericRat(v []byte) (*big.Rat, bool) {
	switch v[0] {
	case tagInt:
		return new(big.Rat).SetInt64(int64(binary.BigEndian.Uint64(v[1:]))), true
	case tagUint:
		return new(big.Rat).SetInt(new(big.Int).SetUint64(binary.BigEndian.Uint64(v[1:]))), true
	case tagDecimal:
		u, scale := decimalParts(v)
		r := new(big.Rat).SetInt(u)
		p := new(big.Int).Exp(bigTen, big.NewInt(int64(abs32(scale))), nil)
		if scale > 0 {
			r.Quo(r, new(big.Rat).SetInt(p))
		} else {
			r.Mul(r, new(big.Rat).SetInt(p))
		}
		return r, true
	}
	return nil, false
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// within reports whether two differing canonical values lie within the
// column's tolerance. NULL against a value never does.
func (t *tolerance) within(l, n []byte) bool {
	if l[0] == tagNull || n[0] == tagNull || l[0] != n[0] && !(isIntTag(l[0]) && isIntTag(n[0])) {
		return false
	}
	switch l[0] {
	case tagInt, tagUint, tagDecimal:
		if t.num == nil {
			return false
		}
		a, _ := numericRat(l)
		b, _ := numericRat(n)
		d := new(big.Rat).Sub(a, b)
		return d.Abs(d).Cmp(t.num) <= 0
	case tagFloat:
		a := math.Float64frombits(binary.BigEndian.Uint64(l[1:]))
		b := math.Float64frombits(binary.BigEndian.Uint64(n[1:]))
		return math.Abs(a-b) <= t.f
	case tagTime, tagTimestamp:
		a := int64(binary.BigEndian.Uint64(l[1:]))
		b := int64(binary.BigEndian.Uint64(n[1:]))
		return absDiff(a, b) <= uint64(t.micros)
	case tagDate:
		a := int64(int32(binary.BigEndian.Uint32(l[1:])))
		b := int64(int32(binary.BigEndian.Uint32(n[1:])))
		return absDiff(a, b)*86_400_000_000 <= uint64(t.micros)
	}
	return false
}

func isIntTag(t byte) bool { return t == tagInt || t == tagUint }

func absDiff(a, b int64) uint64 {
	if a > b {
		return uint64(a) - uint64(b)
	}
	return uint64(b) - uint64(a)
}
