package move_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/objstore/s3test"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

// Benchmarks of the whole move (issue 5, Performance): a backup in a real
// S3 server (versitygw) → Iceberg (SQLite catalog, file warehouse).
//
//	go test ./engine/move -run '^$' -bench BenchmarkMoveNarrow -benchtime 3x
//	SHADOW_BENCH_SKEW_MB=2048 go test ./engine/move -run '^$' -bench BenchmarkMoveSkew -benchtime 1x
//
// Sizes come from SHADOW_BENCH_ROWS (narrow, default 2,000,000 logical rows)
// and SHADOW_BENCH_SKEW_MB (the one partition's Data.db size, default 256).
// Peak RSS is the process's VmHWM over the timed runs only: it is reset
// (clear_refs) after the data is generated and uploaded.

const narrowDDL = `CREATE KEYSPACE bench WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;
CREATE TABLE bench.narrow (pk text, ck int, v1 text, v2 bigint, v3 double, PRIMARY KEY (pk, ck));
`

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// writeNarrow streams one SSTable of the narrow table: partitions of
// rowsPer rows until rows rows, v1 of v1Len characters.
func writeNarrow(b *testing.B, dir string, rows, rowsPer, v1Len int) []string {
	b.Helper()
	text, integer, bigint, double := cql.Simple(cql.KindText), cql.Simple(cql.KindInt), cql.Simple(cql.KindBigint), cql.Simple(cql.KindDouble)
	sc := &sstable.Schema{Keyspace: "bench", Table: "narrow",
		PartitionKey: []sstable.ColumnDef{{Name: "pk", Type: text}}, Clustering: []sstable.ColumnDef{{Name: "ck", Type: integer}},
		Regular: []sstable.ColumnDef{{Name: "v1", Type: text}, {Name: "v2", Type: bigint}, {Name: "v3", Type: double}}}
	base := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC).UnixMicro()
	w, err := sstable.NewWriter(dir, sc, &sstable.WriterOptions{MinTimestamp: &base})
	if err != nil {
		b.Fatal(err)
	}
	h := w.Header()
	cols := []*sstable.Column{h.Column("v1"), h.Column("v2"), h.Column("v3")}
	parts := (rows + rowsPer - 1) / rowsPer
	keys := make([][]byte, parts)
	for p := range keys {
		keys[p] = fmt.Appendf(nil, "partition-%09d", p)
	}
	slices.SortFunc(keys, func(a, b []byte) int { return cmp.Compare(token.Murmur3Token(a), token.Murmur3Token(b)) })
	r := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 2000)
	for i := range vocab {
		wd := make([]byte, 2+r.IntN(8))
		for j := range wd {
			wd[j] = byte('a' + r.IntN(26))
		}
		vocab[i] = string(wd)
	}
	var ck [4]byte
	var v2, v3 [8]byte
	v1 := make([]byte, 0, v1Len+16)
	row := sstable.Row{Clustering: sstable.Clustering{ck[:]}, Deletion: sstable.Live, Columns: make([]sstable.ColumnData, 3)}
	cells := make([]sstable.Cell, 3)
	n := 0
	for _, key := range keys {
		if err := w.BeginPartition(key, sstable.Live); err != nil {
			b.Fatal(err)
		}
		for c := 0; c < rowsPer && n < rows; c++ {
			n++
			ts := base + int64(n)
			binary.BigEndian.PutUint32(ck[:], uint32(int32(c)))
			v1 = v1[:0]
			for len(v1) < v1Len {
				v1 = append(v1, vocab[r.IntN(len(vocab))]...)
				v1 = append(v1, ' ')
			}
			binary.BigEndian.PutUint64(v2[:], r.Uint64())
			binary.BigEndian.PutUint64(v3[:], math.Float64bits(r.NormFloat64()))
			for i, v := range [][]byte{v1, v2[:], v3[:]} {
				cells[i] = sstable.Cell{Timestamp: ts, TTL: sstable.NoTTL, LocalDeletionTime: sstable.NoDeletionTime, Value: v}
				row.Columns[i] = sstable.ColumnData{Column: cols[i], Cells: cells[i : i+1], Deletion: sstable.Live}
			}
			row.Liveness = sstable.EmptyLiveness
			row.Liveness.Timestamp = ts
			if err := w.WriteRow(&row); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.EndPartition(); err != nil {
			b.Fatal(err)
		}
	}
	paths, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	return paths
}

// uploadNarrow uploads the same SSTable as each node of a 3-node, RF 3
// cluster (16 vnodes each) to st as one Medusa backup.
func uploadNarrow(b *testing.B, st objstore.Store, paths []string) int64 {
	b.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	var nodes []ring.Node
	for i := range 3 {
		n := ring.Node{Name: fmt.Sprintf("node%d.bench", i+1), DC: "dc1", Rack: fmt.Sprintf("r%d", i+1)}
		for range 16 {
			n.Tokens = append(n.Tokens, int64(r.Uint64()))
		}
		nodes = append(nodes, n)
	}
	var files []backup.File
	var dataBytes int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasSuffix(p, "-Data.db") {
			dataBytes = fi.Size()
		}
		files = append(files, backup.File{Keyspace: "bench", Table: "narrow", Name: filepath.Base(p), Size: fi.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(p) }})
	}
	w := &backup.MedusaWriter{Store: st, Schema: narrowDDL, Ring: nodes}
	for i, n := range nodes {
		if err := w.WriteNode(ctx, "bench", backup.NodeUpload{Node: n, Time: snap.Add(time.Duration(i) * time.Minute), Files: files}); err != nil {
			b.Fatal(err)
		}
	}
	return dataBytes
}

// peakRSS is VmHWM in bytes; resetPeak starts a new high-water mark.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func resetPeak(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): it includes the data generation", err)
	}
}

func benchMove(b *testing.B, store string, s3 lake.S3, job move.Job, dataBytes int64) {
	ctx := context.Background()
	cat := openLake(b)
	job.Store, job.S3, job.Keyspace, job.Table = store, s3, "bench", "narrow"
	resetPeak(b)
	b.Logf("RSS before the runs: %.1f MiB", float64(procStatus("VmRSS:"))/(1<<20))
	b.ResetTimer()
	var rows, in int64
	start := time.Now()
	for i := range b.N {
		res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(b, fmt.Sprintf("bench.narrow_%d", i))}, nil)
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
		in += res.InputBytes
		if i == 0 {
			b.Logf("units %d, parallelism %d, data files %d, stages %v", res.Units, res.Parallelism, res.DataFiles, res.Stages)
		}
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(rows)/el, "rows/s")
	b.ReportMetric(float64(in)/el/1e6, "MB/s-read")
	b.ReportMetric(float64(2*dataBytes*int64(b.N))/el/1e6, "MB/s-input")
	b.ReportMetric(float64(peakRSS())/(1<<20), "MiB-peak-RSS")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
}

// BenchmarkMoveNarrow: 3 nodes, RF 3, LOCAL_QUORUM (two replicas merged per
// range), the narrow table, versitygw → Iceberg. MB/s-input counts the
// Data.db bytes of the two replicas read; MB/s-read every byte fetched.
func BenchmarkMoveNarrow(b *testing.B) {
	rows := envInt("SHADOW_BENCH_ROWS", 2_000_000)
	srv := s3test.Start(b)
	srv.Setenv(b)
	srv.CreateBucket(b, "bench")
	st, err := objstore.Open(context.Background(), "s3://bench/narrow", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		b.Fatal(err)
	}
	paths := writeNarrow(b, b.TempDir(), rows, 100, 20)
	data := uploadNarrow(b, st, paths)
	b.Logf("%d rows; Data.db %.1f MB per replica", rows, float64(data)/1e6)
	benchMove(b, "s3://bench/narrow", lake.S3{Endpoint: srv.Endpoint, PathStyle: true}, move.Job{}, data)
}

// BenchmarkMoveSkew: one partition of SHADOW_BENCH_SKEW_MB of Data.db
// (1 KiB rows) on the same 3-node RF 3 cluster, in a file:// store, with a
// 192 MiB memory budget and GOMEMLIMIT-style soft limit of 200 MiB.
func BenchmarkMoveSkew(b *testing.B) {
	mb := envInt("SHADOW_BENCH_SKEW_MB", 256)
	// SHADOW_BENCH_STORE_DIR keeps the backup, to run `shadow move` on it
	// in its own process (docs/benchmarks.md).
	dir := os.Getenv("SHADOW_BENCH_STORE_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	st := file.New(dir, objstore.Settings{})
	rows := mb << 20 / 1060
	tmp := b.TempDir()
	paths := writeNarrow(b, tmp, rows, rows, 1000)
	data := uploadNarrow(b, st, paths)
	os.RemoveAll(tmp)
	b.Logf("one partition of %d rows; Data.db %.1f MB per replica", rows, float64(data)/1e6)
	old := debug.SetMemoryLimit(200 << 20)
	defer debug.SetMemoryLimit(old)
	benchMove(b, "file://"+dir, lake.S3{}, move.Job{Memory: int64(envInt("SHADOW_BENCH_SKEW_MEMORY_MB", 192)) << 20}, data)
}
