// Package schema parses the CQL DDL of a Cassandra schema: the schema.cql
// that cassandra-medusa stores with every backup (the driver's
// export_as_string, i.e. DESCRIBE SCHEMA), or a file given with --schema.
//
// It keeps what the engine needs to read SSTables and to place data on
// the ring:
//
//	CREATE KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'};
//	    → Keyspace{Replication{Class: NetworkTopologyStrategy, DCFactors: {dc1: 3}}}
//	CREATE TYPE ks.address (street text, zip int);
//	    → Type{Fields}
//	CREATE TABLE ks.t (pk text, ck int, s int static, v frozen<map<text, int>>,
//	                   PRIMARY KEY ((pk), ck)) WITH CLUSTERING ORDER BY (ck DESC)
//	                   AND default_time_to_live = 3600;
//	    → Table{PartitionKey [pk], Clustering [ck DESC], Columns with kinds, DefaultTTL 3600}
//
// Column types stay raw CQL type strings in a canonical spelling
// ("frozen<map<text, int>>"); engine/cql parses them. Statements that do
// not change tables (CREATE INDEX, MATERIALIZED VIEW, FUNCTION, AGGREGATE,
// TRIGGER, ROLE, USER, DSE's SEARCH INDEX, VIRTUAL tables) are skipped. Anything else that is not valid DDL is
// an error with the file, line and column.
package schema

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ErrSyntax marks DDL that cannot be parsed; ErrInvalid marks DDL that
// parses but makes no sense (an unknown key column, two primary keys, …).
// Both come wrapped in *Error, which carries the position.
var (
	ErrSyntax  = errors.New("CQL syntax error")
	ErrInvalid = errors.New("invalid CQL schema")
	ErrUnknown = errors.New("not in the schema")
)

// Error is a parse or validation error at a position of the input.
type Error struct {
	File      string
	Line, Col int
	Msg       string
	kind      error
}

func (e *Error) Error() string {
	f := e.File
	if f == "" {
		f = "schema"
	}
	return fmt.Sprintf("%s:%d:%d: %s", f, e.Line, e.Col, e.Msg)
}

// Unwrap returns ErrSyntax or ErrInvalid.
func (e *Error) Unwrap() error { return e.kind }

// Schema is every keyspace of a schema file, in file order.
type Schema struct {
	Keyspaces []*Keyspace
}

// Keyspace is one keyspace with its types and tables, in file order.
type Keyspace struct {
	Name          string
	Replication   Replication
	DurableWrites bool
	Types         []*Type
	Tables        []*Table
	Line          int // where CREATE KEYSPACE is; 0 when the keyspace is only implied by its tables
}

// Replication is a keyspace's replication strategy.
type Replication struct {
	// Class is the short class name: SimpleStrategy,
	// NetworkTopologyStrategy, LocalStrategy, EverywhereStrategy, …
	Class string
	// Factor is replication_factor for SimpleStrategy.
	Factor int
	// DCFactors is the replication factor per data center for
	// NetworkTopologyStrategy. A transient factor "3/1" counts 3.
	DCFactors map[string]int
	// Options holds every option as written, class included.
	Options map[string]string
}

// DCs returns the data centers of DCFactors, sorted by name.
func (r Replication) DCs() []string {
	var out []string
	for dc := range r.DCFactors {
		out = append(out, dc)
	}
	sort.Strings(out)
	return out
}

// Type is a user-defined type.
type Type struct {
	Keyspace, Name string
	Fields         []Field
	Line           int
}

// Field is one field of a user-defined type.
type Field struct {
	Name, Type string
}

// Kind says what role a column plays.
type Kind int

// The column kinds.
const (
	Regular Kind = iota
	PartitionKey
	Clustering
	Static
)

func (k Kind) String() string {
	return [...]string{"regular", "partition_key", "clustering", "static"}[k]
}

// Order is a clustering column's order.
type Order int

// Clustering orders.
const (
	Asc Order = iota
	Desc
)

func (o Order) String() string {
	if o == Desc {
		return "DESC"
	}
	return "ASC"
}

// Column is one column of a table.
type Column struct {
	Name string
	// Type is the CQL type in canonical spelling: lower-case native
	// types, "frozen<map<text, int>>", user types as ks-less names
	// (quoted when needed), custom types as 'class.Name'.
	Type  string
	Kind  Kind
	Order Order // clustering columns only
	// Index is the column's position in the partition key or among the
	// clustering columns (0-based); -1 for static and regular columns.
	Index int
}

// Table is one table (column family).
type Table struct {
	Keyspace, Name string
	// Columns in declaration order.
	Columns      []*Column
	PartitionKey []*Column
	Clustering   []*Column
	// Options holds every WITH option as written: scalars as their
	// literal text, maps as {'k': 'v', ...}. CLUSTERING ORDER and COMPACT
	// STORAGE are not options; see Clustering and CompactStorage.
	Options        map[string]string
	DefaultTTL     int64  // default_time_to_live, seconds
	GCGraceSeconds int64  // gc_grace_seconds; -1 when not given
	ID             string // the table id (WITH ID = …), lower-case; "" when not given
	CompactStorage bool
	Line           int
	// Dropped lists dropped columns (system_schema.dropped_columns, or
	// ALTER TABLE … DROP … USING TIMESTAMP as DESCRIBE … WITH INTERNALS
	// prints it). A reader ignores their cells written at or before the
	// drop, even when a column of the same name was added again.
	Dropped []DroppedColumn
}

// DroppedColumn is one dropped column of a table.
type DroppedColumn struct {
	Name string
	Type string // CQL type at the drop; "" when not known
	Time int64  // drop time in microseconds since the epoch
}

// Column returns the column with this name, or nil.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Static returns the static columns in declaration order.
func (t *Table) Static() []*Column {
	var out []*Column
	for _, c := range t.Columns {
		if c.Kind == Static {
			out = append(out, c)
		}
	}
	return out
}

// Regular returns the regular (non-key, non-static) columns in declaration order.
func (t *Table) Regular() []*Column {
	var out []*Column
	for _, c := range t.Columns {
		if c.Kind == Regular {
			out = append(out, c)
		}
	}
	return out
}

// Keyspace returns the keyspace with this name, or nil.
func (s *Schema) Keyspace(name string) *Keyspace {
	for _, k := range s.Keyspaces {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Table returns a table, or an error wrapping ErrUnknown that lists what
// the keyspace has.
func (s *Schema) Table(keyspace, table string) (*Table, error) {
	ks := s.Keyspace(keyspace)
	if ks == nil {
		var names []string
		for _, k := range s.Keyspaces {
			names = append(names, k.Name)
		}
		return nil, fmt.Errorf("keyspace %q: %w (keyspaces: %s)", keyspace, ErrUnknown, strings.Join(names, ", "))
	}
	if t := ks.Table(table); t != nil {
		return t, nil
	}
	var names []string
	for _, t := range ks.Tables {
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("table %s.%s: %w (tables of %s: %s)", keyspace, table, ErrUnknown, keyspace, strings.Join(names, ", "))
}

// Table returns the table with this name, or nil.
func (k *Keyspace) Table(name string) *Table {
	for _, t := range k.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Type returns the user type with this name, or nil.
func (k *Keyspace) Type(name string) *Type {
	for _, t := range k.Types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Parse parses CQL DDL. file names the input in errors.
func Parse(file, src string) (*Schema, error) {
	toks, err := tokenize(file, src)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, toks: toks, s: &Schema{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.s, nil
}

// ParseFile reads and parses a schema file.
func ParseFile(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	return Parse(path, string(b))
}
