package connector

// keyvalue: tables shaped like Netflix's Key-Value abstraction.
//
//	items        (id text, key blob, value blob, value_metadata blob, PRIMARY KEY (id, key))
//	items_chunks (id text, key blob, chunk int, data blob, PRIMARY KEY ((id, key), chunk))
//
// value_metadata is empty (null or zero bytes) for a plain value, or the
// JSON document {"chunks": N, "size": BYTES, "compression":
// "none|lz4|zstd", "sha256": HEX}. size and sha256 describe the value as
// stored: the compressed bytes, which are chunks 0..N-1 concatenated when
// N > 0 (the items row's value is then ignored). lz4 is the LZ4 frame
// format, zstd a zstd frame. Every field is optional: chunks defaults to
// 0, compression to none, and size and sha256 are checked when present.
//
// Output, one row per live item, keyed by (id, key):
//
//	id, key, value (the logical value: reassembled and decompressed),
//	chunks int32, size int64, compression utf8, sha256 utf8 (all four null
//	when the item has no metadata), then any other column of the items
//	table (provenance), as it is.
//
// The chunk join. The engine's Scan gives no order across work units, so a
// merge join is impossible, and neither table may be held in memory. Run
// first streams the chunk table into a spill file in spill_dir (the chunk
// bytes, appended) and keeps an index from (id, key) to (chunk, offset,
// length): memory is the keys of chunked items plus 16 bytes per chunk,
// not their data. It then streams the items table and reassembles each
// chunked value from the file, one item at a time. Disk is the size of the
// chunk table's live data; the file is removed when Run returns.
//
// Bad data is an error naming the id and key (ErrBadData): a missing chunk,
// a size or sha256 mismatch, an unknown compression, undecodable metadata
// or compressed bytes, a value over max_value_bytes. An item is never
// emitted truncated.
//
// Output batches follow the items table's batches, cut further so that one
// holds about batch_bytes of values at most: memory stays bounded however
// large the values are.
//
// Options: chunk_table (default <table>_chunks), spill_dir (default the
// system temp folder), max_value_bytes (default 256 MiB), batch_bytes
// (default 64 MiB).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func init() { Register("keyvalue", newKeyValue) }

type keyValue struct {
	chunkTable string
	spillDir   string
	maxValue   int64
	batchBytes int // output batches are cut at about this many value bytes
}

func newKeyValue(options map[string]any) (Connector, error) {
	kv := &keyValue{maxValue: 256 << 20, batchBytes: 64 << 20}
	for k, v := range options {
		switch k {
		case "chunk_table", "spill_dir":
			s, ok := v.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("%w: keyvalue option %s must be a non-empty string, got %v", ErrOptions, k, v)
			}
			if k == "chunk_table" {
				kv.chunkTable = s
			} else {
				kv.spillDir = s
			}
		case "max_value_bytes", "batch_bytes":
			n, ok := optionInt(v)
			if !ok || n <= 0 || n > 1<<40 {
				return nil, fmt.Errorf("%w: keyvalue option %s must be a positive integer, got %v", ErrOptions, k, v)
			}
			if k == "max_value_bytes" {
				kv.maxValue = n
			} else {
				kv.batchBytes = int(n)
			}
		default:
			return nil, fmt.Errorf("%w: keyvalue has no option %q (it takes chunk_table, spill_dir, max_value_bytes, batch_bytes)", ErrOptions, k)
		}
	}
	return kv, nil
}

// optionInt reads an integer option as YAML or JSON decoding gives it, or
// as a decimal string (`shadow move --connector-option KEY=VALUE`).
func optionInt(v any) (int64, bool) {
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case int:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		return int64(x), x <= 1<<62
	case float64:
		return int64(x), x == float64(int64(x))
	}
	return 0, false
}

func (*keyValue) Name() string { return "keyvalue" }

// KeyValue output columns beyond the items table's id and key.
const (
	kvValue       = "value"
	kvMetadata    = "value_metadata"
	kvChunks      = "chunks"
	kvSize        = "size"
	kvCompression = "compression"
	kvSHA256      = "sha256"
)

func (kv *keyValue) Open(ctx context.Context, src Source, spec Spec) (Output, error) {
	items := spec.Table
	chunks := kv.chunkTable
	if chunks == "" {
		chunks = items + "_chunks"
	}
	for _, t := range []string{items, chunks} {
		if !slices.Contains(src.Tables(), t) {
			return nil, fmt.Errorf("%w: keyvalue needs %q (the backup has %v)", ErrMissingTable, t, src.Tables())
		}
	}
	isc, err := src.Schema(items)
	if err != nil {
		return nil, err
	}
	if err := needColumns(items, isc, map[string]func(arrow.DataType) bool{"id": isText, "key": isText, kvValue: isText, kvMetadata: isText}); err != nil {
		return nil, err
	}
	csc, err := src.Schema(chunks)
	if err != nil {
		return nil, err
	}
	if err := needColumns(chunks, csc, map[string]func(arrow.DataType) bool{"id": isText, "key": isText, "chunk": isInt, "data": isText}); err != nil {
		return nil, err
	}
	fields := []arrow.Field{
		isc.Field(isc.FieldIndices("id")[0]),
		isc.Field(isc.FieldIndices("key")[0]),
		{Name: kvValue, Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: kvChunks, Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: kvSize, Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: kvCompression, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: kvSHA256, Type: arrow.BinaryTypes.String, Nullable: true},
	}
	var pass []string
	for _, f := range isc.Fields() {
		switch f.Name {
		case "id", "key", kvValue, kvMetadata:
		case kvChunks, kvSize, kvCompression, kvSHA256:
			return nil, fmt.Errorf("%w: table %s has a column %q, which keyvalue emits itself", ErrShape, items, f.Name)
		default:
			pass = append(pass, f.Name)
			fields = append(fields, f)
		}
	}
	return &kvOutput{kv: kv, src: src, items: items, chunks: chunks, schema: arrow.NewSchema(fields, nil), pass: pass}, nil
}

type kvOutput struct {
	kv            *keyValue
	src           Source
	items, chunks string
	schema        *arrow.Schema
	pass          []string
}

func (o *kvOutput) Schema() *arrow.Schema { return o.schema }
func (o *kvOutput) Key() []string         { return []string{"id", "key"} }
func (o *kvOutput) Tables() []string      { return []string{o.items, o.chunks} }

// chunkRef locates one chunk in the spill file; n < 0 marks a null data.
type chunkRef struct {
	chunk int32
	n     int32
	off   int64
}

// spill holds the chunk table: data in a file, the index in memory.
type spill struct {
	f     *os.File
	size  int64
	index map[string][]chunkRef
}

// kvIndexKey is (id, key) with id length-prefixed, so no two pairs share it.
func kvIndexKey(dst, id, key []byte) []byte {
	dst = binary.AppendUvarint(dst[:0], uint64(len(id)))
	dst = append(dst, id...)
	return append(dst, key...)
}

func (o *kvOutput) spillChunks(ctx context.Context) (*spill, error) {
	f, err := os.CreateTemp(o.kv.spillDir, "shadow-kv-chunks-")
	if err != nil {
		return nil, fmt.Errorf("keyvalue spill file: %w", err)
	}
	sp := &spill{f: f, index: map[string][]chunkRef{}}
	var k []byte
	err = o.src.Scan(ctx, o.chunks, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		cols := make([]arrow.Array, 4)
		for i, name := range []string{"id", "key", "chunk", "data"} {
			c, err := column(rec, name)
			if err != nil {
				return fmt.Errorf("table %s: %w", o.chunks, err)
			}
			cols[i] = c
		}
		ids, _ := bytesOf(cols[0])
		keys, _ := bytesOf(cols[1])
		nums, err := intOf(cols[2])
		if err != nil {
			return err
		}
		data, _ := bytesOf(cols[3])
		if ids == nil || keys == nil || data == nil {
			return fmt.Errorf("%w: table %s: id, key and data must be text or blob", ErrShape, o.chunks)
		}
		for i := range int(rec.NumRows()) {
			id, _ := ids(i)
			key, _ := keys(i)
			n, ok := nums(i)
			if !ok || n < 0 || n > 1<<31-1 {
				return fmt.Errorf("%w: table %s: id %q key 0x%x has chunk number %d", ErrBadData, o.chunks, id, key, n)
			}
			ref := chunkRef{chunk: int32(n), off: sp.size, n: -1}
			if d, ok := data(i); ok {
				if _, err := f.Write(d); err != nil {
					return fmt.Errorf("keyvalue spill file %s: %w", f.Name(), err)
				}
				ref.n = int32(len(d))
				sp.size += int64(len(d))
			}
			k = kvIndexKey(k, id, key)
			sp.index[string(k)] = append(sp.index[string(k)], ref)
		}
		return nil
	})
	if err != nil {
		sp.close()
		return nil, err
	}
	return sp, nil
}

func (sp *spill) close() {
	name := sp.f.Name()
	sp.f.Close()
	os.Remove(name)
}

// kvMeta is value_metadata.
type kvMeta struct {
	Chunks      *int64  `json:"chunks"`
	Size        *int64  `json:"size"`
	Compression *string `json:"compression"`
	SHA256      *string `json:"sha256"`
}

func (o *kvOutput) Run(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	sp, err := o.spillChunks(ctx)
	if err != nil {
		return err
	}
	defer sp.close()
	zd, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(o.kv.maxValue)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zd.Close()
	mem := memory.DefaultAllocator
	vb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	cb := array.NewInt32Builder(mem)
	sb := array.NewInt64Builder(mem)
	zb := array.NewStringBuilder(mem)
	hb := array.NewStringBuilder(mem)
	defer func() {
		vb.Release()
		cb.Release()
		sb.Release()
		zb.Release()
		hb.Release()
	}()
	var k, stored, logical []byte
	return o.src.Scan(ctx, o.items, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		idc, err := column(rec, "id")
		if err != nil {
			return err
		}
		keyc, err := column(rec, "key")
		if err != nil {
			return err
		}
		valc, err := column(rec, kvValue)
		if err != nil {
			return err
		}
		metac, err := column(rec, kvMetadata)
		if err != nil {
			return err
		}
		ids, err1 := bytesOf(idc)
		keys, err2 := bytesOf(keyc)
		vals, err3 := bytesOf(valc)
		metas, err4 := bytesOf(metac)
		for _, e := range []error{err1, err2, err3, err4} {
			if e != nil {
				return fmt.Errorf("table %s: %w", o.items, e)
			}
		}
		pass := make([]arrow.Array, len(o.pass))
		for j, name := range o.pass {
			if pass[j], err = column(rec, name); err != nil {
				return err
			}
		}
		// flush emits rows [seg, end) of this input batch: values are cut
		// into output batches of about batch_bytes, however large.
		seg, pending := 0, 0
		flush := func(end int) error {
			if end == seg {
				return nil
			}
			cols := []arrow.Array{array.NewSlice(idc, int64(seg), int64(end)), array.NewSlice(keyc, int64(seg), int64(end)),
				vb.NewArray(), cb.NewArray(), sb.NewArray(), zb.NewArray(), hb.NewArray()}
			for _, c := range pass {
				cols = append(cols, array.NewSlice(c, int64(seg), int64(end)))
			}
			out := array.NewRecordBatch(o.schema, cols, int64(end-seg))
			for _, c := range cols {
				c.Release()
			}
			seg, pending = end, 0
			return emit(out)
		}
		for i := range int(rec.NumRows()) {
			id, _ := ids(i)
			key, _ := keys(i)
			bad := func(format string, args ...any) error {
				return fmt.Errorf("%w: keyvalue item id %q key 0x%x: %s", ErrBadData, id, key, fmt.Sprintf(format, args...))
			}
			raw, _ := metas(i)
			if len(raw) == 0 {
				v, ok := vals(i)
				if !ok {
					vb.AppendNull()
				} else {
					vb.Append(v)
				}
				cb.AppendNull()
				sb.AppendNull()
				zb.AppendNull()
				hb.AppendNull()
				if pending += len(v); pending >= o.kv.batchBytes {
					if err := flush(i + 1); err != nil {
						return err
					}
				}
				continue
			}
			var m kvMeta
			if err := json.Unmarshal(raw, &m); err != nil {
				return bad("value_metadata %q: %v", raw, err)
			}
			nchunks := int64(0)
			if m.Chunks != nil {
				nchunks = *m.Chunks
			}
			comp := "none"
			if m.Compression != nil {
				comp = *m.Compression
			}
			if nchunks < 0 || nchunks > 1<<31-1 {
				return bad("value_metadata says %d chunks", nchunks)
			}
			if m.Size != nil && (*m.Size < 0 || *m.Size > o.kv.maxValue) {
				return bad("value_metadata size %d is outside 0..max_value_bytes %d", *m.Size, o.kv.maxValue)
			}
			if nchunks > 0 {
				k = kvIndexKey(k, id, key)
				stored, err = sp.assemble(stored[:0], sp.index[string(k)], int32(nchunks), o.kv.maxValue)
				if err != nil {
					return bad("%v in %s", err, o.chunks)
				}
				delete(sp.index, string(k)) // each item once: the index shrinks as items go out
			} else {
				v, ok := vals(i)
				if !ok {
					return bad("value_metadata says the value is stored inline, and value is null")
				}
				stored = append(stored[:0], v...)
			}
			if m.Size != nil && int64(len(stored)) != *m.Size {
				return bad("value is %d bytes as stored, value_metadata says %d", len(stored), *m.Size)
			}
			if m.SHA256 != nil {
				sum := sha256.Sum256(stored)
				if got := hex.EncodeToString(sum[:]); got != *m.SHA256 {
					return bad("sha256 of the stored value is %s, value_metadata says %s", got, *m.SHA256)
				}
			}
			var out []byte
			switch comp {
			case "none":
				out = stored
			case "lz4":
				var b bytes.Buffer
				b.Grow(len(stored) * 2)
				n, err := io.Copy(&b, io.LimitReader(lz4.NewReader(bytes.NewReader(stored)), o.kv.maxValue+1))
				if err != nil {
					return bad("lz4: %v", err)
				}
				if n > o.kv.maxValue {
					return bad("decompresses to more than max_value_bytes %d", o.kv.maxValue)
				}
				out = b.Bytes()
			case "zstd":
				logical, err = zd.DecodeAll(stored, logical[:0])
				if err != nil {
					return bad("zstd: %v", err)
				}
				out = logical
			default:
				return bad("unknown compression %q (want none, lz4 or zstd)", comp)
			}
			vb.Append(out)
			cb.Append(int32(nchunks))
			if m.Size != nil {
				sb.Append(*m.Size)
			} else {
				sb.Append(int64(len(stored)))
			}
			zb.Append(comp)
			if m.SHA256 != nil {
				hb.Append(*m.SHA256)
			} else {
				hb.AppendNull()
			}
			if cap(logical) > 4<<20 {
				logical = nil // do not keep one huge value's buffer for every later item
			}
			if cap(stored) > 4<<20 {
				stored = nil
			}
			if pending += len(out); pending >= o.kv.batchBytes {
				if err := flush(i + 1); err != nil {
					return err
				}
			}
		}
		return flush(int(rec.NumRows()))
	})
}

// assemble reads chunks 0..n-1 into dst, in order.
func (sp *spill) assemble(dst []byte, refs []chunkRef, n int32, limit int64) ([]byte, error) {
	slices.SortFunc(refs, func(a, b chunkRef) int { return int(a.chunk) - int(b.chunk) })
	next := int32(0)
	for _, r := range refs {
		if r.chunk >= n {
			break // a chunk past N (not written by this value) is ignored
		}
		if r.chunk < next {
			return nil, fmt.Errorf("chunk %d appears twice", r.chunk)
		}
		if r.chunk > next {
			return nil, fmt.Errorf("chunk %d of %d is missing", next, n)
		}
		if r.n < 0 {
			return nil, fmt.Errorf("chunk %d of %d has no data", r.chunk, n)
		}
		if int64(len(dst))+int64(r.n) > limit {
			return nil, fmt.Errorf("chunks exceed max_value_bytes %d", limit)
		}
		start := len(dst)
		dst = slices.Grow(dst, int(r.n))[:start+int(r.n)]
		if _, err := sp.f.ReadAt(dst[start:], r.off); err != nil {
			return nil, fmt.Errorf("reading chunk %d back from the spill file %s: %w", r.chunk, sp.f.Name(), err)
		}
		next++
	}
	if next < n {
		return nil, fmt.Errorf("chunk %d of %d is missing", next, n)
	}
	return dst, nil
}
