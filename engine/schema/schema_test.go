package schema

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseDescribeOutput(t *testing.T) {
	s, err := ParseFile("testdata/medusa-schema.cql")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keyspaces) != 2 {
		t.Fatalf("%d keyspaces, want 2", len(s.Keyspaces))
	}
	shop := s.Keyspace("shop")
	if shop.Replication.Class != "NetworkTopologyStrategy" || shop.Replication.DCFactors["dc1"] != 3 || shop.Replication.DCFactors["dc2"] != 2 {
		t.Errorf("shop replication = %+v", shop.Replication)
	}
	if got := strings.Join(shop.Replication.DCs(), ","); got != "dc1,dc2" {
		t.Errorf("DCs = %s", got)
	}
	if !shop.DurableWrites {
		t.Error("shop durable_writes")
	}
	addr := shop.Type("address")
	if addr == nil || fmt.Sprint(addr.Fields) != "[{street text} {Zip int} {tags frozen<set<text>>}]" {
		t.Errorf("address = %+v", addr)
	}
	orders, err := s.Table("shop", "orders")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range orders.Columns {
		cols = append(cols, fmt.Sprintf("%s:%s:%s:%d", c.Name, c.Type, c.Kind, c.Index))
	}
	want := []string{
		"customer_id:uuid:partition_key:0",
		"Order Date:date:partition_key:1",
		"order_id:timeuuid:clustering:0",
		"total:decimal:regular:-1",
		"items:frozen<map<text, int>>:regular:-1",
		"ship_to:frozen<address>:regular:-1",
		"note:text:static:-1",
		"scores:list<double>:regular:-1",
		"pos:tuple<int, text, frozen<list<int>>>:regular:-1",
		"emb:vector<float, 3>:regular:-1",
	}
	if strings.Join(cols, "\n") != strings.Join(want, "\n") {
		t.Errorf("columns:\n%s\nwant:\n%s", strings.Join(cols, "\n"), strings.Join(want, "\n"))
	}
	if orders.Clustering[0].Order != Desc {
		t.Error("order_id should be DESC")
	}
	if orders.DefaultTTL != 86400 || orders.GCGraceSeconds != 864000 || orders.ID != "5a1c395e-b41f-11e5-9f22-ba0be0483c18" {
		t.Errorf("options: ttl %d gc %d id %q", orders.DefaultTTL, orders.GCGraceSeconds, orders.ID)
	}
	if orders.Options["comment"] != "it's the orders" || orders.Options["caching"] != "{'keys': 'ALL', 'rows_per_partition': 'NONE'}" {
		t.Errorf("options = %v", orders.Options)
	}
	if len(shop.Tables) != 1 {
		t.Errorf("the materialized view became a table: %d tables", len(shop.Tables))
	}
	legacy := s.Keyspace("legacy")
	if legacy.Replication.Class != "SimpleStrategy" || legacy.Replication.Factor != 1 || legacy.DurableWrites {
		t.Errorf("legacy = %+v", legacy)
	}
	kv, _ := s.Table("legacy", "kv")
	if !kv.CompactStorage || len(kv.PartitionKey) != 1 || kv.PartitionKey[0].Name != "key" || kv.GCGraceSeconds != -1 {
		t.Errorf("kv = %+v", kv)
	}
	hits, _ := s.Table("legacy", "hits")
	if len(hits.Clustering) != 2 || hits.Clustering[0].Order != Desc || hits.Clustering[1].Order != Asc || hits.Column("n").Type != "counter" {
		t.Errorf("hits = %+v", hits)
	}
	if _, err := s.Table("shop", "nope"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "orders") {
		t.Errorf("unknown table: %v", err)
	}
	if _, err := s.Table("nope", "x"); !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("unknown keyspace: %v", err)
	}
}

func TestParseVariants(t *testing.T) {
	cases := []struct {
		name, src string
		check     func(*Schema) string
	}{
		{"use and unqualified", `USE ks; CREATE TABLE t (a int PRIMARY KEY, b text);`, func(s *Schema) string {
			tb, err := s.Table("ks", "t")
			if err != nil || tb.PartitionKey[0].Name != "a" {
				return fmt.Sprint(tb, err)
			}
			return ""
		}},
		{"case folding", `CREATE TABLE KS.MyTable ("MyCol" INT, Other TEXT, PRIMARY KEY ("MyCol"));`, func(s *Schema) string {
			tb, err := s.Table("ks", "mytable")
			if err != nil || tb.Column("MyCol") == nil || tb.Column("other") == nil || tb.Column("other").Type != "text" {
				return fmt.Sprint(tb, err)
			}
			return ""
		}},
		{"quoted udt names", `CREATE TABLE ks.t (a int PRIMARY KEY, b frozen<"MyType">, c frozen<ks.addr>, d 'org.apache.cassandra.db.marshal.BytesType');`, func(s *Schema) string {
			tb, _ := s.Table("ks", "t")
			got := tb.Column("b").Type + "|" + tb.Column("c").Type + "|" + tb.Column("d").Type
			if got != `frozen<"MyType">|frozen<ks.addr>|'org.apache.cassandra.db.marshal.BytesType'` {
				return got
			}
			return ""
		}},
		{"escaped quotes", `CREATE TABLE ks."we""ird" ("a""b" int PRIMARY KEY);`, func(s *Schema) string {
			tb, err := s.Table("ks", `we"ird`)
			if err != nil || tb.Column(`a"b`) == nil {
				return fmt.Sprint(err)
			}
			return ""
		}},
		{"transient rf and default rf", `CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 3, 'dc9': '3/1'};`, func(s *Schema) string {
			r := s.Keyspace("k").Replication
			if r.Factor != 3 || r.DCFactors["dc9"] != 3 || len(r.DCFactors) != 1 {
				return fmt.Sprint(r)
			}
			return ""
		}},
		{"if not exists and comments", `
			// line comment
			CREATE KEYSPACE IF NOT EXISTS k WITH replication = {'class':'SimpleStrategy','replication_factor':2}; -- trailing
			CREATE TABLE IF NOT EXISTS k.t (a int, b int, c int, PRIMARY KEY (a, b)) /* inline */ WITH comment = 'x';`, func(s *Schema) string {
			tb, err := s.Table("k", "t")
			if err != nil || tb.Clustering[0].Name != "b" || tb.Options["comment"] != "x" {
				return fmt.Sprint(err)
			}
			return ""
		}},
		{"no trailing semicolon", `CREATE TABLE k.t (a int PRIMARY KEY)`, func(s *Schema) string {
			if _, err := s.Table("k", "t"); err != nil {
				return err.Error()
			}
			return ""
		}},
		{"skipped statements", `CREATE ROLE r WITH PASSWORD = 'x;y' AND LOGIN = true; CREATE OR REPLACE AGGREGATE k.a(int) SFUNC f STYPE int INITCOND (0, 1); CREATE TRIGGER tr ON k.t USING 'x'; CREATE SEARCH INDEX ON k.t WITH OPTIONS { lenient: true }; CREATE VIRTUAL TABLE system_views.x (a int PRIMARY KEY);`, func(s *Schema) string {
			if len(s.Keyspaces) != 0 {
				return fmt.Sprint(s.Keyspaces)
			}
			return ""
		}},
	}
	for _, c := range cases {
		s, err := Parse("x.cql", c.src)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if msg := c.check(s); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		src  string
		kind error
		want string // the whole message
	}{
		{"CREATE TABLE k.t (a int PRIMARY KEY, b text\n  WITH x = 1;", ErrSyntax, `x.cql:2:3: expected "," or ")" in the column list of k.t, found "WITH"`},
		{"CREATE TABLE k.t (a int, b text);", ErrInvalid, `x.cql:1:1: table k.t has no PRIMARY KEY`},
		{"CREATE TABLE k.t (a int, PRIMARY KEY (a, zz));", ErrInvalid, `x.cql:1:26: table k.t: clustering column zz is not defined`},
		{"CREATE TABLE k.t (a int, b int, PRIMARY KEY ((a, b), a));", ErrInvalid, `x.cql:1:33: table k.t: column a appears twice in the PRIMARY KEY`},
		{"CREATE TABLE k.t (a int, b int, c int, PRIMARY KEY (a, b, c)) WITH CLUSTERING ORDER BY (c DESC);", ErrInvalid,
			`x.cql:1:68: table k.t: CLUSTERING ORDER BY must list the clustering columns in key order (b, c), found c`},
		{"CREATE TABLE k.t (a int PRIMARY KEY, s int static);", ErrInvalid, `x.cql:1:38: table k.t: static column s needs clustering columns`},
		{"CREATE TABLE k.t (a int static, b int, PRIMARY KEY (a, b));", ErrInvalid, `x.cql:1:19: table k.t: key column a cannot be static`},
		{"CREATE TABLE k.t (a map<int> PRIMARY KEY);", ErrSyntax, `x.cql:1:21: map takes 2 type argument(s), found 1`},
		{"CREATE TABLE k.t (a int PRIMARY KEY, a text);", ErrInvalid, `x.cql:1:38: table k.t: column a appears twice`},
		{"CREATE TABLE t (a int PRIMARY KEY);", ErrInvalid, `x.cql:1:14: table t has no keyspace: write ks.t or put USE ks; before it`},
		{"CREATE KEYSPACE k WITH durable_writes = true;", ErrInvalid, `x.cql:1:1: keyspace k has no replication option`},
		{"CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'};", ErrInvalid, `x.cql:1:24: keyspace k: SimpleStrategy needs 'replication_factor'`},
		{"CREATE KEYSPACE k WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 'three'};", ErrInvalid, `x.cql:1:24: keyspace k: replication factor dc1 = "three": want a whole number`},
		{"CREATE TABLE k.t (a int PRIMARY KEY) WITH default_time_to_live = 'x';", ErrInvalid, `x.cql:1:43: table k.t: default_time_to_live = x: want a whole number of seconds`},
		{"DROP TABLE k.t;", ErrSyntax, `x.cql:1:1: unsupported statement DROP: a schema file holds CREATE statements only`},
		{"SELEKT 1;", ErrSyntax, `x.cql:1:1: expected a CREATE statement, found "SELEKT"`},
		{"CREATE TABLE k.t (a int PRIMARY KEY) WITH comment = 'never closed;", ErrSyntax, `x.cql:1:53: string is never closed`},
		{"/* open", ErrSyntax, `x.cql:1:1: comment /* is never closed`},
		{"CREATE TABLE k.t (a int PRIMARY KEY) CREATE TABLE k.u (a int PRIMARY KEY);", ErrSyntax, `x.cql:1:38: expected ";" at the end of the statement, found "CREATE"`},
		{"CREATE TABLE k.t (a int PRIMARY KEY);\nCREATE TABLE k.t (a int PRIMARY KEY);", ErrInvalid, `x.cql:2:14: table k.t is created twice`},
		{"CREATE TABLE k.t (é int PRIMARY KEY);", ErrSyntax, `x.cql:1:19: unexpected character 'é'`},
		{"CREATE TABLE k.t (a int PRIMARY KEY, b text PRIMARY KEY);", ErrInvalid, `x.cql:1:45: table k.t: PRIMARY KEY is given twice`},
	}
	for _, c := range cases {
		_, err := Parse("x.cql", c.src)
		if err == nil {
			t.Errorf("%q: no error, want %s", c.src, c.want)
			continue
		}
		if !errors.Is(err, c.kind) {
			t.Errorf("%q: error %v is not %v", c.src, err, c.kind)
		}
		if err.Error() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.src, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("testdata/medusa-schema.cql")
	f.Add(string(b))
	f.Add(`CREATE TABLE k.t (a int, b frozen<map<text, list<int>>>, PRIMARY KEY ((a), b)) WITH CLUSTERING ORDER BY (b DESC);`)
	f.Add(`USE k; CREATE TYPE x ("A" int);`)
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse("f.cql", src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 || e.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		for _, k := range s.Keyspaces {
			for _, tb := range k.Tables {
				if len(tb.PartitionKey) == 0 {
					t.Fatalf("table %s.%s without a partition key", k.Name, tb.Name)
				}
			}
		}
	})
}

// TestAlterDropColumns reads the dropped columns DESCRIBE … WITH INTERNALS
// prints after a CREATE TABLE.
func TestAlterDropColumns(t *testing.T) {
	src := `CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
CREATE TABLE k.t (pk int, ck int, a text, b int, s int static, PRIMARY KEY (pk, ck));
ALTER TABLE k.t DROP a USING TIMESTAMP 1600000000000000;
ALTER TABLE k.t DROP b USING TIMESTAMP 1600000000000001;
ALTER TABLE k.t ADD b int;`
	s, err := Parse("x.cql", src)
	if err != nil {
		t.Fatal(err)
	}
	tb := s.Keyspace("k").Table("t")
	var names []string
	for _, c := range tb.Columns {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "pk,ck,s,b" {
		t.Errorf("columns %s", got)
	}
	want := []DroppedColumn{{Name: "a", Type: "text", Time: 1600000000000000}, {Name: "b", Type: "int", Time: 1600000000000001}}
	if !reflect.DeepEqual(tb.Dropped, want) {
		t.Errorf("dropped %+v", tb.Dropped)
	}
	for _, bad := range []struct{ src, want string }{
		{"ALTER TABLE k.x DROP a USING TIMESTAMP 1;", "before its CREATE TABLE"},
		{src + "\nALTER TABLE k.t DROP pk USING TIMESTAMP 1;", "cannot drop primary key column pk"},
		{src + "\nALTER TABLE k.t DROP zz USING TIMESTAMP 1;", "has no column zz"},
		{src + "\nALTER TABLE k.t DROP s USING TIMESTAMP x;", "expected a timestamp"},
		{src + "\nALTER TABLE k.t WITH comment = 'x';", "unsupported ALTER TABLE"},
	} {
		if _, err := Parse("x.cql", bad.src); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: got %v, want %q", bad.src, err, bad.want)
		}
	}
}
