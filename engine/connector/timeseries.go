package connector

// timeseries: tables shaped like Netflix's Time-Series abstraction, one
// Cassandra table per time slice, named <table>_<slice start in Unix
// seconds>, each
//
//	PRIMARY KEY ((id, time_bucket, event_bucket), event_time, event_id, event_item_key)
//
// Open finds the slice tables of spec.Table and keeps those overlapping
// [From, To) (a zero bound is open). Slices lie on a grid of
// seconds_per_slice: every grid slice between the first and the last one
// the range needs must be in the backup, or Open fails with
// ErrMissingTable naming the missing ones (a slice is never skipped; with
// an open bound the grid runs from the first or to the last slice
// present). Run streams the slices in time order, drops the bucket
// columns, keeps the events with From <= event_time < To, and emits their
// union, keyed by (id, event_time, event_id, event_item_key). Slices whose
// other columns differ (a column added to later slices) are unioned by
// column name, with nulls where a slice lacks the column; the same name
// with two types is ErrShape.
//
// Options: seconds_per_slice (default 86400), bucket_columns (default
// [time_bucket, event_bucket]).

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func init() { Register("timeseries", newTimeSeries) }

type timeSeries struct {
	width   int64
	buckets []string
}

// tsKey is the logical key of an event.
var tsKey = []string{"id", "event_time", "event_id", "event_item_key"}

func newTimeSeries(options map[string]any) (Connector, error) {
	ts := &timeSeries{width: 86400, buckets: []string{"time_bucket", "event_bucket"}}
	for k, v := range options {
		switch k {
		case "seconds_per_slice":
			n, ok := optionInt(v)
			if !ok || n <= 0 {
				return nil, fmt.Errorf("%w: timeseries option seconds_per_slice must be a positive integer, got %v", ErrOptions, v)
			}
			ts.width = n
		case "bucket_columns":
			var cols []string
			switch x := v.(type) {
			case []string:
				cols = x
			case []any:
				for _, e := range x {
					s, ok := e.(string)
					if !ok {
						return nil, fmt.Errorf("%w: timeseries option bucket_columns must list column names, got %v", ErrOptions, v)
					}
					cols = append(cols, s)
				}
			case string:
				cols = strings.Split(x, ",")
			default:
				return nil, fmt.Errorf("%w: timeseries option bucket_columns must list column names, got %v", ErrOptions, v)
			}
			for _, c := range cols {
				if slices.Contains(tsKey, c) || c == "" {
					return nil, fmt.Errorf("%w: timeseries cannot drop %q", ErrOptions, c)
				}
			}
			ts.buckets = cols
		default:
			return nil, fmt.Errorf("%w: timeseries has no option %q (it takes seconds_per_slice, bucket_columns)", ErrOptions, k)
		}
	}
	return ts, nil
}

func (*timeSeries) Name() string { return "timeseries" }

// gridFloor is the start of the grid slice holding t (Unix seconds).
func gridFloor(t, phase, width int64) int64 {
	d := t - phase
	q := d / width
	if d%width != 0 && d < 0 {
		q--
	}
	return phase + q*width
}

func (ts *timeSeries) Open(ctx context.Context, src Source, spec Spec) (Output, error) {
	if !spec.From.IsZero() && !spec.To.IsZero() && !spec.From.Before(spec.To) {
		return nil, fmt.Errorf("%w: timeseries range from %s is not before to %s", ErrOptions, spec.From.Format(time.RFC3339), spec.To.Format(time.RFC3339))
	}
	prefix := spec.Table + "_"
	present := map[int64]string{}
	var starts []int64
	for _, t := range src.Tables() {
		rest, ok := strings.CutPrefix(t, prefix)
		if !ok || rest == "" || strings.TrimLeft(rest, "0123456789") != "" {
			continue
		}
		s, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			continue
		}
		present[s] = t
		starts = append(starts, s)
	}
	if len(starts) == 0 {
		return nil, fmt.Errorf("%w: timeseries finds no slice table %s<unix seconds> (the backup has %v)", ErrMissingTable, prefix, src.Tables())
	}
	slices.Sort(starts)
	phase := ((starts[0] % ts.width) + ts.width) % ts.width
	for _, s := range starts {
		if ((s%ts.width)+ts.width)%ts.width != phase {
			return nil, fmt.Errorf("%w: slice table %s does not start on the grid of %s (seconds_per_slice %d)", ErrShape, present[s], present[starts[0]], ts.width)
		}
	}
	lo, hi := starts[0], starts[len(starts)-1]
	if !spec.From.IsZero() {
		lo = gridFloor(spec.From.Unix(), phase, ts.width)
	}
	if !spec.To.IsZero() {
		// the last slice starting before To
		to := spec.To.Unix()
		if spec.To.Nanosecond() > 0 {
			to++
		}
		hi = gridFloor(to-1, phase, ts.width)
	}
	var tables []string
	var missing []string
	var sliceStarts []int64
	for s := lo; s <= hi; s += ts.width {
		t, ok := present[s]
		if !ok {
			missing = append(missing, prefix+strconv.FormatInt(s, 10))
			continue
		}
		tables = append(tables, t)
		sliceStarts = append(sliceStarts, s)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: timeseries slice tables %v (needed for %s..%s; the backup has %v)", ErrMissingTable, missing, rangeText(spec.From), rangeText(spec.To), tablesWith(src.Tables(), prefix))
	}
	// the union of the slices' columns, the key first, buckets dropped
	var fields []arrow.Field
	seen := map[string]int{}
	add := func(f arrow.Field, table string) error {
		if i, ok := seen[f.Name]; ok {
			if !arrow.TypeEqual(fields[i].Type, f.Type) {
				return fmt.Errorf("%w: column %s is %s in %s and %s in an earlier slice", ErrShape, f.Name, f.Type, table, fields[i].Type)
			}
			return nil
		}
		f.Nullable = true
		seen[f.Name] = len(fields)
		fields = append(fields, f)
		return nil
	}
	schemas := make([]*arrow.Schema, len(tables))
	for i, t := range tables {
		sc, err := src.Schema(t)
		if err != nil {
			return nil, err
		}
		if err := needColumns(t, sc, map[string]func(arrow.DataType) bool{"id": isText, "event_time": isTimestamp, "event_id": notNested, "event_item_key": notNested}); err != nil {
			return nil, err
		}
		schemas[i] = sc
		for _, k := range tsKey {
			if err := add(sc.Field(sc.FieldIndices(k)[0]), t); err != nil {
				return nil, err
			}
		}
	}
	for i, sc := range schemas {
		for _, f := range sc.Fields() {
			if slices.Contains(ts.buckets, f.Name) {
				continue
			}
			if err := add(f, tables[i]); err != nil {
				return nil, err
			}
		}
	}
	return &tsOutput{src: src, tables: tables, starts: sliceStarts, width: ts.width, from: spec.From, to: spec.To, schema: arrow.NewSchema(fields, nil)}, nil
}

func notNested(t arrow.DataType) bool {
	_, nested := t.(arrow.NestedType)
	return !nested
}

func rangeText(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.UTC().Format(time.RFC3339)
}

func tablesWith(ts []string, prefix string) []string {
	var out []string
	for _, t := range ts {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return out
}

type tsOutput struct {
	src      Source
	tables   []string
	starts   []int64
	width    int64
	from, to time.Time
	schema   *arrow.Schema
}

func (o *tsOutput) Schema() *arrow.Schema { return o.schema }
func (o *tsOutput) Key() []string         { return slices.Clone(tsKey) }
func (o *tsOutput) Tables() []string      { return slices.Clone(o.tables) }

func (o *tsOutput) Run(ctx context.Context, emit func(arrow.RecordBatch) error) error {
	mem := memory.DefaultAllocator
	mask := array.NewBooleanBuilder(mem)
	defer mask.Release()
	for si, t := range o.tables {
		start, end := time.Unix(o.starts[si], 0), time.Unix(o.starts[si]+o.width, 0)
		// a slice wholly inside the range needs no filter
		filter := (!o.from.IsZero() && start.Before(o.from)) || (!o.to.IsZero() && end.After(o.to))
		err := o.src.Scan(ctx, t, func(rec arrow.RecordBatch) error {
			defer rec.Release()
			if filter {
				c, err := column(rec, "event_time")
				if err != nil {
					return fmt.Errorf("table %s: %w", t, err)
				}
				times, err := timeOf(c)
				if err != nil {
					return fmt.Errorf("table %s: %w", t, err)
				}
				keep := 0
				for i := range int(rec.NumRows()) {
					at, ok := times(i)
					in := ok && (o.from.IsZero() || !at.Before(o.from)) && (o.to.IsZero() || at.Before(o.to))
					mask.Append(in)
					if in {
						keep++
					}
				}
				m := mask.NewArray()
				defer m.Release()
				switch keep {
				case 0:
					return nil
				case int(rec.NumRows()):
				default:
					out, err := compute.FilterRecordBatch(ctx, rec, m, compute.DefaultFilterOptions())
					if err != nil {
						return fmt.Errorf("table %s: filtering event_time: %w", t, err)
					}
					defer out.Release()
					rec = out
				}
			}
			return o.project(rec, t, emit)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// project emits rec's columns in the output schema's order, nulls for
// those the slice lacks.
func (o *tsOutput) project(rec arrow.RecordBatch, table string, emit func(arrow.RecordBatch) error) error {
	n := rec.NumRows()
	cols := make([]arrow.Array, o.schema.NumFields())
	for i, f := range o.schema.Fields() {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) == 1 {
			c := rec.Column(idx[0])
			if !arrow.TypeEqual(c.DataType(), f.Type) {
				return fmt.Errorf("%w: table %s column %s is %s, the output has %s", ErrShape, table, f.Name, c.DataType(), f.Type)
			}
			cols[i] = c
			continue
		}
		nulls := array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, int(n))
		defer nulls.Release()
		cols[i] = nulls
	}
	return emit(array.NewRecordBatch(o.schema, cols, n))
}
