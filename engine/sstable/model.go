package sstable

import (
	"cmp"
	"slices"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// DeletionTime is Cassandra's DeletionTime: data with a timestamp ≤
// MarkedForDeleteAt is shadowed. LocalDeletionTime (seconds) says when the
// deletion happened, for gc_grace purging.
type DeletionTime struct {
	MarkedForDeleteAt int64 // microseconds
	LocalDeletionTime int64 // seconds
}

// Live is the absence of deletion.
var Live = DeletionTime{MarkedForDeleteAt: NoTimestamp, LocalDeletionTime: NoDeletionTime}

// IsLive reports the absence of deletion.
func (d DeletionTime) IsLive() bool {
	return d.MarkedForDeleteAt == NoTimestamp && d.LocalDeletionTime == NoDeletionTime
}

// Supersedes is DeletionTime.supersedes: a higher MarkedForDeleteAt wins, then
// a higher LocalDeletionTime.
func (d DeletionTime) Supersedes(o DeletionTime) bool {
	return d.MarkedForDeleteAt > o.MarkedForDeleteAt || (d.MarkedForDeleteAt == o.MarkedForDeleteAt && d.LocalDeletionTime > o.LocalDeletionTime)
}

// Deletes reports whether data written at timestamp ts is shadowed.
func (d DeletionTime) Deletes(ts int64) bool { return !d.IsLive() && ts <= d.MarkedForDeleteAt }

// LivenessInfo is a row's primary-key liveness (the INSERT marker).
type LivenessInfo struct {
	Timestamp           int64 // NoTimestamp when empty
	TTL                 int32 // NoTTL unless expiring; ExpiredLivenessTTL for MV tombstones
	LocalExpirationTime int64 // seconds; NoDeletionTime unless expiring
}

// EmptyLiveness is the absence of primary-key liveness.
var EmptyLiveness = LivenessInfo{Timestamp: NoTimestamp, LocalExpirationTime: NoDeletionTime}

// IsEmpty reports absent liveness.
func (l LivenessInfo) IsEmpty() bool { return l.Timestamp == NoTimestamp }

// IsExpiring reports a TTL'd liveness.
func (l LivenessInfo) IsExpiring() bool { return l.TTL != NoTTL }

// IsLive reports whether the liveness still makes its row exist at nowSec.
func (l LivenessInfo) IsLive(nowSec int64) bool {
	return !l.IsEmpty() && (!l.IsExpiring() || (l.TTL != ExpiredLivenessTTL && nowSec < l.LocalExpirationTime))
}

// Cell flags as stored (Cell.Serializer).
const (
	CellIsDeleted       = 0x01
	CellIsExpiring      = 0x02
	CellHasEmptyValue   = 0x04
	CellUseRowTimestamp = 0x08
	CellUseRowTTL       = 0x10
)

// Cell is one cell. Value and Path alias the scanner's buffers: they are
// valid until the next call to Next or NextPartition (use Row.Clone to keep them).
type Cell struct {
	Flags             uint8 // as stored; informational
	Timestamp         int64 // microseconds
	TTL               int32 // seconds; NoTTL unless expiring
	LocalDeletionTime int64 // seconds: deletion time of a tombstone, expiry of an expiring cell, else NoDeletionTime
	Path              []byte
	Value             []byte // for counters: the counter context (see cql.CounterTotal)
}

// IsTombstone reports a deleted cell.
func (c *Cell) IsTombstone() bool { return c.LocalDeletionTime != NoDeletionTime && c.TTL == NoTTL }

// IsExpiring reports a TTL'd cell.
func (c *Cell) IsExpiring() bool { return c.TTL != NoTTL }

// IsLive reports whether the cell holds data at nowSec (an expiring cell
// turns into a tombstone at its LocalDeletionTime).
func (c *Cell) IsLive(nowSec int64) bool {
	return c.LocalDeletionTime == NoDeletionTime || (c.TTL != NoTTL && nowSec < c.LocalDeletionTime)
}

// ColumnData holds the cells of one column in a row: one cell for a simple
// column; for a complex (multi-cell) column, its cells sorted by path and the
// column's complex deletion.
type ColumnData struct {
	Column   *Column
	Cells    []Cell
	Deletion DeletionTime // complex columns only; Live otherwise
}

// Row is a static or regular row.
type Row struct {
	Clustering Clustering // nil for the static row and for tables without clustering columns
	Static     bool
	Liveness   LivenessInfo
	Deletion   DeletionTime
	Shadowable bool // deletion is shadowable (3.0 materialized views)
	Columns    []ColumnData
}

// IsEmpty reports a row without liveness, deletion or cells.
func (r *Row) IsEmpty() bool {
	return r.Liveness.IsEmpty() && r.Deletion.IsLive() && len(r.Columns) == 0
}

// Clone deep-copies the row so it outlives the scanner's buffers.
func (r *Row) Clone() *Row {
	c := &Row{}
	r.cloneInto(c, nil, nil)
	return c
}

// cloneInto copies r into dst using (and returning) the given arenas.
func (r *Row) cloneInto(dst *Row, arena []byte, cells []Cell) ([]byte, []Cell) {
	size := 0
	ncells := 0
	for _, v := range r.Clustering {
		size += len(v)
	}
	for _, cd := range r.Columns {
		ncells += len(cd.Cells)
		for _, c := range cd.Cells {
			size += len(c.Path) + len(c.Value)
		}
	}
	if cap(arena) < size {
		arena = make([]byte, 0, size)
	}
	arena = arena[:0]
	if cap(cells) < ncells {
		cells = make([]Cell, 0, ncells)
	}
	cells = cells[:0]
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		n := len(arena)
		arena = append(arena, b...)
		return arena[n:len(arena):len(arena)]
	}
	*dst = Row{Static: r.Static, Liveness: r.Liveness, Deletion: r.Deletion, Shadowable: r.Shadowable,
		Clustering: dst.Clustering[:0], Columns: dst.Columns[:0]}
	if r.Clustering == nil {
		dst.Clustering = nil
	}
	for _, v := range r.Clustering {
		dst.Clustering = append(dst.Clustering, cp(v))
	}
	for _, cd := range r.Columns {
		start := len(cells)
		for _, c := range cd.Cells {
			c.Path, c.Value = cp(c.Path), cp(c.Value)
			cells = append(cells, c)
		}
		dst.Columns = append(dst.Columns, ColumnData{Column: cd.Column, Cells: cells[start:len(cells):len(cells)], Deletion: cd.Deletion})
	}
	return arena, cells
}

// Clustering holds the serialized values of clustering columns, in order. A
// nil value is null (only legal in some compact tables).
type Clustering [][]byte

func cloneValues(vs [][]byte) Clustering {
	out := make(Clustering, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = slices.Clone(v)
		}
	}
	return out
}

// BoundKind is ClusteringPrefix.Kind; its ordinal is what SSTables store.
type BoundKind uint8

const (
	KindExclEndBound             BoundKind = 0
	KindInclStartBound           BoundKind = 1
	KindExclEndInclStartBoundary BoundKind = 2
	KindStaticClustering         BoundKind = 3
	KindClustering               BoundKind = 4
	KindInclEndExclStartBoundary BoundKind = 5
	KindInclEndBound             BoundKind = 6
	KindExclStartBound           BoundKind = 7
	numBoundKinds                          = 8
	kindComparison                         = "\x00\x00\x00\x01\x02\x03\x03\x03" // Kind.comparison
	kindComparedToClustering               = "\xff\xff\xff\xff\x00\x01\x01\x01" // Kind.comparedToClustering as int8
)

var boundKindNames = [...]string{"EXCL_END_BOUND", "INCL_START_BOUND", "EXCL_END_INCL_START_BOUNDARY", "STATIC_CLUSTERING",
	"CLUSTERING", "INCL_END_EXCL_START_BOUNDARY", "INCL_END_BOUND", "EXCL_START_BOUND"}

func (k BoundKind) String() string {
	if int(k) < len(boundKindNames) {
		return boundKindNames[k]
	}
	return "INVALID_KIND"
}

// IsBoundary reports a boundary (closes one deletion and opens another).
func (k BoundKind) IsBoundary() bool {
	return k == KindExclEndInclStartBoundary || k == KindInclEndExclStartBoundary
}

// IsStart reports a bound that opens a deletion (start bounds and boundaries).
func (k BoundKind) IsStart() bool {
	return k == KindInclStartBound || k == KindExclStartBound || k.IsBoundary()
}

// IsEnd reports a bound that closes a deletion (end bounds and boundaries).
func (k BoundKind) IsEnd() bool {
	return k == KindInclEndBound || k == KindExclEndBound || k.IsBoundary()
}

// Bound is a clustering prefix with a kind: a row's clustering
// (KindClustering) or a range tombstone bound or boundary.
type Bound struct {
	Kind   BoundKind
	Values Clustering
}

// RangeTombstoneMarker is a range tombstone bound or boundary. Close is the
// deletion that ends here (end bounds, boundaries), Open the deletion that
// starts here (start bounds, boundaries); the other is Live.
type RangeTombstoneMarker struct {
	Bound Bound
	Close DeletionTime
	Open  DeletionTime
}

// UnfilteredKind says whether an Unfiltered is a row or a marker.
type UnfilteredKind uint8

const (
	UnfilteredRow UnfilteredKind = iota
	UnfilteredMarker
)

// Unfiltered is a row or a range tombstone marker, in clustering order.
type Unfiltered struct {
	Kind     UnfilteredKind
	Row      Row                  // Kind == UnfilteredRow
	Marker   RangeTombstoneMarker // Kind == UnfilteredMarker
	Position int64                // offset in the uncompressed Data.db
}

// Prefix returns the clustering prefix the unfiltered sorts by.
func (u *Unfiltered) Prefix() Bound {
	if u.Kind == UnfilteredMarker {
		return u.Marker.Bound
	}
	return Bound{Kind: KindClustering, Values: u.Row.Clustering}
}

// Partition is the header of a partition.
type Partition struct {
	Key      []byte // the serialized partition key (CompositeType for several columns)
	Token    token.Token
	Deletion DeletionTime
	// Static is the static row, or nil when the table has no static
	// columns. It stays valid until NextPartition.
	Static   *Row
	Position int64 // offset of the partition in the uncompressed Data.db
}

// Comparator orders clusterings and bounds with the clustering column types
// (ReversedType included), as Cassandra's ClusteringComparator does.
type Comparator struct {
	Types []*cql.Type
}

// Compare orders two full clusterings.
func (c Comparator) Compare(a, b Clustering) int {
	return c.CompareBounds(Bound{KindClustering, a}, Bound{KindClustering, b})
}

// CompareBounds orders two prefixes with kinds (rows, bounds, boundaries).
// A bound sorts before or after every clustering that has its values as a
// prefix, per its kind.
func (c Comparator) CompareBounds(a, b Bound) int {
	n := min(len(a.Values), len(b.Values))
	for i := 0; i < n; i++ {
		if r := c.compareComponent(i, a.Values[i], b.Values[i]); r != 0 {
			return r
		}
	}
	if len(a.Values) == len(b.Values) {
		return cmp.Compare(kindComparison[a.Kind%numBoundKinds], kindComparison[b.Kind%numBoundKinds])
	}
	if len(a.Values) < len(b.Values) {
		return int(int8(kindComparedToClustering[a.Kind%numBoundKinds]))
	}
	return -int(int8(kindComparedToClustering[b.Kind%numBoundKinds]))
}

func (c Comparator) compareComponent(i int, a, b []byte) int {
	// nulls sort first
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if i >= len(c.Types) {
		return slices.Compare(a, b)
	}
	return cql.Compare(c.Types[i], a, b)
}

// CompareUnfiltered orders two unfiltereds of one partition.
func (c Comparator) CompareUnfiltered(a, b *Unfiltered) int {
	return c.CompareBounds(a.Prefix(), b.Prefix())
}
