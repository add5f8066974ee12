package diff

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// The sorter puts every row of C−M and M−C in report order, within a memory
// limit: entries collect in memory, are sorted and written as runs to local
// disk when the limit is reached, and are merged at the end.
//
// entry: u32 sortKeyLen | sortKey | side byte | u64 fp | u32 rowLen | u32 carryLen | row | carried
//
// (carried: the row's carried section, empty without Options.Carry)
// The sort key is the order key of the key columns with --key, else the
// fingerprint (big-endian); ties break by side (legacy first), fingerprint,
// then row bytes (then carried bytes), so the order is total and independent of how the work was
// split.

const (
	sideLegacy byte = 0
	sideNew    byte = 1
)

// sideNames names the sides by index (sideLegacy, sideNew) in messages
// and spill file names.
var sideNames = [2]string{"legacy", "new"}

type sortEntry struct {
	key   []byte
	side  byte
	fp    uint64
	row   []byte
	carry []byte
}

func parseEntry(b []byte) sortEntry {
	kl := int(binary.LittleEndian.Uint32(b))
	e := sortEntry{key: b[4 : 4+kl]}
	b = b[4+kl:]
	e.side = b[0]
	e.fp = binary.LittleEndian.Uint64(b[1:])
	rl := int(binary.LittleEndian.Uint32(b[9:]))
	cl := int(binary.LittleEndian.Uint32(b[13:]))
	e.row = b[entryFixed : entryFixed+rl]
	if cl > 0 {
		e.carry = b[entryFixed+rl : entryFixed+rl+cl]
	}
	return e
}

// entryFixed is the size of an entry's fields after the sort key and
// before the row: side, fingerprint, row and carried lengths.
const entryFixed = 1 + 8 + 4 + 4

func entrySize(key, row, carry []byte) int { return 4 + len(key) + entryFixed + len(row) + len(carry) }

func appendEntry(dst, key []byte, side byte, fp uint64, row, carry []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = append(dst, side)
	dst = binary.LittleEndian.AppendUint64(dst, fp)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(row)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(carry)))
	dst = append(dst, row...)
	return append(dst, carry...)
}

func compareEntries(a, b sortEntry) int {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	if a.side != b.side {
		return int(a.side) - int(b.side)
	}
	if a.fp != b.fp {
		if a.fp < b.fp {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(a.row, b.row); c != 0 {
		return c
	}
	return bytes.Compare(a.carry, b.carry)
}

type sorter struct {
	dir   string
	limit int

	mu      sync.Mutex
	arena   []byte
	offs    []int
	runs    []string
	entries int64
}

func newSorter(dir string, limit int) *sorter { return &sorter{dir: dir, limit: limit} }

func (s *sorter) add(key []byte, side byte, fp uint64, row, carry []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arena)+entrySize(key, row, carry) > s.limit && len(s.offs) > 0 {
		if err := s.spillRun(); err != nil {
			return err
		}
	}
	s.offs = append(s.offs, len(s.arena))
	s.arena = appendEntry(s.arena, key, side, fp, row, carry)
	s.entries++
	return nil
}

func (s *sorter) sortMem() []sortEntry {
	es := make([]sortEntry, len(s.offs))
	for i, o := range s.offs {
		es[i] = parseEntry(s.arena[o:])
	}
	slices.SortFunc(es, compareEntries)
	return es
}

func (s *sorter) spillRun() error {
	es := s.sortMem()
	path := filepath.Join(s.dir, fmt.Sprintf("run-%05d.sort", len(s.runs)))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sort run: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var tmp []byte
	for _, e := range es {
		tmp = appendEntry(tmp[:0], e.key, e.side, e.fp, e.row, e.carry)
		if _, err := w.Write(tmp); err != nil {
			f.Close()
			return fmt.Errorf("sort run %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("sort run %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sort run %s: %w", path, err)
	}
	s.runs = append(s.runs, path)
	s.arena, s.offs = s.arena[:0], s.offs[:0]
	return nil
}

// each calls fn for every entry in order. The entry's slices are valid only
// during the call.
func (s *sorter) each(fn func(sortEntry) error) error {
	if len(s.runs) == 0 {
		for _, e := range s.sortMem() {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.offs) > 0 {
		if err := s.spillRun(); err != nil {
			return err
		}
	}
	s.arena = nil
	h := &runHeap{}
	for _, path := range s.runs {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("sort run: %w", err)
		}
		defer f.Close()
		r := &runReader{r: bufio.NewReaderSize(f, 256<<10), path: path}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h.rs = append(h.rs, r)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		r := h.rs[0]
		if err := fn(r.cur); err != nil {
			return err
		}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

type runReader struct {
	r    *bufio.Reader
	path string
	buf  []byte
	cur  sortEntry
}

func (r *runReader) next() (bool, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		if err == io.EOF {
			return false, nil
		}
		return false, fmt.Errorf("sort run %s: %w", r.path, err)
	}
	kl := int(binary.LittleEndian.Uint32(hdr[:]))
	fixed := kl + entryFixed
	r.buf = append(r.buf[:0], hdr[:]...)
	r.buf = slices.Grow(r.buf, fixed)[:4+fixed]
	if _, err := io.ReadFull(r.r, r.buf[4:]); err != nil {
		return false, fmt.Errorf("sort run %s: %w", r.path, err)
	}
	rl := int(binary.LittleEndian.Uint32(r.buf[4+fixed-8:]))
	rl += int(binary.LittleEndian.Uint32(r.buf[4+fixed-4:])) // and the carried section
	r.buf = slices.Grow(r.buf, rl)[:4+fixed+rl]
	if _, err := io.ReadFull(r.r, r.buf[4+fixed:]); err != nil {
		return false, fmt.Errorf("sort run %s: %w", r.path, err)
	}
	r.cur = parseEntry(r.buf)
	return true, nil
}

type runHeap struct{ rs []*runReader }

func (h *runHeap) Len() int           { return len(h.rs) }
func (h *runHeap) Less(i, j int) bool { return compareEntries(h.rs[i].cur, h.rs[j].cur) < 0 }
func (h *runHeap) Swap(i, j int)      { h.rs[i], h.rs[j] = h.rs[j], h.rs[i] }
func (h *runHeap) Push(x any)         { h.rs = append(h.rs, x.(*runReader)) }
func (h *runHeap) Pop() any {
	r := h.rs[len(h.rs)-1]
	h.rs = h.rs[:len(h.rs)-1]
	return r
}
