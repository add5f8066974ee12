package diff

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// genRow is one row as the generator knows it, independent of Arrow.
type genRow struct {
	id int64
	s  *string
	f  float64
	ts int64   // microseconds
	l  []int32 // nil is NULL
	b  bool
}

// oracle renders a row with the equality rules of contracts §2 applied by
// hand: -0.0 is 0, every NaN is NaN, timestamps are UTC microseconds.
func (r genRow) oracle() string {
	s := "null"
	if r.s != nil {
		s = strconv.Quote(*r.s)
	}
	f := "NaN"
	if r.f == r.f {
		f = strconv.FormatFloat(r.f+0, 'g', -1, 64) // +0 turns -0 into 0
	}
	l := "null"
	if r.l != nil {
		parts := make([]string, len(r.l))
		for i, v := range r.l {
			parts[i] = strconv.Itoa(int(v))
		}
		l = "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprintf("%d|%s|%s|%s|%s|%t", r.id, s, f, time.UnixMicro(r.ts).UTC().Format(TimestampLayout), l, r.b)
}

// fromValues renders a decoded row the same way.
func fromValues(t *testing.T, v map[string]any) string {
	t.Helper()
	s := "null"
	if v["s"] != nil {
		s = strconv.Quote(v["s"].(string))
	}
	f := "NaN"
	if x, ok := v["f"].(float64); ok {
		f = strconv.FormatFloat(x, 'g', -1, 64)
	}
	l := "null"
	if v["l"] != nil {
		var parts []string
		for _, e := range v["l"].([]any) {
			parts = append(parts, strconv.FormatInt(e.(int64), 10))
		}
		l = "[" + strings.Join(parts, ",") + "]"
	}
	return fmt.Sprintf("%d|%s|%s|%s|%s|%t", v["id"].(int64), s, f, v["ts"].(string), l, v["b"].(bool))
}

var strs = []string{"", "a", "b", "long string value", "ünïcode", "a\x00b"}

func randRow(rng *rand.Rand, id int64) genRow {
	r := genRow{id: id, ts: rng.Int64N(4e15) - 1e15, b: rng.IntN(2) == 0}
	if rng.IntN(5) > 0 {
		s := strs[rng.IntN(len(strs))]
		r.s = &s
	}
	switch rng.IntN(6) {
	case 0:
		r.f = math.Copysign(0, -1)
	case 1:
		r.f = math.NaN()
	case 2:
		r.f = 0
	default:
		r.f = float64(rng.IntN(100)) / 4
	}
	if rng.IntN(4) > 0 {
		r.l = make([]int32, rng.IntN(3))
		for i := range r.l {
			r.l[i] = int32(rng.IntN(5))
		}
	}
	return r
}

// mutate changes one column so that the row differs under §2.
func mutate(rng *rand.Rand, r genRow) genRow {
	switch rng.IntN(5) {
	case 0:
		if r.s == nil {
			e := ""
			r.s = &e // NULL → '' is a difference
		} else {
			r.s = nil
		}
	case 1:
		if r.f != r.f {
			r.f = 1
		} else {
			r.f += 0.5
		}
	case 2:
		r.ts++
	case 3:
		if r.l == nil {
			r.l = []int32{} // NULL → [] is a difference
		} else {
			r.l = append(slices.Clone(r.l), 9)
		}
	default:
		r.b = !r.b
	}
	return r
}

func genTables(rng *rand.Rand, n int) (c, m []genRow) {
	for i := 0; i < n; i++ {
		id := int64(i)
		if i > 0 && rng.IntN(50) == 0 {
			id = int64(rng.IntN(i)) // a duplicate key in C
		}
		r := randRow(rng, id)
		c = append(c, r)
		if rng.IntN(60) == 0 {
			c = append(c, r) // a duplicate row in C
		}
	}
	for _, r := range c {
		switch p := rng.IntN(100); {
		case p < 5: // missing
		case p < 10:
			m = append(m, mutate(rng, r))
		case p < 13:
			m = append(m, r, r)
		default:
			m = append(m, r)
		}
	}
	for i := 0; i < n/20+rng.IntN(3); i++ {
		id := int64(n + i)
		if rng.IntN(3) == 0 && n > 0 {
			id = int64(rng.IntN(n)) // an extra row on an existing key
		}
		m = append(m, randRow(rng, id))
	}
	rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
	return c, m
}

var (
	legacySchema = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	// The new side: other column order, other widths and units.
	newSchema = arrow.NewSchema([]arrow.Field{
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "l", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Asia/Tokyo"}},
		{Name: "s", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
)

// toBatches builds record batches of random sizes from rows.
func toBatches(rng *rand.Rand, sc *arrow.Schema, rows []genRow) []arrow.RecordBatch {
	return toBatchesEvery(rng, sc, rows, 40)
}

// toBatchesEvery flushes a batch with probability 1/every per row (0: one batch).
func toBatchesEvery(rng *rand.Rand, sc *arrow.Schema, rows []genRow, every int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	var out []arrow.RecordBatch
	flush := func() {
		if rec := b.NewRecordBatch(); rec.NumRows() > 0 || len(out) == 0 {
			out = append(out, rec)
		}
	}
	for i, r := range rows {
		for j, f := range sc.Fields() {
			fb := b.Field(j)
			switch f.Name {
			case "id":
				fb.(*array.Int64Builder).Append(r.id)
			case "s":
				if r.s == nil {
					fb.AppendNull()
				} else if sb, ok := fb.(*array.StringBuilder); ok {
					sb.Append(*r.s)
				} else {
					fb.(*array.LargeStringBuilder).Append(*r.s)
				}
			case "f":
				fb.(*array.Float64Builder).Append(r.f)
			case "ts":
				v := r.ts
				if f.Type.(*arrow.TimestampType).Unit == arrow.Nanosecond {
					v *= 1000
				}
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
			case "l":
				lb := fb.(array.ListLikeBuilder)
				if r.l == nil {
					lb.AppendNull()
					continue
				}
				lb.Append(true)
				for _, e := range r.l {
					switch vb := lb.ValueBuilder().(type) {
					case *array.Int32Builder:
						vb.Append(e)
					case *array.Int64Builder:
						vb.Append(int64(e))
					}
				}
			case "b":
				fb.(*array.BooleanBuilder).Append(r.b)
			}
		}
		if (every > 0 && rng.IntN(every) == 0) || i == len(rows)-1 {
			flush()
		}
	}
	if len(out) == 0 {
		flush()
	}
	return out
}

func recordsOf(t *testing.T, name string, sc *arrow.Schema, batches []arrow.RecordBatch) Source {
	t.Helper()
	for _, b := range batches {
		b.Retain()
	}
	rdr, err := array.NewRecordReader(sc, batches)
	if err != nil {
		t.Fatal(err)
	}
	return Records(name, rdr)
}

type oracleResult struct {
	onlyL, onlyN                           map[string]int
	changed, missing, extra, duplicateKeys int64
}

func naiveDiff(c, m []genRow) oracleResult {
	count := func(rows []genRow) map[string]int {
		out := map[string]int{}
		for _, r := range rows {
			out[r.oracle()]++
		}
		return out
	}
	cc, mm := count(c), count(m)
	res := oracleResult{onlyL: map[string]int{}, onlyN: map[string]int{}}
	for k, n := range cc {
		if d := n - mm[k]; d > 0 {
			res.onlyL[k] = d
		}
	}
	for k, n := range mm {
		if d := n - cc[k]; d > 0 {
			res.onlyN[k] = d
		}
	}
	keyOf := func(row string) string { return row[:strings.IndexByte(row, '|')] }
	lk, nk := map[string]int{}, map[string]int{}
	for r, n := range res.onlyL {
		lk[keyOf(r)] += n
	}
	for r, n := range res.onlyN {
		nk[keyOf(r)] += n
	}
	for k, n := range lk {
		if nk[k] > 0 {
			res.changed++
		} else {
			res.missing += int64(n)
		}
	}
	for k, n := range nk {
		if lk[k] == 0 {
			res.extra += int64(n)
		}
	}
	ids := map[int64][2]int{}
	for _, r := range c {
		v := ids[r.id]
		v[0]++
		ids[r.id] = v
	}
	for _, r := range m {
		v := ids[r.id]
		v[1]++
		ids[r.id] = v
	}
	for _, v := range ids {
		if v[0] > 1 || v[1] > 1 {
			res.duplicateKeys++
		}
	}
	return res
}

func sumCounts(m map[string]int) int64 {
	var n int64
	for _, v := range m {
		n += int64(v)
	}
	return n
}

// TestPropertyAgainstNaiveDiff runs random tables with random edits through
// the diff, with and without a key, with the default budget and with a tiny
// one that forces every spill path, and checks everything against a naive
// in-memory multiset difference.
func TestPropertyAgainstNaiveDiff(t *testing.T) {
	trials := 40
	if testing.Short() {
		trials = 8
	}
	for trial := 0; trial < trials; trial++ {
		seed := uint64(trial)
		rng := rand.New(rand.NewPCG(seed, 99))
		n := rng.IntN(1500)
		switch trial {
		case 0:
			n = 0
		case 1:
			n = 1
		}
		c, m := genTables(rng, n)
		if trial == 2 {
			m = nil // the new side is empty
		}
		want := naiveDiff(c, m)
		cb, mb := toBatches(rng, legacySchema, c), toBatches(rng, newSchema, m)
		for _, keyed := range []bool{false, true} {
			var reports []string
			for _, mem := range []int64{DefaultMemory, 64 << 10} {
				name := fmt.Sprintf("seed %d rows %d keyed %v memory %d", seed, n, keyed, mem)
				opts := Options{Memory: mem, Sample: 5, Partitions: []int{0, 1, 7, 64}[trial%4]}
				if keyed {
					opts.Key = []string{"id"}
				}
				gotL, gotN := map[string]int{}, map[string]int{}
				var prev *Discrepancy
				opts.OnDiscrepancy = func(d Discrepancy) error {
					if prev != nil && !inOrder(*prev, d, keyed) {
						t.Errorf("%s: discrepancies out of order: %+v then %+v", name, prev, d)
					}
					prev = &d
					if d.Legacy != nil {
						gotL[fromValues(t, d.Legacy.Values)]++
					}
					if d.New != nil {
						gotN[fromValues(t, d.New.Values)]++
					}
					return nil
				}
				rep, err := Run(context.Background(), recordsOf(t, "c", legacySchema, cb), recordsOf(t, "m", newSchema, mb), opts)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if rep.LegacyRows != int64(len(c)) || rep.NewRows != int64(len(m)) {
					t.Fatalf("%s: rows %d/%d, want %d/%d", name, rep.LegacyRows, rep.NewRows, len(c), len(m))
				}
				if rep.OnlyInLegacy != sumCounts(want.onlyL) || rep.OnlyInNew != sumCounts(want.onlyN) {
					t.Fatalf("%s: only_in_legacy %d only_in_new %d, want %d %d", name, rep.OnlyInLegacy, rep.OnlyInNew, sumCounts(want.onlyL), sumCounts(want.onlyN))
				}
				if !mapsEqual(gotL, want.onlyL) || !mapsEqual(gotN, want.onlyN) {
					t.Fatalf("%s: delivered rows differ from the oracle's\n got C−M %v\nwant C−M %v\n got M−C %v\nwant M−C %v", name, gotL, want.onlyL, gotN, want.onlyN)
				}
				if rep.Matched != rep.LegacyRows-rep.OnlyInLegacy || rep.Matched != rep.NewRows-rep.OnlyInNew {
					t.Fatalf("%s: matched %d breaks the invariant", name, rep.Matched)
				}
				if rep.Clean != (rep.OnlyInLegacy == 0 && rep.OnlyInNew == 0) {
					t.Fatalf("%s: clean %v", name, rep.Clean)
				}
				if keyed {
					if *rep.Changed != want.changed || *rep.Missing != want.missing || *rep.Extra != want.extra || *rep.DuplicateKeys != want.duplicateKeys {
						t.Fatalf("%s: changed %d missing %d extra %d duplicate_keys %d, want %d %d %d %d", name,
							*rep.Changed, *rep.Missing, *rep.Extra, *rep.DuplicateKeys, want.changed, want.missing, want.extra, want.duplicateKeys)
					}
				} else if rep.Changed != nil {
					t.Fatalf("%s: classification without a key", name)
				}
				if mem == 64<<10 && n > 800 && rep.Run.SpilledBytes == 0 {
					t.Fatalf("%s: a 64 KiB budget spilled nothing", name)
				}
				reports = append(reports, stableJSON(t, rep))
			}
			if reports[0] != reports[1] {
				t.Fatalf("seed %d keyed %v: the report depends on the memory budget:\n%s\n%s", seed, keyed, reports[0], reports[1])
			}
		}
	}
}

func inOrder(a, b Discrepancy, keyed bool) bool {
	if keyed {
		ka, kb := a.Key["id"].(int64), b.Key["id"].(int64)
		return ka <= kb
	}
	fa, fb := rowOf(a).Fingerprint, rowOf(b).Fingerprint
	return fa <= fb
}

func rowOf(d Discrepancy) *Row {
	if d.Legacy != nil {
		return d.Legacy
	}
	return d.New
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// stableJSON is the report without the fields that describe the run.
func stableJSON(t *testing.T, rep *Report) string {
	t.Helper()
	r := *rep
	r.Run = RunInfo{}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// benchBatch is a batch shaped like bench/diffbench's tables: int64 key,
// strings, double, int32, timestamp, bool, binary, nullable string.
func benchBatch(n int) arrow.RecordBatch {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "payload", Type: arrow.BinaryTypes.Binary},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	rng := rand.New(rand.NewPCG(1, 2))
	pay := make([]byte, 16)
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("name-%d", rng.IntN(5000)))
		b.Field(2).(*array.Float64Builder).Append(float64(rng.IntN(1e6)) / 100)
		b.Field(3).(*array.Int32Builder).Append(int32(rng.IntN(1000)))
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(1.7e15 + rng.Int64N(1e12)))
		b.Field(5).(*array.BooleanBuilder).Append(rng.IntN(2) == 0)
		for j := range pay {
			pay[j] = byte(rng.Uint32())
		}
		b.Field(6).(*array.BinaryBuilder).Append(pay)
		if rng.IntN(10) < 3 {
			b.Field(7).AppendNull()
		} else {
			b.Field(7).(*array.StringBuilder).Append("somebody was here")
		}
	}
	return b.NewRecordBatch()
}

// BenchmarkEncode measures phase 1's kernel: encoding and hashing a batch
// of the benchmark's shape, without I/O. Rows/s = 65536 / (ns/op).
func BenchmarkEncode(b *testing.B) {
	one := benchBatch(64 * 1024)
	cols, err := matchSchemas(one.Schema(), one.Schema(), nil)
	if err != nil {
		b.Fatal(err)
	}
	rules, _ := compileRules(Rules{}, cols)
	for _, keyed := range []bool{false, true} {
		var keyIdx []int
		if keyed {
			keyIdx = []int{slices.IndexFunc(cols, func(c column) bool { return c.name == "id" })}
		}
		b.Run(fmt.Sprintf("keyed=%v", keyed), func(b *testing.B) {
			benchEncode(b, newRowEncoder("legacy", cols, rules, keyIdx), one)
		})
	}
	// The same bytes with ts carried (Options.Carry) rather than compared.
	b.Run("carry=ts", func(b *testing.B) {
		cols, err := matchSchemas(one.Schema(), one.Schema(), []string{"ts"})
		if err != nil {
			b.Fatal(err)
		}
		rules, _ := compileRules(Rules{}, cols)
		benchEncode(b, newRowEncoder("new", cols, rules, nil).withCarry([]string{"ts"}, []*ctype{{kind: KindTimestamp}}), one)
	})
}

// benchEncode times e encoding rec into a reused buffer, per row.
func benchEncode(b *testing.B, e *rowEncoder, rec arrow.RecordBatch) {
	var buf []byte
	alloc := func(n int) ([]byte, error) {
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		return buf[:n], nil
	}
	for i := 0; i < b.N; i++ {
		if _, err := e.encode(rec, alloc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rec.NumRows()), "ns/row")
}
