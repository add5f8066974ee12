package cluster

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"

	"github.com/cassmove/shadow/engine/ring"
)

// DCSpec describes one data center.
type DCSpec struct {
	Name  string
	Nodes int
	Racks int // default min(Nodes, 3)
	RF    int // NetworkTopologyStrategy replication factor (default min(Nodes, 3))
}

// NodeChange adds a node between two backup rounds (a topology change).
type NodeChange struct {
	DC         string // default the first DC
	Rack       string // default a rack of that DC chosen by the seed
	AfterRound int    // joins between backup round AfterRound and the next one (1-based)
}

// Node is one simulated Cassandra node.
type Node struct {
	Name   string
	DC     string
	Rack   string
	Tokens []int64
	// Version is the SSTable format the node writes (nb: 4.x, oa: 5.0).
	Version string
	// DropRate is the share of the writes sent to it that it misses.
	DropRate float64
	// JoinedAfter is 0 for the original nodes and the round after which
	// the node joined otherwise.
	JoinedAfter int

	hostID [16]byte // counter id
	skew   int64    // local clock offset, seconds
	index  int
}

func (n *Node) ringNode() ring.Node {
	return ring.Node{Name: n.Name, DC: n.DC, Rack: n.Rack, Tokens: slices.Clone(n.Tokens)}
}

// placement maps tokens to replicas with engine/ring (the writes go where
// Cassandra would send them).
type placement struct {
	ends     []int64    // sorted range end tokens
	replicas [][]string // per end
}

func newPlacement(nodes []*Node, rep ring.Replication) (*placement, error) {
	var rn []ring.Node
	for _, n := range nodes {
		rn = append(rn, n.ringNode())
	}
	r, err := ring.New(rn)
	if err != nil {
		return nil, err
	}
	sets, err := r.Replicas(rep)
	if err != nil {
		return nil, err
	}
	p := &placement{}
	for _, s := range sets {
		p.ends = append(p.ends, s.Range.End)
		p.replicas = append(p.replicas, s.Replicas)
	}
	idx := make([]int, len(p.ends))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p.ends[idx[a]] < p.ends[idx[b]] })
	ends, reps := make([]int64, len(idx)), make([][]string, len(idx))
	for i, j := range idx {
		ends[i], reps[i] = p.ends[j], p.replicas[j]
	}
	p.ends, p.replicas = ends, reps
	return p, nil
}

// of returns the replicas of the range (prev, end] holding token t.
func (p *placement) of(t int64) []string {
	i := sort.Search(len(p.ends), func(i int) bool { return p.ends[i] >= t })
	if i == len(p.ends) {
		i = 0
	}
	return p.replicas[i]
}

// buildTopology creates the original nodes.
func buildTopology(r *rand.Rand, o *Options) ([]*Node, error) {
	var nodes []*Node
	used := map[int64]bool{}
	for _, dc := range o.DCs {
		if dc.Name == "" || dc.Nodes <= 0 {
			return nil, fmt.Errorf("%w: data center %q needs a name and at least one node", ErrBadOptions, dc.Name)
		}
		racks := dc.Racks
		if racks <= 0 {
			racks = min(dc.Nodes, 3)
		}
		for i := range dc.Nodes {
			n := &Node{DC: dc.Name, Rack: rackName(o, dc.Name, i%racks), index: len(nodes)}
			n.Tokens = newTokens(r, used, o.Vnodes)
			n.Name = nodeName(o, dc.Name, i+1, n.Tokens[0])
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrBadOptions)
	}
	for _, n := range nodes {
		finishNode(r, o, n)
	}
	return nodes, nil
}

func finishNode(r *rand.Rand, o *Options, n *Node) {
	n.Version = o.Versions[r.IntN(len(o.Versions))]
	n.DropRate = o.DropRate
	if d, ok := o.NodeDropRate[n.Name]; ok {
		n.DropRate = d
	}
	fill(r, n.hostID[:])
	n.hostID[6] = n.hostID[6]&0x0f | 0x40
	n.hostID[8] = n.hostID[8]&0x3f | 0x80
	if o.ClockSkew > 0 {
		s := int64(o.ClockSkew.Seconds())
		n.skew = r.Int64N(2*s+1) - s
	}
}

func rackName(o *Options, dc string, i int) string {
	if o.Layout == "priam" {
		return fmt.Sprintf("%s%c", dc, 'a'+i)
	}
	return fmt.Sprintf("rack%d", i+1)
}

// nodeName: Medusa names nodes by FQDN; Priam by their single token, which
// is how the catalog (and so the engine's replica order) knows them.
func nodeName(o *Options, dc string, i int, token int64) string {
	if o.Layout == "priam" {
		return strconv.FormatInt(token, 10)
	}
	return fmt.Sprintf("%s-node%d.%s.example.com", dc, i, o.Keyspace)
}

func newTokens(r *rand.Rand, used map[int64]bool, n int) []int64 {
	var out []int64
	for len(out) < n {
		t := int64(r.Uint64())
		if t == math.MinInt64 || used[t] {
			continue
		}
		used[t] = true
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
