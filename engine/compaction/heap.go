package compaction

// srcHeap is a binary min-heap of sources under less. K is small (the
// SSTables of a few replicas), so this is plain and allocation-free.
type srcHeap struct {
	s    []*source
	less func(a, b *source) bool
}

func (h *srcHeap) Len() int       { return len(h.s) }
func (h *srcHeap) top() *source   { return h.s[0] }
func (h *srcHeap) reset()         { h.s = h.s[:0] }
func (h *srcHeap) push(x *source) { h.s = append(h.s, x); h.up(len(h.s) - 1) }

func (h *srcHeap) pop() *source {
	n := len(h.s) - 1
	x := h.s[0]
	h.s[0] = h.s[n]
	h.s[n] = nil
	h.s = h.s[:n]
	if n > 0 {
		h.down(0)
	}
	return x
}

func (h *srcHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.s[i], h.s[p]) {
			return
		}
		h.s[i], h.s[p] = h.s[p], h.s[i]
		i = p
	}
}

func (h *srcHeap) down(i int) {
	n := len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.s[r], h.s[l]) {
			m = r
		}
		if !h.less(h.s[m], h.s[i]) {
			return
		}
		h.s[i], h.s[m] = h.s[m], h.s[i]
		i = m
	}
}
