// Package service is the `shadow serve` daemon: it schedules every dataset's
// shadow runs, at most Concurrency at a time, and serves HTTP on loopback:
//
//	/metrics   Prometheus metrics (contracts §7), every series initialised at start-up
//	/healthz   200 while the process is alive
//	/readyz    200 once the scheduler runs and the state database answers; 503 while shutting down
//	/v1/…      the decider API, when mounted
//
// A dataset's runs never overlap: when a run is still going at the next
// scheduled time, that tick is skipped and logged (the next night catches
// up). On shutdown the scheduler stops, runs in flight get Grace to finish,
// and are then cancelled, which the runner records as `aborted`.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/runner"
)

// DefaultListen is where serve listens unless told otherwise.
const DefaultListen = "127.0.0.1:9464"

// Service is the daemon.
type Service struct {
	Runner   *runner.Runner
	Datasets *datasets.File
	// Concurrency bounds the runs in flight (default 2).
	Concurrency int
	// Listen is the HTTP address (default DefaultListen).
	Listen string
	// Mounts are extra HTTP handlers by path prefix ("/v1/" → the decider).
	Mounts map[string]http.Handler
	// Grace is how long shutdown waits for runs in flight before aborting
	// them (default 30s).
	Grace time.Duration
	// RunAtStart runs every dataset once at start-up, as an ad-hoc run,
	// before following the schedules.
	RunAtStart bool
	// Ready, when set, is part of /readyz (e.g. a ping of the state database).
	Ready  func(context.Context) error
	Logger *slog.Logger
	// OnRun is called after each run (tests and the CLI's summary use it).
	OnRun func(*runner.Result)

	mu       sync.Mutex
	running  map[string]bool
	ready    bool
	stopping bool
	addr     string
}

// Addr is the address the HTTP server listens on, once Serve has started.
func (s *Service) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Serve runs the daemon until ctx is done, then shuts down: it stops
// scheduling, waits up to Grace for the runs in flight and aborts the rest,
// and stops the HTTP server. It returns nil after a clean shutdown.
func (s *Service) Serve(ctx context.Context) error {
	if s.Runner == nil || s.Datasets == nil {
		return errors.New("service: Runner and Datasets are required")
	}
	log := s.logger()
	listen := s.Listen
	if listen == "" {
		listen = DefaultListen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.running = map[string]bool{}
	s.mu.Unlock()

	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	log.Info("serving", "addr", s.addr, "datasets", len(s.Datasets.Datasets))

	// Runs get their own context: cancelled only when the grace period of
	// a shutdown is over, not when the shutdown starts.
	runCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	conc := s.Concurrency
	if conc <= 0 {
		conc = 2
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	launch := func(req runner.Request) {
		if !s.claim(req.Dataset) {
			log.Warn("skipping a scheduled run: the previous run of this dataset is still going", "dataset", req.Dataset, "scheduled", req.Scheduled)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.release(req.Dataset)
			select {
			case sem <- struct{}{}:
			case <-runCtx.Done():
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil { // shutting down: do not start new runs
				return
			}
			res, err := s.Runner.Run(runCtx, req)
			if err != nil {
				log.Error("run could not be recorded", "dataset", req.Dataset, "err", err)
				return
			}
			if s.OnRun != nil {
				s.OnRun(res)
			}
		}()
	}

	if s.RunAtStart {
		for _, d := range s.Datasets.Datasets {
			launch(runner.Request{Dataset: d.Name})
		}
	}
	var sched sync.WaitGroup
	for _, d := range s.Datasets.Datasets {
		sched.Add(1)
		go func() {
			defer sched.Done()
			s.schedule(ctx, d, launch)
		}()
	}
	s.setReady(true)

	select {
	case <-ctx.Done():
	case err := <-srvErr:
		s.setReady(false)
		abort(err)
		sched.Wait()
		wg.Wait()
		return fmt.Errorf("HTTP server on %s: %w", s.addr, err)
	}

	// Shutdown.
	s.mu.Lock()
	s.stopping, s.ready = true, false
	s.mu.Unlock()
	log.Info("shutting down: waiting for runs in flight", "grace", s.grace())
	sched.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.grace()):
		log.Warn("grace period over: aborting the runs in flight")
		abort(fmt.Errorf("%w: shutdown", runner.ErrAborted))
		<-done
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// A request still in flight (a slow scrape) after 5 s: the runs are
		// already recorded, so cut the connections rather than fail.
		log.Warn("HTTP requests still in flight at shutdown: closing their connections", "err", err)
		srv.Close()
	}
	log.Info("stopped")
	return nil
}

// schedule launches d's runs at its scheduled times until ctx is done.
func (s *Service) schedule(ctx context.Context, d datasets.Dataset, launch func(runner.Request)) {
	for {
		next := d.Next(time.Now())
		if next.IsZero() {
			return
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		launch(runner.Request{Dataset: d.Name, Scheduled: next})
	}
}

func (s *Service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Runner.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ready, stopping := s.ready, s.stopping
		s.mu.Unlock()
		switch {
		case stopping:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		case !ready:
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if s.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := s.Ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	for prefix, h := range s.Mounts {
		mux.Handle(prefix, h)
	}
	return mux
}

func (s *Service) claim(dataset string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[dataset] {
		return false
	}
	s.running[dataset] = true
	return true
}

func (s *Service) release(dataset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, dataset)
}

func (s *Service) setReady(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = v
}

func (s *Service) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return 30 * time.Second
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
