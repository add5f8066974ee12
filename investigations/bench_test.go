package investigations

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Speed targets (docs/benchmarks.md, "Investigation log"):
//   - inserting 1M discrepancy rows takes 10 s or less;
//   - filtered listings on a log of 1M rows stay under 200 ms.
//
//	go test ./investigations -run '^$' -bench . -benchtime 1x    (insert)
//	go test ./investigations -run '^$' -bench Listing             (listings)

// benchBatches are realistic discrepancies, reused cyclically: changed rows
// with one or two differing columns (some timestamps off by precision, some
// NULL vs ”), missing rows with TTL provenance, and extra rows.
func benchBatches(n, size int) [][]Discrepancy {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	out := make([][]Discrepancy, n)
	id := 0
	for b := range out {
		batch := make([]Discrepancy, size)
		for i := range batch {
			id++
			key := map[string]any{"customer_id": id, "order_id": fmt.Sprintf("o-%08d", id)}
			row := func(amount float64, note any, ts time.Time) map[string]any {
				return map[string]any{"customer_id": id, "order_id": key["order_id"], "amount": amount, "note": note,
					"updated_at": ts, "region": "eu-west-1", "_writetime": ts.UnixMicro()}
			}
			switch id % 10 {
			case 0, 1, 2, 3:
				l, n := row(10.5, "gift", t0.Add(time.Duration(id)*time.Microsecond)), row(10.5, "gift", t0.Add(time.Duration(id)*time.Microsecond))
				switch id % 4 {
				case 0:
					n["amount"] = 11.0
				case 1:
					l["note"], n["note"] = nil, ""
				case 2:
					n["updated_at"] = t0.Add(time.Duration(id) * time.Microsecond).Truncate(time.Millisecond)
				default:
					n["amount"], n["note"] = 12.0, "x"
				}
				batch[i] = Discrepancy{Side: Changed, Key: key, Legacy: l, New: n, Diffs: deriveDiffs(l, n), Fingerprint: uint64(id) * 0x9e3779b97f4a7c15, NewFingerprint: uint64(id) * 0xc2b2ae3d27d4eb4f}
			case 4, 5, 6:
				l := row(1, "x", t0)
				if id%3 == 0 {
					l["_ttl_expires_at"] = t0.Add(-time.Hour)
				}
				batch[i] = Discrepancy{Side: OnlyInLegacy, Key: key, Legacy: l, Fingerprint: uint64(id) * 0x9e3779b97f4a7c15}
			default:
				batch[i] = Discrepancy{Side: OnlyInNew, Key: key, New: row(2, "y", t0.Add(time.Hour)), Fingerprint: uint64(id) * 0x9e3779b97f4a7c15}
			}
		}
		out[b] = batch
	}
	return out
}

func BenchmarkInsert1M(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) { benchInsert(b, size) })
	}
}

func benchInsert(b *testing.B, size int) {
	const total = 1_000_000
	batches := benchBatches(100_000/size, size)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		s, err := Open(ctx, filepath.Join(dir, "shadow.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24", MaxStoredPerSide: -1,
			TTLReferences: References{Legacy: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := range total / size {
			if err := w.Write(ctx, batches[i%len(batches)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s-write")
		t1 := time.Now()
		n := int64(total)
		if _, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 10 * n, NewRows: 10 * n, OnlyInLegacy: 7 * n / 10, OnlyInNew: 7 * n / 10, Changed: 4 * n / 10, Missing: 3 * n / 10, Extra: 3 * n / 10}}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t1).Seconds(), "s-finish")
		b.StopTimer()
		var rows int
		s.DB().QueryRow("SELECT count(*) FROM discrepancies").Scan(&rows)
		if rows != total {
			b.Fatalf("%d rows stored, want %d", rows, total)
		}
		fi, _ := os.Stat(filepath.Join(dir, "shadow.db"))
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-db")
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// listingLog is a 1M-row log shared by the listing benchmarks: 4 datasets ×
// 25 nights, 10,000 discrepancies per run (the default cap per side is not
// reached), every run finished and auto-triaged.
var (
	listingOnce  sync.Once
	listingPath  string
	listingErr   error
	listingBuild time.Duration
	benchDirs    []string
)

func listingLog(b *testing.B) string {
	listingOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shadow-log-bench-")
		if err != nil {
			listingErr = err
			return
		}
		benchDirs = append(benchDirs, dir)
		listingPath = filepath.Join(dir, "shadow.db")
		start := time.Now()
		ctx := context.Background()
		s, err := Open(ctx, listingPath)
		if err != nil {
			listingErr = err
			return
		}
		defer s.Close()
		batches := benchBatches(10, 1000)
		for _, ds := range []string{"orders", "payments", "events", "users"} {
			for n := range 25 {
				w, err := s.StartRun(ctx, NewRun{Dataset: ds, Night: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format("2006-01-02"),
					Started: time.Date(2026, 10, 1, 2, 0, 0, 0, time.UTC).AddDate(0, 0, n)})
				if err != nil {
					listingErr = err
					return
				}
				for _, batch := range batches {
					if err := w.Write(ctx, batch); err != nil {
						listingErr = err
						return
					}
				}
				if _, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 100000, NewRows: 100000, OnlyInLegacy: 7000, OnlyInNew: 7000, Changed: 4000, Missing: 3000, Extra: 3000}}); err != nil {
					listingErr = err
					return
				}
			}
		}
		listingBuild = time.Since(start)
	})
	if listingErr != nil {
		b.Fatal(listingErr)
	}
	return listingPath
}

func BenchmarkListing(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, listingLog(b), MustExist())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var total int
	s.DB().QueryRow("SELECT count(*) FROM discrepancies").Scan(&total)
	if total != 1_000_000 {
		b.Fatalf("log has %d discrepancies, want 1,000,000", total)
	}
	b.Logf("1M-row log built in %s", listingBuild.Round(time.Millisecond))
	invs, _, err := s.Investigations(ctx, InvestigationFilter{Dataset: "payments", Limit: 1})
	if err != nil || len(invs) == 0 {
		b.Fatal("no investigation", err)
	}
	inv := invs[0].ID
	run := "payments/2026-10-13"
	cases := []struct {
		name string
		f    func() (int, error)
	}{
		{"discrepancies", func() (int, error) { _, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Limit: 100}); return n, err }},
		{"discrepancies-run", func() (int, error) {
			_, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Run: run, Limit: 100})
			return n, err
		}},
		{"discrepancies-run-side", func() (int, error) {
			_, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Run: run, Side: Changed, Limit: 100})
			return n, err
		}},
		{"discrepancies-side", func() (int, error) {
			_, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Side: OnlyInNew, Limit: 100})
			return n, err
		}},
		{"discrepancies-investigation", func() (int, error) {
			_, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Investigation: inv, Limit: 100})
			return n, err
		}},
		{"discrepancies-investigation-run", func() (int, error) {
			_, n, err := s.Discrepancies(ctx, DiscrepancyFilter{Investigation: inv, Run: run, Limit: 100})
			return n, err
		}},
		{"runs-dataset-since", func() (int, error) {
			_, n, err := s.Runs(ctx, RunFilter{Dataset: "orders", Since: time.Date(2026, 10, 10, 0, 0, 0, 0, time.UTC), Limit: 100})
			return n, err
		}},
		{"show-run", func() (int, error) {
			if _, err := s.Run(ctx, run); err != nil {
				return 0, err
			}
			sigs, err := s.RunSignatures(ctx, run)
			return len(sigs), err
		}},
		{"investigations", func() (int, error) {
			_, n, err := s.Investigations(ctx, InvestigationFilter{Limit: 100})
			return n, err
		}},
		{"investigation", func() (int, error) { d, err := s.Investigation(ctx, inv); return int(d.Discrepancies), err }},
		{"confidence", func() (int, error) { c, err := s.Confidence(ctx, ""); return len(c), err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				var err error
				if n, err = c.f(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "total")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
