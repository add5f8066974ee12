package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// javaStringHash is java.lang.String.hashCode: s[0]·31^(n-1) + … over
// UTF-16 code units, in wrapping int32 arithmetic.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PriamAppDir is the folder Priam backup v2 keeps an application's
// backups in: "<hashCode % 10000>_<app>", with Java's remainder (the sign
// follows the hash), e.g. "1049_fake-app" or "-6717_random_fake_app".
func PriamAppDir(app string) string {
	return fmt.Sprintf("%d_%s", javaStringHash(app)%10000, app)
}

var appDirRE = regexp.MustCompile(`^(-?[0-9]+)_(.+)$`)

// parseAppDir returns the application of a "<hash>_<app>" folder name
// whose hash matches.
func parseAppDir(name string) (string, bool) {
	m := appDirRE.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	h, err := strconv.ParseInt(m[1], 10, 32)
	if err != nil || int32(h) != javaStringHash(m[2])%10000 {
		return "", false
	}
	return m[2], true
}

type priamApp struct {
	base, app string // base: "" or "BASE/"
}

func (a priamApp) root() string { return a.base + PriamAppDir(a.app) + "/" }

// priamApps finds Priam application folders at the store's root and, if
// deep, one level down (under BASE/).
func (c *Catalog) priamApps(ctx context.Context, deep bool) ([]priamApp, error) {
	tops, err := objstore.ListAll(ctx, c.store, "", "/")
	if err != nil {
		return nil, err
	}
	var apps []priamApp
	for _, o := range tops {
		if app, ok := parseAppDir(strings.TrimSuffix(o.Key, "/")); o.IsPrefix && ok {
			apps = append(apps, priamApp{"", app})
		}
	}
	if len(apps) > 0 || !deep {
		return apps, nil
	}
	for i, o := range tops {
		if i >= 50 {
			break
		}
		if !o.IsPrefix {
			continue
		}
		subs, err := objstore.ListAll(ctx, c.store, o.Key, "/")
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if app, ok := parseAppDir(strings.TrimSuffix(strings.TrimPrefix(s.Key, o.Key), "/")); s.IsPrefix && ok {
				apps = append(apps, priamApp{o.Key, app})
			}
		}
	}
	return apps, nil
}

func (c *Catalog) openPriam(ctx context.Context) error {
	want := c.opts.Cluster
	var apps []priamApp
	if want != "" {
		// Look where this application's folder would be, at the root or
		// under a BASE folder.
		dir := PriamAppDir(want) + "/"
		here, err := objstore.ListAll(ctx, c.store, dir, "/")
		if err != nil {
			return err
		}
		if len(here) > 0 {
			apps = append(apps, priamApp{"", want})
		} else {
			tops, err := objstore.ListAll(ctx, c.store, "", "/")
			if err != nil {
				return err
			}
			for i, o := range tops {
				if i >= 50 || !o.IsPrefix {
					continue
				}
				sub, err := objstore.ListAll(ctx, c.store, o.Key+dir, "/")
				if err != nil {
					return err
				}
				if len(sub) > 0 {
					apps = append(apps, priamApp{o.Key, want})
				}
			}
		}
		if len(apps) == 0 {
			all, err := c.priamApps(ctx, true)
			if err != nil {
				return err
			}
			var names []string
			for _, a := range all {
				names = append(names, a.base+a.app)
			}
			have := "none"
			if len(names) > 0 {
				have = strings.Join(names, ", ")
			}
			return fmt.Errorf("%w: no Priam application %q in %s (no %s folder; applications found: %s)", ErrNotFound, want, c.store.URI(), dir, have)
		}
	} else {
		var err error
		if apps, err = c.priamApps(ctx, true); err != nil {
			return err
		}
		if len(apps) == 0 {
			return fmt.Errorf("%w: %s holds no Priam backups (no <hash>_<app>/<token>/META_V2/)", ErrNotFound, c.store.URI())
		}
	}
	if len(apps) > 1 {
		var names []string
		for _, a := range apps {
			names = append(names, a.base+a.app)
		}
		sort.Strings(names)
		hint := "choose one with --cluster"
		if want != "" {
			hint = "point --store at one of the base folders"
		}
		return fmt.Errorf("%w: %s holds several Priam applications (%s): %s", ErrNotFound, c.store.URI(), strings.Join(names, ", "), hint)
	}
	c.cluster = apps[0].app
	c.root = apps[0].root()
	return nil
}

// scanPriam lists every token folder's META_V2 objects: one listing for
// the tokens and one per token. Meta files are read later, by load.
func (c *Catalog) scanPriam(ctx context.Context) ([]*NodeSnapshot, error) {
	return c.scanNodes(ctx, "", func(ctx context.Context, td string) ([]*NodeSnapshot, error) {
		token := strings.TrimSuffix(strings.TrimPrefix(td, c.root), "/")
		var toks []int64
		if t, err := ring.ParseToken(token); err == nil {
			toks = []int64{t}
		}
		var snaps []*NodeSnapshot
		base := td + "META_V2/"
		for o, err := range c.store.List(ctx, base, "") {
			if err != nil {
				return nil, err
			}
			// <epoch ms>/<COMPRESSION>/<ENCRYPTION>/meta_v2_<yyyyMMddHHmm>.json
			parts := strings.Split(strings.TrimPrefix(o.Key, base), "/")
			file := parts[len(parts)-1]
			if len(parts) < 2 || !strings.HasPrefix(file, "meta_v2_") || !strings.HasSuffix(file, ".json") {
				continue
			}
			ms, err := strconv.ParseInt(parts[0], 10, 64)
			if err != nil {
				continue
			}
			comp := None
			if len(parts) == 4 {
				if cp, err := ParseCompression(parts[1]); err == nil {
					comp = cp
				}
			}
			t := time.UnixMilli(ms).UTC()
			snaps = append(snaps, &NodeSnapshot{Node: token, Tokens: toks, Time: t, Finished: t, Name: file, MetaKey: o.Key, Type: "snapshot", compression: comp})
		}
		return snaps, nil
	})
}

// priamExpected sets each backup's ring: every token whose first meta
// file is no later than the end of the backup's window. Priam rings only
// grow (a replaced node takes over its predecessor's token), so a token
// that stopped snapshotting is a missing node, not a retired one.
func (c *Catalog) priamExpected(backups []*Backup) {
	for _, b := range backups {
		end := b.FirstSnapshot.Add(c.opts.SnapshotWindow)
		b.expected = map[string]bool{}
		for node, h := range c.history {
			if len(h) > 0 && !h[0].Time.After(end) {
				b.expected[node] = true
			}
		}
	}
}

// priamMeta is a META_V2 file (Gson of MetaFileInfo and ColumnFamilyResult).
type priamMeta struct {
	Info struct {
		Version          int      `json:"version"`
		AppName          string   `json:"appName"`
		Region           string   `json:"region"` // the DC
		Rack             string   `json:"rack"`
		BackupIdentifier []string `json:"backupIdentifier"` // the token
	} `json:"info"`
	Data []priamCFJSON `json:"data"`
}

// priamCFJSON is one table of a META_V2 file (ColumnFamilyResult).
type priamCFJSON struct {
	KeyspaceName     string             `json:"keyspaceName"`
	ColumnfamilyName string             `json:"columnfamilyName"`
	Sstables         []priamSSTableJSON `json:"sstables"`
}

// priamSSTableJSON is one SSTable of a table, by its file-name prefix.
type priamSSTableJSON struct {
	Prefix            string               `json:"prefix"`
	SstableComponents []priamComponentJSON `json:"sstableComponents"`
}

// priamComponentJSON is one uploaded component file of an SSTable.
type priamComponentJSON struct {
	FileName         string `json:"fileName"`
	LastModifiedTime int64  `json:"lastModifiedTime"`
	FileCreationTime int64  `json:"fileCreationTime"`
	FileSizeOnDisk   int64  `json:"fileSizeOnDisk"`
	Compression      string `json:"compression"`
	Encryption       string `json:"encryption"`
	IsUploaded       bool   `json:"isUploaded"`
	BackupPath       string `json:"backupPath"`
}

// readPriamMeta downloads and decodes one meta file.
func (c *Catalog) readPriamMeta(ctx context.Context, n *NodeSnapshot) (*priamMeta, error) {
	raw, err := objstore.ReadAll(ctx, c.store, n.MetaKey)
	if err != nil {
		return nil, err
	}
	data := raw
	// A meta file uploaded uncompressed under a compressed key is still
	// read: JSON starts with "{", neither stream format does.
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		dec, err := NewDecoder(bytes.NewReader(raw), n.compression)
		if err != nil {
			return nil, err
		}
		if data, err = io.ReadAll(dec); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, n.MetaKey, err)
		}
	}
	var m priamMeta
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: not a Priam META_V2 file: %v", ErrFormat, n.MetaKey, err)
	}
	return &m, nil
}

// priamKey turns a meta file's backupPath into a key of the store: keep it
// from the <hash>_<app> folder on, under this catalog's root.
func (c *Catalog) priamKey(p string) (string, bool) {
	dir := PriamAppDir(c.cluster)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, part := range parts {
		if part == dir && i+1 < len(parts) {
			return c.root + strings.Join(parts[i+1:], "/"), true
		}
	}
	return "", false
}

func (c *Catalog) loadPriam(ctx context.Context, b *Backup) error {
	files := map[string][]fileEntry{}
	topo := map[string]*topoNode{}
	var problems []Problem
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for _, n := range b.Nodes {
		g.Go(func() error {
			m, err := c.readPriamMeta(gctx, n)
			bad := func(format string, args ...any) {
				mu.Lock()
				problems = append(problems, Problem{Node: n.Node, Kind: BadMetadata, Key: n.MetaKey, Detail: fmt.Sprintf("%s: %s", n.MetaKey, fmt.Sprintf(format, args...))})
				mu.Unlock()
			}
			if errors.Is(err, ErrFormat) {
				bad("%v", err)
				return nil
			}
			if err != nil {
				return err
			}
			if len(m.Info.BackupIdentifier) > 0 && m.Info.BackupIdentifier[0] != n.Node {
				slog.Warn("Priam meta file names another token than its folder", "key", n.MetaKey, "token", m.Info.BackupIdentifier[0])
			}
			var fs []fileEntry
			for _, cf := range m.Data {
				for _, sst := range cf.Sstables {
					for _, comp := range sst.SstableComponents {
						key, ok := c.priamKey(comp.BackupPath)
						if !ok {
							bad("backupPath %q is not under %s", comp.BackupPath, PriamAppDir(c.cluster))
							continue
						}
						f := fileEntry{Keyspace: cf.KeyspaceName, Table: cf.ColumnfamilyName, File: path.Base(key), Key: key,
							Size: -1, RawSize: comp.FileSizeOnDisk, Compression: None}
						// <token>/<TYPE>/<ms>/<ks>/<table-dir>/[<index>/]<COMPRESSION>/<ENCRYPTION>/<file>
						parts := strings.Split(strings.TrimPrefix(key, c.root), "/")
						if len(parts) >= 8 {
							f.TableDir = parts[4]
							if parts[1] == "SECONDARY_INDEX_V2" && len(parts) >= 9 {
								f.Index = parts[5]
							}
							if cp, err := ParseCompression(parts[len(parts)-3]); err == nil {
								f.Compression = cp
							}
							if enc := parts[len(parts)-2]; enc != "PLAINTEXT" {
								f.Encryption = enc
							}
						}
						if f.TableDir == "" {
							f.TableDir = f.Table
						}
						if f.Compression == None {
							f.Size = comp.FileSizeOnDisk
						}
						fs = append(fs, f)
					}
				}
			}
			mu.Lock()
			files[n.Node] = fs
			topo[n.Node] = &topoNode{DC: m.Info.Region, Rack: m.Info.Rack, Tokens: n.Tokens}
			n.DC, n.Rack = m.Info.Region, m.Info.Rack
			done++
			c.progress("reading meta files", done, len(b.Nodes))
			mu.Unlock()
			return nil
		})
	}
	// Missing nodes: their latest earlier meta file says where they were.
	for _, name := range b.Missing {
		h := c.history[name]
		var prev *NodeSnapshot
		for _, s := range h {
			if !s.Time.After(b.SnapshotTime) {
				prev = s
			}
		}
		if prev == nil {
			continue
		}
		g.Go(func() error {
			m, err := c.readPriamMeta(gctx, prev)
			if err != nil {
				slog.Warn("cannot read the last meta file of a missing node", "key", prev.MetaKey, "err", err)
				return nil
			}
			mu.Lock()
			topo[name] = &topoNode{DC: m.Info.Region, Rack: m.Info.Rack, Tokens: prev.Tokens}
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Node < problems[j].Node })
	c.mu.Lock()
	b.files = files
	b.topo = topo
	b.problems = append(b.problems, problems...)
	c.mu.Unlock()
	return nil
}
