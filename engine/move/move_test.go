package move_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/objstore/s3test"
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
	dir := g.medusaDir(t)
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

// backupsBucket starts a real S3 server (versitygw; the test is skipped
// under -short) with an empty bucket "backups" and puts its credentials in
// the environment.
func backupsBucket(t *testing.T) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.Setenv(t)
	srv.CreateBucket(t, "backups")
	return srv
}

// TestMovePriamS3 reads a Priam backup (schema in system_schema SSTables,
// SNAPPY objects) from a real S3 server.
func TestMovePriamS3(t *testing.T) {
	ctx := context.Background()
	srv := backupsBucket(t)
	g := newGen(t, 3, 1, 150, 5, 2, snap)
	st, err := objstore.Open(ctx, "s3://backups/priam", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	g.uploadPriam(t, st, "app", snap)
	cat := openLake(t)
	job := move.Job{Store: "s3://backups/priam", S3: lake.S3{Endpoint: srv.Endpoint, PathStyle: true}, Cluster: "app", Keyspace: "ks", Table: "t", Provenance: true}
	var stages []string
	res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, "out.priam")}, func(p move.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, "priam", readTable(t, cat, "out.priam"), g.expected(t, ring.LocalQuorum, res.SnapshotTime.Unix(), nil))
	if res.Layout != "priam" || strings.Join(stages, ",") != "catalog,plan,move,commit" {
		t.Errorf("layout %s, stages %v", res.Layout, stages)
	}
	// Provenance columns are there.
	tbl, _, err := cat.LoadTable(ctx, ref(t, "out.priam"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"_writetime", "_ttl_expires_at", "_snapshot_time"} {
		if _, ok := tbl.Schema().FindFieldByName(c); !ok {
			t.Errorf("no provenance column %s in %s", c, tbl.Schema())
		}
	}
}

// TestLegacyEmulation: consistency ONE, TTL reference = run time, and one
// node's SSTables from the previous backup: the shape of the legacy output.
func TestLegacyEmulation(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 4, 120, 5, 3, snap)
	dir := t.TempDir()
	st := file.New(dir, objstore.Settings{})
	// The previous night's backup: node1 had only the writes before a cut.
	cut := snap.Add(-30 * time.Hour).UnixMicro()
	old := map[string]map[rowKey][]write{}
	for n, m := range g.data {
		old[n] = map[rowKey][]write{}
		for k, ws := range m {
			for _, w := range ws {
				if w.ts < cut {
					old[n][k] = append(old[n][k], w)
				}
			}
		}
	}
	g.uploadMedusa(t, st, "night1", snap.Add(-24*time.Hour), old)
	g.uploadMedusa(t, st, "night2", snap, g.data)
	cat := openLake(t)
	runAt := snap.Add(20 * time.Hour)
	stale := g.nodes[0].Name
	job := move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", Consistency: "ONE", TTLReference: runAt, PreviousBackupNodes: []string{stale}}
	res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, "legacy.t")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := g.expected(t, ring.One, runAt.Unix(), map[string]map[rowKey][]write{stale: old[stale]})
	sameRows(t, "legacy emulation", readTable(t, cat, "legacy.t"), want)
	if res.Backup != "night2" {
		t.Errorf("backup %s", res.Backup)
	}
	plan, err := move.Plan(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan.Tables[0].PreviousBackupNodes; len(p) != 1 || p[0] != stale {
		t.Errorf("plan's previous-backup nodes %v", p)
	}
	// A node that is not in the ring is bad input.
	job.PreviousBackupNodes = []string{"nope"}
	if _, err := move.Plan(ctx, job); !errors.Is(err, move.ErrJob) {
		t.Errorf("unknown previous node: %v", err)
	}
}

func TestPlan(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 16, 100, 4, 4, snap)
	dir := g.medusaDir(t)
	p, err := move.Plan(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", Parallelism: 3, Memory: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if p.Backup != "b1" || p.Layout != "medusa" || p.Schema != "schema.cql" || p.Parallelism != 3 || p.Memory != 512<<20 || p.LocalDC != "dc1" {
		t.Errorf("plan %+v", p)
	}
	tp := p.Tables[0]
	if tp.Partitioner != "org.apache.cassandra.dht.Murmur3Partitioner" || tp.SSTables != 4 || len(tp.Nodes) != 2 || tp.EstimatedRows == 0 {
		t.Errorf("table plan %+v", tp)
	}
	// The units cover the ring once, in order, each with 2 replicas
	// (LOCAL_QUORUM of RF 3) and serializable.
	prev := ring.MinToken
	for _, u := range tp.Units {
		if u.Range.Start != prev || len(u.Replicas) != 2 {
			t.Fatalf("unit %+v after %d", u, prev)
		}
		prev = u.Range.End
	}
	if prev != ring.MaxToken || len(tp.Units) < 12 {
		t.Errorf("units end at %d; %d units", prev, len(tp.Units))
	}
	b, err := json.Marshal(p)
	if err != nil || !strings.Contains(string(b), `"ttl_reference_sec"`) {
		t.Errorf("json: %v %.200s", err, b)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 2, 30, 3, 5, snap)
	dir := g.medusaDir(t)
	cat := openLake(t)
	base := move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t"}
	run := func(j move.Job) error {
		_, err := move.Run(ctx, j, move.Destination{Catalog: cat, Table: ref(t, "bad.t")}, nil)
		return err
	}
	for _, tc := range []struct {
		name string
		job  func(j move.Job) move.Job
		want error
		msg  string
	}{
		{"no keyspace", func(j move.Job) move.Job { j.Keyspace = ""; return j }, move.ErrJob, "no keyspace"},
		{"unknown keyspace", func(j move.Job) move.Job { j.Keyspace = "nope"; return j }, nil, `keyspace "nope"`},
		{"unknown table", func(j move.Job) move.Job { j.Table = "nope"; return j }, nil, "nope"},
		{"consistency", func(j move.Job) move.Job { j.Consistency = "TWO"; return j }, ring.ErrConsistency, "TWO"},
		{"dc", func(j move.Job) move.Job { j.DC = "dc9"; return j }, move.ErrJob, "dc9"},
		{"connector", func(j move.Job) move.Job { j.Connector = "nope"; return j }, nil, "nope"},
		{"before every backup", func(j move.Job) move.Job { j.AsOf = snap.Add(-time.Hour); return j }, backup.ErrNoBackup, ""},
		{"bad store", func(j move.Job) move.Job { j.Store = "ftp://x"; return j }, nil, "ftp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.job(base))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) || !move.IsBadInput(err) {
				t.Errorf("error %v; want %v containing %q, bad input", err, tc.want, tc.msg)
			}
		})
	}
}

// TestIncomplete: a backup with a missing file is refused with the list of
// what is missing, unless AllowIncomplete.
func TestIncomplete(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 2, 60, 3, 6, snap)
	dir := g.medusaDir(t)
	// Remove one Data.db of node2 (LOCAL_QUORUM reads node1 and node2).
	victim := dataFile(t, dir, "node2")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	cat := openLake(t)
	job := move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t"}
	_, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, "inc.t")}, nil)
	if !errors.Is(err, backup.ErrNoBackup) || !strings.Contains(err.Error(), filepath.Base(victim)) || !move.IsBadInput(err) {
		t.Fatalf("incomplete backup: %v", err)
	}
	job.AllowIncomplete = true
	res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref(t, "inc.t")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) == 0 || res.Rows == 0 {
		t.Errorf("allow-incomplete result %+v", res)
	}
}

// TestCorruptSSTable: a damaged Data.db fails naming the object.
func TestCorruptSSTable(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 2, 60, 3, 7, snap)
	dir := g.medusaDir(t)
	victim := dataFile(t, dir, "node1")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
		b[i] ^= 0x5a // same size: the backup stays complete
	}
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cat := openLake(t)
	_, err = move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t"}, move.Destination{Catalog: cat, Table: ref(t, "cor.t")}, nil)
	key, _ := filepath.Rel(dir, victim)
	if err == nil || !strings.Contains(err.Error(), key) || !move.IsBadInput(err) {
		t.Fatalf("corrupt sstable: %v; want an error naming %s", err, key)
	}
	if testing.Verbose() {
		t.Log(err)
	}
}

// TestSchemaMismatch: a --schema that does not fit the SSTables' headers.
func TestSchemaMismatch(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 2, 20, 3, 8, snap)
	dir := g.medusaDir(t)
	bad := filepath.Join(t.TempDir(), "bad.cql")
	os.WriteFile(bad, []byte(strings.Replace(genDDL, "v2 bigint", "v2 text", 1)), 0o644)
	cat := openLake(t)
	_, err := move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", SchemaFile: bad}, move.Destination{Catalog: cat, Table: ref(t, "mm.t")}, nil)
	if !errors.Is(err, compaction.ErrSchemaMismatch) || !strings.Contains(err.Error(), "v2") || !move.IsBadInput(err) {
		t.Fatalf("schema mismatch: %v", err)
	}
	if testing.Verbose() {
		t.Log(err)
	}
}

// TestSource uses the engine as a connector.Source directly: its tables,
// schema and key, a full scan, and a scan stopped by its consumer.
func TestSource(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 4, 80, 4, 9, snap)
	dir := g.medusaDir(t)
	var src connector.Source
	s, err := move.Open(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t", Parallelism: 2, Provenance: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src = s
	if tabs := src.Tables(); len(tabs) != 1 || tabs[0] != "t" {
		t.Errorf("tables %v", tabs)
	}
	key, err := src.Key("t")
	if err != nil || strings.Join(key, ",") != "pk,ck" {
		t.Errorf("key %v %v", key, err)
	}
	sc, err := src.Schema("t")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sc.Fields() {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "pk,ck,v1,v2,v3,_writetime,_ttl_expires_at,_snapshot_time" {
		t.Errorf("schema %v", names)
	}
	if _, err := src.Schema("nope"); !errors.Is(err, connector.ErrMissingTable) {
		t.Errorf("missing table: %v", err)
	}
	var n int64
	if err := src.Scan(ctx, "t", func(b arrow.RecordBatch) error {
		defer b.Release()
		if !b.Schema().Equal(sc) {
			t.Errorf("batch schema %s", b.Schema())
		}
		n += b.NumRows()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := len(g.expected(t, ring.LocalQuorum, s.Backup().SnapshotTime.Unix(), nil)); n != int64(want) {
		t.Errorf("scanned %d rows, want %d", n, want)
	}
	// A consumer error stops the scan and comes back as is.
	stop := errors.New("stop")
	calls := 0
	err = src.Scan(ctx, "t", func(b arrow.RecordBatch) error {
		b.Release()
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("stopped scan: %v after %d calls", err, calls)
	}
	// So does a cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := src.Scan(cctx, "t", func(b arrow.RecordBatch) error { b.Release(); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
}

// TestS3Unreachable: object store failures are retried, then end the run
// with an error naming the store; they are not bad input (exit 3).
func TestS3Unreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	t.Setenv("AWS_REGION", "us-east-1")
	_, err = move.Plan(context.Background(), move.Job{Store: "s3://backups/x", S3: lake.S3{Endpoint: "http://" + addr, PathStyle: true}, Keyspace: "ks", Table: "t"})
	if err == nil || !errors.Is(err, objstore.ErrUnavailable) || move.IsBadInput(err) || !strings.Contains(err.Error(), "backups") {
		t.Fatalf("unreachable S3: %v", err)
	}
	if testing.Verbose() {
		t.Log(err)
	}
}

// TestSkipsIncompleteNewer: the newest backup lost a file, so the run reads
// the one before and says which it passed over.
func TestSkipsIncompleteNewer(t *testing.T) {
	ctx := context.Background()
	g := newGen(t, 3, 2, 40, 3, 10, snap)
	dir := t.TempDir()
	st := file.New(dir, objstore.Settings{})
	g.uploadMedusa(t, st, "b0", snap.Add(-24*time.Hour), g.data)
	g.uploadMedusa(t, st, "b1", snap, g.data)
	victim := dataFile(t, filepath.Join(dir, "node1.dc1", "b1"), "node1")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	cat := openLake(t)
	res, err := move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "ks", Table: "t"}, move.Destination{Catalog: cat, Table: ref(t, "skip.t")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Backup != "b0" || len(res.SkippedBackups) != 1 || res.SkippedBackups[0] != "b1" {
		t.Errorf("read %s, passed over %v; want b0 and [b1]", res.Backup, res.SkippedBackups)
	}
}
