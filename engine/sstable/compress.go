package sstable

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compressor is one of Cassandra's chunk compressors (ICompressor).
type Compressor interface {
	// Name is the class simple name stored in CompressionInfo.db.
	Name() string
	// Decompress decompresses src into dst, which has exactly the expected
	// uncompressed length, and returns the number of bytes written.
	Decompress(dst, src []byte) (int, error)
	// Compress appends the compressed form of src to dst.
	Compress(dst, src []byte) ([]byte, error)
}

// Compressor names accepted by CompressorByName and the writer.
const (
	LZ4     = "LZ4Compressor"
	Snappy  = "SnappyCompressor"
	Deflate = "DeflateCompressor"
	Zstd    = "ZstdCompressor"
	Noop    = "NoopCompressor"
	// None writes an uncompressed Data.db with CRC.db instead of CompressionInfo.db.
	None = "none"
)

// CompressorByName returns a compressor by class name, simple or qualified
// (org.apache.cassandra.io.compress.LZ4Compressor), or ErrUnsupported.
func CompressorByName(name string) (Compressor, error) {
	short := name[strings.LastIndexByte(name, '.')+1:]
	switch short {
	case LZ4:
		return lz4Compressor{}, nil
	case Snappy:
		return snappyCompressor{}, nil
	case Deflate:
		return &deflateCompressor{}, nil
	case Zstd:
		return &zstdCompressor{}, nil
	case Noop:
		return noopCompressor{}, nil
	}
	return nil, fmt.Errorf("%w: compressor %q (want LZ4Compressor, SnappyCompressor, DeflateCompressor, ZstdCompressor or NoopCompressor)", ErrUnsupported, name)
}

// lz4Compressor: uint32 little-endian uncompressed length + raw LZ4 block.
type lz4Compressor struct{}

func (lz4Compressor) Name() string { return LZ4 }

func (lz4Compressor) Decompress(dst, src []byte) (int, error) {
	if len(src) < 4 {
		return 0, errors.New("lz4 chunk shorter than its 4-byte length")
	}
	n := int(uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16 | uint32(src[3])<<24)
	if n != len(dst) {
		return 0, fmt.Errorf("lz4 chunk says %d uncompressed bytes, want %d", n, len(dst))
	}
	got, err := lz4.UncompressBlock(src[4:], dst)
	if err != nil {
		return 0, fmt.Errorf("lz4: %v", err)
	}
	return got, nil
}

var lz4Pool = sync.Pool{New: func() any { return new(lz4.Compressor) }}

func (lz4Compressor) Compress(dst, src []byte) ([]byte, error) {
	n := len(src)
	dst = append(dst, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	start := len(dst)
	bound := lz4.CompressBlockBound(n)
	dst = grow(dst, bound)
	c := lz4Pool.Get().(*lz4.Compressor)
	w, err := c.CompressBlock(src, dst[start:start+bound])
	lz4Pool.Put(c)
	if err != nil {
		return nil, err
	}
	if w == 0 && n > 0 { // incompressible: a block of literals only is valid LZ4
		return lz4Literals(dst[:start], src), nil
	}
	return dst[:start+w], nil
}

// lz4Literals writes src as a single LZ4 sequence of literals.
func lz4Literals(dst, src []byte) []byte {
	n := len(src)
	if n < 15 {
		dst = append(dst, byte(n<<4))
	} else {
		dst = append(dst, 0xf0)
		for r := n - 15; ; r -= 255 {
			if r < 255 {
				dst = append(dst, byte(r))
				break
			}
			dst = append(dst, 255)
		}
	}
	return append(dst, src...)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// snappyCompressor: a raw Snappy block.
type snappyCompressor struct{}

func (snappyCompressor) Name() string { return Snappy }

func (snappyCompressor) Decompress(dst, src []byte) (int, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return 0, fmt.Errorf("snappy: %v", err)
	}
	if n != len(dst) {
		return 0, fmt.Errorf("snappy chunk says %d uncompressed bytes, want %d", n, len(dst))
	}
	out, err := snappy.Decode(dst, src)
	if err != nil {
		return 0, fmt.Errorf("snappy: %v", err)
	}
	return len(out), nil
}

func (snappyCompressor) Compress(dst, src []byte) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, snappy.MaxEncodedLen(len(src)))
	out := snappy.Encode(dst[start:], src)
	return dst[:start+len(out)], nil
}

// deflateCompressor: a zlib stream (java.util.zip.Deflater/Inflater).
type deflateCompressor struct {
	mu sync.Mutex
	r  io.ReadCloser
	br bytes.Reader
}

func (*deflateCompressor) Name() string { return Deflate }

func (d *deflateCompressor) Decompress(dst, src []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.br.Reset(src)
	var err error
	if d.r == nil {
		d.r, err = zlib.NewReader(&d.br)
	} else {
		err = d.r.(zlib.Resetter).Reset(&d.br, nil)
	}
	if err != nil {
		d.r = nil
		return 0, fmt.Errorf("deflate: %v", err)
	}
	n, err := io.ReadFull(d.r, dst)
	if err != nil {
		return n, fmt.Errorf("deflate: %v after %d of %d bytes", err, n, len(dst))
	}
	var one [1]byte
	if m, _ := d.r.Read(one[:]); m != 0 {
		return n, fmt.Errorf("deflate chunk holds more than %d bytes", len(dst))
	}
	return n, nil
}

func (*deflateCompressor) Compress(dst, src []byte) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	w := zlib.NewWriter(b)
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// zstdCompressor: one standard zstd frame.
type zstdCompressor struct {
	once sync.Once
	dec  *zstd.Decoder
	enc  *zstd.Encoder
	err  error
}

func (*zstdCompressor) Name() string { return Zstd }

func (z *zstdCompressor) init() error {
	z.once.Do(func() {
		z.dec, z.err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if z.err == nil {
			// Cassandra's default compression_level is 3, zstd's "default".
			z.enc, z.err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		}
	})
	return z.err
}

func (z *zstdCompressor) Decompress(dst, src []byte) (int, error) {
	if err := z.init(); err != nil {
		return 0, err
	}
	out, err := z.dec.DecodeAll(src, dst[:0])
	if err != nil {
		return 0, fmt.Errorf("zstd: %v", err)
	}
	if len(out) != len(dst) || (len(out) > 0 && &out[0] != &dst[0]) {
		return 0, fmt.Errorf("zstd chunk holds %d bytes, want %d", len(out), len(dst))
	}
	return len(out), nil
}

func (z *zstdCompressor) Compress(dst, src []byte) ([]byte, error) {
	if err := z.init(); err != nil {
		return nil, err
	}
	return z.enc.EncodeAll(src, dst), nil
}

// noopCompressor stores chunks as they are (but still checksummed).
type noopCompressor struct{}

func (noopCompressor) Name() string { return Noop }

func (noopCompressor) Decompress(dst, src []byte) (int, error) {
	if len(src) != len(dst) {
		return 0, fmt.Errorf("noop chunk of %d bytes, want %d", len(src), len(dst))
	}
	return copy(dst, src), nil
}

func (noopCompressor) Compress(dst, src []byte) ([]byte, error) { return append(dst, src...), nil }
