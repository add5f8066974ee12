package cluster

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/objstore"
)

func TestDataModelGenerators(t *testing.T) {
	ctx := context.Background()
	kv1, err := GenerateKV(1, KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kv2, _ := GenerateKV(1, KVOptions{})
	if !reflect.DeepEqual(kv1.Items, kv2.Items) || len(kv1.Items) == 0 {
		t.Fatalf("KV: the same seed gave different items (%d, %d)", len(kv1.Items), len(kv2.Items))
	}
	ts1, err := GenerateTS(1, TSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts2, _ := GenerateTS(1, TSOptions{})
	if e1, e2 := ts1.Events(time.Time{}, time.Time{}), ts2.Events(time.Time{}, time.Time{}); !reflect.DeepEqual(e1, e2) || len(e1) == 0 {
		t.Fatalf("TS: the same seed gave different events (%d, %d)", len(e1), len(e2))
	}
	if len(ts1.Tables()) != 6 || !strings.HasPrefix(ts1.Tables()[0], "events_") {
		t.Fatalf("slice tables %v", ts1.Tables())
	}
	for _, c := range []struct {
		name   string
		up     func(st objstore.Store) (BackupInfo, error)
		ks     string
		tables []string
		absent string
	}{
		{"kv", func(st objstore.Store) (BackupInfo, error) { return kv1.Upload(ctx, st, "", "") }, "kv", []string{"items", "items_chunks"}, ""},
		{"ts", func(st objstore.Store) (BackupInfo, error) { return ts1.Upload(ctx, st, "", "", ts1.SliceStarts[1]) }, "ts", ts1.Tables()[2:], ts1.Tables()[1]},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := objstore.Open(ctx, "file://"+t.TempDir(), objstore.Settings{})
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.up(st)
			if err != nil {
				t.Fatal(err)
			}
			cat, err := backup.Open(ctx, st, backup.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			b, _, err := cat.Pick(ctx, info.SnapshotTime)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := cat.Verify(ctx, b)
			if err != nil || !rep.Complete {
				t.Fatalf("verify: %v %+v", err, rep)
			}
			sch, _, err := cat.LoadSchema(ctx, b, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, tn := range c.tables {
				if _, err := sch.Table(c.ks, tn); err != nil {
					t.Error(err)
				}
				n := 0
				for _, node := range info.Nodes {
					ssts, err := cat.SSTables(ctx, b, node.Node, c.ks, tn)
					if err != nil {
						t.Fatal(err)
					}
					n += len(ssts)
				}
				if n < 3 {
					t.Errorf("%s: %d SSTables on 3 nodes", tn, n)
				}
			}
			if c.absent != "" {
				if _, err := sch.Table(c.ks, c.absent); err == nil {
					t.Errorf("skipped table %s is in the schema", c.absent)
				}
			}
		})
	}
}
