package sstable

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// Serializers of the metadata components, mirroring their parsers.

type bw struct{ b []byte }

func (w *bw) u8(v byte)     { w.b = append(w.b, v) }
func (w *bw) u16(v uint16)  { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *bw) i32(v int32)   { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *bw) i64(v int64)   { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *bw) f64(v float64) { w.i64(int64(math.Float64bits(v))) }
func (w *bw) uv(v uint64)   { w.b = cql.AppendUvarint(w.b, v) }
func (w *bw) utf(s string)  { w.u16(uint16(len(s))); w.b = append(w.b, s...) }
func (w *bw) vbytes(b []byte) {
	w.uv(uint64(len(b)))
	w.b = append(w.b, b...)
}

// newHistogramOffsets is EstimatedHistogram.newOffsets(size, false).
func newHistogramOffsets(size int) []int64 {
	out := make([]int64, size)
	last := int64(1)
	out[0] = last
	for i := 1; i < size; i++ {
		next := int64(math.Round(float64(last) * 1.2))
		if next == last {
			next++
		}
		out[i] = next
		last = next
	}
	return out
}

func newHistogram(size int) Histogram {
	offs := newHistogramOffsets(size)
	return Histogram{Offsets: offs, Counts: make([]int64, len(offs)+1)}
}

func (h *Histogram) add(v int64) {
	i, _ := slices.BinarySearch(h.Offsets, v)
	h.Counts[i]++
}

func (w *bw) histogram(h Histogram) {
	w.i32(int32(len(h.Counts)))
	for i, c := range h.Counts {
		off := int64(0)
		if len(h.Offsets) > 0 {
			off = h.Offsets[max(i-1, 0)]
		}
		w.i64(off)
		w.i64(c)
	}
}

// writeStatistics serializes Statistics.db for version v.
func writeStatistics(s *Statistics, v Version) []byte {
	comps := make([][]byte, 4)
	{
		w := &bw{}
		w.utf(s.Partitioner)
		w.f64(s.BloomFilterFPChance)
		comps[metaValidation] = w.b
	}
	{
		w := &bw{}
		w.i32(int32(len(s.Cardinality)))
		w.b = append(w.b, s.Cardinality...)
		comps[metaCompaction] = w.b
	}
	comps[metaStats] = writeStats(s, v)
	comps[metaHeader] = writeHeader(&s.Header, v)

	w := &bw{}
	w.i32(4)
	crc := crc32.NewIEEE()
	if v.HasMetadataChecksum {
		crc.Write(w.b)
		w.i32(int32(crc.Sum32()))
	}
	pos := 4 + 8*4
	if v.HasMetadataChecksum {
		pos += 8
	}
	tocStart := len(w.b)
	for i, c := range comps {
		w.i32(int32(i))
		w.i32(int32(pos))
		pos += len(c)
		if v.HasMetadataChecksum {
			pos += 4
		}
	}
	if v.HasMetadataChecksum {
		crc.Write(w.b[tocStart:])
		w.i32(int32(crc.Sum32()))
	}
	for _, c := range comps {
		w.b = append(w.b, c...)
		if v.HasMetadataChecksum {
			w.i32(int32(crc32.ChecksumIEEE(c)))
		}
	}
	return w.b
}

func ldtToInt(v Version, ldt int64) int32 {
	if ldt == NoDeletionTime {
		if v.UIntDeletionTime {
			return -1 // 0xFFFFFFFF
		}
		return math.MaxInt32
	}
	return int32(uint32(ldt))
}

func writeStats(s *Statistics, v Version) []byte {
	w := &bw{}
	w.histogram(s.PartitionSizes)
	w.histogram(s.CellsPerPartition)
	w.i64(s.CommitLogUpperBound.Segment)
	w.i32(s.CommitLogUpperBound.Position)
	w.i64(s.MinTimestamp)
	w.i64(s.MaxTimestamp)
	w.i32(ldtToInt(v, s.MinLocalDeletionTime))
	w.i32(ldtToInt(v, s.MaxLocalDeletionTime))
	w.i32(s.MinTTL)
	w.i32(s.MaxTTL)
	w.f64(s.CompressionRatio)
	w.i32(s.TombstoneMaxBins)
	w.i32(int32(len(s.TombstoneHistogram)))
	for _, b := range s.TombstoneHistogram {
		if v.UIntDeletionTime {
			w.i64(b.Point)
			w.i32(int32(b.Count))
		} else {
			w.f64(float64(b.Point))
			w.i64(b.Count)
		}
	}
	w.i32(s.SSTableLevel)
	w.i64(s.RepairedAt)
	if v.HasImprovedMinMax {
		w.uv(uint64(len(s.ClusteringTypes)))
		for _, t := range s.ClusteringTypes {
			w.vbytes([]byte(t.String()))
		}
		for _, b := range []Bound{s.MinClustering, s.MaxClustering} {
			w.u8(byte(b.Kind))
			w.u16(uint16(len(b.Values)))
			w.b = appendClustering(w.b, s.ClusteringTypes, b.Values)
		}
	} else {
		for _, b := range []Bound{s.MinClustering, s.MaxClustering} {
			w.i32(int32(len(b.Values)))
			for _, x := range b.Values {
				w.u16(uint16(len(x)))
				w.b = append(w.b, x...)
			}
		}
	}
	if s.HasLegacyCounterShards {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.i64(s.TotalColumnsSet)
	w.i64(s.TotalRows)
	if v.HasCommitLogLowerBound {
		w.i64(s.CommitLogLowerBound.Segment)
		w.i32(s.CommitLogLowerBound.Position)
	}
	if v.HasCommitLogIntervals {
		w.i32(int32(len(s.CommitLogIntervals)))
		for _, iv := range s.CommitLogIntervals {
			for _, p := range iv {
				w.i64(p.Segment)
				w.i32(p.Position)
			}
		}
	}
	if v.HasPendingRepair {
		if s.PendingRepair != nil {
			w.u8(1)
			w.b = append(w.b, s.PendingRepair[:]...)
		} else {
			w.u8(0)
		}
	}
	if v.HasIsTransient {
		w.u8(b2u(s.IsTransient))
	}
	if v.HasOriginatingHostID {
		if s.OriginatingHostID != nil {
			w.u8(1)
			w.b = append(w.b, s.OriginatingHostID[:]...)
		} else {
			w.u8(0)
		}
	}
	if v.HasPartitionLevelDel {
		w.u8(b2u(s.HasPartitionLevelDels))
	}
	if v.HasKeyRange {
		w.vbytes(s.FirstKey)
		w.vbytes(s.LastKey)
	}
	if v.HasTokenSpaceCoverage {
		w.f64(s.TokenSpaceCoverage)
	}
	return w.b
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func writeHeader(h *Header, v Version) []byte {
	w := &bw{}
	w.uv(uint64(h.MinTimestamp - timestampEpoch))
	if v.UIntDeletionTime {
		w.uv(uint64(uint32(h.MinLocalDeletionTime) - uint32(deletionTimeEpoch)))
	} else {
		// writeUnsignedVInt32 sign-extends the int delta
		w.uv(uint64(int64(int32(h.MinLocalDeletionTime) - int32(deletionTimeEpoch))))
	}
	w.uv(uint64(int64(h.MinTTL)))
	w.vbytes([]byte(h.KeyType.String()))
	w.uv(uint64(len(h.ClusteringTypes)))
	for _, t := range h.ClusteringTypes {
		w.vbytes([]byte(t.String()))
	}
	for _, cols := range [][]*Column{h.Statics, h.Regulars} {
		w.uv(uint64(len(cols)))
		for _, c := range cols {
			w.vbytes([]byte(c.Name))
			w.vbytes([]byte(c.Type.String()))
		}
	}
	return w.b
}

// appendClustering serializes clustering values in blocks of 32 with their
// 2-bit headers (ClusteringPrefix.serializeValuesWithoutSize).
func appendClustering(dst []byte, types []*cql.Type, vals Clustering) []byte {
	for off := 0; off < len(vals); {
		lim := min(len(vals), off+32)
		var hdr uint64
		for i := off; i < lim; i++ {
			switch {
			case vals[i] == nil:
				hdr |= 1 << uint((i%32)*2+1)
			case len(vals[i]) == 0:
				hdr |= 1 << uint((i%32)*2)
			}
		}
		dst = cql.AppendUvarint(dst, hdr)
		for ; off < lim; off++ {
			if len(vals[off]) > 0 {
				dst = appendValue(dst, types[off].FixedLen(), vals[off])
			}
		}
	}
	return dst
}

func appendValue(dst []byte, fixed int, v []byte) []byte {
	if fixed < 0 {
		dst = cql.AppendUvarint(dst, uint64(len(v)))
	}
	return append(dst, v...)
}

// appendDeletionTime serializes a partition-level DeletionTime.
func appendDeletionTime(dst []byte, v Version, d DeletionTime) []byte {
	if v.UIntDeletionTime {
		if d.IsLive() {
			return append(dst, 0x80)
		}
		dst = binary.BigEndian.AppendUint64(dst, uint64(d.MarkedForDeleteAt))
		return binary.BigEndian.AppendUint32(dst, uint32(ldtToInt(v, d.LocalDeletionTime)))
	}
	if d.IsLive() {
		dst = binary.BigEndian.AppendUint32(dst, math.MaxInt32)
		return binary.BigEndian.AppendUint64(dst, 1<<63)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(ldtToInt(v, d.LocalDeletionTime)))
	return binary.BigEndian.AppendUint64(dst, uint64(d.MarkedForDeleteAt))
}

// bloomFilter is Cassandra's BloomFilter with a byte-addressed bitset (na+
// serialization): hashCount int32, word count int32, the bytes.
type bloomFilter struct {
	hashes int
	bits   []byte
}

// newBloomFilter sizes a filter as FilterFactory.getFilter does, with the
// probabilities (1 - e^(-k/c))^k of BloomCalculations.
func newBloomFilter(n int64, fp float64) *bloomFilter {
	if n < 1 {
		n = 1
	}
	prob := func(c, k int) float64 { return math.Pow(1-math.Exp(-float64(k)/float64(c)), float64(k)) }
	optK := func(c int) int { return max(1, int(math.Round(math.Ln2*float64(c)))) }
	maxBuckets := 20
	if n > 0 && (math.MaxInt64-20)/n < 20 {
		maxBuckets = int((math.MaxInt64 - 20) / n)
	}
	c, k := 2, optK(2)
	if fp < prob(2, optK(2)) {
		for c < maxBuckets && prob(c, k) > fp {
			c++
			k = optK(c)
		}
		for k > 1 && prob(c, k-1) <= fp {
			k--
		}
	} else {
		c, k = 2, optK(2)
	}
	nbits := n*int64(c) + 20
	words := (nbits + 63) / 64
	return &bloomFilter{hashes: k, bits: make([]byte, words*8)}
}

func (f *bloomFilter) add(key []byte) {
	h1, h2 := token.Murmur3Hash128(key)
	base, inc := int64(h2), int64(h1)
	m := int64(len(f.bits)) * 8
	for i := 0; i < f.hashes; i++ {
		x := base % m
		if x < 0 {
			x = -x
		}
		f.bits[x>>3] |= 1 << uint(x&7)
		base += inc
	}
}

func (f *bloomFilter) serialize() []byte {
	w := &bw{}
	w.i32(int32(f.hashes))
	w.i32(int32(len(f.bits) / 8))
	w.b = append(w.b, f.bits...)
	return w.b
}

// hyperLogLog is clearspring's HyperLogLogPlus(p=13, sp=25) in its NORMAL
// form, fed like Cassandra's MetadataCollector with MurmurHash2-64 of each key.
type hyperLogLog struct{ regs []uint32 }

const hllP = 13

func newHLL() *hyperLogLog { return &hyperLogLog{regs: make([]uint32, (1<<hllP)/6+1)} }

func (h *hyperLogLog) add(key []byte) {
	x := murmur2_64(key)
	idx := int(x >> (64 - hllP))
	w := x<<hllP | 1<<(hllP-1)
	rho := uint32(bits.LeadingZeros64(w) + 1)
	bucket := idx / 6
	shift := uint(5 * (idx - bucket*6))
	if cur := h.regs[bucket] >> shift & 0x1f; rho > cur {
		h.regs[bucket] = h.regs[bucket]&^(0x1f<<shift) | rho<<shift
	}
}

func (h *hyperLogLog) serialize() []byte {
	w := &bw{}
	w.i32(-2) // -VERSION
	w.b = append(w.b, hllP, 25, 0)
	n := uint64(len(h.regs) * 4)
	for n >= 0x80 { // clearspring Varint: 7 bits per byte, little-endian
		w.b = append(w.b, byte(n)|0x80)
		n >>= 7
	}
	w.b = append(w.b, byte(n))
	for _, r := range h.regs {
		w.i32(int32(r))
	}
	return w.b
}

// murmur2_64 is Cassandra's MurmurHash.hash2_64 with seed 0 (tail bytes
// sign-extended, as in Java).
func murmur2_64(key []byte) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	n := len(key)
	h := uint64(0) ^ (m * uint64(n))
	for i := 0; i+8 <= n; i += 8 {
		k := binary.LittleEndian.Uint64(key[i:])
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	tail := key[n&^7:]
	if len(tail) > 0 {
		for i := len(tail) - 1; i >= 0; i-- {
			h ^= uint64(int64(int8(tail[i]))) << (8 * uint(i))
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}
