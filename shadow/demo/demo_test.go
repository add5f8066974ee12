package demo

import (
	"context"
	"testing"

	"github.com/cassmove/shadow/diff"
)

func TestGenerateAndDiff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for run := 0; run < 2; run++ { // a second Generate replaces the first
		ds, err := Generate(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := diff.OpenRef(ds.Legacy, ds.Location)
		if err != nil {
			t.Fatal(err)
		}
		m, err := diff.OpenRef(ds.New, ds.Location)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := diff.Run(ctx, c, m, diff.Options{Key: ds.Key})
		if err != nil {
			t.Fatal(err)
		}
		got := Expected{LegacyRows: rep.LegacyRows, NewRows: rep.NewRows, OnlyInLegacy: rep.OnlyInLegacy, OnlyInNew: rep.OnlyInNew,
			Changed: *rep.Changed, Missing: *rep.Missing, Extra: *rep.Extra, DuplicateKeys: *rep.DuplicateKeys}
		if got != ds.Expected {
			t.Fatalf("run %d: diff found %+v, planted %+v", run, got, ds.Expected)
		}
		if rep.Legacy.FilesRead != 2 || rep.New.FilesRead != 2 {
			t.Fatalf("files read: %d and %d, want 2 each", rep.Legacy.FilesRead, rep.New.FilesRead)
		}
	}
}
