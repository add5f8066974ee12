package investigations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestStreaks plays sequences of nights. Each night is a list of attempt
// outcomes, oldest first: c clean, d differs, f failed, a aborted, r still
// running.
func TestStreaks(t *testing.T) {
	cases := []struct {
		nights     string // nights separated by spaces, attempts as letters
		streak     int
		lastDiffer string // index of the night, or "" for none
	}{
		{"", 0, ""},
		{"c", 1, ""},
		{"c c c", 3, ""},
		{"c d", 0, "1"},
		{"d c c", 2, "0"},
		{"c c d c", 1, "2"},
		{"c f c", 2, ""},     // failed neither adds nor resets
		{"c a a c", 2, ""},   // nor does aborted
		{"d f", 0, "0"},      // a failure after a difference does not start a streak
		{"c c r", 2, ""},     // a run still going counts for nothing yet
		{"dc c", 2, ""},      // the newest attempt is the night's result
		{"c cd", 0, "1"},     // even when an older attempt was clean
		{"c df", 1, ""},      // a failed re-run: the night neither adds nor resets
		{"d c cf c", 2, "0"}, // the newest attempt of night 2 failed
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.nights, " ", "_"), func(t *testing.T) {
			ctx := context.Background()
			s := openTemp(t)
			nights := strings.Fields(c.nights)
			for i, attempts := range nights {
				night := night0.AddDate(0, 0, i).Format("2006-01-02")
				for _, a := range attempts {
					w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: night})
					if err != nil {
						t.Fatal(err)
					}
					switch a {
					case 'c':
						_, err = w.Finish(ctx, Result{Counts: Counts{LegacyRows: 1, NewRows: 1}})
					case 'd':
						_, err = w.Finish(ctx, Result{Counts: Counts{LegacyRows: 1, NewRows: 1, OnlyInLegacy: 1, OnlyInNew: 1, Changed: 1}})
					case 'f':
						_, err = w.Finish(ctx, Result{Error: "boom"})
					case 'a':
						s.DB().Exec("UPDATE runs SET pid = ? WHERE run_id = ?", deadPID(t), w.RunID())
						_, err = s.AbortDead(ctx)
					case 'r':
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			// An ad-hoc run that differs is not a night.
			w, _ := s.StartRun(ctx, NewRun{Dataset: "orders", Started: night0.AddDate(1, 0, 0)})
			w.Finish(ctx, Result{Counts: Counts{LegacyRows: 1, NewRows: 1, OnlyInLegacy: 1, OnlyInNew: 1}})

			cs, err := s.Confidence(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 1 {
				t.Fatalf("%d datasets", len(cs))
			}
			got := cs[0]
			if len(nights) > 0 && got.Nights != len(nights) {
				t.Errorf("nights %d, want %d", got.Nights, len(nights))
			}
			if got.CleanStreakNights != c.streak {
				t.Errorf("streak %d, want %d", got.CleanStreakNights, c.streak)
			}
			lastDiffer := ""
			if got.LastDifferingNight != nil {
				for i := range nights {
					if night0.AddDate(0, 0, i).Format("2006-01-02") == *got.LastDifferingNight {
						lastDiffer = fmt.Sprint(i)
					}
				}
			}
			if lastDiffer != c.lastDiffer {
				t.Errorf("last differing night %q, want %q", lastDiffer, c.lastDiffer)
			}
		})
	}
}

func TestConfidenceAllDatasets(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, ds := range []string{"payments", "orders"} {
		for i := range 2 {
			w, _ := s.StartRun(ctx, NewRun{Dataset: ds, Night: night0.AddDate(0, 0, i).Format("2006-01-02"), Started: night0.Add(time.Duration(i) * time.Hour)})
			w.Finish(ctx, Result{Counts: Counts{LegacyRows: 1, NewRows: 1}})
		}
	}
	cs, err := s.Confidence(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Dataset != "orders" || cs[1].Dataset != "payments" || cs[0].CleanStreakNights != 2 || cs[0].LastNight != "2026-11-25" {
		t.Fatalf("%+v", cs)
	}
	if _, err := s.Confidence(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown dataset: %v", err)
	}
}
