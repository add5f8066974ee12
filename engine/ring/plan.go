package ring

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Consistency is the consistency level the engine reads at: how many
// replicas of each range it merges.
type Consistency int

// The supported levels. The default is LocalQuorum, as in cassandra-analytics.
const (
	LocalQuorum Consistency = iota
	One
	Quorum
	All
)

var consistencyNames = [...]string{"LOCAL_QUORUM", "ONE", "QUORUM", "ALL"}

func (c Consistency) String() string {
	if int(c) < len(consistencyNames) {
		return consistencyNames[c]
	}
	return fmt.Sprintf("Consistency(%d)", int(c))
}

// MarshalText writes the level's name.
func (c Consistency) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a level's name.
func (c *Consistency) UnmarshalText(b []byte) error {
	v, err := ParseConsistency(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// ParseConsistency reads ONE, LOCAL_ONE (same as ONE), QUORUM,
// LOCAL_QUORUM or ALL, in any case.
func ParseConsistency(s string) (Consistency, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ONE", "LOCAL_ONE":
		return One, nil
	case "QUORUM":
		return Quorum, nil
	case "LOCAL_QUORUM", "":
		return LocalQuorum, nil
	case "ALL":
		return All, nil
	}
	return 0, fmt.Errorf("%w: consistency level %q: want ONE, LOCAL_QUORUM, QUORUM or ALL", ErrConsistency, s)
}

// LocalDC returns the data center a plan treats as local when none is
// given: the first by name among the DCs that hold replicas of the
// keyspace (contracts §8).
func (r *Ring) LocalDC(rep Replication) string {
	class, _ := rep.class()
	for _, dc := range r.DCs() {
		if class != "NetworkTopologyStrategy" || rep.DCFactors[dc] > 0 {
			return dc
		}
	}
	return ""
}

// Order sorts replicas as contracts §8 says: the local DC first, then the
// other DCs by name; within a DC by rack, then by node name.
func (r *Ring) Order(replicas []string, localDC string) []string {
	out := append([]string(nil), replicas...)
	key := func(name string) (bool, string, string) {
		n := r.nodes[r.byName[name]]
		return n.DC != localDC, n.DC, n.Rack
	}
	sort.SliceStable(out, func(i, j int) bool {
		li, di, ri := key(out[i])
		lj, dj, rj := key(out[j])
		switch {
		case li != lj:
			return !li
		case di != dj:
			return di < dj
		case ri != rj:
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// Choose picks the replicas to read for one replica set (contracts §8):
// ordered by Order, ONE takes the first; LOCAL_QUORUM the first
// ⌊RF_local/2⌋+1 of the local DC; QUORUM the first ⌊RF_total/2⌋+1; ALL
// all of them. With SimpleStrategy LOCAL_QUORUM is QUORUM. Fewer replicas
// than the level needs is an error wrapping ErrConsistency.
func (r *Ring) Choose(set ReplicaSet, rep Replication, cl Consistency, localDC string) ([]string, error) {
	class, err := rep.class()
	if err != nil {
		return nil, err
	}
	ordered := r.Order(set.Replicas, localDC)
	need := 0
	pool := ordered
	switch cl {
	case One:
		need = 1
	case All:
		need = len(ordered)
		total := rep.Factor
		if class == "NetworkTopologyStrategy" {
			total = 0
			for _, f := range rep.DCFactors {
				total += f
			}
		}
		if len(ordered) < total {
			return nil, fmt.Errorf("%w: range %s: ALL needs %d replicas, the ring has %d (%s)", ErrConsistency, set.Range, total, len(ordered), strings.Join(ordered, ", "))
		}
	case Quorum:
		total := rep.Factor
		if class == "NetworkTopologyStrategy" {
			total = 0
			for _, f := range rep.DCFactors {
				total += f
			}
		}
		need = total/2 + 1
	case LocalQuorum:
		if class == "SimpleStrategy" {
			need = rep.Factor/2 + 1
			break
		}
		rf := rep.DCFactors[localDC]
		if rf == 0 {
			return nil, fmt.Errorf("%w: LOCAL_QUORUM in dc %q: the keyspace has no replicas there (replication %v)", ErrConsistency, localDC, rep.DCFactors)
		}
		need = rf/2 + 1
		pool = nil
		for _, name := range ordered {
			if r.nodes[r.byName[name]].DC == localDC {
				pool = append(pool, name)
			}
		}
	default:
		return nil, fmt.Errorf("%w: unknown level %v", ErrConsistency, cl)
	}
	if len(pool) < need {
		where := ""
		if cl == LocalQuorum && class == "NetworkTopologyStrategy" {
			where = " in dc " + localDC
		}
		return nil, fmt.Errorf("%w: range %s: %s needs %d replicas%s, the ring has %d (%s)", ErrConsistency, set.Range, cl, need, where, len(pool), strings.Join(pool, ", "))
	}
	return pool[:need], nil
}

// WorkUnit is one independent piece of work: a token range that does not
// wrap, and the replicas whose SSTables must be merged for it. It is
// serializable (JSON) so that a distributed runner can ship it.
type WorkUnit struct {
	ID       int      `json:"id"`
	Range    Range    `json:"range"`
	Replicas []string `json:"replicas"`     // chosen for the consistency level, in contracts §8 order
	All      []string `json:"all_replicas"` // every replica of the range, same order; for fallback
}

// Plan is the ring cut into work units for one keyspace and consistency level.
type Plan struct {
	Replication Replication `json:"replication"`
	Consistency Consistency `json:"consistency"`
	LocalDC     string      `json:"local_dc"`
	Units       []WorkUnit  `json:"units"`
}

// JSON encodes the plan.
func (p *Plan) JSON() ([]byte, error) { return json.Marshal(p) }

// ParsePlan decodes a plan written by JSON.
func ParsePlan(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("ring plan: %w", err)
	}
	return &p, nil
}

// Plan cuts the ring into at least minUnits work units (and at least one
// per replica range): every range gets a number of units proportional to
// its share of the token space, and the cuts spread the remainder evenly.
// localDC "" means the default of LocalDC. The units cover (MinToken,
// MaxToken] exactly once, in token order.
func (r *Ring) Plan(rep Replication, cl Consistency, localDC string, minUnits int) (*Plan, error) {
	sets, err := r.Replicas(rep)
	if err != nil {
		return nil, err
	}
	if localDC == "" {
		localDC = r.LocalDC(rep)
	} else if r.dcNodes[localDC] == 0 {
		return nil, fmt.Errorf("%w: dc %q is not in the ring (dcs: %s)", ErrTopology, localDC, strings.Join(r.DCs(), ", "))
	}
	p := &Plan{Replication: rep, Consistency: cl, LocalDC: localDC}
	for _, set := range sets {
		chosen, err := r.Choose(set, rep, cl, localDC)
		if err != nil {
			return nil, err
		}
		all := r.Order(set.Replicas, localDC)
		for _, part := range set.Range.Unwrap() {
			for _, sub := range Split(part, unitsFor(part, minUnits)) {
				p.Units = append(p.Units, WorkUnit{Range: sub, Replicas: chosen, All: all})
			}
		}
	}
	sort.Slice(p.Units, func(i, j int) bool { return p.Units[i].Range.Start < p.Units[j].Range.Start })
	for i := range p.Units {
		p.Units[i].ID = i
	}
	return p, nil
}

// unitsFor is ⌈minUnits · width / 2^64⌉, at least 1.
func unitsFor(g Range, minUnits int) int {
	if minUnits <= 1 {
		return 1
	}
	hi, lo := bits.Mul64(uint64(minUnits), g.Width())
	n := hi
	if lo != 0 {
		n++
	}
	return max(1, int(n))
}

// Split cuts a range that does not wrap into n consecutive ranges of
// near-equal width (they differ by at most one token). n is capped at the
// range's width.
func Split(g Range, n int) []Range {
	w := g.Width()
	if n <= 1 || w <= 1 {
		return []Range{g}
	}
	if uint64(n) > w {
		n = int(w)
	}
	out := make([]Range, 0, n)
	start := g.Start
	for j := 1; j <= n; j++ {
		end := g.End
		if j < n {
			// start + ⌊w·j/n⌋, in 128-bit arithmetic.
			hi, lo := bits.Mul64(w, uint64(j))
			q, _ := bits.Div64(hi, lo, uint64(n))
			end = int64(uint64(g.Start) + q)
		}
		out = append(out, Range{start, end})
		start = end
	}
	return out
}
