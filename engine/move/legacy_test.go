package move_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/ring"
)

// The real Cassandra fixtures (engine/sstable/testdata/legacy-sstables,
// copied from apache/cassandra; ByteOrderedPartitioner) uploaded as a
// one-node Medusa backup: the engine reads every non-counter and counter
// table, of every version, and its output equals the rows of the
// independent Python reader's goldens next to the fixtures.
const legacyDir = "../sstable/testdata/legacy-sstables"

type goldenPart struct {
	Key  string `json:"key"`
	Rows []struct {
		Clustering []string                   `json:"clustering"`
		Cells      map[string]json.RawMessage `json:"cells"`
	} `json:"rows"`
	Static *struct {
		Cells map[string]json.RawMessage `json:"cells"`
	} `json:"static"`
}

type goldenCell struct {
	Value *string `json:"value"`
	LDT   *int64  `json:"ldt"`
}

func legacyExpected(t *testing.T, path string, clust, counter bool) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(z)
	sc.Buffer(nil, 64<<20)
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	val := func(raw json.RawMessage) (string, bool) {
		var c goldenCell
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if c.Value == nil || c.LDT != nil {
			return "", false
		}
		b := unhex(*c.Value)
		if counter {
			n, err := cql.CounterTotal(b)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(n), true
		}
		return string(b), true
	}
	var out []string
	for sc.Scan() {
		var p goldenPart
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		pk := string(unhex(p.Key))
		line := func(ck, v string) string {
			if clust {
				return fmt.Sprintf("ck=%s;pk=%s;val=%s;", ck, pk, v)
			}
			return fmt.Sprintf("pk=%s;val=%s;", pk, v)
		}
		for _, r := range p.Rows {
			v, ok := val(r.Cells["val"])
			if !ok {
				continue
			}
			ck := ""
			if len(r.Clustering) > 0 {
				ck = string(unhex(r.Clustering[0]))
			}
			out = append(out, line(ck, v))
		}
		if len(p.Rows) == 0 && p.Static != nil {
			if v, ok := val(p.Static.Cells["val"]); ok {
				out = append(out, line("", v))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestLegacyFixturesBackup(t *testing.T) {
	ctx := context.Background()
	dirs, err := filepath.Glob(filepath.Join(legacyDir, "*", "legacy_tables", "legacy_*"))
	if err != nil {
		t.Fatal(err)
	}
	var ddl strings.Builder
	ddl.WriteString("CREATE KEYSPACE legacy_tables WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'} AND durable_writes = true;\n")
	var up backup.NodeUpload
	up.Node = ring.Node{Name: "cassandra1.example.com", DC: "datacenter1", Rack: "rack1", Tokens: []int64{0}}
	up.Time = snap
	type tableCase struct {
		name, golden   string
		clust, counter bool
	}
	var cases []tableCase
	for _, d := range dirs {
		name := filepath.Base(d)
		if strings.HasSuffix(name, ".gz") || strings.Contains(name, "inaccurate") {
			continue
		}
		tc := tableCase{name: name, golden: d + ".dump.jsonl.gz", clust: strings.Contains(name, "_clust"), counter: strings.Contains(name, "_counter")}
		typ := "text"
		if tc.counter {
			typ = "counter"
		}
		if tc.clust {
			fmt.Fprintf(&ddl, "CREATE TABLE legacy_tables.%s (pk text, ck text, val %s, PRIMARY KEY (pk, ck))", name, typ)
		} else {
			fmt.Fprintf(&ddl, "CREATE TABLE legacy_tables.%s (pk text PRIMARY KEY, val %s)", name, typ)
		}
		if strings.HasSuffix(name, "_compact") {
			ddl.WriteString(" WITH COMPACT STORAGE")
		}
		ddl.WriteString(";\n")
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			up.Files = append(up.Files, backup.File{Keyspace: "legacy_tables", Table: name, Name: e.Name(), Data: b})
		}
		cases = append(cases, tc)
	}
	if len(cases) < 60 {
		t.Fatalf("%d fixture tables found under %s", len(cases), legacyDir)
	}
	dir := t.TempDir()
	w := &backup.MedusaWriter{Store: file.New(dir, objstore.Settings{}), Schema: ddl.String(), Ring: []ring.Node{up.Node}, ServerVersion: "4.1.3"}
	if err := w.WriteNode(ctx, "legacy", up); err != nil {
		t.Fatal(err)
	}
	cat := openLake(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := move.Run(ctx, move.Job{Store: "file://" + dir, Keyspace: "legacy_tables", Table: tc.name, Parallelism: 1},
				move.Destination{Catalog: cat, Table: ref(t, "legacy."+tc.name)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := legacyExpected(t, tc.golden, tc.clust, tc.counter)
			if len(want) == 0 {
				t.Fatalf("golden %s has no live rows", tc.golden)
			}
			sameRows(t, tc.name, canonical(t, cat, "legacy."+tc.name, nil), want)
			if res.Rows != int64(len(want)) {
				t.Errorf("%d rows written, want %d", res.Rows, len(want))
			}
		})
	}
}
