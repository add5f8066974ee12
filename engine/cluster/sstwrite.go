package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/sstable"
)

// Flushing: an SSTable is a slice of one node's log for one table. Its
// writes are merged the way a memtable merges them (model.go) and written
// with the engine's SSTable writer, in token and clustering order.

// memtable merges an SSTable's writes into partitions.
func (c *Cluster) memtable(s *sst) map[int32]*partState {
	t := s.table
	ti := slices.Index(c.tables, t)
	parts := map[int32]*partState{}
	for _, d := range c.logs[s.node.index][ti].log[s.from:s.to] {
		m := c.muts[d.mut]
		ps := parts[m.part]
		if ps == nil {
			ps = newPart()
			parts[m.part] = ps
		}
		applyMutation(ps, t, t.parts[m.part], m, d.local)
	}
	return parts
}

// writeSST writes one SSTable into dir and returns its files.
func (c *Cluster) writeSST(dir string, s *sst) ([]string, error) {
	t := s.table
	w, err := sstable.NewWriter(dir, t.sstableSchema(s.schema), &sstable.WriterOptions{Version: s.version, Generation: s.gen, Compression: s.compression})
	if err != nil {
		return nil, fmt.Errorf("sstable %s of %s.%s on %s: %w", s.name(), t.ks, t.name, s.node.Name, err)
	}
	cmp := w.Header().Comparator()
	parts := c.memtable(s)
	keys := make([]int32, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := t.parts[keys[i]], t.parts[keys[j]]
		if a.token != b.token {
			return a.token < b.token
		}
		return bytes.Compare(a.key, b.key) < 0
	})
	fail := func(err error) ([]string, error) {
		w.Abort()
		return nil, fmt.Errorf("sstable %s of %s.%s on %s: %w", s.name(), t.ks, t.name, s.node.Name, err)
	}
	for _, k := range keys {
		ps := parts[k]
		if err := w.BeginPartition(t.parts[k].key, toDeletion(ps.del)); err != nil {
			return fail(err)
		}
		if ps.static != nil && len(ps.static.cols) > 0 {
			row := toRow(ps.static, t, true)
			if err := w.WriteStatic(&row); err != nil {
				return fail(err)
			}
		}
		var us []sstable.Unfiltered
		for _, r := range ps.rows {
			us = append(us, sstable.Unfiltered{Kind: sstable.UnfilteredRow, Row: toRow(r, t, false)})
		}
		for _, m := range markers(cmp, ps.rts) {
			us = append(us, sstable.Unfiltered{Kind: sstable.UnfilteredMarker, Marker: m})
		}
		slices.SortStableFunc(us, func(a, b sstable.Unfiltered) int { return cmp.CompareUnfiltered(&a, &b) })
		for i := range us {
			if err := w.Write(&us[i]); err != nil {
				return fail(err)
			}
		}
		if err := w.EndPartition(); err != nil {
			return fail(err)
		}
	}
	files, err := w.Close()
	if err != nil {
		return nil, fmt.Errorf("sstable %s of %s.%s on %s: %w", s.name(), t.ks, t.name, s.node.Name, err)
	}
	return files, nil
}

func toDeletion(d deletion) sstable.DeletionTime {
	if d.isLive() {
		return sstable.Live
	}
	return sstable.DeletionTime{MarkedForDeleteAt: d.at, LocalDeletionTime: d.ldt}
}

func toRow(r *rowState, t *table, static bool) sstable.Row {
	row := sstable.Row{Static: static, Deletion: toDeletion(r.del), Liveness: sstable.EmptyLiveness}
	if !static {
		row.Clustering = sstable.Clustering(r.ckb)
	}
	if !r.lv.empty() {
		row.Liveness = sstable.LivenessInfo{Timestamp: r.lv.ts, TTL: r.lv.ttl, LocalExpirationTime: r.lv.exp}
	}
	idx := make([]int, 0, len(r.cols))
	for i := range r.cols {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		col, cs := t.cols[i], r.cols[i]
		cd := sstable.ColumnData{Column: &sstable.Column{Name: col.name, Type: col.t, Static: static}, Deletion: toDeletion(cs.del)}
		for _, x := range cs.cells {
			cd.Cells = append(cd.Cells, toCell(x))
		}
		if col.t.MultiCell() {
			pt := pathType(col.t)
			slices.SortFunc(cd.Cells, func(a, b sstable.Cell) int { return cql.Compare(pt, a.Path, b.Path) })
			if len(cd.Cells) == 0 && cs.del.isLive() {
				continue
			}
		} else if len(cd.Cells) == 0 {
			continue
		}
		row.Columns = append(row.Columns, cd)
	}
	return row
}

func pathType(t *cql.Type) *cql.Type {
	if t.Kind == cql.KindList {
		return cql.Simple(cql.KindTimeuuid)
	}
	return t.Elems[0]
}

func toCell(x *cell) sstable.Cell {
	c := sstable.Cell{Timestamp: x.ts, TTL: x.ttl, LocalDeletionTime: x.ldt, Path: x.path, Value: x.val}
	if x.counter() {
		c.Value = counterContext(x.shards)
	}
	if c.Value == nil {
		c.Value = []byte{}
	}
	return c
}

// counterContext serializes global shards: int16 header length, one int16
// index per shard (Short.MIN_VALUE + i marks a global shard), then the
// shards (16-byte counter id, int64 clock, int64 count), sorted by id.
func counterContext(shards []shard) []byte {
	b := make([]byte, 0, 2+2*len(shards)+32*len(shards))
	b = binary.BigEndian.AppendUint16(b, uint16(len(shards)))
	for i := range shards {
		b = binary.BigEndian.AppendUint16(b, uint16(0x8000+i))
	}
	for _, s := range shards {
		b = append(b, s.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(s.clock))
		b = binary.BigEndian.AppendUint64(b, uint64(s.count))
	}
	return b
}

// Kinds that sort before the clustering of their values (comparison 0 in
// ClusteringPrefix.Kind); the others sort after it.
func beforeClustering(k sstable.BoundKind) bool {
	return k == sstable.KindExclEndBound || k == sstable.KindInclStartBound || k == sstable.KindExclEndInclStartBoundary
}

func startBound(b bound) sstable.Bound {
	if len(b.b) > 0 && !b.incl {
		return sstable.Bound{Kind: sstable.KindExclStartBound, Values: sstable.Clustering(b.b)}
	}
	return sstable.Bound{Kind: sstable.KindInclStartBound, Values: sstable.Clustering(b.b)}
}

func endBound(b bound) sstable.Bound {
	if len(b.b) > 0 && !b.incl {
		return sstable.Bound{Kind: sstable.KindExclEndBound, Values: sstable.Clustering(b.b)}
	}
	return sstable.Bound{Kind: sstable.KindInclEndBound, Values: sstable.Clustering(b.b)}
}

// markers turns possibly overlapping range deletions into the bounds and
// boundaries Cassandra stores: at each bound the deletion in force (the
// one superseding the others) may change.
func markers(cmp sstable.Comparator, rts []rangeTomb) []sstable.RangeTombstoneMarker {
	if len(rts) == 0 {
		return nil
	}
	type span struct {
		s, e sstable.Bound
		d    deletion
	}
	var spans []span
	var pts []sstable.Bound
	for _, rt := range rts {
		s, e := startBound(rt.start), endBound(rt.end)
		spans = append(spans, span{s, e, rt.del})
		pts = append(pts, s, e)
	}
	slices.SortStableFunc(pts, cmp.CompareBounds)
	pts = slices.CompactFunc(pts, func(a, b sstable.Bound) bool { return cmp.CompareBounds(a, b) == 0 })
	after := func(x sstable.Bound) deletion {
		d := liveDel
		for _, sp := range spans {
			if cmp.CompareBounds(sp.s, x) <= 0 && cmp.CompareBounds(x, sp.e) < 0 {
				d = maxDel(d, sp.d)
			}
		}
		return d
	}
	var out []sstable.RangeTombstoneMarker
	cur := liveDel
	for _, x := range pts {
		nd := after(x)
		if nd == cur {
			continue
		}
		before := beforeClustering(x.Kind)
		var k sstable.BoundKind
		switch {
		case cur.isLive() && before:
			k = sstable.KindInclStartBound
		case cur.isLive():
			k = sstable.KindExclStartBound
		case nd.isLive() && before:
			k = sstable.KindExclEndBound
		case nd.isLive():
			k = sstable.KindInclEndBound
		case before:
			k = sstable.KindExclEndInclStartBoundary
		default:
			k = sstable.KindInclEndExclStartBoundary
		}
		out = append(out, sstable.RangeTombstoneMarker{Bound: sstable.Bound{Kind: k, Values: x.Values}, Close: toDeletion(cur), Open: toDeletion(nd)})
		cur = nd
	}
	return out
}

// SSTableFiles is one SSTable written out by WriteSSTables.
type SSTableFiles struct {
	Node     string
	Keyspace string
	Table    string
	Name     string // e.g. nb-3-big
	Files    []string
	// Round is the first backup round whose snapshot holds it (0: none).
	Round int
}

// WriteSSTables writes every SSTable any node ever flushed under
// dir/<node>/<keyspace>/<table>-<id>/ and lists them.
func (c *Cluster) WriteSSTables(ctx context.Context, dir string) ([]SSTableFiles, error) {
	var all []*sst
	for _, nts := range c.logs {
		for _, nt := range nts {
			all = append(all, nt.sstables...)
		}
	}
	cache := c.cacheFor(dir, true)
	out := make([]SSTableFiles, len(all))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, s := range all {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			files, err := cache.files(s)
			if err != nil {
				return err
			}
			out[i] = SSTableFiles{Node: s.node.Name, Keyspace: s.table.ks, Table: s.table.name, Name: s.name(), Files: files, Round: c.firstRound(s)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Cluster) firstRound(s *sst) int {
	for _, rd := range c.rounds {
		if sn := rd.snap(s.node.Name); sn != nil && slices.Contains(sn.sstables, s) {
			return rd.index
		}
	}
	return 0
}
