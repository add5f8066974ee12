package move_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/sink"
)

var snap = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

func openLake(t testing.TB) *lake.Catalog {
	t.Helper()
	dir := t.TempDir()
	cat, err := lake.Open(context.Background(), lake.Location{Catalog: "sqlite:" + filepath.Join(dir, "catalog.db"), Warehouse: "file://" + filepath.Join(dir, "wh")}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

func ref(t testing.TB, s string) lake.TableRef {
	t.Helper()
	r, err := lake.ParseTableRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMoveMedusaFile(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 4, 8, 200, 6, 1, snap)
	dir := t.TempDir()
	st := file.New(dir, objstore.Settings{})
	g.uploadMedusa(t, st, "b1", snap, g.data)
	cat := openLake(t)
	for _, tc := range []struct {
		cl  string
		lvl ring.Consistency
	}{{"", ring.LocalQuorum}, {"ONE", ring.One}, {"ALL", ring.All}, {"QUORUM", ring.Quorum}} {
		t.Run("cl="+tc.cl, func(t *testing.T) {
			name := "out.cl" + strings.ToLower(tc.cl)
			job := move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", Consistency: tc.cl, AsOf: snap.Add(time.Hour), Parallelism: 2}
			res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, name)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := g.expected(t, tc.lvl, res.SnapshotTime.Unix(), nil)
			sameRows(t, "consistency "+tc.cl, readTable(t, cat, name), want)
			if res.Rows != int64(len(want)) || res.Backup != "b1" || !res.Committed || res.InputBytes == 0 {
				t.Errorf("result %+v; want %d rows of backup b1", res, len(want))
			}
			if strings.Join(res.Key, ",") != "pk,ck" || res.Connector != "raw" {
				t.Errorf("key %v connector %s", res.Key, res.Connector)
			}
		})
	}
	// The TTL reference moves expiry: a week later more rows have expired.
	later := snap.Add(7 * 24 * time.Hour)
	res, err := move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", TTLReference: later, AsOf: snap.Add(time.Hour)},
		move.Destination{Catalog: cat, Table: ref(t, "out.ttl")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := g.expected(t, ring.LocalQuorum, later.Unix(), nil)
	sameRows(t, "ttl reference", readTable(t, cat, "out.ttl"), want)
	if want2 := g.expected(t, ring.LocalQuorum, snap.Unix(), nil); len(want2) <= len(want) {
		t.Errorf("the TTL reference changes nothing (%d vs %d rows): the test data has no TTLs expiring in between", len(want2), len(want))
	}
	if !res.TTLReference.Equal(later) {
		t.Errorf("ttl reference %s", res.TTLReference)
	}
	// Overwrite replaces the rows, append adds them.
	if _, err := move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t"}, move.Destination{Catalog: cat, Table: ref(t, "out.ttl"), Mode: sink.Overwrite}, nil); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "overwrite", readTable(t, cat, "out.ttl"), g.expected(t, ring.LocalQuorum, g.snapAt(t, dir), nil))
}

// snapAt is the snapshot time of the newest backup in the store.
func (g *genCluster) snapAt(t testing.TB, dir string) int64 {
	t.Helper()
	c, err := backup.Open(context.Background(), file.New(dir, objstore.Settings{}), backup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bs, err := c.Backups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return bs[0].SnapshotTime.Unix()
}
