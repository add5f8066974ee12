package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// BackupInfo describes one backup round as the catalog will see it once
// uploaded.
type BackupInfo struct {
	Round int `json:"round"`
	// ID is the catalog's ID: the Medusa backup name, or the Priam
	// yyyyMMddHHmm of the first node snapshot.
	ID     string        `json:"id"`
	Layout backup.Layout `json:"layout"`
	// FirstSnapshot and SnapshotTime are the earliest and the latest node
	// snapshot; SnapshotTime is the backup's time (contracts §8) and the
	// default TTL reference.
	FirstSnapshot time.Time      `json:"first_snapshot"`
	SnapshotTime  time.Time      `json:"snapshot_time"`
	Nodes         []NodeSnapshot `json:"nodes"`
	// SchemaVersion counts the schema changes before the backup.
	SchemaVersion int `json:"schema_version"`
	// Faults are the faults injected into this backup by Upload.
	Faults []Fault `json:"faults,omitempty"`
}

// NodeSnapshot is one node's snapshot in a backup.
type NodeSnapshot struct {
	Node     string    `json:"node"`
	DC       string    `json:"dc"`
	Rack     string    `json:"rack"`
	Time     time.Time `json:"time"`
	SSTables int       `json:"sstables"`
}

// Backups describes every backup round, in time order.
func (c *Cluster) Backups() []BackupInfo {
	var out []BackupInfo
	for _, rd := range c.rounds {
		out = append(out, c.backupInfo(rd))
	}
	return out
}

func (c *Cluster) backupInfo(rd *round) BackupInfo {
	b := BackupInfo{Round: rd.index, ID: c.backupID(rd), Layout: c.opts.Layout, FirstSnapshot: rd.firstSnapshot(),
		SnapshotTime: rd.snapshotTime(), SchemaVersion: rd.schema}
	for _, s := range rd.snaps {
		b.Nodes = append(b.Nodes, NodeSnapshot{Node: s.node.Name, DC: s.node.DC, Rack: s.node.Rack, Time: s.time, SSTables: len(s.sstables)})
	}
	return b
}

func (c *Cluster) backupID(rd *round) string {
	if c.opts.Layout == backup.Priam {
		return priamID(rd.firstSnapshot())
	}
	return rd.name
}

// Fault kinds Upload can inject.
const (
	// FaultMissingFile leaves one SSTable component out of the store while
	// the manifest (Medusa) or meta file (Priam) still lists it.
	FaultMissingFile = "missing_file"
	// FaultTruncated stores one component shorter than listed.
	FaultTruncated = "truncated"
	// FaultUnfinished leaves out a Medusa node's manifest.json: the node
	// backup started and never finished.
	FaultUnfinished = "unfinished"
	// FaultMissingNode leaves a node out of the backup altogether.
	FaultMissingNode = "missing_node"
)

// Fault is a defect injected into one node's upload.
type Fault struct {
	Round int    `json:"round"`
	Node  string `json:"node"`  // default the round's first node
	Kind  string `json:"kind"`  // FaultMissingFile, FaultTruncated, FaultUnfinished, FaultMissingNode
	Table string `json:"table"` // which table's SSTable (default the first with one)
	// Component is the SSTable component hit (default Data.db).
	Component string `json:"component"`
	// Key is the object affected, filled in by Upload.
	Key string `json:"key,omitempty"`

	dir, name string // the file hit: <ks>/<table-id>/ and its name
}

// UploadOptions shape an upload.
type UploadOptions struct {
	// Prefix is Medusa's storage prefix ("" for none).
	Prefix string
	// Differential stores each SSTable once per node (Medusa's
	// differential mode); otherwise every backup copies its files.
	Differential bool
	// App is Priam's application name (default the keyspace); Base its
	// BASE folder ("" when the store's root is it); Compression its
	// object compression (default SNAPPY).
	App         string
	Base        string
	Compression backup.Compression
	// Rounds lists the rounds to upload (default all).
	Rounds []int
	// Faults are defects to inject.
	Faults []Fault
	// WorkDir receives the SSTables before upload ("" for a temporary
	// folder removed afterwards). Uploads of one Cluster to the same
	// WorkDir write each SSTable once and reuse it afterwards.
	WorkDir string
	// Concurrency bounds parallel node uploads (default 4).
	Concurrency int
}

// Upload writes the cluster's SSTables and uploads the chosen backup
// rounds to the store, in the cluster's layout, in time order, each node
// as its sidecar would. It returns what it uploaded.
func (c *Cluster) Upload(ctx context.Context, st objstore.Store, o UploadOptions) ([]BackupInfo, error) {
	work := o.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "shadow-cluster-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		work = d
	}
	rounds := o.Rounds
	if len(rounds) == 0 {
		for _, rd := range c.rounds {
			rounds = append(rounds, rd.index)
		}
	}
	conc := o.Concurrency
	if conc <= 0 {
		conc = 4
	}
	app := o.App
	if app == "" {
		app = c.keyspace
	}
	files := c.cacheFor(work, o.WorkDir != "")
	var out []BackupInfo
	for _, ri := range rounds {
		rd, err := c.round(ri)
		if err != nil {
			return nil, err
		}
		info := c.backupInfo(rd)
		for _, f := range o.Faults {
			if f.Round != ri {
				continue
			}
			if f.Node == "" {
				f.Node = rd.snaps[0].node.Name
			}
			if rd.snap(f.Node) == nil {
				return nil, fmt.Errorf("%w: fault on node %q, which has no snapshot in round %d", ErrBadOptions, f.Node, ri)
			}
			info.Faults = append(info.Faults, f)
		}
		faults := map[string][]*Fault{}
		for i := range info.Faults {
			faults[info.Faults[i].Node] = append(faults[info.Faults[i].Node], &info.Faults[i])
		}
		schemaCQL := c.schemaCQL(rd.schema)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(conc)
		for _, s := range rd.snaps {
			fs := faults[s.node.Name]
			if slices.ContainsFunc(fs, func(f *Fault) bool { return f.Kind == FaultMissingNode }) {
				continue
			}
			g.Go(func() error {
				bf, err := c.nodeFiles(gctx, files, rd, s, fs)
				if err != nil {
					return err
				}
				up := backup.NodeUpload{Node: s.node.ringNode(), Time: s.time, Files: bf}
				store := st
				if len(fs) > 0 {
					store = &faultStore{Store: st, faults: fs}
				}
				if c.opts.Layout == backup.Priam {
					w := &backup.PriamWriter{Store: store, Base: o.Base, App: app, Compression: o.Compression}
					return w.WriteNode(gctx, up)
				}
				var dcRing []ring.Node
				for _, x := range rd.snaps {
					if x.node.DC == s.node.DC {
						dcRing = append(dcRing, x.node.ringNode())
					}
				}
				w := &backup.MedusaWriter{Store: store, Prefix: o.Prefix, Differential: o.Differential, Schema: schemaCQL, Ring: dcRing}
				return w.WriteNode(gctx, rd.name, up)
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		for _, f := range info.Faults {
			if f.Kind != FaultMissingNode && f.Kind != FaultUnfinished && f.Key == "" {
				return nil, fmt.Errorf("%w: fault %s on node %s in round %d hit no object", ErrBadOptions, f.Kind, f.Node, ri)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// sstCache writes each SSTable once, however many backups hold it; node
// uploads write theirs in parallel (the SSTable writer syncs every file,
// so this is latency bound).
type sstCache struct {
	c    *Cluster
	dir  string
	mu   sync.Mutex
	done map[*sst]*sstEntry
	sys  map[string]*sysEntry // node/schema version -> system_schema files
}

type sysEntry struct {
	once  sync.Once
	files []backup.File
	err   error
}

type sstEntry struct {
	once  sync.Once
	files []string
	err   error
}

// cacheFor returns the SSTable cache of a work folder: a kept one for a
// caller's folder, a fresh one for a temporary folder.
func (c *Cluster) cacheFor(dir string, keep bool) *sstCache {
	if !keep {
		return newSSTCache(c, dir)
	}
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.caches == nil {
		c.caches = map[string]*sstCache{}
	}
	if sc := c.caches[dir]; sc != nil {
		return sc
	}
	sc := newSSTCache(c, dir)
	c.caches[dir] = sc
	return sc
}

func newSSTCache(c *Cluster, dir string) *sstCache {
	return &sstCache{c: c, dir: dir, done: map[*sst]*sstEntry{}, sys: map[string]*sysEntry{}}
}

func (sc *sstCache) files(s *sst) ([]string, error) {
	sc.mu.Lock()
	e := sc.done[s]
	if e == nil {
		e = &sstEntry{}
		sc.done[s] = e
	}
	sc.mu.Unlock()
	e.once.Do(func() {
		d := filepath.Join(sc.dir, s.node.Name, s.table.ks, s.table.name+"-"+s.table.id)
		if e.err = os.MkdirAll(d, 0o755); e.err != nil {
			return
		}
		e.files, e.err = sc.c.writeSST(d, s)
	})
	return e.files, e.err
}

// nodeFiles lists a node snapshot's files, writing SSTables as needed,
// and resolves the faults aimed at them.
func (c *Cluster) nodeFiles(ctx context.Context, cache *sstCache, rd *round, s *nodeSnap, faults []*Fault) ([]backup.File, error) {
	var out []backup.File
	for _, x := range s.sstables {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		paths, err := cache.files(x)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			out = append(out, backup.File{
				Keyspace: x.table.ks, Table: x.table.name, TableID: x.table.id, Name: filepath.Base(p),
				Open: func() (io.ReadCloser, error) { return os.Open(p) }, Size: fi.Size(), ModTime: x.flushed,
			})
		}
	}
	if c.opts.Layout == backup.Priam {
		sf, err := c.systemSchemaFiles(cache, s)
		if err != nil {
			return nil, err
		}
		out = append(out, sf...)
	}
	for _, f := range faults {
		if f.Kind != FaultMissingFile && f.Kind != FaultTruncated {
			continue
		}
		comp := f.Component
		if comp == "" {
			comp = "Data.db"
		}
		// the newest file first: Priam uploads a file only once, so an
		// older one may already be in the store
		for _, bf := range slices.Backward(out) {
			if strings.HasSuffix(bf.Name, "-"+comp) && (f.Table == "" || f.Table == bf.Table) && bf.Keyspace == c.keyspace {
				f.Component, f.Table = comp, bf.Table
				f.dir, f.name = bf.Keyspace+"/"+bf.TableDir()+"/", bf.Name
				break
			}
		}
	}
	return out, nil
}

// faultStore drops or truncates the objects its faults name, and the
// Medusa manifest of an unfinished node.
type faultStore struct {
	objstore.Store
	mu     sync.Mutex
	faults []*Fault
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f.mu.Lock()
	var hit *Fault
	for _, x := range f.faults {
		switch x.Kind {
		case FaultUnfinished:
			if strings.HasSuffix(key, "/meta/manifest.json") {
				hit, x.Key = x, key
			}
		case FaultMissingFile, FaultTruncated:
			// Medusa: …/data/<ks>/<table-id>/<file>; Priam: …/<ks>/<table-id>/<COMP>/<ENC>/<file>
			if x.name != "" && strings.Contains(key, "/"+x.dir) && strings.HasSuffix(key, "/"+x.name) {
				hit, x.Key = x, key
			}
		}
	}
	f.mu.Unlock()
	if hit == nil {
		return f.Store.Put(ctx, key, r, size)
	}
	switch hit.Kind {
	case FaultTruncated:
		n := max(size/2, 0)
		return f.Store.Put(ctx, key, io.LimitReader(r, n), n)
	default:
		// drain, so that the writer's checksum sees the whole file
		_, err := io.Copy(io.Discard, r)
		return err
	}
}
