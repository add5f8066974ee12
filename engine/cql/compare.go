package cql

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"math/big"
)

// Compare orders two serialized values of type t the way Cassandra's
// AbstractType.compare does (the clustering order), including ReversedType.
// Empty values sort first. Malformed values fall back to byte order.
func Compare(t *Type, a, b []byte) int {
	c := compareBase(t, a, b)
	if t.Reversed {
		return -c
	}
	return c
}

func compareBase(t *Type, a, b []byte) int {
	if len(a) == 0 || len(b) == 0 {
		return cmp.Compare(len(a), len(b)) // empty first; both empty equal
	}
	switch t.Kind {
	case KindInt, KindBigint, KindSmallint, KindTinyint, KindCounter, KindTimestamp:
		if t.Legacy == "DateType" {
			return bytes.Compare(a, b)
		}
		if len(a) == len(b) {
			// signed big-endian: first byte signed, the rest unsigned
			if c := cmp.Compare(int8(a[0]), int8(b[0])); c != 0 {
				return c
			}
			return bytes.Compare(a[1:], b[1:])
		}
	case KindFloat:
		if len(a) == 4 && len(b) == 4 {
			return javaFloatCompare(float64(math.Float32frombits(binary.BigEndian.Uint32(a))), float64(math.Float32frombits(binary.BigEndian.Uint32(b))))
		}
	case KindDouble:
		if len(a) == 8 && len(b) == 8 {
			return javaFloatCompare(math.Float64frombits(binary.BigEndian.Uint64(a)), math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case KindVarint:
		return decodeVarint(a).Cmp(decodeVarint(b))
	case KindDecimal:
		if len(a) >= 4 && len(b) >= 4 {
			return compareDecimal(a, b)
		}
	case KindTimeuuid:
		if len(a) == 16 && len(b) == 16 {
			return compareTimeUUID(a, b)
		}
	case KindUUID:
		if len(a) == 16 && len(b) == 16 {
			return compareUUID(a, b)
		}
	case KindLexicalUUID:
		if len(a) == 16 && len(b) == 16 {
			if c := cmp.Compare(int64(binary.BigEndian.Uint64(a)), int64(binary.BigEndian.Uint64(b))); c != 0 {
				return c
			}
			return cmp.Compare(int64(binary.BigEndian.Uint64(a[8:])), int64(binary.BigEndian.Uint64(b[8:])))
		}
	case KindList, KindSet:
		ea, err1 := SplitCollection(a)
		eb, err2 := SplitCollection(b)
		if err1 == nil && err2 == nil {
			for i := 0; i < len(ea) && i < len(eb); i++ {
				if c := Compare(t.Elems[0], ea[i], eb[i]); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(ea), len(eb))
		}
	case KindMap:
		ea, err1 := SplitCollection(a)
		eb, err2 := SplitCollection(b)
		if err1 == nil && err2 == nil {
			for i := 0; i < len(ea) && i < len(eb); i++ {
				if c := Compare(t.Elems[i%2], ea[i], eb[i]); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(ea), len(eb))
		}
	case KindTuple, KindUDT:
		fa, err1 := SplitTuple(a, len(t.Elems))
		fb, err2 := SplitTuple(b, len(t.Elems))
		if err1 == nil && err2 == nil {
			for i := range fa {
				switch {
				case fa[i] == nil && fb[i] == nil:
					continue
				case fa[i] == nil:
					return -1
				case fb[i] == nil:
					return 1
				}
				if c := Compare(t.Elems[i], fa[i], fb[i]); c != 0 {
					return c
				}
			}
			return 0
		}
	case KindVector:
		ea, err1 := SplitVector(t, a)
		eb, err2 := SplitVector(t, b)
		if err1 == nil && err2 == nil {
			for i := range ea {
				if c := Compare(t.Elems[0], ea[i], eb[i]); c != 0 {
					return c
				}
			}
			return 0
		}
	case KindComposite:
		ca, err1 := SplitComposite(a)
		cb, err2 := SplitComposite(b)
		if err1 == nil && err2 == nil {
			for i := 0; i < len(ca) && i < len(cb) && i < len(t.Elems); i++ {
				if c := Compare(t.Elems[i], ca[i], cb[i]); c != 0 {
					return c
				}
			}
			return cmp.Compare(len(ca), len(cb))
		}
	}
	// ascii, text, blob, boolean, date (unsigned, epoch 2^31), time, inet,
	// duration and anything malformed: unsigned bytes.
	return bytes.Compare(a, b)
}

// javaFloatCompare is Java's Float/Double.compare: -0.0 < 0.0 and NaN is
// greater than everything, equal to itself.
func javaFloatCompare(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	}
	// x == y: only ±0 differ, and -0.0 sorts first as in Java.
	return cmp.Compare(int64(math.Float64bits(x)), int64(math.Float64bits(y)))
}

func scaleUp(u *big.Int, by int64) *big.Int {
	if by > 10000 { // absurd scales: compare magnitudes only roughly
		by = 10000
	}
	return new(big.Int).Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(by), nil))
}

func compareDecimal(a, b []byte) int {
	da, _ := decode(&Type{Kind: KindDecimal}, a, 0)
	db, _ := decode(&Type{Kind: KindDecimal}, b, 0)
	x, y := da.(Decimal), db.(Decimal)
	// bring both to the larger scale
	ux, uy := x.Unscaled, y.Unscaled
	if x.Scale < y.Scale {
		ux = scaleUp(ux, int64(y.Scale)-int64(x.Scale))
	} else if y.Scale < x.Scale {
		uy = scaleUp(uy, int64(x.Scale)-int64(y.Scale))
	}
	return ux.Cmp(uy)
}

func reorderTimestamp(msb uint64) int64 {
	return int64(msb<<48 | (msb<<16)&0xFFFF00000000 | msb>>32)
}

func compareTimeUUID(a, b []byte) int {
	if c := cmp.Compare(reorderTimestamp(binary.BigEndian.Uint64(a)), reorderTimestamp(binary.BigEndian.Uint64(b))); c != 0 {
		return c
	}
	// a signed per-byte comparison of the low half
	for i := 8; i < 16; i++ {
		if c := cmp.Compare(int8(a[i]), int8(b[i])); c != 0 {
			return c
		}
	}
	return 0
}

func compareUUID(a, b []byte) int {
	ma, mb := binary.BigEndian.Uint64(a), binary.BigEndian.Uint64(b)
	va, vb := int(ma>>12&0xf), int(mb>>12&0xf)
	if va != vb {
		return cmp.Compare(va, vb)
	}
	if va == 1 {
		if c := cmp.Compare(reorderTimestamp(ma), reorderTimestamp(mb)); c != 0 {
			return c
		}
	} else if c := cmp.Compare(ma, mb); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]))
}
