package connector_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/cassmove/shadow/engine/connector"
)

// oneItem is a Source of one item row and its chunk rows, built from
// arbitrary bytes.
type oneItem struct {
	value, meta []byte
	chunks      [][]byte
	numbers     []int32
}

func (o *oneItem) Tables() []string { return []string{"items", "items_chunks"} }
func (o *oneItem) Schema(t string) (*arrow.Schema, error) {
	if t == "items" {
		return kvItemsSchema, nil
	}
	return kvChunksSchema, nil
}
func (o *oneItem) Key(string) ([]string, error) { return []string{"id", "key"}, nil }
func (o *oneItem) Scan(ctx context.Context, t string, emit func(arrow.RecordBatch) error) error {
	mem := memory.DefaultAllocator
	if t == "items" {
		b := array.NewRecordBuilder(mem, kvItemsSchema)
		defer b.Release()
		b.Field(0).(*array.StringBuilder).Append("fuzz")
		b.Field(1).(*array.BinaryBuilder).Append([]byte{0xf0})
		b.Field(2).(*array.BinaryBuilder).Append(o.value)
		b.Field(3).(*array.BinaryBuilder).Append(o.meta)
		return emit(b.NewRecordBatch())
	}
	b := array.NewRecordBuilder(mem, kvChunksSchema)
	defer b.Release()
	for i, c := range o.chunks {
		b.Field(0).(*array.StringBuilder).Append("fuzz")
		b.Field(1).(*array.BinaryBuilder).Append([]byte{0xf0})
		b.Field(2).(*array.Int32Builder).Append(o.numbers[i])
		b.Field(3).(*array.BinaryBuilder).Append(c)
	}
	return emit(b.NewRecordBatch())
}

func meta(chunks int, stored []byte, comp string) []byte {
	sum := sha256.Sum256(stored)
	return fmt.Appendf(nil, `{"chunks": %d, "size": %d, "compression": %q, "sha256": %q}`, chunks, len(stored), comp, hex.EncodeToString(sum[:]))
}

// FuzzKeyValueItem feeds arbitrary metadata, values and chunks to the
// keyvalue connector: it emits the item or fails with ErrBadData, never
// panics, and an emitted item's value matches what the metadata promises.
func FuzzKeyValueItem(f *testing.F) {
	plain := []byte("hello hello hello hello")
	var lz bytes.Buffer
	w := lz4.NewWriter(&lz)
	w.Write(plain)
	w.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll(plain, nil)
	f.Add(plain, []byte(nil), []byte(nil), []byte(nil), uint8(0))
	f.Add([]byte(nil), meta(2, plain, "none"), plain[:10], plain[10:], uint8(0))
	f.Add(lz.Bytes(), meta(0, lz.Bytes(), "lz4"), []byte(nil), []byte(nil), uint8(0))
	f.Add([]byte(nil), meta(2, zs, "zstd"), zs[:5], zs[5:], uint8(1))
	f.Add([]byte(nil), []byte(`{"chunks": 3}`), []byte("a"), []byte("b"), uint8(2))
	f.Add([]byte("x"), []byte(`{"compression": "lz4", "size": -1}`), []byte(nil), []byte(nil), uint8(0))
	f.Add([]byte("x"), []byte(`not json`), []byte(nil), []byte(nil), uint8(0))
	c, err := connector.New("keyvalue", map[string]any{"max_value_bytes": 1 << 20, "spill_dir": f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value, md, c0, c1 []byte, order uint8) {
		src := &oneItem{value: value, meta: md, chunks: [][]byte{c0, c1}, numbers: []int32{0, 1}}
		switch order % 3 {
		case 1:
			src.numbers = []int32{1, 0}
		case 2:
			src.numbers = []int32{0, 2}
		}
		out, err := c.Open(context.Background(), src, connector.Spec{Table: "items"})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		err = out.Run(context.Background(), func(rec arrow.RecordBatch) error {
			defer rec.Release()
			rows += int(rec.NumRows())
			return nil
		})
		if err != nil && !errors.Is(err, connector.ErrBadData) {
			t.Fatalf("err %v, want nil or ErrBadData", err)
		}
		if err == nil && rows != 1 {
			t.Fatalf("%d rows", rows)
		}
		if err != nil && rows != 0 {
			t.Fatalf("a bad item was emitted (%d rows): %v", rows, err)
		}
	})
}
