package diff

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// Side is where a discrepancy lives (contracts §3).
type Side string

// The sides of contracts §3.
const (
	OnlyInLegacy Side = "only_in_legacy"
	OnlyInNew    Side = "only_in_new"
	Changed      Side = "changed"
)

// Class is the classification of contracts §1.
type Class string

// Classes. Without a key every row is only_in_legacy or only_in_new.
const (
	ClassMissing         Class = "missing"
	ClassExtra           Class = "extra"
	ClassChanged         Class = "changed"
	ClassWithinTolerance Class = "within_tolerance"
	ClassOnlyInLegacy    Class = "only_in_legacy"
	ClassOnlyInNew       Class = "only_in_new"
)

// Row is one full row as compared (after normalization): its fingerprint
// and its values by column name, as JSON-friendly Go values (see
// decodeValue in value.go). Values also hold the side's carried columns
// (Options.Carry), as read, not normalized and not fingerprinted.
type Row struct {
	Fingerprint Fingerprint    `json:"fingerprint"`
	Values      map[string]any `json:"values"`
}

// ColumnDiff is one differing column of a changed row, with both values.
type ColumnDiff struct {
	Column string `json:"column"`
	Legacy any    `json:"legacy"`
	New    any    `json:"new"`
}

// Discrepancy is one row of C − M or M − C, classified. A changed pair
// (same key on both sides) is one discrepancy with both rows and the
// differing columns; a changed key's unpaired rows (duplicate keys) carry
// one row.
type Discrepancy struct {
	Side    Side           `json:"side"`
	Class   Class          `json:"class"`
	Key     map[string]any `json:"key,omitempty"`
	Legacy  *Row           `json:"legacy,omitempty"`
	New     *Row           `json:"new,omitempty"`
	Columns []ColumnDiff   `json:"columns,omitempty"`
}

// SideInfo describes what one side read.
type SideInfo struct {
	Ref        string   `json:"ref"`
	SnapshotID *int64   `json:"snapshot_id,omitempty"`
	Files      []string `json:"files"`
	FilesRead  int      `json:"files_read"`
	Rows       int64    `json:"rows"`
}

// ColumnInfo is one compared column.
type ColumnInfo struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	LegacyType string `json:"legacy_type"`
	NewType    string `json:"new_type"`
	Key        bool   `json:"key,omitempty"`
}

// Samples are bounded, deterministic samples of each class: the first
// rows in key order (fingerprint order without a key).
type Samples struct {
	Changed         []Discrepancy    `json:"changed,omitempty"`
	Missing         []Discrepancy    `json:"missing,omitempty"`
	Extra           []Discrepancy    `json:"extra,omitempty"`
	WithinTolerance []Discrepancy    `json:"within_tolerance,omitempty"`
	OnlyInLegacy    []Discrepancy    `json:"only_in_legacy,omitempty"`
	OnlyInNew       []Discrepancy    `json:"only_in_new,omitempty"`
	DuplicateKeys   []map[string]any `json:"duplicate_keys,omitempty"`
}

// PhaseTimes are the seconds each phase took.
type PhaseTimes struct {
	Plan   float64 `json:"plan"`   // listing files, reading footers and manifests
	Digest float64 `json:"digest"` // phase 1: read, encode, fingerprint, spill
	Exact  float64 `json:"exact"`  // phase 2: exact difference of unequal partitions, duplicate keys
	Report float64 `json:"report"` // ordering, classification, samples, outputs
	Total  float64 `json:"total"`
}

// RunInfo is the run's metadata.
type RunInfo struct {
	Started           time.Time  `json:"started"`
	Partitions        int        `json:"partitions"`
	UnequalPartitions int        `json:"unequal_partitions"`
	SpillBuckets      int        `json:"spill_buckets"`
	Workers           int        `json:"workers"`
	MemoryBudget      int64      `json:"memory_budget_bytes"`
	SpilledBytes      int64      `json:"spilled_bytes"`
	Phases            PhaseTimes `json:"phase_seconds"`
}

// Report is the result of a diff, with the fields of contracts §1.
type Report struct {
	Legacy       SideInfo `json:"legacy"`
	New          SideInfo `json:"new"`
	LegacyRows   int64    `json:"legacy_rows"`
	NewRows      int64    `json:"new_rows"`
	OnlyInLegacy int64    `json:"only_in_legacy"`
	OnlyInNew    int64    `json:"only_in_new"`
	Matched      int64    `json:"matched"`
	Similarity   float64  `json:"similarity"`
	Clean        bool     `json:"clean"`

	Key              []string         `json:"key,omitempty"`
	Carry            []string         `json:"carry,omitempty"`
	Changed          *int64           `json:"changed,omitempty"`
	Missing          *int64           `json:"missing,omitempty"`
	Extra            *int64           `json:"extra,omitempty"`
	DuplicateKeys    *int64           `json:"duplicate_keys,omitempty"`
	WithinTolerance  *int64           `json:"within_tolerance,omitempty"`
	DifferingColumns map[string]int64 `json:"differing_columns,omitempty"`

	Samples Samples      `json:"samples"`
	Columns []ColumnInfo `json:"columns"`
	Rules   []Rule       `json:"rules"`
	Run     RunInfo      `json:"run"`
}

func (r *Report) finish() {
	r.Matched = r.LegacyRows - r.OnlyInLegacy
	r.Clean = r.OnlyInLegacy == 0 && r.OnlyInNew == 0
	if den := max(r.LegacyRows, r.NewRows); den == 0 {
		r.Similarity = 1
	} else {
		r.Similarity = float64(r.Matched) / float64(den)
	}
}

// classifier walks the sorted rows of C − M and M − C, pairs rows that
// share a key, applies tolerances, classifies, and feeds the samples, the
// caller's callback and the Parquet outputs.
type classifier struct {
	cols    []column
	keyIdx  []int
	carry   *carried
	rules   []colRule
	sample  int
	rep     *Report
	onDisc  func(Discrepancy) error
	out     *outWriter
	counts  struct{ changed, missing, extra, within int64 }
	diffCol map[string]int64

	group   []sortEntry
	arena   []byte
	groupK  []byte
	lsplit  [][]byte
	nsplit  [][]byte
	scratch [][]byte
}

func (c *classifier) keyed() bool { return len(c.keyIdx) > 0 }

func (c *classifier) add(e sortEntry) error {
	if !c.keyed() {
		return c.single(e)
	}
	if len(c.group) > 0 && !bytes.Equal(e.key, c.groupK) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if len(c.group) == 0 {
		c.groupK = append(c.groupK[:0], e.key...)
	}
	// Entries are only valid during the call: copy.
	start := len(c.arena)
	c.arena = append(c.arena, e.row...)
	e.row = c.arena[start:len(c.arena):len(c.arena)]
	if e.carry != nil {
		start = len(c.arena)
		c.arena = append(c.arena, e.carry...)
		e.carry = c.arena[start:len(c.arena):len(c.arena)]
	}
	e.key = nil
	c.group = append(c.group, e)
	return nil
}

func (c *classifier) finish() error {
	if len(c.group) > 0 {
		return c.flush()
	}
	return nil
}

func (c *classifier) single(e sortEntry) error {
	side, class := OnlyInLegacy, ClassOnlyInLegacy
	if e.side == sideNew {
		side, class = OnlyInNew, ClassOnlyInNew
	}
	if err := c.out.write(e.side, e.row, e.carry); err != nil {
		return err
	}
	return c.deliver(class, func() (Discrepancy, error) {
		r, err := c.row(e)
		if err != nil {
			return Discrepancy{}, err
		}
		d := Discrepancy{Side: side, Class: class}
		if e.side == sideLegacy {
			d.Legacy = r
		} else {
			d.New = r
		}
		return d, nil
	})
}

func (c *classifier) samples(class Class) *[]Discrepancy {
	s := &c.rep.Samples
	switch class {
	case ClassChanged:
		return &s.Changed
	case ClassMissing:
		return &s.Missing
	case ClassExtra:
		return &s.Extra
	case ClassWithinTolerance:
		return &s.WithinTolerance
	case ClassOnlyInLegacy:
		return &s.OnlyInLegacy
	default:
		return &s.OnlyInNew
	}
}

// deliver builds a discrepancy only if someone wants it.
func (c *classifier) deliver(class Class, build func() (Discrepancy, error)) error {
	smp := c.samples(class)
	wantSample := len(*smp) < c.sample
	wantCallback := c.onDisc != nil && class != ClassWithinTolerance
	if !wantSample && !wantCallback {
		return nil
	}
	d, err := build()
	if err != nil {
		return err
	}
	if wantSample {
		*smp = append(*smp, d)
	}
	if wantCallback {
		return c.onDisc(d)
	}
	return nil
}

func (c *classifier) row(e sortEntry) (*Row, error) {
	vals, err := splitRow(e.row, len(c.cols), c.scratch)
	if err != nil {
		return nil, err
	}
	c.scratch = vals
	var names []string
	var types []*ctype
	if c.carry != nil {
		names, types = c.carry.names[e.side], c.carry.types[e.side]
	}
	m := make(map[string]any, len(c.cols)+len(names))
	for j, col := range c.cols {
		m[col.name] = decodeChecked(vals[j], col.typ)
	}
	if len(names) > 0 {
		if vals, err = splitRow(e.carry, len(names), vals); err != nil {
			return nil, fmt.Errorf("carried values: %w", err)
		}
		c.scratch = vals
		for j, name := range names {
			m[name] = decodeChecked(vals[j], types[j])
		}
	}
	return &Row{Fingerprint: Fingerprint(e.fp), Values: m}, nil
}

func (c *classifier) keyValues(row []byte) (map[string]any, error) {
	vals, err := splitRow(row, len(c.cols), c.scratch)
	if err != nil {
		return nil, err
	}
	c.scratch = vals
	m := make(map[string]any, len(c.keyIdx))
	for _, j := range c.keyIdx {
		m[c.cols[j].name] = decodeChecked(vals[j], c.cols[j].typ)
	}
	return m, nil
}

// flush classifies the rows of one key.
func (c *classifier) flush() error {
	defer func() { c.group, c.arena = c.group[:0], c.arena[:0] }()
	var ls, ns []sortEntry
	for _, e := range c.group {
		if e.side == sideLegacy {
			ls = append(ls, e)
		} else {
			ns = append(ns, e)
		}
	}
	type pair struct {
		l, n   sortEntry
		differ []int
	}
	var pairs []pair
	var restL, restN []sortEntry
	for i := 0; i < max(len(ls), len(ns)); i++ {
		switch {
		case i < len(ls) && i < len(ns):
			differ, within, err := c.compare(ls[i].row, ns[i].row)
			if err != nil {
				return err
			}
			if within {
				c.counts.within++
				c.rep.OnlyInLegacy--
				c.rep.OnlyInNew--
				l, n := ls[i], ns[i]
				if err := c.deliver(ClassWithinTolerance, func() (Discrepancy, error) { return c.pairDisc(ClassWithinTolerance, l, n, differ) }); err != nil {
					return err
				}
				continue
			}
			pairs = append(pairs, pair{ls[i], ns[i], differ})
		case i < len(ls):
			restL = append(restL, ls[i])
		default:
			restN = append(restN, ns[i])
		}
	}
	if len(pairs) == 0 {
		for _, e := range restL {
			if err := c.lone(ClassMissing, OnlyInLegacy, e); err != nil {
				return err
			}
		}
		for _, e := range restN {
			if err := c.lone(ClassExtra, OnlyInNew, e); err != nil {
				return err
			}
		}
		return nil
	}
	c.counts.changed++
	for _, p := range pairs {
		for _, j := range p.differ {
			c.diffCol[c.cols[j].name]++
		}
		if err := c.out.write(sideLegacy, p.l.row, p.l.carry); err != nil {
			return err
		}
		if err := c.out.write(sideNew, p.n.row, p.n.carry); err != nil {
			return err
		}
		if err := c.deliver(ClassChanged, func() (Discrepancy, error) { return c.pairDisc(ClassChanged, p.l, p.n, p.differ) }); err != nil {
			return err
		}
	}
	for _, e := range append(restL, restN...) {
		if err := c.lone(ClassChanged, Changed, e); err != nil {
			return err
		}
	}
	return nil
}

// lone delivers a row without a partner.
func (c *classifier) lone(class Class, side Side, e sortEntry) error {
	switch class {
	case ClassMissing:
		c.counts.missing++
	case ClassExtra:
		c.counts.extra++
	}
	if err := c.out.write(e.side, e.row, e.carry); err != nil {
		return err
	}
	return c.deliver(class, func() (Discrepancy, error) {
		k, err := c.keyValues(e.row)
		if err != nil {
			return Discrepancy{}, err
		}
		r, err := c.row(e)
		if err != nil {
			return Discrepancy{}, err
		}
		d := Discrepancy{Side: side, Class: class, Key: k}
		if e.side == sideLegacy {
			d.Legacy = r
		} else {
			d.New = r
		}
		return d, nil
	})
}

func (c *classifier) pairDisc(class Class, l, n sortEntry, differ []int) (Discrepancy, error) {
	k, err := c.keyValues(l.row)
	if err != nil {
		return Discrepancy{}, err
	}
	lr, err := c.row(l)
	if err != nil {
		return Discrepancy{}, err
	}
	nr, err := c.row(n)
	if err != nil {
		return Discrepancy{}, err
	}
	d := Discrepancy{Side: Changed, Class: class, Key: k, Legacy: lr, New: nr}
	for _, j := range differ {
		name := c.cols[j].name
		d.Columns = append(d.Columns, ColumnDiff{Column: name, Legacy: lr.Values[name], New: nr.Values[name]})
	}
	return d, nil
}

// compare returns the columns where two rows differ and whether every
// difference lies within its column's tolerance.
func (c *classifier) compare(l, n []byte) ([]int, bool, error) {
	var err error
	if c.lsplit, err = splitRow(l, len(c.cols), c.lsplit); err != nil {
		return nil, false, err
	}
	if c.nsplit, err = splitRow(n, len(c.cols), c.nsplit); err != nil {
		return nil, false, err
	}
	var differ []int
	within := true
	for j := range c.cols {
		if bytes.Equal(c.lsplit[j], c.nsplit[j]) {
			continue
		}
		differ = append(differ, j)
		if t := c.rules[j].tol; t == nil || !t.within(c.lsplit[j], c.nsplit[j]) {
			within = false
		}
	}
	if len(differ) == 0 {
		// Equal bytes would have cancelled in phase 2.
		return nil, false, fmt.Errorf("%w: paired rows are identical", ErrCorruptRow)
	}
	return differ, within, nil
}

// sortedKeys is a bounded, ordered sample of duplicate keys.
type dupSample struct {
	n    int
	keys [][]byte // order keys, sorted
	vals [][]byte // canonical key bytes, parallel
}

func (s *dupSample) add(order, key []byte) {
	if s.n <= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(s.keys, order, bytes.Compare)
	if i >= s.n {
		return
	}
	s.keys = slices.Insert(s.keys, i, bytes.Clone(order))
	s.vals = slices.Insert(s.vals, i, bytes.Clone(key))
	if len(s.keys) > s.n {
		s.keys, s.vals = s.keys[:s.n], s.vals[:s.n]
	}
}
