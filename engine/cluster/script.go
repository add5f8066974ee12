package cluster

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/sstable"
)

// A scripted cluster: the data-model generators (Key-Value, Time-Series)
// know the logical writes they make, in order. They play them on a ring of
// three nodes in one DC (three racks, RF 3, vnodes), where each write is
// missed by at most one replica, so any two replicas together hold every
// write and LOCAL_QUORUM (or ALL) reads exactly the logical state the
// generator tracked. Each node flushes its writes into several SSTables
// (a write and its overwrite often land in different files, on different
// nodes), then snapshots, and the nodes upload as one Medusa backup.

type scriptWrite struct {
	table string
	ts    int64
	apply func(b *sstable.Builder)
	miss  int // the replica that missed it, -1 for none
}

type scripted struct {
	keyspace string
	nodes    []ring.Node
	versions []string
	tables   map[string]*sstable.Schema
	order    []string // table names in creation order
	ksCQL    string   // CREATE KEYSPACE
	creates  map[string]string
	writes   []scriptWrite
	flushes  int
	dropRate float64
	r        *rand.Rand
	snapshot time.Time
}

func newScripted(r *rand.Rand, keyspace string, flushes int, dropRate float64, snapshot time.Time) *scripted {
	s := &scripted{keyspace: keyspace, flushes: max(flushes, 1), dropRate: dropRate, r: r, tables: map[string]*sstable.Schema{}, creates: map[string]string{}, snapshot: snapshot}
	used := map[int64]bool{}
	for i := range 3 {
		n := ring.Node{Name: fmt.Sprintf("%s-%d.dc1.cassandra.local", keyspace, i+1), DC: "dc1", Rack: fmt.Sprintf("rack%d", i+1),
			Tokens: newTokens(r, used, 4)}
		s.nodes = append(s.nodes, n)
		s.versions = append(s.versions, []string{"nb", "oa"}[i%2])
	}
	s.ksCQL = "CREATE KEYSPACE " + keyspace + " WITH replication = {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': '3'}  AND durable_writes = true;\n"
	return s
}

// addTable declares a table: its SSTable schema and its CREATE TABLE.
func (s *scripted) addTable(sch *sstable.Schema, create string) {
	s.tables[sch.Table] = sch
	s.order = append(s.order, sch.Table)
	s.creates[sch.Table] = create
}

// schemaCQL is schema.cql without the skipped tables.
func (s *scripted) schemaCQL(skip map[string]bool) string {
	out := s.ksCQL
	for _, t := range s.order {
		if !skip[t] {
			out += "\n" + s.creates[t]
		}
	}
	return out
}

// write records one logical write to table at ts.
func (s *scripted) write(table string, ts int64, apply func(b *sstable.Builder)) {
	miss := -1
	if s.r.Float64() < s.dropRate {
		miss = s.r.IntN(len(s.nodes))
	}
	s.writes = append(s.writes, scriptWrite{table: table, ts: ts, apply: apply, miss: miss})
}

// upload writes every node's SSTables into work and uploads the nodes as
// the Medusa backup name. skip leaves tables out of the backup: their
// files and their CREATE TABLE (as when a table was dropped).
func (s *scripted) upload(ctx context.Context, st objstore.Store, name, prefix, work string, skip map[string]bool) (BackupInfo, error) {
	info := BackupInfo{Round: 1, ID: name, Layout: backup.Medusa, FirstSnapshot: s.snapshot, SnapshotTime: s.snapshot}
	times := make([]time.Time, len(s.nodes))
	for i := range s.nodes {
		// nodes snapshot within 20 minutes; the last one at s.snapshot
		times[i] = s.snapshot.Add(-time.Duration(len(s.nodes)-1-i) * 10 * time.Minute)
	}
	info.FirstSnapshot = times[0]
	files := make([][]backup.File, len(s.nodes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(3)
	for ni := range s.nodes {
		g.Go(func() error {
			fs, err := s.nodeFiles(gctx, ni, work, skip)
			files[ni] = fs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return info, err
	}
	for ni, n := range s.nodes {
		ssts := map[string]bool{}
		for _, f := range files[ni] {
			ssts[f.Table+"/"+f.Name[:len(f.Name)-len(filepath.Ext(f.Name))]] = true
		}
		info.Nodes = append(info.Nodes, NodeSnapshot{Node: n.Name, DC: n.DC, Rack: n.Rack, Time: times[ni], SSTables: len(ssts)})
		w := &backup.MedusaWriter{Store: st, Prefix: prefix, Schema: s.schemaCQL(skip), Ring: s.nodes}
		if err := w.WriteNode(ctx, name, backup.NodeUpload{Node: n, Time: times[ni], Files: files[ni]}); err != nil {
			return info, fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return info, nil
}

// nodeFiles flushes node ni's writes: s.flushes windows of the write
// sequence, one SSTable per table and window.
func (s *scripted) nodeFiles(ctx context.Context, ni int, work string, skip map[string]bool) ([]backup.File, error) {
	n := s.nodes[ni]
	var out []backup.File
	gen := 0
	per := (len(s.writes) + s.flushes - 1) / s.flushes
	for w := 0; w < len(s.writes); w += per {
		window := s.writes[w:min(w+per, len(s.writes))]
		for _, tn := range s.order {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if skip[tn] {
				continue
			}
			b, err := sstable.NewBuilder(s.tables[tn])
			if err != nil {
				return nil, err
			}
			any := false
			for _, x := range window {
				if x.table == tn && x.miss != ni {
					x.apply(b)
					any = true
				}
			}
			if !any {
				continue
			}
			gen++
			id := tableID(s.keyspace, tn)
			dir := filepath.Join(work, n.Name, s.keyspace, tn+"-"+id)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			comp := []string{sstable.LZ4, sstable.Zstd, sstable.None}[(gen+ni)%3]
			paths, err := b.WriteTo(dir, &sstable.WriterOptions{Version: s.versions[ni], Generation: gen, Compression: comp})
			if err != nil {
				return nil, fmt.Errorf("%s.%s on %s: %w", s.keyspace, tn, n.Name, err)
			}
			for _, p := range paths {
				fi, err := os.Stat(p)
				if err != nil {
					return nil, err
				}
				out = append(out, backup.File{Keyspace: s.keyspace, Table: tn, TableID: id, Name: filepath.Base(p),
					Open: func() (io.ReadCloser, error) { return os.Open(p) }, Size: fi.Size(), ModTime: s.snapshot.Add(-time.Hour)})
			}
		}
	}
	return out, nil
}
