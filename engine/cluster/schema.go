package cluster

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// ColumnSpec is one column of a TableSpec.
type ColumnSpec struct {
	Name string
	// Type is the CQL type: "text", "set<text>", "map<text, int>",
	// "frozen<address>" (a TypeSpec), "tuple<int, text>", "counter", …
	Type string
	// Desc puts a clustering column in DESC order.
	Desc bool
}

// TypeSpec is a user-defined type (CREATE TYPE).
type TypeSpec struct {
	Name   string
	Fields []ColumnSpec
}

// TableSpec describes one table of the simulated keyspace. A table whose
// regular columns are all counters is a counter table.
type TableSpec struct {
	Name         string
	PartitionKey []ColumnSpec
	Clustering   []ColumnSpec
	Static       []ColumnSpec
	Regular      []ColumnSpec
	// Partitions is the number of distinct partitions the workload writes
	// (default Options.Partitions); RowsPerPartition the number of distinct
	// clustering rows per partition (default Options.RowsPerPartition).
	Partitions       int
	RowsPerPartition int
	// DefaultTTL is the table's default_time_to_live in seconds: the
	// coordinator applies it to writes without their own TTL.
	DefaultTTL int
	// Weight is the table's share of the mutations (default 1).
	Weight int
}

// ColumnChange is a schema change between two backups: ALTER TABLE ADD.
type ColumnChange struct {
	Table  string
	Column ColumnSpec
	// AfterRound: the column is added between backup round AfterRound and
	// the next one (1-based).
	AfterRound int
}

// column is a resolved column of a table.
type column struct {
	name  string
	typ   string // canonical CQL type
	t     *cql.Type
	kind  schema.Kind
	desc  bool
	pos   int // index in the partition key or clustering
	idx   int // index in table.cols
	added int // schema version that added it (0: from the start)
}

// table is a resolved TableSpec with its partition pool.
type table struct {
	spec    TableSpec
	ks      string
	name    string
	id      string // 32 hex digits
	cols    []*column
	pk, ck  []*column
	static  []*column
	regular []*column
	counter bool
	parts   []*partition
	weight  int
	ttl     int32 // default_time_to_live
}

// partition is one partition key of a table's pool, with its pool of
// clustering rows.
type partition struct {
	vals  []any
	key   []byte
	token int64
	rows  []*ckRow // sorted in clustering order
}

type ckRow struct {
	vals []any
	b    [][]byte
}

func (t *table) column(name string) *column {
	for _, c := range t.cols {
		if c.name == name {
			return c
		}
	}
	return nil
}

// valueCols are the static and regular columns present at schema version v.
func (t *table) valueCols(v int) []*column {
	var out []*column
	for _, c := range t.cols {
		if (c.kind == schema.Static || c.kind == schema.Regular) && c.added <= v {
			out = append(out, c)
		}
	}
	return out
}

// sstableSchema is what the SSTable writer needs at schema version v.
func (t *table) sstableSchema(v int) *sstable.Schema {
	s := &sstable.Schema{Keyspace: t.ks, Table: t.name}
	for _, c := range t.cols {
		if c.added > v {
			continue
		}
		ty := c.t
		if c.desc {
			ty = ty.Reverse()
		}
		d := sstable.ColumnDef{Name: c.name, Type: ty}
		switch c.kind {
		case schema.PartitionKey:
			s.PartitionKey = append(s.PartitionKey, d)
		case schema.Clustering:
			s.Clustering = append(s.Clustering, d)
		case schema.Static:
			s.Static = append(s.Static, d)
		default:
			s.Regular = append(s.Regular, d)
		}
	}
	return s
}

func tableID(ks, name string) string {
	sum := md5.Sum([]byte(ks + "." + name))
	sum[6] = sum[6]&0x0f | 0x30 // a name-based UUID, version 3, as Cassandra makes for system tables
	sum[8] = sum[8]&0x3f | 0x80
	return hex.EncodeToString(sum[:])
}

// resolveTables checks the specs and resolves their types.
func resolveTables(ks string, types []TypeSpec, specs []TableSpec, changes []ColumnChange) ([]*table, map[string]*cql.Type, error) {
	udts := map[string]*cql.Type{}
	var resolver cql.UDTResolver = func(_, name string) (*cql.Type, error) {
		if t := udts[name]; t != nil {
			return t, nil
		}
		return nil, fmt.Errorf("%w: unknown type %s", cql.ErrBadType, name)
	}
	for _, ts := range types {
		var names []string
		var fts []*cql.Type
		for _, f := range ts.Fields {
			ft, err := cql.ParseCQL(f.Type, resolver)
			if err != nil {
				return nil, nil, fmt.Errorf("type %s field %s: %w", ts.Name, f.Name, err)
			}
			names = append(names, f.Name)
			fts = append(fts, ft.Freeze())
		}
		udts[ts.Name] = cql.UDTOf(ks, ts.Name, names, fts)
	}
	var out []*table
	seen := map[string]bool{}
	for _, sp := range specs {
		if sp.Name == "" || seen[sp.Name] {
			return nil, nil, fmt.Errorf("%w: table name %q empty or repeated", ErrBadOptions, sp.Name)
		}
		seen[sp.Name] = true
		t := &table{spec: sp, ks: ks, name: sp.Name, id: tableID(ks, sp.Name), weight: max(sp.Weight, 1), ttl: int32(sp.DefaultTTL)}
		add := func(cs ColumnSpec, kind schema.Kind, pos, version int) error {
			if cs.Name == "" || t.column(cs.Name) != nil {
				return fmt.Errorf("%w: table %s: column name %q empty or repeated", ErrBadOptions, sp.Name, cs.Name)
			}
			ty, err := cql.ParseCQL(cs.Type, resolver)
			if err != nil {
				return fmt.Errorf("table %s column %s: %w", sp.Name, cs.Name, err)
			}
			if (kind == schema.PartitionKey && !keyType(ty)) || (kind == schema.Clustering && !orderedType(ty)) {
				return fmt.Errorf("%w: table %s: %s columns of type %s are not supported by the generator", ErrBadOptions, sp.Name, kind, cs.Type)
			}
			if (kind == schema.Static || kind == schema.Regular) && !valueType(ty) {
				return fmt.Errorf("%w: table %s: columns of type %s are not supported by the generator", ErrBadOptions, sp.Name, cs.Type)
			}
			c := &column{name: cs.Name, typ: ty.CQL(), t: ty, kind: kind, desc: cs.Desc && kind == schema.Clustering, pos: pos, idx: len(t.cols), added: version}
			if kind != schema.PartitionKey && kind != schema.Clustering {
				c.pos = -1
			}
			t.cols = append(t.cols, c)
			switch kind {
			case schema.PartitionKey:
				t.pk = append(t.pk, c)
			case schema.Clustering:
				t.ck = append(t.ck, c)
			case schema.Static:
				t.static = append(t.static, c)
			default:
				t.regular = append(t.regular, c)
			}
			return nil
		}
		if len(sp.PartitionKey) == 0 {
			return nil, nil, fmt.Errorf("%w: table %s has no partition key", ErrBadOptions, sp.Name)
		}
		for i, c := range sp.PartitionKey {
			if err := add(c, schema.PartitionKey, i, 0); err != nil {
				return nil, nil, err
			}
		}
		for i, c := range sp.Clustering {
			if err := add(c, schema.Clustering, i, 0); err != nil {
				return nil, nil, err
			}
		}
		if len(sp.Static) > 0 && len(sp.Clustering) == 0 {
			return nil, nil, fmt.Errorf("%w: table %s: static columns need clustering columns", ErrBadOptions, sp.Name)
		}
		for _, c := range sp.Static {
			if err := add(c, schema.Static, -1, 0); err != nil {
				return nil, nil, err
			}
		}
		for _, c := range sp.Regular {
			if err := add(c, schema.Regular, -1, 0); err != nil {
				return nil, nil, err
			}
		}
		counters := 0
		for _, c := range append(slices.Clone(t.static), t.regular...) {
			if c.t.Kind == cql.KindCounter {
				counters++
			}
		}
		if counters > 0 && (counters != len(t.static)+len(t.regular)) {
			return nil, nil, fmt.Errorf("%w: table %s mixes counter and non-counter columns", ErrBadOptions, sp.Name)
		}
		t.counter = counters > 0
		if t.counter && sp.DefaultTTL > 0 {
			return nil, nil, fmt.Errorf("%w: counter table %s cannot have a default TTL", ErrBadOptions, sp.Name)
		}
		if len(t.regular)+len(t.static) == 0 {
			return nil, nil, fmt.Errorf("%w: table %s has no regular columns", ErrBadOptions, sp.Name)
		}
		out = append(out, t)
	}
	for v, ch := range changes {
		var t *table
		for _, x := range out {
			if x.name == ch.Table {
				t = x
			}
		}
		if t == nil {
			return nil, nil, fmt.Errorf("%w: schema change names unknown table %q", ErrBadOptions, ch.Table)
		}
		ty, err := cql.ParseCQL(ch.Column.Type, resolver)
		if err != nil {
			return nil, nil, fmt.Errorf("schema change %s.%s: %w", ch.Table, ch.Column.Name, err)
		}
		if !valueType(ty) || (ty.Kind == cql.KindCounter) != t.counter || t.column(ch.Column.Name) != nil {
			return nil, nil, fmt.Errorf("%w: schema change %s.%s: bad or repeated column of type %s", ErrBadOptions, ch.Table, ch.Column.Name, ch.Column.Type)
		}
		c := &column{name: ch.Column.Name, typ: ty.CQL(), t: ty, kind: schema.Regular, pos: -1, idx: len(t.cols), added: v + 1}
		t.cols = append(t.cols, c)
		t.regular = append(t.regular, c)
	}
	return out, udts, nil
}

// Column types the generator can order itself (keys, clustering, set
// elements and map keys): the truth orders clusterings and collections
// without the engine's comparators.
func keyType(t *cql.Type) bool {
	switch t.Kind {
	case cql.KindText, cql.KindAscii, cql.KindInt, cql.KindBigint, cql.KindSmallint, cql.KindTinyint,
		cql.KindBlob, cql.KindTimestamp, cql.KindDate, cql.KindBoolean:
		return true
	case cql.KindUUID, cql.KindTimeuuid, cql.KindDouble, cql.KindInet:
		// fine as partition keys (no order needed); rejected below for clustering
		return true
	}
	return false
}

func orderedType(t *cql.Type) bool {
	switch t.Kind {
	case cql.KindText, cql.KindAscii, cql.KindInt, cql.KindBigint, cql.KindSmallint, cql.KindTinyint,
		cql.KindBlob, cql.KindTimestamp, cql.KindDate, cql.KindBoolean:
		return true
	}
	return false
}

func valueType(t *cql.Type) bool {
	switch t.Kind {
	case cql.KindList:
		return scalarType(t.Elems[0])
	case cql.KindSet:
		return !t.Frozen && orderedType(t.Elems[0])
	case cql.KindMap:
		return !t.Frozen && orderedType(t.Elems[0]) && scalarType(t.Elems[1])
	case cql.KindUDT:
		if !t.Frozen {
			return false
		}
		fallthrough
	case cql.KindTuple:
		for _, e := range t.Elems {
			if !scalarType(e) {
				return false
			}
		}
		return true
	case cql.KindCounter:
		return true
	}
	return scalarType(t)
}

func scalarType(t *cql.Type) bool {
	switch t.Kind {
	case cql.KindText, cql.KindAscii, cql.KindInt, cql.KindBigint, cql.KindSmallint, cql.KindTinyint,
		cql.KindBlob, cql.KindTimestamp, cql.KindDate, cql.KindBoolean, cql.KindDouble, cql.KindFloat,
		cql.KindUUID, cql.KindTimeuuid, cql.KindInet, cql.KindTime, cql.KindDecimal, cql.KindVarint, cql.KindDuration:
		return true
	}
	return false
}

// schemaCQL renders the keyspace at schema version v the way Medusa's
// schema.cql holds it (the driver's export_as_string).
func (c *Cluster) schemaCQL(v int) string {
	var b strings.Builder
	rep := c.replication
	if rep.Class == "SimpleStrategy" {
		fmt.Fprintf(&b, "CREATE KEYSPACE %s WITH replication = {'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '%d'}  AND durable_writes = true;\n", cql.QuoteIdent(c.keyspace), rep.Factor)
	} else {
		var parts []string
		for _, dc := range sortedKeys(rep.DCFactors) {
			parts = append(parts, fmt.Sprintf("'%s': '%d'", dc, rep.DCFactors[dc]))
		}
		fmt.Fprintf(&b, "CREATE KEYSPACE %s WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', %s}  AND durable_writes = true;\n", cql.QuoteIdent(c.keyspace), strings.Join(parts, ", "))
	}
	for _, ts := range c.opts.Types {
		fmt.Fprintf(&b, "\nCREATE TYPE %s.%s (\n", cql.QuoteIdent(c.keyspace), cql.QuoteIdent(ts.Name))
		for i, f := range ts.Fields {
			sep := ","
			if i == len(ts.Fields)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "    %s %s%s\n", cql.QuoteIdent(f.Name), c.udts[ts.Name].Elems[i].CQL(), sep)
		}
		b.WriteString(");\n")
	}
	for _, t := range c.tables {
		b.WriteString("\n")
		b.WriteString(t.createCQL(v))
	}
	return b.String()
}

func (t *table) createCQL(v int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s.%s (\n", cql.QuoteIdent(t.ks), cql.QuoteIdent(t.name))
	var rest []*column
	for _, c := range t.cols {
		if c.added <= v && (c.kind == schema.Static || c.kind == schema.Regular) {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, func(a, b *column) int { return strings.Compare(a.name, b.name) })
	for _, c := range append(append(slices.Clone(t.pk), t.ck...), rest...) {
		static := ""
		if c.kind == schema.Static {
			static = " static"
		}
		fmt.Fprintf(&b, "    %s %s%s,\n", cql.QuoteIdent(c.name), cqlTypeName(c.t), static)
	}
	var pk []string
	for _, c := range t.pk {
		pk = append(pk, cql.QuoteIdent(c.name))
	}
	key := strings.Join(pk, ", ")
	if len(pk) > 1 {
		key = "(" + key + ")"
	}
	for _, c := range t.ck {
		key += ", " + cql.QuoteIdent(c.name)
	}
	fmt.Fprintf(&b, "    PRIMARY KEY (%s)\n) WITH ", key)
	var with []string
	if len(t.ck) > 0 {
		var ord []string
		for _, c := range t.ck {
			o := "ASC"
			if c.desc {
				o = "DESC"
			}
			ord = append(ord, cql.QuoteIdent(c.name)+" "+o)
		}
		with = append(with, "CLUSTERING ORDER BY ("+strings.Join(ord, ", ")+")")
	}
	with = append(with,
		"bloom_filter_fp_chance = 0.01",
		"caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}",
		"comment = ''",
		"compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'}",
		"compression = {'chunk_length_in_kb': '16', 'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}",
		fmt.Sprintf("default_time_to_live = %d", t.ttl),
		"gc_grace_seconds = 864000")
	b.WriteString(strings.Join(with, "\n    AND "))
	b.WriteString(";\n")
	return b.String()
}

// cqlTypeName is the type as DESCRIBE prints it: UDTs by their bare name.
func cqlTypeName(t *cql.Type) string {
	switch t.Kind {
	case cql.KindUDT:
		n := cql.QuoteIdent(t.Name)
		if t.Frozen {
			return "frozen<" + n + ">"
		}
		return n
	case cql.KindList, cql.KindSet:
		s := map[cql.Kind]string{cql.KindList: "list", cql.KindSet: "set"}[t.Kind] + "<" + cqlTypeName(t.Elems[0]) + ">"
		if t.Frozen {
			return "frozen<" + s + ">"
		}
		return s
	case cql.KindMap:
		s := "map<" + cqlTypeName(t.Elems[0]) + ", " + cqlTypeName(t.Elems[1]) + ">"
		if t.Frozen {
			return "frozen<" + s + ">"
		}
		return s
	case cql.KindTuple:
		var es []string
		for _, e := range t.Elems {
			es = append(es, cqlTypeName(e))
		}
		return "frozen<tuple<" + strings.Join(es, ", ") + ">>"
	}
	return t.CQL()
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
