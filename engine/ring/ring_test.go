package ring

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// randomRing builds a ring of 1–12 nodes in 1–3 DCs with 1–3 racks each
// and 1–16 random tokens per node.
func randomRing(rnd *rand.Rand) []Node {
	nDC := 1 + rnd.IntN(3)
	var nodes []Node
	used := map[int64]bool{}
	vnodes := 1 + rnd.IntN(16)
	for d := range nDC {
		nRacks := 1 + rnd.IntN(3)
		nNodes := 1 + rnd.IntN(5)
		for i := range nNodes {
			n := Node{Name: fmt.Sprintf("n%d-%d", d, i), DC: fmt.Sprintf("dc%d", d+1), Rack: fmt.Sprintf("r%d", rnd.IntN(nRacks))}
			for range vnodes {
				var t int64
				switch rnd.IntN(20) {
				case 0:
					t = MinToken
				case 1:
					t = MaxToken
				default:
					t = int64(rnd.Uint64())
				}
				if used[t] {
					continue
				}
				used[t] = true
				n.Tokens = append(n.Tokens, t)
			}
			if len(n.Tokens) == 0 {
				t := int64(rnd.Uint64())
				for used[t] {
					t++
				}
				used[t] = true
				n.Tokens = []int64{t}
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// ntsOracle is Cassandra 3.x's NetworkTopologyStrategy, written the old
// way (skipped endpoints queued per DC and added once every rack was
// seen). 4.0 rewrote it; both must pick the same replica sets.
func ntsOracle(r *Ring, i int, dcRF map[string]int) []string {
	type dc struct {
		want    int
		got     []string
		racks   map[string]bool
		skipped []string
	}
	dcs := map[string]*dc{}
	for name, rf := range dcRF {
		if rf > 0 && r.dcNodes[name] > 0 {
			dcs[name] = &dc{want: min(rf, r.dcNodes[name]), racks: map[string]bool{}}
		}
	}
	done := func() bool {
		for _, d := range dcs {
			if len(d.got) < d.want {
				return false
			}
		}
		return true
	}
	var order []string
	chosen := map[string]bool{}
	for k := 0; k < len(r.entries) && !done(); k++ {
		n := r.nodes[r.entries[(i+k)%len(r.entries)].node]
		d := dcs[n.DC]
		if d == nil || len(d.got) >= d.want || chosen[n.Name] || slices.Contains(d.skipped, n.Name) {
			continue
		}
		if len(d.racks) == r.dcRacks[n.DC] { // every rack seen: take it
			d.got = append(d.got, n.Name)
			chosen[n.Name] = true
			order = append(order, n.Name)
			continue
		}
		if d.racks[n.Rack] {
			d.skipped = append(d.skipped, n.Name)
			continue
		}
		d.racks[n.Rack] = true
		d.got = append(d.got, n.Name)
		chosen[n.Name] = true
		order = append(order, n.Name)
		if len(d.racks) == r.dcRacks[n.DC] {
			for len(d.got) < d.want && len(d.skipped) > 0 {
				s := d.skipped[0]
				d.skipped = d.skipped[1:]
				d.got = append(d.got, s)
				chosen[s] = true
				order = append(order, s)
			}
		}
	}
	return order
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestReplicasAgainstOracle(t *testing.T) {
	rnd := rand.New(rand.NewPCG(42, 1))
	for iter := range 400 {
		nodes := randomRing(rnd)
		r, err := New(nodes)
		if err != nil {
			t.Fatal(err)
		}
		rep := Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{}}
		for _, dc := range r.DCs() {
			rep.DCFactors[dc] = 1 + rnd.IntN(4)
		}
		sets, err := r.Replicas(rep)
		if err != nil {
			t.Fatal(err)
		}
		for i, set := range sets {
			want := ntsOracle(r, i, rep.DCFactors)
			if !slices.Equal(sorted(set.Replicas), sorted(want)) {
				t.Fatalf("iter %d range %s: replicas %v, oracle %v (rf %v)", iter, set.Range, set.Replicas, want, rep.DCFactors)
			}
			// Per DC: min(rf, nodes) distinct replicas; distinct racks as
			// long as the DC has enough of them.
			perDC := map[string][]Node{}
			for _, name := range set.Replicas {
				n, _ := r.Node(name)
				perDC[n.DC] = append(perDC[n.DC], n)
			}
			for dc, rf := range rep.DCFactors {
				got := perDC[dc]
				if len(got) != min(rf, r.dcNodes[dc]) {
					t.Fatalf("iter %d: dc %s has %d replicas, want min(%d, %d)", iter, dc, len(got), rf, r.dcNodes[dc])
				}
				racks := map[string]bool{}
				for _, n := range got {
					racks[n.Rack] = true
				}
				if len(racks) != min(len(got), r.dcRacks[dc]) {
					t.Fatalf("iter %d: dc %s replicas on %d racks, want %d", iter, dc, len(racks), min(len(got), r.dcRacks[dc]))
				}
			}
		}
		// SimpleStrategy: the first rf distinct nodes clockwise.
		rf := 1 + rnd.IntN(4)
		ss, err := r.Replicas(Replication{Class: "org.apache.cassandra.locator.SimpleStrategy", Factor: rf})
		if err != nil {
			t.Fatal(err)
		}
		for i, set := range ss {
			if len(set.Replicas) != min(rf, len(nodes)) {
				t.Fatalf("simple: %d replicas", len(set.Replicas))
			}
			owner, _ := r.Node(set.Replicas[0])
			if !slices.Contains(owner.Tokens, r.entries[i].token) {
				t.Fatalf("simple: the first replica of %s is not the owner of its end token", set.Range)
			}
		}
	}
}

func TestRangesCoverTheRingOnce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		r, err := New(randomRing(rnd))
		if err != nil {
			t.Fatal(err)
		}
		sets, _ := r.Replicas(Replication{Class: "SimpleStrategy", Factor: 1})
		for range 50 {
			tok := int64(rnd.Uint64())
			if rnd.IntN(10) == 0 {
				tok = r.entries[rnd.IntN(len(r.entries))].token // a boundary
			}
			n := 0
			for _, s := range sets {
				if s.Range.Contains(tok) {
					n++
					// The owner is the node of the first ring token ≥ tok.
					i := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].token >= tok })
					if i == len(r.entries) {
						i = 0
					}
					if want := r.nodes[r.entries[i].node].Name; s.Replicas[0] != want {
						t.Fatalf("token %d: owner %s, want %s", tok, s.Replicas[0], want)
					}
				}
			}
			if n != 1 {
				t.Fatalf("token %d lies in %d ranges", tok, n)
			}
		}
	}
}

// checkCoverage asserts the units tile (MinToken, MaxToken] exactly.
func checkCoverage(t *testing.T, units []WorkUnit) {
	t.Helper()
	if len(units) == 0 {
		t.Fatal("no units")
	}
	if units[0].Range.Start != MinToken {
		t.Fatalf("the first unit starts at %d, want MinToken", units[0].Range.Start)
	}
	for i, u := range units {
		if u.Range.Wraps() {
			t.Fatalf("unit %d wraps: %s", i, u.Range)
		}
		if u.ID != i {
			t.Fatalf("unit %d has id %d", i, u.ID)
		}
		if i > 0 && u.Range.Start != units[i-1].Range.End {
			t.Fatalf("gap or overlap between %s and %s", units[i-1].Range, u.Range)
		}
	}
	if last := units[len(units)-1].Range.End; last != MaxToken {
		t.Fatalf("the last unit ends at %d, want MaxToken", last)
	}
}

func TestPlanCoverageAndReplicas(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 9))
	for iter := range 300 {
		nodes := randomRing(rnd)
		r, _ := New(nodes)
		rep := Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{}}
		for _, dc := range r.DCs() {
			rep.DCFactors[dc] = min(r.dcNodes[dc], 1+rnd.IntN(3))
		}
		cl := Consistency(rnd.IntN(4))
		minUnits := rnd.IntN(64)
		p, err := r.Plan(rep, cl, "", minUnits)
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		checkCoverage(t, p.Units)
		if len(p.Units) < minUnits {
			t.Fatalf("iter %d: %d units, want ≥ %d", iter, len(p.Units), minUnits)
		}
		sets, _ := r.Replicas(rep)
		for range 20 {
			tok := int64(rnd.Uint64())
			if tok == MinToken {
				continue
			}
			var unit *WorkUnit
			for i := range p.Units {
				if p.Units[i].Range.Contains(tok) {
					unit = &p.Units[i]
				}
			}
			var set ReplicaSet
			for _, s := range sets {
				if s.Range.Contains(tok) {
					set = s
				}
			}
			if !slices.Equal(sorted(unit.All), sorted(set.Replicas)) {
				t.Fatalf("iter %d token %d: unit replicas %v, ring says %v", iter, tok, unit.All, set.Replicas)
			}
			want := map[Consistency]int{One: 1, All: len(set.Replicas)}
			total := 0
			for _, f := range rep.DCFactors {
				total += f
			}
			want[Quorum] = total/2 + 1
			want[LocalQuorum] = rep.DCFactors[p.LocalDC]/2 + 1
			if len(unit.Replicas) != want[cl] {
				t.Fatalf("iter %d: %s chose %d replicas, want %d", iter, cl, len(unit.Replicas), want[cl])
			}
			if !slices.Equal(unit.Replicas, unit.All[:len(unit.Replicas)]) {
				t.Fatalf("iter %d: chosen %v is not a prefix of %v", iter, unit.Replicas, unit.All)
			}
		}
	}
}

func TestChooseOrder(t *testing.T) {
	nodes := []Node{
		{Name: "a1", DC: "dc1", Rack: "r1", Tokens: []int64{100}},
		{Name: "a2", DC: "dc1", Rack: "r2", Tokens: []int64{200}},
		{Name: "a3", DC: "dc1", Rack: "r3", Tokens: []int64{300}},
		{Name: "b1", DC: "dc2", Rack: "r1", Tokens: []int64{150}},
		{Name: "b2", DC: "dc2", Rack: "r1", Tokens: []int64{250}},
		{Name: "b3", DC: "dc2", Rack: "r2", Tokens: []int64{350}},
	}
	r, err := New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	rep := Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"dc1": 3, "dc2": 3}}
	set := ReplicaSet{Range: Range{50, 100}, Replicas: []string{"a1", "b1", "a2", "b2", "a3", "b3"}}
	cases := []struct {
		cl    Consistency
		local string
		want  string
	}{
		{One, "dc1", "a1"},
		{One, "dc2", "b1"},
		{LocalQuorum, "dc1", "a1 a2"},
		{LocalQuorum, "dc2", "b1 b2"}, // rack r1 first, then node name
		{Quorum, "dc1", "a1 a2 a3 b1"},
		{Quorum, "dc2", "b1 b2 b3 a1"},
		{All, "dc2", "b1 b2 b3 a1 a2 a3"},
	}
	for _, c := range cases {
		got, err := r.Choose(set, rep, c.cl, c.local)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s local %s = %v, want %s", c.cl, c.local, got, c.want)
		}
	}
	if dc := r.LocalDC(rep); dc != "dc1" {
		t.Errorf("default local DC = %s", dc)
	}
	if dc := r.LocalDC(Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"dc2": 1}}); dc != "dc2" {
		t.Errorf("default local DC of a dc2-only keyspace = %s", dc)
	}
	// Not enough replicas.
	_, err = r.Choose(ReplicaSet{Range: Range{1, 2}, Replicas: []string{"a1"}}, rep, LocalQuorum, "dc1")
	if !errors.Is(err, ErrConsistency) || !strings.Contains(err.Error(), "LOCAL_QUORUM needs 2 replicas in dc dc1, the ring has 1 (a1)") {
		t.Errorf("short replica set: %v", err)
	}
	_, err = r.Choose(set, Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"dc1": 3}}, LocalQuorum, "dc2")
	if !errors.Is(err, ErrConsistency) {
		t.Errorf("LOCAL_QUORUM where the keyspace has no replicas: %v", err)
	}
	if _, err := r.Plan(rep, One, "dc9", 1); !errors.Is(err, ErrTopology) {
		t.Errorf("unknown dc: %v", err)
	}
}

func TestSingleTokenRings(t *testing.T) {
	for _, tok := range []int64{MinToken, MaxToken, 0, -5} {
		r, err := New([]Node{{Name: "only", DC: "dc", Rack: "r", Tokens: []int64{tok}}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Plan(Replication{Class: "SimpleStrategy", Factor: 1}, All, "", 5)
		if err != nil {
			t.Fatal(err)
		}
		checkCoverage(t, p.Units)
		if len(p.Units) < 5 {
			t.Errorf("token %d: %d units", tok, len(p.Units))
		}
	}
}

// Priam rings: one token per node, tokens spread evenly, racks alternating.
func TestPriamStyleRing(t *testing.T) {
	var nodes []Node
	for i := range 6 {
		nodes = append(nodes, Node{Name: fmt.Sprint(i), DC: "us-east-1", Rack: fmt.Sprintf("us-east-1%c", 'a'+i%3),
			Tokens: []int64{MinToken + int64(uint64(i)*(^uint64(0)/6))}})
	}
	r, err := New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"us-east-1": 3}}, LocalQuorum, "", 12)
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, p.Units)
	for _, u := range p.Units {
		if len(u.All) != 3 || len(u.Replicas) != 2 {
			t.Fatalf("unit %d: %v / %v", u.ID, u.Replicas, u.All)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		g Range
		n int
	}{{Range{MinToken, MaxToken}, 7}, {Range{0, 10}, 3}, {Range{0, 2}, 5}, {Range{-3, 3}, 1}, {Range{MaxToken - 1, MaxToken}, 4}} {
		parts := Split(c.g, c.n)
		if parts[0].Start != c.g.Start || parts[len(parts)-1].End != c.g.End {
			t.Fatalf("split %s in %d: %v", c.g, c.n, parts)
		}
		var lo, hi uint64 = ^uint64(0), 0
		for i, p := range parts {
			if p.Wraps() || i > 0 && p.Start != parts[i-1].End {
				t.Fatalf("split %s in %d: %v", c.g, c.n, parts)
			}
			lo, hi = min(lo, p.Width()), max(hi, p.Width())
		}
		if hi-lo > 1 {
			t.Fatalf("split %s in %d: widths from %d to %d", c.g, c.n, lo, hi)
		}
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	r, _ := New([]Node{{Name: "a", DC: "dc1", Rack: "r1", Tokens: []int64{MinToken + 1, 0}}, {Name: "b", DC: "dc1", Rack: "r1", Tokens: []int64{MaxToken}}})
	p, err := r.Plan(Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{"dc1": 2}}, Quorum, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"start":"-9223372036854775808"`) || !strings.Contains(string(b), `"consistency":"QUORUM"`) {
		t.Fatalf("plan JSON: %s", b)
	}
	q, err := ParsePlan(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := q.JSON()
	if string(b) != string(b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
}

func TestNewRejectsBadTopologies(t *testing.T) {
	cases := map[string][]Node{
		"empty":         nil,
		"no name":       {{Tokens: []int64{1}}},
		"no tokens":     {{Name: "a"}},
		"duplicate":     {{Name: "a", Tokens: []int64{1}}, {Name: "a", Tokens: []int64{2}}},
		"shared token":  {{Name: "a", Tokens: []int64{1}}, {Name: "b", Tokens: []int64{1}}},
		"own token x 2": {{Name: "a", Tokens: []int64{1, 1}}},
	}
	for name, nodes := range cases {
		if _, err := New(nodes); !errors.Is(err, ErrTopology) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseConsistency("EACH_QUORUM"); !errors.Is(err, ErrConsistency) {
		t.Errorf("EACH_QUORUM: %v", err)
	}
	if _, err := ParseToken("0x10"); !errors.Is(err, ErrTopology) {
		t.Errorf("hex token: %v", err)
	}
	r, _ := New([]Node{{Name: "a", Tokens: []int64{1}}})
	if _, err := r.Replicas(Replication{Class: "LocalStrategy"}); !errors.Is(err, ErrTopology) {
		t.Errorf("LocalStrategy: %v", err)
	}
}
