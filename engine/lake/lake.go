// Package lake opens Apache Iceberg catalogs and tables named the way every
// part of shadow names them (contracts §5):
//
//	catalog URI    sqlite:PATH                 iceberg-go's SQL catalog on SQLite (mattn/go-sqlite3)
//	               rest+http(s)://HOST/PATH    an Iceberg REST catalog
//	warehouse URI  file:///path | s3://bucket/prefix
//	table ref      NS.TABLE | NS.TABLE@SNAPSHOT_ID | NS.TABLE@2026-11-24T00:00:00Z
//
// The engine writes M through it and the diff reads C and M through it. S3
// settings (endpoint, path style, region) are shared with the object store so
// that one set of flags serves both; credentials come from the AWS default chain.
package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // registers s3:// for warehouses
	"github.com/apache/iceberg-go/table"
	_ "github.com/mattn/go-sqlite3"
)

// ErrBadReference marks a catalog URI, warehouse URI or table reference that
// cannot be parsed. Callers map it to exit code 2.
var ErrBadReference = errors.New("bad reference")

// ErrNotFound marks a table, namespace, snapshot or catalog file that does not exist.
var ErrNotFound = errors.New("not found")

// S3 holds the settings shared by every S3 client of the process.
type S3 struct {
	Endpoint  string // empty: AWS default; otherwise e.g. http://127.0.0.1:7070
	PathStyle bool
	Region    string
}

// Props returns the iceberg-go FileIO properties for these settings.
func (s S3) Props() iceberg.Properties {
	p := iceberg.Properties{}
	if s.Endpoint != "" {
		p[icebergio.S3EndpointURL] = s.Endpoint
		if !s.PathStyle {
			p[icebergio.S3ForceVirtualAddressing] = "true"
		}
	}
	region := s.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	p[icebergio.S3Region] = region
	// The default credential chain does not read these for iceberg-go's
	// gocloud bucket when an endpoint override is used, so pass them through.
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		p[icebergio.S3AccessKeyID] = id
		p[icebergio.S3SecretAccessKey] = secret
		if tok := os.Getenv("AWS_SESSION_TOKEN"); tok != "" {
			p[icebergio.S3SessionToken] = tok
		}
	}
	return p
}

// Location says where one side's tables live.
type Location struct {
	Catalog   string // sqlite:PATH or rest+http(s)://...
	Warehouse string // file:///path or s3://bucket/prefix
	S3        S3
}

// DefaultCatalog is the catalog used when none is configured.
const DefaultCatalog = "sqlite:./catalog.db"

// Catalog is an open catalog plus what it needs to be closed.
type Catalog struct {
	catalog.Catalog
	Location Location
	closer   func() error
}

// Close releases the catalog's database handle, if any.
func (c *Catalog) Close() error {
	if c == nil || c.closer == nil {
		return nil
	}
	return c.closer()
}

// Open opens the catalog named by loc. For sqlite: catalogs the database file
// is created when create is true; otherwise a missing file is ErrNotFound, so
// that a typo in a read-only command never leaves an empty catalog behind.
func Open(ctx context.Context, loc Location, create bool) (*Catalog, error) {
	uri := loc.Catalog
	if uri == "" {
		uri = DefaultCatalog
	}
	props := loc.S3.Props()
	if loc.Warehouse != "" {
		wh, err := NormalizeWarehouse(loc.Warehouse)
		if err != nil {
			return nil, err
		}
		props["warehouse"] = wh
	}
	switch {
	case strings.HasPrefix(uri, "sqlite:"):
		path := strings.TrimPrefix(uri, "sqlite:")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, fmt.Errorf("catalog %q: %w: empty sqlite path", uri, ErrBadReference)
		}
		if !create {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("catalog %s: %w: %v", uri, ErrNotFound, err)
			}
		} else if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("catalog %s: %w", uri, err)
			}
		}
		db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000&_journal_mode=WAL")
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", uri, err)
		}
		// One connection: SQLite serialises writers anyway, and this keeps
		// commits from different goroutines from racing on the file lock.
		db.SetMaxOpenConns(1)
		cat, err := sqlcat.NewCatalog("shadow", db, sqlcat.SQLite, props)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("catalog %s: %w", uri, err)
		}
		return &Catalog{Catalog: cat, Location: loc, closer: db.Close}, nil
	case strings.HasPrefix(uri, "rest+http://"), strings.HasPrefix(uri, "rest+https://"):
		endpoint := strings.TrimPrefix(uri, "rest+")
		opts := []rest.Option{}
		if w := props["warehouse"]; w != "" {
			opts = append(opts, rest.WithWarehouseLocation(w))
		}
		cat, err := rest.NewCatalog(ctx, "shadow", endpoint, opts...)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", uri, err)
		}
		return &Catalog{Catalog: cat, Location: loc}, nil
	default:
		return nil, fmt.Errorf("catalog %q: %w: want sqlite:PATH or rest+http(s)://HOST/PATH", uri, ErrBadReference)
	}
}

// NormalizeWarehouse checks a warehouse URI and turns a bare or relative path
// into an absolute file:// URI.
func NormalizeWarehouse(w string) (string, error) {
	switch {
	case strings.HasPrefix(w, "s3://"):
		u, err := url.Parse(w)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("warehouse %q: %w: want s3://bucket/prefix", w, ErrBadReference)
		}
		return strings.TrimSuffix(w, "/"), nil
	case strings.HasPrefix(w, "file://"):
		p := strings.TrimPrefix(w, "file://")
		if !filepath.IsAbs(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return "", err
			}
			p = abs
		}
		return "file://" + p, nil
	case strings.Contains(w, "://"):
		return "", fmt.Errorf("warehouse %q: %w: want file:///path or s3://bucket/prefix", w, ErrBadReference)
	default:
		abs, err := filepath.Abs(w)
		if err != nil {
			return "", err
		}
		return "file://" + abs, nil
	}
}

// TableRef is a parsed NS.TABLE[@SNAPSHOT|@TIME].
type TableRef struct {
	Namespace []string
	Name      string
	Snapshot  *int64     // @SNAPSHOT_ID
	AsOf      *time.Time // @TIME
}

// Ident returns the iceberg-go identifier.
func (r TableRef) Ident() table.Identifier {
	return append(append(table.Identifier{}, r.Namespace...), r.Name)
}

func (r TableRef) String() string {
	s := strings.Join(r.Ident(), ".")
	switch {
	case r.Snapshot != nil:
		s += "@" + strconv.FormatInt(*r.Snapshot, 10)
	case r.AsOf != nil:
		s += "@" + r.AsOf.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// ParseTableRef parses NS.TABLE, NS.TABLE@SNAPSHOT_ID or NS.TABLE@TIME.
// Namespaces may be nested (a.b.TABLE).
func ParseTableRef(s string) (TableRef, error) {
	var ref TableRef
	name, at, hasAt := strings.Cut(s, "@")
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return ref, fmt.Errorf("table %q: %w: want NS.TABLE[@SNAPSHOT_ID|@TIME]", s, ErrBadReference)
	}
	for _, p := range parts {
		if p == "" {
			return ref, fmt.Errorf("table %q: %w: empty name part", s, ErrBadReference)
		}
	}
	ref.Namespace = parts[:len(parts)-1]
	ref.Name = parts[len(parts)-1]
	if hasAt {
		if id, err := strconv.ParseInt(at, 10, 64); err == nil {
			ref.Snapshot = &id
		} else {
			t, err := ParseTime(at)
			if err != nil {
				return ref, fmt.Errorf("table %q: %w: after @ want a snapshot id or an RFC 3339 time", s, ErrBadReference)
			}
			ref.AsOf = &t
		}
	}
	return ref, nil
}

// ParseTime parses the times of contracts §5: RFC 3339, or a bare date that
// means midnight UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %q: %w: want RFC 3339 (2026-11-24T00:00:00Z) or a date (2026-11-24)", s, ErrBadReference)
}

// LoadTable loads the table a reference names and resolves its snapshot.
// The returned snapshot is nil for a table with no snapshot yet (empty).
func (c *Catalog) LoadTable(ctx context.Context, ref TableRef) (*table.Table, *table.Snapshot, error) {
	tbl, err := c.Catalog.LoadTable(ctx, ref.Ident())
	if err != nil {
		if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace) {
			return nil, nil, fmt.Errorf("iceberg table %s: %w", strings.Join(ref.Ident(), "."), ErrNotFound)
		}
		return nil, nil, fmt.Errorf("iceberg table %s: %w", strings.Join(ref.Ident(), "."), err)
	}
	var snap *table.Snapshot
	switch {
	case ref.Snapshot != nil:
		snap = tbl.SnapshotByID(*ref.Snapshot)
		if snap == nil {
			return nil, nil, fmt.Errorf("iceberg table %s: snapshot %d: %w", strings.Join(ref.Ident(), "."), *ref.Snapshot, ErrNotFound)
		}
	case ref.AsOf != nil:
		snap = tbl.SnapshotAsOf(ref.AsOf.UnixMilli(), true)
		if snap == nil {
			return nil, nil, fmt.Errorf("iceberg table %s: no snapshot at or before %s: %w", strings.Join(ref.Ident(), "."), ref.AsOf.Format(time.RFC3339), ErrNotFound)
		}
	default:
		snap = tbl.CurrentSnapshot()
	}
	return tbl, snap, nil
}
