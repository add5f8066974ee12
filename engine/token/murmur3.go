package token

import (
	"encoding/binary"
	"math/bits"
)

const (
	murmurC1 = 0x87c37b91114253d5
	murmurC2 = 0x4cf5ad432745937f
)

// Murmur3Hash128 is Cassandra's MurmurHash.hash3_x64_128 with seed 0. It is
// MurmurHash3_x64_128 except in the tail, where Java's signed bytes are
// sign-extended before shifting: a tail byte ≥ 0x80 sets every higher bit of
// its lane. That quirk is part of the token function and of the bloom filter,
// so it must be kept.
func Murmur3Hash128(key []byte) (h1, h2 uint64) {
	n := len(key)
	nblocks := n / 16
	for i := 0; i < nblocks; i++ {
		k1 := binary.LittleEndian.Uint64(key[i*16:])
		k2 := binary.LittleEndian.Uint64(key[i*16+8:])
		k1 *= murmurC1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= murmurC2
		h1 ^= k1
		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729
		k2 *= murmurC2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= murmurC1
		h2 ^= k2
		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}
	tail := key[nblocks*16:]
	var k1, k2 uint64
	for i := len(tail) - 1; i >= 0; i-- {
		v := uint64(int64(int8(tail[i]))) // the sign-extension quirk
		if i >= 8 {
			k2 ^= v << (uint(i-8) * 8)
		} else {
			k1 ^= v << (uint(i) * 8)
		}
	}
	if len(tail) > 8 {
		k2 *= murmurC2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= murmurC1
		h2 ^= k2
	}
	if len(tail) > 0 {
		k1 *= murmurC1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= murmurC2
		h1 ^= k1
	}
	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1 = fmix64(h1)
	h2 = fmix64(h2)
	h1 += h2
	h2 += h1
	return h1, h2
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// Murmur3Token is Murmur3Partitioner.getToken as an int64: the first half of
// the hash, with Long.MIN_VALUE (reserved for the minimum token) mapped to
// Long.MAX_VALUE, and the empty key mapped to the minimum token.
func Murmur3Token(key []byte) int64 {
	if len(key) == 0 {
		return MinMurmur3
	}
	h1, _ := Murmur3Hash128(key)
	t := int64(h1)
	if t == MinMurmur3 {
		return MaxMurmur3
	}
	return t
}
