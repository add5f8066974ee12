package sstable

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/cassmove/shadow/engine/cql"
)

// Metadata component ordinals in Statistics.db (MetadataType).
const (
	metaValidation = 0
	metaCompaction = 1
	metaStats      = 2
	metaHeader     = 3
)

// Epochs of EncodingStats deltas (2015-09-22T00:00Z).
const (
	timestampEpoch    int64 = 1442880000 * 1000000
	deletionTimeEpoch int64 = 1442880000
)

// Time sentinels, normalised across versions.
const (
	// NoTimestamp marks absent liveness (LivenessInfo.NO_TIMESTAMP).
	NoTimestamp int64 = math.MinInt64
	// NoDeletionTime marks "not deleted / not expiring" for local deletion
	// times (Integer.MAX_VALUE before oa, 0xFFFFFFFF from oa on).
	NoDeletionTime int64 = math.MaxInt64
	// NoTTL is the TTL of a non-expiring cell or row.
	NoTTL int32 = 0
	// ExpiredLivenessTTL marks an expired row liveness used by materialized
	// views as a primary-key tombstone (LivenessInfo.EXPIRED_LIVENESS_TTL).
	ExpiredLivenessTTL int32 = math.MaxInt32
)

// Histogram is Cassandra's EstimatedHistogram: Counts[i] counts values in
// (Offsets[i-1], Offsets[i]]; the last count is the overflow bucket.
type Histogram struct {
	Offsets []int64
	Counts  []int64
}

// Count is the number of values recorded.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Mean is the estimated mean (bucket upper bounds weighted by counts).
func (h Histogram) Mean() float64 {
	var n, sum float64
	for i, c := range h.Counts {
		if i >= len(h.Offsets) {
			break
		}
		n += float64(c)
		sum += float64(c) * float64(h.Offsets[i])
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// Max is the upper bound of the highest non-empty bucket (MaxInt64 when the
// overflow bucket is used).
func (h Histogram) Max() int64 {
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > 0 {
			if i >= len(h.Offsets) {
				return math.MaxInt64
			}
			return h.Offsets[i]
		}
	}
	return 0
}

// TombstoneBin is a point of the tombstone drop-time histogram.
type TombstoneBin struct {
	Point int64 // local deletion time, seconds
	Count int64
}

// CommitLogPosition is a commit log segment and position.
type CommitLogPosition struct {
	Segment  int64
	Position int32
}

// Column is a static or regular column of the serialization header.
type Column struct {
	Name   string
	Type   *cql.Type
	Static bool
	// Index is the column's position in Header.Statics or Header.Regulars,
	// which is the order of cells in rows.
	Index int
}

// Complex reports a multi-cell column (non-frozen collection or UDT).
func (c *Column) Complex() bool { return c.Type.MultiCell() }

// Header is the serialization header (SerializationHeader.Component): the
// schema of the SSTable as far as the file knows it. It lacks the names of the
// key and clustering columns and the table options.
type Header struct {
	// EncodingStats: the bases of every delta-encoded time in Data.db.
	MinTimestamp         int64
	MinLocalDeletionTime int64 // raw bits: int32 before oa, uint32 from oa
	MinTTL               int32

	KeyType         *cql.Type
	ClusteringTypes []*cql.Type
	// Statics and Regulars are in the order Cassandra writes cells: simple
	// columns first, then complex ones, each group by unsigned name bytes.
	Statics  []*Column
	Regulars []*Column
}

// Comparator returns the clustering comparator of the header.
func (h *Header) Comparator() Comparator { return Comparator{Types: h.ClusteringTypes} }

// Column returns the static or regular column of that name.
func (h *Header) Column(name string) *Column {
	for _, c := range h.Regulars {
		if c.Name == name {
			return c
		}
	}
	for _, c := range h.Statics {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// sortColumns puts columns in Cassandra's on-disk order (ColumnMetadata.compareTo):
// simple before complex, then unsigned byte order of the name.
func sortColumns(cols []*Column) {
	slices.SortStableFunc(cols, func(a, b *Column) int {
		if a.Complex() != b.Complex() {
			if a.Complex() {
				return 1
			}
			return -1
		}
		return bytes.Compare([]byte(a.Name), []byte(b.Name))
	})
	for i, c := range cols {
		c.Index = i
	}
}

// Statistics is Statistics.db: validation, stats and header metadata.
type Statistics struct {
	// Validation
	Partitioner         string // Java class name
	BloomFilterFPChance float64

	// Compaction: the serialized HyperLogLog++ of the partition keys.
	Cardinality []byte

	// Stats
	PartitionSizes         Histogram // bytes per partition
	CellsPerPartition      Histogram
	CommitLogUpperBound    CommitLogPosition
	MinTimestamp           int64
	MaxTimestamp           int64
	MinLocalDeletionTime   int64 // seconds; NoDeletionTime when none
	MaxLocalDeletionTime   int64
	MinTTL, MaxTTL         int32
	CompressionRatio       float64 // -1 when uncompressed
	TombstoneMaxBins       int32
	TombstoneHistogram     []TombstoneBin
	SSTableLevel           int32
	RepairedAt             int64 // ms; 0 = unrepaired
	MinClustering          Bound // legacy versions: values only (Kind = KindClustering)
	MaxClustering          Bound
	ClusteringTypes        []*cql.Type // oa+: the types of MinClustering/MaxClustering
	HasLegacyCounterShards bool
	TotalColumnsSet        int64
	TotalRows              int64
	CommitLogLowerBound    CommitLogPosition
	CommitLogIntervals     [][2]CommitLogPosition
	PendingRepair          *cql.UUID
	IsTransient            bool
	OriginatingHostID      *cql.UUID
	HasPartitionLevelDels  bool
	FirstKey, LastKey      []byte // oa+
	TokenSpaceCoverage     float64

	Header Header
}

// EstimatedPartitions is the number of partitions recorded in the partition
// size histogram.
func (s *Statistics) EstimatedPartitions() int64 { return s.PartitionSizes.Count() }

// parseStatistics decodes Statistics.db.
func parseStatistics(b []byte, file string, v Version) (*Statistics, error) {
	r := &mreader{b: b, file: file}
	n := r.count("metadata component count", 8)
	if r.err != nil {
		return nil, r.err
	}
	if v.HasMetadataChecksum {
		var nb [4]byte
		nb[0], nb[1], nb[2], nb[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		if got, want := crc32.ChecksumIEEE(nb[:]), r.u32("count crc32"); r.err == nil && got != want {
			return nil, errAt(ErrChecksum, file, 4, "metadata count crc32 stored 0x%08x, computed 0x%08x", want, got)
		}
	}
	tocStart := r.p
	type entry struct{ typ, off int }
	var toc []entry
	for i := 0; i < n; i++ {
		toc = append(toc, entry{int(r.i32("metadata type")), int(r.i32("metadata offset"))})
	}
	if v.HasMetadataChecksum {
		// the CRC runs on from the count over the table
		got := crc32.Update(crc32.ChecksumIEEE(b[:4]), crc32.IEEETable, b[tocStart:min(r.p, len(b))])
		if want := r.u32("toc crc32"); r.err == nil && got != want {
			return nil, errAt(ErrChecksum, file, int64(r.p-4), "metadata table crc32 stored 0x%08x, computed 0x%08x", want, got)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	comps := map[int][]byte{}
	offs := map[int]int{}
	for i, e := range toc {
		end := len(b)
		if i+1 < len(toc) {
			end = toc[i+1].off
		}
		if e.off < r.p || e.off > end || end > len(b) {
			return nil, errAt(ErrCorrupt, file, int64(tocStart+8*i), "metadata component %d at offset %d ending at %d: want offsets in order within the %d-byte file", e.typ, e.off, end, len(b))
		}
		c := b[e.off:end]
		if v.HasMetadataChecksum {
			if len(c) < 4 {
				return nil, errAt(ErrCorrupt, file, int64(e.off), "metadata component %d of %d bytes: want at least a crc32", e.typ, len(c))
			}
			body := c[:len(c)-4]
			want := uint32(c[len(c)-4])<<24 | uint32(c[len(c)-3])<<16 | uint32(c[len(c)-2])<<8 | uint32(c[len(c)-1])
			if got := crc32.ChecksumIEEE(body); got != want {
				return nil, errAt(ErrChecksum, file, int64(end-4), "metadata component %d crc32 stored 0x%08x, computed 0x%08x", e.typ, want, got)
			}
			c = body
		}
		comps[e.typ] = c
		offs[e.typ] = e.off
	}
	s := &Statistics{}
	for _, typ := range []int{metaValidation, metaStats, metaHeader} {
		if _, ok := comps[typ]; !ok {
			return nil, errIn(ErrCorrupt, file, "no metadata component %d (want validation 0, stats 2 and header 3)", typ)
		}
	}
	vr := &mreader{b: comps[metaValidation], file: file, base: int64(offs[metaValidation])}
	s.Partitioner = vr.utf("partitioner")
	s.BloomFilterFPChance = vr.f64("bloom filter fp chance")
	if vr.err != nil {
		return nil, vr.err
	}
	if c, ok := comps[metaCompaction]; ok {
		cr := &mreader{b: c, file: file, base: int64(offs[metaCompaction])}
		n := cr.count("cardinality length", 1)
		s.Cardinality = cr.take(n, "cardinality")
		if cr.err != nil {
			return nil, cr.err
		}
	}
	hr := &mreader{b: comps[metaHeader], file: file, base: int64(offs[metaHeader])}
	if err := parseHeader(hr, &s.Header, v); err != nil {
		return nil, err
	}
	sr := &mreader{b: comps[metaStats], file: file, base: int64(offs[metaStats])}
	parseStats(sr, s, v)
	if sr.err != nil {
		return nil, sr.err
	}
	return s, nil
}

func parseHistogram(r *mreader, what string) Histogram {
	n := r.count(what+" bucket count", 16)
	if n == 0 {
		return Histogram{}
	}
	h := Histogram{Offsets: make([]int64, n-1), Counts: make([]int64, n)}
	for i := 0; i < n; i++ {
		off := r.i64(what + " offset")
		if i > 0 {
			h.Offsets[i-1] = off
		} else if n > 1 {
			h.Offsets[0] = off
		}
		h.Counts[i] = r.i64(what + " count")
	}
	return h
}

func ldtFromInt(v Version, raw uint32) int64 {
	if v.UIntDeletionTime {
		if raw == math.MaxUint32 {
			return NoDeletionTime
		}
		return int64(raw)
	}
	if int32(raw) == math.MaxInt32 {
		return NoDeletionTime
	}
	return int64(int32(raw))
}

func parseStats(r *mreader, s *Statistics, v Version) {
	s.PartitionSizes = parseHistogram(r, "partition size histogram")
	s.CellsPerPartition = parseHistogram(r, "cells per partition histogram")
	s.CommitLogUpperBound = CommitLogPosition{r.i64("commit log segment"), r.i32("commit log position")}
	s.MinTimestamp = r.i64("min timestamp")
	s.MaxTimestamp = r.i64("max timestamp")
	s.MinLocalDeletionTime = ldtFromInt(v, r.u32("min local deletion time"))
	s.MaxLocalDeletionTime = ldtFromInt(v, r.u32("max local deletion time"))
	s.MinTTL = r.i32("min ttl")
	s.MaxTTL = r.i32("max ttl")
	s.CompressionRatio = r.f64("compression ratio")
	s.TombstoneMaxBins = r.i32("tombstone histogram max bins")
	entry := 16
	if v.UIntDeletionTime {
		entry = 12
	}
	n := r.count("tombstone histogram size", entry)
	for i := 0; i < n; i++ {
		if v.UIntDeletionTime {
			s.TombstoneHistogram = append(s.TombstoneHistogram, TombstoneBin{r.i64("tombstone point"), int64(r.i32("tombstone count"))})
		} else {
			s.TombstoneHistogram = append(s.TombstoneHistogram, TombstoneBin{int64(r.f64("tombstone point")), r.i64("tombstone count")})
		}
	}
	s.SSTableLevel = r.i32("sstable level")
	s.RepairedAt = r.i64("repaired at")
	if v.HasImprovedMinMax {
		nt := r.uvint("clustering type count")
		if nt > uint64(r.remaining()) {
			r.failf("clustering type count %d: want at most %d", nt, r.remaining())
			return
		}
		for i := uint64(0); i < nt; i++ {
			ts := string(r.vbytes("clustering type"))
			t, err := cql.ParseMarshal(ts)
			if err != nil {
				r.failf("min/max clustering type: %v", err)
				return
			}
			s.ClusteringTypes = append(s.ClusteringTypes, t)
		}
		for _, b := range []*Bound{&s.MinClustering, &s.MaxClustering} {
			b.Kind = BoundKind(r.u8("clustering bound kind"))
			size := int(r.u16("clustering bound size"))
			if size > len(s.ClusteringTypes) {
				r.failf("clustering bound of %d values: want at most %d", size, len(s.ClusteringTypes))
				return
			}
			vals, p, err := decodeClusteringValues(r.b, r.p, s.ClusteringTypes[:size], nil)
			if err != nil {
				r.failf("min/max clustering: %v", err)
				return
			}
			r.p = p
			b.Values = cloneValues(vals)
		}
	} else {
		for _, b := range []*Bound{&s.MinClustering, &s.MaxClustering} {
			b.Kind = KindClustering
			k := r.count("min/max clustering count", 2)
			for i := 0; i < k; i++ {
				b.Values = append(b.Values, r.take(int(r.u16("clustering value length")), "clustering value"))
			}
		}
	}
	s.HasLegacyCounterShards = r.u8("has legacy counter shards") != 0
	s.TotalColumnsSet = r.i64("total columns set")
	s.TotalRows = r.i64("total rows")
	if v.HasCommitLogLowerBound {
		s.CommitLogLowerBound = CommitLogPosition{r.i64("commit log segment"), r.i32("commit log position")}
	}
	if v.HasCommitLogIntervals {
		n := r.count("commit log interval count", 24)
		for i := 0; i < n; i++ {
			s.CommitLogIntervals = append(s.CommitLogIntervals, [2]CommitLogPosition{
				{r.i64("commit log segment"), r.i32("commit log position")},
				{r.i64("commit log segment"), r.i32("commit log position")}})
		}
	}
	if v.HasPendingRepair {
		if r.u8("has pending repair") != 0 {
			var u cql.UUID
			copy(u[:], r.take(16, "pending repair"))
			s.PendingRepair = &u
		}
	}
	// Pre-release na files (the legacy na *_compact fixtures, 2017) end
	// before isTransient, which 4.0 added later: the component length says so.
	if v.HasIsTransient && r.remaining() > 0 {
		s.IsTransient = r.u8("is transient") != 0
	}
	if v.HasOriginatingHostID {
		if r.u8("has originating host id") != 0 {
			var u cql.UUID
			copy(u[:], r.take(16, "originating host id"))
			s.OriginatingHostID = &u
		}
	}
	if v.HasPartitionLevelDel {
		s.HasPartitionLevelDels = r.u8("has partition level deletions") != 0
	}
	if v.HasKeyRange {
		s.FirstKey = r.vbytes("first key")
		s.LastKey = r.vbytes("last key")
	}
	if v.HasTokenSpaceCoverage {
		s.TokenSpaceCoverage = r.f64("token space coverage")
	}
}

func parseHeader(r *mreader, h *Header, v Version) error {
	h.MinTimestamp = int64(r.uvint("header min timestamp")) + timestampEpoch
	// readUnsignedVInt32 truncates in 3.x/4.x: keep the low 32 bits.
	d := uint32(r.uvint("header min local deletion time"))
	if v.UIntDeletionTime {
		h.MinLocalDeletionTime = int64(d + uint32(deletionTimeEpoch))
	} else {
		h.MinLocalDeletionTime = int64(int32(d) + int32(deletionTimeEpoch))
	}
	h.MinTTL = int32(uint32(r.uvint("header min ttl")))
	typ := func(what string) *cql.Type {
		off := r.base + int64(r.p)
		s := r.vbytes(what)
		if r.err != nil {
			return nil
		}
		t, err := cql.ParseMarshal(string(s))
		if err != nil {
			r.err = fmt.Errorf("sstable %s at offset %d: %s: %w: %w", r.file, off, what, err, ErrCorrupt)
			r.p = len(r.b)
			return nil
		}
		return t
	}
	h.KeyType = typ("partition key type")
	n := r.uvint("clustering column count")
	if n > uint64(r.remaining()) {
		r.failf("clustering column count %d: want at most %d", n, r.remaining())
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		h.ClusteringTypes = append(h.ClusteringTypes, typ("clustering type"))
	}
	for _, static := range []bool{true, false} {
		n := r.uvint("column count")
		if n > uint64(r.remaining()) {
			r.failf("column count %d: want at most %d", n, r.remaining())
		}
		var cols []*Column
		for i := uint64(0); i < n && r.err == nil; i++ {
			name := string(r.vbytes("column name"))
			t := typ("type of column " + name)
			cols = append(cols, &Column{Name: name, Type: t, Static: static})
		}
		if r.err != nil {
			return r.err
		}
		sortColumns(cols)
		if static {
			h.Statics = cols
		} else {
			h.Regulars = cols
		}
	}
	return r.err
}
