package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"
)

type benchConfig struct {
	dir, shadow      string
	runs             int
	key              bool
	threads          int
	memLimit, memory string
	shadowOnly       bool
}

type counts struct {
	LegacyRows    int64  `json:"legacy_rows"`
	NewRows       int64  `json:"new_rows"`
	OnlyInLegacy  int64  `json:"only_in_legacy"`
	OnlyInNew     int64  `json:"only_in_new"`
	Changed       *int64 `json:"changed"`
	Missing       *int64 `json:"missing"`
	Extra         *int64 `json:"extra"`
	DuplicateKeys *int64 `json:"duplicate_keys"`
}

type sample struct {
	wall time.Duration
	rss  int64 // bytes
	out  counts
}

type tool struct {
	name string
	argv []string
	// exit codes that mean success for this tool
	ok      []int
	samples []sample
}

func runOnce(ctx context.Context, t *tool) (sample, error) {
	cmd := exec.CommandContext(ctx, t.argv[0], t.argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return sample{}, err
		}
		code = ee.ExitCode()
	}
	if !slices.Contains(t.ok, code) {
		return sample{}, fmt.Errorf("%s exited %d: %s", t.name, code, errb.String())
	}
	var s sample
	s.wall = wall
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rss = ru.Maxrss * 1024
	}
	if err := json.Unmarshal(out.Bytes(), &s.out); err != nil {
		return sample{}, fmt.Errorf("%s: parsing its JSON: %w (%q)", t.name, err, out.String())
	}
	return s, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func runBench(ctx context.Context, c benchConfig) error {
	var exp expected
	buf, err := os.ReadFile(filepath.Join(c.dir, "expected.json"))
	if err != nil {
		return fmt.Errorf("%w (run diffbench gen first)", err)
	}
	if err := json.Unmarshal(buf, &exp); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	legacy := "parquet:" + filepath.Join(c.dir, "legacy", "*.parquet")
	newer := "parquet:" + filepath.Join(c.dir, "new", "*.parquet")
	shadowArgs := []string{c.shadow, "diff", legacy, newer, "--json", "--sample", "20"}
	if c.memory != "" {
		shadowArgs = append(shadowArgs, "--memory", c.memory)
	}
	tools := []*tool{{name: "shadow diff", argv: shadowArgs, ok: []int{0, 1}}}
	if c.key {
		tools = append(tools, &tool{name: "shadow diff --key id", argv: append(slices.Clone(shadowArgs), "--key", "id"), ok: []int{0, 1}})
	}
	if !c.shadowOnly {
		duck := []string{self, "duckdb", "-dir", c.dir, "-threads", fmt.Sprint(c.threads)}
		if c.memLimit != "" {
			duck = append(duck, "-memory-limit", c.memLimit)
		}
		tools = append(tools, &tool{name: "duckdb EXCEPT ALL x2", argv: duck, ok: []int{0}})
	}
	fmt.Printf("data %s: %d legacy rows, %d new rows; expected only_in_legacy=%d only_in_new=%d\n",
		c.dir, exp.LegacyRows, exp.NewRows, exp.OnlyInLegacy, exp.OnlyInNew)
	fmt.Printf("GOMAXPROCS=%d; 1 warm-up run each (discarded), then %d alternating runs\n", runtime.GOMAXPROCS(0), c.runs)
	for _, t := range tools { // warm-up: page cache, binaries
		if _, err := runOnce(ctx, t); err != nil {
			return err
		}
	}
	for r := 0; r < c.runs; r++ {
		for _, t := range tools {
			s, err := runOnce(ctx, t)
			if err != nil {
				return err
			}
			t.samples = append(t.samples, s)
			fmt.Printf("  run %d  %-22s %7.2fs  peak RSS %6.0f MiB\n", r+1, t.name, s.wall.Seconds(), float64(s.rss)/(1<<20))
		}
	}
	// Check counts: every run of every tool must agree with the generator.
	var bad []string
	for _, t := range tools {
		for i, s := range t.samples {
			o := s.out
			if o.OnlyInLegacy != exp.OnlyInLegacy || o.OnlyInNew != exp.OnlyInNew || o.LegacyRows != exp.LegacyRows || o.NewRows != exp.NewRows {
				bad = append(bad, fmt.Sprintf("%s run %d: rows %d/%d only_in_legacy %d only_in_new %d", t.name, i+1, o.LegacyRows, o.NewRows, o.OnlyInLegacy, o.OnlyInNew))
			}
			if o.Changed != nil && (*o.Changed != exp.Changed || *o.Missing != exp.Missing || *o.Extra != exp.Extra || *o.DuplicateKeys != exp.DuplicateKeys) {
				bad = append(bad, fmt.Sprintf("%s run %d: changed %d missing %d extra %d duplicate_keys %d, want %d %d %d %d", t.name, i+1,
					*o.Changed, *o.Missing, *o.Extra, *o.DuplicateKeys, exp.Changed, exp.Missing, exp.Extra, exp.DuplicateKeys))
			}
		}
	}
	fmt.Println()
	fmt.Printf("%-22s %10s %10s %14s\n", "tool", "median", "min", "peak RSS (max)")
	med := map[string]time.Duration{}
	for _, t := range tools {
		var ws []time.Duration
		var rss int64
		for _, s := range t.samples {
			ws = append(ws, s.wall)
			rss = max(rss, s.rss)
		}
		med[t.name] = median(ws)
		fmt.Printf("%-22s %9.2fs %9.2fs %10.0f MiB\n", t.name, median(ws).Seconds(), slices.Min(ws).Seconds(), float64(rss)/(1<<20))
	}
	if d, ok := med["duckdb EXCEPT ALL x2"]; ok {
		for _, t := range tools[:len(tools)-1] {
			fmt.Printf("ratio duckdb / %s = %.2fx\n", t.name, d.Seconds()/med[t.name].Seconds())
		}
	}
	if len(bad) > 0 {
		for _, b := range bad {
			fmt.Println("COUNT MISMATCH:", b)
		}
		return fmt.Errorf("%d runs reported counts that differ from the generator's", len(bad))
	}
	fmt.Println("counts: every run of every tool matches the generator's expected counts")
	return nil
}
