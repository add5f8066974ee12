package sstable

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cassmove/shadow/engine/token"
)

// TestWriterReproducesCassandra re-writes Cassandra-written nb and oa tables
// from what the reader decoded, with the same header bases, and requires
// the uncompressed Data.db, Index.db, Summary.db and Filter.db to be
// byte-identical to Cassandra's (the test configuration's
// column_index_size is 4 KiB, hence the 13 row index blocks per partition).
func TestWriterReproducesCassandra(t *testing.T) {
	ctx := context.Background()
	for _, table := range []string{"nb/legacy_tables/legacy_nb_simple", "nb/legacy_tables/legacy_nb_clust", "nb/legacy_tables/legacy_nb_clust_counter",
		"oa/legacy_tables/legacy_oa_simple", "oa/legacy_tables/legacy_oa_clust"} {
		t.Run(table, func(t *testing.T) {
			src := "testdata/legacy-sstables/" + table
			r, err := OpenPath(ctx, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			h := r.Header()
			schema := &Schema{PartitionKey: []ColumnDef{{"pk", h.KeyType}}}
			for i, ct := range h.ClusteringTypes {
				schema.Clustering = append(schema.Clustering, ColumnDef{"ck" + string(rune('0'+i)), ct})
			}
			for _, c := range h.Regulars {
				schema.Regular = append(schema.Regular, ColumnDef{c.Name, c.Type})
			}
			minTS, minLDT, minTTL := h.MinTimestamp, h.MinLocalDeletionTime, h.MinTTL
			dir := t.TempDir()
			w, err := NewWriter(dir, schema, &WriterOptions{Version: r.Version().Name, Partitioner: token.ByteOrderedPartitioner{},
				MinTimestamp: &minTS, MinLocalDeletionTime: &minLDT, MinTTL: &minTTL, ColumnIndexSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			sc, _ := r.Scan(ctx)
			for sc.NextPartition() {
				p := sc.Partition()
				if err := w.BeginPartition(p.Key, p.Deletion); err != nil {
					t.Fatal(err)
				}
				for sc.Next() {
					u := sc.Unfiltered()
					row := u.Row.Clone()
					for i := range row.Columns {
						row.Columns[i].Column = w.Header().Column(row.Columns[i].Column.Name)
					}
					if err := w.WriteRow(row); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.EndPartition(); err != nil {
					t.Fatal(err)
				}
			}
			if sc.Err() != nil {
				t.Fatal(sc.Err())
			}
			sc.Close()
			if _, err := w.Close(); err != nil {
				t.Fatal(err)
			}
			mine, err := OpenPath(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := uncompressedData(t, r), uncompressedData(t, mine); !bytes.Equal(a, b) {
				n := 0
				for n < len(a) && n < len(b) && a[n] == b[n] {
					n++
				}
				t.Fatalf("uncompressed Data.db differs at byte %d (Cassandra %d bytes, ours %d)", n, len(a), len(b))
			}
			for _, c := range []string{ComponentIndex, ComponentSummary, ComponentFilter} {
				want, _ := os.ReadFile(filepath.Join(src, r.Descriptor().FileName(c)))
				got, _ := os.ReadFile(filepath.Join(dir, mine.Descriptor().FileName(c)))
				if !bytes.Equal(got, want) {
					n := 0
					for n < len(got) && n < len(want) && got[n] == want[n] {
						n++
					}
					lo := max(n-24, 0)
					t.Fatalf("%s differs at byte %d (Cassandra %d bytes, ours %d)\ncassandra %x\n     ours %x", c, n, len(want), len(got), want[lo:min(n+24, len(want))], got[lo:min(n+24, len(got))])
				}
			}
		})
	}
}

func uncompressedData(t *testing.T, r *Reader) []byte {
	f, err := r.Source().Open(context.Background(), ComponentData)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr, err := newChunkReader(context.Background(), f, "x", r.comp, r.crcs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ds := dataStream{cr: cr, end: r.comp.DataLength}
	if err := ds.fill(int(r.comp.DataLength)); err != nil {
		t.Fatal(err)
	}
	return ds.avail()
}
