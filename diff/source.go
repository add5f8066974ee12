package diff

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/lake"
)

// ErrCorrupt marks an unreadable or corrupt Parquet file. The error names
// the file.
var ErrCorrupt = errors.New("unreadable or corrupt Parquet")

// A Source is one side of a diff. Plan says what it holds and returns the
// tasks that read it; tasks run in parallel and each yields Arrow record
// batches. Sources are how a caller passes already-open Iceberg tables,
// Parquet files or its own Arrow streams.
type Source interface {
	Plan(ctx context.Context) (*Plan, error)
}

// Plan describes what a source will read.
type Plan struct {
	Ref        string        // what the user named: iceberg:NS.TABLE@ID, parquet:GLOB, ...
	Schema     *arrow.Schema // the columns every batch carries (by name; order may vary per batch)
	SnapshotID *int64        // Iceberg snapshot read, if any
	Files      []string      // data and delete files the tasks read
	Rows       int64         // expected rows, -1 if unknown (sizes partitions and buckets)
	Tasks      []Task
	Close      func() error // releases what Plan opened; may be nil
}

// A Task reads one part of a source and calls emit for each batch. The
// batch belongs to the task: emit retains it if it keeps it.
type Task func(ctx context.Context, emit func(arrow.RecordBatch) error) error

// OpenRef returns the source a table reference of contracts §5 names:
// iceberg:NS.TABLE[@SNAPSHOT_ID|@TIME] through the catalog at loc, or
// parquet:GLOB.
func OpenRef(ref string, loc lake.Location) (Source, error) {
	switch {
	case strings.HasPrefix(ref, "iceberg:"):
		tr, err := lake.ParseTableRef(strings.TrimPrefix(ref, "iceberg:"))
		if err != nil {
			return nil, err
		}
		return &icebergRef{loc: loc, ref: tr, name: ref}, nil
	case strings.HasPrefix(ref, "parquet:"):
		glob := strings.TrimPrefix(ref, "parquet:")
		if glob == "" {
			return nil, fmt.Errorf("table %q: %w: empty Parquet glob", ref, lake.ErrBadReference)
		}
		if _, err := filepath.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("table %q: %w: %v", ref, lake.ErrBadReference, err)
		}
		return Parquet(glob), nil
	}
	return nil, fmt.Errorf("table %q: %w: want iceberg:NS.TABLE[@SNAPSHOT_ID|@TIME] or parquet:GLOB", ref, lake.ErrBadReference)
}

// Parquet is a source over the local Parquet files a glob matches, read in
// parallel by row group with arrow-go's pqarrow.
func Parquet(glob string) Source { return &parquetSource{glob: glob} }

// ParquetFiles is a source over the given local Parquet files.
func ParquetFiles(ref string, paths ...string) Source {
	return &parquetSource{glob: ref, paths: slices.Clone(paths), fixed: true}
}

type parquetSource struct {
	glob  string
	paths []string
	fixed bool
}

// rowsPerTask groups small row groups so that opening a file stays cheap
// next to reading it.
const rowsPerTask = 256 * 1024

func (s *parquetSource) Plan(ctx context.Context) (*Plan, error) {
	ref := "parquet:" + s.glob
	paths := s.paths
	if !s.fixed {
		var err error
		paths, err = filepath.Glob(s.glob)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", ref, lake.ErrBadReference, err)
		}
		if len(paths) == 0 {
			if strings.ContainsAny(s.glob, "*?[") {
				return nil, fmt.Errorf("parquet files %s: %w: no file matches", s.glob, lake.ErrNotFound)
			}
			return nil, fmt.Errorf("parquet file %s: %w", s.glob, lake.ErrNotFound)
		}
		slices.Sort(paths)
	}
	p := &Plan{Ref: ref, Files: paths}
	var first map[string]*ctype
	var firstPath string
	for _, path := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("parquet file %s: %w", path, lake.ErrNotFound)
			}
			return nil, fmt.Errorf("parquet file %s: %w", path, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("parquet file %s: %w: is a directory", path, ErrCorrupt)
		}
		sc, rgs, err := parquetFooter(path)
		if err != nil {
			return nil, err
		}
		types, _, err := schemaColumns(path, sc, nil)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first, firstPath, p.Schema = types, path, sc
		} else if err := sameColumns(firstPath, first, path, types); err != nil {
			return nil, err
		}
		// Group consecutive row groups into tasks.
		var group []int
		var rows int64
		flush := func() {
			if len(group) == 0 {
				return
			}
			p.Tasks = append(p.Tasks, parquetTask(path, group))
			group, rows = nil, 0
		}
		for i, rg := range rgs {
			group = append(group, i)
			rows += rg.rows
			p.Rows += rg.rows
			if rows >= rowsPerTask {
				flush()
			}
		}
		flush()
	}
	return p, nil
}

func sameColumns(pathA string, a map[string]*ctype, pathB string, b map[string]*ctype) error {
	var problems []string
	for n, t := range a {
		u, ok := b[n]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %q (%s) is in %s but not in %s", n, t, pathA, pathB))
		case !t.equal(u):
			problems = append(problems, fmt.Sprintf("column %q is %s in %s but %s in %s", n, t, pathA, u, pathB))
		}
	}
	for n, u := range b {
		if _, ok := a[n]; !ok {
			problems = append(problems, fmt.Sprintf("column %q (%s) is in %s but not in %s", n, u, pathB, pathA))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	slices.Sort(problems)
	return fmt.Errorf("%w between files of one side:\n%s", ErrSchemaMismatch, strings.Join(problems, "\n"))
}

type rowGroupInfo struct{ rows int64 }

// parquetFooter reads a file's schema and row groups, turning every failure
// (including a panic in the decoder) into ErrCorrupt naming the file.
func parquetFooter(path string) (sc *arrow.Schema, rgs []rowGroupInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, nil, fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, err)
	}
	defer r.Close()
	md := r.MetaData()
	sc, err = pqarrow.FromParquet(md.Schema, &pqarrow.ArrowReadProperties{}, md.KeyValueMetadata())
	if err != nil {
		return nil, nil, fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, err)
	}
	for i := 0; i < r.NumRowGroups(); i++ {
		rg := md.RowGroup(i)
		rgs = append(rgs, rowGroupInfo{rows: rg.NumRows()})
	}
	return sc, rgs, nil
}

// batchRows is the Arrow batch size the Parquet reader produces.
const batchRows = 64 * 1024

func parquetTask(path string, rowGroups []int) Task {
	return func(ctx context.Context, emit func(arrow.RecordBatch) error) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("parquet file %s: row groups %v: %w: %v", path, rowGroups, ErrCorrupt, r)
			}
		}()
		mem := allocatorFrom(ctx)
		props := parquet.NewReaderProperties(mem)
		// Stream column chunks through a small buffer rather than reading
		// each whole chunk into a fresh allocation.
		props.BufferedStreamEnabled = true
		props.BufferSize = 1 << 20
		r, err := file.OpenParquetFile(path, false, file.WithReadProps(props))
		if err != nil {
			return fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, err)
		}
		defer r.Close()
		fr, err := pqarrow.NewFileReader(r, pqarrow.ArrowReadProperties{BatchSize: batchRows}, mem)
		if err != nil {
			return fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, err)
		}
		rr, err := fr.GetRecordReader(ctx, nil, rowGroups)
		if err != nil {
			return fmt.Errorf("parquet file %s: %w: %v", path, ErrCorrupt, err)
		}
		defer rr.Release()
		for rr.Next() {
			if err := emit(rr.RecordBatch()); err != nil {
				return err
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("parquet file %s: row groups %v: %w: %v", path, rowGroups, ErrCorrupt, err)
		}
		return ctx.Err()
	}
}

// Iceberg is a source over an already-loaded Iceberg table at a snapshot
// (nil: the table has no snapshot yet and is empty). Each planned file scan
// task is read by iceberg-go, deletes applied, in parallel with the others.
func Iceberg(ref string, tbl *table.Table, snap *table.Snapshot) Source {
	return &icebergSource{ref: ref, tbl: tbl, snap: snap}
}

type icebergSource struct {
	ref  string
	tbl  *table.Table
	snap *table.Snapshot
}

func (s *icebergSource) Plan(ctx context.Context) (*Plan, error) {
	p := &Plan{Ref: s.ref}
	if s.snap == nil {
		sc, err := table.SchemaToArrowSchema(s.tbl.Schema(), nil, false, false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.ref, err)
		}
		p.Schema = sc
		return p, nil
	}
	id := s.snap.SnapshotID
	p.SnapshotID = &id
	// One task per file: each worker streams its own file, so memory stays
	// bounded by the workers' batches rather than by whole decoded files.
	scan := s.tbl.Scan(table.WithSnapshotID(id), table.WithMaxConcurrency(1))
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: planning the scan: %w", s.ref, err)
	}
	sc, _, err := scan.ReadTasks(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.ref, err)
	}
	p.Schema = sc
	seen := map[string]bool{}
	addFile := func(f string) {
		if !seen[f] {
			seen[f] = true
			p.Files = append(p.Files, f)
		}
	}
	for _, t := range tasks {
		addFile(t.File.FilePath())
		for _, d := range slices.Concat(t.DeleteFiles, t.EqualityDeleteFiles, t.DeletionVectorFiles) {
			addFile(d.FilePath())
		}
		p.Rows += t.File.Count()
		p.Tasks = append(p.Tasks, icebergTask(s.ref, scan, t))
	}
	return p, nil
}

func icebergTask(ref string, scan *table.Scan, t table.FileScanTask) Task {
	return func(ctx context.Context, emit func(arrow.RecordBatch) error) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%s: data file %s: %w: %v", ref, t.File.FilePath(), ErrCorrupt, r)
			}
		}()
		_, it, err := scan.ReadTasks(ctx, []table.FileScanTask{t})
		if err != nil {
			return fmt.Errorf("%s: data file %s: %w", ref, t.File.FilePath(), err)
		}
		for rec, err := range it {
			if err != nil {
				return fmt.Errorf("%s: data file %s: %w", ref, t.File.FilePath(), err)
			}
			err = emit(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		return nil
	}
}

type icebergRef struct {
	loc  lake.Location
	ref  lake.TableRef
	name string
}

func (s *icebergRef) Plan(ctx context.Context) (*Plan, error) {
	cat, err := lake.Open(ctx, s.loc, false)
	if err != nil {
		return nil, err
	}
	tbl, snap, err := cat.LoadTable(ctx, s.ref)
	if err != nil {
		cat.Close()
		return nil, err
	}
	p, err := Iceberg(s.name, tbl, snap).Plan(ctx)
	if err != nil {
		cat.Close()
		return nil, err
	}
	p.Close = cat.Close
	return p, nil
}

// Records is a source over one Arrow record stream, read by a single task
// (hashing still runs in parallel). The stream is consumed and released.
func Records(ref string, rdr array.RecordReader) Source { return &recordSource{ref: ref, rdr: rdr} }

type recordSource struct {
	ref string
	rdr array.RecordReader
}

func (s *recordSource) Plan(context.Context) (*Plan, error) {
	rdr := s.rdr
	return &Plan{
		Ref: s.ref, Schema: rdr.Schema(), Rows: -1,
		Tasks: []Task{func(ctx context.Context, emit func(arrow.RecordBatch) error) error {
			for rdr.Next() {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := emit(rdr.RecordBatch()); err != nil {
					return err
				}
			}
			if err := rdr.Err(); err != nil {
				return fmt.Errorf("%s: %w", s.ref, err)
			}
			return nil
		}},
		Close: func() error { rdr.Release(); return nil },
	}, nil
}
