package sstable

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

func TestFixtureMetadata(t *testing.T) {
	ctx := context.Background()
	for _, dir := range legacyTables(t) {
		r, err := OpenPath(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.VerifyDigest(ctx); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
		if r.Partitioner().Kind() != token.ByteOrdered {
			t.Errorf("%s: partitioner %s", dir, r.Statistics().Partitioner)
		}
		first, last, err := r.KeyRange(ctx)
		if err != nil || string(first) != "0" && string(first) != "\x00\x00\x00d" || len(last) == 0 {
			t.Errorf("%s: key range %q %q %v", dir, first, last, err)
		}
		st := r.Statistics()
		if st.MinTimestamp <= 0 || st.MaxTimestamp < st.MinTimestamp || st.EstimatedPartitions() == 0 {
			t.Errorf("%s: stats %d %d %d", dir, st.MinTimestamp, st.MaxTimestamp, st.EstimatedPartitions())
		}
	}
}

// TestSeekFixtures seeks in Cassandra-written files: via Summary/Index for
// BIG, by scanning for BTI da.
func TestSeekFixtures(t *testing.T) {
	ctx := context.Background()
	for _, dir := range []string{"testdata/legacy-sstables/nb/legacy_tables/legacy_nb_clust", "testdata/legacy-sstables/da/legacy_tables/legacy_da_clust",
		"testdata/legacy-sstables/ma/legacy_tables/legacy_ma_simple", "testdata/legacy-sstables/oa/legacy_tables/legacy_oa_clust_counter"} {
		r, err := OpenPath(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ seek, want string }{{"", "0"}, {"2", "2"}, {"1\xff", "2"}, {"4", "4"}, {"5", ""}} {
			sc, _ := r.Scan(ctx)
			if err := sc.SeekToken(ctx, token.BytesOf([]byte(c.seek))); err != nil {
				t.Fatal(err)
			}
			got := ""
			rows := 0
			if sc.NextPartition() {
				got = string(sc.Partition().Key)
				for sc.Next() {
					rows++
				}
			}
			if sc.Err() != nil || got != c.want || (got != "" && rows == 0) {
				t.Errorf("%s: seek %q → %q (%d rows, %v), want %q", dir, c.seek, got, rows, sc.Err(), c.want)
			}
			sc.Close()
		}
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	os.Mkdir(dst, 0o755)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return dst
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	edit := func(path string, fn func([]byte) []byte) {
		b, _ := os.ReadFile(path)
		os.WriteFile(path, fn(b), 0o644)
	}
	cases := []struct {
		name     string
		table    string
		mutate   func(dir string)
		sentinel error
		want     string
	}{
		{"truncated Data.db", "nb/legacy_tables/legacy_nb_clust", func(d string) {
			edit(filepath.Join(d, "nb-1-big-Data.db"), func(b []byte) []byte { return b[:len(b)/2] })
		}, ErrCorrupt, "nb-1-big-Data.db at offset"},
		{"truncated last chunk", "nb/legacy_tables/legacy_nb_clust", func(d string) {
			edit(filepath.Join(d, "nb-1-big-Data.db"), func(b []byte) []byte { return b[:len(b)-100] })
		}, ErrChecksum, "truncated Data.db?"},
		{"chunk crc", "oa/legacy_tables/legacy_oa_clust", func(d string) {
			edit(filepath.Join(d, "oa-1-big-Data.db"), func(b []byte) []byte { b[5000] ^= 1; return b })
		}, ErrChecksum, "crc32 mismatch (stored 0x"},
		{"missing Data.db", "me/legacy_tables/legacy_me_simple", func(d string) {
			os.Remove(filepath.Join(d, "me-1-big-Data.db"))
			os.Rename(filepath.Join(d, "me-1-big-Index.db"), filepath.Join(d, "me-1-big-Data.db.bak"))
		}, ErrMissingComponent, "no *-Data.db"},
		{"missing CompressionInfo listed in TOC", "md/legacy_tables/legacy_md_simple", func(d string) {
			os.Remove(filepath.Join(d, "md-1-big-CompressionInfo.db"))
		}, ErrMissingComponent, "md-1-big-CompressionInfo.db"},
		{"statistics crc", "na/legacy_tables/legacy_na_simple", func(d string) {
			edit(filepath.Join(d, "na-1-big-Statistics.db"), func(b []byte) []byte { b[60] ^= 1; return b })
		}, ErrChecksum, "na-1-big-Statistics.db at offset"},
		{"bad type string", "mb/legacy_tables/legacy_mb_clust", func(d string) {
			edit(filepath.Join(d, "mb-1-big-Statistics.db"), func(b []byte) []byte {
				i := strings.LastIndex(string(b), "UTF8Type")
				b[i] = '?'
				return b
			})
		}, cql.ErrBadType, "mb-1-big-Statistics.db at offset"},
		{"unknown partitioner", "mc/legacy_tables/legacy_mc_simple", func(d string) {
			edit(filepath.Join(d, "mc-1-big-Statistics.db"), func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "ByteOrderedPartitioner", "ByteOrderedPartitionez", 1))
			})
		}, ErrUnsupported, "ByteOrderedPartitionez"},
	}
	for _, c := range cases {
		if c.sentinel == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, "testdata/legacy-sstables/"+c.table)
			c.mutate(dir)
			r, err := OpenPath(ctx, dir, nil)
			if err == nil {
				sc, err2 := r.Scan(ctx)
				if err2 != nil {
					err = err2
				} else {
					for sc.NextPartition() {
						for sc.Next() {
						}
					}
					err = sc.Err()
					sc.Close()
				}
			}
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v: want %v naming %q", err, c.sentinel, c.want)
			}
		})
	}
}

func TestDigestMismatch(t *testing.T) {
	dir := copyDir(t, "testdata/legacy-sstables/nb/legacy_tables/legacy_nb_simple")
	os.WriteFile(filepath.Join(dir, "nb-1-big-Digest.crc32"), []byte("12345"), 0o644)
	r, err := OpenPath(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.VerifyDigest(context.Background()); !errors.Is(err, ErrChecksum) {
		t.Fatalf("digest: %v", err)
	}
}

func TestColumnTypeOverride(t *testing.T) {
	// A 3.0 header may omit FrozenType for UDTs; the schema corrects it.
	frozen := cql.Simple(cql.KindText)
	r, err := OpenPath(context.Background(), "testdata/legacy-sstables/ma/legacy_tables/legacy_ma_simple", &Options{ColumnTypes: map[string]*cql.Type{"val": frozen}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Header().Column("val").Type != frozen {
		t.Fatal("override not applied")
	}
}

// TestBloomFilterMatchesCassandra: the writer's Filter.db for the keys of
// legacy_nb_simple is byte-identical to the one Cassandra 4.0 wrote.
func TestBloomFilterMatchesCassandra(t *testing.T) {
	want, err := os.ReadFile("testdata/legacy-sstables/nb/legacy_tables/legacy_nb_simple/nb-1-big-Filter.db")
	if err != nil {
		t.Fatal(err)
	}
	bf := newBloomFilter(5, 0.01)
	for _, k := range []string{"0", "1", "2", "3", "4"} {
		bf.add([]byte(k))
	}
	if got := bf.serialize(); string(got) != string(want) {
		t.Fatalf("Filter.db %x, Cassandra wrote %x", got, want)
	}
}
