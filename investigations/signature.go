package investigations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Side is where a discrepancy lies (contracts §3).
type Side string

const (
	OnlyInLegacy Side = "only_in_legacy" // in C − M and not changed
	OnlyInNew    Side = "only_in_new"    // in M − C and not changed
	Changed      Side = "changed"        // the key is in both C − M and M − C
)

// Sides in display order.
var Sides = []Side{OnlyInLegacy, OnlyInNew, Changed}

// ParseSide accepts the tokens and the CLI's short forms legacy, new and
// changed.
func ParseSide(s string) (Side, error) {
	switch strings.ToLower(s) {
	case "only_in_legacy", "legacy":
		return OnlyInLegacy, nil
	case "only_in_new", "new":
		return OnlyInNew, nil
	case "changed":
		return Changed, nil
	}
	return "", fmt.Errorf("side %q: %w: want legacy, new or changed (or only_in_legacy, only_in_new)", s, ErrInvalid)
}

// Pattern tags computed from the rows of a discrepancy (docs/investigations.md).
const (
	TagNullToEmpty        = "null->empty"              // changed: legacy NULL, new empty ('' or empty collection)
	TagEmptyToNull        = "empty->null"              // changed: legacy empty, new NULL
	TagTSPrecision        = "ts-precision"             // changed: timestamps equal once truncated to ms or s
	TagTTLExpired         = "ttl-expired-at-reference" // a row's TTL expiry is at or before a TTL reference time in play
	TagNewerWriteInNew    = "newer-write-in-new"       // the new side holds a write the legacy side could not have seen
	TagNewerWriteInLegacy = "newer-write-in-legacy"    // and the other way round
)

// Provenance columns: metadata a connector may emit next to the data, which
// the tags read. They never count as differing columns in a signature.
var (
	// WriteTimeColumns hold the Cassandra write time (WRITETIME) of the row.
	WriteTimeColumns = []string{"_writetime", "_write_time", "_last_modified"}
	// ExpiresAtColumns hold when the row's TTL expires.
	ExpiresAtColumns = []string{"_ttl_expires_at", "_expires_at"}
	// TTLColumns hold the TTL in seconds; expiry = write time + TTL.
	TTLColumns = []string{"_ttl"}
	// ReferenceColumns hold the TTL reference time the side used (the
	// backup snapshot time, contracts §8).
	ReferenceColumns = []string{"_snapshot_time", "_ttl_reference"}
)

// IsProvenance reports whether col is a recognised provenance column.
func IsProvenance(col string) bool {
	for _, l := range [][]string{WriteTimeColumns, ExpiresAtColumns, TTLColumns, ReferenceColumns} {
		for _, c := range l {
			if c == col {
				return true
			}
		}
	}
	return false
}

// ColumnDiff is one differing column of a changed row.
type ColumnDiff struct {
	Column string `json:"column"`
	Legacy any    `json:"legacy"`
	New    any    `json:"new"`
}

// Discrepancy is one differing row as the runner hands it over. Values are
// whatever encoding/json can encode (time.Time for timestamps; integers,
// floats, strings, []byte, nil, slices and maps).
type Discrepancy struct {
	Side   Side
	Key    map[string]any // key columns and their values; empty without keys
	Legacy map[string]any // the legacy row (only_in_legacy, changed)
	New    map[string]any // the new row (only_in_new, changed)
	// Diffs lists the differing columns of a changed row. When empty it is
	// derived by comparing Legacy and New.
	Diffs          []ColumnDiff
	Fingerprint    uint64 // the row's xxhash64 digest; the legacy row's for changed
	NewFingerprint uint64 // changed: the new row's digest
}

// References are the TTL reference times of the two sides for a run, when
// known (zero otherwise). Rows may carry their own in ReferenceColumns.
type References struct {
	Legacy, New time.Time
}

// Signature groups discrepancies (contracts §6): the side, the sorted
// differing columns, and the sorted pattern tags.
type Signature struct {
	Side    Side     `json:"side"`
	Columns []string `json:"columns"`
	Tags    []string `json:"tags"`
}

// String is the canonical text: side:col1,col2:tag1,tag2.
func (s Signature) String() string {
	return string(s.Side) + ":" + strings.Join(s.Columns, ",") + ":" + strings.Join(s.Tags, ",")
}

// Title is how an investigation opened for the signature is named.
func (s Signature) Title(dataset string) string {
	var b strings.Builder
	b.WriteString(dataset)
	b.WriteString(": ")
	b.WriteString(string(s.Side))
	if len(s.Columns) > 0 {
		b.WriteString(" ")
		b.WriteString(strings.Join(s.Columns, ","))
	}
	if len(s.Tags) > 0 {
		b.WriteString(" [")
		b.WriteString(strings.Join(s.Tags, ","))
		b.WriteString("]")
	}
	return b.String()
}

// Sign computes a discrepancy's signature, and the column diffs of a changed
// row (d.Diffs, or derived from the rows).
func Sign(d Discrepancy, refs References) (Signature, []ColumnDiff) {
	sig := Signature{Side: d.Side, Columns: []string{}, Tags: []string{}}
	diffs := d.Diffs
	if d.Side == Changed && len(diffs) == 0 {
		diffs = deriveDiffs(d.Legacy, d.New)
	}
	tags := map[string]bool{}
	if d.Side == Changed {
		for _, c := range diffs {
			if !IsProvenance(c.Column) {
				sig.Columns = append(sig.Columns, c.Column)
			}
			switch {
			case c.Legacy == nil && isEmpty(c.New):
				tags[TagNullToEmpty] = true
			case isEmpty(c.Legacy) && c.New == nil:
				tags[TagEmptyToNull] = true
			}
			if tsPrecision(c.Legacy, c.New) {
				tags[TagTSPrecision] = true
			}
		}
		sort.Strings(sig.Columns)
		sig.Columns = compact(sig.Columns)
	}

	refL, refN := refs.Legacy, refs.New
	if t, ok := provTime(d.Legacy, ReferenceColumns); ok {
		refL = t
	}
	if t, ok := provTime(d.New, ReferenceColumns); ok {
		refN = t
	}
	for _, row := range []map[string]any{d.Legacy, d.New} {
		if row == nil {
			continue
		}
		if e, ok := expiresAt(row); ok {
			if (!refL.IsZero() && !e.After(refL)) || (!refN.IsZero() && !e.After(refN)) {
				tags[TagTTLExpired] = true
			}
		}
	}
	wL, okL := provTime(d.Legacy, WriteTimeColumns)
	wN, okN := provTime(d.New, WriteTimeColumns)
	switch d.Side {
	case Changed:
		if okL && okN && wN.After(wL) {
			tags[TagNewerWriteInNew] = true
		}
		if okL && okN && wL.After(wN) {
			tags[TagNewerWriteInLegacy] = true
		}
	case OnlyInNew:
		if okN && !refL.IsZero() && wN.After(refL) {
			tags[TagNewerWriteInNew] = true
		}
	case OnlyInLegacy:
		if okL && !refN.IsZero() && wL.After(refN) {
			tags[TagNewerWriteInLegacy] = true
		}
	}
	for t := range tags {
		sig.Tags = append(sig.Tags, t)
	}
	sort.Strings(sig.Tags)
	return sig, diffs
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// deriveDiffs compares two rows column by column; a column missing from one
// row counts as NULL there.
func deriveDiffs(l, n map[string]any) []ColumnDiff {
	cols := make([]string, 0, len(l)+len(n))
	for c := range l {
		cols = append(cols, c)
	}
	for c := range n {
		if _, ok := l[c]; !ok {
			cols = append(cols, c)
		}
	}
	sort.Strings(cols)
	var out []ColumnDiff
	for _, c := range cols {
		if !equalValues(l[c], n[c]) {
			out = append(out, ColumnDiff{Column: c, Legacy: l[c], New: n[c]})
		}
	}
	return out
}

func equalValues(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if fa, ok := a.(float64); ok {
		if fb, ok := b.(float64); ok && math.IsNaN(fa) && math.IsNaN(fb) {
			return true // contracts §2: every NaN equals every other NaN
		}
	}
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Type() == rb.Type() && ra.Type().Comparable() {
		return a == b
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// isEmpty: ” or an empty binary, list or map (contracts §2: none of them is NULL).
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x == ""
	case []byte:
		return len(x) == 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array:
		return rv.Len() == 0
	}
	return false
}

// tsPrecision: both values are timestamps that differ, but agree once both
// are truncated to milliseconds or to seconds.
func tsPrecision(a, b any) bool {
	ta, ok1 := asTimestamp(a)
	tb, ok2 := asTimestamp(b)
	if !ok1 || !ok2 || ta.Equal(tb) {
		return false
	}
	return ta.Truncate(time.Millisecond).Equal(tb.Truncate(time.Millisecond)) ||
		ta.Truncate(time.Second).Equal(tb.Truncate(time.Second))
}

// asTimestamp reads a data value as a timestamp: a time.Time or an RFC 3339
// string. Numbers are not timestamps here (they would be ambiguous).
func asTimestamp(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case *time.Time:
		if x != nil {
			return *x, true
		}
	case string:
		return parseTimestampString(x)
	}
	return time.Time{}, false
}

var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"}

func parseTimestampString(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// provTime reads the first present provenance column of cols as a time.
// Numbers are epoch seconds, milliseconds or microseconds by magnitude
// (WRITETIME is microseconds).
func provTime(row map[string]any, cols []string) (time.Time, bool) {
	for _, c := range cols {
		v, ok := row[c]
		if !ok || v == nil {
			continue
		}
		if t, ok := asTimestamp(v); ok {
			return t, true
		}
		if n, ok := asInt(v); ok {
			return epoch(n), true
		}
	}
	return time.Time{}, false
}

func epoch(n int64) time.Time {
	a := n
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1e11:
		return time.Unix(n, 0).UTC()
	case a < 1e14:
		return time.UnixMilli(n).UTC()
	default:
		return time.UnixMicro(n).UTC()
	}
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return int64(x), true
		}
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// expiresAt is the row's TTL expiry: an expiry column, or write time + TTL.
func expiresAt(row map[string]any) (time.Time, bool) {
	if t, ok := provTime(row, ExpiresAtColumns); ok {
		return t, true
	}
	for _, c := range TTLColumns {
		ttl, ok := asInt(row[c])
		if !ok || ttl <= 0 {
			continue
		}
		if w, ok := provTime(row, WriteTimeColumns); ok {
			return w.Add(time.Duration(ttl) * time.Second), true
		}
	}
	return time.Time{}, false
}
