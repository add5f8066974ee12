package investigations

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The fault tests run real OS processes: this test binary re-executed with
// SHADOW_LOG_HELPER set plays a writer, a reader or a process that dies in
// the middle of a batch.

func TestMain(m *testing.M) {
	if role := os.Getenv("SHADOW_LOG_HELPER"); role != "" {
		if err := helperMain(role); err != nil {
			fmt.Fprintln(os.Stderr, role+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

const (
	procRuns      = 4
	procBatches   = 12
	procBatchSize = 150
)

func helperMain(role string) error {
	ctx := context.Background()
	path := os.Getenv("SHADOW_LOG_DB")
	switch role {
	case "writer":
		s, err := Open(ctx, path)
		if err != nil {
			return err
		}
		defer s.Close()
		name := os.Getenv("SHADOW_LOG_NAME")
		for r := range procRuns {
			// Both writers write the same dataset and nights, so they race
			// for attempt numbers too.
			w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: night0.AddDate(0, 0, r).Format("2006-01-02"), MaxStoredPerSide: -1})
			if err != nil {
				return err
			}
			for b := range procBatches {
				batch := make([]Discrepancy, procBatchSize)
				for i := range batch {
					batch[i] = changedRow(b*procBatchSize+i, "amount", name, i)
				}
				if err := w.Write(ctx, batch); err != nil {
					return err
				}
			}
			n := int64(procBatches * procBatchSize)
			if _, err := w.Finish(ctx, Result{Counts: Counts{LegacyRows: 10 * n, NewRows: 10 * n, OnlyInLegacy: n, OnlyInNew: n, Changed: n}}); err != nil {
				return err
			}
		}
		return nil
	case "reader":
		stop := os.Getenv("SHADOW_LOG_STOP")
		checks := 0
		for {
			_, statErr := os.Stat(stop)
			s, err := Open(ctx, path, MustExist())
			if err != nil {
				return err
			}
			// One statement reads one snapshot: the stored counters and
			// the rows must agree, in whole batches.
			rows, err := s.DB().QueryContext(ctx, `SELECT r.run_id, r.status, r.stored_changed, r.seen_changed,
				(SELECT count(*) FROM discrepancies d WHERE d.run = r.id) FROM runs r`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id, status string
				var stored, seen, n int
				if err := rows.Scan(&id, &status, &stored, &seen, &n); err != nil {
					return err
				}
				if n != stored || n != seen || n%procBatchSize != 0 {
					return fmt.Errorf("run %s (%s): %d rows, stored %d, seen %d: a partial batch is visible", id, status, n, stored, seen)
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows.Close()
			if _, _, err := s.Runs(ctx, RunFilter{Limit: 100}); err != nil {
				return err
			}
			s.Close()
			checks++
			if statErr == nil {
				fmt.Println("checks", checks)
				return nil
			}
		}
	case "crasher":
		s, err := Open(ctx, path)
		if err != nil {
			return err
		}
		w, err := s.StartRun(ctx, NewRun{Dataset: "orders", Night: "2026-11-24"})
		if err != nil {
			return err
		}
		for b := range 3 {
			if b == 2 {
				n := 0
				insertHook = func() {
					if n++; n == procBatchSize/2 {
						fmt.Println("mid-batch")
						select {} // wait to be killed, inside the transaction
					}
				}
			}
			batch := make([]Discrepancy, procBatchSize)
			for i := range batch {
				batch[i] = missingRow(b*procBatchSize + i)
			}
			if err := w.Write(ctx, batch); err != nil {
				return err
			}
		}
		return fmt.Errorf("the crasher was not killed")
	}
	return fmt.Errorf("unknown helper role %q", role)
}

func helper(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"SHADOW_LOG_HELPER=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestTwoWritersAndAReaderInProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "shadow.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := filepath.Join(dir, "stop")
	env := []string{"SHADOW_LOG_DB=" + path, "SHADOW_LOG_STOP=" + stop}

	reader := helper(t, "reader", env...)
	var out strings.Builder
	reader.Stdout = &out
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = helper(t, "writer", append(env, "SHADOW_LOG_NAME=w"+strconv.Itoa(i))...).Run()
		}()
	}
	wg.Wait()
	os.WriteFile(stop, nil, 0o644)
	readErr := reader.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if readErr != nil {
		t.Fatalf("reader: %v", readErr)
	}
	t.Logf("reader: %s", strings.TrimSpace(out.String()))
	if !strings.HasPrefix(out.String(), "checks ") {
		t.Fatalf("reader said %q", out.String())
	}

	var integrity string
	s.DB().QueryRow("PRAGMA integrity_check").Scan(&integrity)
	if integrity != "ok" {
		t.Fatalf("integrity_check: %s", integrity)
	}
	checkOrphans(t, s.DB())
	runs, total, err := s.Runs(ctx, RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2*procRuns {
		t.Fatalf("%d runs, want %d", total, 2*procRuns)
	}
	perNight := map[string][]int{}
	for _, r := range runs {
		want := int64(procBatches * procBatchSize)
		if r.Status != Differs || r.Stored.Changed != want || r.Seen.Changed != want || r.Changed != want {
			t.Errorf("%s: %s, stored %d seen %d changed %d, want %d", r.ID, r.Status, r.Stored.Changed, r.Seen.Changed, r.Changed, want)
		}
		attempt := r.Attempt
		if r.Superseded {
			attempt = -attempt
		}
		perNight[r.Night] = append(perNight[r.Night], attempt)
	}
	for night, attempts := range perNight {
		if got := fmt.Sprint(attempts); got != "[2 -1]" && got != "[-1 2]" {
			t.Errorf("night %s attempts %v (negative = superseded), want 1 superseded and 2", night, attempts)
		}
	}
	invs, n, _ := s.Investigations(ctx, InvestigationFilter{})
	if n != 1 || invs[0].Discrepancies != int64(2*procRuns*procBatches*procBatchSize) {
		t.Fatalf("investigations %+v: want one with every discrepancy", invs)
	}
}

func TestCrashMidBatchLeavesNoHalfBatchAndAborts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shadow.db")
	cmd := helper(t, "crasher", "SHADOW_LOG_DB="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "mid-batch\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crasher said %q (%v)", line, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	raw := rawOpen(t, path)
	var status string
	var n, seen int
	raw.QueryRow("SELECT status, seen_only_in_legacy, (SELECT count(*) FROM discrepancies) FROM runs").Scan(&status, &seen, &n)
	if status != "running" || n != 2*procBatchSize || seen != n {
		t.Fatalf("after the crash: status %s, %d rows, seen %d; want running, %d, %d", status, n, seen, 2*procBatchSize, 2*procBatchSize)
	}
	raw.Close()

	s, err := Open(ctx, path) // the next start marks the dead run
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(ctx, "orders/2026-11-24")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != Aborted || !strings.Contains(r.Error, strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("after reopening: %s %q, want aborted naming pid %d", r.Status, r.Error, cmd.Process.Pid)
	}
	var integrity string
	s.DB().QueryRow("PRAGMA integrity_check").Scan(&integrity)
	if integrity != "ok" {
		t.Fatalf("integrity_check: %s", integrity)
	}
	checkOrphans(t, s.DB())
}
