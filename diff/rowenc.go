package diff

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// Record layouts (integers little-endian):
//
//	row log record    u32 n | n bytes canonical row [| u32 m | m bytes carried values]
//	index record      u64 fingerprint | u64 check hash | u64 location | u64 key hash (with a key only)
//	key record        u32 n | n bytes canonical key (the key columns' values in --key order)
//
// The fingerprint is xxhash64 of the canonical row; the check hash is
// XXH3-64 of the same bytes, an independent hash that phase 2 uses together
// with the fingerprint as a 128-bit identity. The location names the row log
// (high 16 bits) and the record's offset in it (low 48 bits).
//
// The carried section is there only in the row logs of a side with carried
// columns (Options.Carry): the canonical values of that side's carried
// columns, in Carry order. Neither hash covers it, so carried values never
// take part in the digest, the exact phase or the pairing.
const (
	rowHeader   = 4
	carryHeader = 4
	keyHeader   = 4
	indexSize   = 24
	indexKeyed  = 32
	locBits     = 48
)

// rowEncoder turns the record batches of one side into canonical rows, a
// column at a time (see columns.go), and hashes each row.
type rowEncoder struct {
	side   string
	cols   []column
	rules  []colRule
	keyIdx []int // positions in cols of the key columns, in key order

	schema *arrow.Schema // the batch schema idx was resolved for
	idx    []int         // batch column index of each compared column

	sizes, starts, cur    []int
	fps, checks, khashes  []uint64
	ksizes, kstarts, kcur []int
	kbuf                  []byte
	writers               []colWriter

	carry    []string // carried columns of this side, in Carry order
	carryT   []*ctype
	carryIdx []int // batch column index of each carried column
	cwriters []colWriter
	rowEnds  []int // with carried columns: where each row's compared bytes end
}

func newRowEncoder(side string, cols []column, rules []colRule, keyIdx []int) *rowEncoder {
	return &rowEncoder{side: side, cols: cols, rules: rules, keyIdx: keyIdx}
}

// withCarry makes the encoder append a carried section to every record.
func (e *rowEncoder) withCarry(names []string, types []*ctype) *rowEncoder {
	e.carry, e.carryT = names, types
	return e
}

// resolve finds the compared columns in a batch by name and checks their
// kinds, once per distinct batch schema.
func (e *rowEncoder) resolve(sc *arrow.Schema) error {
	if sc == e.schema {
		return nil
	}
	idx := make([]int, len(e.cols))
	for j, c := range e.cols {
		is := sc.FieldIndices(c.name)
		if len(is) != 1 {
			return fmt.Errorf("%s: %w: a batch has %d columns named %q, want 1", e.side, ErrSchemaMismatch, len(is), c.name)
		}
		t, err := canonicalType(sc.Field(is[0]).Type)
		if err != nil {
			return fmt.Errorf("%s: column %q: %w", e.side, c.name, err)
		}
		if !t.equal(c.typ) {
			return fmt.Errorf("%s: %w: column %q is %s in one batch, %s in the planned schema", e.side, ErrSchemaMismatch, c.name, t, c.typ)
		}
		idx[j] = is[0]
	}
	var cidx []int
	for j, name := range e.carry {
		is := sc.FieldIndices(name)
		if len(is) != 1 {
			return fmt.Errorf("%s: %w: a batch has %d columns named %q (carried), want 1", e.side, ErrSchemaMismatch, len(is), name)
		}
		t, err := canonicalType(sc.Field(is[0]).Type)
		if err != nil {
			return fmt.Errorf("%s: carried column %q: %w", e.side, name, err)
		}
		if !t.equal(e.carryT[j]) {
			return fmt.Errorf("%s: %w: carried column %q is %s in one batch, %s in the planned schema", e.side, ErrSchemaMismatch, name, t, e.carryT[j])
		}
		cidx = append(cidx, is[0])
	}
	e.schema, e.idx, e.carryIdx = sc, idx, cidx
	return nil
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// encode writes the rows of rec as row log records into the space alloc
// returns, so that row i is buf[starts[i]:starts[i+1]], and fills fps,
// checks and (with a key) khashes.
func (e *rowEncoder) encode(rec arrow.RecordBatch, alloc func(n int) ([]byte, error)) ([]byte, error) {
	if err := e.resolve(rec.Schema()); err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	e.sizes = resize(e.sizes, n)
	for i := range e.sizes {
		e.sizes[i] = rowHeader
	}
	e.writers = e.writers[:0]
	for j := range e.cols {
		w := newColWriter(rec.Column(e.idx[j]), e.rules[j])
		w.size(e.sizes)
		e.writers = append(e.writers, w)
	}
	if len(e.carry) > 0 {
		e.sizeCarry(rec)
	}
	var total int
	e.starts, total = layout(e.starts, e.sizes)
	buf, err := alloc(total)
	if err != nil {
		return nil, err
	}
	e.cur = resize(e.cur, n)
	for i := range e.cur {
		e.cur[i] = e.starts[i] + rowHeader
	}
	for _, w := range e.writers {
		w.write(buf, e.cur)
	}
	ends := e.starts[1:]
	if len(e.carry) > 0 {
		ends = e.writeCarry(buf)
	}
	e.fps, e.checks = resize(e.fps, n), resize(e.checks, n)
	for i := 0; i < n; i++ {
		s := e.starts[i]
		row := buf[s+rowHeader : ends[i]]
		binary.LittleEndian.PutUint32(buf[s:], uint32(len(row)))
		e.fps[i] = xxhash.Sum64(row)
		e.checks[i] = xxh3.Hash(row)
	}
	if len(e.keyIdx) == 0 {
		return buf, nil
	}
	e.ksizes = resize(e.ksizes, n)
	for i := range e.ksizes {
		e.ksizes[i] = keyHeader
	}
	e.writers = e.writers[:0]
	for _, j := range e.keyIdx {
		w := newColWriter(rec.Column(e.idx[j]), e.rules[j])
		w.size(e.ksizes)
		e.writers = append(e.writers, w)
	}
	e.kstarts, total = layout(e.kstarts, e.ksizes)
	e.kbuf = resize(e.kbuf, total)
	e.kcur = resize(e.kcur, n)
	for i := range e.kcur {
		e.kcur[i] = e.kstarts[i] + keyHeader
	}
	for _, w := range e.writers {
		w.write(e.kbuf, e.kcur)
	}
	e.khashes = resize(e.khashes, n)
	for i := 0; i < n; i++ {
		s, end := e.kstarts[i], e.kstarts[i+1]
		key := e.kbuf[s+keyHeader : end]
		binary.LittleEndian.PutUint32(e.kbuf[s:], uint32(len(key)))
		e.khashes[i] = xxhash.Sum64(key)
	}
	return buf, nil
}

// sizeCarry adds every row's carried section to its size.
func (e *rowEncoder) sizeCarry(rec arrow.RecordBatch) {
	e.cwriters = e.cwriters[:0]
	for i := range e.sizes {
		e.sizes[i] += carryHeader
	}
	for _, c := range e.carryIdx {
		w := newColWriter(rec.Column(c), noRule)
		w.size(e.sizes)
		e.cwriters = append(e.cwriters, w)
	}
}

// writeCarry writes every row's carried section after its compared values
// (e.cur is where those end) and returns where each row's compared bytes end.
func (e *rowEncoder) writeCarry(buf []byte) []int {
	e.rowEnds = resize(e.rowEnds, len(e.cur))
	copy(e.rowEnds, e.cur)
	for i, o := range e.cur {
		binary.LittleEndian.PutUint32(buf[o:], uint32(e.starts[i+1]-o-carryHeader))
		e.cur[i] = o + carryHeader
	}
	for _, w := range e.cwriters {
		w.write(buf, e.cur)
	}
	return e.rowEnds
}

// layout turns sizes into start offsets (n+1 of them) and the total.
func layout(starts []int, sizes []int) ([]int, int) {
	starts = resize(starts, len(sizes)+1)
	total := 0
	for i, s := range sizes {
		starts[i] = total
		total += s
	}
	starts[len(sizes)] = total
	return starts, total
}

func recLen(rec []byte) int { return int(binary.LittleEndian.Uint32(rec)) }
func keyLen(rec []byte) int { return int(binary.LittleEndian.Uint32(rec)) }
