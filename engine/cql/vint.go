package cql

import (
	"encoding/binary"
	"math/bits"
)

// Cassandra's variable-length integers (VIntCoding): the number of leading
// 1-bits of the first byte is the number of extra bytes (0..8); the rest of
// the first byte and the extra bytes hold the value, big-endian.

// Uvarint decodes an unsigned vint from b, returning the value and its length,
// or n == 0 when b is too short.
func Uvarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	first := b[0]
	if first < 0x80 {
		return uint64(first), 1
	}
	extra := bits.LeadingZeros8(^first)
	if len(b) >= 9 {
		// one unaligned 8-byte load instead of a loop
		v := binary.BigEndian.Uint64(b[1:9])
		if extra == 8 {
			return v, 9
		}
		v >>= uint(64 - 8*extra)
		return uint64(first&(0xff>>extra))<<(8*uint(extra)) | v, 1 + extra
	}
	if len(b) < 1+extra {
		return 0, 0
	}
	v = uint64(first & (0xff >> extra))
	for i := 1; i <= extra; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, 1 + extra
}

// UvarintSize is the encoded length of v.
func UvarintSize(v uint64) int {
	mag := bits.LeadingZeros64(v | 1)
	return (639 - mag*9) >> 6
}

// AppendUvarint appends the unsigned vint encoding of v.
func AppendUvarint(dst []byte, v uint64) []byte {
	n := UvarintSize(v)
	if n == 1 {
		return append(dst, byte(v))
	}
	extra := n - 1
	var buf [9]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte(v)
		v >>= 8
	}
	buf[0] |= ^byte(0xff >> extra)
	return append(dst, buf[:n]...)
}

// Varint decodes a signed (zig-zag) vint.
func Varint(b []byte) (int64, int) {
	u, n := Uvarint(b)
	return int64(u>>1) ^ -int64(u&1), n
}

// AppendVarint appends the signed (zig-zag) vint encoding of v.
func AppendVarint(dst []byte, v int64) []byte {
	return AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}
