package connector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cassmove/shadow/engine/cluster"
	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/schema"
)

// memSource serves expected raw tables (the generators' own truth) as a
// connector.Source. Its batches are small and come in a shuffled order,
// as the engine's parallel work units give no order.
type memSource struct {
	tables map[string]*cluster.Table
	seed   uint64
}

func (m *memSource) Tables() []string {
	var out []string
	for k := range m.tables {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *memSource) table(name string) (*cluster.Table, error) {
	t, ok := m.tables[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", connector.ErrMissingTable, name)
	}
	return t, nil
}

func (m *memSource) Schema(name string) (*arrow.Schema, error) {
	t, err := m.table(name)
	if err != nil {
		return nil, err
	}
	return t.ArrowSchema(false)
}

func (m *memSource) Key(name string) ([]string, error) {
	t, err := m.table(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range t.Columns {
		if c.Kind == schema.PartitionKey || c.Kind == schema.Clustering {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

func (m *memSource) Scan(ctx context.Context, name string, emit func(arrow.RecordBatch) error) error {
	t, err := m.table(name)
	if err != nil {
		return err
	}
	var recs []arrow.RecordBatch
	if err := t.Records(false, 7, func(r arrow.RecordBatch) error { recs = append(recs, r); return nil }); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(m.seed, 1))
	r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	for i, rec := range recs {
		if err := emit(rec); err != nil {
			for _, x := range recs[i+1:] {
				x.Release()
			}
			return err
		}
	}
	return nil
}

func kvSource(t *testing.T, d *cluster.KVDataset, seed uint64) *memSource {
	t.Helper()
	src := &memSource{tables: map[string]*cluster.Table{}, seed: seed}
	for _, name := range []string{d.Table, d.ChunkTable} {
		tb, err := d.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		src.tables[name] = tb
	}
	return src
}

func str(a arrow.Array, i int) string {
	switch x := a.(type) {
	case *array.String:
		return x.Value(i)
	case *array.Binary:
		return string(x.Value(i))
	}
	panic(fmt.Sprintf("column %T", a))
}

// runKV runs the keyvalue connector and returns its items.
func runKV(ctx context.Context, src connector.Source, table string, opts map[string]any) ([]cluster.KVItem, error) {
	c, err := connector.New("keyvalue", opts)
	if err != nil {
		return nil, err
	}
	out, err := c.Open(ctx, src, connector.Spec{Table: table})
	if err != nil {
		return nil, err
	}
	if !slices.Equal(out.Key(), []string{"id", "key"}) {
		return nil, fmt.Errorf("key %v", out.Key())
	}
	var items []cluster.KVItem
	err = out.Run(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		if !rec.Schema().Equal(out.Schema()) {
			return fmt.Errorf("batch schema %v, output schema %v", rec.Schema(), out.Schema())
		}
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		for i := range int(rec.NumRows()) {
			it := cluster.KVItem{ID: str(col("id"), i), Key: []byte(str(col("key"), i))}
			if v := col("value"); v.IsValid(i) {
				it.Value = bytes.Clone(v.(*array.Binary).Value(i))
			}
			if c := col("chunks"); c.IsValid(i) {
				it.Metadata = true
				it.Chunks = c.(*array.Int32).Value(i)
				it.Size = col("size").(*array.Int64).Value(i)
				it.Compression = col("compression").(*array.String).Value(i)
				if h := col("sha256"); h.IsValid(i) {
					it.SHA256 = h.(*array.String).Value(i)
				}
			}
			items = append(items, it)
		}
		return nil
	})
	slices.SortFunc(items, func(a, b cluster.KVItem) int {
		return strings.Compare(a.ID+"\x00"+string(a.Key), b.ID+"\x00"+string(b.Key))
	})
	return items, err
}

func compareKV(t *testing.T, label string, got, want []cluster.KVItem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d items, want %d", label, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		w.WriteTime = 0
		if g.ID != w.ID || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || g.Metadata != w.Metadata ||
			g.Chunks != w.Chunks || g.Size != w.Size || g.Compression != w.Compression || g.SHA256 != w.SHA256 {
			t.Fatalf("%s: item %d\n got %+v\nwant %+v", label, i, g, w)
		}
	}
}

func TestKeyValueEqualsTruth(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		o    cluster.KVOptions
		opts map[string]any
	}{
		{"default", cluster.KVOptions{}, nil},
		{"small-batches", cluster.KVOptions{}, map[string]any{"batch_bytes": 3000}},
		{"all-chunked", cluster.KVOptions{ChunkRate: 1, ChunkSize: 100}, nil},
		{"all-compressed", cluster.KVOptions{CompressRate: 1}, nil},
		{"plain", cluster.KVOptions{ChunkRate: -1, CompressRate: -1}, nil},
		{"big-values", cluster.KVOptions{MaxValue: 200000, ChunkSize: 8192, Ops: 60}, map[string]any{"batch_bytes": 100000}},
	}
	for i, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			d, err := cluster.GenerateKV(int64(i+1), cs.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Items) == 0 {
				t.Fatal("no items")
			}
			opts := map[string]any{"spill_dir": t.TempDir()}
			for k, v := range cs.opts {
				opts[k] = v
			}
			got, err := runKV(ctx, kvSource(t, d, uint64(i)), d.Table, opts)
			if err != nil {
				t.Fatal(err)
			}
			compareKV(t, cs.name, got, d.Items)
		})
	}
}

func TestKeyValueBadData(t *testing.T) {
	ctx := context.Background()
	d, err := cluster.GenerateKV(9, cluster.KVOptions{ChunkRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var victim cluster.KVItem
	for _, it := range d.Items {
		if it.Chunks >= 2 {
			victim = it
			break
		}
	}
	if victim.Chunks == 0 {
		t.Fatal("no chunked item")
	}
	// rows of the victim's chunk partition
	edit := func(f func(chunk int32, data []byte) (keep bool, newData []byte)) *memSource {
		src := kvSource(t, d, 3)
		ct := *src.tables[d.ChunkTable]
		ct.Rows = nil
		for _, r := range src.tables[d.ChunkTable].Rows {
			if r.Values[0] == victim.ID && bytes.Equal(r.Values[1].([]byte), victim.Key) {
				keep, nd := f(r.Values[2].(int32), r.Values[3].([]byte))
				if !keep {
					continue
				}
				r.Values = slices.Clone(r.Values)
				r.Values[3] = nd
			}
			ct.Rows = append(ct.Rows, r)
		}
		src.tables[d.ChunkTable] = &ct
		return src
	}
	cases := []struct {
		name string
		src  *memSource
		want string
	}{
		{"missing-chunk", edit(func(c int32, b []byte) (bool, []byte) { return c != 1, b }), "chunk 1 of"},
		{"missing-last-chunk", edit(func(c int32, b []byte) (bool, []byte) { return c != victim.Chunks-1, b }), "is missing"},
		{"corrupt-chunk", edit(func(c int32, b []byte) (bool, []byte) {
			b = bytes.Clone(b)
			b[0] ^= 1
			return true, b
		}), "sha256"},
		{"short-chunk", edit(func(c int32, b []byte) (bool, []byte) { return true, b[:len(b)-1] }), "bytes as stored"},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			items, err := runKV(ctx, cs.src, d.Table, nil)
			if !errors.Is(err, connector.ErrBadData) || !strings.Contains(err.Error(), cs.want) ||
				!strings.Contains(err.Error(), fmt.Sprintf("%q", victim.ID)) || !strings.Contains(err.Error(), fmt.Sprintf("0x%x", victim.Key)) {
				t.Fatalf("err %v, want ErrBadData naming id %q and key 0x%x (%s)", err, victim.ID, victim.Key, cs.want)
			}
			for _, it := range items {
				if it.ID == victim.ID && bytes.Equal(it.Key, victim.Key) {
					t.Fatalf("the broken item was emitted: %+v", it)
				}
			}
		})
	}
	// the generator's own lost chunk
	lost, err := cluster.GenerateKV(9, cluster.KVOptions{ChunkRate: 0.5, LoseChunk: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runKV(ctx, kvSource(t, lost, 1), lost.Table, nil); !errors.Is(err, connector.ErrBadData) || !strings.Contains(err.Error(), fmt.Sprintf("%q", lost.Broken.ID)) {
		t.Fatalf("lost chunk: err %v, want ErrBadData naming %q", err, lost.Broken.ID)
	}
	// no chunk table
	src := kvSource(t, d, 1)
	delete(src.tables, d.ChunkTable)
	if _, err := runKV(ctx, src, d.Table, nil); !errors.Is(err, connector.ErrMissingTable) || !strings.Contains(err.Error(), d.ChunkTable) {
		t.Fatalf("no chunk table: err %v", err)
	}
	// the chunk table under another name
	src = kvSource(t, d, 1)
	src.tables["blobs"] = src.tables[d.ChunkTable]
	delete(src.tables, d.ChunkTable)
	got, err := runKV(ctx, src, d.Table, map[string]any{"chunk_table": "blobs"})
	if err != nil {
		t.Fatal(err)
	}
	compareKV(t, "chunk_table option", got, d.Items)
}

func TestConnectorOptions(t *testing.T) {
	bad := []struct {
		name string
		opts map[string]any
	}{
		{"keyvalue", map[string]any{"chunks": "x"}},
		{"keyvalue", map[string]any{"chunk_table": 3}},
		{"keyvalue", map[string]any{"max_value_bytes": -1}},
		{"keyvalue", map[string]any{"max_value_bytes": 1.5}},
		{"timeseries", map[string]any{"seconds_per_slice": 0}},
		{"timeseries", map[string]any{"bucket_columns": []any{"event_time"}}},
		{"timeseries", map[string]any{"slices": 3}},
		{"timeseries", map[string]any{"seconds_per_slice": "a day"}},
	}
	for _, b := range bad {
		if _, err := connector.New(b.name, b.opts); !errors.Is(err, connector.ErrOptions) {
			t.Errorf("%s %v: err %v, want ErrOptions", b.name, b.opts, err)
		}
	}
	for _, good := range []struct {
		name string
		opts map[string]any
	}{
		{"keyvalue", map[string]any{"chunk_table": "c", "spill_dir": "/tmp", "max_value_bytes": 1024}},
		{"timeseries", map[string]any{"seconds_per_slice": 3600, "bucket_columns": []any{"tb", "eb"}}},
		{"timeseries", map[string]any{"seconds_per_slice": float64(3600)}},
		{"timeseries", map[string]any{"seconds_per_slice": "3600", "bucket_columns": "tb,eb"}}, // --connector-option KEY=VALUE
		{"keyvalue", map[string]any{"max_value_bytes": "1048576", "batch_bytes": "65536"}},
	} {
		if _, err := connector.New(good.name, good.opts); err != nil {
			t.Errorf("%s %v: %v", good.name, good.opts, err)
		}
	}
	if !slices.Equal(connector.Names(), []string{"keyvalue", "raw", "timeseries"}) {
		t.Errorf("registered: %v", connector.Names())
	}
}

func tsSource(t *testing.T, d *cluster.TSDataset, seed uint64, skip ...string) *memSource {
	t.Helper()
	src := &memSource{tables: map[string]*cluster.Table{}, seed: seed}
	for _, name := range d.Tables() {
		if slices.Contains(skip, name) {
			continue
		}
		tb, err := d.Raw(name)
		if err != nil {
			t.Fatal(err)
		}
		src.tables[name] = tb
	}
	return src
}

// runTS runs the timeseries connector and returns its events, sorted.
func runTS(ctx context.Context, src connector.Source, table string, from, to time.Time, opts map[string]any) ([]cluster.TSEvent, connector.Output, error) {
	c, err := connector.New("timeseries", opts)
	if err != nil {
		return nil, nil, err
	}
	out, err := c.Open(ctx, src, connector.Spec{Table: table, From: from, To: to})
	if err != nil {
		return nil, nil, err
	}
	var evs []cluster.TSEvent
	err = out.Run(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		if !rec.Schema().Equal(out.Schema()) {
			return fmt.Errorf("batch schema %v, output schema %v", rec.Schema(), out.Schema())
		}
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		et := col("event_time").(*array.Timestamp)
		unit := et.DataType().(*arrow.TimestampType).Unit
		for i := range int(rec.NumRows()) {
			ev := cluster.TSEvent{ID: str(col("id"), i), EventTime: et.Value(i).ToTime(unit), EventID: str(col("event_id"), i), ItemKey: str(col("event_item_key"), i)}
			if k := col("kind"); k.IsValid(i) {
				ev.Kind = str(k, i)
			}
			if p := col("payload"); p.IsValid(i) {
				ev.Payload = bytes.Clone(p.(*array.Binary).Value(i))
			}
			evs = append(evs, ev)
		}
		return nil
	})
	slices.SortFunc(evs, func(a, b cluster.TSEvent) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		if c := a.EventTime.Compare(b.EventTime); c != 0 {
			return c
		}
		if c := strings.Compare(a.EventID, b.EventID); c != 0 {
			return c
		}
		return strings.Compare(a.ItemKey, b.ItemKey)
	})
	return evs, out, err
}

func compareTS(t *testing.T, label string, got, want []cluster.TSEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d events, want %d", label, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.ID != w.ID || !g.EventTime.Equal(w.EventTime) || g.EventID != w.EventID || g.ItemKey != w.ItemKey || g.Kind != w.Kind || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("%s: event %d\n got %+v\nwant %+v", label, i, g, w)
		}
	}
}

func TestTimeSeriesEqualsTruth(t *testing.T) {
	ctx := context.Background()
	d, err := cluster.GenerateTS(4, cluster.TSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]any{"seconds_per_slice": d.SecondsPerSlice}
	first := time.Unix(d.SliceStarts[0], 0).UTC()
	w := time.Duration(d.SecondsPerSlice) * time.Second
	ranges := []struct {
		name     string
		from, to time.Time
		slices   int
	}{
		{"open", time.Time{}, time.Time{}, len(d.SliceStarts)},
		{"aligned", first.Add(w), first.Add(3 * w), 2},
		{"unaligned", first.Add(w + 90*time.Minute), first.Add(3*w + 17*time.Minute + 250*time.Millisecond), 3},
		{"from-only", first.Add(4*w + time.Hour), time.Time{}, len(d.SliceStarts) - 4},
		{"to-only", time.Time{}, first.Add(w / 2), 1},
	}
	for i, r := range ranges {
		t.Run(r.name, func(t *testing.T) {
			want := d.Events(r.from, r.to)
			if len(want) == 0 {
				t.Fatal("no events in range")
			}
			got, out, err := runTS(ctx, tsSource(t, d, uint64(i)), d.Table, r.from, r.to, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Tables()) != r.slices {
				t.Errorf("read %v, want %d slices", out.Tables(), r.slices)
			}
			for _, f := range out.Schema().Fields() {
				if f.Name == "time_bucket" || f.Name == "event_bucket" {
					t.Errorf("bucket column %s in the output", f.Name)
				}
			}
			if !slices.Equal(out.Key(), []string{"id", "event_time", "event_id", "event_item_key"}) {
				t.Errorf("key %v", out.Key())
			}
			compareTS(t, r.name, got, want)
		})
	}
}

func TestTimeSeriesMissingSlice(t *testing.T) {
	ctx := context.Background()
	d, err := cluster.GenerateTS(5, cluster.TSOptions{Slices: 5})
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]any{"seconds_per_slice": d.SecondsPerSlice}
	gone := d.SliceTable(d.SliceStarts[2])
	src := tsSource(t, d, 1, gone)
	first := time.Unix(d.SliceStarts[0], 0).UTC()
	w := time.Duration(d.SecondsPerSlice) * time.Second
	for _, r := range []struct{ from, to time.Time }{{}, {first.Add(2 * w), first.Add(3 * w)}, {first, first.Add(2*w + time.Second)}} {
		if _, _, err := runTS(ctx, src, d.Table, r.from, r.to, opts); !errors.Is(err, connector.ErrMissingTable) || !strings.Contains(err.Error(), gone) {
			t.Errorf("%v..%v: err %v, want ErrMissingTable naming %s", r.from, r.to, err, gone)
		}
	}
	// a range that does not need the missing slice reads fine
	got, _, err := runTS(ctx, src, d.Table, first, first.Add(2*w), opts)
	if err != nil {
		t.Fatal(err)
	}
	compareTS(t, "before the gap", got, d.Events(first, first.Add(2*w)))
	// a range before the first slice needs slices that do not exist
	if _, _, err := runTS(ctx, tsSource(t, d, 1), d.Table, first.Add(-w), first.Add(w), opts); !errors.Is(err, connector.ErrMissingTable) {
		t.Errorf("range before the first slice: err %v", err)
	}
	// no slice at all
	if _, _, err := runTS(ctx, tsSource(t, d, 1), "nosuch", time.Time{}, time.Time{}, opts); !errors.Is(err, connector.ErrMissingTable) {
		t.Errorf("no slices: err %v", err)
	}
	// the wrong slice width: slices off the grid
	if _, _, err := runTS(ctx, tsSource(t, d, 1), d.Table, time.Time{}, time.Time{}, map[string]any{"seconds_per_slice": d.SecondsPerSlice * 4}); !errors.Is(err, connector.ErrShape) && !errors.Is(err, connector.ErrMissingTable) {
		t.Errorf("wrong width: err %v", err)
	}
	if _, _, err := runTS(ctx, tsSource(t, d, 1), d.Table, first.Add(w), first, opts); !errors.Is(err, connector.ErrOptions) {
		t.Errorf("from after to: err %v", err)
	}
}

// Slices with different columns are unioned by name; one name with two
// types is refused.
func TestTimeSeriesSchemaUnion(t *testing.T) {
	ctx := context.Background()
	d, err := cluster.GenerateTS(6, cluster.TSOptions{Slices: 3})
	if err != nil {
		t.Fatal(err)
	}
	opts := map[string]any{"seconds_per_slice": d.SecondsPerSlice}
	withColumn := func(typ string) *memSource {
		src := tsSource(t, d, 2)
		last := *src.tables[d.Tables()[2]]
		ty := cql.Simple(cql.KindText)
		var v any = "new"
		if typ == "int" {
			ty, v = cql.Simple(cql.KindInt), int32(7)
		}
		last.Columns = append(slices.Clone(last.Columns), cluster.Column{Name: "note", Type: ty, Kind: schema.Regular})
		last.Rows = slices.Clone(last.Rows)
		for i := range last.Rows {
			last.Rows[i].Values = append(slices.Clone(last.Rows[i].Values), v)
		}
		src.tables[d.Tables()[2]] = &last
		if typ == "int" {
			first := *src.tables[d.Tables()[0]]
			first.Columns = append(slices.Clone(first.Columns), cluster.Column{Name: "note", Type: cql.Simple(cql.KindText), Kind: schema.Regular})
			first.Rows = slices.Clone(first.Rows)
			for i := range first.Rows {
				first.Rows[i].Values = append(slices.Clone(first.Rows[i].Values), nil)
			}
			src.tables[d.Tables()[0]] = &first
		}
		return src
	}
	c, _ := connector.New("timeseries", opts)
	out, err := c.Open(ctx, withColumn("text"), connector.Spec{Table: d.Table})
	if err != nil {
		t.Fatal(err)
	}
	notes, rows := 0, 0
	err = out.Run(ctx, func(rec arrow.RecordBatch) error {
		defer rec.Release()
		col := rec.Column(rec.Schema().FieldIndices("note")[0])
		rows += int(rec.NumRows())
		notes += int(rec.NumRows()) - col.NullN()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lastRows := len(d.Events(time.Unix(d.SliceStarts[2], 0), time.Time{}))
	if rows != len(d.Events(time.Time{}, time.Time{})) || notes != lastRows {
		t.Errorf("%d rows, %d notes; want %d rows, %d notes (the last slice's)", rows, notes, len(d.Events(time.Time{}, time.Time{})), lastRows)
	}
	if _, err := c.Open(ctx, withColumn("int"), connector.Spec{Table: d.Table}); !errors.Is(err, connector.ErrShape) {
		t.Errorf("conflicting types: err %v, want ErrShape", err)
	}
}
