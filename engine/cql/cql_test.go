package cql

import (
	"errors"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

const P = Package

func TestParseMarshalRoundTrip(t *testing.T) {
	cases := []struct{ in, cql string }{
		{P + "UTF8Type", "text"},
		{P + "Int32Type", "int"},
		{P + "CounterColumnType", "counter"},
		{P + "ReversedType(" + P + "Int32Type)", "int"},
		{P + "ListType(" + P + "Int32Type)", "list<int>"},
		{P + "FrozenType(" + P + "ListType(" + P + "Int32Type))", "frozen<list<int>>"},
		{P + "MapType(" + P + "UTF8Type," + P + "FrozenType(" + P + "ListType(" + P + "Int32Type)))", "map<text, frozen<list<int>>>"},
		{P + "FrozenType(" + P + "MapType(" + P + "UTF8Type," + P + "SetType(" + P + "Int32Type)))", "frozen<map<text, frozen<set<int>>>>"},
		{P + "TupleType(" + P + "Int32Type," + P + "UTF8Type)", "tuple<int, text>"},
		{P + "TupleType(" + P + "SetType(" + P + "Int32Type)," + P + "SetType(" + P + "UTF8Type))", "tuple<frozen<set<int>>, frozen<set<text>>>"},
		{P + "UserType(ks,61646472,737472656574:" + P + "UTF8Type,7a6970:" + P + "Int32Type)", "addr"},
		{P + "FrozenType(" + P + "UserType(ks,61646472,737472656574:" + P + "UTF8Type))", "frozen<addr>"},
		{P + "CompositeType(" + P + "Int32Type," + P + "UTF8Type)", "'" + P + "CompositeType(" + P + "Int32Type," + P + "UTF8Type)'"},
		{P + "VectorType(" + P + "FloatType,3)", "vector<float, 3>"},
		{P + "ReversedType(" + P + "FrozenType(" + P + "ListType(" + P + "TimestampType)))", "frozen<list<timestamp>>"},
		{P + "DateType", "'" + P + "DateType'"},
	}
	for _, c := range cases {
		ty, err := ParseMarshal(c.in)
		if err != nil {
			t.Fatalf("ParseMarshal(%s): %v", c.in, err)
		}
		if got := ty.String(); got != c.in {
			t.Errorf("String() = %s, want %s", got, c.in)
		}
		if got := ty.CQL(); got != c.cql {
			t.Errorf("CQL(%s) = %s, want %s", c.in, got, c.cql)
		}
	}
	short, err := ParseMarshal("MapType(UTF8Type, Int32Type)")
	if err != nil || short.CQL() != "map<text, int>" || !short.MultiCell() {
		t.Fatalf("short names: %v %v", short, err)
	}
	udt, _ := ParseMarshal(cases[10].in)
	if !udt.MultiCell() || udt.Name != "addr" || udt.Fields[0] != "street" || udt.Keyspace != "ks" {
		t.Fatalf("udt = %+v", udt)
	}
	rev, _ := ParseMarshal(cases[3].in)
	if !rev.Reversed || rev.FixedLen() != 4 {
		t.Fatalf("reversed = %+v", rev)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{
		"", "Foo", P + "NoSuchType", P + "ListType(", P + "ListType()", P + "MapType(" + P + "Int32Type)",
		P + "UserType(ks,zz,61:" + P + "Int32Type)", P + "VectorType(" + P + "FloatType,0)", "com.example.Int32Type",
		P + "Int32Type)", strings.Repeat(P+"ListType(", 100) + P + "Int32Type" + strings.Repeat(")", 100),
	} {
		_, err := ParseMarshal(s)
		if !errors.Is(err, ErrBadType) {
			t.Errorf("ParseMarshal(%q) = %v, want ErrBadType", s, err)
		} else if !strings.Contains(err.Error(), "offset") {
			t.Errorf("error %q does not name the offset", err)
		}
	}
}

func TestParseCQL(t *testing.T) {
	addr := UDTOf("ks", "addr", []string{"street", "zip"}, []*Type{Simple(KindText), Simple(KindInt)})
	udts := func(ks, name string) (*Type, error) {
		if name == "addr" {
			return addr, nil
		}
		return nil, errors.New("no")
	}
	cases := []struct{ in, marshal string }{
		{"int", P + "Int32Type"},
		{"varchar", P + "UTF8Type"},
		{"frozen<map<text,int>>", P + "FrozenType(" + P + "MapType(" + P + "UTF8Type," + P + "Int32Type))"},
		{"list<int>", P + "ListType(" + P + "Int32Type)"},
		{"map<text, list<int>>", P + "MapType(" + P + "UTF8Type," + P + "FrozenType(" + P + "ListType(" + P + "Int32Type)))"},
		{"tuple<int, text>", P + "TupleType(" + P + "Int32Type," + P + "UTF8Type)"},
		{"addr", addr.String()},
		{"frozen<ks.addr>", P + "FrozenType(" + addr.String() + ")"},
		{"vector<float, 3>", P + "VectorType(" + P + "FloatType,3)"},
		{"'" + P + "Int32Type'", P + "Int32Type"},
	}
	for _, c := range cases {
		ty, err := ParseCQL(c.in, udts)
		if err != nil {
			t.Fatalf("ParseCQL(%s): %v", c.in, err)
		}
		if ty.String() != c.marshal {
			t.Errorf("ParseCQL(%s) = %s, want %s", c.in, ty, c.marshal)
		}
	}
	for _, bad := range []string{"nosuch", "list<", "map<int>", "frozen<int", "list<int>>"} {
		if _, err := ParseCQL(bad, nil); !errors.Is(err, ErrBadType) {
			t.Errorf("ParseCQL(%q) = %v, want ErrBadType", bad, err)
		}
	}
}

func mustCQL(t *testing.T, s string) *Type {
	t.Helper()
	ty, err := ParseCQL(s, func(ks, name string) (*Type, error) {
		return UDTOf("ks", "u", []string{"a", "b"}, []*Type{Simple(KindInt), Simple(KindText)}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestValuesRoundTrip(t *testing.T) {
	u, _ := ParseUUID("50554d6e-29bb-11e5-b345-feff819cdc9f")
	cases := []struct {
		typ     string
		in      any
		want    any // decoded value (nil: same as in)
		literal string
		json    string
	}{
		{"ascii", "abc", nil, "'abc'", `"abc"`},
		{"text", "it's é", nil, "'it''s é'", `"it's é"`},
		{"bigint", int64(-5), nil, "-5", "-5"},
		{"counter", int64(7), nil, "7", "7"},
		{"blob", []byte{0xca, 0xfe}, nil, "0xcafe", `"0xcafe"`},
		{"boolean", true, nil, "true", "true"},
		{"date", time.Date(2021, 5, 14, 0, 0, 0, 0, time.UTC), DateOf(time.Date(2021, 5, 14, 0, 0, 0, 0, time.UTC)), "'2021-05-14'", `"2021-05-14"`},
		{"decimal", "-12.340", Decimal{big.NewInt(-12340), 3}, "-12.340", "-12.340"},
		{"double", 1.5, nil, "1.5", "1.5"},
		{"double", math.Inf(1), nil, "Infinity", `"Infinity"`},
		{"duration", Duration{14, 3, 3_600_000_000_005}, nil, "1y2mo3d1h5ns", `"1y2mo3d1h5ns"`},
		{"float", float32(2.25), nil, "2.25", "2.25"},
		{"inet", "192.168.0.1", netip.MustParseAddr("192.168.0.1"), "'192.168.0.1'", `"192.168.0.1"`},
		{"inet", "::1", netip.MustParseAddr("::1"), "'::1'", `"::1"`},
		{"int", 42, int32(42), "42", "42"},
		{"smallint", -3, int16(-3), "-3", "-3"},
		{"tinyint", 127, int8(127), "127", "127"},
		{"time", 13*time.Hour + 5*time.Millisecond, Time(13*3600e9 + 5e6), "'13:00:00.005000000'", `"13:00:00.005000000"`},
		{"timestamp", time.UnixMilli(1620985580234), Timestamp(1620985580234), "'2021-05-14 09:46:20.234Z'", `"2021-05-14 09:46:20.234Z"`},
		{"timeuuid", u, nil, u.String(), `"` + u.String() + `"`},
		{"uuid", u.String(), u, u.String(), `"` + u.String() + `"`},
		{"varint", "-170141183460469231731687303715884105728", nil, "-170141183460469231731687303715884105728", "-170141183460469231731687303715884105728"},
		{"varint", 255, big.NewInt(255), "255", "255"},
		{"frozen<list<int>>", []int{3, 1}, []any{int32(3), int32(1)}, "[3, 1]", "[3, 1]"},
		{"frozen<set<text>>", []string{"b", "a", "b"}, []any{"a", "b"}, "{'a', 'b'}", `["a", "b"]`},
		{"frozen<map<int, text>>", map[int]string{2: "x", 1: "y"}, []MapEntry{{int32(1), "y"}, {int32(2), "x"}}, "{1: 'y', 2: 'x'}", `{"1": "y", "2": "x"}`},
		{"tuple<int, text, int>", []any{1, "a"}, []any{int32(1), "a", nil}, "(1, 'a', null)", `[1, "a", null]`},
		{"frozen<u>", map[string]any{"b": "x"}, []any{nil, "x"}, "{a: null, b: 'x'}", `{"a": null, "b": "x"}`},
		{"vector<float, 2>", []float32{1, 2}, []any{float32(1), float32(2)}, "[1.0, 2.0]", "[1.0, 2.0]"},
		{"vector<text, 2>", []string{"a", "bc"}, []any{"a", "bc"}, "['a', 'bc']", `["a", "bc"]`},
	}
	for _, c := range cases {
		ty := mustCQL(t, c.typ)
		b, err := Encode(ty, c.in)
		if err != nil {
			t.Fatalf("Encode(%s, %v): %v", c.typ, c.in, err)
		}
		got, err := Decode(ty, b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", c.typ, err)
		}
		want := c.want
		if want == nil {
			want = c.in
		}
		if wb, ok := want.(*big.Int); ok {
			if got.(*big.Int).Cmp(wb) != 0 {
				t.Errorf("%s: got %v want %v", c.typ, got, want)
			}
		} else if ws, ok := want.(string); ok && c.typ == "varint" {
			if got.(*big.Int).String() != ws {
				t.Errorf("%s: got %v want %v", c.typ, got, want)
			}
		} else if d, ok := want.(Decimal); ok {
			if got.(Decimal).String() != d.String() {
				t.Errorf("%s: got %v want %v", c.typ, got, want)
			}
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v want %#v", c.typ, got, want)
		}
		if l := Literal(ty, b); l != c.literal {
			t.Errorf("Literal(%s) = %s, want %s", c.typ, l, c.literal)
		}
		if j := JSON(ty, b); j != c.json {
			t.Errorf("JSON(%s) = %s, want %s", c.typ, j, c.json)
		}
	}
	if s := String(Simple(KindText), []byte("foo")); s != "foo" {
		t.Fatalf("String(text) = %q", s)
	}
	ts, _ := Encode(Simple(KindTimestamp), Timestamp(1620985580234))
	if s := String(Simple(KindTimestamp), ts); s != "2021-05-14T09:46:20.234Z" {
		t.Fatalf("String(timestamp) = %q", s)
	}
	// A counter context decodes to its total.
	ctx := []byte{0, 1, 0x80, 0, 0x28, 0x96, 0xde, 0x5c, 0x78, 0x6d, 0x41, 0x1e, 0x94, 0xa8, 0x25, 0xc8, 0xf2, 0x4f, 0xa7, 0x28, 0, 6, 0, 0xfb, 0xf5, 0x69, 0xb5, 0xe8, 0, 0, 0, 0, 0, 0, 0, 1}
	if v, err := Decode(Simple(KindCounter), ctx); err != nil || v != int64(1) {
		t.Fatalf("counter = %v %v", v, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		typ string
		b   []byte
	}{
		{"int", []byte{1, 2, 3}},
		{"text", []byte{0xff}},
		{"ascii", []byte{0x80}},
		{"frozen<list<int>>", []byte{0, 0, 0, 5}},
		{"frozen<list<int>>", []byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1}},
		{"frozen<map<int, int>>", []byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1}},
		{"tuple<int>", []byte{0, 0, 0, 9, 1}},
		{"duration", []byte{0xff}},
		{"time", []byte{0xff, 0, 0, 0, 0, 0, 0, 0}},
		{"inet", []byte{1, 2, 3}},
		{"vector<float, 2>", []byte{1, 2, 3}},
		{"counter", []byte{0, 1, 2}},
	}
	for _, c := range cases {
		if _, err := Decode(mustCQL(t, c.typ), c.b); !errors.Is(err, ErrBadValue) {
			t.Errorf("Decode(%s, %x) = %v, want ErrBadValue", c.typ, c.b, err)
		}
	}
}

func TestCompare(t *testing.T) {
	enc := func(ty *Type, v any) []byte {
		b, err := Encode(ty, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		typ  string
		a, b any
		want int
	}{
		{"int", -1, 1, -1},
		{"bigint", int64(math.MinInt64), int64(0), -1},
		{"text", "10", "9", -1},
		{"double", math.Copysign(0, -1), 0.0, -1},
		{"double", math.NaN(), math.Inf(1), 1},
		{"float", float32(-2), float32(-1), -1},
		{"varint", -300, 2, -1},
		{"decimal", "1.0", "1.00", 0},
		{"decimal", "-1.5", "1", -1},
		{"date", DateOf(time.Unix(-86400, 0)), DateOf(time.Unix(0, 0)), -1},
		{"timestamp", time.UnixMilli(-5), time.UnixMilli(5), -1},
		{"timeuuid", "00000000-0000-1000-8000-000000000000", "00000001-0000-1000-8000-000000000000", -1},
		{"timeuuid", "ffffffff-0000-1000-8000-000000000000", "00000000-0001-1000-8000-000000000000", -1}, // time_mid outranks time_low
		{"uuid", "00000000-0000-4000-8000-000000000000", "00000000-0000-1000-8000-000000000000", 1},      // version first
		{"frozen<list<int>>", []int{1, 2}, []int{1, 2, 0}, -1},
		{"tuple<int, text>", []any{1, "b"}, []any{1, "a"}, 1},
		{"boolean", false, true, -1},
	}
	for _, c := range cases {
		ty := mustCQL(t, c.typ)
		if got := Compare(ty, enc(ty, c.a), enc(ty, c.b)); got != c.want {
			t.Errorf("Compare(%s, %v, %v) = %d, want %d", c.typ, c.a, c.b, got, c.want)
		}
		if got := Compare(ty.Reverse(), enc(ty, c.a), enc(ty, c.b)); got != -c.want {
			t.Errorf("reversed Compare(%s, %v, %v) = %d, want %d", c.typ, c.a, c.b, got, -c.want)
		}
	}
	if Compare(Simple(KindInt), nil, []byte{0, 0, 0, 0}) != -1 {
		t.Fatal("empty does not sort first")
	}
}

func TestVint(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 16383, 16384, 1 << 40, math.MaxUint64} {
		b := AppendUvarint(nil, v)
		if len(b) != UvarintSize(v) {
			t.Fatalf("size of %d", v)
		}
		got, n := Uvarint(b)
		if got != v || n != len(b) {
			t.Fatalf("round trip %d: %d %d", v, got, n)
		}
		if _, n := Uvarint(b[:len(b)-1]); len(b) > 1 && n != 0 {
			t.Fatalf("short buffer accepted for %d", v)
		}
	}
	for _, v := range []int64{0, -1, 1, math.MinInt64, math.MaxInt64} {
		got, _ := Varint(AppendVarint(nil, v))
		if got != v {
			t.Fatalf("signed round trip %d", v)
		}
	}
}

func FuzzParseMarshal(f *testing.F) {
	for _, s := range []string{P + "UTF8Type", P + "MapType(" + P + "UTF8Type," + P + "FrozenType(" + P + "ListType(" + P + "Int32Type)))",
		P + "UserType(ks,61646472,737472656574:" + P + "UTF8Type)", P + "VectorType(" + P + "FloatType,3)", "ReversedType(TupleType(Int32Type,UTF8Type))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ty, err := ParseMarshal(s)
		if err != nil {
			return
		}
		again, err := ParseMarshal(ty.String())
		if err != nil || again.String() != ty.String() {
			t.Fatalf("%q → %q does not round trip: %v", s, ty.String(), err)
		}
		_ = ty.CQL()
	})
}

func FuzzDecode(f *testing.F) {
	types := []string{"int", "text", "decimal", "varint", "duration", "frozen<map<text, frozen<list<int>>>>", "tuple<int, text, frozen<set<bigint>>>", "vector<text, 3>", "inet", "counter", "time", "date"}
	for i := range types {
		f.Add(uint8(i), []byte{0, 0, 0, 1, 0, 0, 0, 1, 'a'})
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		ty := mustCQL(t, types[int(which)%len(types)])
		v, err := Decode(ty, b)
		_ = Literal(ty, b)
		_ = JSON(ty, b)
		_ = Compare(ty, b, b)
		if err != nil {
			return
		}
		// What decodes must re-encode to bytes that decode to the same value.
		e, err := Encode(ty, v)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", v, err)
		}
		v2, err := Decode(ty, e)
		if err != nil || Literal(ty, e) != FormatValue(ty, v2) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
