package sstable

import (
	"context"
	"path/filepath"
	"testing"
)

// TestLegacyGoldens decodes every Cassandra-written fixture (ma … oa, da) and
// compares each partition with the golden generated once by the independent
// Python reader (see testdata/README.md).
func TestLegacyGoldens(t *testing.T) {
	tables := legacyTables(t)
	if len(tables) != 61 {
		t.Fatalf("%d fixture tables, want the 61 required ones", len(tables))
	}
	for _, dir := range tables {
		name := filepath.Base(dir)
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(dir)))+"/"+name, func(t *testing.T) {
			r, err := OpenPath(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := oracleLines(t, r, name)
			want := readGolden(t, dir+".dump.jsonl.gz")
			if len(got) != len(want) {
				t.Fatalf("%d partitions, golden has %d", len(got), len(want))
			}
			for i := range got {
				if !jsonEqual(got[i], want[i]) {
					t.Fatalf("partition %d differs\n got %.600s\nwant %.600s", i, got[i], want[i])
				}
			}
		})
	}
}
