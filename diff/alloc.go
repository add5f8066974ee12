package diff

import (
	"context"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// poolAllocator is an Arrow allocator that recycles freed buffers by
// power-of-two size class. Reading Parquet allocates and frees the same
// buffer sizes batch after batch; recycling them spares the garbage
// collector and the page faults of fresh memory. Buffers are zeroed when
// handed out, as Go's allocator does. Free buffers are kept up to a limit.
type poolAllocator struct {
	mu    sync.Mutex
	free  [64][][]byte
	owner map[uintptr][]byte // aligned start → whole class buffer
	kept  int64
	limit int64
}

const alignment = 64

func newPoolAllocator(limit int64) *poolAllocator {
	return &poolAllocator{owner: map[uintptr][]byte{}, limit: limit}
}

func (p *poolAllocator) Allocate(size int) []byte {
	c := bits.Len(uint(size + alignment - 1))
	p.mu.Lock()
	var buf []byte
	if n := len(p.free[c]); n > 0 {
		buf = p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.kept -= int64(len(buf))
	}
	p.mu.Unlock()
	if buf == nil {
		buf = make([]byte, 1<<c)
	}
	shift := int((alignment - uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%alignment) % alignment)
	out := buf[shift : shift+size : len(buf)]
	clear(out)
	p.mu.Lock()
	p.owner[uintptr(unsafe.Pointer(unsafe.SliceData(out)))] = buf
	p.mu.Unlock()
	return out
}

func (p *poolAllocator) Reallocate(size int, b []byte) []byte {
	if cap(b) >= size {
		old := len(b)
		b = b[:size]
		if size > old {
			clear(b[old:])
		}
		return b
	}
	n := p.Allocate(size)
	copy(n, b)
	p.Free(b)
	return n
}

func (p *poolAllocator) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	k := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p.mu.Lock()
	defer p.mu.Unlock()
	buf, ok := p.owner[k]
	if !ok {
		return
	}
	delete(p.owner, k)
	if p.kept+int64(len(buf)) > p.limit {
		return // let the garbage collector have it
	}
	c := bits.Len(uint(len(buf))) - 1
	p.free[c] = append(p.free[c], buf)
	p.kept += int64(len(buf))
}

var _ memory.Allocator = (*poolAllocator)(nil)

type allocKey struct{}

// withAllocator hands a run's allocator to the sources' tasks.
func withAllocator(ctx context.Context, a memory.Allocator) context.Context {
	return context.WithValue(ctx, allocKey{}, a)
}

// allocatorFrom returns the run's allocator, or Go's.
func allocatorFrom(ctx context.Context) memory.Allocator {
	if a, ok := ctx.Value(allocKey{}).(memory.Allocator); ok {
		return a
	}
	return memory.DefaultAllocator
}
