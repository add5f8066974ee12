// Package move is the engine's job: it turns one Cassandra backup in an
// object store into an Iceberg table, with no intermediate tables.
//
//	object store ──backup.Catalog──▶ pick the backup (as of), verify it, load its schema and ring
//	     │
//	     ▼
//	plan: the ring cut into work units (token range × chosen replicas' SSTables)
//	     │
//	     ▼  Parallelism workers, one unit at a time
//	compaction.Merger (K-way merge + reconciliation at the TTL reference)
//	     │
//	     ▼
//	rows.Batcher ──Arrow──▶ Source.Scan ──▶ connector Output ──▶ sink writers ──▶ one Iceberg snapshot
//
// Open gives the Source (a connector.Source) for connectors and tests; Plan
// says what a run would do (shadow move --plan); Run does it.
package move

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/rows"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sink"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/systemschema"
	"github.com/cassmove/shadow/engine/token"
)

// ErrJob marks a job with bad options (a missing keyspace, an unknown
// consistency level, a node of PreviousBackupNodes that is not in the ring).
var ErrJob = errors.New("bad move job")

// BadInput lists the sentinel errors that mean the user's input is wrong
// (CLI exit 2): the job, the backup, the schema, a corrupt SSTable, the
// connector options, the destination table's schema. Every other error is a
// runtime failure (object store, Iceberg catalog, I/O).
var BadInput = []error{
	ErrJob,
	backup.ErrNotFound, backup.ErrIncomplete, backup.ErrNoBackup, backup.ErrFormat, backup.ErrCorrupt, backup.ErrNoSchema,
	objstore.ErrBadURI,
	schema.ErrSyntax, schema.ErrInvalid, schema.ErrUnknown,
	systemschema.ErrSchema,
	compaction.ErrSchema, compaction.ErrSchemaMismatch,
	sstable.ErrCorrupt, sstable.ErrChecksum, sstable.ErrMissingComponent, sstable.ErrUnsupported,
	token.ErrUnknownPartitioner,
	ring.ErrTopology, ring.ErrConsistency,
	rows.ErrUnsupported,
	connector.ErrUnknown, connector.ErrOptions, connector.ErrMissingTable, connector.ErrBadData, connector.ErrShape,
	sink.ErrSchemaConflict, sink.ErrBadOption,
	lake.ErrBadReference,
}

// IsBadInput reports whether err wraps one of BadInput.
func IsBadInput(err error) bool {
	for _, e := range BadInput {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Job says what to move.
type Job struct {
	// Store is the backups' object store: file:///path or s3://bucket/prefix.
	Store string
	// S3 holds the S3 endpoint, addressing and region (contracts §5).
	S3 lake.S3
	// Observer hears every object store request (for metrics); optional.
	Observer objstore.Observer

	// Layout is medusa, priam or "" (detect). Cluster is the Priam
	// application, or the Medusa prefix.
	Layout, Cluster string
	Keyspace        string
	// Table is the dataset's table (connector.Spec.Table): the table
	// itself for raw.
	Table string
	// Connector is the output shape ("" = raw), made with connector.New
	// from ConnectorOptions.
	Connector        string
	ConnectorOptions map[string]any

	// AsOf picks the newest complete backup at or before it (zero = now).
	AsOf time.Time
	// SnapshotWindow groups node snapshots into one backup (0 = 6h).
	SnapshotWindow time.Duration

	// Consistency is ONE, LOCAL_ONE, QUORUM, LOCAL_QUORUM (default) or ALL;
	// DC is the local data center ("" = the first by name, contracts §8).
	Consistency, DC string
	// TTLReference is when TTLs expire; zero = the backup's snapshot time.
	TTLReference time.Time

	// AllowIncomplete reads the newest backup at AsOf even when it is
	// incomplete: whatever is missing is skipped (and logged). Without it
	// an incomplete backup is never read.
	AllowIncomplete bool
	// SchemaFile replaces the backup's schema (--schema FILE.cql).
	SchemaFile string
	// Provenance adds _writetime, _ttl_expires_at and _snapshot_time.
	Provenance bool

	// PreviousBackupNodes read these nodes' SSTables from the backup
	// before the picked one (legacy emulation: a node whose snapshot was
	// stale). Names as the backup has them (Medusa FQDN, Priam token).
	PreviousBackupNodes []string

	// From and To bound what time-sliced connectors read (zero: unbounded).
	From, To time.Time

	// Parallelism is the number of work units merged at once, Memory the
	// budget in bytes for all of them; 0 sizes them for this machine.
	Parallelism int
	Memory      int64
	// CacheDir receives decoded copies of compressed Priam objects
	// ("" = a temporary folder removed at Close).
	CacheDir string
}

// Destination is where Run writes.
type Destination struct {
	Catalog *lake.Catalog
	Table   lake.TableRef
	Mode    sink.Mode // append (default) or overwrite
	// Properties go into the snapshot summary, next to the engine's own
	// (shadow.backup-id, shadow.snapshot-time, shadow.connector, ...).
	Properties map[string]string
	// TableProperties are set when the table is created.
	TableProperties map[string]string
	// ReplaceSchema (with overwrite) lets the move add or drop whole
	// columns of an existing table whose schema differs, for a table the
	// caller owns and rewrites whole (sink.Options.ReplaceSchema).
	ReplaceSchema bool
}

// Progress is what Run reports while it works.
type Progress struct {
	Stage      string `json:"stage"` // catalog, schema, plan, move, commit
	UnitsDone  int    `json:"units_done"`
	Units      int    `json:"units"`
	Rows       int64  `json:"rows"`        // rows emitted by the output so far
	InputBytes int64  `json:"input_bytes"` // SSTable bytes read so far
}

// Result is what Run did.
type Result struct {
	Backup       string    `json:"backup"`
	Layout       string    `json:"layout"`
	SnapshotTime time.Time `json:"snapshot_time"`
	TTLReference time.Time `json:"ttl_reference"`
	Connector    string    `json:"connector"`
	Tables       []string  `json:"tables"` // source tables read
	// Key is the output's logical key (connector Output.Key).
	Key        []string `json:"key"`
	Table      string   `json:"table"` // the Iceberg table written
	Rows       int64    `json:"rows"`
	SnapshotID int64    `json:"snapshot_id"`
	Committed  bool     `json:"committed"`
	DataFiles  int      `json:"data_files"`
	// InputBytes are the SSTable bytes read from the store (all
	// components); OutputBytes the Parquet bytes written.
	InputBytes  int64 `json:"input_bytes"`
	OutputBytes int64 `json:"output_bytes"`
	Units       int   `json:"units"`
	Parallelism int   `json:"parallelism"`
	// Problems are what an AllowIncomplete run skipped.
	Problems []backup.Problem `json:"problems,omitempty"`
	// SkippedBackups are newer backups at AsOf passed over because they
	// are incomplete (backup.Catalog.Pick), newest first.
	SkippedBackups []string `json:"skipped_backups,omitempty"`
	// Stages are wall-clock durations per stage: catalog (pick and
	// verify), schema, plan, move (merge, convert and write data files),
	// commit.
	Stages map[string]time.Duration `json:"-"`
	// StageSeconds is Stages in seconds, for JSON.
	StageSeconds map[string]float64 `json:"stage_seconds"`
}

// Snapshot summary properties the engine sets.
const (
	PropBackupID     = "shadow.backup-id"
	PropSnapshotTime = "shadow.snapshot-time"
	PropTTLReference = "shadow.ttl-reference"
	PropConnector    = "shadow.connector"
	PropConsistency  = "shadow.consistency"
)

// Run moves the job's backup into the destination table as one snapshot.
// progress, when set, is called from one goroutine at each stage and about
// once a second while rows move.
func Run(ctx context.Context, job Job, dst Destination, progress func(Progress)) (*Result, error) {
	if dst.Catalog == nil {
		return nil, fmt.Errorf("%w: no destination catalog", ErrJob)
	}
	if dst.Table.Name == "" {
		return nil, fmt.Errorf("%w: no destination table", ErrJob)
	}
	report := func(p Progress) {
		if progress != nil {
			progress(p)
		}
	}
	report(Progress{Stage: "catalog"})
	src, err := Open(ctx, job)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	res := &Result{
		Backup: src.backup.ID, Layout: string(src.backup.Layout), SnapshotTime: src.backup.SnapshotTime,
		TTLReference: src.ttlRef, Problems: src.problems, SkippedBackups: src.skipped, Stages: map[string]time.Duration{},
	}
	for k, v := range src.stages {
		res.Stages[k] = v
	}
	report(Progress{Stage: "plan"})
	start := time.Now()
	out, name, err := src.output(ctx)
	if err != nil {
		return nil, err
	}
	res.Connector, res.Key, res.Tables = name, out.Key(), out.Tables()
	units := 0
	for _, t := range out.Tables() {
		ts, err := src.prepare(ctx, t)
		if err != nil {
			return nil, err
		}
		units += len(ts.units)
	}
	res.Units, res.Parallelism = units, src.par
	sc, err := table.ArrowSchemaToIcebergWithFreshIDs(out.Schema(), false)
	if err != nil {
		return nil, fmt.Errorf("%w: output schema of connector %s: %v", rows.ErrUnsupported, name, err)
	}
	props := map[string]string{
		PropBackupID: src.backup.ID, PropSnapshotTime: src.backup.SnapshotTime.UTC().Format(time.RFC3339Nano),
		PropTTLReference: src.ttlRef.UTC().Format(time.RFC3339Nano), PropConnector: name, PropConsistency: src.cl.String(),
	}
	for k, v := range dst.Properties {
		props[k] = v
	}
	tprops := map[string]string{
		// zstd at its fastest level: the default level costs about half
		// of a run's CPU for a few percent of file size.
		"write.parquet.compression-codec": "zstd",
		"write.parquet.compression-level": "1",
	}
	for k, v := range dst.TableProperties {
		tprops[k] = v
	}
	w, err := sink.Open(ctx, dst.Catalog, dst.Table, sc, sink.Options{
		Mode: dst.Mode, Properties: props, TableProperties: tprops, ReplaceSchema: dst.ReplaceSchema,
		RowGroupRows: src.rowGroupRows(out.Tables()),
	})
	if err != nil {
		return nil, err
	}
	res.Table = w.Name()
	res.Stages["plan"] = time.Since(start)

	start = time.Now()
	report(Progress{Stage: "move", Units: units})
	var emitted atomic.Int64
	batches := make(chan arrow.RecordBatch, src.par)
	g, gctx := errgroup.WithContext(ctx)
	writers := max(1, src.par)
	for range writers {
		g.Go(func() error { return w.Write(gctx, chanSeq(gctx, batches)) })
	}
	g.Go(func() error {
		defer close(batches)
		return out.Run(gctx, func(b arrow.RecordBatch) error {
			emitted.Add(b.NumRows())
			select {
			case batches <- b:
				return nil
			case <-gctx.Done():
				b.Release()
				return gctx.Err()
			}
		})
	})
	done, ticked := make(chan struct{}), make(chan struct{})
	if progress == nil {
		close(ticked)
	} else {
		go func() {
			defer close(ticked)
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					progress(Progress{Stage: "move", Units: units, UnitsDone: int(src.unitsDone.Load()), Rows: emitted.Load(), InputBytes: src.read.Load()})
				}
			}
		}()
	}
	err = g.Wait()
	close(done)
	<-ticked // progress is never called from two goroutines at once
	if err != nil {
		// Drain what no writer took, so every batch is released.
		for b := range batches {
			b.Release()
		}
		return nil, err
	}
	res.Stages["move"] = time.Since(start)
	report(Progress{Stage: "commit", Units: units, UnitsDone: units, Rows: emitted.Load(), InputBytes: src.read.Load()})
	start = time.Now()
	cr, err := w.Commit(ctx)
	if err != nil {
		return nil, err
	}
	res.Stages["commit"] = time.Since(start)
	res.Rows, res.SnapshotID, res.Committed, res.DataFiles, res.OutputBytes = cr.Rows, cr.SnapshotID, cr.Committed, cr.DataFiles, cr.Bytes
	res.InputBytes = src.read.Load()
	res.StageSeconds = map[string]float64{}
	for k, v := range res.Stages {
		res.StageSeconds[k] = v.Seconds()
	}
	slog.InfoContext(ctx, "move done", "backup", res.Backup, "table", res.Table, "rows", res.Rows, "snapshot", res.SnapshotID,
		"input_bytes", res.InputBytes, "units", res.Units)
	return res, nil
}

// chanSeq yields the batches of ch until it closes or ctx ends.
func chanSeq(ctx context.Context, ch <-chan arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for {
			select {
			case <-ctx.Done():
				return
			case b, ok := <-ch:
				if !ok {
					return
				}
				if !yield(b, nil) {
					return
				}
			}
		}
	}
}
