package cluster

import (
	"context"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	start := time.Now()
	c, err := Random(1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("random: %v %+v", time.Since(start), c.Stats())
	for _, b := range c.Backups() {
		t.Logf("backup %+v", b.ID)
	}
	start = time.Now()
	files, err := c.WriteSSTables(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("write: %v %d sstables", time.Since(start), len(files))
	for _, tb := range c.Tables() {
		start = time.Now()
		tr, err := c.Truth(Query{Table: tb})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("truth %s: %v rows %d", tb, time.Since(start), len(tr.Rows))
		for i, r := range tr.Rows {
			if i < 3 {
				t.Logf("  %v", r.Values)
			}
		}
	}
}
