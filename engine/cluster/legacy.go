package cluster

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/token"
)

// A backup of the real Cassandra-written legacy fixtures (apache/cassandra
// test/data/legacy-sstables, copied in engine/sstable/testdata): one node
// of a one-node cluster (SimpleStrategy, RF 1) whose keyspace
// legacy_tables holds every fixture table, as Cassandra wrote them with
// the ByteOrderedPartitioner. The expected content comes from the goldens
// next to them, written once by the independent Python reader.

// LegacyKeyspace is the fixtures' keyspace.
const LegacyKeyspace = "legacy_tables"

// LegacyNode is the node of the legacy backup.
var LegacyNode = ring.Node{Name: "legacy-1.cassandra.local", DC: "datacenter1", Rack: "rack1", Tokens: []int64{0}}

// LegacyOptions shape the legacy backup.
type LegacyOptions struct {
	// Versions are the fixture folders to include (default every one the
	// FS has: ma, mb, mc, md, me, na, nb, oa, da).
	Versions []string
	// Name is the Medusa backup name (default "legacy"); Time the snapshot
	// time (default 2026-11-01T00:00Z); Prefix Medusa's storage prefix.
	Name   string
	Time   time.Time
	Prefix string
}

// LegacyTable is one fixture table of the legacy backup.
type LegacyTable struct {
	Version string // ma … oa, da
	Name    string // legacy_nb_clust
	CQL     string // its CREATE TABLE
	dir     string
}

// legacyTables lists the fixture tables under root (<v>/legacy_tables/<t>/).
func legacyTables(root fs.FS, versions []string) ([]LegacyTable, error) {
	if len(versions) == 0 {
		ents, err := fs.ReadDir(root, ".")
		if err != nil {
			return nil, fmt.Errorf("legacy fixtures: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() && e.Name() != "nc" {
				versions = append(versions, e.Name())
			}
		}
	}
	var out []LegacyTable
	for _, v := range versions {
		dir := path.Join(v, LegacyKeyspace)
		ents, err := fs.ReadDir(root, dir)
		if err != nil {
			return nil, fmt.Errorf("legacy fixtures of version %s: %w", v, err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			out = append(out, LegacyTable{Version: v, Name: e.Name(), CQL: legacyCQL(e.Name()), dir: path.Join(dir, e.Name())})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no legacy fixture tables under the given folder", ErrBadOptions)
	}
	return out, nil
}

// legacyCQL is the table's CREATE TABLE, as LegacySSTableTest made it.
func legacyCQL(name string) string {
	q := LegacyKeyspace + "." + name
	base := strings.TrimSuffix(name, "_compact")
	val := "text"
	if strings.HasSuffix(base, "_counter") {
		val = "counter"
	}
	var s string
	switch {
	case strings.HasSuffix(name, "inaccurate_min_max"):
		return "CREATE TABLE " + q + " (k int, c1 int, c2 int, c3 int, v int, PRIMARY KEY (k, c1, c2, c3));\n"
	case strings.Contains(base, "_simple"):
		s = "CREATE TABLE " + q + " (pk text PRIMARY KEY, val " + val + ")"
	default:
		s = "CREATE TABLE " + q + " (pk text, ck text, val " + val + ", PRIMARY KEY (pk, ck))"
	}
	if name != base {
		s += " WITH COMPACT STORAGE"
	}
	return s + ";\n"
}

// LegacySchema is the schema.cql of the legacy backup.
func LegacySchema(root fs.FS, o LegacyOptions) (string, error) {
	ts, err := legacyTables(root, o.Versions)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("CREATE KEYSPACE " + LegacyKeyspace + " WITH replication = {'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '1'}  AND durable_writes = true;\n")
	for _, t := range ts {
		b.WriteString("\n" + t.CQL)
	}
	return b.String(), nil
}

// LegacyBackup uploads the fixtures under root (a copy of
// legacy-sstables: <version>/legacy_tables/<table>/<files>) to st as a
// one-node Medusa backup, and lists its tables.
func LegacyBackup(ctx context.Context, st objstore.Store, root fs.FS, o LegacyOptions) (BackupInfo, []LegacyTable, error) {
	if o.Name == "" {
		o.Name = "legacy"
	}
	if o.Time.IsZero() {
		o.Time = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	ts, err := legacyTables(root, o.Versions)
	if err != nil {
		return BackupInfo{}, nil, err
	}
	sch, err := LegacySchema(root, o)
	if err != nil {
		return BackupInfo{}, nil, err
	}
	var files []backup.File
	for _, t := range ts {
		ents, err := fs.ReadDir(root, t.dir)
		if err != nil {
			return BackupInfo{}, nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			data, err := fs.ReadFile(root, path.Join(t.dir, e.Name()))
			if err != nil {
				return BackupInfo{}, nil, err
			}
			files = append(files, backup.File{Keyspace: LegacyKeyspace, Table: t.Name, TableID: tableID(LegacyKeyspace, t.Name),
				Name: e.Name(), Data: data, ModTime: o.Time})
		}
	}
	w := &backup.MedusaWriter{Store: st, Prefix: o.Prefix, Schema: sch, Ring: []ring.Node{LegacyNode}}
	if err := w.WriteNode(ctx, o.Name, backup.NodeUpload{Node: LegacyNode, Time: o.Time, Files: files}); err != nil {
		return BackupInfo{}, nil, fmt.Errorf("legacy backup: %w", err)
	}
	info := BackupInfo{Round: 1, ID: o.Name, Layout: backup.Medusa, FirstSnapshot: o.Time, SnapshotTime: o.Time,
		Nodes: []NodeSnapshot{{Node: LegacyNode.Name, DC: LegacyNode.DC, Rack: LegacyNode.Rack, Time: o.Time, SSTables: len(ts)}}}
	return info, ts, nil
}

// goldenPartition is one line of a golden dump (shared/tools/sstverify).
type goldenPartition struct {
	Key    string      `json:"key"`
	Rows   []goldenRow `json:"rows"`
	Static *goldenRow  `json:"static"`
}

type goldenRow struct {
	Clustering []string              `json:"clustering"`
	Cells      map[string]goldenCell `json:"cells"`
	Marker     *int                  `json:"marker"`
	Liveness   []*int64              `json:"liveness"`
}

type goldenCell struct {
	TS    int64  `json:"ts"`
	Value string `json:"value"`
}

// LegacyTruth is the expected content of one legacy fixture table, read
// from its golden dump (<table>.dump.jsonl.gz beside the table's folder).
// The fixtures hold no deletions that shadow a live row and no TTLs, so
// the live rows are the golden's rows; a compact table's static row is
// its one row. Rows come in the partitioner's order (ByteOrdered: key
// bytes), then clustering order.
func LegacyTruth(root fs.FS, t LegacyTable) (*Table, error) {
	sch, err := schema.Parse(t.Name+".cql", "CREATE KEYSPACE "+LegacyKeyspace+" WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'};\n"+t.CQL)
	if err != nil {
		return nil, err
	}
	st, err := sch.Table(LegacyKeyspace, t.Name)
	if err != nil {
		return nil, err
	}
	out := &Table{Keyspace: LegacyKeyspace, Name: t.Name, Round: 1, BackupID: "legacy"}
	var pk, ck, vals []int
	for _, c := range st.Columns {
		ty, err := cql.ParseCQL(c.Type, nil)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
		}
		i := len(out.Columns)
		out.Columns = append(out.Columns, Column{Name: c.Name, Type: ty, Kind: c.Kind})
		switch c.Kind {
		case schema.PartitionKey:
			pk = append(pk, i)
		case schema.Clustering:
			ck = append(ck, i)
		default:
			vals = append(vals, i)
		}
	}
	f, err := root.Open(t.dir + ".dump.jsonl.gz")
	if err != nil {
		return nil, fmt.Errorf("legacy truth of %s: %w", t.Name, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("legacy truth of %s: %w", t.Name, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	decode := func(i int, h string) (any, error) {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		ty := out.Columns[i].Type
		if ty.Kind == cql.KindCounter {
			return cql.CounterTotal(b)
		}
		return cql.Decode(ty, b)
	}
	for sc.Scan() {
		var gp goldenPartition
		if err := json.Unmarshal(sc.Bytes(), &gp); err != nil {
			return nil, fmt.Errorf("legacy truth of %s: golden line: %w", t.Name, err)
		}
		key, err := hex.DecodeString(gp.Key)
		if err != nil {
			return nil, err
		}
		rows := gp.Rows
		if len(ck) == 0 && gp.Static != nil && len(gp.Static.Cells) > 0 {
			rows = append(rows, *gp.Static) // compact storage: the value is static
		}
		for _, gr := range rows {
			if gr.Marker != nil {
				continue
			}
			r := Row{Values: make([]any, len(out.Columns)), Key: key, Token: token.Murmur3Token(key)}
			if len(pk) > 0 {
				if r.Values[pk[0]], err = decode(pk[0], gp.Key); err != nil {
					return nil, err
				}
			}
			for j, i := range ck {
				if j < len(gr.Clustering) {
					if r.Values[i], err = decode(i, gr.Clustering[j]); err != nil {
						return nil, err
					}
				}
			}
			live := false
			for _, i := range vals {
				c, ok := gr.Cells[out.Columns[i].Name]
				if !ok {
					continue
				}
				if r.Values[i], err = decode(i, c.Value); err != nil {
					return nil, err
				}
				live = true
				r.WriteTime = max(r.WriteTime, c.TS)
			}
			if len(gr.Liveness) > 0 && gr.Liveness[0] != nil {
				live = true
				r.WriteTime = max(r.WriteTime, *gr.Liveness[0])
			}
			if live {
				out.Rows = append(out.Rows, r)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("legacy truth of %s: %w", t.Name, err)
	}
	// ByteOrdered order of keys, then the file's clustering order
	sort.SliceStable(out.Rows, func(i, j int) bool { return string(out.Rows[i].Key) < string(out.Rows[j].Key) })
	return out, nil
}
