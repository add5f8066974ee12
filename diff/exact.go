package diff

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
	"golang.org/x/sync/errgroup"
)

// Phase 2: the exact multiset difference (EXCEPT ALL) of one bucket,
// restricted to the partitions whose digests differ. Legacy index records
// are indexed by their 128-bit identity (fingerprint and check hash); each
// new record cancels one legacy record of the same identity, or is a row of
// M − C. Legacy records left over are the rows of C − M. Only those rows are
// read back from the row logs, and each is re-hashed to prove it is the row
// the index named.

type exactJob struct {
	index      [2]*spillStore
	logs       []*rowLog
	recSize    int
	partitions int
	unequal    []bool
	unequalN   int
	keyed      bool
	budget     int64 // bytes phase 2 may hold for one bucket
	emit       func(side byte, fp uint64, row, carry []byte) error
	pending    []pendingRow
}

// recIndex is an open-addressing index of legacy records by identity;
// records with one identity form a chain of the ones not yet cancelled.
type recIndex struct {
	fps, checks, locs []uint64
	next              []int32
	matched           []bool
	table             []uint32 // group+1
	gfp, gcheck       []uint64
	ghead             []int32
	shift             uint
}

func (x *recIndex) reset() {
	x.fps, x.checks, x.locs = x.fps[:0], x.checks[:0], x.locs[:0]
}

func (x *recIndex) slot(fp uint64) uint64 { return (fp * 0x9E3779B97F4A7C15) >> x.shift }

func (x *recIndex) build() {
	n := len(x.fps)
	size := 16
	for size < 2*n {
		size <<= 1
	}
	x.shift = uint(64 - bits.TrailingZeros(uint(size)))
	x.table = resize(x.table, size)
	clear(x.table)
	x.next = resize(x.next, n)
	x.matched = resize(x.matched, n)
	clear(x.matched)
	x.gfp, x.gcheck, x.ghead = x.gfp[:0], x.gcheck[:0], x.ghead[:0]
	mask := uint64(size - 1)
	for i, fp := range x.fps {
		check := x.checks[i]
		pos := x.slot(fp)
		for {
			g := x.table[pos]
			if g == 0 {
				x.gfp = append(x.gfp, fp)
				x.gcheck = append(x.gcheck, check)
				x.ghead = append(x.ghead, int32(i))
				x.next[i] = -1
				x.table[pos] = uint32(len(x.gfp))
				break
			}
			if x.gfp[g-1] == fp && x.gcheck[g-1] == check {
				x.next[i] = x.ghead[g-1]
				x.ghead[g-1] = int32(i)
				break
			}
			pos = (pos + 1) & mask
		}
	}
}

// cancel removes one not yet cancelled legacy record of this identity.
func (x *recIndex) cancel(fp, check uint64) bool {
	if len(x.fps) == 0 {
		return false
	}
	mask := uint64(len(x.table) - 1)
	pos := x.slot(fp)
	for {
		g := x.table[pos]
		if g == 0 {
			return false
		}
		if x.gfp[g-1] == fp && x.gcheck[g-1] == check {
			j := x.ghead[g-1]
			if j < 0 {
				return false
			}
			x.ghead[g-1] = x.next[j]
			x.matched[j] = true
			return true
		}
		pos = (pos + 1) & mask
	}
}

// selected reports whether an index record takes part in this pass.
func (j *exactJob) selected(rec []byte, pass, passes int) bool {
	fp := binary.LittleEndian.Uint64(rec)
	h := fp
	if j.keyed {
		h = binary.LittleEndian.Uint64(rec[24:])
	}
	if !j.unequal[PartitionOf(h, j.partitions)] {
		return false
	}
	return passes == 1 || int(fp%uint64(passes)) == pass
}

// passes is how many passes a bucket needs so that the legacy records of
// its unequal partitions fit the budget at once (about 40 bytes each).
func (j *exactJob) passes(bucket int) int {
	records := j.index[0].buckets[bucket].records
	need := records * 40 * int64(j.unequalN) / int64(max(j.partitions, 1))
	return int(max((need+j.budget-1)/max(j.budget, 1), 1))
}

// fetch reads a differing row (and its carried values, if any) back and
// checks it is the row the index named.
func (j *exactJob) fetch(fp, check, loc uint64, buf []byte) (row, carry, _ []byte, err error) {
	id := int(loc >> locBits)
	if id >= len(j.logs) {
		return nil, nil, buf, fmt.Errorf("%w: index names row log %d of %d", ErrCorruptRow, id, len(j.logs))
	}
	row, carry, buf, err = j.logs[id].row(int64(loc&(1<<locBits-1)), buf)
	if err != nil {
		return nil, nil, buf, err
	}
	if xxhash.Sum64(row) != fp || xxh3.Hash(row) != check {
		return nil, nil, buf, fmt.Errorf("%w: row log %d at %d does not hash to its index record", ErrCorruptRow, id, loc&(1<<locBits-1))
	}
	return row, carry, buf, nil
}

// pendingRow is a differing row to read back.
type pendingRow struct {
	side           byte
	fp, check, loc uint64
	row, carry     []byte
}

// fetchBatch rows are read back together, by many goroutines, so that
// reads from a spill file on disk overlap rather than wait one by one.
const (
	fetchBatch   = 4096
	fetchReaders = 64
)

func (j *exactJob) later(side byte, fp, check, loc uint64) error {
	j.pending = append(j.pending, pendingRow{side: side, fp: fp, check: check, loc: loc})
	if len(j.pending) >= fetchBatch {
		return j.fetchPending()
	}
	return nil
}

// fetchPending reads the pending rows back, in location order, and emits them.
func (j *exactJob) fetchPending() error {
	p := j.pending
	if len(p) == 0 {
		return nil
	}
	slices.SortFunc(p, func(a, b pendingRow) int { return cmp.Compare(a.loc, b.loc) })
	var g errgroup.Group
	g.SetLimit(fetchReaders)
	per := (len(p) + fetchReaders - 1) / fetchReaders
	for start := 0; start < len(p); start += per {
		part := p[start:min(start+per, len(p))]
		g.Go(func() error {
			var buf []byte
			for i := range part {
				row, carry, b, err := j.fetch(part[i].fp, part[i].check, part[i].loc, buf)
				if err != nil {
					return err
				}
				buf = b
				part[i].row = bytes.Clone(row)
				if carry != nil {
					part[i].carry = bytes.Clone(carry)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range p {
		if err := j.emit(p[i].side, p[i].fp, p[i].row, p[i].carry); err != nil {
			return err
		}
		p[i].row, p[i].carry = nil, nil
	}
	j.pending = p[:0]
	return nil
}

// run computes the difference for one bucket and returns the sizes of
// C − M and M − C in it.
func (j *exactJob) run(bucket int, x *recIndex, scratch, rowBuf []byte) (onlyL, onlyN int64, _, _ []byte, err error) {
	passes := j.passes(bucket)
	legacy, newer := j.index[0], j.index[1]
	lb, nb := legacy.buckets[bucket].chunks, newer.buckets[bucket].chunks
	for pass := 0; pass < passes; pass++ {
		x.reset()
		for _, c := range lb {
			var data []byte
			if data, scratch, err = readInto(legacy, c, scratch); err != nil {
				return 0, 0, scratch, rowBuf, err
			}
			for off := 0; off+j.recSize <= len(data); off += j.recSize {
				rec := data[off : off+j.recSize]
				if j.selected(rec, pass, passes) {
					x.fps = append(x.fps, binary.LittleEndian.Uint64(rec))
					x.checks = append(x.checks, binary.LittleEndian.Uint64(rec[8:]))
					x.locs = append(x.locs, binary.LittleEndian.Uint64(rec[16:]))
				}
			}
		}
		x.build()
		for _, c := range nb {
			var data []byte
			if data, scratch, err = readInto(newer, c, scratch); err != nil {
				return 0, 0, scratch, rowBuf, err
			}
			for off := 0; off+j.recSize <= len(data); off += j.recSize {
				rec := data[off : off+j.recSize]
				if !j.selected(rec, pass, passes) {
					continue
				}
				fp, check := binary.LittleEndian.Uint64(rec), binary.LittleEndian.Uint64(rec[8:])
				if x.cancel(fp, check) {
					continue
				}
				onlyN++
				if err := j.later(sideNew, fp, check, binary.LittleEndian.Uint64(rec[16:])); err != nil {
					return 0, 0, scratch, rowBuf, err
				}
			}
		}
		for i := range x.fps {
			if x.matched[i] {
				continue
			}
			onlyL++
			if err := j.later(sideLegacy, x.fps[i], x.checks[i], x.locs[i]); err != nil {
				return 0, 0, scratch, rowBuf, err
			}
		}
	}
	if err := j.fetchPending(); err != nil {
		return 0, 0, scratch, rowBuf, err
	}
	return onlyL, onlyN, scratch, rowBuf, nil
}

// readInto returns a chunk's bytes: in place for memory chunks, else read
// into scratch (which it returns, possibly grown).
func readInto(s *spillStore, c chunk, scratch []byte) ([]byte, []byte, error) {
	if c.data != nil {
		return c.data[:c.n], scratch, nil
	}
	b, err := s.read(c, scratch)
	if err != nil {
		return nil, scratch, err
	}
	return b, b, nil
}

// Duplicate keys: a key that occurs more than once on either side. They
// are counted from the index records' key hashes, bucket by bucket: the
// records are grouped by partition (a counting sort), then each small group
// goes through a small table. Equal partitions hold the same keys on both
// sides, so there only the legacy side is counted. Two keys are taken for
// one only if their 64-bit hashes collide within a partition.

type dupEntry struct{ h, loc uint64 }

type dupScratch struct {
	ents, sorted []dupEntry
	counts       []int32
	table        []int32 // slot → group-local unique index + 1
	uh           []uint64
	uc           [][2]int32
	uloc         []uint64
}

type dupJob struct {
	index      [2]*spillStore
	recSize    int
	partitions int
	buckets    int
	unequal    []bool
}

// run returns the number of duplicate keys in one bucket and calls found
// with the location of one row of each.
func (j *dupJob) run(bucket int, s *dupScratch, scratch []byte, found func(loc uint64) error) (int64, []byte, error) {
	s.ents = s.ents[:0]
	for side, st := range j.index {
		for _, c := range st.buckets[bucket].chunks {
			var data []byte
			var err error
			if data, scratch, err = readInto(st, c, scratch); err != nil {
				return 0, scratch, err
			}
			for off := 0; off+j.recSize <= len(data); off += j.recSize {
				rec := data[off : off+j.recSize]
				h := binary.LittleEndian.Uint64(rec[24:])
				if side == 1 && !j.unequal[PartitionOf(h, j.partitions)] {
					continue
				}
				loc := binary.LittleEndian.Uint64(rec[16:])
				s.ents = append(s.ents, dupEntry{h, loc | uint64(side)<<63})
			}
		}
	}
	// Group by partition: the partitions of bucket b are b, b+B, b+2B, ...
	groups := (j.partitions + j.buckets - 1) / j.buckets
	s.counts = resize(s.counts, groups+1)
	clear(s.counts)
	for _, e := range s.ents {
		s.counts[PartitionOf(e.h, j.partitions)/j.buckets+1]++
	}
	for g := 1; g <= groups; g++ {
		s.counts[g] += s.counts[g-1]
	}
	s.sorted = resize(s.sorted, len(s.ents))
	for _, e := range s.ents {
		g := PartitionOf(e.h, j.partitions) / j.buckets
		s.sorted[s.counts[g]] = e
		s.counts[g]++
	}
	var dups int64
	start := 0
	for g := 0; g < groups; g++ {
		end := int(s.counts[g])
		grp := s.sorted[start:end]
		start = end
		if len(grp) < 2 {
			continue
		}
		size := 16
		for size < 2*len(grp) {
			size <<= 1
		}
		s.table = resize(s.table, size)
		clear(s.table)
		mask := uint64(size - 1)
		s.uh, s.uc, s.uloc = s.uh[:0], s.uc[:0], s.uloc[:0]
		for _, e := range grp {
			side := e.loc >> 63
			pos := (e.h * 0x9E3779B97F4A7C15) >> 32 & mask
			for {
				u := s.table[pos]
				if u == 0 {
					s.uh = append(s.uh, e.h)
					var c [2]int32
					c[side] = 1
					s.uc = append(s.uc, c)
					s.uloc = append(s.uloc, e.loc&^(1<<63))
					s.table[pos] = int32(len(s.uh))
					break
				}
				if s.uh[u-1] == e.h {
					if s.uc[u-1][side] < 1<<30 {
						s.uc[u-1][side]++
					}
					break
				}
				pos = (pos + 1) & mask
			}
		}
		for u, c := range s.uc {
			if c[0] > 1 || c[1] > 1 {
				dups++
				if found != nil {
					if err := found(s.uloc[u]); err != nil {
						return 0, scratch, err
					}
				}
			}
		}
	}
	return dups, scratch, nil
}
