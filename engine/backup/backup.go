// Package backup is the catalog of Cassandra backups in an object store:
// it lists the backups of a cluster, decides whether each is complete and
// says exactly what is missing, picks the backup for a point in time, and
// exposes the schema, the topology and the SSTables of one backup so that
// the engine reads schema, ring and data as they were at that moment.
//
// It reads the layouts of the two sidecars people run.
//
// cassandra-medusa (--cluster is the optional storage prefix):
//
//	[PREFIX/]
//	├── <fqdn>/
//	│   ├── <backup>/
//	│   │   ├── meta/schema.cql           uploaded first: the node backup started
//	│   │   ├── meta/tokenmap.json        {"<fqdn>": {"tokens": [...], "dc": "dc1", "rack": "r1", "is_up": true}, ...}
//	│   │   ├── meta/server_version.json  {"server_type": "cassandra", "release_version": "4.1.3"}
//	│   │   ├── meta/differential         only in differential backups
//	│   │   ├── meta/manifest.json        uploaded last: the node backup finished
//	│   │   │                             [{"keyspace", "columnfamily": "<table>-<id>", "objects": [{"path", "MD5", "size"}]}]
//	│   │   └── data/<ks>/<table>-<id>/nb-1-big-Data.db …      full backups
//	│   └── data/<ks>/<table>-<id>/nb-1-big-Data.db …          differential backups: shared by all of the node's backups
//	└── index/backup_index/<backup>/{started,finished}_<fqdn>_<epoch>.timestamp, tokenmap_<fqdn>.json, …   (optional)
//
// Netflix Priam backup v2 (--cluster is the application name):
//
//	[BASE/]<hash>_<app>/<token>/
//	├── META_V2/<snapshot epoch ms>/<COMPRESSION>/<ENCRYPTION>/meta_v2_<yyyyMMddHHmm>.json
//	│       {"info": {"appName", "region": DC, "rack", "backupIdentifier": [token]},
//	│        "data": [{"keyspaceName", "columnfamilyName", "sstables": [{"prefix", "sstableComponents":
//	│                  [{"fileName", "fileSizeOnDisk", "compression", "backupPath", …}]}]}]}
//	└── SST_V2/<file mtime ms>/<ks>/<table>-<id>/<COMPRESSION>/<ENCRYPTION>/nb-1-big-Data.db
//	    <hash> = Java String.hashCode(app) % 10000 (sign kept); COMPRESSION ∈ SNAPPY (snappy-java
//	    stream), LZ4 (lz4-java block stream), NONE; one token per node, so the ring is in the keys.
//
// A cluster backup is a set of node snapshots, at most one per node, taken
// within the snapshot window of the earliest one (Medusa node backups of
// one name always belong together). Its snapshot time is the latest node
// snapshot time (contracts §8). It is complete when every node of the ring
// has a finished snapshot in it and every file its manifest (Medusa) or
// meta file (Priam) lists exists with the right size. The ring is the
// tokenmap for Medusa; for Priam, every token folder that has a meta file
// no later than the backup (Priam rings only grow: a replaced node keeps
// its token). See docs/backups.md.
package backup

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. ErrNotFound, ErrIncomplete, ErrNoBackup, ErrFormat,
// ErrCorrupt and ErrNoSchema are the user's to fix (CLI exit 2); object
// store failures come through as they are (exit 3).
var (
	ErrNotFound   = errors.New("backup not found")
	ErrIncomplete = errors.New("incomplete backup")
	ErrNoBackup   = errors.New("no complete backup")
	ErrFormat     = errors.New("bad backup metadata")
	ErrCorrupt    = errors.New("corrupt backup object")
	ErrNoSchema   = errors.New("backup has no schema")
)

// Layout is a backup tool's layout.
type Layout string

// The layouts the catalog reads.
const (
	Medusa Layout = "medusa"
	Priam  Layout = "priam"
)

// ParseLayout reads medusa, priam or "" (detect).
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(strings.ToLower(strings.TrimSpace(s))); l {
	case "", Medusa, Priam:
		return l, nil
	}
	return "", fmt.Errorf("layout %q: want medusa or priam", s)
}

// DefaultSnapshotWindow is how far apart node snapshots of one cluster
// backup may be.
const DefaultSnapshotWindow = 6 * time.Hour

// Options configure a catalog.
type Options struct {
	Layout  Layout // "" detects it from the store
	Cluster string // Priam: the application name; Medusa: the storage prefix (optional)
	// SnapshotWindow groups node snapshots into one cluster backup
	// (default 6h).
	SnapshotWindow time.Duration
	// CacheDir receives decoded copies of compressed Priam components.
	// "" means a temporary folder that Close removes.
	CacheDir string
	// Concurrency bounds parallel listings and reads (default 8).
	Concurrency int
	// Progress, when set, hears about long steps: a stage name, and
	// units done of total (total 0 = unknown).
	Progress func(stage string, done, total int)
}

// NodeSnapshot is one node's snapshot within a backup.
type NodeSnapshot struct {
	Node     string    `json:"node"` // Medusa: the FQDN; Priam: the token
	DC       string    `json:"dc"`
	Rack     string    `json:"rack"`
	Tokens   []int64   `json:"-"`
	Time     time.Time `json:"snapshot_time"`       // when the snapshot was taken
	Finished time.Time `json:"finished,omitzero"`   // when its upload finished; zero if it never did
	Name     string    `json:"name"`                // Medusa: the backup name; Priam: the meta file name
	MetaKey  string    `json:"meta_key"`            // Medusa: meta/manifest.json; Priam: the META_V2 object
	Type     string    `json:"type"`                // full, differential or snapshot
	Version  string    `json:"cassandra,omitempty"` // Medusa's server_version.json release_version

	dir         string      // Medusa: PREFIX/fqdn/backup/
	compression Compression // Priam: of the meta object
}

// Backup is one cluster backup.
type Backup struct {
	ID      string `json:"id"` // Medusa: the backup name(s); Priam: yyyyMMddHHmm of the first snapshot
	Layout  Layout `json:"layout"`
	Cluster string `json:"cluster"`
	Type    string `json:"type"` // full, differential, mixed (Medusa) or snapshot (Priam)
	// FirstSnapshot and SnapshotTime are the earliest and the latest node
	// snapshot times; SnapshotTime is the backup's time (contracts §8).
	FirstSnapshot time.Time       `json:"first_snapshot"`
	SnapshotTime  time.Time       `json:"snapshot_time"`
	Nodes         []*NodeSnapshot `json:"nodes"`         // by node name
	Missing       []string        `json:"missing_nodes"` // ring nodes with no snapshot in this backup

	loaded   bool
	files    map[string][]fileEntry // node → files of its manifest or meta
	problems []Problem              // found while loading (unreadable manifests)
	topo     map[string]*topoNode   // node → DC, rack, tokens
	expected map[string]bool
}

// Node returns the node snapshot with this name, or nil.
func (b *Backup) Node(name string) *NodeSnapshot {
	for _, n := range b.Nodes {
		if n.Node == name {
			return n
		}
	}
	return nil
}

// Unfinished lists nodes whose snapshot started but never finished.
func (b *Backup) Unfinished() []string {
	var out []string
	for _, n := range b.Nodes {
		if n.Finished.IsZero() {
			out = append(out, n.Node)
		}
	}
	return out
}

// Finished is the cheap completeness check that needs no file listing:
// every ring node has a finished snapshot. Verify checks the files.
func (b *Backup) Finished() bool { return len(b.Missing) == 0 && len(b.Unfinished()) == 0 }

type topoNode struct {
	DC, Rack string
	Tokens   []int64
}

// fileEntry is one file a manifest or meta lists.
type fileEntry struct {
	Keyspace, Table, TableDir string
	File                      string // base name: nb-1-big-Data.db
	Key                       string // object key relative to the store root
	Size                      int64  // expected object size; -1 unknown (compressed Priam objects)
	RawSize                   int64  // decoded size; -1 unknown
	Compression               Compression
	Encryption                string // "" for plain text; Priam's PGP otherwise
	Index                     string // secondary index folder, "" for the table itself
}

// Problem is one reason a backup is not complete.
type Problem struct {
	Node     string `json:"node"`
	Kind     string `json:"kind"` // missing_node, unfinished_node, missing_file, size_mismatch, bad_metadata
	Key      string `json:"key,omitempty"`
	Expected int64  `json:"expected_size,omitempty"`
	Actual   int64  `json:"actual_size,omitempty"`
	Detail   string `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("node %s: %s", p.Node, p.Detail)
}

// The problem kinds.
const (
	MissingNode    = "missing_node"
	UnfinishedNode = "unfinished_node"
	MissingFile    = "missing_file"
	SizeMismatch   = "size_mismatch"
	BadMetadata    = "bad_metadata"
)

// Report is the result of verifying one backup.
type Report struct {
	Backup       string    `json:"backup"`
	Layout       Layout    `json:"layout"`
	Cluster      string    `json:"cluster"`
	SnapshotTime time.Time `json:"snapshot_time"`
	Complete     bool      `json:"complete"`
	Nodes        int       `json:"nodes"`         // ring nodes
	NodesPresent int       `json:"nodes_present"` // with a finished snapshot
	Files        int       `json:"files"`         // files listed by the manifests
	FilesPresent int       `json:"files_present"` // of which exist with the right size
	Bytes        int64     `json:"bytes"`         // stored bytes of the files present
	Problems     []Problem `json:"problems"`      // empty when complete
}

// Err returns nil for a complete backup, and otherwise an error wrapping
// ErrIncomplete that lists what is missing, one problem per line.
func (r *Report) Err() error {
	if r.Complete {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backup %s is incomplete: %d problem(s)", r.Backup, len(r.Problems))
	for _, p := range r.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	return fmt.Errorf("%w: %s", ErrIncomplete, b.String())
}

// TableRef names one table of a node snapshot.
type TableRef struct {
	Keyspace string `json:"keyspace"`
	Table    string `json:"table"`
	TableDir string `json:"table_dir"` // <table>-<id>
	SSTables int    `json:"sstables"`
	Bytes    int64  `json:"bytes"` // decoded bytes, where known
}

// SSTable is one SSTable of a node snapshot.
type SSTable struct {
	Node       string      `json:"node"`
	Keyspace   string      `json:"keyspace"`
	Table      string      `json:"table"`
	TableDir   string      `json:"table_dir"`
	Name       string      `json:"name"` // the descriptor, e.g. nb-1-big
	Components []Component `json:"components"`
}

// Component returns the component with this name ("Data.db").
func (s SSTable) Component(name string) (Component, bool) {
	for _, c := range s.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// Component is one file of an SSTable.
type Component struct {
	Name string `json:"name"` // Data.db, Index.db, Statistics.db, …
	File string `json:"file"` // nb-1-big-Data.db
	Key  string `json:"key"`  // the object's key in the store
	// Size is the stored object's size; -1 when not known yet.
	Size int64 `json:"size"`
	// RawSize is the file's size once decoded; -1 when not known yet.
	RawSize int64 `json:"raw_size"`
	// Compression is how the object is stored. Only None objects can be
	// range-read in place; Catalog.Open downloads and decodes the others
	// whole into the cache folder first.
	Compression Compression `json:"compression"`
	// Encryption is "" for plain objects, or Priam's PGP, which shadow
	// cannot read.
	Encryption string `json:"encryption,omitempty"`
}

// SchemaSource says where a backup's schema is.
type SchemaSource struct {
	Kind string `json:"kind"` // schema.cql (Medusa), system_schema (Priam sstables) or file (--schema)
	Node string `json:"node,omitempty"`
	Key  string `json:"key,omitempty"` // the schema.cql object, or the file path
	CQL  string `json:"-"`
	// SSTables are the system_schema tables' SSTables of Node, for a
	// Priam backup; the sstable reader decodes them.
	SSTables []SSTable `json:"sstables,omitempty"`
}
