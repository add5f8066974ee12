package investigations

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"testing"
	"time"
)

var night0 = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

func changedRow(id int, col string, l, n any) Discrepancy {
	return Discrepancy{Side: Changed, Key: map[string]any{"id": id},
		Legacy: map[string]any{"id": id, col: l}, New: map[string]any{"id": id, col: n}, Fingerprint: uint64(id), NewFingerprint: uint64(id) + 1<<63}
}

func missingRow(id int) Discrepancy {
	return Discrepancy{Side: OnlyInLegacy, Key: map[string]any{"id": id}, Legacy: map[string]any{"id": id, "v": "x"}, Fingerprint: uint64(id)}
}

func extraRow(id int) Discrepancy {
	return Discrepancy{Side: OnlyInNew, Key: map[string]any{"id": id}, New: map[string]any{"id": id, "v": "y"}, Fingerprint: uint64(id)}
}

func TestAttemptsAndSupersede(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var ids []string
	for i := range 3 {
		w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24", Started: night0.Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.RunID())
		if _, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 5, NewRows: 5}}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"orders/2026-11-24", "orders/2026-11-24#2", "orders/2026-11-24#3"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("run ids %v, want %v", ids, want)
	}
	for i, id := range want {
		r, err := s.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Attempt != i+1 || r.Superseded != (i < 2) || r.Status != Clean || !r.Scheduled {
			t.Errorf("%s: attempt %d superseded %v status %s", id, r.Attempt, r.Superseded, r.Status)
		}
	}
	// Another night and another dataset start at attempt 1.
	for _, nr := range []NewRun{{Dataset: "orders", Night: "2026-11-25"}, {Dataset: "payments", Night: "2026-11-24"}} {
		w, err := s.StartRun(ctx, nr)
		if err != nil {
			t.Fatal(err)
		}
		if w.RunID() != nr.Dataset+"/"+nr.Night {
			t.Errorf("run id %s", w.RunID())
		}
	}
	// Ad-hoc runs use their start instant.
	for i, want := range []string{"orders/2026-11-24T13:14:15Z", "orders/2026-11-24T13:14:15Z#2"} {
		w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Started: time.Date(2026, 11, 24, 13, 14, 15, i*1000, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if w.RunID() != want {
			t.Errorf("ad-hoc run id %s, want %s", w.RunID(), want)
		}
	}
	for _, bad := range []NewRun{{Dataset: ""}, {Dataset: "a/b"}, {Dataset: "a#b"}, {Dataset: "orders", Night: "24/11/2026"}} {
		if _, err := s.StartRun(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("StartRun(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.Run(ctx, "orders/2026-01-01"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}

func TestCapPerSideKeepsCountsExact(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24", MaxStoredPerSide: 3})
	if err != nil {
		t.Fatal(err)
	}
	var batch1, batch2 []Discrepancy
	for i := range 5 {
		batch1 = append(batch1, missingRow(i))
	}
	for i := range 4 {
		batch1 = append(batch1, extraRow(100+i))
	}
	for i := range 10 {
		d := changedRow(200+i, "amount", 1, 2)
		if i%2 == 1 {
			d = changedRow(200+i, "note", nil, "")
		}
		batch2 = append(batch2, d)
	}
	if err := w.Write(ctx, batch1); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, batch2); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(ctx, w.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if (r.Seen != SideCounts{5, 4, 10}) || (r.Stored != SideCounts{3, 3, 3}) {
		t.Fatalf("seen %+v stored %+v", r.Seen, r.Stored)
	}
	_, total, err := s.Discrepancies(ctx, DiscrepancyFilter{Run: w.RunID()})
	if err != nil || total != 9 {
		t.Fatalf("stored %d discrepancies (%v), want 9", total, err)
	}
	sigs, err := s.RunSignatures(ctx, w.RunID())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, sg := range sigs {
		got[sg.Text] = [2]int64{sg.Seen, sg.Stored}
	}
	want := map[string][2]int64{
		"only_in_legacy::":         {5, 3},
		"only_in_new::":            {4, 3},
		"changed:amount:":          {5, 2},
		"changed:note:null->empty": {5, 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("signature counts %v, want %v", got, want)
	}
	c := Counts{LegacyRows: 1000, NewRows: 999, OnlyInLegacy: 15, OnlyInNew: 14, Changed: 10, Missing: 5, Extra: 4}
	sum, err := w.Finish(ctx, Result{Counts: c, Stages: []Stage{{"engine", 90 * time.Second}, {"diff", 1500 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != Differs || *sum.Similarity != 985.0/1000 || len(sum.Opened) != 4 {
		t.Fatalf("summary %+v", sum)
	}
	r, _ = s.Run(ctx, w.RunID())
	c.Matched = 985
	if r.Counts != c || r.FinishedAt == nil || len(r.Stages) != 2 || r.Stages[1].Duration != 1500*time.Millisecond {
		t.Fatalf("run after finish: %+v", r)
	}
}

func TestNoCap(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24", MaxStoredPerSide: -1})
	var b []Discrepancy
	for i := range DefaultMaxStoredPerSide + 5 {
		b = append(b, missingRow(i))
	}
	if err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Run(ctx, w.RunID())
	if r.Stored.OnlyInLegacy != DefaultMaxStoredPerSide+5 || r.MaxStoredPerSide != -1 {
		t.Fatalf("stored %d (cap %d)", r.Stored.OnlyInLegacy, r.MaxStoredPerSide)
	}
}

func TestBatchIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
	if err := w.Write(ctx, []Discrepancy{missingRow(1)}); err != nil {
		t.Fatal(err)
	}
	// A bad element: nothing of the batch is stored.
	err := w.Write(ctx, []Discrepancy{missingRow(2), {Side: "sideways", Legacy: map[string]any{}}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad batch: %v", err)
	}
	// A failure inside the transaction, half way through the batch.
	cctx, cancel := context.WithCancel(ctx)
	n := 0
	insertHook = func() {
		if n++; n == 3 {
			cancel()
		}
	}
	defer func() { insertHook = nil }()
	err = w.Write(cctx, []Discrepancy{missingRow(3), missingRow(4), missingRow(5), missingRow(6)})
	insertHook = nil
	if err == nil {
		t.Fatal("write with a cancelled context succeeded")
	}
	r, _ := s.Run(ctx, w.RunID())
	_, total, _ := s.Discrepancies(ctx, DiscrepancyFilter{Run: w.RunID()})
	if r.Seen.OnlyInLegacy != 1 || r.Stored.OnlyInLegacy != 1 || total != 1 {
		t.Fatalf("after failed batches: seen %d stored %d rows %d, want 1 each", r.Seen.OnlyInLegacy, r.Stored.OnlyInLegacy, total)
	}
}

func TestFinishChecksCounts(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	cases := []struct {
		r       Result
		want    Status
		wantErr bool
	}{
		{Result{Counts: Counts{LegacyRows: 3, NewRows: 3}}, Clean, false},
		{Result{Counts: Counts{}}, Clean, false}, // both empty: clean, similarity 1
		{Result{Counts: Counts{LegacyRows: 3, NewRows: 4, OnlyInNew: 1}}, Differs, false},
		{Result{Error: "engine: read backup: 403"}, Failed, false},
		{Result{Status: Clean, Counts: Counts{LegacyRows: 3, NewRows: 3, OnlyInLegacy: 1, OnlyInNew: 1}}, "", true},
		{Result{Status: Differs, Counts: Counts{LegacyRows: 3, NewRows: 3}}, "", true},
		{Result{Counts: Counts{LegacyRows: 3, NewRows: 3, OnlyInLegacy: 1}}, "", true}, // matched cannot agree
		{Result{Counts: Counts{LegacyRows: 3, NewRows: 3, Matched: 2}}, "", true},
		{Result{Counts: Counts{LegacyRows: -1}}, "", true},
		{Result{Status: Aborted}, "", true}, // aborted needs its reason
		{Result{Status: Aborted, Error: "shutdown"}, Aborted, false},
	}
	for i, c := range cases {
		w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := w.Finish(ctx, c.r)
		if c.wantErr {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("case %d: %v, want ErrInvalid", i, err)
			}
			r, _ := s.Run(ctx, w.RunID())
			if r.Status != Running {
				t.Errorf("case %d: a refused finish left status %s", i, r.Status)
			}
			w.Finish(ctx, Result{Error: "test"})
			continue
		}
		if err != nil || sum.Status != c.want {
			t.Errorf("case %d: %+v %v, want %s", i, sum, err, c.want)
			continue
		}
		if c.want == Failed && sum.Similarity != nil {
			t.Errorf("case %d: failed run has a similarity", i)
		}
		if c.want == Clean && *sum.Similarity != 1 {
			t.Errorf("case %d: similarity %v", i, *sum.Similarity)
		}
		if _, err := w.Finish(ctx, c.r); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: second finish: %v", i, err)
		}
		if err := w.Write(ctx, []Discrepancy{missingRow(1)}); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: write after finish: %v", i, err)
		}
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return cmd.Process.Pid
}

func TestAbortDead(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	live, _ := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
	gone, _ := s.StartRun(ctx, NewRun{Dataset: "payments", Night: "2026-11-24"})
	reused, _ := s.StartRun(ctx, NewRun{Dataset: "users", Night: "2026-11-24"})
	other, _ := s.StartRun(ctx, NewRun{Dataset: "events", Night: "2026-11-24"})
	s.DB().Exec("UPDATE runs SET pid = ? WHERE run_id = ?", deadPID(t), gone.RunID())
	// Our own pid, but a different start token: the pid was reused.
	s.DB().Exec("UPDATE runs SET process_start = 'another-boot:1' WHERE run_id = ?", reused.RunID())
	s.DB().Exec("UPDATE runs SET host = 'elsewhere', pid = 1 WHERE run_id = ?", other.RunID())

	marked, err := s.AbortDead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(marked) != fmt.Sprint([]string{gone.RunID(), reused.RunID()}) {
		t.Fatalf("aborted %v", marked)
	}
	for id, want := range map[string]Status{live.RunID(): Running, gone.RunID(): Aborted, reused.RunID(): Aborted, other.RunID(): Running} {
		r, _ := s.Run(ctx, id)
		if r.Status != want {
			t.Errorf("%s: %s, want %s", id, r.Status, want)
		}
		if want == Aborted && (r.Error == "" || r.FinishedAt == nil) {
			t.Errorf("%s: aborted without error text or finish time", id)
		}
	}
	if _, err := gone.Finish(ctx, Result{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("finishing an aborted run: %v", err)
	}
}

func TestDifferingRunWithoutStreamedRowsIsStillTriaged(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, _ := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
	// The runner streamed changed rows only, but counts missing rows too.
	if err := w.Write(ctx, []Discrepancy{changedRow(1, "amount", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	sum, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 10, NewRows: 8, OnlyInLegacy: 3, OnlyInNew: 1, Changed: 1, Missing: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Opened) != 2 {
		t.Fatalf("opened %v, want the changed signature and the unstreamed missing rows", sum.Opened)
	}
	sigs, _ := s.RunSignatures(ctx, w.RunID())
	got := map[string][2]int64{}
	for _, sg := range sigs {
		got[sg.Text] = [2]int64{sg.Seen, sg.Stored}
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string][2]int64{"changed:amount:": {1, 1}, "only_in_legacy::": {2, 0}}) {
		t.Fatalf("signatures %v", got)
	}
}

// TestSetTTLReferences: references learnt after the run started are stored
// with the run and sign the discrepancies written from then on.
func TestSetTTLReferences(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
	if err != nil {
		t.Fatal(err)
	}
	expiring := func(id int) Discrepancy {
		return Discrepancy{Side: OnlyInNew, Key: map[string]any{"id": id}, Fingerprint: uint64(id),
			New: map[string]any{"id": id, "_ttl_expires_at": night0.Add(30 * time.Minute)}}
	}
	if err := w.Write(ctx, []Discrepancy{expiring(1)}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTTLReferences(ctx, References{Legacy: night0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTTLReferences(ctx, References{New: night0}); err != nil { // keeps Legacy
		t.Fatal(err)
	}
	if err := w.Write(ctx, []Discrepancy{expiring(2)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(ctx, w.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if r.LegacyTTLReference == nil || !r.LegacyTTLReference.Equal(night0.Add(time.Hour)) || r.NewTTLReference == nil || !r.NewTTLReference.Equal(night0) {
		t.Fatalf("references %v / %v, want %v / %v", r.LegacyTTLReference, r.NewTTLReference, night0.Add(time.Hour), night0)
	}
	sigs, err := s.RunSignatures(ctx, w.RunID())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sg := range sigs {
		got = append(got, fmt.Sprintf("%s=%d", sg.Text, sg.Seen))
	}
	sort.Strings(got)
	if want := "[only_in_new::=1 only_in_new::ttl-expired-at-reference=1]"; fmt.Sprint(got) != want {
		t.Fatalf("signatures %v, want %s", got, want)
	}
	if _, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 0, NewRows: 2, Extra: 2, OnlyInNew: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTTLReferences(ctx, References{Legacy: night0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("after finish: %v, want ErrInvalid", err)
	}
}
