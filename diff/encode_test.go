package diff

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func fromJSON(t *testing.T, dt arrow.DataType, js string) arrow.Array {
	t.Helper()
	arr, _, err := array.FromJSON(memory.DefaultAllocator, dt, strings.NewReader(js))
	if err != nil {
		t.Fatalf("%s from %s: %v", dt, js, err)
	}
	return arr
}

// encodeColumn encodes every row of arr with the columnar fast path and
// checks it against the reference encoder, row by row.
func encodeColumn(t *testing.T, arr arrow.Array, r colRule) [][]byte {
	t.Helper()
	n := arr.Len()
	sizes := make([]int, n)
	w := newColWriter(arr, r)
	w.size(sizes)
	starts, total := layout(nil, sizes)
	buf := make([]byte, total)
	cur := append([]int(nil), starts[:n]...)
	w.write(buf, cur)
	out := make([][]byte, n)
	for i := 0; i < n; i++ {
		if cur[i] != starts[i+1] {
			t.Fatalf("%s row %d: wrote %d bytes, sized %d", arr.DataType(), i, cur[i]-starts[i], sizes[i])
		}
		out[i] = buf[starts[i]:starts[i+1]]
		ref := appendValue(nil, arr, i, r)
		if !bytes.Equal(ref, out[i]) {
			t.Fatalf("%s row %d: fast path % x, reference % x", arr.DataType(), i, out[i], ref)
		}
		if k, err := skipValue(out[i]); err != nil || k != len(out[i]) {
			t.Fatalf("%s row %d: skipValue = %d, %v; want %d", arr.DataType(), i, k, err, len(out[i]))
		}
	}
	return out
}

func floats64(vals ...float64) arrow.Array {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.AppendValues(vals, nil)
	return b.NewArray()
}

func floats32(vals ...float32) arrow.Array {
	b := array.NewFloat32Builder(memory.DefaultAllocator)
	b.AppendValues(vals, nil)
	return b.NewArray()
}

func dictStrings(t *testing.T, vals ...string) arrow.Array {
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(memory.DefaultAllocator, dt).(*array.BinaryDictionaryBuilder)
	for _, v := range vals {
		if err := b.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.NewArray()
}

func uuids(t *testing.T, vals ...string) arrow.Array {
	b := extensions.NewUUIDBuilder(memory.DefaultAllocator)
	for _, v := range vals {
		if err := b.AppendValueFromString(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.NewArray()
}

// TestEqualityRules checks every rule of contracts §2: for each case, row i
// of a and row i of b must encode equally exactly when want[i] says so.
func TestEqualityRules(t *testing.T) {
	ts := func(u arrow.TimeUnit, tz string) arrow.DataType { return &arrow.TimestampType{Unit: u, TimeZone: tz} }
	cases := []struct {
		name string
		a, b arrow.Array
		want []bool
	}{
		{"null equals null, not empty string", fromJSON(t, arrow.BinaryTypes.String, `[null, null, "", "x"]`),
			fromJSON(t, arrow.BinaryTypes.String, `[null, "", null, "x"]`), []bool{true, false, false, true}},
		{"strings by raw bytes, across string types", fromJSON(t, arrow.BinaryTypes.String, `["a", "A", "é", "e\u0301"]`),
			fromJSON(t, arrow.BinaryTypes.LargeString, `["a", "a", "é", "é"]`), []bool{true, false, true, false}},
		{"string view", fromJSON(t, arrow.BinaryTypes.StringView, `["a long string beyond twelve bytes", "b", null]`),
			fromJSON(t, arrow.BinaryTypes.String, `["a long string beyond twelve bytes", "c", null]`), []bool{true, false, true}},
		{"dictionary strings equal plain ones", dictStrings(t, "x", "y", "x"),
			fromJSON(t, arrow.BinaryTypes.String, `["x", "x", "x"]`), []bool{true, false, true}},
		{"binaries of any width", fromJSON(t, &arrow.FixedSizeBinaryType{ByteWidth: 2}, `["AAE=", "AAI="]`),
			fromJSON(t, arrow.BinaryTypes.Binary, `["AAE=", "AAE="]`), []bool{true, false}},
		{"integers of any width by value", fromJSON(t, arrow.PrimitiveTypes.Int8, `[5, -1, 0, null]`),
			fromJSON(t, arrow.PrimitiveTypes.Int64, `[5, -1, 1, null]`), []bool{true, true, false, true}},
		{"unsigned and signed by value", fromJSON(t, arrow.PrimitiveTypes.Uint64, `[5, 18446744073709551615, 9223372036854775807]`),
			fromJSON(t, arrow.PrimitiveTypes.Int32, `[5, -1, 0]`), []bool{true, false, false}},
		{"uint32 and uint16", fromJSON(t, arrow.PrimitiveTypes.Uint32, `[70000, 1]`),
			fromJSON(t, arrow.PrimitiveTypes.Uint16, `[4464, 1]`), []bool{false, true}},
		{"-0.0 equals 0.0, NaN equals NaN", floats64(0, math.NaN(), math.Float64frombits(0x7ff0000000000bad), 1.5, math.Inf(1)),
			floats64(math.Copysign(0, -1), math.Float64frombits(0xfff8000000000001), math.NaN(), 1.5000000000000002, math.Inf(1)),
			[]bool{true, true, true, false, true}},
		{"float32 widens exactly", floats32(1.5, float32(math.NaN()), 0.1),
			floats64(1.5, math.NaN(), 0.1), []bool{true, true, false}},
		{"timestamps as instants at microseconds", fromJSON(t, ts(arrow.Millisecond, ""), `[1000, 1, -1]`),
			fromJSON(t, ts(arrow.Microsecond, "UTC"), `[1000000, 1001, -1000]`), []bool{true, false, true}},
		{"time zones normalised to UTC", fromJSON(t, ts(arrow.Second, "America/New_York"), `[1, 2]`),
			fromJSON(t, ts(arrow.Nanosecond, "Europe/Paris"), `[1000000000, 2000000001]`), []bool{true, true}},
		{"nanoseconds round down to microseconds", fromJSON(t, ts(arrow.Nanosecond, ""), `[1999, -1, 1000]`),
			fromJSON(t, ts(arrow.Microsecond, ""), `[1, -1, 2]`), []bool{true, true, false}},
		{"dates by day", fromJSON(t, arrow.FixedWidthTypes.Date32, `[1, 0, -1]`),
			fromJSON(t, arrow.FixedWidthTypes.Date64, `[86400000, 1, -86400000]`), []bool{true, true, true}},
		{"times by microsecond", fromJSON(t, arrow.FixedWidthTypes.Time32ms, `[1500, 0]`),
			fromJSON(t, arrow.FixedWidthTypes.Time64us, `[1500000, 1]`), []bool{true, false}},
		{"decimals by value", fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 1}, `["1.0", "-1.5", "0.0", "100.0", "2.5"]`),
			fromJSON(t, &arrow.Decimal128Type{Precision: 12, Scale: 3}, `["1.000", "-1.500", "0.000", "100.000", "2.501"]`), []bool{true, true, true, true, false}},
		{"decimal widths", fromJSON(t, &arrow.Decimal256Type{Precision: 50, Scale: 2}, `["123456789012345678901234567890.10", "1.00"]`),
			fromJSON(t, &arrow.Decimal128Type{Precision: 38, Scale: 1}, `["123456789012345678901234567890.1", "1.0"]`), []bool{true, true}},
		{"decimal32 and decimal64", fromJSON(t, &arrow.Decimal32Type{Precision: 9, Scale: 2}, `["1.10", "-3.00"]`),
			fromJSON(t, &arrow.Decimal64Type{Precision: 18, Scale: 4}, `["1.1000", "-3.0000"]`), []bool{true, true}},
		{"bools", fromJSON(t, arrow.FixedWidthTypes.Boolean, `[true, false, null]`),
			fromJSON(t, arrow.FixedWidthTypes.Boolean, `[true, true, null]`), []bool{true, false, true}},
		{"lists keep order; empty is not null", fromJSON(t, arrow.ListOf(arrow.PrimitiveTypes.Int32), `[[1,2], [1,2], [], null, [null]]`),
			fromJSON(t, arrow.LargeListOf(arrow.PrimitiveTypes.Int64), `[[1,2], [2,1], null, null, [null]]`), []bool{true, false, false, true, true}},
		{"fixed-size lists", fromJSON(t, arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int16), `[[1,2], [3,4]]`),
			fromJSON(t, arrow.ListOf(arrow.PrimitiveTypes.Int64), `[[1,2], [4,3]]`), []bool{true, false}},
		{"maps as entries sorted by key", fromJSON(t, arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32), `[[{"key":"a","value":1},{"key":"b","value":2}], [{"key":"a","value":1}]]`),
			fromJSON(t, arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), `[[{"key":"b","value":2},{"key":"a","value":1}], [{"key":"a","value":2}]]`), []bool{true, false}},
		{"structs by field name", fromJSON(t, arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}), `[{"a":1,"b":"x"}, {"a":1,"b":null}, null]`),
			fromJSON(t, arrow.StructOf(arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), `[{"b":"x","a":1}, {"b":"","a":1}, null]`), []bool{true, false, true}},
		{"uuids", uuids(t, "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174001"),
			uuids(t, "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"), []bool{true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ta, err := canonicalType(c.a.DataType())
			if err != nil {
				t.Fatal(err)
			}
			tb, err := canonicalType(c.b.DataType())
			if err != nil {
				t.Fatal(err)
			}
			if !ta.equal(tb) {
				t.Fatalf("kinds %s and %s are not compatible", ta, tb)
			}
			ea, eb := encodeColumn(t, c.a, noRule), encodeColumn(t, c.b, noRule)
			for i, want := range c.want {
				if got := bytes.Equal(ea[i], eb[i]); got != want {
					t.Errorf("row %d: %v vs %v: equal=%v, want %v", i, c.a.ValueStr(i), c.b.ValueStr(i), got, want)
				}
			}
		})
	}
}

func TestNormalizationRules(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	cases := []struct {
		name string
		rule colRule
		a, b arrow.Array
		want []bool
	}{
		{"truncate to ms", colRule{truncate: 1000, round: -1}, fromJSON(t, ts, `[1000999, 1000, -1]`),
			fromJSON(t, ts, `[1000000, 1999, -1000]`), []bool{true, true, true}},
		{"truncate to s", colRule{truncate: 1_000_000, round: -1}, fromJSON(t, ts, `[1999999, 2000000]`),
			fromJSON(t, ts, `[1000000, 1999999]`), []bool{true, false}},
		{"truncate times", colRule{truncate: 1000, round: -1}, fromJSON(t, arrow.FixedWidthTypes.Time64us, `[1500999]`),
			fromJSON(t, arrow.FixedWidthTypes.Time64us, `[1500000]`), []bool{true}},
		{"round floats", colRule{round: 2}, floats64(1.234, 2.675, -0.001, math.NaN()),
			floats64(1.2349, 2.67, 0, math.NaN()), []bool{true, true, true, true}},
		{"round floats apart", colRule{round: 1}, floats64(1.25, 1.35),
			floats64(1.14, 1.46), []bool{false, false}},
		{"round decimals half away from zero", colRule{round: 1}, fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 3}, `["1.250", "-1.250", "1.249"]`),
			fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 1}, `["1.3", "-1.3", "1.2"]`), []bool{true, true, true}},
		{"empty as null", colRule{round: -1, emptyNull: true}, fromJSON(t, arrow.BinaryTypes.String, `["", null, "x"]`),
			fromJSON(t, arrow.BinaryTypes.String, `[null, "", "x"]`), []bool{true, true, true}},
		{"empty binary as null", colRule{round: -1, emptyNull: true}, fromJSON(t, arrow.BinaryTypes.Binary, `["", "AA=="]`),
			fromJSON(t, arrow.BinaryTypes.LargeBinary, `[null, "AA=="]`), []bool{true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ea, eb := encodeColumn(t, c.a, c.rule), encodeColumn(t, c.b, c.rule)
			for i, want := range c.want {
				if got := bytes.Equal(ea[i], eb[i]); got != want {
					t.Errorf("row %d: %v vs %v: equal=%v, want %v", i, c.a.ValueStr(i), c.b.ValueStr(i), got, want)
				}
			}
		})
	}
}

func TestSlicedArrays(t *testing.T) {
	arr := fromJSON(t, arrow.BinaryTypes.String, `["skip", "a", null, "bc", "skip"]`)
	s := array.NewSlice(arr, 1, 4)
	enc := encodeColumn(t, s, noRule)
	want := encodeColumn(t, fromJSON(t, arrow.BinaryTypes.String, `["a", null, "bc"]`), noRule)
	for i := range want {
		if !bytes.Equal(enc[i], want[i]) {
			t.Errorf("row %d: % x, want % x", i, enc[i], want[i])
		}
	}
	ints := array.NewSlice(fromJSON(t, arrow.PrimitiveTypes.Int64, `[9, 1, null, 3]`), 1, 4)
	got := encodeColumn(t, ints, noRule)
	wantI := encodeColumn(t, fromJSON(t, arrow.PrimitiveTypes.Int64, `[1, null, 3]`), noRule)
	for i := range wantI {
		if !bytes.Equal(got[i], wantI[i]) {
			t.Errorf("int row %d: % x, want % x", i, got[i], wantI[i])
		}
	}
}

func TestDecodeValues(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "America/New_York"}
	cases := []struct {
		arr  arrow.Array
		want string
	}{
		{fromJSON(t, ts, `[1700000000123456789]`), `2023-11-14T22:13:20.123456Z`},
		{fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 3}, `["-12.500"]`), `-12.5`},
		{fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 0}, `["1200"]`), `1200`},
		{fromJSON(t, &arrow.Decimal128Type{Precision: 10, Scale: 4}, `["0.0050"]`), `0.005`},
		{fromJSON(t, arrow.FixedWidthTypes.Date32, `[19000]`), `2022-01-08`},
		{fromJSON(t, arrow.FixedWidthTypes.Time64us, `[3723000004]`), `01:02:03.000004`},
		{fromJSON(t, arrow.BinaryTypes.Binary, `["AAH/"]`), `0x0001ff`},
		{uuids(t, "123e4567-e89b-12d3-a456-426614174000"), `123e4567-e89b-12d3-a456-426614174000`},
		{floats64(math.NaN()), `NaN`},
		{floats64(math.Inf(-1)), `-Infinity`},
	}
	for _, c := range cases {
		ct, err := canonicalType(c.arr.DataType())
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeValue(appendValue(nil, c.arr, 0, noRule), ct)
		if err != nil {
			t.Fatal(err)
		}
		if v != c.want {
			t.Errorf("%s: decoded %v, want %s", c.arr.DataType(), v, c.want)
		}
	}
}

// FuzzDecodeRow feeds arbitrary bytes to the decoders of canonical rows:
// they must return an error or a value, never panic.
func FuzzDecodeRow(f *testing.F) {
	f.Add([]byte{tagInt, 0, 0, 0, 0, 0, 0, 0, 1, tagString, 2, 'h', 'i', tagNull})
	f.Add([]byte{tagList, 2, tagTrue, tagDecimal, 1, 1, 5})
	f.Add([]byte{tagMap, 1, tagString, 0, tagStruct, 1, tagNull})
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			n, err := skipValue(b)
			if err != nil {
				return
			}
			v := b[:n]
			if _, err := decodeValue(v, nil); err != nil {
				t.Fatalf("skipValue accepted % x but decodeValue failed: %v", v, err)
			}
			_ = appendOrderKey(nil, v)
			b = b[n:]
		}
	})
}
