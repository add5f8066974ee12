package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file"
	_ "github.com/cassmove/shadow/engine/objstore/s3"
	"github.com/cassmove/shadow/engine/objstore/s3test"
	"github.com/cassmove/shadow/engine/schema"
)

type store struct {
	name string
	st   objstore.Store
}

// s3Server starts one real versitygw for a test and its subtests (nil
// under -short).
func s3Server(t *testing.T) *s3test.Server {
	if testing.Short() {
		return nil
	}
	srv := s3test.Start(t)
	srv.Setenv(t)
	return srv
}

// stores returns a fresh file:// store and, when srv is not nil, a fresh
// bucket on it.
func stores(t *testing.T, srv *s3test.Server) []store {
	t.Helper()
	fst, err := objstore.Open(context.Background(), "file://"+t.TempDir(), objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	out := []store{{"file", fst}}
	if srv == nil {
		return out
	}
	bucket := strings.Trim(strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), "-")
	if len(bucket) > 50 {
		bucket = strings.Trim(bucket[:50], "-")
	}
	srv.CreateBucket(t, bucket)
	sst, err := objstore.Open(context.Background(), "s3://"+bucket+"/backups", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return append(out, store{"s3", sst})
}

func smallOptions(layout backup.Layout) Options {
	return Options{
		Layout:     layout,
		Mutations:  250,
		FlushEvery: 150, // a few SSTables per node and table: fewer files to upload
		AddColumn:  []ColumnChange{{Table: "users", Column: ColumnSpec{Name: "nickname", Type: "text"}, AfterRound: 1}},
		AddNode:    []NodeChange{{AfterRound: 2}},
	}
}

func TestUploadIsCompleteAndTimeTravels(t *testing.T) {
	ctx := context.Background()
	srv := s3Server(t)
	layouts := []struct {
		name   string
		layout backup.Layout
		up     UploadOptions
	}{
		{"medusa-full", backup.Medusa, UploadOptions{}},
		{"medusa-differential", backup.Medusa, UploadOptions{Differential: true, Prefix: "prod"}},
		{"priam", backup.Priam, UploadOptions{App: "simapp"}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			c, err := Random(11, smallOptions(l.layout))
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			for _, s := range stores(t, srv) {
				t.Run(s.name, func(t *testing.T) {
					up := l.up
					up.WorkDir = work
					infos, err := c.Upload(ctx, s.st, up)
					if err != nil {
						t.Fatal(err)
					}
					cat, err := backup.Open(ctx, s.st, backup.Options{Cluster: catalogCluster(l.layout, l.up)})
					if err != nil {
						t.Fatal(err)
					}
					defer cat.Close()
					got, err := cat.Backups(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(infos) {
						t.Fatalf("catalog lists %d backups, uploaded %d", len(got), len(infos))
					}
					for i, info := range infos {
						b := got[len(got)-1-i] // newest first
						if b.ID != info.ID || !b.SnapshotTime.Equal(info.SnapshotTime) || !b.FirstSnapshot.Equal(info.FirstSnapshot) {
							t.Errorf("backup %d: catalog %s %v..%v, generator %s %v..%v", i, b.ID, b.FirstSnapshot, b.SnapshotTime, info.ID, info.FirstSnapshot, info.SnapshotTime)
						}
						rep, err := cat.Verify(ctx, b)
						if err != nil {
							t.Fatal(err)
						}
						if !rep.Complete {
							t.Fatalf("backup %s incomplete: %v", b.ID, rep.Problems)
						}
						topo, err := cat.Topology(ctx, b)
						if err != nil {
							t.Fatal(err)
						}
						if len(topo) != len(info.Nodes) {
							t.Errorf("backup %s: catalog ring has %d nodes, generator %d", b.ID, len(topo), len(info.Nodes))
						}
						for _, n := range info.Nodes {
							tabs, err := cat.SSTables(ctx, b, n.Node, c.Keyspace(), "events")
							if err != nil {
								t.Fatal(err)
							}
							want := 0
							for _, x := range c.rounds[i].snap(n.Node).sstables {
								if x.table.name == "events" {
									want++
								}
							}
							if len(tabs) != want {
								t.Errorf("backup %s node %s: catalog lists %d events SSTables, generator %d", b.ID, n.Node, len(tabs), want)
							}
						}
						// the schema of that very backup: the column added after round 1
						sch, src, err := cat.LoadSchema(ctx, b, "")
						if err != nil {
							t.Fatal(err)
						}
						if sch == nil {
							if l.layout != backup.Priam || len(src.SSTables) == 0 {
								t.Fatalf("backup %s: no schema (%+v)", b.ID, src)
							}
							continue // Priam: system_schema SSTables, checked in TestPriamSystemSchema (systemschema_test.go)
						}
						users, err := sch.Table(c.Keyspace(), "users")
						if err != nil {
							t.Fatal(err)
						}
						if has := users.Column("nickname") != nil; has != (info.Round > 1) {
							t.Errorf("backup %s (round %d): users.nickname present = %v", b.ID, info.Round, has)
						}
					}
					// --as-of picks between the backups
					for i, info := range infos {
						b, _, err := cat.Pick(ctx, info.SnapshotTime.Add(time.Minute))
						if err != nil {
							t.Fatal(err)
						}
						if b.ID != info.ID {
							t.Errorf("as of round %d: picked %s, want %s", i+1, b.ID, info.ID)
						}
					}
				})
			}
		})
	}
}

func catalogCluster(l backup.Layout, up UploadOptions) string {
	if l == backup.Priam {
		return up.App
	}
	return up.Prefix
}

func TestUploadFaultsMakeBackupsIncomplete(t *testing.T) {
	ctx := context.Background()
	srv := s3Server(t)
	for _, layout := range []backup.Layout{backup.Medusa, backup.Priam} {
		c, err := Random(5, Options{Layout: layout, Mutations: 200, Rounds: 2, FlushEvery: 100})
		if err != nil {
			t.Fatal(err)
		}
		// Faults go into the last backup: Priam re-uploads a shared file a
		// later snapshot lists, and expects only nodes seen before.
		nodes := c.Backups()[1].Nodes
		cases := []struct {
			fault Fault
			kind  string
		}{
			{Fault{Round: 2, Node: nodes[1].Node, Kind: FaultMissingFile}, backup.MissingFile},
			{Fault{Round: 2, Kind: FaultMissingFile, Table: "pages", Component: "Statistics.db"}, backup.MissingFile},
			{Fault{Round: 2, Kind: FaultMissingNode, Node: nodes[2].Node}, backup.MissingNode},
		}
		if layout == backup.Medusa {
			cases = append(cases,
				struct {
					fault Fault
					kind  string
				}{Fault{Round: 2, Kind: FaultTruncated}, backup.SizeMismatch},
				struct {
					fault Fault
					kind  string
				}{Fault{Round: 2, Kind: FaultUnfinished}, backup.UnfinishedNode})
		}
		work := t.TempDir()
		for i, cs := range cases {
			// (no '#' in test names: file:// URIs of t.TempDir() would cut there)
			name := fmt.Sprintf("%s/%s-%s", layout, cs.fault.Kind, strings.TrimSuffix(cs.fault.Component, ".db"))
			t.Run(name, func(t *testing.T) {
				s3 := srv
				if i > 0 {
					s3 = nil // one fault on S3 is enough; the rest on file://
				}
				sts := stores(t, s3)
				for _, s := range sts {
					infos, err := c.Upload(ctx, s.st, UploadOptions{Faults: []Fault{cs.fault}, WorkDir: work})
					if err != nil {
						t.Fatal(err)
					}
					cat, err := backup.Open(ctx, s.st, backup.Options{})
					if err != nil {
						t.Fatal(err)
					}
					bs, err := cat.Backups(ctx)
					if err != nil {
						t.Fatal(err)
					}
					var first, second *backup.Backup
					for _, b := range bs {
						switch b.ID {
						case infos[0].ID:
							first = b
						case infos[1].ID:
							second = b
						}
					}
					if first == nil || second == nil {
						t.Fatalf("%s: backups %v, want %s and %s", s.name, bs, infos[0].ID, infos[1].ID)
					}
					rep, err := cat.Verify(ctx, second)
					if err != nil {
						t.Fatal(err)
					}
					f := infos[1].Faults[0]
					if rep.Complete || !slices.ContainsFunc(rep.Problems, func(p backup.Problem) bool {
						return p.Kind == cs.kind && (f.Key == "" || p.Key == "" || strings.HasSuffix(f.Key, p.Key) || strings.HasSuffix(p.Key, f.Key))
					}) {
						t.Errorf("%s: fault %+v: report %+v, want a %s problem", s.name, f, rep, cs.kind)
					}
					rep, err = cat.Verify(ctx, first)
					if err != nil {
						t.Fatal(err)
					}
					if !rep.Complete {
						t.Errorf("%s: the untouched backup is incomplete: %v", s.name, rep.Problems)
					}
					cat.Close()
				}
			})
		}
	}
}

// The schema.cql the generator writes parses with engine/schema and
// describes the tables the truth has.
func TestSchemaCQLParses(t *testing.T) {
	for seed := int64(1); seed <= 10; seed++ {
		o := RandomOptions(seed)
		o.Tables = append(o.Tables, DefaultTables()...)
		o.Tables = append(o.Tables, ExoticTable())
		c, err := Random(seed, o)
		if err != nil {
			t.Fatal(err)
		}
		for r := 1; r <= len(c.rounds); r++ {
			src, err := c.Schema(r)
			if err != nil {
				t.Fatal(err)
			}
			s, err := schema.Parse("schema.cql", src)
			if err != nil {
				t.Fatalf("seed %d round %d: %v\n%s", seed, r, err, src)
			}
			for _, tb := range c.tables {
				st, err := s.Table(c.keyspace, tb.name)
				if err != nil {
					t.Fatal(err)
				}
				cols := outputColumns(tb, c.rounds[r-1].schema)
				if len(st.Columns) != len(cols) {
					t.Fatalf("seed %d %s: schema.cql has %d columns, the truth %d", seed, tb.name, len(st.Columns), len(cols))
				}
				for _, col := range cols {
					sc := st.Column(col.name)
					if sc == nil || sc.Kind != col.kind {
						t.Fatalf("seed %d %s.%s: %+v", seed, tb.name, col.name, sc)
					}
				}
				for i, col := range tb.ck {
					if (st.Clustering[i].Order == schema.Desc) != col.desc {
						t.Errorf("seed %d %s.%s: order %v", seed, tb.name, col.name, st.Clustering[i].Order)
					}
				}
			}
			ks := s.Keyspace(c.keyspace)
			if ks.Replication.Class != c.replication.Class && !strings.HasSuffix(ks.Replication.Class, c.replication.Class) {
				t.Errorf("replication %+v, want %+v", ks.Replication, c.replication)
			}
		}
	}
}
