package sstable

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// ColumnDef names a column of a Schema.
type ColumnDef struct {
	Name string
	Type *cql.Type
}

// Schema is what a Writer needs to know of a table. Clustering columns in
// DESC order have a Reversed type (Type.Reverse()).
type Schema struct {
	Keyspace, Table string
	PartitionKey    []ColumnDef
	Clustering      []ColumnDef
	Static          []ColumnDef
	Regular         []ColumnDef
}

// KeyType is the partition key's marshal type: the column type, or a
// CompositeType of them for several columns.
func (s *Schema) KeyType() *cql.Type {
	if len(s.PartitionKey) == 1 {
		return s.PartitionKey[0].Type
	}
	var ts []*cql.Type
	for _, c := range s.PartitionKey {
		ts = append(ts, c.Type)
	}
	return cql.CompositeOf(ts...)
}

// EncodeKey serializes partition key values (one per key column).
func (s *Schema) EncodeKey(vals ...any) ([]byte, error) {
	if len(vals) != len(s.PartitionKey) {
		return nil, fmt.Errorf("%w: %d partition key values for %d key columns", cql.ErrBadValue, len(vals), len(s.PartitionKey))
	}
	if len(vals) == 1 {
		b, err := cql.Encode(s.PartitionKey[0].Type, vals[0])
		if err == nil && len(b) == 0 {
			err = fmt.Errorf("%w: empty partition key (Cassandra rejects it)", cql.ErrBadValue)
		}
		return b, err
	}
	return cql.Encode(s.KeyType(), vals)
}

// EncodeClustering serializes clustering values (a prefix is allowed).
func (s *Schema) EncodeClustering(vals ...any) (Clustering, error) {
	if len(vals) > len(s.Clustering) {
		return nil, fmt.Errorf("%w: %d clustering values for %d clustering columns", cql.ErrBadValue, len(vals), len(s.Clustering))
	}
	out := make(Clustering, len(vals))
	for i, v := range vals {
		b, err := cql.Encode(s.Clustering[i].Type, v)
		if err != nil {
			return nil, fmt.Errorf("clustering column %s: %w", s.Clustering[i].Name, err)
		}
		if b == nil {
			return nil, fmt.Errorf("%w: null value for clustering column %s", cql.ErrBadValue, s.Clustering[i].Name)
		}
		out[i] = b
	}
	return out, nil
}

// header builds the serialization header of the schema.
func (s *Schema) header() (*Header, error) {
	if len(s.PartitionKey) == 0 {
		return nil, fmt.Errorf("%w: schema %s.%s has no partition key", cql.ErrBadType, s.Keyspace, s.Table)
	}
	h := &Header{KeyType: s.KeyType(), MinTimestamp: timestampEpoch, MinLocalDeletionTime: deletionTimeEpoch}
	seen := map[string]bool{}
	for _, c := range append(append([]ColumnDef{}, s.PartitionKey...), s.Clustering...) {
		if c.Type == nil || seen[c.Name] {
			return nil, fmt.Errorf("%w: column %q is missing a type or repeated", cql.ErrBadType, c.Name)
		}
		seen[c.Name] = true
	}
	for _, c := range s.Clustering {
		h.ClusteringTypes = append(h.ClusteringTypes, c.Type)
	}
	for _, group := range []struct {
		defs   []ColumnDef
		static bool
	}{{s.Static, true}, {s.Regular, false}} {
		var cols []*Column
		for _, d := range group.defs {
			if d.Type == nil || seen[d.Name] {
				return nil, fmt.Errorf("%w: column %q is missing a type or repeated", cql.ErrBadType, d.Name)
			}
			seen[d.Name] = true
			cols = append(cols, &Column{Name: d.Name, Type: d.Type, Static: group.static})
		}
		sortColumns(cols)
		if group.static {
			h.Statics = cols
		} else {
			h.Regulars = cols
		}
	}
	return h, nil
}

// WriterOptions configure a Writer. The zero value writes an nb SSTable,
// generation 1, LZ4 in 16 KiB chunks, Murmur3.
type WriterOptions struct {
	Version     string            // "nb" (default) or "oa"
	Generation  int               // default 1
	Compression string            // LZ4 (default), Snappy, Deflate, Zstd, Noop, or None for an uncompressed Data.db with CRC.db
	ChunkLength int               // uncompressed bytes per chunk, a power of two (default 16 KiB)
	Partitioner token.Partitioner // default Murmur3Partitioner
	// MinTimestamp, MinLocalDeletionTime and MinTTL are the bases of the
	// delta-encoded times (EncodingStats). Any values decode correctly;
	// true minimums make the file smaller. The Builder computes them.
	MinTimestamp         *int64
	MinLocalDeletionTime *int64
	MinTTL               *int32
	// ColumnIndexSize is the partition byte span of one Index.db row index
	// block (column_index_size, default 64 KiB).
	ColumnIndexSize int
	// BloomFilterFPChance sizes Filter.db (default 0.01).
	BloomFilterFPChance float64
}

// Writer writes one SSTable from partitions and unfiltereds given in order:
// partitions by (token, key), unfiltereds by clustering. It streams: memory
// stays bounded by a chunk, a row and the Summary sample.
//
//	w, _ := sstable.NewWriter(dir, schema, nil)
//	w.BeginPartition(key, sstable.Live)
//	w.WriteRow(&row)            // or WriteStatic, WriteMarker
//	w.EndPartition()
//	paths, err := w.Close()
type Writer struct {
	dir    string
	desc   Descriptor
	v      Version
	h      *Header
	p      token.Partitioner
	opts   WriterOptions
	statsC []colInfo
	regsC  []colInfo
	colIdx map[string]int
	cmp    Comparator
	times  timeEncoder

	data      *chunkWriter
	indexF    *os.File
	index     *bufio.Writer
	indexPos  int64
	summary   bw
	sumOffs   []int32
	sumCount  int
	keys      int64
	bloom     *bloomFilter
	hll       *hyperLogLog
	stats     Statistics
	statsInit bool

	// partition state
	inPart      bool
	key         []byte
	tok         token.Token
	partStart   int64
	partDel     DeletionTime
	headerLen   int64
	prevStart   int64 // relative to partStart
	wroteStatic bool
	needStatic  bool
	last        Bound
	hasLast     bool
	cells       int64
	open        *DeletionTime
	blocks      []indexInfo
	blockStart  int64 // relative; -1 when no block is open
	blockFirst  Bound
	blockLast   Bound
	lastKey     []byte
	firstKey    []byte
	scratch     []byte
	body        []byte
	files       []string
	bloomKeys   *keyLog
	tombstones  map[int64]int64
	err         error
	closed      bool
}

type indexInfo struct {
	first, last Bound
	offset      int64
	width       int64
	open        *DeletionTime
}

// NewWriter creates the SSTable files in dir (which must exist).
func NewWriter(dir string, schema *Schema, opts *WriterOptions) (*Writer, error) {
	o := WriterOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Version == "" {
		o.Version = "nb"
	}
	if o.Version != "nb" && o.Version != "oa" {
		return nil, fmt.Errorf("%w: writing version %q (want nb or oa)", ErrUnsupported, o.Version)
	}
	if o.Generation <= 0 {
		o.Generation = 1
	}
	if o.Compression == "" {
		o.Compression = LZ4
	}
	if o.ChunkLength == 0 {
		o.ChunkLength = 16 << 10
		if o.Compression == None {
			o.ChunkLength = 64 << 10
		}
	}
	if o.ChunkLength < 16 || o.ChunkLength > 1<<30 || o.ChunkLength&(o.ChunkLength-1) != 0 {
		return nil, fmt.Errorf("%w: chunk length %d: want a power of two", ErrUnsupported, o.ChunkLength)
	}
	if o.Partitioner == nil {
		o.Partitioner = token.Murmur3Partitioner{}
	}
	if o.ColumnIndexSize <= 0 {
		o.ColumnIndexSize = 64 << 10
	}
	if o.BloomFilterFPChance <= 0 || o.BloomFilterFPChance >= 1 {
		o.BloomFilterFPChance = 0.01
	}
	var comp Compressor
	if o.Compression != None {
		c, err := CompressorByName(o.Compression)
		if err != nil {
			return nil, err
		}
		comp = c
	}
	h, err := schema.header()
	if err != nil {
		return nil, err
	}
	if o.MinTimestamp != nil {
		h.MinTimestamp = *o.MinTimestamp
	}
	if o.MinLocalDeletionTime != nil {
		h.MinLocalDeletionTime = *o.MinLocalDeletionTime
	}
	if o.MinTTL != nil {
		h.MinTTL = *o.MinTTL
	}
	v, _ := LookupVersion("big", o.Version)
	desc := Descriptor{Version: o.Version, Generation: strconv.Itoa(o.Generation), Format: "big"}
	w := &Writer{dir: dir, desc: desc, v: v, h: h, p: o.Partitioner, opts: o,
		statsC: makeColInfo(h.Statics), regsC: makeColInfo(h.Regulars), colIdx: map[string]int{},
		cmp: h.Comparator(), hll: newHLL(), blockStart: -1, tombstones: map[int64]int64{}}
	for _, c := range h.Statics {
		w.colIdx[c.Name] = c.Index
	}
	for _, c := range h.Regulars {
		w.colIdx[c.Name] = c.Index
	}
	w.times = timeEncoder{minTS: h.MinTimestamp, minLDT: h.MinLocalDeletionTime, minTTL: h.MinTTL, uintLDT: v.UIntDeletionTime}
	dataF, err := w.create(ComponentData)
	if err != nil {
		return nil, err
	}
	w.data = newChunkWriter(dataF, comp, o.ChunkLength)
	if w.indexF, err = w.create(ComponentIndex); err != nil {
		w.Abort()
		return nil, err
	}
	w.index = bufio.NewWriterSize(w.indexF, 256<<10)
	w.initStats()
	return w, nil
}

func (w *Writer) create(component string) (*os.File, error) {
	path := filepath.Join(w.dir, w.desc.FileName(component))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sstable writer: %w", err)
	}
	w.files = append(w.files, path)
	return f, nil
}

// Descriptor names the SSTable being written.
func (w *Writer) Descriptor() Descriptor { return w.desc }

// Header is the serialization header the writer uses (columns resolved).
func (w *Writer) Header() *Header { return w.h }

func (w *Writer) initStats() {
	s := &w.stats
	s.Partitioner = w.p.Class()
	s.BloomFilterFPChance = w.opts.BloomFilterFPChance
	s.PartitionSizes = newHistogram(150)
	s.CellsPerPartition = newHistogram(114)
	s.CommitLogUpperBound = CommitLogPosition{-1, 0}
	s.CommitLogLowerBound = CommitLogPosition{-1, 0}
	s.MinTimestamp, s.MaxTimestamp = math.MaxInt64, math.MinInt64
	s.MinLocalDeletionTime, s.MaxLocalDeletionTime = NoDeletionTime, NoDeletionTime
	s.MinTTL, s.MaxTTL = NoTTL, NoTTL
	s.TombstoneMaxBins = 100
	s.ClusteringTypes = w.h.ClusteringTypes
	s.TokenSpaceCoverage = math.NaN()
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// BeginPartition starts a partition. key is the serialized partition key
// (Schema.EncodeKey); partitions must come in (token, key) order.
func (w *Writer) BeginPartition(key []byte, deletion DeletionTime) error {
	if w.err != nil {
		return w.err
	}
	if w.inPart {
		return w.fail(fmt.Errorf("%w: BeginPartition before EndPartition", ErrOrder))
	}
	if len(key) == 0 || len(key) > math.MaxUint16 {
		return w.fail(fmt.Errorf("%w: partition key of %d bytes: want 1 to 65535", ErrUnsupported, len(key)))
	}
	tok := w.p.Token(key)
	if w.keys > 0 && token.CompareKeys(w.tok, w.lastKey, tok, key) >= 0 {
		return w.fail(fmt.Errorf("%w: partition %x (token %v) after %x (token %v)", ErrOrder, key, tok, w.lastKey, w.tok))
	}
	w.lastKey = append(w.lastKey[:0], key...)
	w.key = w.lastKey
	w.tok = w.p.Token(w.key)
	if w.keys == 0 {
		w.firstKey = append([]byte(nil), key...)
	}
	w.inPart, w.hasLast, w.wroteStatic, w.open = true, false, false, nil
	w.cells = 0
	w.blocks = w.blocks[:0]
	w.blockStart = -1
	w.partStart = w.data.pos
	w.partDel = deletion
	b := w.scratch[:0]
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = appendDeletionTime(b, w.v, deletion)
	w.scratch = b
	if err := w.data.write(b); err != nil {
		return w.fail(err)
	}
	if !deletion.IsLive() {
		w.stats.HasPartitionLevelDels = true
		w.trackDeletion(deletion)
	}
	w.prevStart = 0
	w.headerLen = w.data.pos - w.partStart
	// A table with static columns always has a static row, maybe empty.
	w.needStatic = len(w.h.Statics) > 0
	return nil
}

func (w *Writer) ensureStatic() error {
	if !w.needStatic {
		return nil
	}
	return w.WriteStatic(&Row{Static: true, Liveness: EmptyLiveness, Deletion: Live})
}

// WriteStatic writes the partition's static row; it must come before any
// row or marker. Its Columns name static columns.
func (w *Writer) WriteStatic(row *Row) error {
	if w.err != nil {
		return w.err
	}
	if !w.inPart || !w.needStatic {
		return w.fail(fmt.Errorf("%w: static row outside the start of a partition of a table with static columns", ErrOrder))
	}
	w.needStatic = false
	b, err := w.serializeRow(w.scratch[:0], row, true, 0)
	if err != nil {
		return w.fail(err)
	}
	w.scratch = b
	if err := w.data.write(b); err != nil {
		return w.fail(err)
	}
	w.headerLen = w.data.pos - w.partStart
	w.stats.TotalRows++
	return nil
}

// WriteRow writes a regular row.
func (w *Writer) WriteRow(row *Row) error {
	return w.writeUnfiltered(&Unfiltered{Kind: UnfilteredRow, Row: *row})
}

// WriteMarker writes a range tombstone bound or boundary.
func (w *Writer) WriteMarker(m *RangeTombstoneMarker) error {
	return w.writeUnfiltered(&Unfiltered{Kind: UnfilteredMarker, Marker: *m})
}

// Write writes a row or a marker.
func (w *Writer) Write(u *Unfiltered) error { return w.writeUnfiltered(u) }

func (w *Writer) writeUnfiltered(u *Unfiltered) error {
	if w.err != nil {
		return w.err
	}
	if !w.inPart {
		return w.fail(fmt.Errorf("%w: row or marker outside a partition", ErrOrder))
	}
	if err := w.ensureStatic(); err != nil {
		return err
	}
	prefix := u.Prefix()
	if u.Kind == UnfilteredRow {
		if u.Row.Static {
			return w.fail(fmt.Errorf("%w: static row after the start of the partition", ErrOrder))
		}
		if len(prefix.Values) != len(w.h.ClusteringTypes) {
			return w.fail(fmt.Errorf("%w: row with %d clustering values: want %d", cql.ErrBadValue, len(prefix.Values), len(w.h.ClusteringTypes)))
		}
	} else {
		k := prefix.Kind
		if k >= numBoundKinds || k == KindClustering || k == KindStaticClustering || len(prefix.Values) > len(w.h.ClusteringTypes) {
			return w.fail(fmt.Errorf("%w: marker kind %v with %d values", cql.ErrBadValue, k, len(prefix.Values)))
		}
		if (k.IsStart() && u.Marker.Open.IsLive()) || (k.IsEnd() && u.Marker.Close.IsLive()) {
			return w.fail(fmt.Errorf("%w: marker %v without its deletion time", cql.ErrBadValue, k))
		}
	}
	if w.hasLast && w.cmp.CompareBounds(w.last, prefix) >= 0 {
		return w.fail(fmt.Errorf("%w: %v %x after %v %x in partition %x", ErrOrder, prefix.Kind, [][]byte(prefix.Values), w.last.Kind, [][]byte(w.last.Values), w.key))
	}
	start := w.data.pos - w.partStart
	prev := uint64(start - w.prevStart)
	var b []byte
	var err error
	if u.Kind == UnfilteredRow {
		b, err = w.serializeRow(w.scratch[:0], &u.Row, false, prev)
		w.stats.TotalRows++
	} else {
		b = w.serializeMarker(w.scratch[:0], &u.Marker, prev)
	}
	if err != nil {
		return w.fail(err)
	}
	w.scratch = b
	if err := w.data.write(b); err != nil {
		return w.fail(err)
	}
	w.prevStart = start
	w.last = Bound{Kind: prefix.Kind, Values: cloneValues(prefix.Values)}
	w.hasLast = true
	w.trackClustering(w.last)
	if u.Kind == UnfilteredMarker {
		if u.Marker.Open.IsLive() {
			w.open = nil
		} else {
			d := u.Marker.Open
			w.open = &d
		}
	}
	// row index blocks
	if w.blockStart < 0 {
		w.blockStart = start
		w.blockFirst = w.last
	}
	w.blockLast = w.last
	if end := w.data.pos - w.partStart; end-w.blockStart >= int64(w.opts.ColumnIndexSize) {
		w.closeBlock(end)
	}
	return nil
}

func (w *Writer) closeBlock(end int64) {
	var open *DeletionTime
	if w.open != nil {
		d := *w.open
		open = &d
	}
	w.blocks = append(w.blocks, indexInfo{first: w.blockFirst, last: w.blockLast, offset: w.blockStart, width: end - w.blockStart, open: open})
	w.blockStart = -1
}

// EndPartition closes the partition.
func (w *Writer) EndPartition() error {
	if w.err != nil {
		return w.err
	}
	if !w.inPart {
		return w.fail(fmt.Errorf("%w: EndPartition without BeginPartition", ErrOrder))
	}
	if err := w.ensureStatic(); err != nil {
		return err
	}
	if w.open != nil {
		return w.fail(fmt.Errorf("%w: partition %x ends inside a range tombstone", ErrOrder, w.key))
	}
	if err := w.data.write([]byte{flagEndOfPartition}); err != nil {
		return w.fail(err)
	}
	// Cassandra's last row index block spans the end-of-partition byte too.
	if w.blockStart >= 0 {
		w.closeBlock(w.data.pos - w.partStart)
	}
	w.inPart = false
	size := w.data.pos - w.partStart
	w.stats.PartitionSizes.add(size)
	w.stats.CellsPerPartition.add(w.cells)
	// Index.db entry; sample every 128th into the summary
	if w.keys%128 == 0 {
		w.sumOffs = append(w.sumOffs, int32(len(w.summary.b)))
		w.summary.b = append(w.summary.b, w.key...)
		w.summary.b = binary.LittleEndian.AppendUint64(w.summary.b, uint64(w.indexPos))
	}
	e := &bw{b: w.scratch[:0]}
	e.u16(uint16(len(w.key)))
	e.b = append(e.b, w.key...)
	e.uv(uint64(w.partStart))
	if len(w.blocks) > 1 {
		pi := w.promotedIndex()
		e.uv(uint64(len(pi)))
		e.b = append(e.b, pi...)
	} else {
		e.uv(0)
	}
	w.scratch = e.b
	if _, err := w.index.Write(e.b); err != nil {
		return w.fail(err)
	}
	w.indexPos += int64(len(e.b))
	w.keys++
	w.hll.add(w.key)
	if w.bloomKeys == nil {
		w.bloomKeys = newKeyLog()
	}
	w.bloomKeys.add(w.key)
	return nil
}

func (w *Writer) promotedIndex() []byte {
	p := &bw{}
	p.uv(uint64(w.headerLen))
	p.b = appendDeletionTime(p.b, w.v, w.partDel)
	p.uv(uint64(len(w.blocks)))
	var offs []int32
	infoStart := len(p.b)
	for _, bi := range w.blocks {
		offs = append(offs, int32(len(p.b)-infoStart))
		for _, bnd := range []Bound{bi.first, bi.last} {
			p.u8(byte(bnd.Kind))
			if bnd.Kind != KindClustering {
				p.u16(uint16(len(bnd.Values)))
			}
			p.b = appendClustering(p.b, w.h.ClusteringTypes, bnd.Values)
		}
		p.uv(uint64(bi.offset))
		p.b = cql.AppendVarint(p.b, bi.width-65536)
		if bi.open != nil {
			p.u8(1)
			p.b = appendDeletionTime(p.b, w.v, *bi.open)
		} else {
			p.u8(0)
		}
	}
	for _, o := range offs {
		p.i32(o)
	}
	return p.b
}

// timeEncoder writes times as deltas from the header's EncodingStats.
type timeEncoder struct {
	minTS   int64
	minLDT  int64
	minTTL  int32
	uintLDT bool
}

func (t *timeEncoder) ts(dst []byte, v int64) []byte {
	return cql.AppendUvarint(dst, uint64(v-t.minTS))
}

func (t *timeEncoder) ttl(dst []byte, v int32) []byte {
	return cql.AppendUvarint(dst, uint64(int64(v-t.minTTL)))
}

func (t *timeEncoder) ldt(dst []byte, v int64) []byte {
	var raw uint32
	if v == NoDeletionTime {
		if t.uintLDT {
			raw = math.MaxUint32
		} else {
			raw = math.MaxInt32
		}
	} else {
		raw = uint32(v)
	}
	return cql.AppendUvarint(dst, uint64(int64(int32(raw-uint32(t.minLDT)))))
}

func (t *timeEncoder) deletion(dst []byte, d DeletionTime) []byte {
	return t.ldt(t.ts(dst, d.MarkedForDeleteAt), d.LocalDeletionTime)
}

func (w *Writer) trackTS(ts int64) {
	s := &w.stats
	s.MinTimestamp = min(s.MinTimestamp, ts)
	s.MaxTimestamp = max(s.MaxTimestamp, ts)
}

func (w *Writer) trackLDT(ldt int64) {
	// NoDeletionTime (MaxInt64) orders last, like Integer.MAX_VALUE in
	// Cassandra's tracker, so live cells make the maximum "none".
	s := &w.stats
	if !w.statsInit {
		s.MinLocalDeletionTime, s.MaxLocalDeletionTime = ldt, ldt
		w.statsInit = true
	} else {
		s.MinLocalDeletionTime = min(s.MinLocalDeletionTime, ldt)
		s.MaxLocalDeletionTime = max(s.MaxLocalDeletionTime, ldt)
	}
	if ldt != NoDeletionTime {
		w.tombstones[(ldt+59)/60*60]++
	}
}

func (w *Writer) trackTTL(ttl int32) {
	s := &w.stats
	s.MinTTL = min(s.MinTTL, ttl)
	s.MaxTTL = max(s.MaxTTL, ttl)
}

func (w *Writer) trackDeletion(d DeletionTime) {
	w.trackTS(d.MarkedForDeleteAt)
	w.trackLDT(d.LocalDeletionTime)
}

func (w *Writer) trackClustering(b Bound) {
	s := &w.stats
	if len(b.Values) == 0 {
		return
	}
	if s.MinClustering.Values == nil || w.cmp.CompareBounds(b, s.MinClustering) < 0 {
		s.MinClustering = b
	}
	if s.MaxClustering.Values == nil || w.cmp.CompareBounds(b, s.MaxClustering) > 0 {
		s.MaxClustering = b
	}
}

// serializeRow appends a row: flags, clustering, size, body.
func (w *Writer) serializeRow(dst []byte, row *Row, static bool, prev uint64) ([]byte, error) {
	cols := w.regsC
	if static {
		cols = w.statsC
	}
	// present columns in header order
	var present [64]int
	idx := present[:0]
	byIdx := make(map[int]*ColumnData, len(row.Columns))
	for i := range row.Columns {
		cd := &row.Columns[i]
		if cd.Column == nil {
			return nil, fmt.Errorf("%w: column data without a column", cql.ErrBadValue)
		}
		ci, ok := w.colIdx[cd.Column.Name]
		if !ok || ci >= len(cols) || cols[ci].col.Name != cd.Column.Name {
			kind := "regular"
			if static {
				kind = "static"
			}
			return nil, fmt.Errorf("%w: %q is not a %s column of the table", cql.ErrBadValue, cd.Column.Name, kind)
		}
		if _, dup := byIdx[ci]; dup {
			return nil, fmt.Errorf("%w: column %q twice in one row", cql.ErrBadValue, cd.Column.Name)
		}
		if !cols[ci].complex && len(cd.Cells) != 1 {
			return nil, fmt.Errorf("%w: simple column %q with %d cells: want 1", cql.ErrBadValue, cd.Column.Name, len(cd.Cells))
		}
		byIdx[ci] = cd
		idx = append(idx, ci)
	}
	sortInts(idx)
	live := row.Liveness
	if live.Timestamp == 0 && live.TTL == 0 && live.LocalExpirationTime == 0 {
		live = EmptyLiveness // a zero LivenessInfo means none
	}
	del := row.Deletion
	if del == (DeletionTime{}) {
		del = Live
	}
	var flags, ext byte
	if !live.IsEmpty() {
		flags |= flagHasTimestamp
		w.trackTS(live.Timestamp)
		if live.IsExpiring() {
			flags |= flagHasTTL
			w.trackTTL(live.TTL)
			w.trackLDT(live.LocalExpirationTime)
		}
	}
	if !del.IsLive() {
		flags |= flagHasDeletion
		w.trackDeletion(del)
		if row.Shadowable {
			ext |= extHasShadowable
		}
	}
	for _, ci := range idx {
		if cols[ci].complex && !byIdx[ci].Deletion.IsLive() && byIdx[ci].Deletion != (DeletionTime{}) {
			flags |= flagHasComplexDeletion
		}
	}
	if len(idx) == len(cols) {
		flags |= flagHasAllColumns
	}
	if static {
		ext |= extIsStatic
	}
	if ext != 0 {
		flags |= flagExtension
	}
	dst = append(dst, flags)
	if ext != 0 {
		dst = append(dst, ext)
	}
	if !static {
		dst = appendClustering(dst, w.h.ClusteringTypes, row.Clustering)
	}
	t := &w.times
	body := w.body[:0]
	body = cql.AppendUvarint(body, prev)
	if flags&flagHasTimestamp != 0 {
		body = t.ts(body, live.Timestamp)
		if flags&flagHasTTL != 0 {
			body = t.ttl(body, live.TTL)
			body = t.ldt(body, live.LocalExpirationTime)
		}
	}
	if flags&flagHasDeletion != 0 {
		body = t.deletion(body, del)
	}
	if flags&flagHasAllColumns == 0 {
		body = appendSubset(body, idx, len(cols))
	}
	ncols := int64(0)
	for _, ci := range idx {
		cd := byIdx[ci]
		c := &cols[ci]
		if !c.complex {
			body = w.appendCell(body, c, &live, &cd.Cells[0])
			ncols++
			continue
		}
		if flags&flagHasComplexDeletion != 0 {
			d := cd.Deletion
			if d == (DeletionTime{}) || d.IsLive() {
				d = DeletionTime{MarkedForDeleteAt: math.MinInt64, LocalDeletionTime: NoDeletionTime}
			} else {
				w.trackDeletion(d)
			}
			body = t.deletion(body, d)
		}
		body = cql.AppendUvarint(body, uint64(len(cd.Cells)))
		for i := range cd.Cells {
			if i > 0 && cql.Compare(pathType(c.col.Type), cd.Cells[i-1].Path, cd.Cells[i].Path) >= 0 {
				return nil, fmt.Errorf("%w: cells of %q not in path order", ErrOrder, c.col.Name)
			}
			body = w.appendCell(body, c, &live, &cd.Cells[i])
		}
		ncols++
	}
	w.body = body
	w.stats.TotalColumnsSet += ncols
	dst = cql.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...), nil
}

// pathType is the type that orders a complex column's cell paths.
func pathType(t *cql.Type) *cql.Type {
	switch t.Kind {
	case cql.KindList:
		return cql.Simple(cql.KindTimeuuid)
	case cql.KindSet, cql.KindMap:
		return t.Elems[0]
	}
	return cql.Simple(cql.KindSmallint) // UDT field index
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// appendSubset is Columns.Serializer.serializeSubset.
func appendSubset(dst []byte, present []int, n int) []byte {
	if len(present) == n {
		return cql.AppendUvarint(dst, 0)
	}
	if n < 64 {
		var bm uint64 = (1<<uint(n) - 1)
		for _, i := range present {
			bm &^= 1 << uint(i)
		}
		return cql.AppendUvarint(dst, bm)
	}
	dst = cql.AppendUvarint(dst, uint64(n-len(present)))
	if len(present) < n/2 {
		for _, i := range present {
			dst = cql.AppendUvarint(dst, uint64(i))
		}
		return dst
	}
	prev := -1
	for _, cur := range present {
		for prev++; prev != cur; prev++ {
			dst = cql.AppendUvarint(dst, uint64(prev))
		}
	}
	for prev++; prev != n; prev++ {
		dst = cql.AppendUvarint(dst, uint64(prev))
	}
	return dst
}

func (w *Writer) appendCell(dst []byte, c *colInfo, live *LivenessInfo, cell *Cell) []byte {
	t := &w.times
	ldt := cell.LocalDeletionTime
	if ldt == 0 && cell.TTL == 0 && cell.Flags&CellIsDeleted == 0 {
		ldt = NoDeletionTime // zero value: a live cell
	}
	isExpiring := cell.TTL != NoTTL
	isDeleted := ldt != NoDeletionTime && !isExpiring
	hasValue := len(cell.Value) > 0
	useRowTS := !live.IsEmpty() && cell.Timestamp == live.Timestamp
	useRowTTL := isExpiring && live.IsExpiring() && cell.TTL == live.TTL && ldt == live.LocalExpirationTime
	var flags byte
	if !hasValue {
		flags |= CellHasEmptyValue
	}
	if isDeleted {
		flags |= CellIsDeleted
	} else if isExpiring {
		flags |= CellIsExpiring
	}
	if useRowTS {
		flags |= CellUseRowTimestamp
	}
	if useRowTTL {
		flags |= CellUseRowTTL
	}
	dst = append(dst, flags)
	w.trackTS(cell.Timestamp)
	w.trackLDT(ldt)
	w.trackTTL(cell.TTL)
	w.cells++
	if !useRowTS {
		dst = t.ts(dst, cell.Timestamp)
	}
	if (isDeleted || isExpiring) && !useRowTTL {
		dst = t.ldt(dst, ldt)
	}
	if isExpiring && !useRowTTL {
		dst = t.ttl(dst, cell.TTL)
	}
	if c.complex {
		dst = cql.AppendUvarint(dst, uint64(len(cell.Path)))
		dst = append(dst, cell.Path...)
	}
	if hasValue {
		dst = appendValue(dst, c.fixed, cell.Value)
	}
	return dst
}

func (w *Writer) serializeMarker(dst []byte, m *RangeTombstoneMarker, prev uint64) []byte {
	dst = append(dst, flagIsMarker, byte(m.Bound.Kind))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(m.Bound.Values)))
	dst = appendClustering(dst, w.h.ClusteringTypes, m.Bound.Values)
	body := cql.AppendUvarint(w.body[:0], prev)
	t := &w.times
	k := m.Bound.Kind
	if k.IsEnd() {
		body = t.deletion(body, m.Close)
		w.trackDeletion(m.Close)
	}
	if k.IsStart() {
		body = t.deletion(body, m.Open)
		w.trackDeletion(m.Open)
	}
	w.body = body
	dst = cql.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// Abort stops writing and removes the files written so far.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	if w.data != nil {
		w.data.f.Close()
	}
	if w.indexF != nil {
		w.indexF.Close()
	}
	for _, f := range w.files {
		os.Remove(f)
	}
	w.bloomKeys.close()
}

// Close finishes the SSTable: flushes Data.db, then writes Index.db,
// Summary.db, Filter.db, Statistics.db, CompressionInfo.db or CRC.db,
// Digest.crc32 and TOC.txt. It returns the paths written.
func (w *Writer) Close() ([]string, error) {
	if w.closed {
		return nil, errors.New("sstable writer: already closed")
	}
	if w.err == nil && w.inPart {
		w.err = fmt.Errorf("%w: Close inside a partition", ErrOrder)
	}
	if w.err == nil && w.keys == 0 {
		w.err = fmt.Errorf("%w: an SSTable needs at least one partition", ErrOrder)
	}
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	if err := w.finish(); err != nil {
		w.Abort()
		return nil, err
	}
	w.closed = true
	return w.files, nil
}

func (w *Writer) finish() error {
	if err := w.data.close(); err != nil {
		return err
	}
	if err := w.index.Flush(); err != nil {
		return err
	}
	if err := w.indexF.Close(); err != nil {
		return err
	}
	toc := []string{ComponentData, ComponentIndex, ComponentSummary, ComponentFilter, ComponentStatistics}
	// Summary.db
	sum := &bw{}
	sum.i32(128)
	sum.i32(int32(len(w.sumOffs)))
	sum.i64(int64(4*len(w.sumOffs) + len(w.summary.b)))
	sum.i32(128)
	sum.i32(int32((w.keys + 127) / 128))
	for _, o := range w.sumOffs {
		sum.b = binary.LittleEndian.AppendUint32(sum.b, uint32(o)+uint32(4*len(w.sumOffs)))
	}
	sum.b = append(sum.b, w.summary.b...)
	sum.i32(int32(len(w.firstKey)))
	sum.b = append(sum.b, w.firstKey...)
	sum.i32(int32(len(w.lastKey)))
	sum.b = append(sum.b, w.lastKey...)
	if err := w.writeFile(ComponentSummary, sum.b); err != nil {
		return err
	}
	// Filter.db
	bf := newBloomFilter(w.keys, w.opts.BloomFilterFPChance)
	if err := w.bloomKeys.each(bf.add); err != nil {
		return err
	}
	w.bloomKeys.close()
	if err := w.writeFile(ComponentFilter, bf.serialize()); err != nil {
		return err
	}
	// CompressionInfo.db / CRC.db
	d := w.data
	if d.comp != nil {
		ci := &bw{}
		ci.utf(d.comp.Name())
		ci.i32(0)
		ci.i32(int32(d.chunkLen))
		if w.v.HasMaxCompressedLength {
			ci.i32(math.MaxInt32)
		}
		ci.i64(d.pos)
		ci.i32(int32(len(d.offsets)))
		for _, o := range d.offsets {
			ci.i64(o)
		}
		if err := w.writeFile(ComponentCompressionInfo, ci.b); err != nil {
			return err
		}
		toc = append(toc, ComponentCompressionInfo)
	} else {
		crc := &bw{}
		crc.i32(int32(d.chunkLen))
		for _, c := range d.crcs {
			crc.i32(int32(c))
		}
		if err := w.writeFile(ComponentCRC, crc.b); err != nil {
			return err
		}
		toc = append(toc, ComponentCRC)
	}
	// Statistics.db
	s := &w.stats
	s.Header = *w.h
	s.Cardinality = w.hll.serialize()
	s.CompressionRatio = -1
	if d.comp != nil && d.pos > 0 {
		s.CompressionRatio = float64(d.filePos) / float64(d.pos)
	}
	if s.MinTimestamp == math.MaxInt64 {
		s.MinTimestamp, s.MaxTimestamp = math.MinInt64, math.MaxInt64
	}
	if !w.v.HasImprovedMinMax {
		s.MinClustering.Kind, s.MaxClustering.Kind = KindClustering, KindClustering
	} else {
		s.MinClustering = Bound{Kind: KindInclStartBound, Values: s.MinClustering.Values}
		s.MaxClustering = Bound{Kind: KindInclEndBound, Values: s.MaxClustering.Values}
	}
	s.FirstKey, s.LastKey = w.firstKey, w.lastKey
	s.TombstoneHistogram = tombstoneBins(w.tombstones, int(s.TombstoneMaxBins))
	if err := w.writeFile(ComponentStatistics, writeStatistics(s, w.v)); err != nil {
		return err
	}
	if err := w.writeFile(ComponentDigest, []byte(strconv.FormatUint(uint64(d.digest.Sum32()), 10))); err != nil {
		return err
	}
	toc = append(toc, ComponentDigest, ComponentTOC)
	var tb []byte
	for _, c := range toc {
		tb = append(tb, c...)
		tb = append(tb, '\n')
	}
	return w.writeFile(ComponentTOC, tb)
}

// tombstoneBins turns drop-time counts into at most n bins, merging the
// closest neighbours as StreamingTombstoneHistogramBuilder does.
func tombstoneBins(m map[int64]int64, n int) []TombstoneBin {
	bins := make([]TombstoneBin, 0, len(m))
	for p, c := range m {
		bins = append(bins, TombstoneBin{Point: p, Count: c})
	}
	sortBins(bins)
	for len(bins) > n {
		best := 0
		for i := 1; i+1 < len(bins); i++ {
			if bins[i+1].Point-bins[i].Point < bins[best+1].Point-bins[best].Point {
				best = i
			}
		}
		a, b := bins[best], bins[best+1]
		c := a.Count + b.Count
		bins[best] = TombstoneBin{Point: (a.Point*a.Count + b.Point*b.Count) / c, Count: c}
		bins = append(bins[:best+1], bins[best+2:]...)
	}
	return bins
}

func sortBins(b []TombstoneBin) {
	for i := 1; i < len(b); i++ {
		for j := i; j > 0 && b[j].Point < b[j-1].Point; j-- {
			b[j], b[j-1] = b[j-1], b[j]
		}
	}
}

func (w *Writer) writeFile(component string, b []byte) error {
	f, err := w.create(component)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("sstable writer: %w", err)
	}
	return f.Close()
}

// chunkWriter writes Data.db in chunks: compressed + CRC32 each, or raw with
// CRC.db checksums. It keeps the Digest.crc32 of everything written.
type chunkWriter struct {
	f        *os.File
	bw       *bufio.Writer
	comp     Compressor
	chunkLen int
	buf      []byte
	pos      int64 // uncompressed bytes written
	filePos  int64
	offsets  []int64
	crcs     []uint32
	digest   hash.Hash32
	scratch  []byte
}

func newChunkWriter(f *os.File, comp Compressor, chunkLen int) *chunkWriter {
	return &chunkWriter{f: f, bw: bufio.NewWriterSize(f, 1<<20), comp: comp, chunkLen: chunkLen,
		buf: make([]byte, 0, chunkLen), digest: crc32.NewIEEE()}
}

func (c *chunkWriter) write(p []byte) error {
	c.pos += int64(len(p))
	for len(p) > 0 {
		n := copy(c.buf[len(c.buf):c.chunkLen], p)
		c.buf = c.buf[:len(c.buf)+n]
		p = p[n:]
		if len(c.buf) == c.chunkLen {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chunkWriter) out(b []byte) error {
	c.digest.Write(b)
	c.filePos += int64(len(b))
	_, err := c.bw.Write(b)
	return err
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	if c.comp == nil {
		c.crcs = append(c.crcs, crc32.ChecksumIEEE(c.buf))
		err := c.out(c.buf)
		c.buf = c.buf[:0]
		return err
	}
	out, err := c.comp.Compress(c.scratch[:0], c.buf)
	if err != nil {
		return fmt.Errorf("sstable writer: %s: %w", c.comp.Name(), err)
	}
	c.scratch = out
	c.offsets = append(c.offsets, c.filePos)
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(out))
	if err := c.out(out); err != nil {
		return err
	}
	c.buf = c.buf[:0]
	return c.out(crc[:])
}

func (c *chunkWriter) close() error {
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if err := c.f.Sync(); err != nil {
		return err
	}
	return c.f.Close()
}

// keyLog remembers partition keys for the bloom filter, which can only be
// sized once the key count is known. Keys spill to a temporary file so memory
// stays bounded.
type keyLog struct {
	f  *os.File
	bw *bufio.Writer
	n  int64
}

func newKeyLog() *keyLog { return &keyLog{} }

func (k *keyLog) add(key []byte) {
	if k.f == nil {
		f, err := os.CreateTemp("", "sstable-keys-")
		if err != nil {
			return
		}
		k.f, k.bw = f, bufio.NewWriterSize(f, 256<<10)
	}
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(key)))
	k.bw.Write(l[:])
	k.bw.Write(key)
	k.n++
}

func (k *keyLog) each(fn func([]byte)) error {
	if k == nil || k.f == nil {
		return nil
	}
	if err := k.bw.Flush(); err != nil {
		return err
	}
	if _, err := k.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReaderSize(k.f, 256<<10)
	buf := make([]byte, 1<<16)
	for i := int64(0); i < k.n; i++ {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return err
		}
		fn(buf[:n])
	}
	return nil
}

func (k *keyLog) close() {
	if k != nil && k.f != nil {
		k.f.Close()
		os.Remove(k.f.Name())
	}
}
