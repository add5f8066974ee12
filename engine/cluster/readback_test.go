package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/sstable"
)

// readBack reads the SSTables the cluster wrote with the engine's SSTable
// reader, turns what they hold back into the generator's model, merges
// the chosen replicas and reads the rows out: what a correct engine must
// produce. It checks that the SSTables say exactly what the truth assumes.
func readBack(t *testing.T, c *Cluster, files []SSTableFiles, q Query) *Table {
	t.Helper()
	rd, err := c.queryRound(q)
	if err != nil {
		t.Fatal(err)
	}
	var tb *table
	ti := -1
	for i, x := range c.tables {
		if x.name == q.Table {
			tb, ti = x, i
		}
	}
	byKey := map[string]int32{}
	for i, p := range tb.parts {
		byKey[string(p.key)] = int32(i)
	}
	// node -> partition -> state, from the SSTables of its snapshot
	held := map[string]map[int32]*partState{}
	var ringNodes []*Node
	for _, s := range rd.snaps {
		ringNodes = append(ringNodes, s.node)
		src := s
		if r, ok := q.NodeRounds[s.node.Name]; ok {
			src = c.rounds[r-1].snap(s.node.Name)
		}
		parts := map[int32]*partState{}
		for _, x := range src.sstables {
			if x.table != tb {
				continue
			}
			var path string
			for _, f := range files {
				if f.Node == s.node.Name && f.Table == tb.name && f.Name == x.name() {
					path = filepath.Dir(f.Files[0])
				}
			}
			if path == "" {
				t.Fatalf("no files for %s %s", s.node.Name, x.name())
			}
			readSSTable(t, filepath.Join(path, x.name()+"-Data.db"), tb, byKey, parts)
		}
		held[s.node.Name] = parts
	}
	_ = ti
	nodes := map[string]*Node{}
	for _, n := range ringNodes {
		nodes[n.Name] = n
	}
	local := q.LocalDC
	if local == "" {
		local = defaultLocalDC(ringNodes, c.replication)
	}
	ref := q.TTLReference
	if ref.IsZero() {
		ref = rd.snapshotTime()
	}
	out := &Table{}
	cols := outputColumns(tb, rd.schema)
	for _, p := range sortedParts(tb) {
		reps := placeReplicas(ringNodes, c.replication, p.token)
		chosen, err := chooseReplicas(nodes, reps, c.replication, q.Consistency, local)
		if err != nil {
			t.Fatal(err)
		}
		ps := newPart()
		for _, n := range chosen {
			if x := held[n][byKey[string(p.key)]]; x != nil {
				ps.merge(x)
			}
		}
		out.Rows = append(out.Rows, evaluate(ps, tb, p, cols, ref.Unix())...)
	}
	return out
}

func sortedParts(t *table) []*partition {
	tr := &Table{}
	_ = tr
	out := append([]*partition(nil), t.parts...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].token < out[j-1].token || (out[j].token == out[j-1].token && string(out[j].key) < string(out[j-1].key))); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func readSSTable(t *testing.T, path string, tb *table, byKey map[string]int32, parts map[int32]*partState) {
	t.Helper()
	ctx := context.Background()
	r, err := sstable.OpenPath(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sc, err := r.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	for sc.NextPartition() {
		p := sc.Partition()
		pi, ok := byKey[string(p.Key)]
		if !ok {
			t.Fatalf("%s: unknown partition %x", path, p.Key)
		}
		ps := parts[pi]
		if ps == nil {
			ps = newPart()
			parts[pi] = ps
		}
		if !p.Deletion.IsLive() {
			ps.del = maxDel(ps.del, deletion{p.Deletion.MarkedForDeleteAt, p.Deletion.LocalDeletionTime})
		}
		if p.Static != nil && !p.Static.IsEmpty() {
			st := newPart()
			st.static = rowFrom(t, tb, p.Static, nil)
			ps.merge(st)
		}
		var open *rangeTomb
		for sc.Next() {
			u := sc.Unfiltered()
			if u.Kind == sstable.UnfilteredRow {
				x := newPart()
				vals := decodeCK(t, tb, u.Row.Clustering)
				r := rowFrom(t, tb, &u.Row, vals)
				x.rows[ckKey(r.ckb)] = r
				ps.merge(x)
				continue
			}
			m := u.Marker
			vals := decodeCK(t, tb, m.Bound.Values)
			b := bound{vals: vals, b: cloneBytes(m.Bound.Values)}
			k := m.Bound.Kind
			if k.IsEnd() {
				if open == nil {
					t.Fatalf("%s: end marker without start", path)
				}
				e := b
				e.incl = k == sstable.KindInclEndBound || k == sstable.KindInclEndExclStartBoundary
				open.end = e
				ps.addRange(*open)
				open = nil
			}
			if k.IsStart() {
				s := b
				s.incl = k == sstable.KindInclStartBound || k == sstable.KindExclEndInclStartBoundary
				open = &rangeTomb{start: s, del: deletion{m.Open.MarkedForDeleteAt, m.Open.LocalDeletionTime}}
			}
		}
		if open != nil {
			t.Fatalf("%s: unclosed range tombstone", path)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func cloneBytes(c [][]byte) [][]byte {
	out := make([][]byte, len(c))
	for i, b := range c {
		out[i] = append([]byte{}, b...)
	}
	return out
}

func decodeCK(t *testing.T, tb *table, c sstable.Clustering) []any {
	var out []any
	for i, b := range c {
		v, err := cql.Decode(tb.ck[i].t, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func rowFrom(t *testing.T, tb *table, row *sstable.Row, ck []any) *rowState {
	r := newRow(ck, cloneBytes(row.Clustering))
	if !row.Liveness.IsEmpty() {
		r.lv = liveness{ts: row.Liveness.Timestamp, ttl: row.Liveness.TTL, exp: row.Liveness.LocalExpirationTime}
	}
	if !row.Deletion.IsLive() {
		r.del = deletion{row.Deletion.MarkedForDeleteAt, row.Deletion.LocalDeletionTime}
	}
	for _, cd := range row.Columns {
		col := tb.column(cd.Column.Name)
		if col == nil {
			t.Fatalf("unknown column %s", cd.Column.Name)
		}
		if !cd.Deletion.IsLive() {
			r.deleteComplex(col.idx, deletion{cd.Deletion.MarkedForDeleteAt, cd.Deletion.LocalDeletionTime})
		}
		for _, sc := range cd.Cells {
			x := &cell{ts: sc.Timestamp, ttl: sc.TTL, ldt: sc.LocalDeletionTime, val: append([]byte{}, sc.Value...)}
			x.tomb = sc.LocalDeletionTime != sstable.NoDeletionTime && sc.TTL == 0
			if len(sc.Path) > 0 {
				x.path = append([]byte{}, sc.Path...)
			}
			if !x.tomb {
				switch {
				case col.t.Kind == cql.KindCounter:
					x.shards = parseContext(t, sc.Value)
					x.val = nil
				case col.t.Kind == cql.KindList:
					x.pgo = int64(uuidTime(x.path))
					x.gov = mustDecode(t, col.t.Elems[0], x.val)
				case col.t.Kind == cql.KindSet:
					x.pgo = mustDecode(t, col.t.Elems[0], x.path)
				case col.t.Kind == cql.KindMap:
					x.pgo = mustDecode(t, col.t.Elems[0], x.path)
					x.gov = mustDecode(t, col.t.Elems[1], x.val)
				default:
					x.gov = mustDecode(t, col.t, x.val)
				}
			}
			r.putCell(col.idx, x)
		}
	}
	return r
}

func mustDecode(t *testing.T, ty *cql.Type, b []byte) any {
	v, err := cql.Decode(ty, b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func uuidTime(u []byte) uint64 {
	return uint64(binary.BigEndian.Uint16(u[6:])&0x0fff)<<48 | uint64(binary.BigEndian.Uint16(u[4:]))<<32 | uint64(binary.BigEndian.Uint32(u[0:]))
}

func parseContext(t *testing.T, b []byte) []shard {
	n := int(binary.BigEndian.Uint16(b))
	body := b[2+2*n:]
	var out []shard
	for len(body) >= 32 {
		var s shard
		copy(s.id[:], body)
		s.clock = int64(binary.BigEndian.Uint64(body[16:]))
		s.count = int64(binary.BigEndian.Uint64(body[24:]))
		out = append(out, s)
		body = body[32:]
	}
	if len(out) == 0 {
		t.Fatalf("empty counter context %x", b)
	}
	return out
}

func compareTables(t *testing.T, label string, want, got *Table) {
	t.Helper()
	if len(want.Rows) != len(got.Rows) {
		t.Errorf("%s: %d rows, want %d", label, len(got.Rows), len(want.Rows))
	}
	for i := 0; i < len(want.Rows) && i < len(got.Rows); i++ {
		if !reflect.DeepEqual(want.Rows[i].Values, got.Rows[i].Values) {
			t.Errorf("%s: row %d:\n got %v\nwant %v", label, i, got.Rows[i].Values, want.Rows[i].Values)
			return
		}
	}
}

// TestSSTablesSayWhatTheTruthAssumes: for random clusters, reading the
// written SSTables back through engine/sstable and merging the chosen
// replicas gives exactly the truth, at every consistency level.
func TestSSTablesSayWhatTheTruthAssumes(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			opts := RandomOptions(seed)
			if seed == 1 {
				opts = Options{}
			}
			c, err := Random(seed, opts)
			if err != nil {
				t.Fatal(err)
			}
			files, err := c.WriteSSTables(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range c.Tables() {
				for _, cl := range []ring.Consistency{ring.One, ring.LocalQuorum, ring.Quorum, ring.All} {
					for r := 1; r <= len(c.rounds); r++ {
						q := Query{Table: tb, Round: r, Consistency: cl}
						want, err := c.Truth(q)
						if err != nil {
							t.Fatal(err)
						}
						got := readBack(t, c, files, q)
						compareTables(t, fmt.Sprintf("%s %v round %d", tb, cl, r), want, got)
					}
				}
			}
		})
	}
}
