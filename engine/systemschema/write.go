package systemschema

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// SSTableSchema is the Cassandra 4.x layout of one system_schema table (the
// columns the decoder reads, and a few it ignores), as the SSTable writer
// wants it.
func SSTableSchema(name string) (*sstable.Schema, error) {
	text := cql.Simple(cql.KindText)
	def := func(n string, t *cql.Type) sstable.ColumnDef { return sstable.ColumnDef{Name: n, Type: t} }
	frozenMap := cql.MapOf(text, text).Freeze()
	key := []sstable.ColumnDef{def("keyspace_name", text)}
	s := &sstable.Schema{Keyspace: Keyspace, Table: name, PartitionKey: key}
	switch name {
	case "keyspaces":
		s.Regular = []sstable.ColumnDef{def("durable_writes", cql.Simple(cql.KindBoolean)), def("replication", frozenMap)}
	case "tables":
		s.Clustering = []sstable.ColumnDef{def("table_name", text)}
		s.Regular = []sstable.ColumnDef{
			def("comment", text),
			def("default_time_to_live", cql.Simple(cql.KindInt)),
			def("flags", cql.SetOf(text).Freeze()),
			def("gc_grace_seconds", cql.Simple(cql.KindInt)),
			def("id", cql.Simple(cql.KindUUID)),
		}
	case "columns":
		s.Clustering = []sstable.ColumnDef{def("table_name", text), def("column_name", text)}
		s.Regular = []sstable.ColumnDef{
			def("clustering_order", text),
			def("column_name_bytes", cql.Simple(cql.KindBlob)),
			def("kind", text),
			def("position", cql.Simple(cql.KindInt)),
			def("type", text),
		}
	case "dropped_columns":
		s.Clustering = []sstable.ColumnDef{def("table_name", text), def("column_name", text)}
		s.Regular = []sstable.ColumnDef{def("dropped_time", cql.Simple(cql.KindTimestamp)), def("kind", text), def("type", text)}
	case "types":
		s.Clustering = []sstable.ColumnDef{def("type_name", text)}
		s.Regular = []sstable.ColumnDef{def("field_names", cql.ListOf(text).Freeze()), def("field_types", cql.ListOf(text).Freeze())}
	default:
		return nil, fmt.Errorf("%w: no system_schema table %q", ErrSchema, name)
	}
	return s, nil
}

// Builders fills one sstable.Builder per system_schema table with the rows
// that describe s, written at ts (µs), as Cassandra would after the schema's
// CREATE statements. Tables whose builder would be empty are left out.
func Builders(s *schema.Schema, ts int64) (map[string]*sstable.Builder, error) {
	out := map[string]*sstable.Builder{}
	get := func(name string) (*sstable.Builder, error) {
		if b, ok := out[name]; ok {
			return b, nil
		}
		sc, err := SSTableSchema(name)
		if err != nil {
			return nil, err
		}
		b, err := sstable.NewBuilder(sc)
		if err != nil {
			return nil, err
		}
		out[name] = b
		return b, nil
	}
	for _, ks := range s.Keyspaces {
		b, err := get("keyspaces")
		if err != nil {
			return nil, err
		}
		rep := map[string]string{}
		for k, v := range ks.Replication.Options {
			rep[k] = v
		}
		if rep["class"] == "" {
			rep["class"] = "org.apache.cassandra.locator." + ks.Replication.Class
			if ks.Replication.Factor > 0 {
				rep["replication_factor"] = fmt.Sprint(ks.Replication.Factor)
			}
			for dc, n := range ks.Replication.DCFactors {
				rep[dc] = fmt.Sprint(n)
			}
		}
		b.Partition(ks.Name).Row().Insert(ts, 0).Set("durable_writes", ks.DurableWrites, ts, 0).Set("replication", rep, ts, 0)
		for _, ut := range ks.Types {
			tb, err := get("types")
			if err != nil {
				return nil, err
			}
			var names, types []string
			for _, f := range ut.Fields {
				names, types = append(names, f.Name), append(types, f.Type)
			}
			tb.Partition(ks.Name).Row(ut.Name).Insert(ts, 0).Set("field_names", names, ts, 0).Set("field_types", types, ts, 0)
		}
		for _, t := range ks.Tables {
			tb, err := get("tables")
			if err != nil {
				return nil, err
			}
			flags := []string{"compound"}
			if t.CompactStorage {
				flags = nil
				if len(t.Clustering) > 0 {
					flags = []string{"dense"}
				}
			}
			gc := t.GCGraceSeconds
			if gc < 0 {
				gc = 864000
			}
			r := tb.Partition(ks.Name).Row(t.Name).Insert(ts, 0).
				Set("comment", "", ts, 0).
				Set("default_time_to_live", int32(t.DefaultTTL), ts, 0).
				Set("flags", flags, ts, 0).
				Set("gc_grace_seconds", int32(gc), ts, 0)
			if t.ID != "" {
				id, err := cql.ParseUUID(t.ID)
				if err != nil {
					return nil, fmt.Errorf("%w: table %s.%s id %q: %v", ErrSchema, ks.Name, t.Name, t.ID, err)
				}
				r.Set("id", id, ts, 0)
			}
			cb, err := get("columns")
			if err != nil {
				return nil, err
			}
			staticCompact := t.CompactStorage && len(t.Clustering) == 0
			if staticCompact {
				// Cassandra keeps a static compact table's hidden
				// clustering and value columns in the schema.
				cb.Partition(ks.Name).Row(t.Name, "column1").Insert(ts, 0).Set("clustering_order", "asc", ts, 0).
					Set("column_name_bytes", []byte("column1"), ts, 0).Set("kind", "clustering", ts, 0).
					Set("position", int32(0), ts, 0).Set("type", "text", ts, 0)
				cb.Partition(ks.Name).Row(t.Name, "value").Insert(ts, 0).Set("clustering_order", "none", ts, 0).
					Set("column_name_bytes", []byte("value"), ts, 0).Set("kind", "regular", ts, 0).
					Set("position", int32(-1), ts, 0).Set("type", "empty", ts, 0)
			}
			for _, c := range t.Columns {
				kind, pos, order := "regular", int32(-1), "none"
				if staticCompact {
					kind = "static"
				}
				switch c.Kind {
				case schema.PartitionKey:
					kind, pos = "partition_key", int32(c.Index)
				case schema.Clustering:
					kind, pos, order = "clustering", int32(c.Index), "asc"
					if c.Order == schema.Desc {
						order = "desc"
					}
				case schema.Static:
					kind = "static"
				}
				cb.Partition(ks.Name).Row(t.Name, c.Name).Insert(ts, 0).
					Set("clustering_order", order, ts, 0).
					Set("column_name_bytes", []byte(c.Name), ts, 0).
					Set("kind", kind, ts, 0).
					Set("position", pos, ts, 0).
					Set("type", c.Type, ts, 0)
			}
			for _, d := range t.Dropped {
				db, err := get("dropped_columns")
				if err != nil {
					return nil, err
				}
				db.Partition(ks.Name).Row(t.Name, d.Name).Insert(ts, 0).
					Set("dropped_time", cql.Timestamp(d.Time/1000), ts, 0).
					Set("kind", "regular", ts, 0).
					Set("type", d.Type, ts, 0)
			}
		}
	}
	for _, b := range out {
		if err := b.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Write writes the system_schema tables that describe s into dir, one
// folder per table (dir/<table>/), and returns the files by table name.
func Write(dir string, s *schema.Schema, ts int64, opts *sstable.WriterOptions) (map[string][]string, error) {
	bs, err := Builders(s, ts)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(bs))
	for n := range bs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string][]string{}
	for _, n := range names {
		d := filepath.Join(dir, n)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		paths, err := bs[n].WriteTo(d, opts)
		if err != nil {
			return nil, fmt.Errorf("system_schema.%s: %w", n, err)
		}
		out[n] = paths
	}
	return out, nil
}
