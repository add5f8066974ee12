package decider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cassmove/shadow/shadow/datasets"
)

// benchDecider has 1,000 datasets in 10 cohorts with ramps, 50 rules and 20
// pins: a registry larger than a real one is likely to be.
func benchDecider(b *testing.B) *Decider {
	b.Helper()
	ctx := context.Background()
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "- {name: m%04d, owner: o, cohort: c%d, source: {store: \"s3://b\", cluster: cl%d, keyspace: k%d, table: t%d}, legacy: l.t%d, new: n.t%d}\n", i, i%10, i%5, i%20, i, i, i)
	}
	f, err := datasets.Parse([]byte(sb.String()), "bench.yaml", nil)
	if err != nil {
		b.Fatal(err)
	}
	d, _ := newTestDecider(b, Options{Datasets: f})
	for c := 0; c < 10; c++ {
		if _, err := d.SetRamp(ctx, fmt.Sprintf("c%d", c), c*10, "bench", ""); err != nil {
			b.Fatal(err)
		}
	}
	for r := 0; r < 50; r++ {
		if _, _, err := d.SetRule(ctx, Rule{Keyspace: fmt.Sprintf("k%d", r%20), Table: fmt.Sprintf("t%d*", r), Path: PathLegacy}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	for p := 0; p < 20; p++ {
		if _, err := d.PinMovement(ctx, fmt.Sprintf("m%04d", p*50), PathNew, false, "bench", ""); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkExplain: one decision, read-only (shadow decider decide).
func BenchmarkExplain(b *testing.B) {
	d := benchDecider(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Explain(ctx, Movement{Dataset: fmt.Sprintf("m%04d", i%1000)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecide: one decision, recorded (one write transaction).
func BenchmarkDecide(b *testing.B) {
	d := benchDecider(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Decide(ctx, Movement{Dataset: fmt.Sprintf("m%04d", i%1000)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPDecide: GET /v1/decide by attributes over loopback, with a
// bearer token, from 4 concurrent clients.
func BenchmarkHTTPDecide(b *testing.B) {
	d := benchDecider(b)
	srv := httptest.NewServer(d.Handler("tok"))
	defer srv.Close()
	b.SetParallelism(2) // 2 × GOMAXPROCS clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/decide?cluster=cl%d&keyspace=k%d&table=t%d", srv.URL, i%5, i%20, i%1000), nil)
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
