package connector_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/cassmove/shadow/engine/connector"
)

// genKV is a streaming Key-Value source: items (id, key, value,
// value_metadata) and items_chunks, generated batch by batch, so that the
// benchmark measures the connector's memory, not the source's.
type genKV struct {
	items, chunks int // items, chunks per item
	chunkSize     int
	meta          []byte // the same value_metadata for every item (same bytes)
}

func newGenKV(items, chunks, chunkSize int) *genKV {
	g := &genKV{items: items, chunks: chunks, chunkSize: chunkSize}
	h := sha256.New()
	for c := range chunks {
		h.Write(g.chunk(c))
	}
	g.meta = fmt.Appendf(nil, `{"chunks": %d, "size": %d, "compression": "none", "sha256": "%s"}`, chunks, chunks*chunkSize, hex.EncodeToString(h.Sum(nil)))
	return g
}

func (g *genKV) chunk(c int) []byte {
	b := make([]byte, g.chunkSize)
	for i := range b {
		b[i] = byte(c*31 + i)
	}
	return b
}

var (
	kvItemsSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "key", Type: arrow.BinaryTypes.Binary},
		{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true}, {Name: "value_metadata", Type: arrow.BinaryTypes.Binary, Nullable: true}}, nil)
	kvChunksSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "key", Type: arrow.BinaryTypes.Binary},
		{Name: "chunk", Type: arrow.PrimitiveTypes.Int32}, {Name: "data", Type: arrow.BinaryTypes.Binary, Nullable: true}}, nil)
)

func (g *genKV) Tables() []string { return []string{"items", "items_chunks"} }
func (g *genKV) Schema(t string) (*arrow.Schema, error) {
	if t == "items" {
		return kvItemsSchema, nil
	}
	return kvChunksSchema, nil
}
func (g *genKV) Key(t string) ([]string, error) { return []string{"id", "key"}, nil }

func (g *genKV) Scan(ctx context.Context, t string, emit func(arrow.RecordBatch) error) error {
	mem := memory.DefaultAllocator
	if t == "items" {
		b := array.NewRecordBuilder(mem, kvItemsSchema)
		defer b.Release()
		for i := range g.items {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("id-%d", i))
			b.Field(1).(*array.BinaryBuilder).Append([]byte{byte(i)})
			b.Field(2).AppendNull()
			b.Field(3).(*array.BinaryBuilder).Append(g.meta)
			if b.Field(0).Len() == 256 || i == g.items-1 {
				if err := emit(b.NewRecordBatch()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	b := array.NewRecordBuilder(mem, kvChunksSchema)
	defer b.Release()
	data := make([][]byte, g.chunks)
	for c := range data {
		data[c] = g.chunk(c)
	}
	for i := range g.items {
		for c := range g.chunks {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("id-%d", i))
			b.Field(1).(*array.BinaryBuilder).Append([]byte{byte(i)})
			b.Field(2).(*array.Int32Builder).Append(int32(c))
			b.Field(3).(*array.BinaryBuilder).Append(data[c])
			if b.Field(0).Len() == 16 {
				if err := emit(b.NewRecordBatch()); err != nil {
					return err
				}
			}
		}
	}
	if b.Field(0).Len() > 0 {
		return emit(b.NewRecordBatch())
	}
	return nil
}

var benchItems = flag.Int("kv-items", 64, "items of 16 MiB in BenchmarkKeyValueChunked")

// BenchmarkKeyValueChunked reassembles -kv-items items of 16 MiB (16
// chunks of 1 MiB) through the spill file: 1 GiB of chunk data by default. It reports the
// logical MB/s and the peak Go heap seen between batches.
func BenchmarkKeyValueChunked(b *testing.B) {
	ctx := context.Background()
	g := newGenKV(*benchItems, 16, 1<<20)
	c, err := connector.New("keyvalue", map[string]any{"spill_dir": b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	start := time.Now()
	for b.Loop() {
		out, err := c.Open(ctx, g, connector.Spec{Table: "items"})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = out.Run(ctx, func(rec arrow.RecordBatch) error {
			defer rec.Release()
			n += int(rec.NumRows())
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			return nil
		})
		if err != nil || n != g.items {
			b.Fatal(n, err)
		}
	}
	bytes := float64(g.items*g.chunks*g.chunkSize) * float64(b.N)
	b.ReportMetric(bytes/time.Since(start).Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}
