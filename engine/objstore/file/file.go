// Package file is the objstore implementation for a local folder,
// file:///path: the embedded default, and what tests and demos use.
//
// Keys map to files under the root folder ("a/b/c" is ROOT/a/b/c). Listings
// are sorted in byte order of the keys, as S3 sorts them, so code that
// works on one store works on the other. Put writes to a temporary file and
// renames it, so readers never see half an object.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/objstore"
)

func init() {
	objstore.Register("file", func(_ context.Context, u *url.URL, settings objstore.Settings) (objstore.Store, error) {
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("store %q: %w: file URIs have no host; want file:///absolute/path", u.String(), objstore.ErrBadURI)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("store %q: %w: empty path; want file:///absolute/path", u.String(), objstore.ErrBadURI)
		}
		return New(u.Path, settings), nil
	})
}

// Store is a folder used as an object store.
type Store struct {
	root     string
	settings objstore.Settings
}

// New returns the store rooted at dir. The folder need not exist yet: Put
// creates it, and reads of a missing folder find nothing.
func New(dir string, settings objstore.Settings) *Store {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = filepath.Clean(dir)
	}
	return &Store{root: abs, settings: settings.WithDefaults()}
}

// Root is the folder.
func (s *Store) Root() string { return s.root }

// URI returns file:///path.
func (s *Store) URI() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(s.root)}).String()
}

func (s *Store) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("%s: bad key %q", s.URI(), key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("%s: bad key %q: no . or .. elements", s.URI(), key)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

func (s *Store) observe(op objstore.Operation, key string, start time.Time, err error) {
	res := objstore.ResultOK
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		res = objstore.ResultNotFound
	case err != nil:
		res = objstore.ResultError
	}
	s.settings.Observe(objstore.Request{Store: s.URI(), Operation: op, Result: res, Key: key, Attempt: 1, Duration: time.Since(start), Err: err})
}

// Stat returns the size and modification time of a file.
func (s *Store) Stat(_ context.Context, key string) (o objstore.Object, err error) {
	start := time.Now()
	defer func() { s.observe(objstore.OpHead, key, start, err) }()
	p, err := s.path(key)
	if err != nil {
		return o, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return o, s.wrap("stat", key, err)
	}
	if fi.IsDir() {
		return o, fmt.Errorf("%s: stat %s: %w (it is a folder)", s.URI(), key, objstore.ErrNotFound)
	}
	return objstore.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}, nil
}

func (s *Store) wrap(what, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s %s: %w", s.URI(), what, key, objstore.ErrNotFound)
	}
	return fmt.Errorf("%s: %s %s: %w", s.URI(), what, key, err)
}

// ReadRange opens the file and returns a reader of [off, off+n).
func (s *Store) ReadRange(_ context.Context, key string, off, n int64) (_ io.ReadCloser, err error) {
	start := time.Now()
	defer func() { s.observe(objstore.OpGet, key, start, err) }()
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.wrap("get", key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: get %s: %w (it is a folder)", s.URI(), key, objstore.ErrNotFound)
	}
	if off < 0 || off > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("%s: get %s: range start %d outside the object's %d bytes", s.URI(), key, off, fi.Size())
	}
	if n < 0 || off+n > fi.Size() {
		n = fi.Size() - off
	}
	return readCloser{io.NewSectionReader(f, off, n), f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Put writes the object atomically (temporary file, then rename).
func (s *Store) Put(_ context.Context, key string, r io.Reader, size int64) (err error) {
	start := time.Now()
	defer func() { s.observe(objstore.OpPut, key, start, err) }()
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("%s: put %s: %w", s.URI(), key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("%s: put %s: %w", s.URI(), key, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return fmt.Errorf("%s: put %s: %w", s.URI(), key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%s: put %s: got %d bytes, expected %d", s.URI(), key, n, size)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: put %s: %w", s.URI(), key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("%s: put %s: %w", s.URI(), key, err)
	}
	return nil
}

// List walks the folder under the prefix. The walk starts at the deepest
// folder the prefix names, so listing one node's files does not read the
// whole tree.
func (s *Store) List(ctx context.Context, prefix, delimiter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		start := time.Now()
		objs, err := s.list(ctx, prefix, delimiter)
		s.observe(objstore.OpList, prefix, start, err)
		if err != nil {
			yield(objstore.Object{}, err)
			return
		}
		for _, o := range objs {
			if !yield(o, nil) {
				return
			}
		}
	}
}

func (s *Store) list(ctx context.Context, prefix, delimiter string) ([]objstore.Object, error) {
	if strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("%s: bad list prefix %q", s.URI(), prefix)
	}
	// The folder to walk: everything of the prefix up to its last slash.
	dirKey := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey = prefix[:i]
	}
	dir := s.root
	if dirKey != "" {
		p, err := s.path(dirKey)
		if err != nil {
			return nil, err
		}
		dir = p
	}
	var objs []objstore.Object
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a missing folder lists as empty, as a missing S3 prefix does
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, rerr := filepath.Rel(s.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == dir {
				return nil
			}
			// Prune folders that cannot hold a matching key.
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			// With the "/" delimiter a folder below the prefix folds into
			// one common prefix: report it once, if it holds any file, and
			// do not walk it.
			if delimiter == "/" && strings.HasPrefix(key+"/", prefix) {
				i := strings.Index((key + "/")[len(prefix):], "/")
				cp := (key + "/")[:len(prefix)+i+1]
				if !seen[cp] && hasFile(p) {
					seen[cp] = true
					objs = append(objs, objstore.Object{Key: cp, IsPrefix: true})
				}
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".put-") || !strings.HasPrefix(key, prefix) {
			return nil
		}
		if delimiter != "" {
			if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
				cp := key[:len(prefix)+i+len(delimiter)]
				if !seen[cp] {
					seen[cp] = true
					objs = append(objs, objstore.Object{Key: cp, IsPrefix: true})
				}
				return nil
			}
		}
		fi, ierr := d.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil
			}
			return ierr
		}
		objs = append(objs, objstore.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list %q: %w", s.URI(), prefix, err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// hasFile reports whether the folder holds a file at any depth; S3 has no
// empty folders, so empty ones are not listed.
func hasFile(dir string) bool {
	found := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".put-") {
			return found
		}
		return nil
	})
	return err == found
}
