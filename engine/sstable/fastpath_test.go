package sstable

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/cql"
)

// canonScan reads a table as canonical lines (partitions, static rows,
// unfiltereds); with general set, it turns the plain-row fast paths off, so
// every row goes through the general decoder.
func canonScan(t testing.TB, dir string, general bool) []string {
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
		p := sc.Partition()
		out = append(out, fmt.Sprintf("partition %x token=%v del=%v", p.Key, p.Token, p.Deletion))
		if p.Static != nil && !p.Static.IsEmpty() {
			out = append(out, canonRow(p.Static))
		}
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
	// tables whose rows mostly share one shape (all columns, the row's
	// timestamp, no TTL), broken now and then, for shapedRow
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewSource(seed + int64(n+i)))
		dirs = append(dirs, writeShaped(t, r, 1<<(6+r.Intn(8)), seed+int64(n+i)))
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

// shapedSchema is a random table whose regular columns are all simple.
func shapedSchema(r *rand.Rand) *Schema {
	s := &Schema{Keyspace: "ks", Table: "shaped", PartitionKey: []ColumnDef{{"pk", randSimple(r, keyKinds)}}}
	for i := 0; i < r.Intn(4); i++ {
		t := randSimple(r, keyKinds)
		if r.Intn(3) == 0 {
			t = t.Reverse()
		}
		s.Clustering = append(s.Clustering, ColumnDef{fmt.Sprintf("ck%d", i), t})
	}
	for i := 0; i < 1+r.Intn(6); i++ {
		s.Regular = append(s.Regular, ColumnDef{fmt.Sprintf("v%d", i), randSimple(r, simpleKinds)})
	}
	return s
}

// writeShaped writes a table of shapedSchema whose rows are mostly of one
// shape (every column set, no TTL; with an insert at the cells' timestamp,
// with none, or with one at another timestamp than the cells'), with
// about one row in six breaking it in one way: a TTL, a cell of its own
// timestamp, a missing column, an empty value, a deleted cell, a row
// deletion, an empty clustering value.
func writeShaped(t *testing.T, r *rand.Rand, chunk int, seed int64) string {
	t.Helper()
	s := shapedSchema(r)
	b, err := NewBuilder(s)
	if err != nil {
		t.Fatal(err)
	}
	// the table's usual shape: an insert with every column at the row's
	// timestamp; an update (no row liveness); cells at their own timestamp
	mode := r.Intn(3)
	for p := 0; p < 1+r.Intn(6); p++ {
		pk := randValue(r, s.PartitionKey[0].Type)
		for k, err := s.EncodeKey(pk); err != nil || len(k) == 0; k, err = s.EncodeKey(pk) {
			pk = randValue(r, s.PartitionKey[0].Type)
		}
		pb := b.Partition(pk)
		ts := 1_600_000_000_000_000 + r.Int63n(1e12)
		for i := 0; i < r.Intn(200); i++ {
			ck := make([]any, len(s.Clustering))
			for j, c := range s.Clustering {
				ck[j] = randValue(r, c.Type)
			}
			dev := -1
			if r.Intn(6) == 0 {
				dev = r.Intn(7)
			}
			if dev == 6 {
				// an empty clustering value, where the type allows one
				for j, c := range s.Clustering {
					switch c.Type.Kind {
					case cql.KindText, cql.KindAscii:
						ck[j] = ""
					case cql.KindBlob:
						ck[j] = []byte{}
					}
				}
			}
			rb := pb.Row(ck...)
			ts++
			ttl := int32(0)
			if dev == 0 {
				ttl = int32(1 + r.Intn(1000))
			}
			if dev == 5 {
				rb.Delete(ts - 1)
			}
			cts := ts
			switch mode {
			case 0:
				rb.Insert(ts, ttl)
			case 2:
				rb.Insert(ts, ttl)
				cts = ts - 3
			}
			odd := r.Intn(len(s.Regular))
			for j, c := range s.Regular {
				v := randValue(r, c.Type)
				switch {
				case j == odd && dev == 1:
					rb.Set(c.Name, v, ts-7, ttl)
				case j == odd && dev == 2:
				case j == odd && dev == 3:
					rb.put(rb.column(c.Name), nil, rb.cell([]byte{}, cts, ttl))
				case j == odd && dev == 4:
					rb.DeleteColumn(c.Name, cts)
				case mode == 1 && j == odd && r.Intn(2) == 0:
					// updates vary the column's value between empty and not
					rb.put(rb.column(c.Name), nil, rb.cell([]byte{}, cts, ttl))
				default:
					rb.Set(c.Name, v, cts, ttl)
				}
			}
		}
	}
	if err := b.Err(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, &WriterOptions{Compression: LZ4, ChunkLength: chunk}); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return dir
}

// TestShapedPathTaken checks that rows of one shape do go through
// shapedRow (so that TestFastPathMatchesGeneral tests it), and that a row
// breaking the shape leaves it.
func TestShapedPathTaken(t *testing.T) {
	s := &Schema{Keyspace: "ks", Table: "t", PartitionKey: []ColumnDef{{"pk", cql.Simple(cql.KindText)}},
		Clustering: []ColumnDef{{"ck", cql.Simple(cql.KindInt)}},
		Regular:    []ColumnDef{{"v1", cql.Simple(cql.KindText)}, {"v2", cql.Simple(cql.KindBigint)}}}
	b, err := NewBuilder(s)
	if err != nil {
		t.Fatal(err)
	}
	pb := b.Partition("p")
	for i := 0; i < 10; i++ {
		rb := pb.Row(int32(i))
		ttl := int32(0)
		if i == 6 {
			ttl = 100
		}
		rb.Insert(int64(1000+i), ttl)
		rb.Set("v1", fmt.Sprint("value ", i), int64(1000+i), ttl)
		rb.Set("v2", int64(i), int64(1000+i), ttl)
	}
	dir := t.TempDir()
	if _, err := b.WriteTo(dir, nil); err != nil {
		t.Fatal(err)
	}
	rd, err := OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := rd.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if !sc.NextPartition() {
		t.Fatal("no partition", sc.Err())
	}
	var shaped []bool
	for sc.Next() {
		// whether the row just read leaves the scanner ready for shapedRow
		shaped = append(shaped, sc.shaped)
		row := &sc.Unfiltered().Row
		if got := row.Columns[1].Cells[0].Timestamp; got != int64(1000+len(shaped)-1) {
			t.Fatalf("row %d: v2 timestamp %d", len(shaped)-1, got)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, true, true, true, false, true, true, true}
	if fmt.Sprint(shaped) != fmt.Sprint(want) {
		t.Fatalf("shaped after each row: %v, want %v", shaped, want)
	}
}
