// Package systemschema reads a schema from the system_schema tables that a
// Netflix Priam backup holds (a Priam backup has no schema.cql), and writes
// those tables, for tests and simulated clusters.
//
//	system_schema.keyspaces        keyspace_name → replication, durable_writes
//	system_schema.tables           (keyspace_name, table_name) → id, flags, default_time_to_live, gc_grace_seconds
//	system_schema.columns          (keyspace_name, table_name, column_name) → kind, position, type, clustering_order
//	system_schema.dropped_columns  (keyspace_name, table_name, column_name) → dropped_time, type, kind
//	system_schema.types            (keyspace_name, type_name) → field_names, field_types
//
// The SSTables are merged with the engine's own compaction (a node may hold
// several flushes of a schema table, with overwrites and deletions) at the
// backup's snapshot time; the tables are read with schemas built from their
// own headers, so every Cassandra version's column set works.
package systemschema

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// Keyspace is the keyspace of the schema tables.
const Keyspace = "system_schema"

// ErrSchema marks system_schema content that does not make a schema.
var ErrSchema = errors.New("bad system_schema content")

// layout is the primary key of each table the decoder reads.
var layout = map[string]struct{ key, clustering []string }{
	"keyspaces":       {[]string{"keyspace_name"}, nil},
	"tables":          {[]string{"keyspace_name"}, []string{"table_name"}},
	"columns":         {[]string{"keyspace_name"}, []string{"table_name", "column_name"}},
	"dropped_columns": {[]string{"keyspace_name"}, []string{"table_name", "column_name"}},
	"types":           {[]string{"keyspace_name"}, []string{"type_name"}},
}

// Tables lists the system_schema tables the decoder reads.
func Tables() []string { return []string{"keyspaces", "tables", "columns", "dropped_columns", "types"} }

// row is one decoded row: column name → value.
type row map[string]any

// read merges the SSTables of one schema table and decodes its rows.
func read(ctx context.Context, name string, readers []compaction.Input, nowSec int64) ([]row, error) {
	if len(readers) == 0 {
		return nil, nil
	}
	l := layout[name]
	var hs []*sstable.Header
	for _, r := range readers {
		hs = append(hs, r.Reader.Header())
	}
	t, err := compaction.HeaderTable(Keyspace, name, l.key, l.clustering, hs...)
	if err != nil {
		return nil, err
	}
	m, err := compaction.NewMerger(ctx, t, readers, compaction.Options{NowSec: nowSec})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var out []row
	for m.Next() {
		r := m.Row()
		if r.Clustering == nil && len(l.clustering) > 0 {
			continue // a static-only row: no schema table has statics
		}
		rw := row{}
		k, err := cql.Decode(t.KeyType, r.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.%s key: %v", ErrSchema, Keyspace, name, err)
		}
		rw[l.key[0]] = k
		for i, c := range t.Clustering {
			v, err := cql.Decode(c.Type, r.Clustering[i])
			if err != nil {
				return nil, fmt.Errorf("%w: %s.%s %s: %v", ErrSchema, Keyspace, name, c.Name, err)
			}
			rw[c.Name] = v
		}
		for i, c := range t.Values {
			v := r.Values[i]
			if !v.Set || c.Complex {
				continue // the schema tables keep what we read in simple or frozen columns
			}
			x, err := cql.Decode(c.Type, v.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.%s %s: %v", ErrSchema, Keyspace, name, c.Name, err)
			}
			rw[c.Name] = x
		}
		out = append(out, rw)
	}
	return out, m.Err()
}

// Decode builds the schema of every keyspace from the SSTables of the
// system_schema tables (by table name: keyspaces, tables, columns,
// dropped_columns, types), merged at nowSec. System keyspaces are left out.
func Decode(ctx context.Context, sstables map[string][]compaction.Input, nowSec int64) (*schema.Schema, error) {
	rows := map[string][]row{}
	for _, name := range Tables() {
		rs, err := read(ctx, name, sstables[name], nowSec)
		if err != nil {
			return nil, err
		}
		rows[name] = rs
	}
	if len(rows["keyspaces"]) == 0 || len(rows["tables"]) == 0 {
		return nil, fmt.Errorf("%w: no keyspaces or tables in %s", ErrSchema, Keyspace)
	}
	s := &schema.Schema{}
	str := func(r row, k string) string { v, _ := r[k].(string); return v }
	for _, r := range rows["keyspaces"] {
		name := str(r, "keyspace_name")
		if isSystem(name) {
			continue
		}
		ks := &schema.Keyspace{Name: name, DurableWrites: true}
		if b, ok := r["durable_writes"].(bool); ok {
			ks.DurableWrites = b
		}
		rep, err := replication(r["replication"])
		if err != nil {
			return nil, fmt.Errorf("%w: keyspace %s: %v", ErrSchema, name, err)
		}
		ks.Replication = rep
		s.Keyspaces = append(s.Keyspaces, ks)
	}
	for _, r := range rows["types"] {
		ks := s.Keyspace(str(r, "keyspace_name"))
		if ks == nil {
			continue
		}
		ut := &schema.Type{Keyspace: ks.Name, Name: str(r, "type_name")}
		names, _ := r["field_names"].([]any)
		types, _ := r["field_types"].([]any)
		if len(names) != len(types) {
			return nil, fmt.Errorf("%w: type %s.%s has %d field names and %d field types", ErrSchema, ks.Name, ut.Name, len(names), len(types))
		}
		for i := range names {
			n, _ := names[i].(string)
			ty, _ := types[i].(string)
			ut.Fields = append(ut.Fields, schema.Field{Name: n, Type: ty})
		}
		ks.Types = append(ks.Types, ut)
	}
	cols := map[string][]row{}
	for _, r := range rows["columns"] {
		k := str(r, "keyspace_name") + "." + str(r, "table_name")
		cols[k] = append(cols[k], r)
	}
	dropped := map[string][]row{}
	for _, r := range rows["dropped_columns"] {
		k := str(r, "keyspace_name") + "." + str(r, "table_name")
		dropped[k] = append(dropped[k], r)
	}
	for _, r := range rows["tables"] {
		ks := s.Keyspace(str(r, "keyspace_name"))
		if ks == nil {
			continue
		}
		t, err := table(ks.Name, str(r, "table_name"), r, cols[ks.Name+"."+str(r, "table_name")], dropped[ks.Name+"."+str(r, "table_name")])
		if err != nil {
			return nil, err
		}
		ks.Tables = append(ks.Tables, t)
	}
	for _, ks := range s.Keyspaces {
		sort.Slice(ks.Tables, func(i, j int) bool { return ks.Tables[i].Name < ks.Tables[j].Name })
		sort.Slice(ks.Types, func(i, j int) bool { return ks.Types[i].Name < ks.Types[j].Name })
	}
	sort.Slice(s.Keyspaces, func(i, j int) bool { return s.Keyspaces[i].Name < s.Keyspaces[j].Name })
	return s, nil
}

func isSystem(ks string) bool {
	switch ks {
	case "system", "system_schema", "system_auth", "system_distributed", "system_traces", "system_views", "system_virtual_schema":
		return true
	}
	return false
}

// replication reads the replication map of system_schema.keyspaces.
func replication(v any) (schema.Replication, error) {
	rep := schema.Replication{Options: map[string]string{}}
	entries, _ := v.([]cql.MapEntry)
	for _, e := range entries {
		k, _ := e.Key.(string)
		val, _ := e.Value.(string)
		rep.Options[k] = val
	}
	class := rep.Options["class"]
	if class == "" {
		return rep, errors.New("replication has no class")
	}
	rep.Class = class[strings.LastIndex(class, ".")+1:]
	for k, val := range rep.Options {
		if k == "class" {
			continue
		}
		n, err := strconv.Atoi(strings.SplitN(val, "/", 2)[0])
		if err != nil {
			continue
		}
		if k == "replication_factor" && rep.Class == "SimpleStrategy" {
			rep.Factor = n
			continue
		}
		if rep.Class == "NetworkTopologyStrategy" {
			if rep.DCFactors == nil {
				rep.DCFactors = map[string]int{}
			}
			rep.DCFactors[k] = n
		}
	}
	return rep, nil
}

// table builds one table from its rows of tables, columns and dropped_columns.
func table(ks, name string, tr row, cols, dropped []row) (*schema.Table, error) {
	t := &schema.Table{Keyspace: ks, Name: name, Options: map[string]string{}, GCGraceSeconds: -1}
	if v, ok := tr["default_time_to_live"].(int32); ok {
		t.DefaultTTL = int64(v)
	}
	if v, ok := tr["gc_grace_seconds"].(int32); ok {
		t.GCGraceSeconds = int64(v)
	}
	if v, ok := tr["id"].(cql.UUID); ok {
		t.ID = v.String()
	}
	flags := map[string]bool{}
	if fs, ok := tr["flags"].([]any); ok {
		for _, f := range fs {
			if s, ok := f.(string); ok {
				flags[strings.ToLower(s)] = true
			}
		}
	}
	// Compact tables (COMPACT STORAGE): not compound, or dense, or super.
	// A compact table without clustering columns keeps its CQL columns as
	// statics and has a hidden clustering column and EmptyType value.
	compact := flags["dense"] || flags["super"] || !flags["compound"]
	staticCompact := compact && !flags["dense"] && !flags["super"]
	t.CompactStorage = compact
	type col struct {
		c   *schema.Column
		pos int
	}
	var pk, ck, rest []col
	for _, r := range cols {
		name, _ := r["column_name"].(string)
		typ, _ := r["type"].(string)
		kind, _ := r["kind"].(string)
		pos := -1
		if p, ok := r["position"].(int32); ok {
			pos = int(p)
		}
		order, _ := r["clustering_order"].(string)
		if strings.Contains(typ, "EmptyType") || typ == "empty" {
			continue // the hidden value column of a compact table
		}
		c := &schema.Column{Name: name, Type: typ, Index: -1}
		switch kind {
		case "partition_key":
			c.Kind = schema.PartitionKey
			pk = append(pk, col{c, pos})
		case "clustering":
			if staticCompact {
				continue // hidden
			}
			c.Kind = schema.Clustering
			if strings.EqualFold(order, "desc") {
				c.Order = schema.Desc
			}
			ck = append(ck, col{c, pos})
		case "static":
			c.Kind = schema.Static
			if staticCompact {
				c.Kind = schema.Regular
			}
			rest = append(rest, col{c, pos})
		case "regular":
			c.Kind = schema.Regular
			rest = append(rest, col{c, pos})
		default:
			return nil, fmt.Errorf("%w: %s.%s column %s has kind %q", ErrSchema, ks, name, name, kind)
		}
	}
	if len(pk) == 0 {
		return nil, fmt.Errorf("%w: %s.%s has no partition key columns", ErrSchema, ks, name)
	}
	byPos := func(a, b col) int { return a.pos - b.pos }
	slices.SortFunc(pk, byPos)
	slices.SortFunc(ck, byPos)
	slices.SortFunc(rest, func(a, b col) int { return strings.Compare(a.c.Name, b.c.Name) })
	for i, c := range pk {
		c.c.Index = i
		t.PartitionKey = append(t.PartitionKey, c.c)
		t.Columns = append(t.Columns, c.c)
	}
	for i, c := range ck {
		c.c.Index = i
		t.Clustering = append(t.Clustering, c.c)
		t.Columns = append(t.Columns, c.c)
	}
	for _, c := range rest {
		t.Columns = append(t.Columns, c.c)
	}
	for _, r := range dropped {
		name, _ := r["column_name"].(string)
		typ, _ := r["type"].(string)
		ms, _ := r["dropped_time"].(cql.Timestamp)
		us := int64(ms) * 1000
		if int64(ms) > math.MaxInt64/1000 {
			us = math.MaxInt64
		}
		t.Dropped = append(t.Dropped, schema.DroppedColumn{Name: name, Type: typ, Time: us})
	}
	return t, nil
}

// Load decodes the schema of a Priam backup from its system_schema
// SSTables (backup.Catalog.Schema gives their source), merged at nowSec.
func Load(ctx context.Context, cat *backup.Catalog, src *backup.SchemaSource, nowSec int64) (*schema.Schema, error) {
	byTable := map[string][]compaction.Input{}
	defer func() {
		for _, ins := range byTable {
			for _, in := range ins {
				in.Reader.Close()
			}
		}
	}()
	for _, s := range src.SSTables {
		if _, ok := layout[s.Table]; !ok {
			continue
		}
		in, err := compaction.OpenBackup(ctx, cat, s, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("system_schema.%s on node %s: %w", s.Table, s.Node, err)
		}
		byTable[s.Table] = append(byTable[s.Table], in)
	}
	s, err := Decode(ctx, byTable, nowSec)
	if err != nil {
		return nil, fmt.Errorf("schema of node %s: %w", src.Node, err)
	}
	return s, nil
}
