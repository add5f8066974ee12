package compaction

import (
	"context"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/sstable"
)

// BackupSource is an sstable.Source over one SSTable of a backup: every
// component is read through the catalog (ranged GETs in place, or a decoded
// local copy of a compressed Priam object).
type BackupSource struct {
	Catalog *backup.Catalog
	SSTable backup.SSTable
	// Read, when set, counts the bytes read from components.
	Read *atomic.Int64
	desc sstable.Descriptor
}

// NewBackupSource checks the SSTable's name and makes its source.
func NewBackupSource(cat *backup.Catalog, s backup.SSTable, read *atomic.Int64) (*BackupSource, error) {
	c, ok := s.Component(sstable.ComponentData)
	if !ok {
		return nil, fmt.Errorf("sstable %s/%s on node %s: no Data.db in the backup: %w", s.TableDir, s.Name, s.Node, sstable.ErrMissingComponent)
	}
	d, _, err := sstable.ParseFileName(c.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Key, err)
	}
	return &BackupSource{Catalog: cat, SSTable: s, Read: read, desc: d}, nil
}

// Descriptor names the SSTable.
func (b *BackupSource) Descriptor() sstable.Descriptor { return b.desc }

// Name is the component's object key.
func (b *BackupSource) Name(component string) string {
	if c, ok := b.SSTable.Component(component); ok {
		return c.Key
	}
	return b.SSTable.Node + "/" + b.SSTable.TableDir + "/" + b.desc.FileName(component)
}

// Open opens a component through the catalog.
func (b *BackupSource) Open(ctx context.Context, component string) (sstable.File, error) {
	c, ok := b.SSTable.Component(component)
	if !ok {
		return nil, fmt.Errorf("%s: %w", b.Name(component), fs.ErrNotExist)
	}
	r, err := b.Catalog.Open(ctx, c)
	if err != nil {
		return nil, err
	}
	if b.Read == nil {
		return r, nil
	}
	return &countedFile{ComponentReader: r, n: b.Read}, nil
}

type countedFile struct {
	backup.ComponentReader
	n *atomic.Int64
}

func (f *countedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.ComponentReader.ReadAt(p, off)
	f.n.Add(int64(n))
	return n, err
}

// OpenBackup opens one SSTable of a backup as a merge input named by its
// Data.db object key.
func OpenBackup(ctx context.Context, cat *backup.Catalog, s backup.SSTable, opts *sstable.Options, read *atomic.Int64) (Input, error) {
	src, err := NewBackupSource(cat, s, read)
	if err != nil {
		return Input{}, err
	}
	r, err := sstable.Open(ctx, src, opts)
	if err != nil {
		return Input{}, err
	}
	return Input{Reader: r, Name: src.Name(sstable.ComponentData)}, nil
}
