package s3

import (
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/objstore"
)

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	r := objstore.Retry{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
	for attempt := 1; attempt <= 40; attempt++ {
		ceiling := min(r.MaxDelay, r.BaseDelay<<min(attempt-1, 20))
		for range 200 {
			d := backoff(r, attempt)
			if d < r.BaseDelay/2 || d > ceiling {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, r.BaseDelay/2, ceiling)
			}
		}
	}
	// Jitter: the delays of one attempt are not all equal.
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[backoff(r, 4)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("backoff has too little jitter: %d distinct delays of 50", len(seen))
	}
}
