// Package sink writes Arrow record batches into an Apache Iceberg table
// through iceberg-go, as one snapshot per run.
//
//	Open ──▶ create namespace and table if missing, check the schema
//	Write (any number of goroutines) ──▶ Parquet data files (table.WriteRecords), streamed
//	Commit ──▶ one append or overwrite snapshot, per-table lock, reload and retry on conflict
//
// Data files are written before the commit, so a commit that loses a race
// with another writer is retried by reloading the table and committing the
// same files again: nothing is rewritten, nothing is buffered in memory.
// iceberg-go v0.7 does not retry "branch main has changed" or "… was
// created concurrently" itself (apache/iceberg-go#1079), so Commit does:
// commits to one table are serialised inside the process by a lock, and
// conflicts with other processes are retried with backoff.
//
// Every snapshot carries the caller's summary properties (the engine puts
// the backup id and snapshot time there) and a shadow.commit-id, which
// makes an ambiguous commit (an error after the catalog took it) safe to
// retry: the retry finds its own snapshot instead of committing twice.
package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/cassmove/shadow/engine/lake"
)

// Mode says what a run does to the rows already in the table.
type Mode string

// The modes.
const (
	Append    Mode = "append"    // add the rows
	Overwrite Mode = "overwrite" // replace every row
)

// ParseMode reads append or overwrite ("" is append).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "append":
		return Append, nil
	case "overwrite":
		return Overwrite, nil
	}
	return "", fmt.Errorf("%w: mode %q: want append or overwrite", ErrBadOption, s)
}

// Errors.
var (
	// ErrSchemaConflict: the table exists with another schema.
	ErrSchemaConflict = errors.New("iceberg table schema differs")
	// ErrBadOption: an option that cannot be used.
	ErrBadOption = errors.New("bad sink option")
	// ErrCommitConflict: the commit kept losing races until the retries
	// ran out.
	ErrCommitConflict = errors.New("iceberg commit conflict")
)

// CommitIDProperty is the snapshot summary property that identifies one
// sink's commit.
const CommitIDProperty = "shadow.commit-id"

// Options configure a Writer.
type Options struct {
	Mode Mode
	// Properties go into the snapshot summary.
	Properties map[string]string
	// TableProperties are set when the table is created (e.g.
	// write.parquet.compression-codec).
	TableProperties map[string]string
	// TargetFileSize bounds the size of one data file (default: the
	// table's write.target-file-size-bytes, 512 MiB).
	TargetFileSize int64
	// RowGroupRows bounds the rows of a Parquet row group, which a writer
	// buffers (default: the table's, 1,048,576).
	RowGroupRows int
	// BufferBatches is how many record batches each writer queues
	// (default 2): with RowGroupRows it bounds a writer's memory.
	BufferBatches int
	// Retries bounds commit attempts lost to conflicts (default 20).
	Retries int
	// ReplaceSchema, with Overwrite, lets Open change an existing table's
	// schema to the given one when the two differ only by whole top-level
	// columns (added or dropped, by name), as a metadata-only commit before
	// any data is written. It is for tables the writer owns and rewrites
	// whole, such as a shadow run's new table when its provenance columns
	// are switched on or off. Other differences remain ErrSchemaConflict.
	ReplaceSchema bool
}

// Writer writes one snapshot into one table.
type Writer struct {
	cat    *lake.Catalog
	ident  table.Identifier
	name   string
	tbl    *table.Table
	schema *arrow.Schema
	opts   Options
	id     string

	mu      sync.Mutex
	files   []iceberg.DataFile
	rows    int64
	bytes   int64
	created bool
}

// Result is what a commit did.
type Result struct {
	Table      string `json:"table"`
	SnapshotID int64  `json:"snapshot_id"` // the new snapshot; the current one when nothing was committed
	Committed  bool   `json:"committed"`   // false when an append had no rows (no snapshot)
	Created    bool   `json:"created"`     // the table was created by this writer
	Mode       Mode   `json:"mode"`
	DataFiles  int    `json:"data_files"`
	Rows       int64  `json:"rows"`
	Bytes      int64  `json:"bytes"`    // Parquet bytes written
	Attempts   int    `json:"attempts"` // commit attempts
	CommitID   string `json:"commit_id"`
}

// Open opens (creating when missing, with its namespace) the table ref
// names in cat, and checks that an existing table has the given schema
// (names, order and types; field IDs may differ). The Writer writes
// batches of ArrowSchema().
func Open(ctx context.Context, cat *lake.Catalog, ref lake.TableRef, sc *iceberg.Schema, opts Options) (*Writer, error) {
	if ref.Snapshot != nil || ref.AsOf != nil {
		return nil, fmt.Errorf("%w: iceberg:%s: a table to write cannot name a snapshot or time", ErrBadOption, ref)
	}
	if opts.Mode == "" {
		opts.Mode = Append
	}
	if opts.Mode != Append && opts.Mode != Overwrite {
		return nil, fmt.Errorf("%w: mode %q", ErrBadOption, opts.Mode)
	}
	w := &Writer{cat: cat, ident: ref.Ident(), name: strings.Join(ref.Ident(), "."), opts: opts, id: newID()}
	tbl, err := cat.Catalog.LoadTable(ctx, w.ident)
	switch {
	case err == nil:
	case errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace):
		tbl, err = w.create(ctx, ref, sc)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("iceberg table %s: %w", w.name, err)
	}
	if err := sameSchema(tbl.Schema(), sc); err != nil {
		if !opts.ReplaceSchema || opts.Mode != Overwrite {
			return nil, fmt.Errorf("%w: iceberg table %s: %v; write to another table or drop this one", ErrSchemaConflict, w.name, err)
		}
		if tbl, err = w.replaceSchema(ctx, tbl, sc); err != nil {
			return nil, err
		}
	}
	as, err := table.SchemaToArrowSchema(tbl.Schema(), nil, true, false)
	if err != nil {
		return nil, fmt.Errorf("iceberg table %s: %w", w.name, err)
	}
	w.tbl, w.schema = tbl, as
	return w, nil
}

// replaceSchema changes tbl's schema to want by dropping the columns want
// lacks and adding the ones tbl lacks (Options.ReplaceSchema), in one
// metadata commit, and returns the table as committed. Any other difference
// (a column's type or place) is ErrSchemaConflict.
func (w *Writer) replaceSchema(ctx context.Context, tbl *table.Table, want *iceberg.Schema) (*table.Table, error) {
	unlock := lockTable(w.cat.Location.Catalog, w.name)
	defer unlock()
	have := tbl.Schema()
	var drop, add []iceberg.NestedField
	var changes []string
	for _, f := range have.Fields() {
		if _, ok := want.FindFieldByName(f.Name); !ok {
			drop = append(drop, f)
			changes = append(changes, "-"+f.Name)
		}
	}
	for _, f := range want.Fields() {
		if _, ok := have.FindFieldByName(f.Name); !ok {
			add = append(add, f)
			changes = append(changes, "+"+f.Name)
		}
	}
	update := func(tx *table.Transaction) *table.UpdateSchema {
		// Incompatible changes allowed: the overwrite replaces every row,
		// so a required column added without a default meets no old row.
		u := tx.UpdateSchema(true, true)
		for _, f := range drop {
			u.DeleteColumn([]string{f.Name})
		}
		for _, f := range add {
			u.AddColumn([]string{f.Name}, f.Type, f.Doc, f.Required, nil)
		}
		return u
	}
	conflict := func(err error) error {
		return fmt.Errorf("%w: iceberg table %s: %v; only whole columns can be added or dropped (ReplaceSchema): write to another table or drop this one", ErrSchemaConflict, w.name, err)
	}
	if len(changes) == 0 {
		return nil, conflict(sameSchema(have, want))
	}
	// Check the result on a transaction of its own before committing
	// anything (UpdateSchema cannot be applied and then committed).
	next, err := update(tbl.NewTransaction()).Apply()
	if err != nil {
		return nil, conflict(err)
	}
	if err := sameSchema(next, want); err != nil {
		return nil, conflict(err)
	}
	tx := tbl.NewTransaction()
	if err := update(tx).Commit(); err != nil {
		return nil, fmt.Errorf("iceberg table %s: replacing its schema (%s): %w", w.name, strings.Join(changes, " "), err)
	}
	out, err := tx.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("iceberg table %s: committing its new schema (%s): %w", w.name, strings.Join(changes, " "), err)
	}
	slog.Info("replaced iceberg table schema", "table", w.name, "changes", strings.Join(changes, " "))
	return out, nil
}

func (w *Writer) create(ctx context.Context, ref lake.TableRef, sc *iceberg.Schema) (*table.Table, error) {
	ns := table.Identifier(ref.Namespace)
	unlock := lockTable(w.cat.Location.Catalog, w.name)
	defer unlock()
	if err := w.cat.Catalog.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, fmt.Errorf("iceberg namespace %s: %w", strings.Join(ns, "."), err)
	}
	props := iceberg.Properties{"shadow.created-by": "shadow engine"}
	for k, v := range w.opts.TableProperties {
		props[k] = v
	}
	tbl, err := w.cat.Catalog.CreateTable(ctx, w.ident, sc, catalog.WithProperties(props))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		// another writer created it first
		tbl, err = w.cat.Catalog.LoadTable(ctx, w.ident)
	} else if err == nil {
		w.created = true
		slog.Info("created iceberg table", "table", w.name)
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg table %s: create: %w", w.name, err)
	}
	return tbl, nil
}

// sameSchema compares two Iceberg schemas by names, order and types,
// ignoring field IDs.
func sameSchema(have, want *iceberg.Schema) error {
	a, err := table.SchemaToArrowSchema(have, nil, false, false)
	if err != nil {
		return err
	}
	b, err := table.SchemaToArrowSchema(want, nil, false, false)
	if err != nil {
		return err
	}
	if a.Equal(b) {
		return nil
	}
	var diffs []string
	af, bf := a.Fields(), b.Fields()
	for i := 0; i < max(len(af), len(bf)); i++ {
		switch {
		case i >= len(af):
			diffs = append(diffs, fmt.Sprintf("missing column %s %s", bf[i].Name, bf[i].Type))
		case i >= len(bf):
			diffs = append(diffs, fmt.Sprintf("extra column %s %s", af[i].Name, af[i].Type))
		case af[i].Name != bf[i].Name || !arrow.TypeEqual(af[i].Type, bf[i].Type):
			diffs = append(diffs, fmt.Sprintf("column %d is %s %s, want %s %s", i+1, af[i].Name, af[i].Type, bf[i].Name, bf[i].Type))
		}
	}
	if len(diffs) > 3 {
		diffs = append(diffs[:3], fmt.Sprintf("and %d more", len(diffs)-3))
	}
	return errors.New(strings.Join(diffs, "; "))
}

// ArrowSchema is the schema of the batches Write takes (with the table's
// field IDs).
func (w *Writer) ArrowSchema() *arrow.Schema { return w.schema }

// Name is the table's name.
func (w *Writer) Name() string { return w.name }

// Write writes batches into new Parquet data files, releasing each batch.
// Several goroutines may call it at once (each makes its own files); the
// files join the snapshot at Commit.
func (w *Writer) Write(ctx context.Context, batches iter.Seq2[arrow.RecordBatch, error]) error {
	var opts []table.WriteRecordOption
	if w.opts.TargetFileSize > 0 {
		opts = append(opts, table.WithTargetFileSize(w.opts.TargetFileSize))
	}
	if w.opts.RowGroupRows > 0 {
		opts = append(opts, table.WithParquetRowGroupLimit(w.opts.RowGroupRows))
	}
	buf := w.opts.BufferBatches
	if buf <= 0 {
		buf = 2
	}
	opts = append(opts, table.WithRecordBatchBufferSize(buf))
	for df, err := range table.WriteRecords(ctx, w.tbl, w.schema, batches, opts...) {
		if err != nil {
			return fmt.Errorf("iceberg table %s: writing data files: %w", w.name, err)
		}
		w.mu.Lock()
		w.files = append(w.files, df)
		w.rows += df.Count()
		w.bytes += df.FileSizeBytes()
		w.mu.Unlock()
	}
	return nil
}

// Rows is the number of rows written so far.
func (w *Writer) Rows() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// Commit commits every data file written as one snapshot: an append, or
// an overwrite that replaces all the table's current data files. It holds
// the table's process-wide lock, and on a conflict reloads the table and
// tries again.
func (w *Writer) Commit(ctx context.Context) (*Result, error) {
	w.mu.Lock()
	files := append([]iceberg.DataFile(nil), w.files...)
	res := &Result{Table: w.name, Mode: w.opts.Mode, Created: w.created, DataFiles: len(files), Rows: w.rows, Bytes: w.bytes, CommitID: w.id}
	w.mu.Unlock()

	props := iceberg.Properties{CommitIDProperty: w.id}
	for k, v := range w.opts.Properties {
		props[k] = v
	}
	retries := w.opts.Retries
	if retries <= 0 {
		retries = 20
	}
	unlock := lockTable(w.cat.Location.Catalog, w.name)
	defer unlock()
	backoff := 20 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= retries; attempt++ {
		res.Attempts = attempt
		tbl, err := w.cat.Catalog.LoadTable(ctx, w.ident)
		if err != nil {
			return nil, fmt.Errorf("iceberg table %s: reload for commit: %w", w.name, err)
		}
		if id, ok := findCommit(tbl, w.id); ok {
			// an earlier attempt went through after all
			res.SnapshotID, res.Committed = id, true
			return res, nil
		}
		snap, committed, err := w.commitOnce(ctx, tbl, files, props)
		if err == nil {
			res.SnapshotID, res.Committed = snap, committed
			return res, nil
		}
		if !conflict(err) {
			return nil, fmt.Errorf("iceberg table %s: commit: %w", w.name, err)
		}
		lastErr = err
		slog.Debug("iceberg commit conflict, reloading", "table", w.name, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	return nil, fmt.Errorf("%w: iceberg table %s: %d attempts: %v", ErrCommitConflict, w.name, retries, lastErr)
}

func (w *Writer) commitOnce(ctx context.Context, tbl *table.Table, files []iceberg.DataFile, props iceberg.Properties) (int64, bool, error) {
	current := int64(0)
	if s := tbl.CurrentSnapshot(); s != nil {
		current = s.SnapshotID
	}
	tx := tbl.NewTransaction()
	switch {
	case w.opts.Mode == Overwrite && tbl.CurrentSnapshot() != nil:
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return 0, false, fmt.Errorf("listing current data files: %w", err)
		}
		var old []iceberg.DataFile
		for _, t := range tasks {
			old = append(old, t.File)
		}
		switch {
		case len(old) == 0 && len(files) == 0:
			return current, false, nil
		case len(files) == 0:
			if err := tx.Delete(ctx, iceberg.AlwaysTrue{}, props); err != nil {
				return 0, false, err
			}
		default:
			if err := tx.ReplaceDataFilesWithDataFiles(ctx, old, files, props); err != nil {
				return 0, false, err
			}
		}
	default:
		if len(files) == 0 {
			return current, false, nil
		}
		if err := tx.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck()); err != nil {
			return 0, false, err
		}
	}
	nt, err := tx.Commit(ctx)
	if err != nil {
		return 0, false, err
	}
	s := nt.CurrentSnapshot()
	if s == nil {
		return 0, false, fmt.Errorf("commit left no current snapshot")
	}
	return s.SnapshotID, true, nil
}

// findCommit looks for the snapshot of a commit id among the table's
// recent snapshots.
func findCommit(tbl *table.Table, id string) (int64, bool) {
	snaps := tbl.Metadata().Snapshots()
	for i := len(snaps) - 1; i >= 0 && i >= len(snaps)-50; i-- {
		if s := snaps[i]; s.Summary != nil && s.Summary.Properties[CommitIDProperty] == id {
			return s.SnapshotID, true
		}
	}
	return 0, false
}

// conflict reports an error that a reload and retry can fix.
func conflict(err error) bool {
	if errors.Is(err, table.ErrCommitFailed) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"has changed", "created concurrently", "metadata-location", "database is locked", "busy"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var locks sync.Map // catalog URI + table → *sync.Mutex

// lockTable serialises commits to one table within the process.
func lockTable(catalogURI, name string) func() {
	v, _ := locks.LoadOrStore(catalogURI+"\x00"+name, &sync.Mutex{})
	m := v.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
