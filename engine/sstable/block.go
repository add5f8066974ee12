package sstable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Compression describes how Data.db is stored (CompressionInfo.db, or CRC.db
// for uncompressed SSTables).
type Compression struct {
	Compressor          string // class simple name; "" when uncompressed
	Options             map[string]string
	ChunkLength         int   // uncompressed bytes per chunk
	MaxCompressedLength int   // na+: chunks stored with ≥ this many bytes are not compressed
	DataLength          int64 // uncompressed length of Data.db
	Offsets             []int64
	HasCRC              bool // uncompressed: CRC.db present
}

// Compressed reports whether Data.db is chunk-compressed.
func (c *Compression) Compressed() bool { return c.Compressor != "" }

// ChunkCount is the number of chunks of Data.db.
func (c *Compression) ChunkCount() int {
	if c.Compressed() {
		return len(c.Offsets)
	}
	if c.ChunkLength == 0 {
		return 0
	}
	return int((c.DataLength + int64(c.ChunkLength) - 1) / int64(c.ChunkLength))
}

func parseCompressionInfo(b []byte, file string, v Version) (*Compression, error) {
	r := &mreader{b: b, file: file}
	c := &Compression{Compressor: r.utf("compressor class")}
	n := r.count("compression option count", 4)
	for i := 0; i < n; i++ {
		if c.Options == nil {
			c.Options = map[string]string{}
		}
		k := r.utf("option key")
		c.Options[k] = r.utf("option value")
	}
	c.ChunkLength = int(r.i32("chunk length"))
	c.MaxCompressedLength = math.MaxInt32
	if v.HasMaxCompressedLength {
		c.MaxCompressedLength = int(r.i32("max compressed length"))
	}
	c.DataLength = r.i64("data length")
	chunks := r.count("chunk count", 8)
	if r.err != nil {
		return nil, r.err
	}
	if c.ChunkLength <= 0 || c.ChunkLength > MaxChunkLength || c.ChunkLength&(c.ChunkLength-1) != 0 {
		return nil, errAt(ErrCorrupt, file, 0, "chunk length %d: want a power of two up to %d", c.ChunkLength, MaxChunkLength)
	}
	if c.DataLength < 0 || int64(chunks) != (c.DataLength+int64(c.ChunkLength)-1)/int64(c.ChunkLength) {
		return nil, errAt(ErrCorrupt, file, int64(r.p-4), "%d chunks for %d bytes in chunks of %d: want %d", chunks, c.DataLength, c.ChunkLength, (c.DataLength+int64(c.ChunkLength)-1)/int64(c.ChunkLength))
	}
	c.Offsets = make([]int64, chunks)
	for i := range c.Offsets {
		c.Offsets[i] = r.i64("chunk offset")
		if i > 0 && c.Offsets[i] < c.Offsets[i-1]+4 && r.err == nil {
			return nil, errAt(ErrCorrupt, file, int64(r.p-8), "chunk %d offset %d: want at least %d", i, c.Offsets[i], c.Offsets[i-1]+4)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if _, err := CompressorByName(c.Compressor); err != nil {
		return nil, fmt.Errorf("sstable %s at offset 0: %w", file, err)
	}
	return c, nil
}

// MaxChunkLength bounds the chunk size this reader accepts (Cassandra's
// default is 16 KiB, 64 KiB before 4.0): a reader holds about two chunks per
// SSTable, so this bounds its memory whatever the file says.
const MaxChunkLength = 16 << 20

// readAhead serves ReadAt requests from a window of the file, so sequential
// scans make one large read (one ranged GET) per window.
type readAhead struct {
	f     File
	size  int64
	win   int
	buf   []byte
	start int64
}

func (ra *readAhead) get(off int64, n int) ([]byte, error) {
	if off >= ra.start && off+int64(n) <= ra.start+int64(len(ra.buf)) {
		return ra.buf[off-ra.start : off-ra.start+int64(n)], nil
	}
	want := max(n, ra.win)
	if rem := ra.size - off; int64(want) > rem {
		want = int(rem)
	}
	if want < n {
		return nil, io.ErrUnexpectedEOF
	}
	if cap(ra.buf) < want {
		ra.buf = make([]byte, want)
	}
	ra.buf = ra.buf[:want]
	m, err := ra.f.ReadAt(ra.buf, off)
	if m < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		ra.buf = ra.buf[:0]
		return nil, err
	}
	ra.start = off
	return ra.buf[:n], nil
}

// chunkReader turns Data.db into uncompressed chunks, checking each chunk's
// CRC32. It is the block layer: it knows nothing of rows.
type chunkReader struct {
	name   string
	comp   *Compression
	codec  Compressor
	crcs   []uint32 // uncompressed with CRC.db
	ra     readAhead
	ctx    context.Context
	noCRC  bool
	chunks int
}

func newChunkReader(ctx context.Context, f File, name string, comp *Compression, crcs []uint32, readAheadBytes int) (*chunkReader, error) {
	cr := &chunkReader{name: name, comp: comp, crcs: crcs, ctx: ctx, ra: readAhead{f: f, size: f.Size(), win: readAheadBytes, start: -1}}
	if comp.Compressed() {
		codec, err := CompressorByName(comp.Compressor)
		if err != nil {
			return nil, err
		}
		cr.codec = codec
		if n := len(comp.Offsets); n > 0 && comp.Offsets[n-1] > f.Size()-4 {
			return nil, errAt(ErrCorrupt, name, f.Size(), "last chunk at offset %d: want the file to extend past it (truncated Data.db?)", comp.Offsets[n-1])
		}
	} else if comp.DataLength != f.Size() {
		return nil, errAt(ErrCorrupt, name, f.Size(), "uncompressed Data.db of %d bytes: want %d", f.Size(), comp.DataLength)
	}
	cr.chunks = comp.ChunkCount()
	return cr, nil
}

// chunkSize is the uncompressed size of chunk i.
func (cr *chunkReader) chunkSize(i int) int {
	cl := int64(cr.comp.ChunkLength)
	start := int64(i) * cl
	return int(min(cl, cr.comp.DataLength-start))
}

// read decompresses chunk i into dst (of chunkSize(i) bytes).
func (cr *chunkReader) read(i int, dst []byte) error {
	if err := cr.ctx.Err(); err != nil {
		return err
	}
	cl := int64(cr.comp.ChunkLength)
	if !cr.comp.Compressed() {
		off := int64(i) * cl
		src, err := cr.ra.get(off, len(dst))
		if err != nil {
			return errAt(ErrCorrupt, cr.name, off, "chunk %d: want %d bytes: %v", i, len(dst), err)
		}
		if cr.crcs != nil && !cr.noCRC {
			if i >= len(cr.crcs) {
				return errAt(ErrCorrupt, cr.name, off, "chunk %d has no CRC in CRC.db (%d CRCs)", i, len(cr.crcs))
			}
			if got := crc32.ChecksumIEEE(src); got != cr.crcs[i] {
				return errAt(ErrChecksum, cr.name, off, "chunk %d crc32 mismatch (stored 0x%08x, computed 0x%08x)", i, cr.crcs[i], got)
			}
		}
		copy(dst, src)
		return nil
	}
	start := cr.comp.Offsets[i]
	end := cr.ra.size
	if i+1 < len(cr.comp.Offsets) {
		end = cr.comp.Offsets[i+1]
	}
	if end-start < 4 || end-start-4 > int64(math.MaxInt32) {
		return errAt(ErrCorrupt, cr.name, start, "chunk %d spans %d bytes: want at least its 4-byte CRC", i, end-start)
	}
	raw, err := cr.ra.get(start, int(end-start))
	if err != nil {
		return errAt(ErrCorrupt, cr.name, start, "chunk %d: want %d bytes: %v (truncated Data.db?)", i, end-start, err)
	}
	body := raw[:len(raw)-4]
	stored := binary.BigEndian.Uint32(raw[len(raw)-4:])
	if !cr.noCRC {
		if got := crc32.ChecksumIEEE(body); got != stored {
			hint := ""
			if i == len(cr.comp.Offsets)-1 {
				hint = " (the last chunk: a truncated Data.db?)"
			}
			return errAt(ErrChecksum, cr.name, start, "chunk %d crc32 mismatch (stored 0x%08x, computed 0x%08x)%s", i, stored, got, hint)
		}
	}
	if len(body) >= cr.comp.MaxCompressedLength {
		if len(body) != len(dst) {
			return errAt(ErrCorrupt, cr.name, start, "uncompressed chunk %d of %d bytes: want %d", i, len(body), len(dst))
		}
		copy(dst, body)
		return nil
	}
	n, err := cr.codec.Decompress(dst, body)
	if err != nil {
		return errAt(ErrCorrupt, cr.name, start, "chunk %d (%s): %v", i, cr.comp.Compressor, err)
	}
	if n != len(dst) {
		return errAt(ErrCorrupt, cr.name, start, "chunk %d decompresses to %d bytes: want %d", i, n, len(dst))
	}
	return nil
}

// dataStream is a window over the uncompressed Data.db. Decoders read
// buf[off:]; fill loads more chunks, first moving the unread bytes to the front.
type dataStream struct {
	cr   *chunkReader
	buf  []byte
	off  int
	base int64 // uncompressed offset of buf[0]
	next int   // next chunk to load
	end  int64 // uncompressed length
}

func (s *dataStream) pos() int64       { return s.base + int64(s.off) }
func (s *dataStream) avail() []byte    { return s.buf[s.off:] }
func (s *dataStream) remaining() int64 { return s.end - s.pos() }

// fill loads chunks until at least n bytes are available or the data ends.
func (s *dataStream) fill(n int) error {
	if len(s.buf)-s.off >= n {
		return nil
	}
	if s.off > 0 {
		k := copy(s.buf, s.buf[s.off:])
		s.buf = s.buf[:k]
		s.base += int64(s.off)
		s.off = 0
	}
	for len(s.buf) < n && s.next < s.cr.chunks {
		cs := s.cr.chunkSize(s.next)
		if cap(s.buf)-len(s.buf) < cs {
			nb := make([]byte, len(s.buf), max(2*cap(s.buf), len(s.buf)+cs, 64<<10))
			copy(nb, s.buf)
			s.buf = nb
		}
		l := len(s.buf)
		if err := s.cr.read(s.next, s.buf[l:l+cs]); err != nil {
			return err
		}
		s.buf = s.buf[:l+cs]
		s.next++
	}
	return nil
}

// seek positions the stream at an uncompressed offset.
func (s *dataStream) seek(pos int64) error {
	if pos < 0 || pos > s.end {
		return errAt(ErrCorrupt, s.cr.name, pos, "seek past the end of the %d uncompressed bytes", s.end)
	}
	if pos >= s.base && pos <= s.base+int64(len(s.buf)) {
		s.off = int(pos - s.base)
		return nil
	}
	cl := int64(s.cr.comp.ChunkLength)
	chunk := pos / cl
	s.buf = s.buf[:0]
	s.off = 0
	s.base = chunk * cl
	s.next = int(chunk)
	if err := s.fill(int(pos - s.base)); err != nil {
		return err
	}
	s.off = int(pos - s.base)
	return nil
}

func crc32Of(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
