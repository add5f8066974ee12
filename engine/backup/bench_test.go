package backup

import (
	"bytes"
	"io"
	"testing"
)

// Decoding speed of Priam's compressed objects: the catalog decodes them
// whole before the SSTable reader sees a byte. Results: docs/benchmarks.md.
func benchmarkDecode(b *testing.B, c Compression) {
	data := sample(8 << 20)
	var enc bytes.Buffer
	w, _ := NewEncoder(&enc, c)
	w.Write(data)
	w.Close()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		r, _ := NewDecoder(bytes.NewReader(enc.Bytes()), c)
		if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(enc.Len())/float64(len(data)), "ratio")
}

func BenchmarkDecodeSnappy(b *testing.B) { benchmarkDecode(b, Snappy) }
func BenchmarkDecodeLZ4(b *testing.B)    { benchmarkDecode(b, LZ4) }

func benchmarkEncode(b *testing.B, c Compression) {
	data := sample(8 << 20)
	b.SetBytes(int64(len(data)))
	for range b.N {
		w, _ := NewEncoder(io.Discard, c)
		w.Write(data)
		w.Close()
	}
}

func BenchmarkEncodeSnappy(b *testing.B) { benchmarkEncode(b, Snappy) }
func BenchmarkEncodeLZ4(b *testing.B)    { benchmarkEncode(b, LZ4) }
