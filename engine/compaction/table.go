package compaction

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// ErrSchemaMismatch marks SSTables whose serialization header does not fit
// the table schema: another partition key or clustering type, or a column
// of another type. The user's schema (--schema) or backup is wrong: exit 2.
var ErrSchemaMismatch = errors.New("schema does not match the SSTable")

// ErrSchema marks a table schema the engine cannot use (an unparseable
// type, an unknown user type).
var ErrSchema = errors.New("unusable table schema")

// Column is one column of the output: a partition key, clustering, static
// or regular column, with its parsed CQL type.
type Column struct {
	Name string
	Type *cql.Type // the schema type; clustering columns in DESC order are Reversed
	Kind schema.Kind
	// Complex is a multi-cell column (non-frozen collection or UDT): its
	// value comes as cells with paths.
	Complex bool
	// Counter marks a counter column: cells hold counter contexts, merged
	// shard by shard; the output value is the 8-byte total.
	Counter bool

	pathType *cql.Type // complex columns: the type of cell paths
}

// Table is what the merge needs to know of a table: its columns with
// parsed types and its dropped columns. Build it with NewTable.
type Table struct {
	Keyspace, Name string
	Key            []*Column // partition key columns, in key order
	Clustering     []*Column // clustering columns, in clustering order
	// Values are the static and regular columns in declaration order; a
	// Row's Values are indexed like this slice.
	Values []*Column
	// KeyType is the partition key's marshal type (CompositeType for
	// several columns); ClusteringTypes the clustering types, Reversed for
	// DESC, as an SSTable header has them.
	KeyType         *cql.Type
	ClusteringTypes []*cql.Type
	// CompactStatic is a COMPACT STORAGE table without clustering columns:
	// Cassandra stores its CQL row in the static row, so the static row is
	// the row.
	CompactStatic bool
	// Dropped maps a dropped column's name to its drop time (µs): cells
	// written at or before it are ignored.
	Dropped map[string]int64
	// DefaultTTL is default_time_to_live (informational: Cassandra applies
	// it at write time, so cells already carry it).
	DefaultTTL int64

	byName map[string]int // value column index by name
}

// NewTable builds the merge's view of a table of a parsed schema.
func NewTable(ks *schema.Keyspace, t *schema.Table) (*Table, error) {
	res := resolver(ks)
	out := &Table{Keyspace: t.Keyspace, Name: t.Name, CompactStatic: t.CompactStorage && len(t.Clustering) == 0,
		Dropped: map[string]int64{}, DefaultTTL: t.DefaultTTL, byName: map[string]int{}}
	parse := func(c *schema.Column) (*Column, error) {
		typ, err := cql.ParseCQL(c.Type, res)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.%s column %s type %q: %v", ErrSchema, t.Keyspace, t.Name, c.Name, c.Type, err)
		}
		col := &Column{Name: c.Name, Type: typ, Kind: c.Kind, Complex: typ.MultiCell(), Counter: typ.Kind == cql.KindCounter}
		if col.Complex {
			col.pathType = pathType(typ)
		}
		return col, nil
	}
	for _, c := range t.PartitionKey {
		col, err := parse(c)
		if err != nil {
			return nil, err
		}
		out.Key = append(out.Key, col)
	}
	for _, c := range t.Clustering {
		col, err := parse(c)
		if err != nil {
			return nil, err
		}
		if c.Order == schema.Desc {
			col.Type = col.Type.Reverse()
		}
		out.Clustering = append(out.Clustering, col)
		out.ClusteringTypes = append(out.ClusteringTypes, col.Type)
	}
	for _, c := range t.Columns {
		if c.Kind != schema.Static && c.Kind != schema.Regular {
			continue
		}
		col, err := parse(c)
		if err != nil {
			return nil, err
		}
		out.byName[c.Name] = len(out.Values)
		out.Values = append(out.Values, col)
	}
	if len(out.Key) == 0 {
		return nil, fmt.Errorf("%w: %s.%s has no partition key", ErrSchema, t.Keyspace, t.Name)
	}
	if len(out.Key) == 1 {
		out.KeyType = out.Key[0].Type
	} else {
		var ts []*cql.Type
		for _, c := range out.Key {
			ts = append(ts, c.Type)
		}
		out.KeyType = cql.CompositeOf(ts...)
	}
	for _, d := range t.Dropped {
		if d.Time > out.Dropped[d.Name] || out.Dropped[d.Name] == 0 {
			out.Dropped[d.Name] = d.Time
		}
	}
	return out, nil
}

// Value returns the index of a static or regular column in Values, or -1.
func (t *Table) Value(name string) int {
	if i, ok := t.byName[name]; ok {
		return i
	}
	return -1
}

// ColumnTypes are the schema types of the value columns, by name, for
// sstable.Options.ColumnTypes: 3.0 headers may record frozen UDTs without
// FrozenType (CASSANDRA-15035), and the schema knows better.
func (t *Table) ColumnTypes() map[string]*cql.Type {
	out := map[string]*cql.Type{}
	for _, c := range t.Values {
		if hasUDT(c.Type) {
			out[c.Name] = c.Type
		}
	}
	return out
}

func hasUDT(t *cql.Type) bool {
	if t.Kind == cql.KindUDT {
		return true
	}
	for _, e := range t.Elems {
		if hasUDT(e) {
			return true
		}
	}
	return false
}

// resolver resolves user types of a keyspace for cql.ParseCQL.
func resolver(ks *schema.Keyspace) cql.UDTResolver {
	memo := map[string]*cql.Type{}
	var res cql.UDTResolver
	depth := 0
	res = func(keyspace, name string) (*cql.Type, error) {
		if ks == nil {
			return nil, fmt.Errorf("unknown type %s", name)
		}
		if keyspace != "" && keyspace != ks.Name {
			return nil, fmt.Errorf("type %s.%s is in another keyspace", keyspace, name)
		}
		if t, ok := memo[name]; ok {
			return t, nil
		}
		ut := ks.Type(name)
		if ut == nil {
			return nil, fmt.Errorf("unknown type %s", name)
		}
		depth++
		defer func() { depth-- }()
		if depth > 32 {
			return nil, fmt.Errorf("type %s nests too deeply", name)
		}
		var names []string
		var types []*cql.Type
		for _, f := range ut.Fields {
			ft, err := cql.ParseCQL(f.Type, res)
			if err != nil {
				return nil, fmt.Errorf("type %s field %s: %v", name, f.Name, err)
			}
			names = append(names, f.Name)
			types = append(types, ft.Freeze())
		}
		t := cql.UDTOf(ks.Name, name, names, types)
		memo[name] = t
		return t, nil
	}
	return res
}

// pathType is the type of the cell paths of a complex column: time UUIDs
// for lists, the element for sets, the key for maps, the field index
// (a short) for UDTs.
func pathType(t *cql.Type) *cql.Type {
	switch t.Kind {
	case cql.KindList:
		return cql.Simple(cql.KindTimeuuid)
	case cql.KindSet, cql.KindMap:
		return t.Elems[0]
	}
	return cql.Simple(cql.KindSmallint)
}

// binding maps one SSTable's header columns onto the table's value columns.
type binding struct {
	statics  []int   // header static index → value index, -1 to ignore
	regulars []int   // header regular index → value index, -1 to ignore
	sDropped []int64 // header static index → drop time (MinInt64: none; MaxInt64: unknown column, ignore all)
	rDropped []int64
	complexS []bool // header column is complex (cell layout comes from the header)
	complexR []bool
	counterS []bool
	counterR []bool
}

// bind checks an SSTable header against the table and maps its columns.
// name is the SSTable for error messages.
func (t *Table) bind(h *sstable.Header, name string) (*binding, error) {
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: table %s.%s: %s", ErrSchemaMismatch, name, t.Keyspace, t.Name, fmt.Sprintf(format, args...))
	}
	if h.KeyType != nil && !sameType(t.KeyType, h.KeyType, true) {
		return nil, mismatch("the partition key is %s in the schema but %s in the SSTable header", t.KeyType.CQL(), h.KeyType.CQL())
	}
	hidden := t.CompactStatic && len(t.ClusteringTypes) == 0 && len(h.ClusteringTypes) == 1 // Cassandra's hidden column1
	if len(h.ClusteringTypes) != len(t.ClusteringTypes) && !hidden {
		return nil, mismatch("the schema has %d clustering columns, the SSTable header %d", len(t.ClusteringTypes), len(h.ClusteringTypes))
	}
	for i, ct := range t.ClusteringTypes {
		if hidden {
			break
		}
		if !sameType(ct, h.ClusteringTypes[i], true) || ct.Reversed != h.ClusteringTypes[i].Reversed {
			return nil, mismatch("clustering column %s is %s in the schema but %s in the SSTable header", t.Clustering[i].Name, describe(ct), describe(h.ClusteringTypes[i]))
		}
	}
	b := &binding{}
	var unknown []string
	bindCols := func(cols []*sstable.Column, static bool) ([]int, []int64, []bool, []bool, error) {
		idx := make([]int, len(cols))
		dropped := make([]int64, len(cols))
		complexes := make([]bool, len(cols))
		counters := make([]bool, len(cols))
		for i, c := range cols {
			complexes[i] = c.Complex()
			counters[i] = c.Type.Kind == cql.KindCounter
			dropped[i] = math.MinInt64
			if d, ok := t.Dropped[c.Name]; ok {
				dropped[i] = d
			}
			vi := t.Value(c.Name)
			if vi < 0 {
				idx[i] = -1
				if _, ok := t.Dropped[c.Name]; !ok {
					dropped[i] = math.MaxInt64
					unknown = append(unknown, c.Name)
				}
				continue
			}
			col := t.Values[vi]
			wantStatic := col.Kind == schema.Static
			if t.CompactStatic {
				wantStatic = true // compact tables without clustering keep their values in the static row
			}
			if wantStatic != static {
				where := map[bool]string{true: "static", false: "regular"}
				return nil, nil, nil, nil, mismatch("column %s is %s in the schema but %s in the SSTable header", c.Name, where[wantStatic], where[static])
			}
			if !sameType(col.Type, c.Type, false) || col.Complex != c.Complex() {
				return nil, nil, nil, nil, mismatch("column %s is %s in the schema but %s in the SSTable header", c.Name, describe(col.Type), describe(c.Type))
			}
			idx[i] = vi
		}
		return idx, dropped, complexes, counters, nil
	}
	var err error
	if b.statics, b.sDropped, b.complexS, b.counterS, err = bindCols(h.Statics, true); err != nil {
		return nil, err
	}
	if b.regulars, b.rDropped, b.complexR, b.counterR, err = bindCols(h.Regulars, false); err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		slog.Warn("SSTable has columns the schema does not know; reading them as dropped", "sstable", name, "table", t.Keyspace+"."+t.Name, "columns", strings.Join(unknown, ","))
	}
	return b, nil
}

func describe(t *cql.Type) string {
	s := t.CQL()
	if t.Reversed {
		s += " (DESC)"
	}
	return s
}

// sameType compares a schema type with a header type. Frozen-ness matters
// only at the top (it decides the cell layout); reversal is compared by
// the caller where it matters; UDTs may have gained fields since the
// SSTable was written (ALTER TYPE … ADD), so the header's fields need only
// be a prefix of the schema's. Text and varchar are one type.
func sameType(schemaT, headerT *cql.Type, exact bool) bool {
	if schemaT.Kind != headerT.Kind {
		return false
	}
	switch schemaT.Kind {
	case cql.KindUDT:
		if len(headerT.Elems) > len(schemaT.Elems) || (exact && len(headerT.Elems) != len(schemaT.Elems)) {
			return false
		}
		for i, e := range headerT.Elems {
			if i < len(headerT.Fields) && i < len(schemaT.Fields) && headerT.Fields[i] != schemaT.Fields[i] {
				return false
			}
			if !sameType(schemaT.Elems[i], e, exact) {
				return false
			}
		}
		return true
	case cql.KindVector:
		if schemaT.Dim != headerT.Dim {
			return false
		}
	}
	if len(schemaT.Elems) != len(headerT.Elems) {
		return false
	}
	for i := range schemaT.Elems {
		if !sameType(schemaT.Elems[i], headerT.Elems[i], exact) {
			return false
		}
	}
	return true
}

// SSTableSchema is the table as an SSTable writer sees it: the key,
// clustering (Reversed for DESC), static and regular columns. A compact
// table without clustering columns keeps its values as static columns.
func (t *Table) SSTableSchema() *sstable.Schema {
	s := &sstable.Schema{Keyspace: t.Keyspace, Table: t.Name}
	for _, c := range t.Key {
		s.PartitionKey = append(s.PartitionKey, sstable.ColumnDef{Name: c.Name, Type: c.Type})
	}
	for _, c := range t.Clustering {
		s.Clustering = append(s.Clustering, sstable.ColumnDef{Name: c.Name, Type: c.Type})
	}
	for _, c := range t.Values {
		d := sstable.ColumnDef{Name: c.Name, Type: c.Type}
		if c.Kind == schema.Static || t.CompactStatic {
			s.Static = append(s.Static, d)
		} else {
			s.Regular = append(s.Regular, d)
		}
	}
	return s
}

// HeaderTable makes a Table from SSTable headers alone, for tables whose
// schema is not known in advance (the system_schema tables): the key and
// clustering columns get the given names, and the union of the headers'
// static and regular columns become the value columns (by name; the first
// header that has a column gives its type).
func HeaderTable(keyspace, name string, keyNames, clusteringNames []string, headers ...*sstable.Header) (*Table, error) {
	if len(headers) == 0 {
		return nil, fmt.Errorf("%w: %s.%s: no SSTable header", ErrSchema, keyspace, name)
	}
	h := headers[0]
	t := &Table{Keyspace: keyspace, Name: name, KeyType: h.KeyType, Dropped: map[string]int64{}, byName: map[string]int{}}
	keyTypes := []*cql.Type{h.KeyType}
	if len(keyNames) > 1 {
		if h.KeyType.Kind != cql.KindComposite || len(h.KeyType.Elems) != len(keyNames) {
			return nil, fmt.Errorf("%w: %s.%s: the header's key %s does not have %d components", ErrSchemaMismatch, keyspace, name, h.KeyType.CQL(), len(keyNames))
		}
		keyTypes = h.KeyType.Elems
	}
	for i, n := range keyNames {
		t.Key = append(t.Key, &Column{Name: n, Type: keyTypes[i], Kind: schema.PartitionKey})
	}
	if len(h.ClusteringTypes) != len(clusteringNames) {
		return nil, fmt.Errorf("%w: %s.%s: the header has %d clustering columns, want %d", ErrSchemaMismatch, keyspace, name, len(h.ClusteringTypes), len(clusteringNames))
	}
	for i, n := range clusteringNames {
		t.Clustering = append(t.Clustering, &Column{Name: n, Type: h.ClusteringTypes[i], Kind: schema.Clustering})
		t.ClusteringTypes = append(t.ClusteringTypes, h.ClusteringTypes[i])
	}
	for _, hh := range headers {
		for _, group := range [][]*sstable.Column{hh.Statics, hh.Regulars} {
			for _, c := range group {
				if _, ok := t.byName[c.Name]; ok {
					continue
				}
				kind := schema.Regular
				if c.Static {
					kind = schema.Static
				}
				col := &Column{Name: c.Name, Type: c.Type, Kind: kind, Complex: c.Complex(), Counter: c.Type.Kind == cql.KindCounter}
				if col.Complex {
					col.pathType = pathType(c.Type)
				}
				t.byName[c.Name] = len(t.Values)
				t.Values = append(t.Values, col)
			}
		}
	}
	return t, nil
}

// Check reports whether an SSTable's serialization header fits the table:
// an error wrapping ErrSchemaMismatch names the SSTable (name) and the
// column when it does not. It reads nothing.
func (t *Table) Check(h *sstable.Header, name string) error {
	_, err := t.bind(h, name)
	return err
}
