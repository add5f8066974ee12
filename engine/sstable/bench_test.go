package sstable

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// The SSTable benchmark: an nb SSTable of about 1 GiB uncompressed
// (SSTABLE_BENCH_MB overrides), schema (pk text, ck int, v1 text /* 100
// chars */, v2 bigint, v3 double, PRIMARY KEY (pk, ck)), 1,000 rows per
// partition, LZ4 in 16 KiB chunks. It is generated once into a temp dir.
//
//	go test ./engine/sstable -run XXX -bench SSTable -benchtime 3x

var (
	benchOnce sync.Once
	benchDir  string
	benchRows int64
	benchErr  error
)

func benchSSTable(b *testing.B) string {
	benchOnce.Do(func() {
		mb := 1024
		if s := os.Getenv("SSTABLE_BENCH_MB"); s != "" {
			mb, _ = strconv.Atoi(s)
		}
		benchDir, benchErr = os.MkdirTemp("", "sstable-bench-")
		if benchErr != nil {
			return
		}
		s := &Schema{Keyspace: "bench", Table: "t",
			PartitionKey: []ColumnDef{{"pk", cql.Simple(cql.KindText)}},
			Clustering:   []ColumnDef{{"ck", cql.Simple(cql.KindInt)}},
			Regular:      []ColumnDef{{"v1", cql.Simple(cql.KindText)}, {"v2", cql.Simple(cql.KindBigint)}, {"v3", cql.Simple(cql.KindDouble)}}}
		base := int64(1_700_000_000_000_000)
		w, err := NewWriter(benchDir, s, &WriterOptions{MinTimestamp: &base})
		if err != nil {
			benchErr = err
			return
		}
		h := w.Header()
		cols := []*Column{h.Column("v1"), h.Column("v2"), h.Column("v3")}
		r := rand.New(rand.NewSource(1))
		// v1: 100 characters of words from a 2,000-word vocabulary, which
		// compresses about as well as real text does.
		vocab := make([]string, 2000)
		for i := range vocab {
			w := make([]byte, 2+r.Intn(8))
			for j := range w {
				w[j] = byte('a' + r.Intn(26))
			}
			vocab[i] = string(w)
		}
		v1 := make([]byte, 0, 128)
		var ck, v2, v3 [8]byte
		row := Row{Clustering: Clustering{ck[:4]}, Deletion: Live, Columns: make([]ColumnData, 3)}
		cells := make([]Cell, 3)
		// keys in Murmur3 order; about 140 bytes per row
		var keys [][]byte
		for p := 0; p < mb*(1<<20)/100_000+2; p++ {
			keys = append(keys, []byte(fmt.Sprintf("partition-%08d", p)))
		}
		slices.SortFunc(keys, func(a, b []byte) int { return cmp.Compare(token.Murmur3Token(a), token.Murmur3Token(b)) })
		for p := 0; w.data.pos < int64(mb)<<20 && p < len(keys); p++ {
			key := keys[p]
			if err := w.BeginPartition(key, Live); err != nil {
				benchErr = err
				return
			}
			for c := 0; c < 1000; c++ {
				ts := base + int64(p*1000+c)
				binary.BigEndian.PutUint32(ck[:4], uint32(c)^0x80000000) // sorts as int
				v1 = v1[:0]
				for len(v1) < 100 {
					v1 = append(v1, vocab[r.Intn(len(vocab))]...)
					v1 = append(v1, ' ')
				}
				v1 = v1[:100]
				binary.BigEndian.PutUint64(v2[:], uint64(r.Int63()))
				binary.BigEndian.PutUint64(v3[:], uint64(r.Int63()))
				row.Liveness = LivenessInfo{Timestamp: ts, LocalExpirationTime: NoDeletionTime}
				for i, v := range [][]byte{v1, v2[:], v3[:]} {
					cells[i] = Cell{Timestamp: ts, LocalDeletionTime: NoDeletionTime, Value: v}
					row.Columns[i] = ColumnData{Column: cols[i], Cells: cells[i : i+1], Deletion: Live}
				}
				if err := w.WriteRow(&row); err != nil {
					benchErr = err
					return
				}
				benchRows++
			}
			if err := w.EndPartition(); err != nil {
				benchErr = err
				return
			}
		}
		_, benchErr = w.Close()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

// cpuTime is the user+sys CPU time of the process so far (0 where getrusage
// is unavailable).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func BenchmarkSSTable(b *testing.B) {
	dir := benchSSTable(b)
	ctx := context.Background()
	r, err := OpenPath(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	dataLen := r.Compression().DataLength
	if st, err := os.Stat(filepath.Join(dir, r.Descriptor().FileName(ComponentData))); err == nil {
		b.Logf("%d rows in %d partitions, %d bytes uncompressed (%.1f per row), Data.db %d bytes", benchRows, benchRows/1000, dataLen, float64(dataLen)/float64(benchRows), st.Size())
	}
	decodePass := func(b *testing.B) (rows, cells int64) {
		sc, err := r.Scan(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer sc.Close()
		for sc.NextPartition() {
			for sc.Next() {
				u := sc.Unfiltered()
				rows++
				for j := range u.Row.Columns {
					cells++
					_ = u.Row.Columns[j].Cells[0].Value
				}
			}
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		return rows, cells
	}
	f, err := r.Source().Open(ctx, ComponentData)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	comp := r.Compression()
	lz4Pass := func(b *testing.B, withCRC bool) {
		ra := readAhead{f: f, size: f.Size(), win: 1 << 20, start: -1}
		dst := make([]byte, comp.ChunkLength)
		for c, off := range comp.Offsets {
			end := f.Size()
			if c+1 < len(comp.Offsets) {
				end = comp.Offsets[c+1]
			}
			raw, err := ra.get(off, int(end-off))
			if err != nil {
				b.Fatal(err)
			}
			body := raw[:len(raw)-4]
			if withCRC && crc32Of(body) != binary.BigEndian.Uint32(raw[len(raw)-4:]) {
				b.Fatal("crc")
			}
			n := int(binary.LittleEndian.Uint32(body))
			if _, err := lz4.UncompressBlock(body[4:], dst[:n]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(dataLen)
		var ms0, ms1 runtime.MemStats
		var rows, cells int64
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		for i := 0; i < b.N; i++ {
			r, c := decodePass(b)
			rows, cells = rows+r, cells+c
		}
		el := time.Since(start)
		runtime.ReadMemStats(&ms1)
		if rows != benchRows*int64(b.N) || cells != 3*rows {
			b.Fatalf("decoded %d rows, %d cells; want %d rows", rows, cells, benchRows*int64(b.N))
		}
		b.ReportMetric(float64(rows)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(rows), "allocs/row")
		b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(rows), "B/row")
	})
	for _, withCRC := range []bool{false, true} {
		name := "lz4-only"
		if withCRC {
			name = "lz4+crc"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(dataLen)
			for i := 0; i < b.N; i++ {
				lz4Pass(b, withCRC)
			}
		})
	}
	// interleaved: one LZ4-only pass, then one decode pass, alternating, so
	// that load from other processes hits both alike; reports the ratio.
	// It also reports the same ratio in CPU time (user+sys of the process,
	// which runs one busy goroutine here), which other processes' load
	// disturbs far less than wall time.
	b.Run("interleaved", func(b *testing.B) {
		var tl, td, cl, cd time.Duration
		for i := 0; i < b.N; i++ {
			c0 := cpuTime()
			t0 := time.Now()
			lz4Pass(b, false)
			t1 := time.Now()
			c1 := cpuTime()
			decodePass(b)
			tl, td = tl+t1.Sub(t0), td+time.Since(t1)
			cl, cd = cl+c1-c0, cd+cpuTime()-c1
		}
		mb := float64(dataLen) * float64(b.N) / 1e6
		b.ReportMetric(mb/tl.Seconds(), "lz4-MB/s")
		b.ReportMetric(mb/td.Seconds(), "decode-MB/s")
		b.ReportMetric(tl.Seconds()/td.Seconds()*100, "decode-%-of-lz4")
		if cl > 0 && cd > 0 {
			b.ReportMetric(cl.Seconds()/cd.Seconds()*100, "cpu-decode-%-of-lz4")
		}
	})
}

// BenchmarkRowParse times the plain-row fast paths alone (plainRow), over the
// rows of one decompressed chunk held in cache: no I/O, no LZ4, no CRC. It
// isolates the row parsing cost (ns/row) from the chunk path.
//
//	SSTABLE_BENCH_MB=16 go test ./engine/sstable -run XXX -bench RowParse -count 5  # not matched by -bench SSTable
func BenchmarkRowParse(b *testing.B) {
	dir := benchSSTable(b)
	ctx := context.Background()
	r, err := OpenPath(ctx, dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := r.Scan(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	if !sc.NextPartition() || !sc.Next() {
		b.Fatal("no row", sc.Err())
	}
	win := sc.ds.buf[sc.ds.off:]
	rows := 0
	for p := win; ; rows++ {
		n := sc.plainRow(p, &sc.u.Row)
		if n == 0 {
			break
		}
		p = p[n:]
	}
	if rows < 50 {
		b.Fatalf("%d plain rows in the window", rows)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := win
		for k := 0; k < rows; k++ {
			n := sc.plainRow(p, &sc.u.Row)
			p = p[n:]
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
