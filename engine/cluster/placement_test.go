package cluster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cassmove/shadow/engine/ring"
)

// The writes go where engine/ring places them; the truth places replicas
// with its own plain implementation. They must agree, and so must the
// replica choice per consistency level.
func TestPlacementMatchesRing(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		o := RandomOptions(seed)
		if seed%4 == 0 {
			o.Vnodes = 16
		}
		if err := o.defaults(); err != nil {
			t.Fatal(err)
		}
		r := newRand(seed)
		nodes, err := buildTopology(r, &o)
		if err != nil {
			t.Fatal(err)
		}
		rep := ring.Replication{Class: "NetworkTopologyStrategy", DCFactors: map[string]int{}}
		for _, d := range o.DCs {
			rep.DCFactors[d.Name] = d.RF
		}
		if o.SimpleStrategy > 0 {
			rep = ring.Replication{Class: "SimpleStrategy", Factor: o.SimpleStrategy}
		}
		pl, err := newPlacement(nodes, rep)
		if err != nil {
			t.Fatal(err)
		}
		var rn []ring.Node
		byName := map[string]*Node{}
		for _, n := range nodes {
			rn = append(rn, n.ringNode())
			byName[n.Name] = n
		}
		rg, err := ring.New(rn)
		if err != nil {
			t.Fatal(err)
		}
		sets, err := rg.Replicas(rep)
		if err != nil {
			t.Fatal(err)
		}
		// every range end token, its neighbours, and random tokens
		var toks []int64
		for _, n := range nodes {
			for _, tk := range n.Tokens {
				toks = append(toks, tk, tk-1, tk+1)
			}
		}
		for range 200 {
			toks = append(toks, int64(r.Uint64()))
		}
		for _, tk := range toks {
			want := slices.Sorted(slices.Values(pl.of(tk)))
			got := slices.Sorted(slices.Values(placeReplicas(nodes, rep, tk)))
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d token %d: truth places %v, engine/ring %v", seed, tk, got, want)
			}
		}
		for _, set := range sets {
			for _, dc := range append(rg.DCs(), "") {
				local := dc
				if local == "" {
					local = rg.LocalDC(rep)
					if d := defaultLocalDC(nodes, rep); d != local {
						t.Fatalf("seed %d: default local DC %q, engine/ring %q", seed, d, local)
					}
				}
				for _, cl := range []ring.Consistency{ring.One, ring.LocalQuorum, ring.Quorum, ring.All} {
					want, werr := rg.Choose(set, rep, cl, local)
					got, gerr := chooseReplicas(byName, set.Replicas, rep, cl, local)
					if (werr == nil) != (gerr == nil) || !slices.Equal(got, want) {
						t.Fatalf("seed %d %v in %s, range %v: truth chooses %v (%v), engine/ring %v (%v)",
							seed, cl, local, set.Range, got, gerr, want, werr)
					}
				}
			}
		}
	}
}

func ExampleRandom() {
	c, err := Random(42, Options{})
	if err != nil {
		panic(err)
	}
	tb, err := c.Truth(Query{Table: "events", Round: 2})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(c.Backups()), "backups;", tb.Name, "columns:", len(tb.Columns))
	// Output: 3 backups; events columns: 16
}
