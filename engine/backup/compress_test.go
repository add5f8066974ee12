package backup

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/golang/snappy"
)

func TestXXH32Vectors(t *testing.T) {
	for _, c := range []struct {
		in   string
		seed uint32
		want uint32
	}{
		{"", 0, 0x02cc5d05},
		{"a", 0, 0x550d7456},
		{"abc", 0, 0x32d153ff},
		{"Nobody inspects the spammish repetition", 0, 0xe2293b2f},
	} {
		if got := xxh32([]byte(c.in), c.seed); got != c.want {
			t.Errorf("xxh32(%q, %d) = %08x, want %08x", c.in, c.seed, got, c.want)
		}
	}
}

func sample(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(3) == 0 {
			b.WriteString(strings.Repeat("partition-key ", 1+r.IntN(20)))
		} else {
			b.WriteByte(byte(r.UintN(256)))
		}
	}
	return b.Bytes()[:n]
}

func roundTrip(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var enc bytes.Buffer
	w, err := NewEncoder(&enc, c)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross block boundaries.
	for p := data; len(p) > 0; {
		k := min(len(p), 7777)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewDecoder(bytes.NewReader(enc.Bytes()), c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: decode: %v", c, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: round trip of %d bytes gave %d bytes", c, len(data), len(got))
	}
	return enc.Bytes()
}

func TestRoundTrips(t *testing.T) {
	for _, c := range []Compression{Snappy, LZ4, None} {
		for _, n := range []int{0, 1, 100, snappyBlock, snappyBlock + 1, lz4Block*3 + 17, 1 << 20} {
			roundTrip(t, c, sample(n))
		}
	}
}

func TestSnappyJavaFraming(t *testing.T) {
	data := sample(100_000)
	enc := roundTrip(t, Snappy, data)
	// 8-byte magic, version 1, compatible version 1.
	if !bytes.Equal(enc[:16], []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}) {
		t.Fatalf("header % x", enc[:16])
	}
	// Blocks of 32 KiB: the first length prefix is big-endian.
	n := binary.BigEndian.Uint32(enc[16:])
	if d, err := snappy.Decode(nil, enc[20:20+n]); err != nil || !bytes.Equal(d, data[:snappyBlock]) {
		t.Fatalf("first block: %v", err)
	}
	// Concatenated streams repeat the header; the reader skips it.
	cat := append(append([]byte(nil), enc...), enc...)
	got, err := io.ReadAll(&snappyReader{r: newBuf(cat)})
	if err != nil || !bytes.Equal(got, append(append([]byte(nil), data...), data...)) {
		t.Fatalf("concatenated: %d bytes, %v", len(got), err)
	}
	// A stream with no header is one raw block (old snappy-java).
	raw := snappy.Encode(nil, data[:5000])
	got, err = io.ReadAll(&snappyReader{r: newBuf(raw)})
	if err != nil || !bytes.Equal(got, data[:5000]) {
		t.Fatalf("raw block: %v", err)
	}
}

func TestLZ4JavaFraming(t *testing.T) {
	data := sample(lz4Block + 10)
	enc := roundTrip(t, LZ4, data)
	if string(enc[:8]) != "LZ4Block" || enc[8] != 0x26 {
		t.Fatalf("first header % x", enc[:9])
	}
	if binary.LittleEndian.Uint32(enc[13:]) != lz4Block {
		t.Fatalf("decoded length %d", binary.LittleEndian.Uint32(enc[13:]))
	}
	if got := binary.LittleEndian.Uint32(enc[17:]); got != xxh32(data[:lz4Block], lz4Seed)&0x0fffffff {
		t.Fatalf("checksum %x", got)
	}
	end := enc[len(enc)-lz4HeaderLen:]
	if string(end[:8]) != "LZ4Block" || end[8] != 0x16 || !bytes.Equal(end[9:], make([]byte, 12)) {
		t.Fatalf("end mark % x", end)
	}
	// Incompressible data goes in raw blocks.
	rnd := make([]byte, 5000)
	for i := range rnd {
		rnd[i] = byte(rand.Uint32())
	}
	enc = roundTrip(t, LZ4, rnd)
	if enc[8]&0xf0 != lz4Raw {
		t.Fatalf("random data method %x", enc[8])
	}
}

func TestCorruptStreams(t *testing.T) {
	data := sample(70_000)
	for _, c := range []Compression{Snappy, LZ4} {
		enc := roundTrip(t, c, data)
		cases := map[string][]byte{
			"truncated": enc[:len(enc)-5],
			"cut":       enc[:len(enc)/3],
		}
		if c == LZ4 {
			// Snappy streams carry no checksum: a flipped literal byte
			// decodes silently (the SSTable's own CRCs catch it); LZ4
			// blocks carry xxh32.
			cases["flipped"] = flip(enc, len(enc)/2)
			cases["no end mark"] = enc[:len(enc)-lz4HeaderLen]
		}
		for name, b := range cases {
			r, _ := NewDecoder(bytes.NewReader(b), c)
			_, err := io.ReadAll(r)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s %s: %v, want ErrCorrupt", c, name, err)
			}
		}
	}
	if _, err := NewDecoder(nil, "ZSTD"); !errors.Is(err, ErrFormat) {
		t.Errorf("unknown compression: %v", err)
	}
	if _, err := ParseCompression("zip"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseCompression(zip): %v", err)
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x55
	return out
}

func newBuf(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func FuzzSnappyStream(f *testing.F) {
	var enc bytes.Buffer
	w, _ := NewEncoder(&enc, Snappy)
	w.Write(sample(1000))
	w.Close()
	f.Add(enc.Bytes())
	f.Add([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 1, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := NewDecoder(bytes.NewReader(b), Snappy)
		io.Copy(io.Discard, r)
	})
}

func FuzzLZ4BlockStream(f *testing.F) {
	var enc bytes.Buffer
	w, _ := NewEncoder(&enc, LZ4)
	w.Write(sample(1000))
	w.Close()
	f.Add(enc.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _ := NewDecoder(bytes.NewReader(b), LZ4)
		io.Copy(io.Discard, r)
	})
}
