// Package ring rebuilds a Cassandra token ring (Murmur3Partitioner, int64
// tokens) from a backup's topology, places replicas the way Cassandra
// does, chooses replicas per consistency level the way contracts §8 says,
// and splits the ring into independent work units.
//
//	tokens on the ring, sorted:   t0 < t1 < … < tn-1
//
//	 MinToken ──(tn-1, t0]──┐  each node owns (previous token, its token];
//	   t0 ───(t0, t1]───┐    │  the first range wraps through MaxToken
//	   t1 ───(t1, t2]── …    │  and MinToken
//	   …                     │
//	 MaxToken ───────────────┘
//
// A range is half-open on the left, Cassandra style: (Start, End]. A range
// with Start >= End wraps around. Work units never wrap: the wrapping
// range is cut into (Start, MaxToken] and (MinToken, End]. MinToken itself
// belongs to no unit, which loses nothing: Murmur3 never gives it to a
// key (a hash of MinToken is mapped to MaxToken) and Cassandra refuses
// empty partition keys.
//
// Replica placement follows Cassandra 4.0's NetworkTopologyStrategy
// (walk the ring clockwise from the range's end token; in each data
// center take nodes of unseen racks first, and nodes of seen racks only
// while the DC has fewer racks than its replication factor) and
// SimpleStrategy (the first RF distinct nodes clockwise).
package ring

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The token bounds of Murmur3Partitioner.
const (
	MinToken int64 = math.MinInt64
	MaxToken int64 = math.MaxInt64
)

// ErrTopology marks a topology that cannot form a ring; ErrConsistency a
// consistency level that the ring cannot satisfy.
var (
	ErrTopology    = errors.New("bad ring topology")
	ErrConsistency = errors.New("consistency level cannot be met")
)

// Node is one Cassandra node and the tokens it owns.
type Node struct {
	Name   string  `json:"name"` // host name, FQDN or another stable id
	DC     string  `json:"dc"`
	Rack   string  `json:"rack"`
	Tokens []int64 `json:"tokens"`
}

type entry struct {
	token int64
	node  int
}

// Ring is an immutable token ring.
type Ring struct {
	nodes   []Node
	entries []entry // sorted by token
	byName  map[string]int
	dcNodes map[string]int // nodes per DC
	dcRacks map[string]int // distinct racks per DC
}

// New builds the ring. Every node needs a unique name and at least one
// token; no token may be owned twice.
func New(nodes []Node) (*Ring, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrTopology)
	}
	r := &Ring{byName: map[string]int{}, dcNodes: map[string]int{}, dcRacks: map[string]int{}}
	owner := map[int64]string{}
	racks := map[[2]string]bool{}
	for i, n := range nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("%w: node %d has no name", ErrTopology, i)
		}
		if _, dup := r.byName[n.Name]; dup {
			return nil, fmt.Errorf("%w: node %s appears twice", ErrTopology, n.Name)
		}
		if len(n.Tokens) == 0 {
			return nil, fmt.Errorf("%w: node %s has no tokens", ErrTopology, n.Name)
		}
		n.Tokens = append([]int64(nil), n.Tokens...)
		r.byName[n.Name] = i
		r.nodes = append(r.nodes, n)
		r.dcNodes[n.DC]++
		if !racks[[2]string{n.DC, n.Rack}] {
			racks[[2]string{n.DC, n.Rack}] = true
			r.dcRacks[n.DC]++
		}
		for _, t := range n.Tokens {
			if o, dup := owner[t]; dup {
				return nil, fmt.Errorf("%w: token %d is owned by both %s and %s", ErrTopology, t, o, n.Name)
			}
			owner[t] = n.Name
			r.entries = append(r.entries, entry{t, i})
		}
	}
	sort.Slice(r.entries, func(i, j int) bool { return r.entries[i].token < r.entries[j].token })
	return r, nil
}

// Nodes returns the nodes in the order given to New.
func (r *Ring) Nodes() []Node { return r.nodes }

// Node returns the node with this name.
func (r *Ring) Node(name string) (Node, bool) {
	i, ok := r.byName[name]
	if !ok {
		return Node{}, false
	}
	return r.nodes[i], true
}

// DCs returns the data centers, sorted by name.
func (r *Ring) DCs() []string {
	var out []string
	for dc := range r.dcNodes {
		out = append(out, dc)
	}
	sort.Strings(out)
	return out
}

// Tokens returns the number of tokens on the ring.
func (r *Ring) Tokens() int { return len(r.entries) }

// Range is the token range (Start, End]. It wraps when Start >= End; a
// range with Start == End is the whole ring.
type Range struct {
	Start int64 `json:"start,string"` // exclusive
	End   int64 `json:"end,string"`   // inclusive
}

func (g Range) String() string { return fmt.Sprintf("(%d, %d]", g.Start, g.End) }

// Wraps reports whether the range runs through MaxToken to MinToken.
func (g Range) Wraps() bool { return g.Start >= g.End }

// Contains reports whether token t lies in the range.
func (g Range) Contains(t int64) bool {
	if g.Wraps() {
		return t > g.Start || t <= g.End
	}
	return t > g.Start && t <= g.End
}

// Unwrap returns the range as at most two ranges that do not wrap. Empty
// parts ((MaxToken, MaxToken], (MinToken, MinToken]) are dropped.
func (g Range) Unwrap() []Range {
	if !g.Wraps() {
		return []Range{g}
	}
	var out []Range
	if g.Start != MaxToken {
		out = append(out, Range{g.Start, MaxToken})
	}
	if g.End != MinToken {
		out = append(out, Range{MinToken, g.End})
	}
	return out
}

// Width is the number of tokens in a range that does not wrap.
func (g Range) Width() uint64 { return uint64(g.End) - uint64(g.Start) }

// ParseToken parses a decimal Murmur3 token.
func ParseToken(s string) (int64, error) {
	t, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: token %q is not a Murmur3 token (a decimal int64)", ErrTopology, s)
	}
	return t, nil
}

// Replication is a keyspace's replication strategy, as in its CREATE
// KEYSPACE: SimpleStrategy with Factor, or NetworkTopologyStrategy with a
// factor per data center.
type Replication struct {
	Class     string         `json:"class"` // SimpleStrategy or NetworkTopologyStrategy (short or full class name)
	Factor    int            `json:"replication_factor,omitempty"`
	DCFactors map[string]int `json:"dc_factors,omitempty"`
}

func (rep Replication) class() (string, error) {
	c := rep.Class
	if i := strings.LastIndex(c, "."); i >= 0 {
		c = c[i+1:]
	}
	switch c {
	case "SimpleStrategy", "NetworkTopologyStrategy":
		return c, nil
	}
	return "", fmt.Errorf("%w: replication class %q: want SimpleStrategy or NetworkTopologyStrategy", ErrTopology, rep.Class)
}

// factor is the replication factor of a DC (NTS) or of the ring (Simple).
func (rep Replication) factor(class, dc string) int {
	if class == "SimpleStrategy" {
		return rep.Factor
	}
	return rep.DCFactors[dc]
}

// ReplicaSet is one token range and its replicas in placement order
// (the order Cassandra's strategy found them walking the ring).
type ReplicaSet struct {
	Range    Range    `json:"range"`
	Replicas []string `json:"replicas"`
}

// Replicas returns the replica set of every range of the ring, in ring
// order: the wrapping range (tn-1, t0] first.
func (r *Ring) Replicas(rep Replication) ([]ReplicaSet, error) {
	class, err := rep.class()
	if err != nil {
		return nil, err
	}
	total := 0
	if class == "SimpleStrategy" {
		total = rep.Factor
	} else {
		for _, f := range rep.DCFactors {
			total += f
		}
	}
	if total <= 0 {
		return nil, fmt.Errorf("%w: replication factor is 0", ErrTopology)
	}
	out := make([]ReplicaSet, len(r.entries))
	for i, e := range r.entries {
		prev := r.entries[(i+len(r.entries)-1)%len(r.entries)].token
		var reps []int
		if class == "SimpleStrategy" {
			reps = r.simple(i, rep.Factor)
		} else {
			reps = r.nts(i, rep.DCFactors)
		}
		names := make([]string, len(reps))
		for k, n := range reps {
			names[k] = r.nodes[n].Name
		}
		out[i] = ReplicaSet{Range: Range{prev, e.token}, Replicas: names}
	}
	return out, nil
}

// simple walks clockwise from entry i and takes the first rf distinct nodes.
func (r *Ring) simple(i, rf int) []int {
	rf = min(rf, len(r.nodes))
	var out []int
	seen := map[int]bool{}
	for k := 0; k < len(r.entries) && len(out) < rf; k++ {
		n := r.entries[(i+k)%len(r.entries)].node
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// nts is NetworkTopologyStrategy.calculateNaturalReplicas of Cassandra 4.0.
func (r *Ring) nts(i int, dcRF map[string]int) []int {
	type dcState struct {
		rfLeft, repeatsLeft int
		racks               map[string]bool
	}
	states := map[string]*dcState{}
	pending := 0
	for dc, rf := range dcRF {
		if rf <= 0 || r.dcNodes[dc] == 0 {
			continue
		}
		states[dc] = &dcState{rfLeft: min(rf, r.dcNodes[dc]), repeatsLeft: rf - r.dcRacks[dc], racks: map[string]bool{}}
		pending++
	}
	var out []int
	chosen := map[int]bool{}
	for k := 0; k < len(r.entries) && pending > 0; k++ {
		n := r.entries[(i+k)%len(r.entries)].node
		node := r.nodes[n]
		st := states[node.DC]
		if st == nil || st.rfLeft == 0 || chosen[n] {
			continue
		}
		if !st.racks[node.Rack] {
			st.racks[node.Rack] = true
		} else if st.repeatsLeft > 0 {
			st.repeatsLeft--
		} else {
			continue // there are still racks to visit; no repeats allowed yet
		}
		chosen[n] = true
		out = append(out, n)
		st.rfLeft--
		if st.rfLeft == 0 {
			pending--
		}
	}
	return out
}
