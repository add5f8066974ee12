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

// row returns the canonical row at a logical offset. buf is scratch for
// rows read from the file; the result may alias it.
func (l *rowLog) row(off int64, buf []byte) ([]byte, []byte, error) {
	if l.f == nil || off < l.fileBase {
		i := sort.Search(len(l.memBase), func(i int) bool { return l.memBase[i] > off }) - 1
		if i < 0 {
			return nil, buf, fmt.Errorf("%w: row log %d has no offset %d", ErrCorruptRow, l.id, off)
		}
		seg := l.mem[i][off-l.memBase[i]:]
		if len(seg) < rowHeader || len(seg) < rowHeader+recLen(seg) {
			return nil, buf, fmt.Errorf("%w: row log %d: record at %d overruns its segment", ErrCorruptRow, l.id, off)
		}
		return seg[rowHeader : rowHeader+recLen(seg)], buf, nil
	}
	pos := off - l.fileBase
	data, buf, err := l.f.readRecord(buf, pos, 256)
	if err != nil || len(data) < rowHeader {
		return nil, buf, fmt.Errorf("spill file %s at %d: %w: record header unreadable (%v)", l.f.name(), pos, ErrCorruptRow, err)
	}
	size := rowHeader + int(binary.LittleEndian.Uint32(data))
	if size > len(data) {
		if data, buf, err = l.f.readRecord(buf, pos, size); err != nil || len(data) < size {
			return nil, buf, fmt.Errorf("spill file %s at %d: %w: record of %d bytes unreadable (%v)", l.f.name(), pos, ErrCorruptRow, size, err)
		}
	}
	return data[rowHeader:size], buf, nil
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
