package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file" // file:// stores
)

// DemoOptions is the cluster of `shadow demo`: six nodes in two DCs of
// three racks (RF 3 each, 8 vnodes), keyspace "shop" with two tables,
// orders (a clustered table with a set and TTLs) and customers (one row
// per partition), a few thousand live rows each, two daily Medusa backups
// (so every node has a previous backup), 3% of writes lost per replica,
// and every kind of deletion.
func DemoOptions() Options {
	return Options{
		Layout:   backup.Medusa,
		Keyspace: "shop",
		DCs:      []DCSpec{{Name: "dc1", Nodes: 3, Racks: 3, RF: 3}, {Name: "dc2", Nodes: 3, Racks: 3, RF: 3}},
		Vnodes:   8,
		Tables: []TableSpec{
			{
				Name:         "orders",
				PartitionKey: []ColumnSpec{{Name: "customer", Type: "text"}},
				Clustering:   []ColumnSpec{{Name: "order_id", Type: "int"}},
				Regular: []ColumnSpec{{Name: "status", Type: "text"}, {Name: "amount", Type: "double"},
					{Name: "placed", Type: "timestamp"}, {Name: "tags", Type: "set<text>"}},
				Partitions: 200, RowsPerPartition: 30, Weight: 3,
			},
			{
				Name:         "customers",
				PartitionKey: []ColumnSpec{{Name: "id", Type: "uuid"}},
				Regular: []ColumnSpec{{Name: "name", Type: "text"}, {Name: "email", Type: "ascii"},
					{Name: "age", Type: "int"}, {Name: "since", Type: "date"}},
				Partitions: 4000, Weight: 2,
			},
		},
		Mutations:  22000,
		Rounds:     2,
		DropRate:   0.03,
		FlushEvery: 500, // a few SSTables per node and table: the demo starts fast
		Mix:        Mix{Insert: 60, Update: 20, Collection: 8, DeleteCell: 3, DeleteRow: 4, DeleteRange: 3, DeletePartition: 1},
	}
}

// Demo builds DemoOptions' cluster from seed and uploads its backups, in
// Medusa's layout, to the folder dir (created when missing; the store is
// file://dir). The same seed gives the same cluster, SSTables and
// backups. Truth(Query{Table: "orders"}) is then the expected content of
// the newest backup at LOCAL_QUORUM.
func Demo(ctx context.Context, seed int64, dir string) (*Cluster, []BackupInfo, error) {
	c, err := Random(seed, DemoOptions())
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, nil, err
	}
	st, err := objstore.Open(ctx, "file://"+abs, objstore.Settings{})
	if err != nil {
		return nil, nil, fmt.Errorf("demo store %s: %w", abs, err)
	}
	infos, err := c.Upload(ctx, st, UploadOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("uploading the demo cluster to %s: %w", abs, err)
	}
	return c, infos, nil
}
