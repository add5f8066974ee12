package sstable

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cassmove/shadow/engine/cql"
)

// Unfiltered flags (UnfilteredSerializer).
const (
	flagEndOfPartition     = 0x01
	flagIsMarker           = 0x02
	flagHasTimestamp       = 0x04
	flagHasTTL             = 0x08
	flagHasDeletion        = 0x10
	flagHasAllColumns      = 0x20
	flagHasComplexDeletion = 0x40
	flagExtension          = 0x80
	extIsStatic            = 0x01
	extHasShadowable       = 0x02
)

// dec decodes one unit (partition header, row, marker) from a contiguous
// window. Running off the window sets short when the stream holds more
// bytes (the caller loads more and retries); a length beyond the whole
// stream, or a structural error, sets bad.
type dec struct {
	b     []byte
	p     int
	limit int64 // bytes of the stream from b[0] to the end of the data
	short bool
	need  int // bytes known to be needed from b[0], when short
	bad   string
	badAt int
}

func (d *dec) failed() bool { return d.short || d.bad != "" }

// over handles a read of n bytes at p that does not fit in b.
func (d *dec) over(n int, what string) {
	if d.failed() {
		return
	}
	if int64(d.p)+int64(n) > d.limit {
		d.bad = fmt.Sprintf("truncated %s: want %d bytes, %d remain in Data.db", what, n, d.limit-int64(d.p))
		d.badAt = d.p
	} else {
		d.short = true
		if d.need < d.p+n {
			d.need = d.p + n
		}
	}
	d.p = len(d.b)
}

func (d *dec) corrupt(format string, args ...any) {
	if d.bad == "" {
		d.bad = fmt.Sprintf(format, args...)
		d.badAt = d.p
	}
	d.p = len(d.b)
}

func (d *dec) u8() byte {
	if d.p < len(d.b) {
		c := d.b[d.p]
		d.p++
		return c
	}
	d.over(1, "byte")
	return 0
}

func (d *dec) u16() uint16 {
	if d.p+2 <= len(d.b) {
		v := binary.BigEndian.Uint16(d.b[d.p:])
		d.p += 2
		return v
	}
	d.over(2, "short")
	return 0
}

func (d *dec) uv() uint64 {
	if d.p < len(d.b) && d.b[d.p] < 0x80 {
		c := d.b[d.p]
		d.p++
		return uint64(c)
	}
	v, n := cql.Uvarint(d.b[d.p:])
	if n == 0 {
		if d.p < len(d.b) {
			d.over(1+int(bitsLeading(d.b[d.p])), "vint")
		} else {
			d.over(1, "vint")
		}
		return 0
	}
	d.p += n
	return v
}

func bitsLeading(b byte) uint {
	n := uint(0)
	for m := byte(0x80); b&m != 0 && n < 8; m >>= 1 {
		n++
	}
	return n
}

// bytes returns the next n bytes (aliasing the window).
func (d *dec) bytes(n uint64, what string) []byte {
	if n <= uint64(len(d.b)-d.p) {
		s := d.b[d.p : d.p+int(n) : d.p+int(n)]
		d.p += int(n)
		return s
	}
	if n > uint64(math.MaxInt32) {
		d.corrupt("%s of %d bytes: want at most %d", what, n, d.limit-int64(d.p))
		return nil
	}
	d.over(int(n), what)
	return nil
}

var emptyValue = []byte{}

// decodeClusteringValues reads clustering values in blocks of 32: a uvint
// header with 2 bits per value (bit 2i empty, bit 2i+1 null), then the
// non-empty values, fixed-length raw or uvint-length-prefixed.
func decodeClusteringValues(b []byte, p int, types []*cql.Type, dst [][]byte) ([][]byte, int, error) {
	d := &dec{b: b, p: p, limit: int64(len(b))}
	dst = d.clustering(types, dst[:0])
	if d.failed() {
		return nil, d.p, fmt.Errorf("%s at %d", d.bad, d.badAt)
	}
	return dst, d.p, nil
}

func (d *dec) clustering(types []*cql.Type, dst [][]byte) [][]byte {
	for off := 0; off < len(types) && !d.failed(); {
		hdr := d.uv()
		lim := min(len(types), off+32)
		for ; off < lim; off++ {
			i := uint(off % 32)
			switch {
			case hdr&(1<<(2*i+1)) != 0:
				dst = append(dst, nil)
			case hdr&(1<<(2*i)) != 0:
				dst = append(dst, []byte{})
			default:
				dst = append(dst, d.value(types[off].FixedLen(), "clustering value"))
			}
		}
	}
	return dst
}

func (d *dec) value(fixed int, what string) []byte {
	if fixed >= 0 {
		return d.bytes(uint64(fixed), what)
	}
	return d.bytes(d.uv(), what)
}

// timeDecoder applies the EncodingStats bases of the header.
type timeDecoder struct {
	minTS   int64
	minLDT  uint32
	minTTL  int32
	uintLDT bool
}

func (t *timeDecoder) ts(d *dec) int64  { return int64(uint64(t.minTS) + d.uv()) }
func (t *timeDecoder) ttl(d *dec) int32 { return int32(uint32(t.minTTL) + uint32(d.uv())) }
func (t *timeDecoder) ldt(d *dec) int64 { return t.ldtOf(d.uv()) }

func (t *timeDecoder) ldtOf(delta uint64) int64 {
	raw := t.minLDT + uint32(delta)
	if t.uintLDT {
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

func (t *timeDecoder) deletion(d *dec) DeletionTime {
	ts := t.ts(d)
	return DeletionTime{MarkedForDeleteAt: ts, LocalDeletionTime: t.ldt(d)}
}

// colInfo caches per-column decoding facts.
type colInfo struct {
	col     *Column
	fixed   int
	complex bool
}

func makeColInfo(cols []*Column) []colInfo {
	out := make([]colInfo, len(cols))
	for i, c := range cols {
		out[i] = colInfo{col: c, fixed: c.Type.FixedLen(), complex: c.Complex()}
		if out[i].complex {
			out[i].fixed = -1 // complex cell values are always length-prefixed
		}
	}
	return out
}

// rowDecoder decodes row bodies, reusing its buffers.
type rowDecoder struct {
	simpleFor *colInfo
	simpleAns bool
	times     timeDecoder
	present   []int
	cells     []Cell
	spans     []int // start of each present column's cells in cells
}

// rowBody decodes what follows the clustering of a row: size, previous size,
// liveness, deletion, columns and cells.
func (rd *rowDecoder) rowBody(d *dec, flags, ext byte, cols []colInfo, row *Row) {
	start := d.p
	size := d.uv()
	bodyStart := d.p
	if d.failed() {
		return
	}
	if size > uint64(d.limit-int64(bodyStart)) {
		d.corrupt("row size %d: want at most the %d bytes left in Data.db", size, d.limit-int64(bodyStart))
		return
	}
	if uint64(len(d.b)-bodyStart) < size {
		d.over(int(size)+bodyStart-d.p, "row")
		return
	}
	_ = start
	end := bodyStart + int(size)
	d.uv() // previous unfiltered size
	t := &rd.times
	row.Liveness = EmptyLiveness
	if flags&flagHasTimestamp != 0 {
		row.Liveness.Timestamp = t.ts(d)
		if flags&flagHasTTL != 0 {
			row.Liveness.TTL = t.ttl(d)
			row.Liveness.LocalExpirationTime = t.ldt(d)
		}
	}
	row.Deletion = Live
	if flags&flagHasDeletion != 0 {
		row.Deletion = t.deletion(d)
		row.Shadowable = ext&extHasShadowable != 0
	}
	if flags&flagHasAllColumns != 0 && rd.allSimple(cols) {
		rd.simpleRow(d, cols, row, end)
		return
	}
	present := rd.present[:0]
	if flags&flagHasAllColumns != 0 {
		for i := range cols {
			present = append(present, i)
		}
	} else {
		present = rd.subset(d, len(cols), present)
	}
	rd.present = present
	cells := rd.cells[:0]
	spans := rd.spans[:0]
	for _, ci := range present {
		if d.failed() {
			break
		}
		c := &cols[ci]
		spans = append(spans, len(cells))
		if !c.complex {
			cells = append(cells, Cell{})
			rd.cell(d, c, &row.Liveness, &cells[len(cells)-1])
			continue
		}
		del := Live
		if flags&flagHasComplexDeletion != 0 {
			del = t.deletion(d)
			if del.MarkedForDeleteAt == math.MinInt64 {
				del = Live
			}
		}
		n := d.uv()
		if n > uint64(end-d.p) {
			d.corrupt("complex column %q with %d cells: want at most %d", c.col.Name, n, end-d.p)
			break
		}
		// remember the deletion in a placeholder cell slot
		cells = append(cells, Cell{Timestamp: del.MarkedForDeleteAt, LocalDeletionTime: del.LocalDeletionTime, TTL: int32(n)})
		for j := uint64(0); j < n && !d.failed(); j++ {
			cells = append(cells, Cell{})
			rd.cell(d, c, &row.Liveness, &cells[len(cells)-1])
		}
	}
	rd.cells, rd.spans = cells, spans
	if d.failed() {
		return
	}
	if d.p != end {
		d.corrupt("row body ends at %d: want %d (its stored size)", d.p, end)
		return
	}
	cds := row.Columns[:0]
	for k, ci := range present {
		c := &cols[ci]
		s := spans[k]
		if !c.complex {
			cds = append(cds, ColumnData{Column: c.col, Cells: cells[s : s+1 : s+1], Deletion: Live})
			continue
		}
		ph := cells[s]
		n := int(ph.TTL)
		cds = append(cds, ColumnData{Column: c.col, Cells: cells[s+1 : s+1+n : s+1+n],
			Deletion: DeletionTime{MarkedForDeleteAt: ph.Timestamp, LocalDeletionTime: ph.LocalDeletionTime}})
	}
	row.Columns = cds
}

// allSimple reports (and caches per column set) whether no column is complex.
func (rd *rowDecoder) allSimple(cols []colInfo) bool {
	if len(cols) > 0 && &cols[0] == rd.simpleFor {
		return rd.simpleAns
	}
	rd.simpleAns = true
	for i := range cols {
		if cols[i].complex {
			rd.simpleAns = false
		}
	}
	if len(cols) > 0 {
		rd.simpleFor = &cols[0]
	}
	return rd.simpleAns
}

// simpleRow is the fast path for a row holding every column, all simple:
// one cell per column, decoded straight into place with local cursors. The
// whole row lies in d.b[:end] (rowBody checked), so running past end is
// corruption, not a short window.
func (rd *rowDecoder) simpleRow(d *dec, cols []colInfo, row *Row, end int) {
	n := len(cols)
	if cap(rd.cells) < n {
		rd.cells = make([]Cell, n)
	}
	cells := rd.cells[:n]
	if cap(row.Columns) < n {
		row.Columns = make([]ColumnData, n)
	}
	cds := row.Columns[:n]
	b := d.b[:end]
	p := d.p
	t := &rd.times
	live := &row.Liveness
	uv := func() (uint64, bool) {
		if p < len(b) && b[p] < 0x80 {
			p++
			return uint64(b[p-1]), true
		}
		v, k := cql.Uvarint(b[p:])
		p += k
		return v, k > 0
	}
	for i := range cols {
		if p >= len(b) {
			d.p = p
			d.corrupt("row ends inside cell %d of %d", i, n)
			return
		}
		flags := b[p]
		p++
		c := &cells[i]
		c.Flags = flags
		c.Path = nil
		c.TTL = NoTTL
		c.LocalDeletionTime = NoDeletionTime
		if flags&CellUseRowTimestamp != 0 {
			c.Timestamp = live.Timestamp
		} else {
			v, ok := uv()
			if !ok {
				break
			}
			c.Timestamp = int64(uint64(t.minTS) + v)
		}
		if flags&CellUseRowTTL != 0 {
			c.TTL, c.LocalDeletionTime = live.TTL, live.LocalExpirationTime
		} else if flags&(CellIsDeleted|CellIsExpiring) != 0 {
			v, ok := uv()
			if !ok {
				break
			}
			c.LocalDeletionTime = t.ldtOf(v)
			if flags&CellIsExpiring != 0 {
				v, ok := uv()
				if !ok {
					break
				}
				c.TTL = int32(uint32(t.minTTL) + uint32(v))
			}
		}
		if flags&CellHasEmptyValue != 0 {
			c.Value = emptyValue
		} else {
			l := uint64(cols[i].fixed)
			if cols[i].fixed < 0 {
				v, ok := uv()
				if !ok {
					break
				}
				l = v
			}
			if l > uint64(len(b)-p) {
				d.p = p
				d.corrupt("cell value of %d bytes: want at most the %d left in the row", l, len(b)-p)
				return
			}
			c.Value = b[p : p+int(l) : p+int(l)]
			p += int(l)
		}
		// In steady state the column data already points at these cells:
		// skip the pointer writes (and their write barriers).
		if cd := &cds[i]; cd.Column != cols[i].col || len(cd.Cells) != 1 || &cd.Cells[0] != c || cd.Deletion != Live {
			*cd = ColumnData{Column: cols[i].col, Cells: cells[i : i+1 : i+1], Deletion: Live}
		}
	}
	row.Columns = cds
	if p != end {
		d.p = p
		d.corrupt("row body ends at %d: want %d (its stored size)", p, end)
		return
	}
	d.p = p
}

// subset decodes Columns.Serializer.serializeSubset into indexes of present columns.
func (rd *rowDecoder) subset(d *dec, n int, present []int) []int {
	enc := d.uv()
	if d.failed() {
		return present
	}
	if enc == 0 {
		for i := 0; i < n; i++ {
			present = append(present, i)
		}
		return present
	}
	if n < 64 {
		if enc>>uint(n) != 0 {
			d.corrupt("column bitmap 0x%x marks columns beyond the %d of the header", enc, n)
			return present
		}
		for i := 0; i < n; i++ {
			if enc&(1<<uint(i)) == 0 {
				present = append(present, i)
			}
		}
		return present
	}
	if enc > uint64(n) {
		d.corrupt("%d missing columns: want at most %d", enc, n)
		return present
	}
	count := n - int(enc)
	if count < n/2 {
		for i := 0; i < count && !d.failed(); i++ {
			idx := d.uv()
			if idx >= uint64(n) || (len(present) > 0 && int(idx) <= present[len(present)-1]) {
				d.corrupt("present column index %d: want ascending indexes below %d", idx, n)
				return present
			}
			present = append(present, int(idx))
		}
		return present
	}
	next := 0
	for i := 0; i < int(enc) && !d.failed(); i++ {
		miss := d.uv()
		if miss >= uint64(n) || int(miss) < next {
			d.corrupt("missing column index %d: want ascending indexes below %d", miss, n)
			return present
		}
		for ; next < int(miss); next++ {
			present = append(present, next)
		}
		next++
	}
	for ; next < n; next++ {
		present = append(present, next)
	}
	return present
}

func (rd *rowDecoder) cell(d *dec, c *colInfo, live *LivenessInfo, cell *Cell) {
	t := &rd.times
	flags := d.u8()
	cell.Flags = flags
	if flags&CellUseRowTimestamp != 0 {
		cell.Timestamp = live.Timestamp
	} else {
		cell.Timestamp = t.ts(d)
	}
	cell.TTL = NoTTL
	cell.LocalDeletionTime = NoDeletionTime
	if flags&CellUseRowTTL != 0 {
		cell.TTL = live.TTL
		cell.LocalDeletionTime = live.LocalExpirationTime
	} else {
		if flags&(CellIsDeleted|CellIsExpiring) != 0 {
			cell.LocalDeletionTime = t.ldt(d)
		}
		if flags&CellIsExpiring != 0 {
			cell.TTL = t.ttl(d)
		}
	}
	cell.Path = nil
	if c.complex {
		cell.Path = d.bytes(d.uv(), "cell path")
	}
	if flags&CellHasEmptyValue != 0 {
		cell.Value = emptyValue
	} else {
		cell.Value = d.value(c.fixed, "cell value")
	}
}

// marker decodes a range tombstone marker after its flags byte.
func (rd *rowDecoder) marker(d *dec, types []*cql.Type, m *RangeTombstoneMarker, scratch [][]byte) [][]byte {
	kind := BoundKind(d.u8())
	size := int(d.u16())
	if d.failed() {
		return scratch
	}
	if kind >= numBoundKinds || kind == KindClustering || kind == KindStaticClustering {
		d.corrupt("range tombstone marker kind %d: want a bound or boundary kind", kind)
		return scratch
	}
	if size > len(types) {
		d.corrupt("range tombstone bound of %d values: want at most %d clustering columns", size, len(types))
		return scratch
	}
	scratch = d.clustering(types[:size], scratch[:0])
	msize := d.uv()
	start := d.p
	if d.failed() {
		return scratch
	}
	if msize > uint64(d.limit-int64(start)) {
		d.corrupt("marker size %d: want at most the %d bytes left", msize, d.limit-int64(start))
		return scratch
	}
	if uint64(len(d.b)-start) < msize {
		d.over(int(msize), "range tombstone marker")
		return scratch
	}
	d.uv() // previous unfiltered size
	m.Bound = Bound{Kind: kind, Values: scratch}
	m.Close, m.Open = Live, Live
	switch {
	case kind.IsBoundary():
		m.Close = rd.times.deletion(d)
		m.Open = rd.times.deletion(d)
	case kind.IsStart():
		m.Open = rd.times.deletion(d)
	default:
		m.Close = rd.times.deletion(d)
	}
	if !d.failed() && d.p != start+int(msize) {
		d.corrupt("marker ends at %d: want %d (its stored size)", d.p, start+int(msize))
	}
	return scratch
}

// partitionDeletion decodes the partition-level DeletionTime.
func partitionDeletion(d *dec, uintLDT bool) DeletionTime {
	if uintLDT {
		f := d.u8()
		if d.failed() {
			return Live
		}
		if f&0x80 != 0 {
			if f != 0x80 {
				d.corrupt("partition deletion flags 0x%02x: want 0x80 (live) or a timestamp", f)
			}
			return Live
		}
		d.p--
		b := d.bytes(12, "partition deletion")
		if b == nil {
			return Live
		}
		mfda := int64(binary.BigEndian.Uint64(b))
		ldt := binary.BigEndian.Uint32(b[8:])
		if ldt == math.MaxUint32 {
			return DeletionTime{mfda, NoDeletionTime}
		}
		return DeletionTime{mfda, int64(ldt)}
	}
	b := d.bytes(12, "partition deletion")
	if b == nil {
		return Live
	}
	ldt := int32(binary.BigEndian.Uint32(b))
	mfda := int64(binary.BigEndian.Uint64(b[4:]))
	if ldt == math.MaxInt32 && mfda == math.MinInt64 {
		return Live
	}
	l := int64(ldt)
	if ldt == math.MaxInt32 {
		l = NoDeletionTime
	}
	return DeletionTime{mfda, l}
}
