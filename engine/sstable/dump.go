package sstable

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/cql"
)

// DumpOptions select the output of Dump, after Cassandra's sstabledump.
type DumpOptions struct {
	Lines         bool      // -l: one JSON object per partition per line
	RawTimestamps bool      // -t: times as raw numbers instead of ISO-8601
	Debug         bool      // -d: the compact one-line-per-row text form
	Now           time.Time // decides "expired" (default time.Now())
}

// jnode is an ordered JSON tree that renders the way sstabledump's Jackson
// pretty printer does: objects and arrays on their own lines unless compact.
type jnode struct {
	obj     bool
	arr     bool
	compact bool
	keys    []string
	vals    []*jnode
	raw     string
}

func jobj(compact bool) *jnode          { return &jnode{obj: true, compact: compact} }
func jarr(compact bool) *jnode          { return &jnode{arr: true, compact: compact} }
func jraw(s string) *jnode              { return &jnode{raw: s} }
func jstr(s string) *jnode              { return &jnode{raw: strconv.Quote(s)} }
func jnum(v int64) *jnode               { return &jnode{raw: strconv.FormatInt(v, 10)} }
func (n *jnode) set(k string, v *jnode) { n.keys, n.vals = append(n.keys, k), append(n.vals, v) }
func (n *jnode) add(v *jnode)           { n.vals = append(n.vals, v) }

func (n *jnode) write(w *bufio.Writer, indent int, pretty bool) {
	if !n.obj && !n.arr {
		w.WriteString(n.raw)
		return
	}
	open, close := "{", "}"
	if n.arr {
		open, close = "[", "]"
	}
	if len(n.vals) == 0 {
		w.WriteString(open + " " + close)
		return
	}
	multi := pretty && !n.compact
	w.WriteString(open)
	for i, v := range n.vals {
		if i > 0 {
			w.WriteByte(',')
		}
		switch {
		case multi:
			w.WriteString("\n" + strings.Repeat("  ", indent+1))
		case pretty:
			w.WriteByte(' ')
		}
		if n.obj {
			w.WriteString(strconv.Quote(n.keys[i]))
			if pretty {
				w.WriteString(" : ")
			} else {
				w.WriteByte(':')
			}
		}
		v.write(w, indent+1, pretty)
	}
	switch {
	case multi:
		w.WriteString("\n" + strings.Repeat("  ", indent))
	case pretty:
		w.WriteByte(' ')
	}
	w.WriteString(close)
}

// JavaInstant renders seconds and nanoseconds as java.time.Instant.toString
// does: fractions in groups of 3 digits, none when zero.
func JavaInstant(sec int64, nanos int64) string {
	t := time.Unix(sec, nanos).UTC()
	s := t.Format("2006-01-02T15:04:05")
	switch n := t.Nanosecond(); {
	case n == 0:
	case n%1e6 == 0:
		s += fmt.Sprintf(".%03d", n/1e6)
	case n%1e3 == 0:
		s += fmt.Sprintf(".%06d", n/1e3)
	default:
		s += fmt.Sprintf(".%09d", n)
	}
	return s + "Z"
}

type dumper struct {
	r    *Reader
	h    *Header
	opts DumpOptions
	now  int64
}

func (d *dumper) micros(ts int64) *jnode {
	if d.opts.RawTimestamps {
		return jstr(strconv.FormatInt(ts, 10))
	}
	return jstr(JavaInstant(floorDiv(ts, 1e6), (ts%1e6+1e6)%1e6*1e3))
}

func (d *dumper) seconds(s int64) *jnode {
	if d.opts.RawTimestamps {
		return jstr(strconv.FormatInt(s, 10))
	}
	return jstr(JavaInstant(s, 0))
}

func (d *dumper) deletion(del DeletionTime) *jnode {
	o := jobj(true)
	o.set("marked_deleted", d.micros(del.MarkedForDeleteAt))
	o.set("local_delete_time", d.seconds(del.LocalDeletionTime))
	return o
}

// keyStrings renders a partition key as sstabledump does: one string per
// key column.
func (h *Header) keyStrings(key []byte) []string {
	if h.KeyType.Kind == cql.KindComposite {
		comps, err := cql.SplitComposite(key)
		if err == nil && len(comps) <= len(h.KeyType.Elems) {
			out := make([]string, len(comps))
			for i, c := range comps {
				out[i] = cql.String(h.KeyType.Elems[i], c)
			}
			return out
		}
	}
	return []string{cql.String(h.KeyType, key)}
}

func (d *dumper) clustering(vals Clustering) *jnode {
	a := jarr(true)
	for i := range d.h.ClusteringTypes {
		switch {
		case i >= len(vals):
			a.add(jstr("*"))
		case vals[i] == nil:
			a.add(jraw("null"))
		default:
			a.add(jstr(cql.String(d.h.ClusteringTypes[i], vals[i])))
		}
	}
	return a
}

// cellValue renders a cell's value as JSON (counters as their total).
func cellValue(t *cql.Type, v []byte) string {
	if t.Kind == cql.KindCounter {
		if n, err := cql.CounterTotal(v); err == nil {
			return strconv.FormatInt(n, 10)
		}
	}
	return cql.JSON(t, v)
}

// pathString renders a complex cell's path and returns the element value type.
func pathString(t *cql.Type, path []byte) (string, *cql.Type) {
	switch t.Kind {
	case cql.KindList:
		return cql.String(cql.Simple(cql.KindTimeuuid), path), t.Elems[0]
	case cql.KindSet:
		return cql.String(t.Elems[0], path), cql.Simple(cql.KindEmpty)
	case cql.KindMap:
		return cql.String(t.Elems[0], path), t.Elems[1]
	case cql.KindUDT:
		if len(path) == 2 {
			if i := int(binary.BigEndian.Uint16(path)); i < len(t.Fields) {
				return t.Fields[i], t.Elems[i]
			}
		}
	}
	return fmt.Sprintf("0x%x", path), cql.Simple(cql.KindBlob)
}

func (d *dumper) cell(col *Column, c *Cell, live LivenessInfo) *jnode {
	o := jobj(true)
	o.set("name", jstr(col.Name))
	vt := col.Type
	if col.Complex() {
		p, t := pathString(col.Type, c.Path)
		o.set("path", jarr(true))
		o.vals[len(o.vals)-1].add(jstr(p))
		vt = t
	}
	if c.IsTombstone() {
		del := jobj(true)
		del.set("local_delete_time", d.seconds(c.LocalDeletionTime))
		o.set("deletion_info", del)
	} else if vt.Kind == cql.KindEmpty {
		o.set("value", jstr(""))
	} else {
		o.set("value", jraw(cellValue(vt, c.Value)))
	}
	if live.IsEmpty() || c.Timestamp != live.Timestamp {
		o.set("tstamp", d.micros(c.Timestamp))
	}
	if c.IsExpiring() && (live.IsEmpty() || c.TTL != live.TTL) {
		o.set("ttl", jnum(int64(c.TTL)))
		o.set("expires_at", d.seconds(c.LocalDeletionTime))
		o.set("expired", jraw(strconv.FormatBool(!c.IsLive(d.now))))
	}
	return o
}

func (d *dumper) row(r *Row, pos int64) *jnode {
	o := jobj(false)
	if r.Static {
		o.set("type", jstr("static_block"))
	} else {
		o.set("type", jstr("row"))
	}
	o.set("position", jnum(pos))
	if !r.Static && len(r.Clustering) > 0 {
		o.set("clustering", d.clustering(r.Clustering))
	}
	if !r.Liveness.IsEmpty() {
		l := jobj(true)
		l.set("tstamp", d.micros(r.Liveness.Timestamp))
		if r.Liveness.IsExpiring() {
			l.set("ttl", jnum(int64(r.Liveness.TTL)))
			l.set("expires_at", d.seconds(r.Liveness.LocalExpirationTime))
			l.set("expired", jraw(strconv.FormatBool(r.Liveness.LocalExpirationTime < d.now)))
		}
		o.set("liveness_info", l)
	}
	if !r.Deletion.IsLive() {
		o.set("deletion_info", d.deletion(r.Deletion))
	}
	cells := jarr(false)
	for _, cd := range r.Columns {
		if cd.Column.Complex() && !cd.Deletion.IsLive() {
			c := jobj(true)
			c.set("name", jstr(cd.Column.Name))
			c.set("deletion_info", d.deletion(cd.Deletion))
			cells.add(c)
		}
		for i := range cd.Cells {
			cells.add(d.cell(cd.Column, &cd.Cells[i], r.Liveness))
		}
	}
	o.set("cells", cells)
	return o
}

func (d *dumper) bound(b Bound, start bool, del DeletionTime) (string, *jnode) {
	o := jobj(false)
	incl := b.Kind == KindInclStartBound || b.Kind == KindInclEndBound ||
		(start && b.Kind == KindExclEndInclStartBoundary) || (!start && b.Kind == KindInclEndExclStartBoundary)
	if incl {
		o.set("type", jstr("inclusive"))
	} else {
		o.set("type", jstr("exclusive"))
	}
	if len(b.Values) > 0 {
		o.set("clustering", d.clustering(b.Values))
	}
	o.set("deletion_info", d.deletion(del))
	if start {
		return "start", o
	}
	return "end", o
}

func (d *dumper) marker(m *RangeTombstoneMarker) *jnode {
	o := jobj(false)
	if m.Bound.Kind.IsBoundary() {
		o.set("type", jstr("range_tombstone_boundary"))
		k, v := d.bound(m.Bound, true, m.Open)
		o.set(k, v)
		k, v = d.bound(m.Bound, false, m.Close)
		o.set(k, v)
		return o
	}
	o.set("type", jstr("range_tombstone_bound"))
	if m.Bound.Kind.IsStart() {
		o.set(d.bound(m.Bound, true, m.Open))
	} else {
		o.set(d.bound(m.Bound, false, m.Close))
	}
	return o
}

// Dump writes the SSTable in the shape of Cassandra's sstabledump
// (contracts §9): a JSON array of partitions, or one partition per line
// (Lines), or the compact debug text form (Debug).
func (r *Reader) Dump(ctx context.Context, out io.Writer, opts DumpOptions) error {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	d := &dumper{r: r, h: r.Header(), opts: opts, now: opts.Now.Unix()}
	sc, err := r.Scan(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	w := bufio.NewWriterSize(out, 64<<10)
	first := true
	if !opts.Lines && !opts.Debug {
		w.WriteString("[")
	}
	for sc.NextPartition() {
		p := sc.Partition()
		if opts.Debug {
			d.debugPartition(w, sc)
			continue
		}
		po := jobj(false)
		key := jarr(true)
		for _, k := range d.h.keyStrings(p.Key) {
			key.add(jstr(k))
		}
		part := jobj(false)
		part.set("key", key)
		part.set("position", jnum(p.Position))
		if !p.Deletion.IsLive() {
			part.set("deletion_info", d.deletion(p.Deletion))
		}
		po.set("partition", part)
		rows := jarr(false)
		if p.Static != nil && !p.Static.IsEmpty() {
			rows.add(d.row(p.Static, sc.staticPos))
		}
		for sc.Next() {
			u := sc.Unfiltered()
			if u.Kind == UnfilteredRow {
				rows.add(d.row(&u.Row, u.Position))
			} else {
				rows.add(d.marker(&u.Marker))
			}
		}
		po.set("rows", rows)
		if opts.Lines {
			po.write(w, 0, false)
			w.WriteByte('\n')
			continue
		}
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.WriteString("\n  ")
		po.write(w, 1, true)
	}
	if err := sc.Err(); err != nil {
		w.Flush()
		return err
	}
	if !opts.Lines && !opts.Debug {
		if !first {
			w.WriteString("\n")
		}
		w.WriteString("]\n")
	}
	return w.Flush()
}

func (d *dumper) debugTS(ts int64) string { return strconv.FormatInt(ts, 10) }

func (d *dumper) debugDeletion(del DeletionTime) string {
	return fmt.Sprintf("deletedAt=%d, localDeletion=%d", del.MarkedForDeleteAt, del.LocalDeletionTime)
}

func (d *dumper) debugRow(r *Row) string {
	var sb strings.Builder
	sb.WriteString("Row[info=[")
	if !r.Liveness.IsEmpty() {
		fmt.Fprintf(&sb, "ts=%d", r.Liveness.Timestamp)
		if r.Liveness.IsExpiring() {
			fmt.Fprintf(&sb, " ttl=%d, let=%d", r.Liveness.TTL, r.Liveness.LocalExpirationTime)
		}
	} else {
		sb.WriteString("ts=-9223372036854775808")
	}
	sb.WriteString("] ")
	if !r.Deletion.IsLive() {
		sb.WriteString("del=" + d.debugDeletion(r.Deletion) + " ")
	}
	sb.WriteString("]: ")
	if r.Static {
		sb.WriteString("STATIC")
	}
	for i, v := range r.Clustering {
		if i > 0 {
			sb.WriteString(", ")
		}
		if v == nil {
			sb.WriteString("null")
		} else {
			sb.WriteString(cql.String(d.h.ClusteringTypes[i], v))
		}
	}
	sb.WriteString(" | ")
	first := true
	for _, cd := range r.Columns {
		if cd.Column.Complex() && !cd.Deletion.IsLive() {
			if !first {
				sb.WriteString(", ")
			}
			first = false
			fmt.Fprintf(&sb, "del(%s)=%s", cd.Column.Name, d.debugDeletion(cd.Deletion))
		}
		for i := range cd.Cells {
			c := &cd.Cells[i]
			if !first {
				sb.WriteString(", ")
			}
			first = false
			sb.WriteString("[" + cd.Column.Name)
			vt := cd.Column.Type
			if cd.Column.Complex() {
				var p string
				p, vt = pathString(cd.Column.Type, c.Path)
				sb.WriteString("[" + p + "]")
			}
			switch {
			case c.IsTombstone():
				sb.WriteString("=<tombstone>")
			case vt.Kind == cql.KindCounter:
				n, _ := cql.CounterTotal(c.Value)
				fmt.Fprintf(&sb, "=%d", n)
			case vt.Kind != cql.KindEmpty:
				sb.WriteString("=" + cql.String(vt, c.Value))
			}
			fmt.Fprintf(&sb, " ts=%d", c.Timestamp)
			if c.IsTombstone() {
				fmt.Fprintf(&sb, " ldt=%d", c.LocalDeletionTime)
			} else if c.IsExpiring() {
				fmt.Fprintf(&sb, " ttl=%d ldt=%d", c.TTL, c.LocalDeletionTime)
			}
			sb.WriteString("]")
		}
	}
	return sb.String()
}

func (d *dumper) debugPartition(w *bufio.Writer, sc *Scanner) {
	p := sc.Partition()
	key := "[" + strings.Join(d.h.keyStrings(p.Key), ":") + "]"
	pos := p.Position
	if !p.Deletion.IsLive() {
		fmt.Fprintf(w, "%s@%d %s\n", key, pos, d.debugDeletion(p.Deletion))
	}
	if p.Static != nil && !p.Static.IsEmpty() {
		fmt.Fprintf(w, "%s@%d %s\n", key, pos, d.debugRow(p.Static))
	}
	for sc.Next() {
		u := sc.Unfiltered()
		if u.Kind == UnfilteredRow {
			fmt.Fprintf(w, "%s@%d %s\n", key, u.Position, d.debugRow(&u.Row))
			continue
		}
		m := &u.Marker
		var vals []string
		for i, v := range m.Bound.Values {
			vals = append(vals, cql.String(d.h.ClusteringTypes[i], v))
		}
		fmt.Fprintf(w, "%s@%d Marker %s(%s)", key, u.Position, m.Bound.Kind, strings.Join(vals, ", "))
		if !m.Close.IsLive() {
			fmt.Fprintf(w, " close=%s", d.debugDeletion(m.Close))
		}
		if !m.Open.IsLive() {
			fmt.Fprintf(w, " open=%s", d.debugDeletion(m.Open))
		}
		w.WriteByte('\n')
	}
}
