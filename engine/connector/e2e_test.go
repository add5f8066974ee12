package connector_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/cluster"
	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file"
	_ "github.com/cassmove/shadow/engine/objstore/s3"
	"github.com/cassmove/shadow/engine/objstore/s3test"
)

// End to end through the real engine: generator → SSTables on three nodes
// → Medusa backup on file:// → move.Open (catalog, schema, LOCAL_QUORUM
// merge) → connector → the generator's logical truth.

func upload(t *testing.T, up func(ctx context.Context, st objstore.Store) error) string {
	t.Helper()
	dir := t.TempDir()
	st, err := objstore.Open(context.Background(), "file://"+dir, objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := up(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return "file://" + dir
}

func openMove(t *testing.T, store, keyspace string, consistency string) *move.Source {
	t.Helper()
	src, err := move.Open(context.Background(), move.Job{Store: store, Keyspace: keyspace, Consistency: consistency, Parallelism: 2, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestKeyValueEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	d, err := cluster.GenerateKV(21, cluster.KVOptions{Ops: 500, ChunkRate: 0.4})
	if err != nil {
		t.Fatal(err)
	}
	store := upload(t, func(ctx context.Context, st objstore.Store) error { _, err := d.Upload(ctx, st, "", ""); return err })
	for _, cl := range []string{"LOCAL_QUORUM", "ALL"} {
		got, err := runKV(ctx, openMove(t, store, d.Keyspace, cl), d.Table, map[string]any{"spill_dir": t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		compareKV(t, "keyvalue "+cl, got, d.Items)
	}

	// a chunk lost on every replica: the item fails, naming its id and key
	lost, err := cluster.GenerateKV(21, cluster.KVOptions{Ops: 500, ChunkRate: 0.4, LoseChunk: true})
	if err != nil {
		t.Fatal(err)
	}
	store = upload(t, func(ctx context.Context, st objstore.Store) error { _, err := lost.Upload(ctx, st, "", ""); return err })
	_, err = runKV(ctx, openMove(t, store, lost.Keyspace, ""), lost.Table, nil)
	if !errors.Is(err, connector.ErrBadData) || !strings.Contains(err.Error(), fmt.Sprintf("%q", lost.Broken.ID)) || !strings.Contains(err.Error(), fmt.Sprintf("0x%x", lost.Broken.Key)) {
		t.Fatalf("lost chunk: err %v, want ErrBadData naming id %q key 0x%x", err, lost.Broken.ID, lost.Broken.Key)
	}
}

func TestTimeSeriesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	d, err := cluster.GenerateTS(22, cluster.TSOptions{Slices: 5, Ops: 500})
	if err != nil {
		t.Fatal(err)
	}
	store := upload(t, func(ctx context.Context, st objstore.Store) error { _, err := d.Upload(ctx, st, "", ""); return err })
	opts := map[string]any{"seconds_per_slice": d.SecondsPerSlice}
	first := time.Unix(d.SliceStarts[0], 0).UTC()
	w := time.Duration(d.SecondsPerSlice) * time.Second
	src := openMove(t, store, d.Keyspace, "")
	for _, r := range []struct{ from, to time.Time }{{}, {first.Add(w + time.Hour), first.Add(3*w + 5*time.Minute)}} {
		got, _, err := runTS(ctx, src, d.Table, r.from, r.to, opts)
		if err != nil {
			t.Fatal(err)
		}
		compareTS(t, fmt.Sprintf("timeseries %v..%v", r.from, r.to), got, d.Events(r.from, r.to))
	}

	// a slice table missing from the backup is reported, never skipped
	gone := d.SliceStarts[3]
	store = upload(t, func(ctx context.Context, st objstore.Store) error {
		_, err := d.Upload(ctx, st, "", "", gone)
		return err
	})
	_, _, err = runTS(ctx, openMove(t, store, d.Keyspace, ""), d.Table, time.Time{}, time.Time{}, opts)
	if !errors.Is(err, connector.ErrMissingTable) || !strings.Contains(err.Error(), d.SliceTable(gone)) {
		t.Fatalf("missing slice: err %v, want ErrMissingTable naming %s", err, d.SliceTable(gone))
	}
}

// The same through a real S3 server (versitygw): the backup in a bucket,
// the engine reading it with ranged GETs.
func TestKeyValueEndToEndS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.Setenv(t)
	srv.CreateBucket(t, "kv-backups")
	st, err := objstore.Open(ctx, "s3://kv-backups/medusa", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cluster.GenerateKV(23, cluster.KVOptions{Ops: 300, ChunkRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Upload(ctx, st, "", ""); err != nil {
		t.Fatal(err)
	}
	src, err := move.Open(ctx, move.Job{Store: "s3://kv-backups/medusa", S3: lake.S3{Endpoint: srv.Endpoint, PathStyle: true},
		Keyspace: d.Keyspace, Parallelism: 2, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := runKV(ctx, src, d.Table, map[string]any{"spill_dir": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	compareKV(t, "keyvalue over S3", got, d.Items)
}
