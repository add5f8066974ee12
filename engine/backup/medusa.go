package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// medusaAt reports whether prefix ("" or ending in "/") holds Medusa node
// backups: some <node>/<backup>/meta/ with schema.cql or manifest.json.
// It looks at a few nodes and backups only.
func (c *Catalog) medusaAt(ctx context.Context, prefix string) (bool, error) {
	nodes, err := objstore.ListAll(ctx, c.store, prefix, "/")
	if err != nil {
		return false, err
	}
	looked := 0
	for _, n := range nodes {
		if !n.IsPrefix || n.Key == prefix+"index/" {
			continue
		}
		if looked++; looked > 5 {
			break
		}
		subs, err := objstore.ListAll(ctx, c.store, n.Key, "/")
		if err != nil {
			return false, err
		}
		tried := 0
		for _, s := range subs {
			if !s.IsPrefix || s.Key == n.Key+"data/" {
				continue
			}
			if tried++; tried > 3 {
				break
			}
			metas, err := objstore.ListAll(ctx, c.store, s.Key+"meta/", "/")
			if err != nil {
				return false, err
			}
			for _, m := range metas {
				if b := path.Base(m.Key); b == "manifest.json" || b == "schema.cql" {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func (c *Catalog) openMedusa(ctx context.Context) error {
	c.cluster = strings.Trim(c.opts.Cluster, "/")
	c.root = prefixOf(c.cluster)
	ok, err := c.medusaAt(ctx, c.root)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s holds no Medusa backups (no <node>/<backup>/meta/manifest.json)", ErrNotFound, c.where())
	}
	return nil
}

// scanMedusa lists every node backup: one listing of the nodes, one per
// node for its backups, one per node backup for its meta folder, plus one
// listing of the optional index for the start and finish times.
func (c *Catalog) scanMedusa(ctx context.Context) ([]*NodeSnapshot, error) {
	snaps, err := c.scanNodes(ctx, "index/", func(ctx context.Context, nd string) ([]*NodeSnapshot, error) {
		fqdn := strings.TrimSuffix(strings.TrimPrefix(nd, c.root), "/")
		subs, err := objstore.ListAll(ctx, c.store, nd, "/")
		if err != nil {
			return nil, err
		}
		var snaps []*NodeSnapshot
		for _, s := range subs {
			if !s.IsPrefix || s.Key == nd+"data/" {
				continue
			}
			metas, err := objstore.ListAll(ctx, c.store, s.Key+"meta/", "")
			if err != nil {
				return nil, err
			}
			objs := map[string]objstore.Object{}
			for _, m := range metas {
				objs[strings.TrimPrefix(m.Key, s.Key+"meta/")] = m
			}
			schemaObj, hasSchema := objs["schema.cql"]
			manifest, hasManifest := objs["manifest.json"]
			if !hasSchema && !hasManifest {
				continue // not a backup folder
			}
			ns := &NodeSnapshot{
				Node: fqdn, Name: strings.TrimSuffix(strings.TrimPrefix(s.Key, nd), "/"),
				MetaKey: s.Key + "meta/manifest.json", Type: "full", dir: s.Key,
			}
			if _, ok := objs["differential"]; ok {
				ns.Type = "differential"
			}
			if hasSchema {
				ns.Time = schemaObj.ModTime
			} else {
				ns.Time = manifest.ModTime
			}
			if hasManifest {
				ns.Finished = manifest.ModTime
			}
			snaps = append(snaps, ns)
		}
		return snaps, nil
	})
	if err != nil {
		return nil, err
	}
	if err := c.medusaIndexTimes(ctx, snaps); err != nil {
		return nil, err
	}
	return snaps, nil
}

// medusaIndexTimes takes start and finish times from Medusa's index
// (index/backup_index/<backup>/started_<fqdn>_<epoch>.timestamp), which
// survive copies of the bucket that reset object times.
func (c *Catalog) medusaIndexTimes(ctx context.Context, snaps []*NodeSnapshot) error {
	idx := map[[2]string]*NodeSnapshot{}
	for _, s := range snaps {
		idx[[2]string{s.Name, s.Node}] = s
	}
	base := c.root + "index/backup_index/"
	for o, err := range c.store.List(ctx, base, "") {
		if err != nil {
			return err
		}
		rest := strings.TrimPrefix(o.Key, base)
		name, file, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasSuffix(file, ".timestamp") {
			continue
		}
		file = strings.TrimSuffix(file, ".timestamp")
		var kind string
		switch {
		case strings.HasPrefix(file, "started_"):
			kind, file = "started", strings.TrimPrefix(file, "started_")
		case strings.HasPrefix(file, "finished_"):
			kind, file = "finished", strings.TrimPrefix(file, "finished_")
		default:
			continue
		}
		i := strings.LastIndex(file, "_")
		if i <= 0 {
			continue
		}
		epoch, err := strconv.ParseInt(file[i+1:], 10, 64)
		if err != nil {
			continue
		}
		s := idx[[2]string{name, file[:i]}]
		if s == nil {
			continue
		}
		t := time.Unix(epoch, 0).UTC()
		if kind == "started" {
			s.Time = t
		} else if !s.Finished.IsZero() {
			s.Finished = t
		}
	}
	return nil
}

// tokenmapJSON is meta/tokenmap.json.
type tokenmapJSON map[string]struct {
	Tokens []json.Number `json:"tokens"`
	IsUp   bool          `json:"is_up"`
	Rack   string        `json:"rack"`
	DC     string        `json:"dc"`
}

func parseTokenmap(key string, data []byte) (map[string]*topoNode, error) {
	var tm tokenmapJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tm); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, key, err)
	}
	out := map[string]*topoNode{}
	for host, e := range tm {
		t := &topoNode{DC: e.DC, Rack: e.Rack}
		for _, tok := range e.Tokens {
			v, err := ring.ParseToken(tok.String())
			if err != nil {
				return nil, fmt.Errorf("%w: %s: node %s: %v", ErrFormat, key, host, err)
			}
			t.Tokens = append(t.Tokens, v)
		}
		out[host] = t
	}
	return out, nil
}

// readTokenmap reads and caches one node backup's tokenmap.
func (c *Catalog) readTokenmap(ctx context.Context, n *NodeSnapshot) (map[string]*topoNode, error) {
	key := n.dir + "meta/tokenmap.json"
	c.mu.Lock()
	if c.tokenmap == nil {
		c.tokenmap = map[string]map[string]*topoNode{}
	}
	tm, ok := c.tokenmap[key]
	c.mu.Unlock()
	if ok {
		return tm, nil
	}
	data, err := objstore.ReadAll(ctx, c.store, key)
	if err != nil {
		return nil, err
	}
	tm, err = parseTokenmap(key, data)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tokenmap[key] = tm
	c.mu.Unlock()
	return tm, nil
}

// medusaExpected sets each backup's ring: the union of its nodes'
// tokenmaps. A tokenmap covers the backing-up node's data center, so one
// is read per data center (a node already covered needs no read).
func (c *Catalog) medusaExpected(ctx context.Context, backups []*Backup) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for _, b := range backups {
		g.Go(func() error {
			b.expected = map[string]bool{}
			b.topo = map[string]*topoNode{}
			for _, n := range latestFirst(b.Nodes) {
				b.expected[n.Node] = true
				if _, covered := b.topo[n.Node]; covered {
					continue
				}
				tm, err := c.readTokenmap(gctx, n)
				if errors.Is(err, objstore.ErrNotFound) {
					continue // unfinished node backups may lack it
				}
				if errors.Is(err, ErrFormat) {
					b.problems = append(b.problems, Problem{Node: n.Node, Kind: BadMetadata, Key: n.dir + "meta/tokenmap.json", Detail: err.Error()})
					continue
				}
				if err != nil {
					return err
				}
				for host, t := range tm {
					b.expected[host] = true
					if _, ok := b.topo[host]; !ok {
						b.topo[host] = t
					}
				}
			}
			for _, n := range b.Nodes {
				if t := b.topo[n.Node]; t != nil {
					n.DC, n.Rack, n.Tokens = t.DC, t.Rack, t.Tokens
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// latestFirst orders node snapshots latest first, then by name.
func latestFirst(ns []*NodeSnapshot) []*NodeSnapshot {
	out := append([]*NodeSnapshot(nil), ns...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.After(out[j].Time)
		}
		return out[i].Node < out[j].Node
	})
	return out
}

// manifestJSON is meta/manifest.json.
type manifestJSON []struct {
	Keyspace     string `json:"keyspace"`
	Columnfamily string `json:"columnfamily"`
	Objects      []struct {
		Path string `json:"path"`
		MD5  string `json:"MD5"`
		Size int64  `json:"size"`
	} `json:"objects"`
}

// medusaKey turns a manifest path into a key of the store: the path
// starts with the storage prefix Medusa had (maybe with the bucket), then
// the node's FQDN; keep it from the FQDN on, under this catalog's prefix,
// as Medusa's own url_to_path does.
func (c *Catalog) medusaKey(fqdn, p string) (string, bool) {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if part == fqdn && i+1 < len(parts) {
			return c.root + strings.Join(parts[i:], "/"), true
		}
	}
	return "", false
}

func (c *Catalog) loadMedusa(ctx context.Context, b *Backup) error {
	files := map[string][]fileEntry{}
	var problems []Problem
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for _, n := range b.Nodes {
		if n.Finished.IsZero() {
			continue
		}
		g.Go(func() error {
			data, err := objstore.ReadAll(gctx, c.store, n.MetaKey)
			if err != nil {
				return err
			}
			var m manifestJSON
			var fs []fileEntry
			bad := func(format string, args ...any) {
				mu.Lock()
				problems = append(problems, Problem{Node: n.Node, Kind: BadMetadata, Key: n.MetaKey, Detail: fmt.Sprintf("%s: %s", n.MetaKey, fmt.Sprintf(format, args...))})
				mu.Unlock()
			}
			if err := json.Unmarshal(data, &m); err != nil {
				bad("not a Medusa manifest: %v", err)
				return nil
			}
			for _, sec := range m {
				for _, o := range sec.Objects {
					key, ok := c.medusaKey(n.Node, o.Path)
					if !ok {
						bad("object path %q does not contain the node name %q", o.Path, n.Node)
						continue
					}
					f := fileEntry{Keyspace: sec.Keyspace, TableDir: sec.Columnfamily, Table: tableName(sec.Columnfamily),
						File: path.Base(key), Key: key, Size: o.Size, RawSize: o.Size, Compression: None}
					// .../<ks>/<table-id>/.<index>/file is a secondary index.
					if dir := path.Base(path.Dir(key)); strings.HasPrefix(dir, ".") {
						f.Index = dir
					}
					fs = append(fs, f)
				}
			}
			if v, err := objstore.ReadAll(gctx, c.store, n.dir+"meta/server_version.json"); err == nil {
				var sv struct {
					ReleaseVersion string `json:"release_version"`
				}
				if json.Unmarshal(v, &sv) == nil {
					n.Version = sv.ReleaseVersion
				}
			} else if !errors.Is(err, objstore.ErrNotFound) {
				return err
			}
			mu.Lock()
			files[n.Node] = fs
			done++
			c.progress("reading manifests", done, len(b.Nodes))
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.mu.Lock()
	b.files = files
	b.problems = append(b.problems, problems...)
	c.mu.Unlock()
	return nil
}

// listDir is the folder whose listing shows whether key exists: the node
// backup's data folder, the node's shared folder of differential backups,
// or Priam's <token>/<TYPE>/ folder.
func (c *Catalog) listDir(n *NodeSnapshot, key string) string {
	if c.layout == Medusa {
		if d := n.dir + "data/"; strings.HasPrefix(key, d) {
			return d
		}
		if d := c.root + n.Node + "/data/"; strings.HasPrefix(key, d) {
			return d
		}
		return path.Dir(key) + "/"
	}
	// [BASE/]<hash>_<app>/<token>/<TYPE>/…
	rest := strings.TrimPrefix(key, c.root)
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) == 3 {
		return c.root + parts[0] + "/" + parts[1] + "/"
	}
	return path.Dir(key) + "/"
}
