package objstore

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/errgroup"
)

// ReaderAt gives io.ReaderAt access to one object through ranged reads, so
// that an SSTable reader can seek in Data.db or Index.db without
// downloading it. Each ReadAt is one ranged GET (retried by the store).
type ReaderAt struct {
	ctx  context.Context
	s    Store
	key  string
	size int64
}

// NewReaderAt returns a ReaderAt over the object key of the given size
// (from a listing, a manifest or Stat). ctx bounds every read.
func NewReaderAt(ctx context.Context, s Store, key string, size int64) *ReaderAt {
	return &ReaderAt{ctx: ctx, s: s, key: key, size: size}
}

// Size is the object's size.
func (r *ReaderAt) Size() int64 { return r.size }

// Key is the object's key.
func (r *ReaderAt) Key() string { return r.key }

// ReadAt reads len(p) bytes at off. As io.ReaderAt requires, it returns
// io.EOF with fewer bytes only at the end of the object.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read %s at negative offset %d", r.s.URI(), r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := int64(len(p))
	short := false
	if off+want > r.size {
		want = r.size - off
		short = true
	}
	if want == 0 {
		return 0, nil
	}
	rc, err := r.s.ReadRange(r.ctx, r.key, off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err != nil {
		return n, fmt.Errorf("%s: read %s [%d, %d): %w", r.s.URI(), r.key, off, off+want, err)
	}
	if short {
		return n, io.EOF
	}
	return n, nil
}

// Close does nothing; it lets a ReaderAt stand where an io.Closer is expected.
func (r *ReaderAt) Close() error { return nil }

// Download copies the whole object of the given size into w, fetching
// parts of settings.PartSize with settings.Concurrency ranged reads in
// parallel. Each part is retried by the store; the first final error
// cancels the rest. It returns the bytes written.
func Download(ctx context.Context, s Store, key string, size int64, w io.WriterAt, settings Settings) (int64, error) {
	settings = settings.WithDefaults()
	if size == 0 {
		return 0, nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(settings.Concurrency)
	part := settings.PartSize
	for off := int64(0); off < size; off += part {
		n := min(part, size-off)
		g.Go(func() error {
			rc, err := s.ReadRange(ctx, key, off, n)
			if err != nil {
				return err
			}
			defer rc.Close()
			buf := make([]byte, n)
			if _, err := io.ReadFull(rc, buf); err != nil {
				return fmt.Errorf("%s: download %s part [%d, %d): %w", s.URI(), key, off, off+n, err)
			}
			if _, err := w.WriteAt(buf, off); err != nil {
				return fmt.Errorf("download %s: write at %d: %w", key, off, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return size, nil
}
