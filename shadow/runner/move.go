package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/cassmove/shadow/diff"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/rows"
	"github.com/cassmove/shadow/engine/sink"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/metrics"
)

// job is the engine job of dataset d: its source, read as of asOf, with TTLs
// expired at the dataset's TTL reference (zero for the default, the backup's
// snapshot time, which the engine resolves); start is when the run started.
func (r *Runner) job(d datasets.Dataset, asOf, start time.Time) move.Job {
	s := d.Source
	return move.Job{
		Store:            s.URI,
		S3:               r.New.S3,
		Observer:         r.observer(),
		Layout:           s.Layout,
		Cluster:          s.Cluster,
		Keyspace:         s.Keyspace,
		Table:            s.Table,
		Connector:        d.Connector.Name,
		ConnectorOptions: d.Connector.Options,
		AsOf:             asOf,
		SnapshotWindow:   s.Window(),
		Consistency:      s.Consistency,
		DC:               s.DC,
		TTLReference:     s.TTLReferenceTime(time.Time{}, asOf, start),
		// No provenance columns here: the production output (Execute) keeps
		// the legacy schema; a shadow run adds them when the dataset asks.
		Provenance: false,
	}
}

// move runs the new engine: the dataset's backup into the new table (M),
// overwritten as one snapshot, which the diff then reads.
func (x *run) move(ctx context.Context) error {
	cat, err := x.r.catalog(ctx, x.r.New)
	if err != nil {
		return fmt.Errorf("new catalog: %w", err)
	}
	ref := x.d.NewTable()
	job := x.r.job(x.d, x.asOf, x.started)
	job.Provenance = x.d.Provenance
	res, err := move.Run(ctx, job, move.Destination{
		Catalog:    cat,
		Table:      ref,
		Mode:       sink.Overwrite,
		Properties: map[string]string{"shadow.run-id": x.res.RunID},
		// M is shadow's own table, rewritten whole by every run: switching
		// the dataset's provenance on or off adds or drops its columns.
		ReplaceSchema: true,
	}, nil)
	if err != nil {
		return err
	}
	x.res.Backup, x.res.BackupTime = res.Backup, res.SnapshotTime
	x.refs.New = res.TTLReference
	x.res.NewSnapshotID = res.SnapshotID
	if len(x.res.Key) == 0 {
		x.res.Key = res.Key
	}
	snapRef := ref
	id := res.SnapshotID
	snapRef.Snapshot = &id
	tbl, snap, err := cat.LoadTable(ctx, snapRef)
	if err != nil {
		return fmt.Errorf("new table %s: %w", snapRef, err)
	}
	x.newSrc = diff.Iceberg("iceberg:"+snapRef.String(), tbl, snap)
	// The provenance columns the new table holds (a connector may drop
	// some) are carried through the diff into the discrepancies.
	x.carry = x.carry[:0]
	if x.d.Provenance {
		for _, c := range []string{rows.ColWriteTime, rows.ColTTLExpiresAt, rows.ColSnapshotTime} {
			if _, ok := tbl.Schema().FindFieldByName(c); ok {
				x.carry = append(x.carry, c)
			}
		}
	}
	return nil
}

// Execute runs the new engine for a dataset outside a shadow run: the
// dataset's backup, read as of now, into table of the legacy side's catalog,
// where the production output lives (overwritten as one snapshot). It is the
// new path of the fallback executor.
func (r *Runner) Execute(ctx context.Context, dataset string, table lake.TableRef) (*move.Result, error) {
	d, err := r.Datasets.Get(dataset)
	if err != nil {
		return nil, err
	}
	now := r.now()
	cat, err := r.catalog(ctx, r.Legacy)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return move.Run(ctx, r.job(d, d.Source.AsOfTime(now, now), now), move.Destination{
		Catalog:    cat,
		Table:      table,
		Mode:       sink.Overwrite,
		Properties: map[string]string{"shadow.executor": "shadow execute"},
	}, nil)
}

// observer counts every object-store request of the engine in
// shadow_objectstore_requests_total.
func (r *Runner) observer() objstore.Observer {
	return func(req objstore.Request) {
		res := string(req.Result)
		if req.Result == objstore.ResultNotFound {
			res = metrics.ResultNotFound
		}
		r.Metrics.ObjectStoreRequest(string(req.Operation), res)
	}
}
