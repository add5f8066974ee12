// Package token implements Cassandra's partitioners: the functions that map a
// partition key to its token, the order of tokens, and token ranges.
//
//	partition key bytes ──Partitioner.Token──▶ Token ──Compare──▶ ring order
//
//	Murmur3Partitioner     int64, MurmurHash3_x64_128 (Cassandra's variant)  [-2^63, 2^63-1]
//	RandomPartitioner      abs(BigInteger(md5(key)))                         [0, 2^127] (-1 = minimum)
//	ByteOrderedPartitioner the key bytes themselves                          unsigned byte order
//
// Partitions in an SSTable are sorted by (token, key bytes): DecoratedKey order.
// A node owns the range (previous token, own token], wrapping around the ring.
package token

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// ErrUnknownPartitioner is returned for a partitioner class this package does not implement.
var ErrUnknownPartitioner = errors.New("unknown partitioner")

// Murmur3 token bounds.
const (
	MinMurmur3 int64 = math.MinInt64
	MaxMurmur3 int64 = math.MaxInt64
)

// Kind says which partitioner a token belongs to.
type Kind uint8

const (
	Murmur3 Kind = iota + 1
	Random
	ByteOrdered
)

// Class names as Cassandra writes them in Statistics.db.
const (
	Murmur3Class     = "org.apache.cassandra.dht.Murmur3Partitioner"
	RandomClass      = "org.apache.cassandra.dht.RandomPartitioner"
	ByteOrderedClass = "org.apache.cassandra.dht.ByteOrderedPartitioner"
)

// Token is a position on the ring. The zero Token is invalid. Tokens of
// different partitioners must not be compared.
type Token struct {
	kind Kind
	min  bool   // Random's minimum token -1
	v    int64  // Murmur3
	hi   uint64 // Random: 128-bit unsigned value
	lo   uint64
	b    []byte // ByteOrdered: the key bytes (not copied)
}

// Kind returns the partitioner kind of t.
func (t Token) Kind() Kind { return t.kind }

// Int64 returns a Murmur3 token's value.
func (t Token) Int64() int64 { return t.v }

// Bytes returns a ByteOrdered token's bytes.
func (t Token) Bytes() []byte { return t.b }

// IsZero reports whether t is the invalid zero Token.
func (t Token) IsZero() bool { return t.kind == 0 }

// Murmur3Of returns the Murmur3 token with value v.
func Murmur3Of(v int64) Token { return Token{kind: Murmur3, v: v} }

// BytesOf returns the ByteOrdered token of the given bytes (not copied).
func BytesOf(b []byte) Token { return Token{kind: ByteOrdered, b: b} }

// RandomOf returns the Random token with the given non-negative value (< 2^128);
// a negative value gives the minimum token -1.
func RandomOf(v *big.Int) Token {
	if v.Sign() < 0 {
		return Token{kind: Random, min: true}
	}
	var buf [16]byte
	v.FillBytes(buf[:])
	return Token{kind: Random, hi: binary.BigEndian.Uint64(buf[:8]), lo: binary.BigEndian.Uint64(buf[8:])}
}

// Compare orders two tokens of the same partitioner: -1, 0 or +1.
func Compare(a, b Token) int {
	switch a.kind {
	case Murmur3:
		return cmp.Compare(a.v, b.v)
	case Random:
		if a.min || b.min {
			switch {
			case a.min && b.min:
				return 0
			case a.min:
				return -1
			default:
				return 1
			}
		}
		if c := cmp.Compare(a.hi, b.hi); c != 0 {
			return c
		}
		return cmp.Compare(a.lo, b.lo)
	default:
		return bytes.Compare(a.b, b.b)
	}
}

// Equal reports whether a and b are the same token.
func (t Token) Equal(o Token) bool { return t.kind == o.kind && Compare(t, o) == 0 }

// Less reports whether t sorts before o.
func (t Token) Less(o Token) bool { return Compare(t, o) < 0 }

// Big returns a Murmur3 or Random token as a big integer (nil for ByteOrdered).
func (t Token) Big() *big.Int {
	switch t.kind {
	case Murmur3:
		return big.NewInt(t.v)
	case Random:
		if t.min {
			return big.NewInt(-1)
		}
		var buf [16]byte
		binary.BigEndian.PutUint64(buf[:8], t.hi)
		binary.BigEndian.PutUint64(buf[8:], t.lo)
		return new(big.Int).SetBytes(buf[:])
	}
	return nil
}

// String renders the token as Cassandra does: a decimal number, or the hex
// bytes for ByteOrdered.
func (t Token) String() string {
	switch t.kind {
	case Murmur3:
		return strconv.FormatInt(t.v, 10)
	case Random:
		return t.Big().String()
	case ByteOrdered:
		return hex.EncodeToString(t.b)
	}
	return "<invalid token>"
}

// Partitioner maps partition keys to tokens.
type Partitioner interface {
	// Class is the Java class name written in Statistics.db.
	Class() string
	// Kind says which tokens it makes.
	Kind() Kind
	// Token returns the token of a serialized partition key. ByteOrdered
	// tokens alias key.
	Token(key []byte) Token
	// MinToken is the minimum token, which no key maps to except the empty key.
	MinToken() Token
	// ParseToken reads a token in the String form.
	ParseToken(s string) (Token, error)
}

// ForClass returns the partitioner for a Cassandra class name, qualified or not.
func ForClass(class string) (Partitioner, error) {
	short := class[strings.LastIndexByte(class, '.')+1:]
	switch short {
	case "Murmur3Partitioner":
		return Murmur3Partitioner{}, nil
	case "RandomPartitioner":
		return RandomPartitioner{}, nil
	case "ByteOrderedPartitioner":
		return ByteOrderedPartitioner{}, nil
	}
	return nil, fmt.Errorf("%w %q (want Murmur3Partitioner, RandomPartitioner or ByteOrderedPartitioner)", ErrUnknownPartitioner, class)
}

// Murmur3Partitioner is Cassandra's default partitioner.
type Murmur3Partitioner struct{}

func (Murmur3Partitioner) Class() string          { return Murmur3Class }
func (Murmur3Partitioner) Kind() Kind             { return Murmur3 }
func (Murmur3Partitioner) Token(key []byte) Token { return Murmur3Of(Murmur3Token(key)) }
func (Murmur3Partitioner) MinToken() Token        { return Murmur3Of(MinMurmur3) }
func (Murmur3Partitioner) ParseToken(s string) (Token, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return Token{}, fmt.Errorf("murmur3 token %q: want a signed 64-bit integer", s)
	}
	return Murmur3Of(v), nil
}

// RandomPartitioner hashes keys with MD5.
type RandomPartitioner struct{}

func (RandomPartitioner) Class() string { return RandomClass }
func (RandomPartitioner) Kind() Kind    { return Random }

// Token is abs(BigInteger(md5(key))), where the digest is read as a signed
// two's-complement number.
func (RandomPartitioner) Token(key []byte) Token {
	if len(key) == 0 {
		return Token{kind: Random, min: true}
	}
	d := md5.Sum(key)
	hi := binary.BigEndian.Uint64(d[:8])
	lo := binary.BigEndian.Uint64(d[8:])
	if hi>>63 == 1 { // negative: two's-complement negation
		hi, lo = ^hi, ^lo
		lo++
		if lo == 0 {
			hi++
		}
	}
	return Token{kind: Random, hi: hi, lo: lo}
}
func (RandomPartitioner) MinToken() Token { return Token{kind: Random, min: true} }
func (RandomPartitioner) ParseToken(s string) (Token, error) {
	v, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
	if !ok || v.Cmp(big.NewInt(-1)) < 0 || v.BitLen() > 128 {
		return Token{}, fmt.Errorf("random token %q: want an integer in [-1, 2^127]", s)
	}
	return RandomOf(v), nil
}

// ByteOrderedPartitioner orders partitions by their key bytes.
type ByteOrderedPartitioner struct{}

func (ByteOrderedPartitioner) Class() string          { return ByteOrderedClass }
func (ByteOrderedPartitioner) Kind() Kind             { return ByteOrdered }
func (ByteOrderedPartitioner) Token(key []byte) Token { return BytesOf(key) }
func (ByteOrderedPartitioner) MinToken() Token        { return BytesOf([]byte{}) }
func (ByteOrderedPartitioner) ParseToken(s string) (Token, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return Token{}, fmt.Errorf("byte-ordered token %q: want hex bytes", s)
	}
	return BytesOf(b), nil
}

// CompareKeys orders decorated keys: by token, then by unsigned key bytes.
func CompareKeys(ta Token, ka []byte, tb Token, kb []byte) int {
	if c := Compare(ta, tb); c != 0 {
		return c
	}
	return bytes.Compare(ka, kb)
}

// Range is Cassandra's token range (Left, Right]: it wraps around the ring when
// Left ≥ Right, and Left == Right (both the minimum) is the whole ring.
type Range struct {
	Left, Right Token
}

// IsWrapAround reports whether the range crosses the minimum token.
func (r Range) IsWrapAround() bool { return Compare(r.Left, r.Right) >= 0 && !r.isMinRight() }

func (r Range) isMinRight() bool {
	switch r.Right.kind {
	case Murmur3:
		return r.Right.v == MinMurmur3
	case Random:
		return r.Right.min
	default:
		return len(r.Right.b) == 0
	}
}

// Contains reports whether t lies in (Left, Right].
func (r Range) Contains(t Token) bool {
	l := Compare(r.Left, t)
	if r.isMinRight() { // (Left, +inf)
		return l < 0
	}
	rr := Compare(t, r.Right)
	if Compare(r.Left, r.Right) < 0 {
		return l < 0 && rr <= 0
	}
	// wrapping, or the full ring when Left == Right
	return l < 0 || rr <= 0
}

// Unwrap splits a wrapping range into at most two non-wrapping ones:
// (Left, +inf) and (min, Right]. The (Left, +inf) part has the minimum token
// as its Right, meaning "to the end of the ring".
func (r Range) Unwrap(p Partitioner) []Range {
	if !r.IsWrapAround() {
		return []Range{r}
	}
	min := p.MinToken()
	out := []Range{{Left: r.Left, Right: min}}
	if Compare(r.Right, min) != 0 {
		out = append(out, Range{Left: min, Right: r.Right})
	}
	return out
}

func (r Range) String() string { return "(" + r.Left.String() + "," + r.Right.String() + "]" }
