package metrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cassmove/shadow/shadow/promtest"
)

// The object-store hook runs once per request of a run; it must stay far
// below the cost of a request.
func BenchmarkObjectStoreRequest(b *testing.B) {
	m, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObjectStoreRequest(OpGet, ResultOK)
		}
	})
}

func BenchmarkRecordRun(b *testing.B) {
	m := benchMetrics(b, 100)
	r := Run{Dataset: "ds42", Status: StatusDiffers, Started: t0, Finished: t0.Add(time.Minute),
		Stages: map[string]time.Duration{StagePlan: 1, StageMove: 2, StageDiff: 3, StageLog: 4},
		Diff:   &Diff{LegacyRows: 10, NewRows: 10, OnlyInLegacy: 1, OnlyInNew: 1, Changed: 1, Similarity: 0.9}}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.RecordRun(r); err != nil {
			b.Fatal(err)
		}
	}
}

// Push of one dataset's run to a real Pushgateway that holds 100 datasets'
// groups: read the exposition, plan, POST.
func BenchmarkPush(b *testing.B) {
	pg := promtest.StartPushgateway(b)
	m := benchMetrics(b, 100)
	ctx := context.Background()
	for i := range 100 {
		if err := m.Push(ctx, PushConfig{URL: pg.URL, Dataset: fmt.Sprintf("ds%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	r := Run{Dataset: "ds42", Status: StatusFailed, Started: t0, Finished: t0}
	for b.Loop() {
		if err := m.RecordRun(r); err != nil {
			b.Fatal(err)
		}
		if err := m.Push(ctx, PushConfig{URL: pg.URL, Dataset: "ds42"}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMetrics(b *testing.B, n int) *Metrics {
	var ds []Dataset
	for i := range n {
		ds = append(ds, Dataset{Name: fmt.Sprintf("ds%d", i), SchedulePeriod: nightly})
	}
	m, err := New(Config{Datasets: ds})
	if err != nil {
		b.Fatal(err)
	}
	return m
}
