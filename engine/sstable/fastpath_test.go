package sstable

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canonScan reads a table like canonRead; with general set, it turns the
// plain-row fast path off, so every row goes through the general decoder.
func canonScan(t *testing.T, dir string, general bool) []string {
	t.Helper()
	r, err := OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := r.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if general {
		sc.plain = false
	}
	var out []string
	for sc.NextPartition() {
		for sc.Next() {
			out = append(out, canonUnfiltered(sc.Unfiltered()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFastPathMatchesGeneral checks the plain-row fast path (fastRow) against
// the general decoder, which it must match row for row: on every Cassandra
// fixture and on random tables (random schemas, cell timestamps, TTLs and
// deletions, chunk lengths from 64 bytes, so rows straddle windows).
func TestFastPathMatchesGeneral(t *testing.T) {
	var dirs []string
	filepath.WalkDir("testdata/legacy-sstables", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, "-Data.db") {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if len(dirs) == 0 {
		t.Fatal("no fixture found")
	}
	seed := time.Now().UnixNano()
	n := 40
	if testing.Short() {
		n = 10
	}
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewSource(seed + int64(i)))
		s := randSchema(r)
		b, err := NewBuilder(s)
		if err != nil {
			t.Fatal(err)
		}
		randOps(r, s, b)
		if err := b.Err(); err != nil {
			t.Fatalf("seed %d: %v", seed+int64(i), err)
		}
		dir := t.TempDir()
		if _, err := b.WriteTo(dir, &WriterOptions{Compression: LZ4, ChunkLength: 1 << (6 + r.Intn(8))}); err != nil {
			t.Fatalf("seed %d: %v", seed+int64(i), err)
		}
		dirs = append(dirs, dir)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		fast, general := canonScan(t, dir, false), canonScan(t, dir, true)
		if len(fast) != len(general) {
			t.Fatalf("%s (seed base %d): %d unfiltereds with the fast path, %d without", dir, seed, len(fast), len(general))
		}
		for j := range fast {
			if fast[j] != general[j] {
				t.Fatalf("%s (seed base %d) unfiltered %d:\n fast    %s\n general %s", dir, seed, j, fast[j], general[j])
			}
		}
	}
	t.Logf("%d tables compared", len(seen))
}
