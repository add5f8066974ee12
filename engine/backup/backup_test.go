package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/backup/backuptest"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file"
	_ "github.com/cassmove/shadow/engine/objstore/s3"
	"github.com/cassmove/shadow/engine/objstore/s3test"
	"github.com/cassmove/shadow/engine/ring"
)

// env is one store to build backups in, with a way to delete objects
// (the stores themselves never delete).
type env struct {
	name   string
	store  objstore.Store
	remove func(t *testing.T, key string)
}

var day0 = time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)

// envs returns a fresh file:// store and, unless -short, a fresh bucket
// on a real versitygw.
func envs(t *testing.T) []env {
	t.Helper()
	dir := t.TempDir()
	fst, err := objstore.Open(context.Background(), "file://"+dir, objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	out := []env{{name: "file", store: fst, remove: func(t *testing.T, key string) {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
			t.Fatal(err)
		}
	}}}
	if testing.Short() {
		return out
	}
	srv := s3test.Start(t)
	srv.Setenv(t)
	bucket := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(bucket) > 50 {
		bucket = bucket[:50]
	}
	bucket = strings.Trim(bucket, "-")
	srv.CreateBucket(t, bucket)
	sst, err := objstore.Open(context.Background(), "s3://"+bucket+"/backups", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, env{name: "s3", store: sst, remove: func(t *testing.T, key string) {
		_, err := srv.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("backups/" + key)})
		if err != nil {
			t.Fatal(err)
		}
	}})
	return out
}

func open(t *testing.T, st objstore.Store, opts backup.Options) *backup.Catalog {
	t.Helper()
	c, err := backup.Open(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ids(bs []*backup.Backup) string {
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return strings.Join(out, " ")
}

func verify(t *testing.T, c *backup.Catalog, b *backup.Backup) *backup.Report {
	t.Helper()
	r, err := c.Verify(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMedusaFull(t *testing.T) {
	ctx := context.Background()
	for _, e := range envs(t) {
		t.Run(e.name, func(t *testing.T) {
			cl := backuptest.New([]string{"dc1", "dc2"}, 3, 3, 4)
			skew := func(i int) time.Duration { return time.Duration(i) * 7 * time.Minute }
			if err := cl.WriteMedusa(ctx, e.store, "2026-11-20", day0, backuptest.Options{Skew: skew}); err != nil {
				t.Fatal(err)
			}
			cl.Generation = 10
			if err := cl.WriteMedusa(ctx, e.store, "2026-11-21", day0.Add(24*time.Hour), backuptest.Options{Skew: skew}); err != nil {
				t.Fatal(err)
			}
			c := open(t, e.store, backup.Options{})
			if c.Layout() != backup.Medusa || c.Cluster() != "" {
				t.Fatalf("detected %s %q", c.Layout(), c.Cluster())
			}
			bs, err := c.Backups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ids(bs) != "2026-11-21 2026-11-20" {
				t.Fatalf("backups = %s", ids(bs))
			}
			b := bs[0]
			if want := day0.Add(24*time.Hour + 5*7*time.Minute); !b.SnapshotTime.Equal(want) || !b.FirstSnapshot.Equal(day0.Add(24*time.Hour)) {
				t.Errorf("snapshot time %s / first %s, want %s", b.SnapshotTime, b.FirstSnapshot, want)
			}
			if len(b.Nodes) != 6 || len(b.Missing) != 0 || b.Type != "full" || !b.Finished() {
				t.Errorf("backup = %+v", b)
			}
			r := verify(t, c, b)
			if !r.Complete || r.Nodes != 6 || r.NodesPresent != 6 || r.Files != 6*3*8 || r.FilesPresent != r.Files || r.Err() != nil {
				t.Fatalf("report = %+v", r)
			}
			topo, err := c.Topology(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]ring.Node(nil), cl.Nodes...)
			sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
			if fmt.Sprint(topo) != fmt.Sprint(want) {
				t.Errorf("topology = %v\nwant %v", topo, want)
			}
			rg, err := c.Ring(ctx, b)
			if err != nil || rg.Tokens() != 24 {
				t.Fatalf("ring: %v", err)
			}
			s, src, err := c.LoadSchema(ctx, b, "")
			if err != nil {
				t.Fatal(err)
			}
			if src.Kind != "schema.cql" || src.Node != "dc2-node3.example.com" {
				t.Errorf("schema source = %+v", src)
			}
			if tb, err := s.Table("shop", "orders"); err != nil || tb.Clustering[0].Name != "order_id" {
				t.Errorf("schema: %v", err)
			}
			if s.Keyspace("shop").Replication.DCFactors["dc2"] != 3 {
				t.Errorf("replication = %+v", s.Keyspace("shop").Replication)
			}
			node := "dc1-node2.example.com"
			tables, err := c.Tables(ctx, b, node)
			if err != nil || len(tables) != 2 || tables[1].Table != "orders" || tables[1].SSTables != 2 {
				t.Fatalf("tables = %+v, %v", tables, err)
			}
			ssts, err := c.SSTables(ctx, b, node, "shop", "orders")
			if err != nil {
				t.Fatal(err)
			}
			if len(ssts) != 2 || ssts[0].Name != "nb-11-big" || len(ssts[0].Components) != 8 {
				t.Fatalf("sstables = %+v", ssts)
			}
			data, ok := ssts[1].Component("Data.db")
			if !ok || !strings.HasPrefix(data.Key, node+"/2026-11-21/data/shop/orders-") || data.Compression != backup.None {
				t.Fatalf("Data.db = %+v", data)
			}
			want0 := backuptest.Content(node, "shop", "orders", "nb-12-big", "Data.db")
			if data.Size != int64(len(want0)) || data.RawSize != data.Size {
				t.Errorf("sizes %d/%d, want %d", data.Size, data.RawSize, len(want0))
			}
			rd, err := c.Open(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 20)
			if _, err := rd.ReadAt(got, 3); err != nil || !bytes.Equal(got, want0[3:23]) || rd.Size() != int64(len(want0)) {
				t.Fatalf("ranged read: %q, %v", got, err)
			}
			rd.Close()
			if b2, err := c.Backup(ctx, "2026-11-20"); err != nil || b2 != bs[1] {
				t.Fatalf("Backup(id) = %v, %v", b2, err)
			}
			if _, err := c.Backup(ctx, "nope"); !errors.Is(err, backup.ErrNotFound) || !strings.Contains(err.Error(), "2026-11-21") {
				t.Fatalf("Backup(nope) = %v", err)
			}
			if _, err := c.SSTables(ctx, b, "ghost", "shop", "orders"); !errors.Is(err, backup.ErrNotFound) {
				t.Fatalf("SSTables of an unknown node: %v", err)
			}
		})
	}
}

func TestMedusaDifferentialSharesFiles(t *testing.T) {
	ctx := context.Background()
	for _, e := range envs(t) {
		t.Run(e.name, func(t *testing.T) {
			cl := backuptest.New([]string{"dc1"}, 3, 3, 8)
			o := backuptest.Options{Differential: true, Prefix: "prod"}
			if err := cl.WriteMedusa(ctx, e.store, "mon", day0, o); err != nil {
				t.Fatal(err)
			}
			// Tuesday: one new SSTable per table beside Monday's.
			cl.Tables[0].SSTables, cl.Tables[1].SSTables = 3, 2
			if err := cl.WriteMedusa(ctx, e.store, "tue", day0.Add(24*time.Hour), o); err != nil {
				t.Fatal(err)
			}
			c := open(t, e.store, backup.Options{Cluster: "prod"})
			if c.Layout() != backup.Medusa || c.Cluster() != "prod" {
				t.Fatalf("detected %s %q", c.Layout(), c.Cluster())
			}
			bs, err := c.Backups(ctx)
			if err != nil || ids(bs) != "tue mon" || bs[0].Type != "differential" {
				t.Fatalf("backups = %s (%v)", ids(bs), err)
			}
			for _, b := range bs {
				if r := verify(t, c, b); !r.Complete {
					t.Fatalf("%s: %v", b.ID, r.Err())
				}
			}
			ssts, _ := c.SSTables(ctx, bs[0], "dc1-node1.example.com", "shop", "orders")
			if len(ssts) != 3 {
				t.Fatalf("tue has %d sstables", len(ssts))
			}
			shared, _ := ssts[0].Component("Data.db")
			if !strings.HasPrefix(shared.Key, "prod/dc1-node1.example.com/data/shop/orders-") {
				t.Fatalf("differential key %s", shared.Key)
			}
			// Losing a shared file breaks both backups, and both say which.
			e.remove(t, shared.Key)
			c = open(t, e.store, backup.Options{Cluster: "prod", Layout: backup.Medusa})
			bs, _ = c.Backups(ctx)
			for _, b := range bs {
				r := verify(t, c, b)
				if r.Complete || len(r.Problems) != 1 || r.Problems[0].Kind != backup.MissingFile || r.Problems[0].Key != shared.Key {
					t.Fatalf("%s after a delete: %+v", b.ID, r)
				}
				if !errors.Is(r.Err(), backup.ErrIncomplete) || !strings.Contains(r.Err().Error(), shared.Key) {
					t.Fatalf("report error %v", r.Err())
				}
			}
		})
	}
}

func TestMedusaIncomplete(t *testing.T) {
	ctx := context.Background()
	for _, e := range envs(t) {
		t.Run(e.name, func(t *testing.T) {
			cl := backuptest.New([]string{"dc1"}, 3, 4, 4)
			if err := cl.WriteMedusa(ctx, e.store, "b1", day0, backuptest.Options{}); err != nil {
				t.Fatal(err)
			}
			// b2: node 4 never backed up; b3: node 2 never finished and a
			// file of node 1 has the wrong size.
			if err := cl.WriteMedusa(ctx, e.store, "b2", day0.Add(24*time.Hour), backuptest.Options{Skip: map[string]bool{"dc1-node4.example.com": true}}); err != nil {
				t.Fatal(err)
			}
			if err := cl.WriteMedusa(ctx, e.store, "b3", day0.Add(48*time.Hour), backuptest.Options{}); err != nil {
				t.Fatal(err)
			}
			e.remove(t, "dc1-node2.example.com/b3/meta/manifest.json")
			bad := ""
			for o, err := range e.store.List(ctx, "dc1-node1.example.com/b3/data/", "") {
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(o.Key, "nb-1-big-Data.db") && strings.Contains(o.Key, "/orders-") {
					bad = o.Key
				}
			}
			if err := objstore.PutBytes(ctx, e.store, bad, []byte("truncated")); err != nil {
				t.Fatal(err)
			}
			c := open(t, e.store, backup.Options{})
			bs, err := c.Backups(ctx)
			if err != nil || ids(bs) != "b3 b2 b1" {
				t.Fatalf("backups %s, %v", ids(bs), err)
			}
			r3 := verify(t, c, bs[0])
			var kinds []string
			for _, p := range r3.Problems {
				kinds = append(kinds, p.Node+" "+p.Kind)
			}
			if r3.Complete || strings.Join(kinds, ", ") != "dc1-node1.example.com size_mismatch, dc1-node2.example.com unfinished_node" {
				t.Fatalf("b3 problems: %v", kinds)
			}
			if p := r3.Problems[0]; p.Key != bad || p.Actual != 9 || p.Expected <= 9 {
				t.Errorf("size problem = %+v", p)
			}
			if bs[0].Finished() || slices.Equal(bs[0].Unfinished(), nil) {
				t.Errorf("b3 unfinished = %v", bs[0].Unfinished())
			}
			if bs[1].Finished() || strings.Join(bs[1].Missing, ",") != "dc1-node4.example.com" {
				t.Fatalf("b2 missing = %v", bs[1].Missing)
			}
			r2 := verify(t, c, bs[1])
			if r2.Complete || r2.Problems[0].Kind != backup.MissingNode || !strings.Contains(r2.Problems[0].Detail, "dc dc1, rack rack1") {
				t.Fatalf("b2 report = %+v", r2)
			}
			// The newest complete backup at or before now is b1; before b1 there is none.
			b, rep, err := c.Pick(ctx, day0.Add(72*time.Hour))
			if err != nil || b.ID != "b1" || !rep.Complete {
				t.Fatalf("pick = %v, %v", b, err)
			}
			_, _, err = c.Pick(ctx, day0.Add(-time.Hour))
			if !errors.Is(err, backup.ErrNoBackup) || !strings.Contains(err.Error(), "the oldest is b1") {
				t.Fatalf("pick before everything: %v", err)
			}
			if b, _, err := c.Pick(ctx, day0.Add(48*time.Hour+time.Minute)); err != nil || b.ID != "b1" {
				t.Fatalf("pick just after b3: %v, %v", b, err)
			}
		})
	}
}

func TestGroupingWindow(t *testing.T) {
	ctx := context.Background()
	// Nodes snapshot 0h, 2h, 4h, 6h after the hour; backup-node style
	// names, one per node.
	cl := backuptest.New([]string{"dc1"}, 1, 4, 2)
	st, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	skew := func(i int) time.Duration { return time.Duration(i) * 2 * time.Hour }
	if err := cl.WriteMedusa(ctx, st, "cron", day0, backuptest.Options{Skew: skew, PerNodeNames: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		window time.Duration
		want   string
	}{
		{6 * time.Hour, "cron-1+cron-2+cron-3+cron-4"},
		{5 * time.Hour, "cron-4 cron-1+cron-2+cron-3"},
		{time.Hour, "cron-4 cron-3 cron-2 cron-1"},
	} {
		cat := open(t, st, backup.Options{SnapshotWindow: c.window})
		bs, err := cat.Backups(ctx)
		if err != nil || ids(bs) != c.want {
			t.Errorf("window %s: %s, want %s (%v)", c.window, ids(bs), c.want, err)
		}
		if c.window == 6*time.Hour && (!bs[0].SnapshotTime.Equal(day0.Add(6*time.Hour)) || !bs[0].Finished()) {
			t.Errorf("snapshot time %s, finished %v", bs[0].SnapshotTime, bs[0].Finished())
		}
		if c.window == time.Hour && len(bs[0].Missing) != 3 {
			t.Errorf("a one-node backup of a 4-node ring misses %v", bs[0].Missing)
		}
	}
}

func TestPriam(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []backup.Compression{backup.Snappy, backup.LZ4, backup.None} {
		for _, e := range envs(t) {
			t.Run(string(comp)+"/"+e.name, func(t *testing.T) {
				prefix := "cassandra-archive-" + strings.ToLower(string(comp))
				st := e.store
				cl := backuptest.Priam([]string{"us-east-1"}, 6)
				o := backuptest.Options{Base: prefix, App: "fake-app", Compression: comp,
					Skew: func(i int) time.Duration { return time.Duration(i) * 13 * time.Minute }}
				if err := cl.WritePriam(ctx, st, day0, o); err != nil {
					t.Fatal(err)
				}
				// The next day: the same SSTables (stored once) plus new ones.
				cl.Tables[0].SSTables = 3
				if err := cl.WritePriam(ctx, st, day0.Add(24*time.Hour), o); err != nil {
					t.Fatal(err)
				}
				c := open(t, st, backup.Options{Cluster: "fake-app"})
				if c.Layout() != backup.Priam || c.Cluster() != "fake-app" {
					t.Fatalf("detected %s %q", c.Layout(), c.Cluster())
				}
				bs, err := c.Backups(ctx)
				if err != nil || ids(bs) != "202611210100 202611200100" {
					t.Fatalf("backups = %s, %v", ids(bs), err)
				}
				b := bs[0]
				if !b.SnapshotTime.Equal(day0.Add(24*time.Hour+65*time.Minute)) || len(b.Nodes) != 6 || !b.Finished() {
					t.Fatalf("backup %+v", b)
				}
				r := verify(t, c, b)
				if !r.Complete || r.Files != 6*(3+1+3)*8 {
					t.Fatalf("report %+v", r)
				}
				topo, _ := c.Topology(ctx, b)
				if len(topo) != 6 || topo[0].DC != "us-east-1" || !strings.HasPrefix(topo[0].Rack, "us-east-1") || len(topo[0].Tokens) != 1 {
					t.Fatalf("topology %+v", topo)
				}
				if _, err := c.Ring(ctx, b); err != nil {
					t.Fatal(err)
				}
				src, err := c.Schema(ctx, b)
				if err != nil || src.Kind != "system_schema" || len(src.SSTables) != 3 {
					t.Fatalf("schema source %+v, %v", src, err)
				}
				s, src2, err := c.LoadSchema(ctx, b, "")
				if err != nil || s != nil || src2.Kind != "system_schema" {
					t.Fatalf("LoadSchema = %v, %+v, %v", s, src2, err)
				}
				node := b.Nodes[2].Node
				ssts, err := c.SSTables(ctx, b, node, "shop", "orders")
				if err != nil || len(ssts) != 3 {
					t.Fatalf("sstables %+v, %v", ssts, err)
				}
				data, _ := ssts[2].Component("Data.db")
				if data.Compression != comp || data.Size <= 0 || !strings.Contains(data.Key, "/SST_V2/") {
					t.Fatalf("component %+v", data)
				}
				want := backuptest.Content(node, "shop", "orders", "nb-3-big", "Data.db")
				if data.RawSize != int64(len(want)) {
					t.Fatalf("raw size %d, want %d", data.RawSize, len(want))
				}
				for range 2 { // the second open reuses the decoded copy
					rd, err := c.Open(ctx, data)
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(io.NewSectionReader(rd, 0, rd.Size()))
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("decoded %d bytes, %v", len(got), err)
					}
					rd.Close()
				}
				// Day one's SSTables were stored once: both metas point at one key.
				old, _ := c.SSTables(ctx, bs[1], node, "shop", "orders")
				d0, _ := old[0].Component("Data.db")
				d1, _ := ssts[0].Component("Data.db")
				if d0.Key != d1.Key {
					t.Errorf("unchanged SSTable stored twice: %s vs %s", d0.Key, d1.Key)
				}
				// A meta file is valid only if every file it lists exists.
				e.remove(t, d1.Key)
				c = open(t, st, backup.Options{Cluster: "fake-app", Layout: backup.Priam})
				bs, _ = c.Backups(ctx)
				for _, b := range bs {
					r := verify(t, c, b)
					if r.Complete || len(r.Problems) != 1 || r.Problems[0].Key != d1.Key || r.Problems[0].Node != node {
						t.Fatalf("%s after a delete: %+v", b.ID, r.Problems)
					}
				}
				if _, _, err := c.Pick(ctx, day0.Add(72*time.Hour)); !errors.Is(err, backup.ErrNoBackup) {
					t.Fatalf("pick with both metas invalid: %v", err)
				}
			})
		}
	}
}

func TestPriamRingGrowsAndNodesGoMissing(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	cl := backuptest.Priam([]string{"us-east-1", "us-west-2"}, 3)
	late := cl.Nodes[5].Name
	gone := cl.Nodes[1].Name
	// Day 1: five nodes (the sixth joins on day 2). Day 2: all six.
	// Day 3: one node fails to snapshot.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.WritePriam(ctx, st, day0, backuptest.Options{Skip: map[string]bool{late: true}}))
	must(cl.WritePriam(ctx, st, day0.Add(24*time.Hour), backuptest.Options{}))
	must(cl.WritePriam(ctx, st, day0.Add(48*time.Hour), backuptest.Options{Skip: map[string]bool{gone: true}}))
	c := open(t, st, backup.Options{})
	if c.Cluster() != "shop" {
		t.Fatalf("cluster %q", c.Cluster())
	}
	bs, err := c.Backups(ctx)
	if err != nil || len(bs) != 3 {
		t.Fatal(bs, err)
	}
	if !bs[2].Finished() || len(bs[2].Nodes) != 5 {
		t.Errorf("day 1 (before the sixth node) should be whole: missing %v", bs[2].Missing)
	}
	if !bs[1].Finished() {
		t.Errorf("day 2 missing %v", bs[1].Missing)
	}
	if strings.Join(bs[0].Missing, ",") != gone {
		t.Fatalf("day 3 missing %v, want %s", bs[0].Missing, gone)
	}
	r := verify(t, c, bs[0])
	if r.Complete || r.Problems[0].Kind != backup.MissingNode || !strings.Contains(r.Problems[0].Detail, "dc us-east-1") {
		t.Fatalf("day 3 report %+v", r.Problems)
	}
	// The missing node's place in the ring comes from its last meta file.
	topo, _ := c.Topology(ctx, bs[0])
	if len(topo) != 6 {
		t.Fatalf("day 3 topology has %d nodes", len(topo))
	}
	b, _, err := c.Pick(ctx, day0.Add(49*time.Hour))
	if err != nil || b != bs[1] {
		t.Fatalf("pick = %v, %v", b, err)
	}
}

func TestDetection(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	if _, err := backup.Open(ctx, st, backup.Options{}); !errors.Is(err, backup.ErrNotFound) || !strings.Contains(err.Error(), "no Medusa backups") {
		t.Fatalf("empty store: %v", err)
	}
	cl := backuptest.Priam([]string{"eu-west-1"}, 3)
	if err := cl.WritePriam(ctx, st, day0, backuptest.Options{Base: "backup", App: "alpha"}); err != nil {
		t.Fatal(err)
	}
	c := open(t, st, backup.Options{})
	if c.Layout() != backup.Priam || c.Cluster() != "alpha" {
		t.Fatalf("under BASE: %s %s", c.Layout(), c.Cluster())
	}
	if err := cl.WritePriam(ctx, st, day0, backuptest.Options{Base: "backup", App: "beta"}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Open(ctx, st, backup.Options{}); !errors.Is(err, backup.ErrNotFound) || !strings.Contains(err.Error(), "backup/alpha, backup/beta") {
		t.Fatalf("two apps: %v", err)
	}
	c = open(t, st, backup.Options{Cluster: "beta"})
	if c.Layout() != backup.Priam || c.Cluster() != "beta" {
		t.Fatal(c.Layout())
	}
	if _, err := backup.Open(ctx, st, backup.Options{Cluster: "gamma", Layout: backup.Priam}); !errors.Is(err, backup.ErrNotFound) || !strings.Contains(err.Error(), "backup/alpha") {
		t.Fatalf("unknown app: %v", err)
	}
	if _, err := backup.Open(ctx, st, backup.Options{Layout: backup.Medusa}); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("forced medusa on a Priam store: %v", err)
	}
	// Medusa under a prefix is found by itself or by --cluster.
	st2, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	mc := backuptest.New([]string{"dc1"}, 1, 2, 2)
	if err := mc.WriteMedusa(ctx, st2, "b", day0, backuptest.Options{Prefix: "team-a"}); err != nil {
		t.Fatal(err)
	}
	c = open(t, st2, backup.Options{})
	if c.Layout() != backup.Medusa || c.Cluster() != "team-a" {
		t.Fatalf("medusa prefix: %s %q", c.Layout(), c.Cluster())
	}
	if err := mc.WriteMedusa(ctx, st2, "b", day0, backuptest.Options{Prefix: "team-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Open(ctx, st2, backup.Options{}); !errors.Is(err, backup.ErrNotFound) || !strings.Contains(err.Error(), "team-a, team-b") {
		t.Fatalf("two prefixes: %v", err)
	}
	c = open(t, st2, backup.Options{Cluster: "team-b"})
	if bs, err := c.Backups(ctx); err != nil || len(bs) != 1 || !bs[0].Finished() {
		t.Fatalf("team-b: %v %v", bs, err)
	}
	if _, err := backup.Open(ctx, st2, backup.Options{Cluster: "team-c"}); !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("unknown prefix: %v", err)
	}
	if _, err := backup.ParseLayout("cassandra"); err == nil {
		t.Fatal("ParseLayout accepted cassandra")
	}
}

func TestBadMetadataIsAProblem(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	cl := backuptest.New([]string{"dc1"}, 1, 2, 2)
	if err := cl.WriteMedusa(ctx, st, "b", day0, backuptest.Options{}); err != nil {
		t.Fatal(err)
	}
	objstore.PutBytes(ctx, st, "dc1-node1.example.com/b/meta/manifest.json", []byte("{not json"))
	c := open(t, st, backup.Options{})
	bs, _ := c.Backups(ctx)
	r := verify(t, c, bs[0])
	if r.Complete || r.Problems[0].Kind != backup.BadMetadata || !strings.Contains(r.Problems[0].Detail, "manifest.json") {
		t.Fatalf("report %+v", r.Problems)
	}
	// A Priam meta that does not decode.
	st3, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	pc := backuptest.Priam([]string{"r"}, 1)
	if err := pc.WritePriam(ctx, st3, day0, backuptest.Options{}); err != nil {
		t.Fatal(err)
	}
	c = open(t, st3, backup.Options{})
	bs, _ = c.Backups(ctx)
	objstore.PutBytes(ctx, st3, bs[0].Nodes[0].MetaKey, []byte("\x82SNAPPY\x00garbage"))
	c = open(t, st3, backup.Options{})
	bs, _ = c.Backups(ctx)
	r = verify(t, c, bs[0])
	if r.Complete || r.Problems[0].Kind != backup.BadMetadata || !strings.Contains(r.Problems[0].Detail, "snappy") {
		t.Fatalf("priam report %+v", r.Problems)
	}
}

func TestJavaHashFolders(t *testing.T) {
	for app, want := range map[string]string{"fake-app": "1049_fake-app", "random_fake_app": "-6717_random_fake_app", "é漢字😀": "8305_é漢字😀"} {
		if got := backup.PriamAppDir(app); got != want {
			t.Errorf("PriamAppDir(%q) = %s, want %s", app, got, want)
		}
	}
}

func TestPriamPlainMetaUnderCompressedKey(t *testing.T) {
	ctx := context.Background()
	st, _ := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
	pc := backuptest.Priam([]string{"r"}, 2)
	if err := pc.WritePriam(ctx, st, day0, backuptest.Options{Compression: backup.LZ4}); err != nil {
		t.Fatal(err)
	}
	c := open(t, st, backup.Options{})
	bs, _ := c.Backups(ctx)
	key := bs[0].Nodes[0].MetaKey
	raw, _ := objstore.ReadAll(ctx, st, key)
	dec, _ := backup.NewDecoder(bytes.NewReader(raw), backup.LZ4)
	plain, err := io.ReadAll(dec)
	if err != nil || !bytes.HasPrefix(plain, []byte("{")) {
		t.Fatalf("meta decodes to %q, %v", plain[:min(20, len(plain))], err)
	}
	objstore.PutBytes(ctx, st, key, plain)
	c = open(t, st, backup.Options{})
	bs, _ = c.Backups(ctx)
	if r := verify(t, c, bs[0]); !r.Complete {
		t.Fatalf("plain meta under an LZ4 key: %v", r.Err())
	}
}
