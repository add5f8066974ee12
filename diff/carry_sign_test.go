package diff

import (
	"slices"
	"testing"
	"time"

	"github.com/cassmove/shadow/investigations"
)

// toLog converts a discrepancy the way shadow/runner's logDiscrepancy does:
// the rows' Values maps go to the investigation log as they are.
func toLog(d Discrepancy) investigations.Discrepancy {
	out := investigations.Discrepancy{Side: investigations.Side(d.Side), Key: d.Key}
	if d.Legacy != nil {
		out.Legacy = d.Legacy.Values
		out.Fingerprint = uint64(d.Legacy.Fingerprint)
	}
	if d.New != nil {
		out.New = d.New.Values
		if d.Legacy == nil {
			out.Fingerprint = uint64(d.New.Fingerprint)
		} else {
			out.NewFingerprint = uint64(d.New.Fingerprint)
		}
	}
	for _, c := range d.Columns {
		out.Diffs = append(out.Diffs, investigations.ColumnDiff{Column: c.Column, Legacy: c.Legacy, New: c.New})
	}
	return out
}

// TestCarriedProvenanceSigns: carried timestamp columns arrive as the
// report's timestamp strings, which investigations.Sign reads as instants,
// so the provenance tags come out.
func TestCarriedProvenanceSigns(t *testing.T) {
	_, got := collect(t, jsonSource(t, "c", plainSchema, plainRows), jsonSource(t, "m", provSchema, provRows),
		Options{Key: []string{"id"}, Carry: provenance})
	ref := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	tags := map[int64][]string{}
	for _, d := range got {
		if d.New == nil {
			continue
		}
		wt, ok := d.New.Values["_writetime"].(string)
		if !ok {
			t.Fatalf("_writetime is %T, want string", d.New.Values["_writetime"])
		}
		at, err := time.Parse(time.RFC3339Nano, wt)
		if err != nil || at.Location() != time.UTC {
			t.Fatalf("_writetime %q: %v", wt, err)
		}
		sig, diffs := investigations.Sign(toLog(d), investigations.References{Legacy: ref})
		if !slices.Equal(sig.Columns, []string{"v"}) && d.Side == Changed {
			t.Fatalf("changed signature columns %v, want [v]", sig.Columns)
		}
		for _, c := range diffs {
			if investigations.IsProvenance(c.Column) {
				t.Fatalf("provenance column %q among the diffs", c.Column)
			}
		}
		tags[d.New.Values["id"].(int64)] = sig.Tags
	}
	// id 2: changed, written after the legacy side's reference, but the
	// legacy row has no write time to compare: no tag. id 4: only in new,
	// written after the legacy reference and expired at its own snapshot.
	want := map[int64][]string{
		2: {},
		4: {investigations.TagNewerWriteInNew, investigations.TagTTLExpired},
	}
	for id, w := range want {
		slices.Sort(w)
		if !slices.Equal(tags[id], w) {
			t.Fatalf("id %d tags %v, want %v (all: %v)", id, tags[id], w, tags)
		}
	}
}
