package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/cluster"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/sink"

	_ "github.com/cassmove/shadow/engine/objstore/file" // file:// stores
	_ "github.com/cassmove/shadow/engine/objstore/s3"   // s3:// stores
)

// The demo world: a simulated Cassandra cluster's backups, the legacy
// connector's output of two of its tables, and the files that describe
// them to shadow.
const (
	Keyspace    = "shop"
	LegacyNS    = "legacy"
	ShadowNS    = "shadow"
	markerFile  = ".shadow-demo"
	defaultSeed = 20261124
)

// WorldTables are the two tables of the demo cluster.
func WorldTables() []cluster.TableSpec {
	return []cluster.TableSpec{
		{
			Name:         "orders",
			PartitionKey: []cluster.ColumnSpec{{Name: "customer", Type: "text"}},
			Clustering:   []cluster.ColumnSpec{{Name: "order_id", Type: "int"}},
			Static:       []cluster.ColumnSpec{{Name: "tier", Type: "text"}},
			Regular: []cluster.ColumnSpec{
				{Name: "status", Type: "text"}, {Name: "amount", Type: "double"}, {Name: "items", Type: "int"},
				{Name: "placed", Type: "timestamp"}, {Name: "tags", Type: "set<text>"},
			},
			Weight: 3,
		},
		{
			Name:         "users",
			PartitionKey: []cluster.ColumnSpec{{Name: "id", Type: "uuid"}},
			Regular: []cluster.ColumnSpec{
				{Name: "name", Type: "text"}, {Name: "email", Type: "ascii"}, {Name: "age", Type: "int"},
				{Name: "seen", Type: "timestamp"}, {Name: "roles", Type: "set<int>"},
			},
			Weight: 1,
		},
	}
}

// WorldOptions shape a demo world.
type WorldOptions struct {
	// Dir receives the world; it is replaced when it holds an earlier
	// demo, and refused when it holds anything else.
	Dir string
	// Store is where the backups go (default file://DIR/backups); an
	// s3:// store needs S3 settings.
	Store string
	S3    lake.S3
	// Legacy and New are the Iceberg locations (default an SQLite catalog
	// and a file warehouse under Dir).
	Legacy, New lake.Location
	// Seed makes the cluster (default a fixed one).
	Seed int64
	// Mutations is the size of the cluster's history (default 6000).
	Mutations int
	// Now is the legacy connector's run time (default the wall clock).
	Now time.Time
	// Schedule is the datasets' cron schedule (default nightly).
	Schedule string
	// Faithful writes the legacy output with the new engine's own settings
	// (LOCAL_QUORUM, TTLs at the snapshot, every node's newest backup), so
	// that a shadow run finds no difference.
	Faithful bool
}

// World is a built demo world.
type World struct {
	Dir      string              `json:"dir"`
	Store    string              `json:"store"`
	Config   string              `json:"config"`   // shadow.yaml
	Datasets string              `json:"datasets"` // datasets.yaml
	DB       string              `json:"db"`
	Legacy   lake.Location       `json:"-"`
	New      lake.Location       `json:"-"`
	Nodes    int                 `json:"nodes"`
	Backups  int                 `json:"backups"`
	Stale    string              `json:"stale_node"` // the node whose previous backup the legacy connector read
	Faithful bool                `json:"faithful"`   // the legacy output was made with the new engine's settings
	Tables   []string            `json:"tables"`
	Keys     map[string][]string `json:"keys"`
	// LegacyRows is what the legacy connector wrote, per table.
	LegacyRows map[string]int64 `json:"legacy_rows"`
}

// BuildWorld builds the demo world: a 6-node, two-DC cluster of two tables
// whose history (overwrites, replicas that missed writes, TTLs, deletions)
// is uploaded as three nightly Medusa backups, and the legacy connector's
// output of each table, produced by the engine set to behave as the legacy
// connector did:
//
//   - consistency ONE: one replica per range, so writes that replica missed
//     are missing;
//   - TTLs expired at the moment of the run, not at the backup's snapshot;
//   - for one node, the previous backup, as when its sidecar's upload lagged.
func BuildWorld(ctx context.Context, o WorldOptions) (*World, error) {
	if o.Dir == "" {
		return nil, errors.New("demo: no directory")
	}
	if err := prepareDir(o.Dir); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if o.Store == "" {
		o.Store = "file://" + filepath.Join(abs, "backups")
	}
	if o.Legacy.Catalog == "" {
		o.Legacy = lake.Location{Catalog: "sqlite:" + filepath.Join(abs, "catalog.db"), Warehouse: "file://" + filepath.Join(abs, "warehouse"), S3: o.S3}
	}
	if o.New.Catalog == "" {
		o.New = o.Legacy
	}
	if o.Seed == 0 {
		o.Seed = defaultSeed
	}
	if o.Mutations == 0 {
		o.Mutations = 6000
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	if o.Schedule == "" {
		o.Schedule = "0 2 * * *"
	}

	c, err := cluster.Random(o.Seed, cluster.Options{
		Keyspace:   Keyspace,
		Tables:     WorldTables(),
		Mutations:  o.Mutations,
		Partitions: 150,
		// Rarer lost writes and TTLs than the generator's defaults, so the
		// legacy emulation differs by a few percent, as in the field.
		DropRate: 0.01,
		TTLRate:  0.04,
		// Backups a few days before now, so the TTLs the legacy connector
		// expires at run time have had time to run out.
		Start: o.Now.Truncate(24 * time.Hour).Add(-5 * 24 * time.Hour),
	})
	if err != nil {
		return nil, fmt.Errorf("demo: simulating the cluster: %w", err)
	}
	st, err := objstore.Open(ctx, o.Store, objstore.Settings{Endpoint: o.S3.Endpoint, PathStyle: o.S3.PathStyle, Region: o.S3.Region})
	if err != nil {
		return nil, fmt.Errorf("demo: backup store %s: %w", o.Store, err)
	}
	backups, err := c.Upload(ctx, st, cluster.UploadOptions{})
	if err != nil {
		return nil, fmt.Errorf("demo: uploading the backups to %s: %w", o.Store, err)
	}
	nodes := c.Nodes()
	w := &World{
		Dir: o.Dir, Store: o.Store, Legacy: o.Legacy, New: o.New,
		Config:     filepath.Join(o.Dir, "shadow.yaml"),
		Datasets:   filepath.Join(o.Dir, "datasets.yaml"),
		DB:         filepath.Join(o.Dir, "shadow.db"),
		Nodes:      len(nodes),
		Backups:    len(backups),
		Stale:      nodes[len(nodes)-1].Name,
		Faithful:   o.Faithful,
		Keys:       map[string][]string{},
		LegacyRows: map[string]int64{},
	}

	cat, err := lake.Open(ctx, o.Legacy, true)
	if err != nil {
		return nil, fmt.Errorf("demo: legacy catalog: %w", err)
	}
	defer cat.Close()
	for _, t := range WorldTables() {
		ref, err := lake.ParseTableRef(LegacyNS + "." + t.Name)
		if err != nil {
			return nil, err
		}
		job := move.Job{
			Store:               o.Store,
			S3:                  o.S3,
			Keyspace:            Keyspace,
			Table:               t.Name,
			AsOf:                o.Now,
			Consistency:         "ONE",
			TTLReference:        o.Now,
			PreviousBackupNodes: []string{w.Stale},
		}
		if o.Faithful {
			job.Consistency, job.TTLReference, job.PreviousBackupNodes = "LOCAL_QUORUM", time.Time{}, nil
		}
		res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref, Mode: sink.Overwrite,
			Properties: map[string]string{"shadow.demo": "legacy connector emulation"}}, nil)
		if err != nil {
			return nil, fmt.Errorf("demo: the legacy connector's output of %s: %w", t.Name, err)
		}
		w.Tables = append(w.Tables, t.Name)
		w.Keys[t.Name] = res.Key
		w.LegacyRows[t.Name] = res.Rows
	}
	if err := w.writeFiles(o); err != nil {
		return nil, err
	}
	return w, nil
}

// prepareDir empties dir when it holds an earlier demo (or nothing), and
// refuses to touch anything else.
func prepareDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("demo: %w", err)
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
			return fmt.Errorf("demo: %s is not empty and is not an earlier demo (no %s): choose another --dir", dir, markerFile)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("demo: clearing the earlier demo: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("made by shadow demo; the next demo replaces this directory\n"), 0o644)
}

// writeFiles writes shadow.yaml and datasets.yaml.
func (w *World) writeFiles(o WorldOptions) error {
	var b strings.Builder
	b.WriteString("# The datasets of the shadow demo: one per table of the simulated cluster.\ndatasets:\n")
	for _, t := range w.Tables {
		fmt.Fprintf(&b, `  - name: %[1]s
    owner: demo@example.com
    source:
      store: %[2]s
      keyspace: %[3]s
      table: %[1]s
      layout: medusa
      consistency: LOCAL_QUORUM
      ttl_reference: snapshot
    legacy: iceberg:%[4]s.%[1]s
    new: iceberg:%[5]s.%[1]s
    key: [%[6]s]
    schedule: %[7]q
    labels: {team: demo}
    provenance: true
`, t, w.Store, Keyspace, LegacyNS, ShadowNS, strings.Join(w.Keys[t], ", "), o.Schedule)
	}
	if err := os.WriteFile(w.Datasets, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := fmt.Sprintf(`# shadow.yaml of the demo: run shadow with --config %s
db: shadow.db
iceberg:
  catalog: %s
  warehouse: %s
datasets: datasets.yaml
serve:
  listen: 127.0.0.1:9464
`, w.Config, w.Legacy.Catalog, w.Legacy.Warehouse)
	if w.New != w.Legacy {
		cfg += fmt.Sprintf("new:\n  catalog: %s\n  warehouse: %s\n", w.New.Catalog, w.New.Warehouse)
	}
	if o.S3.Endpoint != "" {
		cfg += fmt.Sprintf("s3:\n  endpoint: %s\n  path_style: %v\n", o.S3.Endpoint, o.S3.PathStyle)
		if o.S3.Region != "" {
			cfg += fmt.Sprintf("  region: %s\n", o.S3.Region)
		}
	}
	if err := os.WriteFile(w.Config, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}
