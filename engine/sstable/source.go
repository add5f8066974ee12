package sstable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File is one opened component: random access plus its size. Over an
// object store, ReadAt is a ranged GET.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Source opens the components of one SSTable. Implement it to read SSTables
// from anywhere (local files, S3 ranged GETs). Open must return an error
// wrapping fs.ErrNotExist when the component does not exist.
type Source interface {
	// Descriptor names the SSTable (version, generation, format).
	Descriptor() Descriptor
	// Open opens a component ("Data.db", "Statistics.db", ...).
	Open(ctx context.Context, component string) (File, error)
	// Name is how errors name a component (a path or an object key).
	Name(component string) string
}

// DirSource reads an SSTable from a local directory.
type DirSource struct {
	Dir  string
	Desc Descriptor
}

// NewDirSource finds the SSTable at path: a *-Data.db file (or any other
// component file), or a directory holding exactly one *-Data.db.
func NewDirSource(path string) (*DirSource, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sstable %s: no such file or directory: %w", path, ErrMissingComponent)
	}
	if err != nil {
		return nil, fmt.Errorf("sstable %s: %w", path, err)
	}
	file := path
	if st.IsDir() {
		matches, err := filepath.Glob(filepath.Join(path, "*-Data.db"))
		if err != nil {
			return nil, err
		}
		switch len(matches) {
		case 0:
			return nil, fmt.Errorf("sstable %s: no *-Data.db in the directory: %w", path, ErrMissingComponent)
		case 1:
			file = matches[0]
		default:
			return nil, fmt.Errorf("%w: %s holds %d SSTables (%s, ...): want exactly one, or name its Data.db", ErrUnsupported, path, len(matches), filepath.Base(matches[0]))
		}
	}
	d, _, err := ParseFileName(filepath.Base(file))
	if err != nil {
		return nil, err
	}
	return &DirSource{Dir: filepath.Dir(file), Desc: d}, nil
}

func (s *DirSource) Descriptor() Descriptor { return s.Desc }

func (s *DirSource) Name(component string) string {
	return filepath.Join(s.Dir, s.Desc.FileName(component))
}

type osFile struct {
	*os.File
	size int64
}

func (f osFile) Size() int64 { return f.size }

func (s *DirSource) Open(_ context.Context, component string) (File, error) {
	f, err := os.Open(s.Name(component))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f, st.Size()}, nil
}

// openComponent opens a component, mapping absence to ErrMissingComponent.
func openComponent(ctx context.Context, src Source, component string) (File, error) {
	f, err := src.Open(ctx, component)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errIn(ErrMissingComponent, src.Name(component), "the SSTable has no %s", component)
	}
	if err != nil {
		return nil, fmt.Errorf("sstable %s: %w", src.Name(component), err)
	}
	return f, nil
}

// readAll reads a whole (small) component into memory.
func readAll(ctx context.Context, src Source, component string, limit int64) ([]byte, error) {
	f, err := openComponent(ctx, src, component)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := f.Size()
	if n > limit {
		return nil, errIn(ErrCorrupt, src.Name(component), "%d bytes: want at most %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("sstable %s: reading %d bytes: %w", src.Name(component), n, err)
	}
	return b, nil
}

// parseTOC reads TOC.txt: one component name per line.
func parseTOC(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// MemSource serves an SSTable held in memory (tests, small objects).
type MemSource struct {
	Desc  Descriptor
	Files map[string][]byte // by component name
}

func (m *MemSource) Descriptor() Descriptor { return m.Desc }

func (m *MemSource) Name(component string) string { return "mem:" + m.Desc.FileName(component) }

type memFile struct{ *bytesReaderAt }

func (m *MemSource) Open(_ context.Context, component string) (File, error) {
	b, ok := m.Files[component]
	if !ok {
		return nil, fmt.Errorf("%s: %w", m.Name(component), fs.ErrNotExist)
	}
	return memFile{&bytesReaderAt{b}}, nil
}

type bytesReaderAt struct{ b []byte }

func (r *bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *bytesReaderAt) Size() int64  { return int64(len(r.b)) }
func (r *bytesReaderAt) Close() error { return nil }
