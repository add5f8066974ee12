// Package backuptest builds realistic Medusa and Priam backups of a small
// simulated cluster, with placeholder bytes standing in for SSTable
// components, for the tests of the catalog and the CLI. It drives the
// exported layout writers of package backup, as the simulated cluster
// generator will with real SSTables.
package backuptest

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// Table is a table of the cluster with the number of SSTables each node
// holds of it.
type Table struct {
	Keyspace, Table string
	SSTables        int
}

// Cluster is a simulated cluster.
type Cluster struct {
	Nodes  []ring.Node
	Schema string // CQL of the keyspaces and tables
	Tables []Table
	// Generation offsets SSTable generations, so that a later backup can
	// hold new SSTables next to old ones: SSTable i of a table is
	// nb-(Generation+i)-big.
	Generation int
}

// Components are the files of one placeholder SSTable.
var Components = []string{"CompressionInfo.db", "Data.db", "Digest.crc32", "Filter.db", "Index.db", "Statistics.db", "Summary.db", "TOC.txt"}

// Schema is the CQL of the tables New creates.
const Schema = `CREATE KEYSPACE shop WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', %s}  AND durable_writes = true;

CREATE TABLE shop.orders (
    customer text,
    order_id int,
    total double,
    note text,
    PRIMARY KEY (customer, order_id)
) WITH CLUSTERING ORDER BY (order_id DESC)
    AND default_time_to_live = 0
    AND gc_grace_seconds = 864000;

CREATE TABLE shop.carts (
    id uuid PRIMARY KEY,
    items frozen<map<text, int>>
);
`

// New returns a Murmur3 cluster of nodesPerDC nodes in each DC, spread
// over racks, with vnodes tokens each, evenly spaced and interleaved as a
// balanced ring is. Node names are <dc>-node<i>.example.com.
func New(dcs []string, racks, nodesPerDC, vnodes int) *Cluster {
	c := &Cluster{Tables: []Table{{"shop", "orders", 2}, {"shop", "carts", 1}}}
	total := len(dcs) * nodesPerDC * vnodes
	step := math.MaxUint64 / uint64(total)
	k := 0
	var rf []string
	for d, dc := range dcs {
		rf = append(rf, fmt.Sprintf("'%s': '%d'", dc, min(3, nodesPerDC)))
		for i := range nodesPerDC {
			n := ring.Node{Name: fmt.Sprintf("%s-node%d.example.com", dc, i+1), DC: dc, Rack: fmt.Sprintf("rack%d", i%racks+1)}
			for v := range vnodes {
				// Interleave: token slot v·nodes + node index.
				slot := uint64(v*len(dcs)*nodesPerDC + d*nodesPerDC + i)
				n.Tokens = append(n.Tokens, int64(uint64(1)<<63+slot*step+uint64(k%7)))
			}
			k++
			c.Nodes = append(c.Nodes, n)
		}
	}
	c.Schema = fmt.Sprintf(Schema, strings.Join(rf, ", "))
	return c
}

// Priam returns a Priam-style cluster: one token per node, nodes named
// by their token, DCs named like AWS regions with racks like zones.
func Priam(regions []string, nodesPerRegion int) *Cluster {
	c := New(regions, 3, nodesPerRegion, 1)
	for i := range c.Nodes {
		n := &c.Nodes[i]
		n.Rack = fmt.Sprintf("%s%c", n.DC, 'a'+i%3)
		n.Name = fmt.Sprint(n.Tokens[0])
	}
	c.Tables = append(c.Tables, Table{"system_schema", "keyspaces", 1}, Table{"system_schema", "tables", 1}, Table{"system_schema", "columns", 1})
	return c
}

// Content is the placeholder bytes of one component: deterministic, and
// of a size that differs by file.
func Content(node, keyspace, table, sstable, component string) []byte {
	h := fnv.New32a()
	fmt.Fprint(h, node, keyspace, table, sstable, component)
	line := fmt.Sprintf("placeholder %s %s.%s %s-%s\n", node, keyspace, table, sstable, component)
	n := 1 + int(h.Sum32()%40)
	return []byte(strings.Repeat(line, n))
}

// Files returns a node's snapshot files: every table's SSTables, every
// component each.
func (c *Cluster) Files(node ring.Node, t time.Time) []backup.File {
	var out []backup.File
	for _, tb := range c.Tables {
		for i := range tb.SSTables {
			sst := fmt.Sprintf("nb-%d-big", c.Generation+i+1)
			for _, comp := range Components {
				out = append(out, backup.File{
					Keyspace: tb.Keyspace, Table: tb.Table, Name: sst + "-" + comp,
					Data: Content(node.Name, tb.Keyspace, tb.Table, sst, comp),
					// SSTables are immutable: the same generation keeps its mtime.
					ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(c.Generation+i) * time.Hour),
				})
			}
		}
	}
	return out
}

// Options shape one backup.
type Options struct {
	Prefix       string                    // Medusa prefix
	Differential bool                      // Medusa differential mode
	Base         string                    // Priam BASE folder
	App          string                    // Priam application (default "shop")
	Compression  backup.Compression        // Priam compression (default SNAPPY)
	Skew         func(i int) time.Duration // node i snapshots at t + Skew(i)
	Skip         map[string]bool           // nodes that do not take part
	// PerNodeNames gives every node backup its own Medusa name
	// (<name>-<node index>), as backup-node run by cron would.
	PerNodeNames bool
}

func (o Options) at(t time.Time, i int) time.Time {
	if o.Skew == nil {
		return t
	}
	return t.Add(o.Skew(i))
}

// WriteMedusa uploads a Medusa backup of every node, nodes in parallel.
func (c *Cluster) WriteMedusa(ctx context.Context, st objstore.Store, name string, t time.Time, o Options) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, n := range c.Nodes {
		if o.Skip[n.Name] {
			continue
		}
		g.Go(func() error {
			var dcRing []ring.Node
			for _, m := range c.Nodes {
				if m.DC == n.DC {
					dcRing = append(dcRing, m)
				}
			}
			w := &backup.MedusaWriter{Store: st, Prefix: o.Prefix, Differential: o.Differential, Schema: c.Schema, Ring: dcRing}
			bn := name
			if o.PerNodeNames {
				bn = fmt.Sprintf("%s-%d", name, i+1)
			}
			at := o.at(t, i)
			return w.WriteNode(ctx, bn, backup.NodeUpload{Node: n, Time: at, Files: c.Files(n, at)})
		})
	}
	return g.Wait()
}

// WritePriam uploads a Priam snapshot of every node.
func (c *Cluster) WritePriam(ctx context.Context, st objstore.Store, t time.Time, o Options) error {
	app := o.App
	if app == "" {
		app = "shop"
	}
	w := &backup.PriamWriter{Store: st, Base: o.Base, App: app, Compression: o.Compression}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, n := range c.Nodes {
		if o.Skip[n.Name] {
			continue
		}
		at := o.at(t, i)
		g.Go(func() error { return w.WriteNode(ctx, backup.NodeUpload{Node: n, Time: at, Files: c.Files(n, at)}) })
	}
	return g.Wait()
}
