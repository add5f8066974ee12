package sstable

import (
	"encoding/binary"
	"math"

	"github.com/cassmove/shadow/engine/cql"
)

// mreader decodes metadata components held in memory. The first failure
// sticks: every later read returns zero and err names the file, the offset
// and what was expected.
type mreader struct {
	b    []byte
	p    int
	file string
	base int64 // file offset of b[0]
	err  error
}

func (r *mreader) fail(n int, what string) {
	if r.err == nil {
		r.err = errAt(ErrCorrupt, r.file, r.base+int64(r.p), "truncated %s: want %d bytes, %d remain", what, n, len(r.b)-r.p)
	}
	r.p = len(r.b)
}

func (r *mreader) failf(format string, args ...any) {
	if r.err == nil {
		r.err = errAt(ErrCorrupt, r.file, r.base+int64(r.p), format, args...)
	}
	r.p = len(r.b)
}

func (r *mreader) remaining() int { return len(r.b) - r.p }

func (r *mreader) take(n int, what string) []byte {
	if n < 0 || n > len(r.b)-r.p {
		r.fail(n, what)
		return nil
	}
	s := r.b[r.p : r.p+n : r.p+n]
	r.p += n
	return s
}

func (r *mreader) u8(what string) uint8 {
	b := r.take(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *mreader) u16(what string) uint16 {
	b := r.take(2, what)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (r *mreader) i32(what string) int32 {
	b := r.take(4, what)
	if b == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(b))
}

func (r *mreader) u32(what string) uint32 { return uint32(r.i32(what)) }

func (r *mreader) i64(what string) int64 {
	b := r.take(8, what)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (r *mreader) f64(what string) float64 { return math.Float64frombits(uint64(r.i64(what))) }

func (r *mreader) uvint(what string) uint64 {
	v, n := cql.Uvarint(r.b[r.p:])
	if n == 0 {
		r.fail(9, what+" (vint)")
		return 0
	}
	r.p += n
	return v
}

// count reads an int32 count and checks that count × minSize bytes remain.
func (r *mreader) count(what string, minSize int) int {
	n := r.i32(what)
	if n < 0 || (minSize > 0 && int64(n)*int64(minSize) > int64(r.remaining())) {
		r.failf("%s %d: want a count of at most %d", what, n, r.remaining()/max(minSize, 1))
		return 0
	}
	return int(n)
}

// vbytes reads uvint length + bytes.
func (r *mreader) vbytes(what string) []byte {
	n := r.uvint(what + " length")
	if n > uint64(r.remaining()) {
		r.fail(int(min(n, math.MaxInt32)), what)
		return nil
	}
	return r.take(int(n), what)
}

// utf reads Java's writeUTF: u16 length + (modified) UTF-8.
func (r *mreader) utf(what string) string {
	n := r.u16(what + " length")
	return string(r.take(int(n), what))
}
