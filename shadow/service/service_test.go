package service_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/demo"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/runner"
	"github.com/cassmove/shadow/shadow/service"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The daemon schedules both datasets (here every second), serves its probes
// and metrics, never overlaps two runs of one dataset, and on shutdown
// aborts what the grace period does not let finish: nothing stays running.
func TestServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a simulated cluster and Iceberg tables")
	}
	ctx := context.Background()
	w, err := demo.BuildWorld(ctx, demo.WorldOptions{Dir: filepath.Join(t.TempDir(), "world"), Mutations: 1500, Schedule: "@every 1s"})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.ReadFile(w.Datasets, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := investigations.Open(ctx, w.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var mds []metrics.Dataset
	for _, d := range ds.Datasets {
		mds = append(mds, metrics.Dataset{Name: d.Name, SchedulePeriod: d.SchedulePeriod()})
	}
	m, err := metrics.New(metrics.Config{Datasets: mds, ProcessMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner.Runner{Datasets: ds, Log: store, Metrics: m, Legacy: w.Legacy, New: w.New, TempDir: t.TempDir()}

	var (
		mu       sync.Mutex
		finished = map[string]int{}
	)
	s := &service.Service{
		Runner: r, Datasets: ds, Concurrency: 1, Listen: "127.0.0.1:0", Grace: time.Millisecond, RunAtStart: true,
		Ready: func(ctx context.Context) error { return store.DB().PingContext(ctx) },
		OnRun: func(res *runner.Result) {
			mu.Lock()
			finished[res.Dataset]++
			mu.Unlock()
		},
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx) }()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := min(finished["orders"], finished["users"])
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("two runs of each dataset did not finish in time: %v", finished)
		}
		time.Sleep(100 * time.Millisecond)
	}
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{`shadow_runs_total{dataset="orders",status="differs"}`, `shadow_similarity_ratio{dataset="users"}`, "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return after shutdown")
	}
	runs, _, err := store.Runs(ctx, investigations.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Runs of one dataset never overlap (Concurrency 1 also serialises all).
	var prevEnd time.Time
	for i := len(runs) - 1; i >= 0; i-- {
		run := runs[i]
		if run.Status == investigations.Running {
			t.Errorf("run %s left running after shutdown", run.ID)
		}
		if run.StartedAt.Before(prevEnd) {
			t.Errorf("run %s started at %s, before the previous run ended at %s", run.ID, run.StartedAt, prevEnd)
		}
		if run.FinishedAt != nil {
			prevEnd = *run.FinishedAt
		}
	}
}
