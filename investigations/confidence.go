package investigations

import (
	"context"
	"fmt"
)

// Confidence is how far a dataset has come towards migration (contracts §6).
type Confidence struct {
	Dataset string `json:"dataset"`
	// CleanStreakNights counts the clean nights since the last night that
	// differed, from the newest attempt of each night; failed and aborted
	// nights neither add nor reset.
	CleanStreakNights  int     `json:"clean_streak_nights"`
	LastDifferingNight *string `json:"last_differing_night"`
	LastDifferingRun   *string `json:"last_differing_run"`
	LastNight          string  `json:"last_night"`
	LastRun            string  `json:"last_run"`
	LastStatus         Status  `json:"last_status"`
	Nights             int     `json:"nights"` // nights with a scheduled run
}

// Confidence reports per dataset (or for one), by dataset name. Only
// scheduled runs count: an ad-hoc run is not a night.
func (s *Store) Confidence(ctx context.Context, dataset string) ([]Confidence, error) {
	q := "SELECT dataset, night, run_id, status FROM runs WHERE scheduled = 1 AND superseded = 0"
	args := []any{}
	if dataset != "" {
		q += " AND dataset = ?"
		args = append(args, dataset)
	}
	// Attempts of one night are superseded in order, but take the newest
	// attempt explicitly in case two are unsuperseded after a crash.
	q += " ORDER BY dataset, night DESC, attempt DESC"
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Confidence
	var cur *Confidence
	lastNight := ""
	stopped := false
	for rows.Next() {
		var ds, night, runID, status string
		if err := rows.Scan(&ds, &night, &runID, &status); err != nil {
			return nil, s.wrap(err)
		}
		if cur == nil || cur.Dataset != ds {
			out = append(out, Confidence{Dataset: ds, LastNight: night, LastRun: runID, LastStatus: Status(status)})
			cur = &out[len(out)-1]
			lastNight, stopped = "", false
		}
		if night == lastNight {
			continue // an older attempt of a night already counted
		}
		lastNight = night
		cur.Nights++
		if stopped {
			continue
		}
		switch Status(status) {
		case Clean:
			cur.CleanStreakNights++
		case Differs:
			n, r := night, runID
			cur.LastDifferingNight, cur.LastDifferingRun = &n, &r
			stopped = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err)
	}
	if dataset != "" && len(out) == 0 {
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM runs WHERE dataset = ?", dataset).Scan(&n); err != nil {
			return nil, s.wrap(err)
		}
		if n == 0 {
			return nil, fmt.Errorf("dataset %q: %w: no runs recorded", dataset, ErrNotFound)
		}
		out = append(out, Confidence{Dataset: dataset})
	}
	return out, nil
}
