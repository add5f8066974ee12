package diff

import (
	"encoding/binary"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// A colWriter encodes one column of a record batch into the row buffer,
// column at a time: size adds every row's encoded length, then write puts
// every row's value at its cursor and advances the cursor. The type switch
// happens once per batch, not once per value.
type colWriter interface {
	size(sizes []int)
	write(buf []byte, cur []int)
}

func newColWriter(arr arrow.Array, r colRule) colWriter {
	switch a := arr.(type) {
	case *array.Int64:
		return &intWriter[int64]{arr: a, vals: a.Int64Values()}
	case *array.Int32:
		return &intWriter[int32]{arr: a, vals: a.Int32Values()}
	case *array.Int16:
		return &intWriter[int16]{arr: a, vals: a.Int16Values()}
	case *array.Int8:
		return &intWriter[int8]{arr: a, vals: a.Int8Values()}
	case *array.Uint32:
		return &intWriter[uint32]{arr: a, vals: a.Uint32Values()}
	case *array.Uint16:
		return &intWriter[uint16]{arr: a, vals: a.Uint16Values()}
	case *array.Uint8:
		return &intWriter[uint8]{arr: a, vals: a.Uint8Values()}
	case *array.Float64:
		if r.round < 0 {
			return &floatWriter[float64]{arr: a, vals: a.Float64Values()}
		}
	case *array.Float32:
		if r.round < 0 {
			return &floatWriter[float32]{arr: a, vals: a.Float32Values()}
		}
	case *array.Timestamp:
		return &microsWriter{arr: a, vals: a.TimestampValues(), unit: a.DataType().(*arrow.TimestampType).Unit, div: r.truncate, tag: tagTimestamp}
	case *array.Date32:
		return &date32Writer{arr: a, vals: a.Date32Values()}
	case *array.Boolean:
		return &boolWriter{arr: a}
	case *array.String:
		return &bytesWriter[int32]{arr: a, offsets: a.ValueOffsets(), data: a.ValueBytes(), tag: tagString, emptyNull: r.emptyNull}
	case *array.Binary:
		return &bytesWriter[int32]{arr: a, offsets: a.ValueOffsets(), data: a.ValueBytes(), tag: tagBinary, emptyNull: r.emptyNull}
	case *array.LargeString:
		return &bytesWriter[int64]{arr: a, offsets: a.ValueOffsets(), data: a.ValueBytes(), tag: tagString, emptyNull: r.emptyNull}
	case *array.LargeBinary:
		return &bytesWriter[int64]{arr: a, offsets: a.ValueOffsets(), data: a.ValueBytes(), tag: tagBinary, emptyNull: r.emptyNull}
	case *extensions.UUIDArray:
		if fsb, ok := a.Storage().(*array.FixedSizeBinary); ok {
			return &fixedWriter{arr: a, fsb: fsb, tag: tagUUID, width: 16}
		}
	case *array.FixedSizeBinary:
		w := a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth
		if !r.emptyNull || w > 0 {
			return &fixedWriter{arr: a, fsb: a, tag: tagBinary, width: w, lenPrefix: true}
		}
	case *array.Dictionary:
		return newDictWriter(a, r)
	}
	return &genericWriter{arr: arr, rule: r}
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32
}

type intWriter[T integer] struct {
	arr  arrow.Array
	vals []T
}

// addSizes adds n to the size of every row of arr that is not null and 1
// (the null tag) to every null row: the sizes of a fixed-width encoding.
func addSizes(arr arrow.Array, sizes []int, n int) {
	if arr.NullN() == 0 {
		for i := range sizes {
			sizes[i] += n
		}
		return
	}
	for i := range sizes {
		if arr.IsNull(i) {
			sizes[i]++
		} else {
			sizes[i] += n
		}
	}
}

func (w *intWriter[T]) size(sizes []int) { addSizes(w.arr, sizes, 9) }

func (w *intWriter[T]) write(buf []byte, cur []int) {
	nulls := w.arr.NullN() != 0
	vals := w.vals[:len(cur)]
	for i, v := range vals {
		o := cur[i]
		if nulls && w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		b := buf[o : o+9]
		b[0] = tagInt
		binary.BigEndian.PutUint64(b[1:], uint64(int64(v)))
		cur[i] = o + 9
	}
}

type floatWriter[T float32 | float64] struct {
	arr  arrow.Array
	vals []T
}

func (w *floatWriter[T]) size(sizes []int) { addSizes(w.arr, sizes, 9) }

func (w *floatWriter[T]) write(buf []byte, cur []int) {
	nulls := w.arr.NullN() != 0
	vals := w.vals[:len(cur)]
	for i, v := range vals {
		o := cur[i]
		if nulls && w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		b := buf[o : o+9]
		b[0] = tagFloat
		binary.BigEndian.PutUint64(b[1:], normFloat(float64(v)))
		cur[i] = o + 9
	}
}

// microsWriter writes timestamps (and could write times) as microseconds.
type microsWriter struct {
	arr  arrow.Array
	vals []arrow.Timestamp
	unit arrow.TimeUnit
	div  int64
	tag  byte
}

func (w *microsWriter) size(sizes []int) { addSizes(w.arr, sizes, 9) }

func (w *microsWriter) write(buf []byte, cur []int) {
	nulls := w.arr.NullN() != 0
	vals := w.vals[:len(cur)]
	for i, v := range vals {
		o := cur[i]
		if nulls && w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		us := int64(v)
		if w.unit != arrow.Microsecond {
			us = toMicros(us, w.unit)
		}
		if w.div != 0 {
			us = truncMicros(us, w.div)
		}
		b := buf[o : o+9]
		b[0] = w.tag
		binary.BigEndian.PutUint64(b[1:], uint64(us))
		cur[i] = o + 9
	}
}

type date32Writer struct {
	arr  arrow.Array
	vals []arrow.Date32
}

func (w *date32Writer) size(sizes []int) { addSizes(w.arr, sizes, 5) }

func (w *date32Writer) write(buf []byte, cur []int) {
	for i := range cur {
		o := cur[i]
		if w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		buf[o] = tagDate
		binary.BigEndian.PutUint32(buf[o+1:o+5], uint32(w.vals[i]))
		cur[i] = o + 5
	}
}

type boolWriter struct{ arr *array.Boolean }

func (w *boolWriter) size(sizes []int) {
	for i := range sizes {
		sizes[i]++
	}
}

func (w *boolWriter) write(buf []byte, cur []int) {
	nulls := w.arr.NullN() != 0
	for i := range cur {
		o := cur[i]
		switch {
		case nulls && w.arr.IsNull(i):
			buf[o] = tagNull
		case w.arr.Value(i):
			buf[o] = tagTrue
		default:
			buf[o] = tagFalse
		}
		cur[i] = o + 1
	}
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

type bytesWriter[O int32 | int64] struct {
	arr       arrow.Array
	offsets   []O
	data      []byte
	tag       byte
	emptyNull bool
}

func (w *bytesWriter[O]) size(sizes []int) {
	nulls := w.arr.NullN() != 0
	offs := w.offsets[:len(sizes)+1]
	for i := range sizes {
		n := int(offs[i+1] - offs[i])
		if (nulls && w.arr.IsNull(i)) || (n == 0 && w.emptyNull) {
			sizes[i]++
			continue
		}
		if n < 0x80 {
			sizes[i] += 2 + n
		} else {
			sizes[i] += 1 + uvarintLen(uint64(n)) + n
		}
	}
}

func (w *bytesWriter[O]) write(buf []byte, cur []int) {
	nulls := w.arr.NullN() != 0
	offs := w.offsets[:len(cur)+1]
	base := offs[0] // data starts at the first value's offset
	for i := range cur {
		o := cur[i]
		s, e := offs[i]-base, offs[i+1]-base
		n := int(e - s)
		if (nulls && w.arr.IsNull(i)) || (n == 0 && w.emptyNull) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		buf[o] = w.tag
		if n < 0x80 {
			buf[o+1] = byte(n)
			o += 2
		} else {
			o += 1 + binary.PutUvarint(buf[o+1:], uint64(n))
		}
		cur[i] = o + copy(buf[o:o+n], w.data[s:e])
	}
}

// fixedWriter writes fixed-size binaries (lenPrefix, as binary) and UUIDs.
type fixedWriter struct {
	arr       arrow.Array
	fsb       *array.FixedSizeBinary
	tag       byte
	width     int
	lenPrefix bool
}

func (w *fixedWriter) enc() int {
	if w.lenPrefix {
		return 1 + uvarintLen(uint64(w.width)) + w.width
	}
	return 1 + w.width
}

func (w *fixedWriter) size(sizes []int) { addSizes(w.arr, sizes, w.enc()) }

func (w *fixedWriter) write(buf []byte, cur []int) {
	for i := range cur {
		o := cur[i]
		if w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		buf[o] = w.tag
		o++
		if w.lenPrefix {
			o += binary.PutUvarint(buf[o:], uint64(w.width))
		}
		cur[i] = o + copy(buf[o:o+w.width], w.fsb.Value(i))
	}
}

// dictWriter encodes each dictionary value once and copies it per row.
type dictWriter struct {
	arr   *array.Dictionary
	enc   []byte
	start []int // start[k]..start[k+1] is value k's encoding
}

func newDictWriter(a *array.Dictionary, r colRule) *dictWriter {
	d := a.Dictionary()
	w := &dictWriter{arr: a, start: make([]int, d.Len()+1)}
	for k := 0; k < d.Len(); k++ {
		w.enc = appendValue(w.enc, d, k, r)
		w.start[k+1] = len(w.enc)
	}
	return w
}

func (w *dictWriter) size(sizes []int) {
	for i := range sizes {
		if w.arr.IsNull(i) {
			sizes[i]++
			continue
		}
		k := w.arr.GetValueIndex(i)
		sizes[i] += w.start[k+1] - w.start[k]
	}
}

func (w *dictWriter) write(buf []byte, cur []int) {
	for i := range cur {
		o := cur[i]
		if w.arr.IsNull(i) {
			buf[o] = tagNull
			cur[i] = o + 1
			continue
		}
		k := w.arr.GetValueIndex(i)
		cur[i] = o + copy(buf[o:], w.enc[w.start[k]:w.start[k+1]])
	}
}

// genericWriter encodes every row once with appendValue into a scratch
// buffer during size, and copies it during write.
type genericWriter struct {
	arr  arrow.Array
	rule colRule
	enc  []byte
	ends []int
}

func (w *genericWriter) size(sizes []int) {
	w.enc = w.enc[:0]
	w.ends = w.ends[:0]
	for i := range sizes {
		before := len(w.enc)
		w.enc = appendValue(w.enc, w.arr, i, w.rule)
		w.ends = append(w.ends, len(w.enc))
		sizes[i] += len(w.enc) - before
	}
}

func (w *genericWriter) write(buf []byte, cur []int) {
	start := 0
	for i := range cur {
		end := w.ends[i]
		cur[i] += copy(buf[cur[i]:], w.enc[start:end])
		start = end
	}
}
