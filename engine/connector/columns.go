package connector

import (
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Small readers of Arrow columns the data-model connectors share. They
// accept every Arrow layout the engine (or a test source) may use for a
// CQL type: utf8 and large_utf8 for text, binary and large_binary for
// blob, any integer width, timestamps of any unit.

// bytesColumn reads a text or blob column as bytes.
type bytesColumn func(i int) ([]byte, bool)

func bytesOf(arr arrow.Array) (bytesColumn, error) {
	switch a := arr.(type) {
	case *array.String:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return []byte(a.Value(i)), true
		}, nil
	case *array.LargeString:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return []byte(a.Value(i)), true
		}, nil
	case *array.Binary:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return a.Value(i), true
		}, nil
	case *array.LargeBinary:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return a.Value(i), true
		}, nil
	case *array.StringView:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return []byte(a.Value(i)), true
		}, nil
	case *array.BinaryView:
		return func(i int) ([]byte, bool) {
			if a.IsNull(i) {
				return nil, false
			}
			return a.Value(i), true
		}, nil
	}
	return nil, fmt.Errorf("%w: column of type %s is not text or blob", ErrShape, arr.DataType())
}

// intOf reads an integer column.
func intOf(arr arrow.Array) (func(i int) (int64, bool), error) {
	switch a := arr.(type) {
	case *array.Int8:
		return func(i int) (int64, bool) { return int64(a.Value(i)), a.IsValid(i) }, nil
	case *array.Int16:
		return func(i int) (int64, bool) { return int64(a.Value(i)), a.IsValid(i) }, nil
	case *array.Int32:
		return func(i int) (int64, bool) { return int64(a.Value(i)), a.IsValid(i) }, nil
	case *array.Int64:
		return func(i int) (int64, bool) { return a.Value(i), a.IsValid(i) }, nil
	}
	return nil, fmt.Errorf("%w: column of type %s is not an integer", ErrShape, arr.DataType())
}

// timeOf reads a timestamp column as instants.
func timeOf(arr arrow.Array) (func(i int) (time.Time, bool), error) {
	a, ok := arr.(*array.Timestamp)
	if !ok {
		return nil, fmt.Errorf("%w: column of type %s is not a timestamp", ErrShape, arr.DataType())
	}
	unit := a.DataType().(*arrow.TimestampType).Unit
	return func(i int) (time.Time, bool) {
		if a.IsNull(i) {
			return time.Time{}, false
		}
		return a.Value(i).ToTime(unit), true
	}, nil
}

// column returns the named column of a batch.
func column(rec arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return nil, fmt.Errorf("%w: no column %q in %v", ErrShape, name, rec.Schema())
	}
	return rec.Column(idx[0]), nil
}

// isText reports a text or blob type.
func isText(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return true
	}
	return false
}

// needColumns checks that a schema has the named columns with types
// accepted by ok.
func needColumns(table string, sc *arrow.Schema, cols map[string]func(arrow.DataType) bool) error {
	for name, ok := range cols {
		idx := sc.FieldIndices(name)
		if len(idx) != 1 {
			return fmt.Errorf("%w: table %s has no column %q (it has %v)", ErrShape, table, name, fieldNames(sc))
		}
		if t := sc.Field(idx[0]).Type; !ok(t) {
			return fmt.Errorf("%w: table %s column %s has type %s", ErrShape, table, name, t)
		}
	}
	return nil
}

func fieldNames(sc *arrow.Schema) []string {
	out := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		out[i] = f.Name
	}
	return out
}

func isInt(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		return true
	}
	return false
}

func isTimestamp(t arrow.DataType) bool { return t.ID() == arrow.TIMESTAMP }

// Errors of the data-model connectors; callers map both to bad input.
var (
	// ErrShape is returned for a table whose columns are not the shape the
	// connector expects.
	ErrShape = errors.New("table shape not as the connector expects")
	// ErrBadData is returned for rows the connector cannot turn into a
	// logical item (a missing chunk, a checksum mismatch, bad metadata).
	// The item is never emitted partly.
	ErrBadData = errors.New("bad data")
)
