package diff

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sort"
	"sync/atomic"
)

// A rowLog is one worker's append-only log of one side's canonical rows.
// Phase 1 encodes each batch straight into the log's open segment. The
// first segments stay in memory while the row budget allows; after that
// full segments are appended to the log's spill file (direct I/O where
// possible, see spillFile). Phase 2 reads back only the rows that differ,
// by location, so a clean partition's rows are written once and never read
// again.
//
//	logical offsets  [0 .......... fileBase) in memory segments
//	                 [fileBase ............) the file: logical = fileBase + file offset
//
// Written segments may be padded to a block boundary; no location names
// the padding.
type rowLog struct {
	id     int
	dir    string
	budget *memBudget
	segCap int
	carry  bool // records have a carried section (Options.Carry)

	seg     []byte // open segment, block-aligned for direct I/O
	segBase int64  // logical offset of seg[0]

	mem     [][]byte // sealed in-memory segments
	memBase []int64  // their logical offsets

	f         *spillFile
	fileBase  int64 // logical offset of the file's first byte
	diskBytes atomic.Int64
}

func newRowLog(id int, dir string, budget *memBudget, segCap int) *rowLog {
	return &rowLog{id: id, dir: dir, budget: budget, segCap: segCap}
}

// alloc returns n bytes at the end of the log and their logical offset.
func (l *rowLog) alloc(n int) ([]byte, int64, error) {
	if len(l.seg)+n > cap(l.seg) {
		if err := l.flushSeg(); err != nil {
			return nil, 0, err
		}
		if cap(l.seg) < n {
			l.seg = alignedBuffer(max(n, l.segCap))
		}
	}
	off := l.segBase + int64(len(l.seg))
	l.seg = l.seg[:len(l.seg)+n]
	return l.seg[len(l.seg)-n:], off, nil
}

// flushSeg files the open segment: kept in memory while the budget allows
// and the log has no file yet, else appended to the file.
func (l *rowLog) flushSeg() error {
	if len(l.seg) == 0 {
		return nil
	}
	if l.f == nil {
		keep := l.seg
		if len(keep) < cap(keep)/4 {
			keep = append([]byte(nil), keep...) // a mostly empty segment: keep just its bytes
		}
		if l.budget.reserve(int64(cap(keep))) {
			l.mem = append(l.mem, keep)
			l.memBase = append(l.memBase, l.segBase)
			l.segBase += int64(len(keep))
			if &keep[0] == &l.seg[0] {
				l.seg = nil
			} else {
				l.seg = l.seg[:0]
			}
			return nil
		}
		f, err := openSpillFile(filepath.Join(l.dir, fmt.Sprintf("rows-%03d.log", l.id)))
		if err != nil {
			return err
		}
		l.f, l.fileBase = f, l.segBase
	}
	if _, err := l.f.append(l.seg); err != nil {
		return err
	}
	l.diskBytes.Add(int64(len(l.seg)))
	l.segBase = l.fileBase + l.f.end // after the padding, if any
	l.seg = l.seg[:0]
	return nil
}

// seal ends phase 1 for this log: everything is in memory or in the file.
func (l *rowLog) seal() error { return l.flushSeg() }

// row returns the canonical row at a logical offset and, in a log with
// carried sections, its carried values (else nil). buf is scratch for
// records read from the file; the results may alias it.
func (l *rowLog) row(off int64, buf []byte) (row, carry, _ []byte, err error) {
	if l.f == nil || off < l.fileBase {
		i := sort.Search(len(l.memBase), func(i int) bool { return l.memBase[i] > off }) - 1
		if i < 0 {
			return nil, nil, buf, fmt.Errorf("%w: row log %d has no offset %d", ErrCorruptRow, l.id, off)
		}
		seg := l.mem[i][off-l.memBase[i]:]
		if size := l.recordSize(seg); size > len(seg) {
			return nil, nil, buf, fmt.Errorf("%w: row log %d: record at %d overruns its segment", ErrCorruptRow, l.id, off)
		}
		row, carry = l.split(seg)
		return row, carry, buf, nil
	}
	pos := off - l.fileBase
	// A record is read in at most three steps: the row's length, the
	// carried section's length, the rest.
	need := 256
	for range 3 {
		var data []byte
		data, buf, err = l.f.readRecord(buf, pos, need)
		if err != nil {
			return nil, nil, buf, fmt.Errorf("spill file %s at %d: %w: record of %d bytes unreadable (%v)", l.f.name(), pos, ErrCorruptRow, need, err)
		}
		size := l.recordSize(data)
		if size <= len(data) {
			row, carry = l.split(data)
			return row, carry, buf, nil
		}
		if len(data) < need {
			break // the file ends inside the record
		}
		need = size
	}
	return nil, nil, buf, fmt.Errorf("spill file %s at %d: %w: record overruns the file", l.f.name(), pos, ErrCorruptRow)
}

// recordSize is the size of the record at the start of b as far as b tells:
// more than len(b) when b holds only part of it.
func (l *rowLog) recordSize(b []byte) int {
	if len(b) < rowHeader {
		return rowHeader
	}
	size := rowHeader + recLen(b)
	if !l.carry {
		return size
	}
	if len(b) < size+carryHeader {
		return size + carryHeader
	}
	return size + carryHeader + int(binary.LittleEndian.Uint32(b[size:]))
}

// split cuts a whole record into its row and carried section.
func (l *rowLog) split(b []byte) (row, carry []byte) {
	end := rowHeader + recLen(b)
	row = b[rowHeader:end:end]
	if l.carry {
		m := int(binary.LittleEndian.Uint32(b[end:]))
		carry = b[end+carryHeader : end+carryHeader+m : end+carryHeader+m]
	}
	return row, carry
}

func (l *rowLog) close() error {
	l.mem, l.seg = nil, nil
	if l.f == nil {
		return nil
	}
	err := l.f.close()
	l.f = nil
	return err
}
