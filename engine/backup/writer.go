package backup

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
)

// The layout writers lay out one node's snapshot in an object store the
// way cassandra-medusa or Priam backup v2 would, so that tests, the
// simulated cluster generator and demos produce backups the catalog (and
// the real tools) can read.

// File is one file of a node's snapshot.
type File struct {
	Keyspace string
	Table    string
	// TableID is the table's id as 32 lower-case hex digits (a UUID
	// without dashes); "" derives a stable one from keyspace.table.
	TableID string
	Name    string // nb-1-big-Data.db
	// Data holds the contents; for large files set Open and Size instead.
	Data []byte
	Open func() (io.ReadCloser, error)
	Size int64
	// ModTime is the file's modification time; zero means the snapshot
	// time. Priam puts it (in whole seconds) in the object key, so the
	// same SSTable snapshotted twice is uploaded once.
	ModTime time.Time
}

// TableDir is the table's folder name, <table>-<id>.
func (f File) TableDir() string {
	id := f.TableID
	if id == "" {
		sum := md5.Sum([]byte(f.Keyspace + "." + f.Table))
		id = hex.EncodeToString(sum[:])
	}
	return f.Table + "-" + id
}

func (f File) reader() (io.ReadCloser, int64, error) {
	if f.Open != nil {
		rc, err := f.Open()
		return rc, f.Size, err
	}
	return io.NopCloser(bytes.NewReader(f.Data)), int64(len(f.Data)), nil
}

// NodeUpload is one node's snapshot to upload.
type NodeUpload struct {
	// Node names the node (Medusa: its FQDN) with its DC, rack and
	// tokens. Priam takes the node's single token as its identity.
	Node  ring.Node
	Time  time.Time // when the snapshot was taken
	Files []File
}

// MedusaWriter writes node backups in cassandra-medusa's layout.
type MedusaWriter struct {
	Store  objstore.Store
	Prefix string // Medusa's storage prefix (what --cluster names); "" for none
	// Differential stores data files once per node under <fqdn>/data/ and
	// lists them in every manifest; full backups copy them per backup.
	Differential  bool
	Schema        string      // meta/schema.cql
	Ring          []ring.Node // meta/tokenmap.json: the nodes of the backing-up node's DC, or all
	ServerVersion string      // Cassandra release in server_version.json; default 4.1.3
	NoIndex       bool        // leave out index/backup_index/ (Medusa writes it; it is optional)
}

type medusaObject struct {
	Path string `json:"path"`
	MD5  string `json:"MD5"`
	Size int64  `json:"size"`
}

type medusaSection struct {
	Keyspace     string         `json:"keyspace"`
	Columnfamily string         `json:"columnfamily"`
	Objects      []medusaObject `json:"objects"`
}

type tokenmapEntry struct {
	Tokens []int64 `json:"tokens"`
	IsUp   bool    `json:"is_up"`
	Rack   string  `json:"rack"`
	DC     string  `json:"dc"`
}

// WriteNode uploads one node backup named backupName, in Medusa's order:
// schema.cql first (the backup started), the data files, manifest.json
// last (the backup finished), then the index entries.
func (w *MedusaWriter) WriteNode(ctx context.Context, backupName string, up NodeUpload) error {
	fqdn := up.Node.Name
	if fqdn == "" || backupName == "" || strings.Contains(fqdn, "/") || strings.Contains(backupName, "/") {
		return fmt.Errorf("medusa writer: bad node %q or backup name %q", fqdn, backupName)
	}
	p := prefixOf(w.Prefix)
	dir := p + fqdn + "/" + backupName + "/"
	put := func(key string, b []byte) error { return objstore.PutBytes(ctx, w.Store, key, b) }
	started := up.Time.Unix()
	if err := put(dir+"meta/schema.cql", []byte(w.Schema)); err != nil {
		return err
	}
	tm := map[string]tokenmapEntry{}
	for _, n := range w.Ring {
		tm[n.Name] = tokenmapEntry{Tokens: n.Tokens, IsUp: true, Rack: n.Rack, DC: n.DC}
	}
	if _, ok := tm[fqdn]; !ok {
		tm[fqdn] = tokenmapEntry{Tokens: up.Node.Tokens, IsUp: true, Rack: up.Node.Rack, DC: up.Node.DC}
	}
	tmJSON, _ := json.Marshal(tm)
	if err := put(dir+"meta/tokenmap.json", tmJSON); err != nil {
		return err
	}
	version := w.ServerVersion
	if version == "" {
		version = "4.1.3"
	}
	sv, _ := json.Marshal(map[string]string{"server_type": "cassandra", "release_version": version})
	if err := put(dir+"meta/server_version.json", sv); err != nil {
		return err
	}
	if w.Differential {
		if err := put(dir+"meta/differential", []byte("differential")); err != nil {
			return err
		}
	}
	idx := p + "index/backup_index/" + backupName + "/"
	if !w.NoIndex {
		if err := put(idx+"tokenmap_"+fqdn+".json", tmJSON); err != nil {
			return err
		}
		if err := put(idx+"schema_"+fqdn+".cql", []byte(w.Schema)); err != nil {
			return err
		}
		if err := put(fmt.Sprintf("%sstarted_%s_%d.timestamp", idx, fqdn, started), []byte(strconv.FormatInt(started, 10))); err != nil {
			return err
		}
		if w.Differential {
			if err := put(idx+"differential_"+fqdn, []byte("differential")); err != nil {
				return err
			}
		}
	}
	sections := map[string]*medusaSection{}
	var order []string
	for _, f := range up.Files {
		td := f.TableDir()
		var key string
		if w.Differential {
			key = p + fqdn + "/data/" + f.Keyspace + "/" + td + "/" + f.Name
		} else {
			key = dir + "data/" + f.Keyspace + "/" + td + "/" + f.Name
		}
		sum, size, err := w.upload(ctx, key, f)
		if err != nil {
			return err
		}
		sk := f.Keyspace + "/" + td
		s := sections[sk]
		if s == nil {
			s = &medusaSection{Keyspace: f.Keyspace, Columnfamily: td}
			sections[sk] = s
			order = append(order, sk)
		}
		s.Objects = append(s.Objects, medusaObject{Path: key, MD5: sum, Size: size})
	}
	manifest := make([]*medusaSection, 0, len(order))
	for _, k := range order {
		manifest = append(manifest, sections[k])
	}
	mJSON, _ := json.Marshal(manifest)
	if err := put(dir+"meta/manifest.json", mJSON); err != nil {
		return err
	}
	if !w.NoIndex {
		if err := put(idx+"manifest_"+fqdn+".json", mJSON); err != nil {
			return err
		}
		// Medusa stamps the finish with the wall clock; the snapshot time
		// keeps generated backups reproducible.
		if err := put(fmt.Sprintf("%sfinished_%s_%d.timestamp", idx, fqdn, started), []byte(strconv.FormatInt(started, 10))); err != nil {
			return err
		}
		latest := p + "index/latest_backup/" + fqdn + "/"
		if err := put(latest+"tokenmap.json", tmJSON); err != nil {
			return err
		}
		if err := put(latest+"backup_name.txt", []byte(backupName)); err != nil {
			return err
		}
	}
	return nil
}

// upload stores one data file and returns its hex MD5 and size. A
// differential backup skips a file already stored with the same size, as
// Medusa does.
func (w *MedusaWriter) upload(ctx context.Context, key string, f File) (string, int64, error) {
	rc, size, err := f.reader()
	if err != nil {
		return "", 0, fmt.Errorf("medusa writer: %s: %w", f.Name, err)
	}
	defer rc.Close()
	if w.Differential {
		if o, err := w.Store.Stat(ctx, key); err == nil && o.Size == size {
			h := md5.New()
			if _, err := io.Copy(h, rc); err != nil {
				return "", 0, err
			}
			return hex.EncodeToString(h.Sum(nil)), size, nil
		} else if err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return "", 0, err
		}
	}
	h := md5.New()
	if err := w.Store.Put(ctx, key, io.TeeReader(rc, h), size); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// PriamWriter writes node snapshots in Priam's backup v2 layout.
type PriamWriter struct {
	Store objstore.Store
	Base  string // the BASE folder (priam.s3.base_dir); "" when the store's URI already points at it
	App   string // the application (cluster) name
	// Compression of the uploaded objects, meta file included; default Snappy.
	Compression Compression
	DataDir     string // Cassandra's data folder in meta fileName; default /var/lib/cassandra/data
}

func (w *PriamWriter) root() string { return prefixOf(w.Base) + PriamAppDir(w.App) + "/" }

// WriteNode uploads the node's SSTable files to SST_V2 (skipping those
// already there: keys are content-addressed by table, name and mtime),
// then its META_V2 file.
func (w *PriamWriter) WriteNode(ctx context.Context, up NodeUpload) error {
	if len(up.Node.Tokens) != 1 {
		return fmt.Errorf("priam writer: node %s has %d tokens; Priam nodes own exactly one", up.Node.Name, len(up.Node.Tokens))
	}
	if w.App == "" {
		return fmt.Errorf("priam writer: no application name")
	}
	comp := w.Compression
	if comp == "" {
		comp = Snappy
	}
	dataDir := w.DataDir
	if dataDir == "" {
		dataDir = "/var/lib/cassandra/data"
	}
	token := strconv.FormatInt(up.Node.Tokens[0], 10)
	nodeDir := w.root() + token + "/"
	stamp := up.Time.UTC().Format("200601021504")
	var cfs []*priamCFJSON
	cfIdx := map[string]*priamCFJSON{}
	sstIdx := map[string]int{} // index in its cf's Sstables
	for _, f := range up.Files {
		mt := f.ModTime
		if mt.IsZero() {
			mt = up.Time
		}
		mt = mt.Truncate(time.Second)
		td := f.TableDir()
		key := fmt.Sprintf("%sSST_V2/%d/%s/%s/%s/PLAINTEXT/%s", nodeDir, mt.UnixMilli(), f.Keyspace, td, comp, f.Name)
		size, err := w.upload(ctx, key, f, comp)
		if err != nil {
			return err
		}
		cfKey := f.Keyspace + "/" + f.Table
		cf := cfIdx[cfKey]
		if cf == nil {
			cf = &priamCFJSON{KeyspaceName: f.Keyspace, ColumnfamilyName: f.Table}
			cfIdx[cfKey] = cf
			cfs = append(cfs, cf)
		}
		prefix, _, ok := splitComponent(f.Name)
		if !ok {
			prefix = f.Name
		}
		sk := cfKey + "/" + prefix
		i, ok := sstIdx[sk]
		if !ok {
			cf.Sstables = append(cf.Sstables, priamSSTableJSON{Prefix: prefix})
			i = len(cf.Sstables) - 1
			sstIdx[sk] = i
		}
		cf.Sstables[i].SstableComponents = append(cf.Sstables[i].SstableComponents, priamComponentJSON{
			FileName:         fmt.Sprintf("%s/%s/%s/snapshots/snap_v2_%s/%s", dataDir, f.Keyspace, td, stamp, f.Name),
			LastModifiedTime: mt.UnixMilli(), FileCreationTime: mt.UnixMilli(), FileSizeOnDisk: size,
			Compression: string(comp), Encryption: "PLAINTEXT", IsUploaded: true, BackupPath: key,
		})
	}
	meta := map[string]any{
		"info": map[string]any{
			"version": 1, "appName": w.App, "region": up.Node.DC, "rack": up.Node.Rack, "backupIdentifier": []string{token},
		},
		"data": cfs,
	}
	if cfs == nil {
		meta["data"] = []any{}
	}
	mJSON, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	metaKey := fmt.Sprintf("%sMETA_V2/%d/%s/PLAINTEXT/meta_v2_%s.json", nodeDir, up.Time.UnixMilli(), comp, stamp)
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, comp)
	if err != nil {
		return err
	}
	enc.Write(mJSON)
	if err := enc.Close(); err != nil {
		return err
	}
	return objstore.PutBytes(ctx, w.Store, metaKey, buf.Bytes())
}

// upload compresses and stores one file unless its key exists; it
// returns the file's decoded size.
func (w *PriamWriter) upload(ctx context.Context, key string, f File, comp Compression) (int64, error) {
	rc, size, err := f.reader()
	if err != nil {
		return 0, fmt.Errorf("priam writer: %s: %w", f.Name, err)
	}
	defer rc.Close()
	if ok, err := objstore.Exists(ctx, w.Store, key); err != nil {
		return 0, err
	} else if ok {
		return size, nil
	}
	if comp == None {
		return size, w.Store.Put(ctx, key, rc, size)
	}
	pr, pw := io.Pipe()
	counter := &byteCounter{}
	go func() {
		enc, err := NewEncoder(pw, comp)
		if err == nil {
			_, err = io.Copy(enc, io.TeeReader(rc, counter))
			if cerr := enc.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
	if err := w.Store.Put(ctx, key, pr, -1); err != nil {
		pr.CloseWithError(err)
		return 0, err
	}
	if counter.n != size {
		return 0, fmt.Errorf("priam writer: %s: read %d bytes, expected %d", f.Name, counter.n, size)
	}
	return size, nil
}

type byteCounter struct{ n int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
