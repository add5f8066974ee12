package move_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/systemschema"
	"github.com/cassmove/shadow/engine/token"
)

// A small simulated cluster for the engine's own tests: row-level writes
// (upserts with optional TTL, row deletions) sent to a random subset of
// each key's replicas, so replicas disagree. The expected table is computed
// from a model of each replica's last write per row, independently of the
// SSTable reader and the merge.

const genDDL = `CREATE KEYSPACE ks WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;
CREATE TABLE ks.t (pk text, ck int, v1 text, v2 bigint, v3 double, PRIMARY KEY (pk, ck)) WITH ID = 0f6bcf40-ca5e-11ef-9d3a-2f7a4e1c0b11;
`

type write struct {
	ts    int64 // µs
	ttl   int32 // seconds; 0 none
	del   bool
	v1    string
	v2    int64
	v3    float64
	local int64 // seconds: the write's local time (TTL expiry base)
}

type rowKey struct {
	pk string
	ck int
}

type genCluster struct {
	schema *schema.Schema
	nodes  []ring.Node
	ring   *ring.Ring
	rep    ring.Replication
	// per node, per row: the writes it received (several flushes)
	data  map[string]map[rowKey][]write
	snap  time.Time
	flush map[string]int // flushes per node
}

func newGen(t testing.TB, nodes, vnodes, partitions, rowsPer int, seed uint64, snap time.Time) *genCluster {
	t.Helper()
	sc, err := schema.Parse("gen.cql", genDDL)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	g := &genCluster{schema: sc, data: map[string]map[rowKey][]write{}, snap: snap, flush: map[string]int{}}
	used := map[int64]bool{}
	for i := range nodes {
		n := ring.Node{Name: fmt.Sprintf("node%d.dc1", i+1), DC: "dc1", Rack: fmt.Sprintf("r%d", i%3+1)}
		for range vnodes {
			tk := int64(r.Uint64())
			for used[tk] {
				tk = int64(r.Uint64())
			}
			used[tk] = true
			n.Tokens = append(n.Tokens, tk)
		}
		g.nodes = append(g.nodes, n)
		g.data[n.Name] = map[rowKey][]write{}
	}
	if g.ring, err = ring.New(g.nodes); err != nil {
		t.Fatal(err)
	}
	g.rep = ring.Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"dc1": 3}}
	sets, err := g.ring.Replicas(g.rep)
	if err != nil {
		t.Fatal(err)
	}
	base := snap.Add(-48 * time.Hour).UnixMicro()
	for p := range partitions {
		pk := fmt.Sprintf("p%05d", p)
		key, _ := (&sstable.Schema{PartitionKey: []sstable.ColumnDef{{Name: "pk", Type: textType}}}).EncodeKey(pk)
		tk := token.Murmur3Token(key)
		var reps []string
		for _, s := range sets {
			if s.Range.Contains(tk) {
				reps = s.Replicas
				break
			}
		}
		for ck := range rowsPer {
			k := rowKey{pk, ck}
			for v := range 1 + r.IntN(3) {
				w := write{ts: base + int64(r.IntN(40*3600))*1_000_000 + int64(v), v1: fmt.Sprintf("v-%d-%d", ck, r.IntN(1000)), v2: r.Int64N(1 << 40), v3: r.NormFloat64()}
				w.local = w.ts / 1_000_000
				switch x := r.IntN(20); {
				case x == 0:
					w.del = true
				case x == 1:
					w.ttl = int32(3600 * (1 + r.IntN(96))) // some expire before the snapshot, some after
				}
				// Every write reaches one replica at least, usually all.
				got := 0
				for i, n := range reps {
					if r.IntN(10) == 0 && !(i == len(reps)-1 && got == 0) {
						continue // this replica missed it
					}
					got++
					g.data[n][k] = append(g.data[n][k], w)
				}
			}
		}
	}
	return g
}

var textType = cql.Simple(cql.KindText)

// expected is the logical table read at consistency cl: for each row, the
// newest write among the chosen replicas of its token, live at nowSec.
func (g *genCluster) expected(t testing.TB, cl ring.Consistency, nowSec int64, prev map[string]map[rowKey][]write) []string {
	t.Helper()
	sets, err := g.ring.Replicas(g.rep)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[rowKey]bool{}
	for _, m := range g.data {
		for k := range m {
			keys[k] = true
		}
	}
	var out []string
	for k := range keys {
		key, _ := (&sstable.Schema{PartitionKey: []sstable.ColumnDef{{Name: "pk", Type: textType}}}).EncodeKey(k.pk)
		tk := token.Murmur3Token(key)
		var chosen []string
		for _, s := range sets {
			if s.Range.Contains(tk) {
				if chosen, err = g.ring.Choose(s, g.rep, cl, g.ring.LocalDC(g.rep)); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		var best *write
		for _, n := range chosen {
			src := g.data[n]
			if p, ok := prev[n]; ok {
				src = p
			}
			for i := range src[k] {
				w := &src[k][i]
				if best == nil || w.ts > best.ts || (w.ts == best.ts && w.del && !best.del) {
					best = w
				}
			}
		}
		if best == nil || best.del || (best.ttl > 0 && nowSec >= best.local+int64(best.ttl)) {
			continue
		}
		out = append(out, fmt.Sprintf("%s|%d|%s|%d|%v", k.pk, k.ck, best.v1, best.v2, best.v3))
	}
	sort.Strings(out)
	return out
}

// sstables writes each node's data as two flushes (writes split by
// timestamp order) into dir/<node>/ and returns the files per node.
func (g *genCluster) sstables(t testing.TB, dir string, data map[string]map[rowKey][]write) map[string][]backup.File {
	t.Helper()
	ks := g.schema.Keyspace("ks")
	ct, err := compaction.NewTable(ks, ks.Table("t"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]backup.File{}
	for node, rowsOf := range data {
		b1, _ := sstable.NewBuilder(ct.SSTableSchema())
		b2, _ := sstable.NewBuilder(ct.SSTableSchema())
		for k, ws := range rowsOf {
			for i, w := range ws {
				b := b1
				if i%2 == 1 {
					b = b2
				}
				row := b.Partition(k.pk).Row(k.ck)
				if w.del {
					row.Delete(w.ts)
					continue
				}
				row.Insert(w.ts, w.ttl).Set("v1", w.v1, w.ts, w.ttl).Set("v2", w.v2, w.ts, w.ttl).Set("v3", w.v3, w.ts, w.ttl)
			}
		}
		for gen, b := range []*sstable.Builder{b1, b2} {
			d := filepath.Join(dir, node, fmt.Sprint(gen))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			paths, err := b.WriteTo(d, &sstable.WriterOptions{Generation: gen + 1})
			if err != nil {
				t.Fatal(err)
			}
			out[node] = append(out[node], files(t, "ks", "t", "0f6bcf40ca5e11ef9d3a2f7a4e1c0b11", paths)...)
		}
	}
	return out
}

func files(t testing.TB, ks, table, id string, paths []string) []backup.File {
	t.Helper()
	var out []backup.File
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, backup.File{Keyspace: ks, Table: table, TableID: id, Name: filepath.Base(p), Data: b})
	}
	return out
}

// uploadMedusa uploads the cluster as one Medusa backup named name.
func (g *genCluster) uploadMedusa(t testing.TB, st objstore.Store, name string, at time.Time, data map[string]map[rowKey][]write) {
	t.Helper()
	ctx := context.Background()
	fs := g.sstables(t, t.TempDir(), data)
	w := &backup.MedusaWriter{Store: st, Schema: genDDL, Ring: g.nodes}
	for i, n := range g.nodes {
		if err := w.WriteNode(ctx, name, backup.NodeUpload{Node: n, Time: at.Add(time.Duration(i) * time.Minute), Files: fs[n.Name]}); err != nil {
			t.Fatal(err)
		}
	}
}

// medusaDir uploads the cluster as Medusa backup b1, taken at snap, to a
// new folder, and returns the folder (a file:// store).
func (g *genCluster) medusaDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	g.uploadMedusa(t, file.New(dir, objstore.Settings{}), "b1", snap, g.data)
	return dir
}

// dataFile is the first -Data.db file below root whose path contains node.
func dataFile(t testing.TB, root, node string) string {
	t.Helper()
	var found string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if found == "" && strings.Contains(p, node) && strings.HasSuffix(p, "-Data.db") {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no -Data.db file of %s below %s", node, root)
	}
	return found
}

// uploadPriam uploads the cluster (one token per node) as a Priam backup,
// with the schema as system_schema SSTables.
func (g *genCluster) uploadPriam(t testing.TB, st objstore.Store, app string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	fs := g.sstables(t, t.TempDir(), g.data)
	dir := t.TempDir()
	sys, err := systemschema.Write(dir, g.schema, at.Add(-72*time.Hour).UnixMicro(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var sysFiles []backup.File
	for tb, paths := range sys {
		sysFiles = append(sysFiles, files(t, systemschema.Keyspace, tb, "", paths)...)
	}
	w := &backup.PriamWriter{Store: st, App: app}
	for i, n := range g.nodes {
		if err := w.WriteNode(ctx, backup.NodeUpload{Node: n, Time: at.Add(time.Duration(i) * time.Minute), Files: append(fs[n.Name], sysFiles...)}); err != nil {
			t.Fatal(err)
		}
	}
}

// readBatches loads the Iceberg table name of cat and passes each of its
// record batches to fn.
func readBatches(t testing.TB, cat *lake.Catalog, name string, fn func(rec arrow.RecordBatch)) {
	t.Helper()
	ctx := context.Background()
	tbl, _, err := cat.LoadTable(ctx, ref(t, name))
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	for tr.Next() {
		fn(tr.RecordBatch())
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
}

// readTable reads an Iceberg table back as sorted "pk|ck|v1|v2|v3" lines.
func readTable(t testing.TB, cat *lake.Catalog, name string) []string {
	t.Helper()
	var out []string
	readBatches(t, cat, name, func(rec arrow.RecordBatch) {
		col := func(c string) arrow.Array {
			idx := rec.Schema().FieldIndices(c)
			if len(idx) != 1 {
				t.Fatalf("column %s missing from %s", c, rec.Schema())
			}
			return rec.Column(idx[0])
		}
		pk, ck, v1, v2, v3 := col("pk").(*array.String), col("ck").(*array.Int32), col("v1").(*array.String), col("v2").(*array.Int64), col("v3").(*array.Float64)
		for i := range int(rec.NumRows()) {
			out = append(out, fmt.Sprintf("%s|%d|%s|%d|%v", pk.Value(i), ck.Value(i), v1.Value(i), v2.Value(i), v3.Value(i)))
		}
	})
	sort.Strings(out)
	return out
}

// multisetDiff returns the lines only in a and only in b (EXCEPT ALL), both
// sorted.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i], b[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			onlyA = append(onlyA, a[i])
			i++
		default:
			onlyB = append(onlyB, b[j])
			j++
		}
	}
	return append(onlyA, a[i:]...), append(onlyB, b[j:]...)
}

func sameRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	og, ow := multisetDiff(got, want)
	if len(og) > 0 || len(ow) > 0 {
		t.Errorf("%s: %d rows, want %d; %d only in the engine's output (e.g. %v), %d only expected (e.g. %v)",
			what, len(got), len(want), len(og), head(og), len(ow), head(ow))
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }
