package cluster

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
)

// Priam backs up the system keyspaces with the data: the schema of a
// Priam backup is in its system_schema SSTables. The generator writes the
// four tables a reader needs to rebuild the keyspace (keyspaces, tables,
// columns, types), with Cassandra 4's column names and types, one
// partition (the simulated keyspace) each. Cassandra keys system tables
// with the LocalPartitioner; the writer records Murmur3, which orders a
// one-partition file the same way. The tables carry a subset of the
// options columns of system_schema.tables (id, default_time_to_live,
// gc_grace_seconds, comment, flags): the self-describing SSTable header
// lists them.

var (
	text    = cql.Simple(cql.KindText)
	textMap = cql.MapOf(text, text).Freeze()
)

type sysTable struct {
	name string
	sch  *sstable.Schema
	rows []sysRow
}

type sysRow struct {
	ck   [][]byte
	cols map[string][]byte // by column name
}

// systemSchemaTables describes the keyspace at schema version v as
// system_schema rows.
func (c *Cluster) systemSchemaTables(v int) []sysTable {
	ksKey := []sstable.ColumnDef{{Name: "keyspace_name", Type: text}}
	// keyspaces
	rep := []cql.MapEntry{}
	if c.replication.Class == "SimpleStrategy" {
		rep = append(rep, cql.MapEntry{Key: "class", Value: "org.apache.cassandra.locator.SimpleStrategy"},
			cql.MapEntry{Key: "replication_factor", Value: itoa(c.replication.Factor)})
	} else {
		rep = append(rep, cql.MapEntry{Key: "class", Value: "org.apache.cassandra.locator.NetworkTopologyStrategy"})
		for _, dc := range sortedKeys(c.replication.DCFactors) {
			rep = append(rep, cql.MapEntry{Key: dc, Value: itoa(c.replication.DCFactors[dc])})
		}
	}
	keyspaces := sysTable{name: "keyspaces", sch: &sstable.Schema{Keyspace: "system_schema", Table: "keyspaces", PartitionKey: ksKey,
		Regular: []sstable.ColumnDef{{Name: "durable_writes", Type: cql.Simple(cql.KindBoolean)}, {Name: "replication", Type: textMap}}},
		rows: []sysRow{{cols: map[string][]byte{"durable_writes": encode(cql.Simple(cql.KindBoolean), true), "replication": encode(textMap, rep)}}}}

	// tables
	tables := sysTable{name: "tables", sch: &sstable.Schema{Keyspace: "system_schema", Table: "tables", PartitionKey: ksKey,
		Clustering: []sstable.ColumnDef{{Name: "table_name", Type: text}},
		Regular: []sstable.ColumnDef{{Name: "comment", Type: text}, {Name: "default_time_to_live", Type: cql.Simple(cql.KindInt)},
			{Name: "flags", Type: cql.SetOf(text).Freeze()}, {Name: "gc_grace_seconds", Type: cql.Simple(cql.KindInt)}, {Name: "id", Type: cql.Simple(cql.KindUUID)}}}}
	// columns
	columns := sysTable{name: "columns", sch: &sstable.Schema{Keyspace: "system_schema", Table: "columns", PartitionKey: ksKey,
		Clustering: []sstable.ColumnDef{{Name: "table_name", Type: text}, {Name: "column_name", Type: text}},
		Regular: []sstable.ColumnDef{{Name: "clustering_order", Type: text}, {Name: "column_name_bytes", Type: cql.Simple(cql.KindBlob)},
			{Name: "kind", Type: text}, {Name: "position", Type: cql.Simple(cql.KindInt)}, {Name: "type", Type: text}}}}
	for _, t := range c.tables {
		id, _ := cql.ParseUUID(t.id[:8] + "-" + t.id[8:12] + "-" + t.id[12:16] + "-" + t.id[16:20] + "-" + t.id[20:])
		flags := []any{"compound"}
		if t.counter {
			flags = []any{"compound", "counter"}
		}
		tables.rows = append(tables.rows, sysRow{ck: [][]byte{[]byte(t.name)}, cols: map[string][]byte{
			"comment": []byte{}, "default_time_to_live": encode(cql.Simple(cql.KindInt), int32(t.ttl)),
			"flags": encode(cql.SetOf(text).Freeze(), flags), "gc_grace_seconds": encode(cql.Simple(cql.KindInt), int32(864000)),
			"id": encode(cql.Simple(cql.KindUUID), id)}})
		for _, col := range t.cols {
			if col.added > v {
				continue
			}
			kind, order, pos := "regular", "none", int32(-1)
			switch col.kind {
			case schema.PartitionKey:
				kind, pos = "partition_key", int32(col.pos)
			case schema.Clustering:
				kind, pos, order = "clustering", int32(col.pos), "asc"
				if col.desc {
					order = "desc"
				}
			case schema.Static:
				kind = "static"
			}
			columns.rows = append(columns.rows, sysRow{ck: [][]byte{[]byte(t.name), []byte(col.name)}, cols: map[string][]byte{
				"clustering_order": []byte(order), "column_name_bytes": []byte(col.name), "kind": []byte(kind),
				"position": encode(cql.Simple(cql.KindInt), pos), "type": []byte(cqlTypeName(col.t))}})
		}
	}
	// types
	types := sysTable{name: "types", sch: &sstable.Schema{Keyspace: "system_schema", Table: "types", PartitionKey: ksKey,
		Clustering: []sstable.ColumnDef{{Name: "type_name", Type: text}},
		Regular:    []sstable.ColumnDef{{Name: "field_names", Type: cql.ListOf(text).Freeze()}, {Name: "field_types", Type: cql.ListOf(text).Freeze()}}}}
	for _, ts := range c.opts.Types {
		var names, typs []any
		for i, f := range ts.Fields {
			names = append(names, f.Name)
			typs = append(typs, cqlTypeName(c.udts[ts.Name].Elems[i]))
		}
		types.rows = append(types.rows, sysRow{ck: [][]byte{[]byte(ts.Name)}, cols: map[string][]byte{
			"field_names": encode(cql.ListOf(text).Freeze(), names), "field_types": encode(cql.ListOf(text).Freeze(), typs)}})
	}
	out := []sysTable{keyspaces, tables, columns, types}
	for i := range out {
		slices.SortFunc(out[i].rows, func(a, b sysRow) int {
			for j := range a.ck {
				if d := strings.Compare(string(a.ck[j]), string(b.ck[j])); d != 0 {
					return d
				}
			}
			return 0
		})
	}
	return out
}

// systemTableID is Cassandra's TableId.forSystemTable: a name-based UUID
// of the keyspace and table names.
func systemTableID(ks, name string) string {
	sum := md5.Sum([]byte(ks + name))
	sum[6] = sum[6]&0x0f | 0x30
	sum[8] = sum[8]&0x3f | 0x80
	return hex.EncodeToString(sum[:])
}

// schemaTime is when schema version v came into force.
func (c *Cluster) schemaTime(v int) time.Time {
	if v == 0 {
		return c.opts.Start
	}
	return c.changes[v-1]
}

// writeSystemSchema writes a node's system_schema SSTables for schema
// version v (generation v+1) under dir and lists them.
func (c *Cluster) writeSystemSchema(dir string, n *Node, v int) ([]backup.File, error) {
	at := c.schemaTime(v)
	ts := at.UnixMicro()
	var out []backup.File
	for _, st := range c.systemSchemaTables(v) {
		id := systemTableID("system_schema", st.name)
		d := filepath.Join(dir, n.Name, "system_schema", st.name+"-"+id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		w, err := sstable.NewWriter(d, st.sch, &sstable.WriterOptions{Version: n.Version, Generation: v + 1})
		if err != nil {
			return nil, fmt.Errorf("system_schema.%s on %s: %w", st.name, n.Name, err)
		}
		err = writeSysRows(w, c.keyspace, st, ts)
		if err != nil {
			w.Abort()
			return nil, fmt.Errorf("system_schema.%s on %s: %w", st.name, n.Name, err)
		}
		files, err := w.Close()
		if err != nil {
			return nil, fmt.Errorf("system_schema.%s on %s: %w", st.name, n.Name, err)
		}
		for _, p := range files {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			out = append(out, backup.File{Keyspace: "system_schema", Table: st.name, TableID: id, Name: filepath.Base(p),
				Open: func() (io.ReadCloser, error) { return os.Open(p) }, Size: fi.Size(), ModTime: at.Truncate(time.Second)})
		}
	}
	return out, nil
}

func writeSysRows(w *sstable.Writer, ks string, st sysTable, ts int64) error {
	if len(st.rows) == 0 {
		return nil
	}
	if err := w.BeginPartition([]byte(ks), sstable.Live); err != nil {
		return err
	}
	for _, r := range st.rows {
		row := sstable.Row{Clustering: sstable.Clustering(r.ck), Liveness: sstable.LivenessInfo{Timestamp: ts, TTL: sstable.NoTTL, LocalExpirationTime: sstable.NoDeletionTime}, Deletion: sstable.Live}
		for _, def := range st.sch.Regular { // sorted by name, all simple
			v, ok := r.cols[def.Name]
			if !ok {
				continue
			}
			row.Columns = append(row.Columns, sstable.ColumnData{Column: &sstable.Column{Name: def.Name, Type: def.Type}, Deletion: sstable.Live,
				Cells: []sstable.Cell{{Timestamp: ts, TTL: sstable.NoTTL, LocalDeletionTime: sstable.NoDeletionTime, Value: v}}})
		}
		if err := w.Write(&sstable.Unfiltered{Kind: sstable.UnfilteredRow, Row: row}); err != nil {
			return err
		}
	}
	return w.EndPartition()
}

// systemSchemaFiles returns the node's system_schema SSTables for the
// round's schema, written once per node and schema version.
func (c *Cluster) systemSchemaFiles(cache *sstCache, s *nodeSnap) ([]backup.File, error) {
	key := fmt.Sprintf("%s/%d", s.node.Name, s.schema)
	cache.mu.Lock()
	e := cache.sys[key]
	if e == nil {
		e = &sysEntry{}
		cache.sys[key] = e
	}
	cache.mu.Unlock()
	e.once.Do(func() { e.files, e.err = c.writeSystemSchema(cache.dir, s.node, s.schema) })
	return e.files, e.err
}
