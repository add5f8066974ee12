// Package rowstest holds a table with every CQL type, one row of it
// written as an SSTable, and the Arrow value each column must have: the
// fixture of the rows and sink tests.
package rowstest

import (
	"context"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// Now is the TTL reference the fixture is written for (seconds).
const Now = 1_700_000_000

// AllTypesDDL is a table with every CQL type the engine maps.
const AllTypesDDL = `CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
CREATE TYPE ks.addr (street text, zip int);
CREATE TABLE ks.all (
  k1 text, k2 int, ck timeuuid, s text static,
  a ascii, bi bigint, bl blob, bo boolean, da date, de decimal, do double, du duration, fl float,
  ine inet, i int, si smallint, ti time, ts timestamp, tu timeuuid, ty tinyint, u uuid, vc varchar, vi varint,
  l list<int>, st set<text>, m map<text, bigint>, fl2 frozen<list<frozen<tuple<int, text>>>>,
  tup frozen<tuple<int, text, boolean>>, ad addr, fad frozen<addr>, vec vector<float, 3>, mu map<int, frozen<set<int>>>,
  PRIMARY KEY ((k1, k2), ck));`

// AllTypes parses the table.
func AllTypes(t testing.TB) *compaction.Table {
	t.Helper()
	s, err := schema.Parse("all.cql", AllTypesDDL)
	if err != nil {
		t.Fatal(err)
	}
	ks := s.Keyspace("ks")
	tb, err := compaction.NewTable(ks, ks.Table("all"))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// WriteAllTypes writes, at Now-10 s, one row with a value in every column, and one
// static-only partition.
func WriteAllTypes(t testing.TB, tb *compaction.Table) []compaction.Input {
	t.Helper()
	b, err := sstable.NewBuilder(tb.SSTableSchema())
	if err != nil {
		t.Fatal(err)
	}
	ts := int64(Now-10) * 1_000_000
	ck, _ := cql.ParseUUID("9b7a1a40-8a0c-11ee-b9d1-0242ac120002")
	u, _ := cql.ParseUUID("123e4567-e89b-12d3-a456-426614174000")
	dec, _ := cql.ParseDecimal("-123.4500")
	vi, _ := new(big.Int).SetString("-12345678901234567890123456789", 10)
	p := b.Partition("key", 7)
	p.Static().Set("s", "static", ts, 0)
	p.Row(ck).Insert(ts, 0).
		Set("a", "ascii", ts, 0).Set("bi", int64(-9000000000), ts, 0).Set("bl", []byte{0xca, 0xfe}, ts, 0).
		Set("bo", true, ts, 0).Set("da", time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), ts, 0).Set("de", dec, ts, 0).
		Set("do", 2.5, ts, 0).Set("du", cql.Duration{Months: 1, Days: -2, Nanos: 3}, ts, 0).Set("fl", float32(1.25), ts, 0).
		Set("ine", netip.MustParseAddr("::1"), ts, 0).Set("i", -5, ts, 0).Set("si", int16(-300), ts, 0).
		Set("ti", cql.Time(13*3600*1e9+1234567), ts, 0).Set("ts", time.Date(2026, 11, 24, 1, 2, 3, 4e6, time.UTC), ts, 0).
		Set("tu", ck, ts, 0).Set("ty", int8(-8), ts, 0).Set("u", u, ts, 0).Set("vc", "varchar é", ts, 0).Set("vi", vi, ts, 0).
		Set("l", []any{3, 1, 2}, ts, 0).Set("st", []any{"b", "a"}, ts, 0).Set("m", map[string]int64{"x": 1, "y": 2}, ts, 0).
		Set("fl2", []any{[]any{1, "one"}, []any{2, nil}}, ts, 0).Set("tup", []any{1, "t", false}, ts, 0).
		Put("ad", "zip", 12345, ts, 0).Set("fad", map[string]any{"street": "main"}, ts, 0).
		Set("vec", []any{float32(1), float32(2), float32(3)}, ts, 0).Set("mu", map[int][]any{1: {5, 4}}, ts, 0)
	b.Partition("static-only", 8).Static().Set("s", "alone", ts, 0)
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	r, err := sstable.OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return []compaction.Input{{Reader: r}}
}

// Want is the expected ValueStr of every column of the full row.
var Want = map[string]string{
	"k1": "key", "k2": "7", "ck": "9b7a1a40-8a0c-11ee-b9d1-0242ac120002", "s": "static",
	"a": "ascii", "bi": "-9000000000", "bl": "yv4=", "bo": "true", "da": "1969-12-31", "de": "-123.4500", "do": "2.5",
	"du": `{"days":-2,"months":1,"nanoseconds":3}`, "fl": "1.25", "ine": "::1", "i": "-5", "si": "-300",
	"ti": "13:00:00.001234", "ts": "2026-11-24T01:02:03.004Z", "tu": "9b7a1a40-8a0c-11ee-b9d1-0242ac120002", "ty": "-8",
	"u": "123e4567-e89b-12d3-a456-426614174000", "vc": "varchar é", "vi": "-12345678901234567890123456789",
	"l": "[3,1,2]", "st": `["a","b"]`, "m": `[{"key":"x","value":1},{"key":"y","value":2}]`,
	"fl2": `[{"0":1,"1":"one"},{"0":2,"1":null}]`, "tup": `{"0":1,"1":"t","2":false}`,
	"ad": `{"street":null,"zip":12345}`, "fad": `{"street":"main","zip":null}`, "vec": "[1,2,3]",
	"mu":         `[{"key":1,"value":[4,5]}]`,
	"_writetime": "2023-11-14T22:13:10Z", "_ttl_expires_at": "(null)", "_snapshot_time": "2026-11-24T00:00:00Z",
}
