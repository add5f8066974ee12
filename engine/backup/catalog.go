package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
)

// Catalog reads the backups of one cluster from one store. It caches what
// it has read (listings, manifests); open a new one to see new backups.
// It is safe for concurrent use.
type Catalog struct {
	store   objstore.Store
	opts    Options
	layout  Layout
	cluster string
	root    string // Medusa: "PREFIX/" or ""; Priam: "[BASE/]<hash>_<app>/"

	mu       sync.Mutex
	scanned  bool
	backups  []*Backup                  // newest first
	history  map[string][]*NodeSnapshot // node → every snapshot of it, oldest first
	tokenmap map[string]map[string]*topoNode
	listings map[string]map[string]objstore.Object
	listMu   map[string]*sync.Mutex

	cacheMu  sync.Mutex
	cacheDir string
	ownCache bool
	decoding map[string]*sync.Mutex
}

// Open finds the cluster's backups in the store: it detects the layout
// (a Medusa meta/manifest.json, or Priam META_V2 folders) unless
// opts.Layout forces it, and resolves opts.Cluster. A store that holds
// neither, or a cluster that is not there, is an error wrapping
// ErrNotFound that says what the store does hold.
func Open(ctx context.Context, st objstore.Store, opts Options) (*Catalog, error) {
	if opts.SnapshotWindow <= 0 {
		opts.SnapshotWindow = DefaultSnapshotWindow
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	c := &Catalog{
		store: st, opts: opts,
		listings: map[string]map[string]objstore.Object{}, listMu: map[string]*sync.Mutex{},
		decoding: map[string]*sync.Mutex{},
	}
	var err error
	switch opts.Layout {
	case Priam:
		c.layout = Priam
		err = c.openPriam(ctx)
	case Medusa:
		c.layout = Medusa
		err = c.openMedusa(ctx)
	case "":
		err = c.detect(ctx)
	default:
		return nil, fmt.Errorf("%w: layout %q: want medusa or priam", ErrFormat, opts.Layout)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Close removes the temporary cache folder, if the catalog made one.
func (c *Catalog) Close() error {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.ownCache && c.cacheDir != "" {
		err := os.RemoveAll(c.cacheDir)
		c.cacheDir = ""
		return err
	}
	return nil
}

// Layout is the layout in use.
func (c *Catalog) Layout() Layout { return c.layout }

// Cluster is the Priam application name or the Medusa prefix ("" for none).
func (c *Catalog) Cluster() string { return c.cluster }

// Store is the object store.
func (c *Catalog) Store() objstore.Store { return c.store }

func (c *Catalog) progress(stage string, done, total int) {
	if c.opts.Progress != nil {
		c.opts.Progress(stage, done, total)
	}
}

// scanNodes runs scan on every folder right under the cluster root (a
// node's or a token's; skip names one to pass over, "" for none), at most
// Options.Concurrency at a time, and gathers the node snapshots found.
// Progress counts the folders done.
func (c *Catalog) scanNodes(ctx context.Context, skip string, scan func(ctx context.Context, dir string) ([]*NodeSnapshot, error)) ([]*NodeSnapshot, error) {
	tops, err := objstore.ListAll(ctx, c.store, c.root, "/")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, o := range tops {
		if o.IsPrefix && (skip == "" || o.Key != c.root+skip) {
			dirs = append(dirs, o.Key)
		}
	}
	var mu sync.Mutex
	var snaps []*NodeSnapshot
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for _, dir := range dirs {
		g.Go(func() error {
			found, err := scan(gctx, dir)
			if err != nil {
				return err
			}
			mu.Lock()
			snaps = append(snaps, found...)
			done++
			c.progress("listing nodes", done, len(dirs))
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return snaps, nil
}

// where names the catalog in errors: the store URI plus the cluster root.
func (c *Catalog) where() string {
	if c.root == "" {
		return c.store.URI()
	}
	return strings.TrimSuffix(c.store.URI(), "/") + "/" + c.root
}

// detect finds the layout when none is forced.
func (c *Catalog) detect(ctx context.Context) error {
	if c.opts.Cluster != "" {
		c.layout = Priam
		perr := c.openPriam(ctx)
		if perr == nil {
			return nil
		}
		if !errors.Is(perr, ErrNotFound) {
			return perr
		}
		c.layout = Medusa
		if ok, err := c.medusaAt(ctx, prefixOf(c.opts.Cluster)); err != nil {
			return err
		} else if ok {
			return c.openMedusa(ctx)
		}
		return fmt.Errorf("%w: %s holds neither a Priam application %q nor a Medusa prefix %q/", ErrNotFound, c.store.URI(), c.opts.Cluster, c.opts.Cluster)
	}
	// Cheapest first: Priam folders at the root, Medusa nodes at the
	// root, then Priam under a BASE folder, then Medusa prefixes.
	apps, err := c.priamApps(ctx, false)
	if err != nil {
		return err
	}
	if len(apps) > 0 {
		c.layout = Priam
		return c.openPriam(ctx)
	}
	if ok, err := c.medusaAt(ctx, ""); err != nil {
		return err
	} else if ok {
		c.layout = Medusa
		return c.openMedusa(ctx)
	}
	if apps, err = c.priamApps(ctx, true); err != nil {
		return err
	}
	if len(apps) > 0 {
		c.layout = Priam
		return c.openPriam(ctx)
	}
	// Medusa prefixes one level down.
	top, err := objstore.ListAll(ctx, c.store, "", "/")
	if err != nil {
		return err
	}
	var prefixes []string
	for i, o := range top {
		if i >= 50 {
			break
		}
		if !o.IsPrefix {
			continue
		}
		if ok, err := c.medusaAt(ctx, o.Key); err != nil {
			return err
		} else if ok {
			prefixes = append(prefixes, strings.TrimSuffix(o.Key, "/"))
		}
	}
	switch len(prefixes) {
	case 0:
		return fmt.Errorf("%w: %s holds no Medusa backups (no <node>/<backup>/meta/manifest.json) and no Priam backups (no <hash>_<app>/<token>/META_V2/)", ErrNotFound, c.store.URI())
	case 1:
		c.layout = Medusa
		c.opts.Cluster = prefixes[0]
		return c.openMedusa(ctx)
	}
	return fmt.Errorf("%w: %s holds Medusa backups under several prefixes (%s): choose one with --cluster", ErrNotFound, c.store.URI(), strings.Join(prefixes, ", "))
}

func prefixOf(cluster string) string {
	cluster = strings.Trim(cluster, "/")
	if cluster == "" {
		return ""
	}
	return cluster + "/"
}

// listing returns every object under dir (recursively), listed once and
// cached: completeness checks and SSTable sizes use it.
func (c *Catalog) listing(ctx context.Context, dir string) (map[string]objstore.Object, error) {
	c.mu.Lock()
	if l, ok := c.listings[dir]; ok {
		c.mu.Unlock()
		return l, nil
	}
	m := c.listMu[dir]
	if m == nil {
		m = &sync.Mutex{}
		c.listMu[dir] = m
	}
	c.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	c.mu.Lock()
	if l, ok := c.listings[dir]; ok {
		c.mu.Unlock()
		return l, nil
	}
	c.mu.Unlock()
	l := map[string]objstore.Object{}
	for o, err := range c.store.List(ctx, dir, "") {
		if err != nil {
			return nil, err
		}
		l[o.Key] = o
	}
	c.mu.Lock()
	c.listings[dir] = l
	c.mu.Unlock()
	return l, nil
}

// Backups returns the cluster's backups, newest first.
func (c *Catalog) Backups(ctx context.Context) ([]*Backup, error) {
	c.mu.Lock()
	if c.scanned {
		defer c.mu.Unlock()
		return c.backups, nil
	}
	c.mu.Unlock()
	var snaps []*NodeSnapshot
	var err error
	if c.layout == Medusa {
		snaps, err = c.scanMedusa(ctx)
	} else {
		snaps, err = c.scanPriam(ctx)
	}
	if err != nil {
		return nil, err
	}
	history := map[string][]*NodeSnapshot{}
	for _, s := range snaps {
		history[s.Node] = append(history[s.Node], s)
	}
	for _, h := range history {
		sort.Slice(h, func(i, j int) bool { return h[i].Time.Before(h[j].Time) })
	}
	groups := group(snaps, c.layout == Medusa, c.opts.SnapshotWindow)
	var backups []*Backup
	ids := map[string]int{}
	for _, g := range groups {
		b := c.newBackup(g)
		if n := ids[b.ID]; n > 0 {
			ids[b.ID]++
			b.ID = fmt.Sprintf("%s-%d", b.ID, n+1)
		} else {
			ids[b.ID] = 1
		}
		backups = append(backups, b)
	}
	c.mu.Lock()
	c.history = history
	c.mu.Unlock()
	// The ring each backup expects.
	if c.layout == Medusa {
		if err := c.medusaExpected(ctx, backups); err != nil {
			return nil, err
		}
	} else {
		c.priamExpected(backups)
	}
	for _, b := range backups {
		for name := range b.expected {
			if b.Node(name) == nil {
				b.Missing = append(b.Missing, name)
			}
		}
		sort.Strings(b.Missing)
	}
	sort.SliceStable(backups, func(i, j int) bool {
		if !backups[i].SnapshotTime.Equal(backups[j].SnapshotTime) {
			return backups[i].SnapshotTime.After(backups[j].SnapshotTime)
		}
		return backups[i].ID > backups[j].ID
	})
	c.mu.Lock()
	c.backups, c.scanned = backups, true
	c.mu.Unlock()
	return backups, nil
}

func (c *Catalog) newBackup(g []*NodeSnapshot) *Backup {
	b := &Backup{Layout: c.layout, Cluster: c.cluster, Nodes: g}
	sort.Slice(b.Nodes, func(i, j int) bool { return b.Nodes[i].Node < b.Nodes[j].Node })
	names := map[string]bool{}
	types := map[string]bool{}
	for i, n := range g {
		if i == 0 || n.Time.Before(b.FirstSnapshot) {
			b.FirstSnapshot = n.Time
		}
		if n.Time.After(b.SnapshotTime) {
			b.SnapshotTime = n.Time
		}
		names[n.Name] = true
		types[n.Type] = true
	}
	switch {
	case len(types) == 1:
		for t := range types {
			b.Type = t
		}
	default:
		b.Type = "mixed"
	}
	if c.layout == Medusa {
		var list []string
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		b.ID = strings.Join(list, "+")
	} else {
		b.ID = b.FirstSnapshot.UTC().Format("200601021504")
	}
	return b
}

// Backup returns the backup with this id. For Medusa, one backup name of
// a backup whose id joins several also finds it.
func (c *Catalog) Backup(ctx context.Context, id string) (*Backup, error) {
	bs, err := c.Backups(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if b.ID == id {
			return b, nil
		}
	}
	for _, b := range bs {
		for _, part := range strings.Split(b.ID, "+") {
			if part == id {
				return b, nil
			}
		}
	}
	var ids []string
	for i, b := range bs {
		if i == 10 {
			ids = append(ids, "…")
			break
		}
		ids = append(ids, b.ID)
	}
	return nil, fmt.Errorf("%w: %q is not a backup in %s (newest: %s)", ErrNotFound, id, c.where(), strings.Join(ids, ", "))
}

// load reads the manifests (Medusa) or meta files (Priam) of a backup's
// nodes, once.
func (c *Catalog) load(ctx context.Context, b *Backup) error {
	c.mu.Lock()
	loaded := b.loaded
	c.mu.Unlock()
	if loaded {
		return nil
	}
	var err error
	if c.layout == Medusa {
		err = c.loadMedusa(ctx, b)
	} else {
		err = c.loadPriam(ctx, b)
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	b.loaded = true
	c.mu.Unlock()
	return nil
}

// Verify checks a backup: every ring node has a finished snapshot, and
// every file of every manifest or meta file exists with the right size.
// Object store failures are errors; what is missing goes in the report.
func (c *Catalog) Verify(ctx context.Context, b *Backup) (*Report, error) {
	r := &Report{Backup: b.ID, Layout: b.Layout, Cluster: b.Cluster, SnapshotTime: b.SnapshotTime, Problems: []Problem{}}
	if err := c.load(ctx, b); err != nil {
		return nil, err
	}
	for _, name := range b.Missing {
		t := c.topoOf(b, name)
		where := ""
		if t != nil && t.DC != "" {
			where = fmt.Sprintf(" (dc %s, rack %s)", t.DC, t.Rack)
		}
		r.Problems = append(r.Problems, Problem{Node: name, Kind: MissingNode,
			Detail: fmt.Sprintf("no snapshot of this ring node%s within %s of %s", where, c.opts.SnapshotWindow, b.FirstSnapshot.UTC().Format(time.RFC3339))})
	}
	for _, n := range b.Nodes {
		if n.Finished.IsZero() {
			r.Problems = append(r.Problems, Problem{Node: n.Node, Kind: UnfinishedNode, Key: n.MetaKey,
				Detail: fmt.Sprintf("backup %s started at %s but never finished: %s is missing", n.Name, n.Time.UTC().Format(time.RFC3339), n.MetaKey)})
		}
	}
	r.Problems = append(r.Problems, b.problems...)
	r.Nodes = len(b.expected)
	type result struct {
		files, present int
		bytes          int64
		problems       []Problem
	}
	results := make([]result, len(b.Nodes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	var done int
	var doneMu sync.Mutex
	for i, n := range b.Nodes {
		if n.Finished.IsZero() {
			continue
		}
		g.Go(func() error {
			res := &results[i]
			for _, f := range b.files[n.Node] {
				res.files++
				l, err := c.listing(gctx, c.listDir(n, f.Key))
				if err != nil {
					return err
				}
				o, ok := l[f.Key]
				switch {
				case !ok:
					res.problems = append(res.problems, Problem{Node: n.Node, Kind: MissingFile, Key: f.Key, Expected: f.Size,
						Detail: fmt.Sprintf("missing file %s (%s.%s, listed in %s)", f.Key, f.Keyspace, f.Table, path.Base(n.MetaKey))})
				case f.Size >= 0 && o.Size != f.Size:
					res.problems = append(res.problems, Problem{Node: n.Node, Kind: SizeMismatch, Key: f.Key, Expected: f.Size, Actual: o.Size,
						Detail: fmt.Sprintf("file %s has %d bytes, %s says %d", f.Key, o.Size, path.Base(n.MetaKey), f.Size)})
				default:
					res.present++
					res.bytes += o.Size
				}
			}
			doneMu.Lock()
			done++
			c.progress("verifying", done, len(b.Nodes))
			doneMu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, res := range results {
		r.Files += res.files
		r.FilesPresent += res.present
		r.Bytes += res.bytes
		r.Problems = append(r.Problems, res.problems...)
	}
	for _, n := range b.Nodes {
		if !n.Finished.IsZero() && b.expected[n.Node] {
			r.NodesPresent++
		}
	}
	sort.SliceStable(r.Problems, func(i, j int) bool {
		pi, pj := r.Problems[i], r.Problems[j]
		if pi.Node != pj.Node {
			return pi.Node < pj.Node
		}
		if pi.Kind != pj.Kind {
			return pi.Kind < pj.Kind
		}
		return pi.Key < pj.Key
	})
	r.Complete = len(r.Problems) == 0
	return r, nil
}

func (c *Catalog) topoOf(b *Backup, node string) *topoNode {
	if b.topo == nil {
		return nil
	}
	return b.topo[node]
}

// Pick returns the newest complete backup whose snapshot time is at or
// before asOf, with its verification report. Backups that fail are
// skipped. When none qualifies the error wraps ErrNoBackup and says what
// was wrong with the newest candidates.
func (c *Catalog) Pick(ctx context.Context, asOf time.Time) (*Backup, *Report, error) {
	bs, err := c.Backups(ctx)
	if err != nil {
		return nil, nil, err
	}
	var reasons []string
	checked := 0
	for _, b := range bs {
		if b.SnapshotTime.After(asOf) {
			continue
		}
		checked++
		rep, err := c.Verify(ctx, b)
		if err != nil {
			return nil, nil, err
		}
		if rep.Complete {
			if len(reasons) > 0 {
				slog.Info("skipped incomplete backups", "cluster", c.cluster, "skipped", strings.Join(reasons, "; "), "picked", b.ID)
			}
			return b, rep, nil
		}
		if len(reasons) < 3 {
			first := rep.Problems[0].String()
			if n := len(rep.Problems); n > 1 {
				first += fmt.Sprintf(" (and %d more)", n-1)
			}
			reasons = append(reasons, fmt.Sprintf("%s (snapshot %s): %s", b.ID, b.SnapshotTime.UTC().Format(time.RFC3339), first))
		}
	}
	at := asOf.UTC().Format(time.RFC3339)
	if checked == 0 {
		oldest := "there are no backups"
		if len(bs) > 0 {
			oldest = fmt.Sprintf("the oldest is %s at %s", bs[len(bs)-1].ID, bs[len(bs)-1].SnapshotTime.UTC().Format(time.RFC3339))
		}
		return nil, nil, fmt.Errorf("%w at or before %s in %s: %s", ErrNoBackup, at, c.where(), oldest)
	}
	return nil, nil, fmt.Errorf("%w at or before %s in %s: all %d are incomplete; newest: %s", ErrNoBackup, at, c.where(), checked, strings.Join(reasons, "; "))
}

// Topology returns the backup's ring nodes, by name: tokens, DC and rack
// as they were when the backup was taken.
func (c *Catalog) Topology(ctx context.Context, b *Backup) ([]ring.Node, error) {
	if err := c.load(ctx, b); err != nil {
		return nil, err
	}
	var out []ring.Node
	for name, t := range b.topo {
		out = append(out, ring.Node{Name: name, DC: t.DC, Rack: t.Rack, Tokens: t.Tokens})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Ring builds the token ring of the backup's topology.
func (c *Catalog) Ring(ctx context.Context, b *Backup) (*ring.Ring, error) {
	nodes, err := c.Topology(ctx, b)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if len(n.Tokens) == 0 && c.layout == Priam {
			return nil, fmt.Errorf("backup %s: %w: node token %q is not a Murmur3 token (a decimal int64); only Murmur3Partitioner rings are supported", b.ID, ring.ErrTopology, n.Name)
		}
	}
	r, err := ring.New(nodes)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", b.ID, err)
	}
	return r, nil
}

// latestFinished returns the finished node snapshots, latest first.
func latestFinished(b *Backup) []*NodeSnapshot {
	var out []*NodeSnapshot
	for _, n := range b.Nodes {
		if !n.Finished.IsZero() {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// Schema says where the backup's schema is: Medusa's schema.cql of the
// latest node snapshot, or Priam's backed-up system_schema SSTables of
// the latest node. Neither gives an error wrapping ErrNoSchema.
func (c *Catalog) Schema(ctx context.Context, b *Backup) (*SchemaSource, error) {
	if err := c.load(ctx, b); err != nil {
		return nil, err
	}
	if c.layout == Medusa {
		for _, n := range latestFinished(b) {
			key := n.dir + "meta/schema.cql"
			data, err := objstore.ReadAll(ctx, c.store, key)
			if errors.Is(err, objstore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return &SchemaSource{Kind: "schema.cql", Node: n.Node, Key: key, CQL: string(data)}, nil
		}
		return nil, fmt.Errorf("%w: backup %s: no node has meta/schema.cql; give the schema with --schema FILE.cql", ErrNoSchema, b.ID)
	}
	for _, n := range latestFinished(b) {
		var all []SSTable
		for _, f := range b.files[n.Node] {
			if f.Keyspace == "system_schema" {
				ts, err := c.SSTables(ctx, b, n.Node, "system_schema", f.Table)
				if err != nil {
					return nil, err
				}
				all = append(all, ts...)
			}
		}
		if len(all) > 0 {
			seen := map[string]bool{}
			var uniq []SSTable
			for _, s := range all {
				k := s.TableDir + "/" + s.Name
				if !seen[k] {
					seen[k] = true
					uniq = append(uniq, s)
				}
			}
			return &SchemaSource{Kind: "system_schema", Node: n.Node, SSTables: uniq}, nil
		}
	}
	return nil, fmt.Errorf("%w: backup %s: no node backed up system_schema; give the schema with --schema FILE.cql", ErrNoSchema, b.ID)
}

// LoadSchema returns the parsed schema of the backup. overrideFile, when
// set, is a CQL file that replaces whatever the backup holds (--schema).
// For a Priam backup without an override the schema is in system_schema
// SSTables: LoadSchema then returns a nil schema and their source, for
// the sstable reader to decode.
func (c *Catalog) LoadSchema(ctx context.Context, b *Backup, overrideFile string) (*schema.Schema, *SchemaSource, error) {
	if overrideFile != "" {
		s, err := schema.ParseFile(overrideFile)
		if err != nil {
			return nil, nil, err
		}
		return s, &SchemaSource{Kind: "file", Key: overrideFile}, nil
	}
	src, err := c.Schema(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	if src.Kind != "schema.cql" {
		return nil, src, nil
	}
	s, err := schema.Parse(strings.TrimSuffix(c.store.URI(), "/")+"/"+src.Key, src.CQL)
	if err != nil {
		return nil, src, err
	}
	return s, src, nil
}

// Tables lists the tables of one node snapshot.
func (c *Catalog) Tables(ctx context.Context, b *Backup, node string) ([]TableRef, error) {
	if err := c.load(ctx, b); err != nil {
		return nil, err
	}
	if b.Node(node) == nil {
		return nil, fmt.Errorf("%w: backup %s has no snapshot of node %q", ErrNotFound, b.ID, node)
	}
	byKey := map[string]*TableRef{}
	sst := map[string]map[string]bool{}
	for _, f := range b.files[node] {
		if f.Index != "" {
			continue
		}
		name, _, ok := splitComponent(f.File)
		if !ok {
			continue
		}
		k := f.Keyspace + "\x00" + f.TableDir
		t := byKey[k]
		if t == nil {
			t = &TableRef{Keyspace: f.Keyspace, Table: f.Table, TableDir: f.TableDir}
			byKey[k] = t
			sst[k] = map[string]bool{}
		}
		sst[k][name] = true
		if f.RawSize > 0 {
			t.Bytes += f.RawSize
		}
	}
	var out []TableRef
	for k, t := range byKey {
		t.SSTables = len(sst[k])
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Keyspace != out[j].Keyspace {
			return out[i].Keyspace < out[j].Keyspace
		}
		return out[i].TableDir < out[j].TableDir
	})
	return out, nil
}

// SSTables lists the SSTables of keyspace.table in one node snapshot,
// each with its components' object keys and sizes, sorted by name.
// Files that are not SSTable components (a snapshot's manifest.json or
// schema.cql) and secondary index SSTables are left out.
func (c *Catalog) SSTables(ctx context.Context, b *Backup, node, keyspace, table string) ([]SSTable, error) {
	if err := c.load(ctx, b); err != nil {
		return nil, err
	}
	n := b.Node(node)
	if n == nil {
		return nil, fmt.Errorf("%w: backup %s has no snapshot of node %q", ErrNotFound, b.ID, node)
	}
	byName := map[string]*SSTable{}
	for _, f := range b.files[node] {
		if f.Keyspace != keyspace || f.Table != table || f.Index != "" {
			continue
		}
		name, comp, ok := splitComponent(f.File)
		if !ok {
			continue
		}
		k := f.TableDir + "/" + name
		s := byName[k]
		if s == nil {
			s = &SSTable{Node: node, Keyspace: keyspace, Table: table, TableDir: f.TableDir, Name: name}
			byName[k] = s
		}
		size := f.Size
		if size < 0 {
			l, err := c.listing(ctx, c.listDir(n, f.Key))
			if err != nil {
				return nil, err
			}
			if o, ok := l[f.Key]; ok {
				size = o.Size
			}
		}
		s.Components = append(s.Components, Component{Name: comp, File: f.File, Key: f.Key, Size: size, RawSize: f.RawSize, Compression: f.Compression, Encryption: f.Encryption})
	}
	var out []SSTable
	for _, s := range byName {
		sort.Slice(s.Components, func(i, j int) bool { return s.Components[i].Name < s.Components[j].Name })
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TableDir != out[j].TableDir {
			return out[i].TableDir < out[j].TableDir
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// splitComponent splits "nb-1-big-Data.db" into "nb-1-big" and "Data.db".
// Names without a dash, or whose last part has no dot, are not SSTable
// components.
func splitComponent(file string) (sstable, component string, ok bool) {
	i := strings.LastIndex(file, "-")
	if i <= 0 || i == len(file)-1 || !strings.Contains(file[i+1:], ".") {
		return "", "", false
	}
	return file[:i], file[i+1:], true
}

// tableName strips the table id from a table folder: "t-<32 hex>" → "t".
func tableName(dir string) string {
	i := strings.LastIndex(dir, "-")
	if i <= 0 || len(dir)-i-1 != 32 {
		return dir
	}
	for _, r := range dir[i+1:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return dir
		}
	}
	return dir[:i]
}
