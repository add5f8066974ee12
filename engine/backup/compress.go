package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"strings"

	"github.com/golang/snappy"
	"github.com/pierrec/lz4/v4"
)

// Compression is how Priam compressed an object before the upload (the
// COMPRESSION element of its key). Medusa uploads files raw.
type Compression string

// The compressions Priam writes.
const (
	// None: the object holds the file's bytes; it can be range-read.
	None Compression = "NONE"
	// Snappy: xerial snappy-java's SnappyOutputStream format.
	Snappy Compression = "SNAPPY"
	// LZ4: lz4-java's LZ4BlockOutputStream format.
	LZ4 Compression = "LZ4"
)

// ParseCompression reads NONE, SNAPPY or LZ4 (any case).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(strings.ToUpper(s)); c {
	case None, Snappy, LZ4:
		return c, nil
	}
	return "", fmt.Errorf("%w: compression %q: want SNAPPY, LZ4 or NONE", ErrFormat, s)
}

// NewDecoder returns a reader of the decoded bytes of an object stored
// with compression c. Memory stays bounded by one block.
func NewDecoder(r io.Reader, c Compression) (io.Reader, error) {
	switch c {
	case None, "":
		return r, nil
	case Snappy:
		return &snappyReader{r: bufio.NewReaderSize(r, 64<<10)}, nil
	case LZ4:
		return &lz4BlockReader{r: bufio.NewReaderSize(r, 64<<10)}, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %q", ErrFormat, c)
}

// NewEncoder returns a writer that compresses into w the way Priam does.
// Close flushes the last block (and, for LZ4, writes the end mark); it
// does not close w.
func NewEncoder(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case None, "":
		return nopWriteCloser{w}, nil
	case Snappy:
		return &snappyWriter{w: w, buf: make([]byte, 0, snappyBlock)}, nil
	case LZ4:
		return &lz4BlockWriter{w: w, buf: make([]byte, 0, lz4Block)}, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %q", ErrFormat, c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// snappy-java stream format (SnappyOutputStream / SnappyInputStream):
//
//	header  8 bytes magic 82 'S' 'N' 'A' 'P' 'P' 'Y' 00, int32 BE version (1), int32 BE compatible version (1)
//	block*  int32 BE compressed length n, then n bytes of raw snappy
//
// Concatenated streams repeat the 16-byte header between blocks;
// SnappyInputStream skips it, and so does this reader. A stream without
// the header is a single raw snappy block (snappy-java before 1.1).
var snappyMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	snappyHeaderLen = 16
	snappyBlock     = 32 << 10 // SnappyOutputStream's default block size
	maxBlock        = 64 << 20 // refuse absurd block lengths in corrupt input
)

type snappyReader struct {
	r       *bufio.Reader
	started bool
	out     []byte // decoded bytes not yet returned
	comp    []byte
	done    bool
	off     int64 // compressed bytes consumed, for errors
}

func (s *snappyReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.done {
			return 0, io.EOF
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

func (s *snappyReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: snappy stream at byte %d: %s", ErrCorrupt, s.off, fmt.Sprintf(format, args...))
}

func (s *snappyReader) fill() error {
	if !s.started {
		s.started = true
		head, err := s.r.Peek(len(snappyMagic))
		if len(head) == 0 {
			if err == io.EOF {
				s.done = true // an empty object
				return nil
			}
			return err
		}
		if err != nil && err != io.EOF {
			return err
		}
		if !bytes.Equal(head, snappyMagic) {
			// No header: one raw snappy block.
			raw, err := io.ReadAll(io.LimitReader(s.r, maxBlock+1))
			if err != nil {
				return err
			}
			if len(raw) > maxBlock {
				return s.corrupt("no snappy-java header, and too long for one raw block")
			}
			out, err := snappy.Decode(nil, raw)
			if err != nil {
				return s.corrupt("no snappy-java header, and not a raw snappy block: %v", err)
			}
			s.out, s.done = out, true
			return nil
		}
		if hdr, _ := s.r.Peek(snappyHeaderLen); len(hdr) < snappyHeaderLen {
			return s.corrupt("stream header cut short (%d bytes)", len(hdr))
		}
		s.r.Discard(snappyHeaderLen)
		s.off += snappyHeaderLen
	}
	for {
		var lenb [4]byte
		n, err := io.ReadFull(s.r, lenb[:])
		if err == io.EOF {
			s.done = true
			return nil
		}
		if err != nil {
			return s.corrupt("block length cut short after %d bytes", n)
		}
		if lenb[0] == snappyMagic[0] {
			// A repeated header of a concatenated stream.
			var rest [snappyHeaderLen - 4]byte
			if _, err := io.ReadFull(s.r, rest[:]); err != nil || !bytes.Equal(append(lenb[:], rest[:4]...), snappyMagic) {
				return s.corrupt("bad repeated stream header")
			}
			s.off += snappyHeaderLen
			continue
		}
		size := binary.BigEndian.Uint32(lenb[:])
		s.off += 4
		if size > maxBlock {
			return s.corrupt("block length %d is too large", size)
		}
		if cap(s.comp) < int(size) {
			s.comp = make([]byte, size)
		}
		s.comp = s.comp[:size]
		if _, err := io.ReadFull(s.r, s.comp); err != nil {
			return s.corrupt("block of %d bytes cut short", size)
		}
		dlen, err := snappy.DecodedLen(s.comp)
		if err != nil || dlen > maxBlock {
			return s.corrupt("bad block header: %v", err)
		}
		out, err := snappy.Decode(make([]byte, dlen), s.comp)
		if err != nil {
			return s.corrupt("block of %d bytes: %v", size, err)
		}
		s.off += int64(size)
		s.out = out
		return nil
	}
}

type snappyWriter struct {
	w      io.Writer
	buf    []byte
	header bool
	err    error
}

func (s *snappyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snappyBlock-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == snappyBlock {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *snappyWriter) flush() error {
	if !s.header {
		s.header = true
		var h [snappyHeaderLen]byte
		copy(h[:], snappyMagic)
		binary.BigEndian.PutUint32(h[8:], 1)
		binary.BigEndian.PutUint32(h[12:], 1)
		if _, err := s.w.Write(h[:]); err != nil {
			s.err = err
			return err
		}
	}
	if len(s.buf) == 0 {
		return nil
	}
	enc := snappy.Encode(nil, s.buf)
	var lenb [4]byte
	binary.BigEndian.PutUint32(lenb[:], uint32(len(enc)))
	if _, err := s.w.Write(append(lenb[:], enc...)); err != nil {
		s.err = err
		return err
	}
	s.buf = s.buf[:0]
	return nil
}

func (s *snappyWriter) Close() error { return s.flush() }

// lz4-java block stream format (LZ4BlockOutputStream):
//
//	block*  "LZ4Block" magic, token byte (method 0x10 raw | 0x20 lz4, low nibble = log2(block size) - 10),
//	        int32 LE compressed length, int32 LE decoded length,
//	        int32 LE checksum = xxh32(decoded, seed 0x9747b28c) & 0x0FFFFFFF,
//	        then the block
//	end     a block header with both lengths and the checksum 0
var lz4Magic = []byte("LZ4Block")

const (
	lz4HeaderLen = 8 + 1 + 4 + 4 + 4
	lz4Raw       = 0x10
	lz4Method    = 0x20
	lz4Seed      = 0x9747b28c
	lz4Block     = 64 << 10
)

type lz4BlockReader struct {
	r    *bufio.Reader
	out  []byte
	comp []byte
	done bool
	off  int64
}

func (l *lz4BlockReader) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.done {
			return 0, io.EOF
		}
		if err := l.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

func (l *lz4BlockReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: lz4 block stream at byte %d: %s", ErrCorrupt, l.off, fmt.Sprintf(format, args...))
}

func (l *lz4BlockReader) fill() error {
	var h [lz4HeaderLen]byte
	n, err := io.ReadFull(l.r, h[:])
	if err == io.EOF {
		// lz4-java requires the end mark; a stream without it was cut.
		return l.corrupt("stream ends without its end mark")
	}
	if err != nil {
		return l.corrupt("block header cut short after %d bytes", n)
	}
	if !bytes.Equal(h[:8], lz4Magic) {
		return l.corrupt("bad block magic %q", h[:8])
	}
	method := h[8] & 0xf0
	clen := binary.LittleEndian.Uint32(h[9:])
	dlen := binary.LittleEndian.Uint32(h[13:])
	check := binary.LittleEndian.Uint32(h[17:])
	l.off += lz4HeaderLen
	if method != lz4Raw && method != lz4Method {
		return l.corrupt("unknown method 0x%02x", method)
	}
	if dlen == 0 && clen == 0 {
		if check != 0 {
			return l.corrupt("end mark with checksum 0x%x", check)
		}
		l.done = true
		// lz4-java stops at the end mark; concatenated streams may follow.
		if _, err := l.r.Peek(1); err == nil {
			l.done = false
		}
		return nil
	}
	// The token's low nibble bounds the block: at most 2^(10+level) bytes.
	if limit := uint32(1) << (10 + h[8]&0x0f); dlen > limit || clen > maxBlock || method == lz4Raw && clen != dlen {
		return l.corrupt("bad block lengths (compressed %d, decoded %d)", clen, dlen)
	}
	if cap(l.comp) < int(clen) {
		l.comp = make([]byte, clen)
	}
	l.comp = l.comp[:clen]
	if _, err := io.ReadFull(l.r, l.comp); err != nil {
		return l.corrupt("block of %d bytes cut short", clen)
	}
	out := make([]byte, dlen)
	if method == lz4Raw {
		copy(out, l.comp)
	} else {
		k, err := lz4.UncompressBlock(l.comp, out)
		if err != nil || k != int(dlen) {
			return l.corrupt("block of %d bytes does not decode to %d bytes: %v", clen, dlen, err)
		}
	}
	if got := xxh32(out, lz4Seed) & 0x0fffffff; got != check&0x0fffffff {
		return l.corrupt("checksum mismatch (stored 0x%07x, computed 0x%07x)", check&0x0fffffff, got)
	}
	l.off += int64(clen)
	l.out = out
	return nil
}

type lz4BlockWriter struct {
	w   io.Writer
	buf []byte
	c   lz4.Compressor
	err error
}

func (l *lz4BlockWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), lz4Block-len(l.buf))
		l.buf = append(l.buf, p[:k]...)
		p = p[k:]
		if len(l.buf) == lz4Block {
			if err := l.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// level is the token's low nibble for the block size: ⌈log2(size)⌉ - 10.
func lz4Level() byte { return byte(bits.Len32(lz4Block-1) - 10) }

func (l *lz4BlockWriter) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	comp := make([]byte, lz4.CompressBlockBound(len(l.buf)))
	k, err := l.c.CompressBlock(l.buf, comp)
	method := byte(lz4Method)
	if err != nil || k == 0 || k >= len(l.buf) {
		method, comp, k = lz4Raw, l.buf, len(l.buf)
	}
	var h [lz4HeaderLen]byte
	copy(h[:], lz4Magic)
	h[8] = method | lz4Level()
	binary.LittleEndian.PutUint32(h[9:], uint32(k))
	binary.LittleEndian.PutUint32(h[13:], uint32(len(l.buf)))
	binary.LittleEndian.PutUint32(h[17:], xxh32(l.buf, lz4Seed)&0x0fffffff)
	if _, err := l.w.Write(append(h[:], comp[:k]...)); err != nil {
		l.err = err
		return err
	}
	l.buf = l.buf[:0]
	return nil
}

func (l *lz4BlockWriter) Close() error {
	if err := l.flush(); err != nil {
		return err
	}
	var h [lz4HeaderLen]byte
	copy(h[:], lz4Magic)
	h[8] = lz4Raw | lz4Level()
	_, err := l.w.Write(h[:])
	return err
}

// xxh32 is XXH32 (lz4-java checks its blocks with it).
func xxh32(b []byte, seed uint32) uint32 {
	const (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	n := len(b)
	var h uint32
	if n >= 16 {
		v1, v2, v3, v4 := seed+p1+p2, seed+p2, seed, seed-p1
		round := func(v, x uint32) uint32 { return bits.RotateLeft32(v+x*p2, 13) * p1 }
		for len(b) >= 16 {
			v1 = round(v1, binary.LittleEndian.Uint32(b[0:]))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
			b = b[16:]
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = seed + p5
	}
	h += uint32(n)
	for len(b) >= 4 {
		h += binary.LittleEndian.Uint32(b) * p3
		h = bits.RotateLeft32(h, 17) * p4
		b = b[4:]
	}
	for _, c := range b {
		h += uint32(c) * p5
		h = bits.RotateLeft32(h, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
