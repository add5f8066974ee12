package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/cassmove/shadow/engine/objstore"
)

// ComponentReader is random access to one component's decoded bytes.
type ComponentReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Open gives random access to an SSTable component.
//
// An uncompressed object (every Medusa object, Priam's NONE) is read in
// place with ranged GETs: nothing is downloaded up front, so the engine
// can seek in Data.db and Index.db. A compressed Priam object (SNAPPY,
// LZ4) cannot be range-read: Open downloads it whole, decodes it into the
// cache folder (Options.CacheDir) once, checks its size against the meta
// file, and returns the local copy. Later opens of the same object reuse
// the copy.
func (c *Catalog) Open(ctx context.Context, comp Component) (ComponentReader, error) {
	if comp.Encryption != "" {
		return nil, fmt.Errorf("%w: %s is encrypted (%s); shadow reads PLAINTEXT Priam backups only", ErrFormat, comp.Key, comp.Encryption)
	}
	if comp.Compression == None || comp.Compression == "" {
		size := comp.Size
		if size < 0 {
			o, err := c.store.Stat(ctx, comp.Key)
			if err != nil {
				return nil, err
			}
			size = o.Size
		}
		return objstore.NewReaderAt(ctx, c.store, comp.Key, size), nil
	}
	return c.decoded(ctx, comp)
}

func (c *Catalog) cache() (string, error) {
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.cacheDir != "" {
		return c.cacheDir, nil
	}
	if c.opts.CacheDir != "" {
		if err := os.MkdirAll(c.opts.CacheDir, 0o755); err != nil {
			return "", fmt.Errorf("cache folder: %w", err)
		}
		c.cacheDir = c.opts.CacheDir
		return c.cacheDir, nil
	}
	dir, err := os.MkdirTemp("", "shadow-backup-cache-")
	if err != nil {
		return "", fmt.Errorf("cache folder: %w", err)
	}
	c.cacheDir, c.ownCache = dir, true
	return dir, nil
}

// decoded returns the local decoded copy of a compressed object, making
// it once even when several goroutines ask at the same time.
func (c *Catalog) decoded(ctx context.Context, comp Component) (ComponentReader, error) {
	dir, err := c.cache()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(c.store.URI() + "\x00" + comp.Key))
	local := filepath.Join(dir, hex.EncodeToString(sum[:12])+"-"+comp.File)
	c.cacheMu.Lock()
	m := c.decoding[local]
	if m == nil {
		m = &sync.Mutex{}
		c.decoding[local] = m
	}
	c.cacheMu.Unlock()
	m.Lock()
	defer m.Unlock()
	if f, err := openLocal(local); err == nil {
		if comp.RawSize < 0 || f.size == comp.RawSize {
			return f, nil
		}
		f.Close()
	}
	rc, err := objstore.OpenObject(ctx, c.store, comp.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec, err := NewDecoder(rc, comp.Compression)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".decode-*")
	if err != nil {
		return nil, fmt.Errorf("cache folder: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, dec)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("%s: %w", comp.Key, err)
		}
		return nil, fmt.Errorf("decoding %s: %w", comp.Key, err)
	}
	if comp.RawSize >= 0 && n != comp.RawSize {
		return nil, fmt.Errorf("%w: %s decodes to %d bytes, the meta file says %d", ErrCorrupt, comp.Key, n, comp.RawSize)
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return nil, fmt.Errorf("cache folder: %w", err)
	}
	return openLocal(local)
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

func openLocal(p string) (localFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return localFile{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return localFile{}, err
	}
	return localFile{f, fi.Size()}, nil
}
