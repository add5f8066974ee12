package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/sstable"
)

var legacy = func() string {
	p, err := filepath.Abs("../../engine/sstable/testdata/legacy-sstables")
	if err != nil {
		panic(err)
	}
	return p
}()

// writeRich writes a small SSTable with statics, collections, a UDT, TTLs
// and every kind of tombstone, at fixed 2023 timestamps.
func writeRich(t *testing.T, version string) string {
	t.Helper()
	ty := func(s string) *cql.Type {
		x, err := cql.ParseCQL(s, func(ks, name string) (*cql.Type, error) {
			return cql.UDTOf("shop", "addr", []string{"street", "zip"}, []*cql.Type{cql.Simple(cql.KindText), cql.Simple(cql.KindInt)}), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	s := &sstable.Schema{Keyspace: "shop", Table: "orders",
		PartitionKey: []sstable.ColumnDef{{Name: "customer", Type: ty("text")}, {Name: "region", Type: ty("int")}},
		Clustering:   []sstable.ColumnDef{{Name: "placed", Type: ty("timestamp").Reverse()}},
		Static:       []sstable.ColumnDef{{Name: "tier", Type: ty("text")}},
		Regular: []sstable.ColumnDef{{Name: "total", Type: ty("decimal")}, {Name: "items", Type: ty("list<text>")},
			{Name: "tags", Type: ty("set<text>")}, {Name: "attrs", Type: ty("map<text, int>")}, {Name: "ship", Type: ty("addr")},
			{Name: "note", Type: ty("text")}, {Name: "id", Type: ty("uuid")}, {Name: "raw", Type: ty("blob")}}}
	b, err := sstable.NewBuilder(s)
	if err != nil {
		t.Fatal(err)
	}
	const ts = int64(1_690_000_000_000_000)
	p := b.Partition("ada", 1)
	p.Static().Set("tier", "gold", ts, 0)
	p.Row(int64(1_690_000_000_000)).Insert(ts, 0).Set("total", "12.50", ts, 0).Set("items", []string{"pen", "ink"}, ts, 0).
		Set("tags", []string{"gift"}, ts, 0).Set("attrs", map[string]int{"w": 3}, ts, 0).Put("ship", "zip", 75001, ts, 0).
		Set("id", "50554d6e-29bb-11e5-b345-feff819cdc9f", ts, 0).Set("raw", []byte{0xca, 0xfe}, ts, 0)
	p.Row(int64(1_690_000_100_000)).Insert(ts+1, 86400).Set("note", "expires", ts+1, 86400).DeleteColumn("total", ts+2).Remove("tags", "old", ts+2)
	p.Row(int64(1_690_000_200_000)).Delete(ts + 3)
	p.DeleteRange(sstable.RangeBound{Values: []any{int64(1_690_000_900_000)}}, sstable.RangeBound{Values: []any{int64(1_690_000_500_000)}, Exclusive: true}, ts+4)
	b.Partition("bob", 2).Delete(ts + 5)
	dir := filepath.Join(t.TempDir(), "orders")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(dir, &sstable.WriterOptions{Version: version}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSSTableDumpGolden(t *testing.T) {
	rich := writeRich(t, "nb")
	richOA := writeRich(t, "oa")
	scrub := []string{regexp.QuoteMeta(filepath.Dir(rich)), "TMP", regexp.QuoteMeta(filepath.Dir(richOA)), "TMP"}
	cases := []struct {
		name string
		args []string
	}{
		{"dump_nb_simple", []string{"sstable", "dump", legacy + "/nb/legacy_tables/legacy_nb_simple"}},
		{"dump_mc_range_tombstone", []string{"sstable", "dump", legacy + "/mc/legacy_tables/legacy_mc_inaccurate_min_max"}},
		{"dump_ma_static_compact", []string{"sstable", "dump", legacy + "/ma/legacy_tables/legacy_ma_simple_compact/ma-1-big-Data.db"}},
		{"dump_oa_counter_lines_raw", []string{"sstable", "dump", "-l", "-t", legacy + "/oa/legacy_tables/legacy_oa_simple_counter"}},
		{"dump_da_debug", []string{"sstable", "dump", "-d", legacy + "/da/legacy_tables/legacy_da_simple"}},
		{"dump_rich_nb", []string{"sstable", "dump", rich}},
		{"dump_rich_debug", []string{"sstable", "dump", "-d", rich}},
		{"describe_nb_clust", []string{"sstable", "describe", "--verify", legacy + "/nb/legacy_tables/legacy_nb_clust"}},
		{"describe_rich_oa", []string{"sstable", "describe", richOA}},
		{"describe_rich_oa_json", []string{"sstable", "describe", "--json", richOA}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, "", c.args...)
			if r.Code != exitOK {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			got := strings.ReplaceAll(r.Stdout, filepath.Dir(legacy)+"/", "")
			golden(t, "sstable/"+c.name, got, scrub...)
		})
	}
}

// TestSSTableBadInput: every kind of bad input is exit 2 with one line
// naming the file, the offset where one applies, and what was expected.
func TestSSTableBadInput(t *testing.T) {
	copyTable := func(t *testing.T, src string) string {
		dst := filepath.Join(t.TempDir(), filepath.Base(src))
		os.Mkdir(dst, 0o755)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dst
	}
	patch := func(t *testing.T, path string, fn func([]byte) []byte) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, fn(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		table string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"truncated data", "nb/legacy_tables/legacy_nb_clust", func(t *testing.T, dir string) {
			patch(t, filepath.Join(dir, "nb-1-big-Data.db"), func(b []byte) []byte { return b[:len(b)/2] })
		}, []string{"nb-1-big-Data.db at offset", "truncated"}},
		{"wrong chunk crc", "nb/legacy_tables/legacy_nb_simple", func(t *testing.T, dir string) {
			patch(t, filepath.Join(dir, "nb-1-big-Data.db"), func(b []byte) []byte { b[10] ^= 0xff; return b })
		}, []string{"nb-1-big-Data.db at offset 0", "chunk 0 crc32 mismatch", "checksum"}},
		{"missing statistics", "nb/legacy_tables/legacy_nb_simple", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "nb-1-big-Statistics.db"))
		}, []string{"nb-1-big-Statistics.db", "no Statistics.db", "missing"}},
		{"unknown version", "nb/legacy_tables/legacy_nb_simple", func(t *testing.T, dir string) {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				os.Rename(filepath.Join(dir, e.Name()), filepath.Join(dir, strings.Replace(e.Name(), "nb-", "zz-", 1)))
			}
		}, []string{"zz-1-big-Data.db", `BIG version "zz"`}},
		{"unknown compressor", "nb/legacy_tables/legacy_nb_simple", func(t *testing.T, dir string) {
			patch(t, filepath.Join(dir, "nb-1-big-CompressionInfo.db"), func(b []byte) []byte {
				return bytes.Replace(b, []byte("LZ4Compressor"), []byte("XYZCompressor"), 1)
			})
		}, []string{"nb-1-big-CompressionInfo.db at offset 0", `compressor "XYZCompressor"`}},
		{"bad type string", "ma/legacy_tables/legacy_ma_simple", func(t *testing.T, dir string) {
			patch(t, filepath.Join(dir, "ma-1-big-Statistics.db"), func(b []byte) []byte {
				i := bytes.LastIndex(b, []byte("UTF8Type"))
				copy(b[i:], "UTF9Type")
				return b
			})
		}, []string{"ma-1-big-Statistics.db at offset", "UTF9Type", "want a known marshal type"}},
		{"wrong statistics crc", "oa/legacy_tables/legacy_oa_simple", func(t *testing.T, dir string) {
			patch(t, filepath.Join(dir, "oa-1-big-Statistics.db"), func(b []byte) []byte { b[len(b)-10] ^= 1; return b })
		}, []string{"oa-1-big-Statistics.db at offset", "crc32", "checksum"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTable(t, filepath.Join(legacy, c.table))
			c.setup(t, dir)
			r := runShadow(t, "", "sstable", "dump", dir)
			if r.Code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", r.Code, exitUsage, r.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "shadow: ") {
				t.Fatalf("stderr %q: want one shadow: line", r.Stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr %q does not say %q", r.Stderr, w)
				}
			}
		})
	}
	dir := copyTable(t, filepath.Join(legacy, "nb/legacy_tables/legacy_nb_simple"))
	os.WriteFile(filepath.Join(dir, "nb-1-big-Digest.crc32"), []byte("1"), 0o644)
	if r := runShadow(t, "", "sstable", "describe", "--verify", dir); r.Code != exitUsage || !strings.Contains(r.Stderr, "digest mismatch") {
		t.Fatalf("digest mismatch: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if r := runShadow(t, "", "sstable", "dump", "/nonexistent/nb-1-big-Data.db"); r.Code != exitUsage {
		t.Fatalf("a missing path: exit %d, want %d", r.Code, exitUsage)
	}
}
