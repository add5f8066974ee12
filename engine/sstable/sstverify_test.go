//go:build sstverify

package sstable

// Development cross-check, not run in CI (tests never run Python): every
// SSTable the writer produces must be read by the independent reader
// shared/tools/sstverify/dump.py without error and with identical cells.
//
//	SSTVERIFY=/work/shared/tools/sstverify go test -tags sstverify -run TestSSTVerify ./engine/sstable
//
// dump.py reads LZ4 and uncompressed files only, and treats a top-level
// TupleType column as multi-cell (a bug: tuples are always frozen), so the
// cross-check schemas use frozen tuples only inside collections.

import (
	"fmt"
	"math/rand"

	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/cql"

	"github.com/cassmove/shadow/engine/token"
)

func runDumpPy(t *testing.T, dir string) []string {
	t.Helper()
	tool := os.Getenv("SSTVERIFY")
	if tool == "" {
		t.Skip("set SSTVERIFY to shared/tools/sstverify")
	}
	out, err := exec.Command("python3", filepath.Join(tool, "dump.py"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("dump.py %s: %v\n%s", dir, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func crossCheck(t *testing.T, dir string) int {
	t.Helper()
	r, err := OpenPath(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := oracleLines(t, r, filepath.Base(dir))
	want := runDumpPy(t, dir)
	// dump.py adds the header base to a LIVE complex deletion without 64-bit
	// wrapping, printing Long.MIN_VALUE as 2^63: that is "no deletion".
	live := regexp.MustCompile(`"complex_deletion": \[9223372036854775808, -?\d+\]`)
	for i := range want {
		want[i] = live.ReplaceAllString(want[i], `"complex_deletion": null`)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d partitions, dump.py read %d", dir, len(got), len(want))
	}
	for i := range got {
		if !jsonEqual(got[i], want[i]) {
			t.Fatalf("%s: partition %d differs\n  go %.2000s\n  py %.2000s", dir, i, got[i], want[i])
		}
	}
	return len(got)
}

func TestSSTVerify(t *testing.T) {
	n := 0
	for _, version := range []string{"nb", "oa"} {
		for _, comp := range []string{LZ4, None} {
			for _, p := range []token.Partitioner{token.Murmur3Partitioner{}, token.ByteOrderedPartitioner{}} {
				s := richSchema(t)
				var regs []ColumnDef
				for _, c := range s.Regular {
					if c.Name != "tu" {
						regs = append(regs, c)
					}
				}
				s.Regular = regs
				b, _ := NewBuilder(s)
				richDataNoTuple(t, b)
				dir := filepath.Join(t.TempDir(), "rich")
				os.Mkdir(dir, 0o755)
				if _, err := b.WriteTo(dir, &WriterOptions{Version: version, Compression: comp, Partitioner: p, ChunkLength: 4096, ColumnIndexSize: 512}); err != nil {
					t.Fatal(err)
				}
				n += crossCheck(t, dir)
			}
		}
	}
	t.Logf("cross-checked %d partitions", n)
}

func TestSSTVerifyRandom(t *testing.T) {
	n := 0
	for i := 0; i < 60; i++ {
		r := rand.New(rand.NewSource(int64(i)))
		s := randSchema(r)
		for j, c := range s.Regular {
			if c.Type.Kind == cql.KindTuple {
				s.Regular[j].Type = cql.Simple(cql.KindText)
			}
		}
		for j, c := range s.Static {
			if c.Type.Kind == cql.KindTuple {
				s.Static[j].Type = cql.Simple(cql.KindText)
			}
		}
		b, _ := NewBuilder(s)
		randOps(r, s, b)
		if b.Err() != nil {
			t.Fatal(b.Err())
		}
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("random%d", i))
		os.Mkdir(dir, 0o755)
		opts := &WriterOptions{Version: []string{"nb", "oa"}[i%2], Compression: []string{LZ4, None}[i/2%2], ChunkLength: 256, ColumnIndexSize: 300}
		if _, err := b.WriteTo(dir, opts); err != nil {
			t.Fatal(err)
		}
		n += crossCheck(t, dir)
	}
	t.Logf("cross-checked %d partitions of 60 random schemas", n)
}

// TestSSTVerifyNC compares the optional nc fixtures (not copied into
// testdata) with dump.py.
func TestSSTVerifyNC(t *testing.T) {
	tool := os.Getenv("SSTVERIFY")
	if tool == "" {
		t.Skip("set SSTVERIFY")
	}
	dirs, _ := filepath.Glob(filepath.Join(tool, "../../fixtures/cassandra/legacy-sstables/nc/legacy_tables/*"))
	n := 0
	for _, d := range dirs {
		n += crossCheck(t, d)
	}
	t.Logf("nc: %d tables, %d partitions identical", len(dirs), n)
}
