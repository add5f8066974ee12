package diff

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Spill: while phase 1 hashes a side, every record goes to its bucket's
// chunk list. A chunk stays in memory while the shared budget allows and is
// written to the side's spill file otherwise, so phase 2 reads records back
// from memory or from local disk, never from the tables.
//
//	bucket 0: [chunk mem][chunk mem][chunk @file+0][chunk @file+256K] ...
//	bucket 1: [chunk mem][chunk @file+512K] ...
//
// Records never straddle chunks.

// memBudget is the memory the spill may keep, shared by every store.
type memBudget struct {
	used  atomic.Int64
	limit int64
}

func (m *memBudget) reserve(n int64) bool {
	if m.used.Add(n) <= m.limit {
		return true
	}
	m.used.Add(-n)
	return false
}

func (m *memBudget) release(n int64) { m.used.Add(-n) }

type chunk struct {
	data []byte // in memory; nil when on disk
	off  int64  // on disk
	n    int
}

type bucketInfo struct {
	chunks    []chunk
	records   int64
	diskBytes int64
}

// spillStore holds one stream (one side's rows, or one side's keys).
type spillStore struct {
	dir, name string
	mem       *memBudget
	chunkSize int

	mu      sync.Mutex
	buckets []bucketInfo

	fmu       sync.Mutex
	f         *spillFile
	diskBytes atomic.Int64
	memBytes  atomic.Int64
}

func newSpillStore(dir, name string, buckets, chunkSize int, mem *memBudget) *spillStore {
	return &spillStore{dir: dir, name: name, mem: mem, chunkSize: chunkSize, buckets: make([]bucketInfo, buckets)}
}

// seal files a full chunk under its bucket. It returns the buffer the writer
// may reuse, or nil when the chunk stays in memory.
func (s *spillStore) seal(bucket int, buf []byte, records int64) ([]byte, error) {
	c := chunk{n: len(buf)}
	var reuse []byte
	keep := buf
	if len(keep) < cap(keep)/4 {
		keep = append([]byte(nil), keep...) // a mostly empty chunk: keep just its bytes
	}
	if s.mem.reserve(int64(cap(keep))) {
		c.data = keep
		s.memBytes.Add(int64(cap(keep)))
		if &keep[0] != &buf[0] {
			reuse = buf[:0]
		}
	} else {
		off, err := s.write(buf)
		if err != nil {
			return nil, err
		}
		c.off = off
		reuse = buf[:0]
	}
	s.mu.Lock()
	b := &s.buckets[bucket]
	b.chunks = append(b.chunks, c)
	b.records += records
	if c.data == nil {
		b.diskBytes += int64(c.n)
	}
	s.mu.Unlock()
	return reuse, nil
}

func (s *spillStore) write(buf []byte) (int64, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		f, err := openSpillFile(filepath.Join(s.dir, s.name+".spill"))
		if err != nil {
			return 0, err
		}
		s.f = f
	}
	off, err := s.f.append(buf)
	if err != nil {
		return 0, err
	}
	s.diskBytes.Add(int64(len(buf)))
	return off, nil
}

// read returns a chunk's bytes, reading it from disk into buf if needed.
func (s *spillStore) read(c chunk, buf []byte) ([]byte, error) {
	if c.data != nil {
		return c.data[:c.n], nil
	}
	if cap(buf) < c.n {
		buf = make([]byte, c.n)
	}
	buf = buf[:c.n]
	if _, err := s.f.readAt(buf, c.off); err != nil {
		return nil, fmt.Errorf("spill file %s at %d: %w", s.f.name(), c.off, err)
	}
	return buf, nil
}

// free drops a bucket's in-memory chunks once phase 2 is done with it.
func (s *spillStore) free(bucket int) {
	s.mu.Lock()
	b := &s.buckets[bucket]
	for i := range b.chunks {
		if c := &b.chunks[i]; c.data != nil {
			s.mem.release(int64(cap(c.data)))
			s.memBytes.Add(-int64(cap(c.data)))
			c.data = nil
		}
	}
	b.chunks = nil
	s.mu.Unlock()
}

func (s *spillStore) close() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.close()
	s.f = nil
	return err
}

// spillWriter is one worker's view of a store: an open chunk per bucket.
type spillWriter struct {
	s     *spillStore
	bufs  [][]byte
	count []int64
}

func (s *spillStore) writer() *spillWriter {
	return &spillWriter{s: s, bufs: make([][]byte, len(s.buckets)), count: make([]int64, len(s.buckets))}
}

func (w *spillWriter) add(bucket int, rec []byte) error {
	b := w.bufs[bucket]
	if len(b)+len(rec) > cap(b) {
		if len(b) > 0 {
			reuse, err := w.s.seal(bucket, b, w.count[bucket])
			if err != nil {
				return err
			}
			b, w.count[bucket] = reuse, 0
		}
		if cap(b) < len(rec) || cap(b) == 0 {
			b = alignedBuffer(max(w.s.chunkSize, len(rec)))
		}
	}
	w.bufs[bucket] = append(b, rec...)
	w.count[bucket]++
	return nil
}

func (w *spillWriter) flush() error {
	for i, b := range w.bufs {
		if len(b) == 0 {
			continue
		}
		if _, err := w.s.seal(i, b, w.count[i]); err != nil {
			return err
		}
		w.bufs[i], w.count[i] = nil, 0
	}
	return nil
}
