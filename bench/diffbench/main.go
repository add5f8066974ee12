// Command diffbench compares `shadow diff` with DuckDB's EXCEPT ALL (both
// directions) on the same Parquet files.
//
//	diffbench gen    -dir bench/out/10m -rows 10000000        write the two tables and expected.json
//	diffbench duckdb -dir bench/out/10m                       one DuckDB run, counts as JSON (used by run)
//	diffbench run    -dir bench/out/10m -shadow bin/shadow    5 alternating runs of each; medians, peak RSS, ratio
//
// The tables have 8 columns of mixed types; about 0.1% of rows differ,
// spread evenly: missing, phantom, changed and duplicated rows, NULL vs the empty string,
// and timestamp precision. It lives in its own module so that DuckDB never
// weighs on the main build.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: diffbench gen|duckdb|run [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "bench/out/10m", "data directory")
	rows := fs.Int64("rows", 10_000_000, "gen: rows per table")
	files := fs.Int("files", 4, "gen: Parquet files per table")
	threads := fs.Int("threads", 2, "duckdb: threads")
	memLimit := fs.String("memory-limit", "", "duckdb: memory_limit (default DuckDB's own)")
	shadowBin := fs.String("shadow", "bin/shadow", "run: the shadow binary")
	runs := fs.Int("runs", 5, "run: runs of each tool")
	key := fs.Bool("key", false, "run: also time `shadow diff --key id`")
	shadowOnly := fs.Bool("shadow-only", false, "run: skip DuckDB (for the 30M/100M memory runs)")
	memory := fs.String("memory", "", "run: shadow --memory")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "gen":
		err = generate(ctx, *dir, *rows, *files)
	case "duckdb":
		err = duckCounts(ctx, *dir, *threads, *memLimit, os.Stdout)
	case "run":
		err = runBench(ctx, benchConfig{dir: *dir, shadow: *shadowBin, runs: *runs, key: *key, threads: *threads,
			memLimit: *memLimit, shadowOnly: *shadowOnly, memory: *memory})
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "diffbench:", err)
		os.Exit(1)
	}
}
