package sstable

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// Scanner streams the partitions of an SSTable and, within each, its
// unfiltereds (rows and range tombstone markers) in clustering order. It
// holds one decompressed chunk window plus the current row: memory does not
// grow with the partition or the file. It is not safe for concurrent use.
//
//	sc, _ := r.Scan(ctx)
//	defer sc.Close()
//	for sc.NextPartition() {
//		p := sc.Partition()          // key, token, deletion, static row
//		for sc.Next() {
//			u := sc.Unfiltered()     // valid until the next Next/NextPartition
//		}
//	}
//	err := sc.Err()
type Scanner struct {
	r      *Reader
	ds     dataStream
	rd     rowDecoder
	times  timeDecoder
	header *Header
	uint   bool
	stats  []colInfo
	regs   []colInfo
	ctypes []*cql.Type
	// plain-row fast path (fastRow): whether the schema allows it, and
	// each clustering column's fixed length (-1: length-prefixed)
	plain      bool
	ckFixed    []int
	ckFixedLen int // sum of ckFixed, or -1 if one is length-prefixed
	// colsReady: u.Row.Columns already holds one ColumnData per regular
	// column, live, each pointing at its cell of rd.cells, as fastRow
	// leaves it; decodeNext and decodeStatic clear it (they rewrite both)
	colsReady bool
	// shaped: the last row went through fastRow and has a shape (see
	// hasShape): its row flags shapeFlags, its cell flags shapeCells, no
	// TTL, no deletion, no null or empty clustering value. The row, its
	// clustering (s.scratch) and its cells then differ from the next row
	// of the same shape only in the clustering values, the timestamps and
	// the value slices: shapedRow rewrites just those, which is most of
	// the rows of most tables. Cleared with colsReady; both survive
	// partition headers and ends, which touch neither.
	shaped     bool
	shapeFlags byte
	shapeCells []byte

	part        Partition
	keyBuf      []byte
	static      Row
	staticArena []byte
	staticCells []Cell
	inPartition bool
	u           Unfiltered
	scratch     [][]byte
	minToken    *token.Token
	stopAt      int64 // stop before this uncompressed offset
	staticPos   int64
	hdrKey      []byte
	hdrDel      DeletionTime
	atEnd       bool
	err         error
	closed      bool
}

// Scan starts a scan at the first partition.
func (r *Reader) Scan(ctx context.Context) (*Scanner, error) {
	f, err := openComponent(ctx, r.src, ComponentData)
	if err != nil {
		return nil, err
	}
	cr, err := newChunkReader(ctx, f, r.src.Name(ComponentData), r.comp, r.crcs, r.opts.readAhead())
	if err != nil {
		f.Close()
		return nil, err
	}
	h := &r.stats.Header
	s := &Scanner{r: r, header: h, uint: r.version.UIntDeletionTime, ctypes: h.ClusteringTypes,
		stats: makeColInfo(h.Statics), regs: makeColInfo(h.Regulars), stopAt: r.comp.DataLength}
	s.plain = plainSchema(s.ctypes, s.regs)
	for _, t := range s.ctypes {
		s.ckFixed = append(s.ckFixed, t.FixedLen())
		if l := t.FixedLen(); l < 0 || s.ckFixedLen < 0 {
			s.ckFixedLen = -1
		} else {
			s.ckFixedLen += l
		}
	}
	s.times = timeDecoder{minTS: h.MinTimestamp, minLDT: uint32(h.MinLocalDeletionTime), minTTL: h.MinTTL, uintLDT: r.version.UIntDeletionTime}
	s.rd.times = s.times
	s.ds = dataStream{cr: cr, end: r.comp.DataLength}
	s.u.Row.Columns = make([]ColumnData, 0, len(h.Regulars))
	return s, nil
}

// Close releases the Data.db handle.
func (s *Scanner) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.ds.cr.ra.f.Close()
}

// Err returns the first error the scan met.
func (s *Scanner) Err() error { return s.err }

// Partition returns the current partition. Its Key and Static stay valid
// until the next NextPartition.
func (s *Scanner) Partition() *Partition { return &s.part }

// Unfiltered returns the current row or marker. It and the bytes it points
// to are valid until the next call to Next or NextPartition. Callers must
// not modify it: the scanner reuses its slices from row to row.
func (s *Scanner) Unfiltered() *Unfiltered { return &s.u }

// Position is the current offset in the uncompressed Data.db.
func (s *Scanner) Position() int64 { return s.ds.pos() }

func (s *Scanner) fail(off int64, msg string) {
	if s.err == nil {
		s.err = errAt(ErrCorrupt, s.ds.cr.name, off, "uncompressed offset: %s", msg)
	}
}

// Units decode knows.
const (
	unitPartition = iota
	unitStatic
	unitNext
)

// decode decodes one unit from the available window, loading more chunks
// and retrying while it runs short. It returns the bytes consumed.
func (s *Scanner) decode(unit int) (int, bool) {
	want := 0
	for {
		if want > 0 {
			if err := s.ds.fill(want); err != nil {
				if s.err == nil {
					s.err = err
				}
				return 0, false
			}
		}
		b := s.ds.buf[s.ds.off:]
		d := dec{b: b, limit: s.ds.end - s.ds.base - int64(s.ds.off)}
		switch unit {
		case unitPartition:
			s.decodePartitionHeader(&d)
		case unitStatic:
			s.decodeStatic(&d)
		default:
			s.decodeNext(&d)
		}
		if d.bad != "" {
			s.fail(s.ds.pos()+int64(d.badAt), d.bad)
			return 0, false
		}
		if !d.short {
			return d.p, true
		}
		if want > 0 && len(b) < want {
			// fill could not load what the stream length promised
			s.fail(s.ds.pos()+int64(len(b)), fmt.Sprintf("Data.db ends after %d bytes of a %d-byte unit", len(b), want))
			return 0, false
		}
		want = max(d.need, len(b)+1)
	}
}

// SeekToken positions the scanner so that the next NextPartition returns
// the first partition whose token is ≥ t. It uses Summary.db and Index.db
// when present, otherwise it scans forward (BTI, or no index).
func (s *Scanner) SeekToken(ctx context.Context, t token.Token) error {
	if s.err != nil {
		return s.err
	}
	pos, err := s.r.dataPositionFor(ctx, t)
	if err != nil {
		return err
	}
	s.inPartition = false
	if pos >= 0 {
		if err := s.ds.seek(pos); err != nil {
			s.err = err
			return err
		}
	}
	s.minToken = &t
	return nil
}

// NextPartition advances to the next partition, skipping what is left of
// the current one. It returns false at the end or on error (see Err).
func (s *Scanner) NextPartition() bool {
	if s.err != nil || s.closed {
		return false
	}
	for {
		for s.inPartition {
			if !s.skipUnfiltered() {
				return false
			}
		}
		if s.ds.pos() >= s.stopAt {
			return false
		}
		if !s.partitionHeader() {
			return false
		}
		if s.minToken != nil {
			if token.Compare(s.part.Token, *s.minToken) < 0 {
				continue // inPartition is set: the loop skips it
			}
			s.minToken = nil
		}
		return true
	}
}

func (s *Scanner) decodePartitionHeader(d *dec) {
	l := d.u16()
	s.hdrKey = d.bytes(uint64(l), "partition key")
	s.hdrDel = partitionDeletion(d, s.uint)
}

func (s *Scanner) partitionHeader() bool {
	pos := s.ds.pos()
	n, ok := s.decode(unitPartition)
	if !ok {
		return false
	}
	s.keyBuf = append(s.keyBuf[:0], s.hdrKey...)
	s.hdrKey = nil
	s.ds.off += n
	s.part = Partition{Key: s.keyBuf, Token: s.r.partitioner.Token(s.keyBuf), Deletion: s.hdrDel, Position: pos}
	s.inPartition = true
	if len(s.header.Statics) > 0 {
		if !s.staticRow() {
			return false
		}
		s.part.Static = &s.static
	}
	return true
}

func (s *Scanner) decodeStatic(d *dec) {
	row := &s.u.Row
	flags := d.u8()
	var ext byte
	if flags&flagExtension != 0 {
		ext = d.u8()
	}
	if d.failed() {
		return
	}
	if flags&flagEndOfPartition != 0 || flags&flagIsMarker != 0 || ext&extIsStatic == 0 {
		d.p--
		d.corrupt("static row flags 0x%02x/0x%02x: want a row with the static extension flag", flags, ext)
		return
	}
	s.colsReady, s.shaped = false, false
	row.Clustering = nil
	row.Static = true
	row.Shadowable = false
	s.rd.rowBody(d, flags, ext, s.stats, row)
}

func (s *Scanner) staticRow() bool {
	s.staticPos = s.ds.pos()
	n, ok := s.decode(unitStatic)
	if !ok {
		return false
	}
	s.ds.off += n
	s.staticArena, s.staticCells = s.u.Row.cloneInto(&s.static, s.staticArena, s.staticCells)
	return true
}

func (s *Scanner) decodeNext(d *dec) {
	u := &s.u
	flags := d.u8()
	if d.failed() {
		return
	}
	if flags&flagEndOfPartition != 0 {
		s.atEnd = true
		return
	}
	s.atEnd = false
	// a marker or a row the general path rewrites: the fast paths'
	// steady-state assumptions no longer hold (a partition header or its
	// end leave them alone, so they carry over from partition to partition)
	s.colsReady, s.shaped = false, false
	if flags&flagIsMarker != 0 {
		u.Kind = UnfilteredMarker
		s.scratch = s.rd.marker(d, s.ctypes, &u.Marker, s.scratch)
		return
	}
	var ext byte
	if flags&flagExtension != 0 {
		ext = d.u8()
		if ext&extIsStatic != 0 {
			d.corrupt("a second static row in the partition")
			return
		}
	}
	u.Kind = UnfilteredRow
	row := &u.Row
	row.Static = false
	row.Shadowable = false
	if len(s.ctypes) > 0 {
		s.scratch = d.clustering(s.ctypes, s.scratch[:0])
		row.Clustering = s.scratch
	} else {
		row.Clustering = nil
	}
	s.rd.rowBody(d, flags, ext, s.regs, row)
}

// Next advances to the next row or range tombstone marker of the current
// partition. It returns false at the end of the partition or on error.
func (s *Scanner) Next() bool {
	if s.err != nil || !s.inPartition {
		return false
	}
	pos := s.ds.pos()
	if b := s.ds.buf[s.ds.off:]; len(b) > 0 {
		if n := s.plainRow(b, &s.u.Row); n > 0 {
			s.ds.off += n
			s.u.Kind = UnfilteredRow
			s.u.Position = pos
			return true
		}
	}
	n, ok := s.decode(unitNext)
	if !ok {
		return false
	}
	s.ds.off += n
	if s.atEnd {
		s.inPartition = false
		return false
	}
	s.u.Position = pos
	return true
}

// plainRow decodes a plain row with shapedRow when the previous row had
// its shape, else with fastRow. It returns the bytes consumed, or 0 to
// leave the row to the general path.
func (s *Scanner) plainRow(b []byte, row *Row) int {
	if s.shaped {
		if n := s.shapedRow(b, row); n > 0 {
			return n
		}
	}
	return s.fastRow(b, row)
}

// uv8 reads an unsigned vint of up to 8 bytes at b[p:] from one big-endian
// load when 8 bytes are available, returning the value and the new
// position; otherwise (fewer than 8 bytes left in the window, or a 9-byte
// vint) it returns p unchanged and the fast path leaves the row to the
// general path. It calls nothing, so the compiler inlines it at each call
// site, and the fast path's loops make no calls at all.
func uv8(b []byte, p int) (uint64, int) {
	if uint(p)+8 <= uint(len(b)) {
		x := binary.BigEndian.Uint64(b[p:])
		if int64(x) >= 0 { // one byte
			return x >> 56, p + 1
		}
		if k := uint(bits.LeadingZeros64(^x)); k < 8 { // k extra bytes
			return x >> (56 - 8*k) & (1<<(7*k+7) - 1), p + 1 + int(k)
		}
	}
	return 0, p
}

// plainSchema reports whether the regular columns and clustering allow the
// plain-row fast path: at most 32 clustering columns (one header block),
// no complex regular column.
func plainSchema(ctypes []*cql.Type, regs []colInfo) bool {
	if len(ctypes) > 32 {
		return false
	}
	for i := range regs {
		if regs[i].complex {
			return false
		}
	}
	return true
}

// fastRow decodes a plain row — all columns present and simple, no
// extension flags, whole in b — with local cursors and no error plumbing.
// It returns the bytes consumed, or 0 to leave the row to the general path
// (which also reports corruption). Vints may be read with 8-byte loads that
// look past the row's end (never past b); every position is checked against
// the row's end before a value is sliced, and the row must end exactly at
// its stored size.
func (s *Scanner) fastRow(b []byte, row *Row) int {
	flags := b[0]
	if flags&(flagEndOfPartition|flagIsMarker|flagExtension|flagHasComplexDeletion|flagHasAllColumns) != flagHasAllColumns || !s.plain {
		return 0
	}
	p := 1
	var v uint64
	vals := s.scratch[:0]
	if len(s.ckFixed) > 0 {
		var hdr uint64
		q := p
		if hdr, p = uv8(b, p); p == q {
			return 0
		}
		if hdr == 0 && s.ckFixedLen >= 0 {
			// no null or empty value, all fixed-length: the common case
			if s.ckFixedLen > len(b)-p {
				return 0
			}
			for _, l := range s.ckFixed {
				vals = append(vals, b[p:p+l:p+l])
				p += l
			}
		} else {
			vals, p = s.clusteringAt(b, p, hdr, vals)
			if p < 0 {
				return 0
			}
		}
	}
	q := p
	size, p := uv8(b, p)
	if p == q {
		return 0
	}
	if size > uint64(len(b)-p) {
		return 0
	}
	end := p + int(size)
	// previous unfiltered size: skipped, only its length matters
	if p >= end {
		return 0
	}
	p += 1 + bits.LeadingZeros8(^b[p])
	t := &s.rd.times
	live := LivenessInfo{Timestamp: NoTimestamp, LocalExpirationTime: NoDeletionTime}
	if flags&flagHasTimestamp != 0 {
		q = p
		if v, p = uv8(b, p); p == q {
			return 0
		}
		live.Timestamp = int64(uint64(t.minTS) + v)
		if flags&flagHasTTL != 0 {
			var w uint64
			q = p
			if v, p = uv8(b, p); p == q {
				return 0
			}
			q = p
			if w, p = uv8(b, p); p == q {
				return 0
			}
			live.TTL = int32(uint32(t.minTTL) + uint32(v))
			live.LocalExpirationTime = t.ldtOf(w)
		}
	}
	del := DeletionTime{MarkedForDeleteAt: NoTimestamp, LocalDeletionTime: NoDeletionTime}
	if flags&flagHasDeletion != 0 {
		var w uint64
		q = p
		if v, p = uv8(b, p); p == q {
			return 0
		}
		q = p
		if w, p = uv8(b, p); p == q {
			return 0
		}
		del = DeletionTime{int64(uint64(t.minTS) + v), t.ldtOf(w)}
	}
	// cells, straight into place
	cols := s.regs
	n := len(cols)
	rd := &s.rd
	ready := s.colsReady
	if cap(rd.cells) < n {
		rd.cells = make([]Cell, n)
		ready = false
	}
	cells := rd.cells[:n]
	if cap(row.Columns) < n {
		row.Columns = make([]ColumnData, n)
		ready = false
	}
	cds := row.Columns[:n]
	if plainCells(b, p, end, cols, cells, &live, t) != end {
		return 0
	}
	// In steady state the column data already points at these cells:
	// skip the pointer writes (and their write barriers).
	if !ready {
		for i := range cols {
			cds[i] = ColumnData{Column: cols[i].col, Cells: cells[i : i+1 : i+1], Deletion: Live}
		}
		row.Columns = cds
		s.colsReady = true
	}
	row.Liveness = live
	row.Deletion = del
	row.Static = false
	row.Shadowable = false
	if cap(vals) != cap(s.scratch) {
		s.scratch = vals
	}
	if len(s.ckFixed) == 0 {
		row.Clustering = nil
	} else if len(row.Clustering) == len(vals) && &row.Clustering[0] == &vals[0] {
		// same backing array and length: nothing to write
	} else {
		row.Clustering = vals
	}
	// (only rows that shapedRow declined or that follow the general path
	// get here in steady state, so this costs little)
	s.shaped = s.hasShape(flags, b[1], cells)
	return end
}

// hasShape reports whether the row fastRow just decoded, with row flags
// flags, clustering header block byte hdr0 and cells, has a shape that
// shapedRow can decode for the rows that follow, and if so records it: no
// TTL or deletion on the row, no null or empty clustering value, no
// deleted or expiring cell (whose TTL and local deletion time then stay
// NoTTL and NoDeletionTime from row to row).
func (s *Scanner) hasShape(flags, hdr0 byte, cells []Cell) bool {
	if flags&(flagHasTTL|flagHasDeletion) != 0 || (len(s.ckFixed) > 0 && hdr0 != 0) {
		return false
	}
	s.shapeCells = s.shapeCells[:0]
	for i := range cells {
		if cells[i].Flags&(CellIsDeleted|CellIsExpiring|CellUseRowTTL) != 0 {
			return false
		}
		s.shapeCells = append(s.shapeCells, cells[i].Flags)
	}
	s.shapeFlags = flags
	return true
}

// shapedRow decodes a row of the shape the previous row had (see
// Scanner.shaped): it checks every flag byte against the shape and rewrites
// only what changes from row to row, the clustering, the timestamps and the
// value slices. It returns the bytes consumed, or 0 to leave the row to
// fastRow (which rewrites the whole row). Its bounds checks are fastRow's.
func (s *Scanner) shapedRow(b []byte, row *Row) int {
	flags := b[0]
	if flags != s.shapeFlags {
		return 0
	}
	p := 1
	var v uint64
	var q int
	if n := len(s.ckFixed); n > 0 {
		// the clustering header block: 0, no null or empty value
		if len(b) < 2 || b[1] != 0 {
			return 0
		}
		p = 2
		if s.ckFixedLen >= 0 {
			if s.ckFixedLen > len(b)-p {
				return 0
			}
			vals := s.scratch[:n]
			for i, l := range s.ckFixed {
				vals[i] = b[p : p+l : p+l]
				p += l
			}
		} else {
			// in place: s.scratch (row.Clustering) holds n values already,
			// as fastRow left it
			if _, p = s.clusteringAt(b, p, 0, s.scratch[:0]); p < 0 {
				return 0
			}
		}
	}
	q = p
	size, p := uv8(b, p)
	if p == q || size > uint64(len(b)-p) {
		return 0
	}
	end := p + int(size)
	if p >= end {
		return 0
	}
	p += 1 + bits.LeadingZeros8(^b[p]) // previous unfiltered size
	minTS := s.rd.times.minTS
	ts := int64(NoTimestamp)
	if flags&flagHasTimestamp != 0 {
		q = p
		if v, p = uv8(b, p); p == q {
			return 0
		}
		ts = int64(uint64(minTS) + v)
	}
	cols := s.regs
	cells := s.rd.cells[:len(cols)]
	shape := s.shapeCells[:len(cols)]
	for i := range cols {
		cf := shape[i]
		if p >= end || b[p] != cf {
			return 0
		}
		p++
		c := &cells[i]
		if cf&CellUseRowTimestamp != 0 {
			c.Timestamp = ts
		} else {
			q = p
			if v, p = uv8(b, p); p == q {
				return 0
			}
			c.Timestamp = int64(uint64(minTS) + v)
		}
		if cf&CellHasEmptyValue != 0 {
			continue // still emptyValue, as the previous row left it
		}
		l := uint64(cols[i].fixed)
		if cols[i].fixed < 0 {
			q = p
			if l, p = uv8(b, p); p == q {
				return 0
			}
		}
		if p > end || l > uint64(end-p) {
			return 0
		}
		c.Value = b[p : p+int(l) : p+int(l)]
		p += int(l)
	}
	if p != end {
		return 0
	}
	row.Liveness.Timestamp = ts
	return end
}

// clusteringAt reads the clustering values after their header block hdr
// (fastRow's general case: null or empty values, or length-prefixed
// types). It returns the values and the new position, or -1 to leave the
// row to the general path.
func (s *Scanner) clusteringAt(b []byte, p int, hdr uint64, vals [][]byte) ([][]byte, int) {
	for i, fixed := range s.ckFixed {
		switch {
		case hdr&(1<<(2*uint(i)+1)) != 0:
			vals = append(vals, nil)
		case hdr&(1<<(2*uint(i))) != 0:
			vals = append(vals, emptyValue)
		default:
			l := uint64(fixed)
			if fixed < 0 {
				q := p
				if l, p = uv8(b, p); p == q {
					return vals, -1
				}
			}
			if l > uint64(len(b)-p) {
				return vals, -1
			}
			vals = append(vals, b[p:p+int(l):p+int(l)])
			p += int(l)
		}
	}
	return vals, p
}

// plainCells decodes the cells of a plain row, one per column, into cells,
// from b[p:] up to end (fastRow's cell loop, kept apart so that its few
// live values stay in registers). It returns the position after the last
// cell, or -1 to leave the row to the general path.
func plainCells(b []byte, p, end int, cols []colInfo, cells []Cell, live *LivenessInfo, t *timeDecoder) int {
	var v uint64
	var q int
	cells = cells[:len(cols)]
	for i := range cols {
		if p >= end {
			return -1
		}
		cf := b[p]
		p++
		c := &cells[i]
		c.Flags = cf
		if c.Path != nil {
			c.Path = nil
		}
		c.TTL = NoTTL
		c.LocalDeletionTime = NoDeletionTime
		if cf&CellUseRowTimestamp != 0 {
			c.Timestamp = live.Timestamp
		} else {
			q = p
			if v, p = uv8(b, p); p == q {
				return -1
			}
			c.Timestamp = int64(uint64(t.minTS) + v)
		}
		if cf&CellUseRowTTL != 0 {
			c.TTL, c.LocalDeletionTime = live.TTL, live.LocalExpirationTime
		} else if cf&(CellIsDeleted|CellIsExpiring) != 0 {
			q = p
			if v, p = uv8(b, p); p == q {
				return -1
			}
			c.LocalDeletionTime = t.ldtOf(v)
			if cf&CellIsExpiring != 0 {
				q = p
				if v, p = uv8(b, p); p == q {
					return -1
				}
				c.TTL = int32(uint32(t.minTTL) + uint32(v))
			}
		}
		if cf&CellHasEmptyValue != 0 {
			c.Value = emptyValue
		} else {
			l := uint64(cols[i].fixed)
			if cols[i].fixed < 0 {
				q = p
				if l, p = uv8(b, p); p == q {
					return -1
				}
			}
			if p > end || l > uint64(end-p) {
				return -1
			}
			c.Value = b[p : p+int(l) : p+int(l)]
			p += int(l)
		}
	}
	return p
}

// skipUnfiltered consumes the next unfiltered (or the end of partition).
func (s *Scanner) skipUnfiltered() bool {
	if s.Next() {
		return true
	}
	return s.err == nil
}

// KeyString renders a partition key with the header's key type.
func (h *Header) KeyString(key []byte) string {
	if h.KeyType == nil {
		return fmt.Sprintf("%x", key)
	}
	if h.KeyType.Kind == cql.KindComposite {
		return cql.Literal(h.KeyType, key)
	}
	return cql.String(h.KeyType, key)
}
