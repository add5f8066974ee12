// Package objstore is the one small interface through which shadow reads
// backups: an object store of immutable, slash-separated keys.
//
// Two implementations live in their own packages, as litestream does it:
//
//	engine/objstore/file   file:///path          the local filesystem (the embedded default)
//	engine/objstore/s3     s3://bucket/prefix    S3 and S3-compatible stores (aws-sdk-go-v2)
//
// Each registers its URI scheme from init, so a program opens stores by URI
// with Open after importing the implementations it wants:
//
//	import (
//		"github.com/cassmove/shadow/engine/objstore"
//		_ "github.com/cassmove/shadow/engine/objstore/file"
//		_ "github.com/cassmove/shadow/engine/objstore/s3"
//	)
//
//	st, err := objstore.Open(ctx, "s3://cassandra-archive/backup", objstore.Settings{})
//	r := objstore.NewReaderAt(ctx, st, key, size) // ranged reads as an io.ReaderAt
//
// Keys are relative to the URI's root (the bucket prefix or the folder), use
// "/" as separator and never start with "/". Listings come in byte order of
// the keys, as S3 returns them.
//
// Every request an implementation makes is reported to Settings.Observer, so
// that the metrics package can count shadow_objectstore_requests_total
// {operation, result} (contracts §7) without this package importing
// Prometheus.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotFound marks an object (or bucket, or folder) that does not exist.
var ErrNotFound = errors.New("object not found")

// ErrAccessDenied marks a request the store refused: bad or missing
// credentials, or a policy that does not allow it. It is not retried.
var ErrAccessDenied = errors.New("access denied")

// ErrUnavailable marks a request that kept failing with transient errors
// (5xx, throttling, timeouts, connection errors) until the retries ran out.
var ErrUnavailable = errors.New("object store unavailable")

// ErrBadURI marks a store URI that cannot be parsed or has no implementation.
var ErrBadURI = errors.New("bad object store URI")

// Object describes one object, or one common prefix of a delimited listing.
type Object struct {
	Key      string    // relative to the store's root; for a prefix it ends with the delimiter
	Size     int64     // bytes; 0 for a prefix
	ModTime  time.Time // last modified; zero for a prefix
	ETag     string    // as the store reports it (S3: quoted hex MD5 or multipart tag); may be empty
	IsPrefix bool      // a common prefix of a delimited listing, not an object
}

// Store is an object store rooted at a URI.
//
// Implementations are safe for concurrent use. Read-side calls retry
// transient failures themselves (the S3 implementation: 5xx, throttling,
// timeouts and connection errors, with exponential backoff and jitter);
// an error that reaches the caller is final and names the object.
type Store interface {
	// List yields the objects whose keys start with prefix, in byte order
	// of their keys. With a non-empty delimiter, keys that contain the
	// delimiter after the prefix are folded into one common-prefix entry
	// (IsPrefix) each, as S3's ListObjectsV2 does. Iteration stops at the
	// first error, which is yielded last.
	List(ctx context.Context, prefix, delimiter string) iter.Seq2[Object, error]

	// Stat returns the object's size and metadata (an S3 HEAD). A missing
	// object gives an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)

	// ReadRange returns the bytes [off, off+n) of the object; n < 0 reads
	// to the end. The reader resumes by itself after a dropped connection.
	// A missing object gives an error wrapping ErrNotFound.
	ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

	// Put stores the object, replacing any previous one. size is the
	// number of bytes r yields, or -1 when unknown. It is used by tests,
	// the cluster generator and uploads; the engine itself only reads.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// URI is the store's URI, e.g. s3://bucket/prefix or file:///path.
	URI() string
}

// OpenObject returns the whole object (ReadRange from 0 to the end).
func OpenObject(ctx context.Context, s Store, key string) (io.ReadCloser, error) {
	return s.ReadRange(ctx, key, 0, -1)
}

// ReadAll reads a whole object into memory. Use it for small objects only
// (manifests, meta files, schema.cql).
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.ReadRange(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", s.URI(), key, err)
	}
	return b, nil
}

// ListAll collects a listing into a slice.
func ListAll(ctx context.Context, s Store, prefix, delimiter string) ([]Object, error) {
	var out []Object
	for o, err := range s.List(ctx, prefix, delimiter) {
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// PutBytes stores b under key.
func PutBytes(ctx context.Context, s Store, key string, b []byte) error {
	return s.Put(ctx, key, strings.NewReader(string(b)), int64(len(b)))
}

// Exists reports whether the object exists.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Operation names one kind of request, the `operation` label of
// shadow_objectstore_requests_total.
type Operation string

// The operations the implementations report.
const (
	OpGet  Operation = "get"  // GET, whole or ranged
	OpHead Operation = "head" // HEAD (Stat)
	OpList Operation = "list" // one page of a listing
	OpPut  Operation = "put"  // PUT, or one part of a multipart upload
)

// Result is the outcome of one request, the `result` label.
type Result string

// The results the implementations report.
const (
	ResultOK       Result = "ok"
	ResultError    Result = "error"
	ResultNotFound Result = "notfound"
)

// Request describes one request (one attempt: a GET retried three times is
// reported three times), given to Settings.Observer.
type Request struct {
	Store     string // the store's URI
	Operation Operation
	Result    Result
	Key       string
	Attempt   int // 1 for the first try
	Duration  time.Duration
	Err       error // nil when Result is ok
}

// Observer receives every request an implementation makes. It must be safe
// for concurrent use and fast; it is called inline.
type Observer func(Request)

// Retry is the retry policy for transient failures.
type Retry struct {
	MaxAttempts int           // total tries per request, ≥ 1 (default 5)
	BaseDelay   time.Duration // first backoff (default 100ms); doubles each retry
	MaxDelay    time.Duration // backoff cap (default 5s)
}

// Settings configure every store of a process. The zero value works:
// AWS default credential chain and region, AWS_ENDPOINT_URL_S3 for the
// endpoint, default retries.
type Settings struct {
	Endpoint  string // S3 endpoint URL for S3-compatible stores; "" = $AWS_ENDPOINT_URL_S3, else AWS
	PathStyle bool   // path-style S3 addressing (needed by most S3-compatible servers)
	Region    string // "" = AWS default chain, else us-east-1

	Retry Retry
	// Timeout bounds one attempt of a request: the wait for the response
	// headers, and any stall while reading a body (default 30s).
	Timeout time.Duration
	// Concurrency is the number of parallel part downloads of Download
	// (default 4). PartSize is the part size (default 8 MiB).
	Concurrency int
	PartSize    int64

	Observer Observer
}

// WithDefaults returns s with zero fields set to their defaults.
func (s Settings) WithDefaults() Settings {
	if s.Retry.MaxAttempts <= 0 {
		s.Retry.MaxAttempts = 5
	}
	if s.Retry.BaseDelay <= 0 {
		s.Retry.BaseDelay = 100 * time.Millisecond
	}
	if s.Retry.MaxDelay <= 0 {
		s.Retry.MaxDelay = 5 * time.Second
	}
	if s.Timeout <= 0 {
		s.Timeout = 30 * time.Second
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 4
	}
	if s.PartSize <= 0 {
		s.PartSize = 8 << 20
	}
	return s
}

// Observe calls the observer if there is one.
func (s Settings) Observe(r Request) {
	if s.Observer != nil {
		s.Observer(r)
	}
}

// Opener opens a store from a parsed URI; implementations register one per scheme.
type Opener func(ctx context.Context, u *url.URL, settings Settings) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a URI scheme available to Open. Implementations call it
// from init.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[scheme] = open
}

// Schemes lists the registered URI schemes.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var out []string
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open opens the store named by uri: file:///path or s3://bucket/prefix
// (contracts §5). A bad or unsupported URI gives an error wrapping ErrBadURI.
func Open(ctx context.Context, uri string, settings Settings) (Store, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("store %q: %w: %v", uri, ErrBadURI, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("store %q: %w: want file:///path or s3://bucket/prefix", uri, ErrBadURI)
	}
	registryMu.RLock()
	open := registry[u.Scheme]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("store %q: %w: scheme %q is not supported (have %s)", uri, ErrBadURI, u.Scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u, settings.WithDefaults())
}

// JoinKey joins key parts with "/", dropping empty parts and stray slashes.
func JoinKey(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.Trim(p, "/")
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p)
	}
	return b.String()
}
