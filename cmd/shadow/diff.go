package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/diff"
)

func init() {
	addCommand(newDiffCmd)
	markBadInput(diff.ErrSchemaMismatch, diff.ErrUnknownColumn, diff.ErrBadRule, diff.ErrCorrupt, diff.ErrUnsupportedType)
}

type diffFlags struct {
	key         []string
	partitions  int
	memory      string
	sample      int
	workers     int
	tempDir     string
	out         string
	ignore      []string
	carry       []string
	truncate    []string
	emptyAsNull []string
	round       []string
	tolerance   []string
}

func newDiffCmd() *cobra.Command {
	var f diffFlags
	cmd := &cobra.Command{
		Use:   "diff LEGACY NEW",
		Short: "Compare two tables row by row: C − M and M − C (exit 1 when they differ)",
		Long: `Compare the legacy table C with the new table M row by row and report C − M
(rows the new side misses) and M − C (rows only the new side has), with SQL
EXCEPT ALL semantics, so duplicates count.

Each side is a table reference:
  iceberg:NS.TABLE              the current snapshot, through --catalog/--warehouse
  iceberg:NS.TABLE@SNAPSHOT_ID  a snapshot
  iceberg:NS.TABLE@TIME         the snapshot current at an RFC 3339 time or date
  parquet:GLOB                  local Parquet files

With --key, rows are paired by key and classified as changed, missing or
extra; duplicate keys are counted. Exit codes: 0 clean, 1 differences found,
2 bad input, 3 failure.`,
		Example: `  shadow diff iceberg:legacy.orders iceberg:new.orders --key order_id
  shadow diff iceberg:db.orders@2026-11-24 iceberg:db.orders_new --key id --ignore loaded_at --json
  shadow diff 'parquet:/data/c/*.parquet' 'parquet:/data/m/*.parquet' --out ./diff-rows`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return runDiff(cmd, args, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.key, "key", nil, "key columns (comma-separated, repeatable); pairs rows and classifies them")
	fl.IntVar(&f.partitions, "partitions", 0, "phase-1 partitions (default: chosen from the input size)")
	fl.StringVar(&f.memory, "memory", "1GiB", "memory budget (e.g. 512MiB, 2GiB); beyond it the diff spills to local disk")
	fl.IntVar(&f.sample, "sample", diff.DefaultSample, "rows of each class kept in the report's samples")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (default: the number of CPUs)")
	fl.StringVar(&f.tempDir, "temp-dir", "", "directory for spill files (default: the system temp dir)")
	fl.StringVar(&f.out, "out", "", "write "+diff.OnlyInLegacyFile+" and "+diff.OnlyInNewFile+" with the full rows into this directory")
	fl.StringSliceVar(&f.ignore, "ignore", nil, "columns to drop on both sides before comparing")
	fl.StringSliceVar(&f.carry, "carry", nil, "columns shown with each differing row but never compared (may exist on one side only, e.g. _writetime)")
	fl.StringSliceVar(&f.truncate, "truncate", nil, "COL=ms|s: round timestamps down before comparing")
	fl.StringSliceVar(&f.emptyAsNull, "empty-as-null", nil, "string or binary columns whose '' counts as NULL")
	fl.StringSliceVar(&f.round, "round", nil, "COL=N: round floats and decimals to N decimal places before comparing")
	fl.StringSliceVar(&f.tolerance, "tolerance", nil, "COL=EPS: changed rows whose differences are all within EPS count as matched (EPS is a number, or a duration such as 1ms for times)")
	return cmd
}

// parseSize parses a byte size: 1073741824, 1GiB, 512MiB, 2G, 100M, 64KiB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("--memory %q: want a size such as 512MiB or 2GiB", s)
	}
	return int64(v * float64(mult)), nil
}

func (f diffFlags) options() (diff.Options, error) {
	var o diff.Options
	mem, err := parseSize(f.memory)
	if err != nil {
		return o, usageError{err}
	}
	if mem < 16<<20 {
		return o, usageError{fmt.Errorf("--memory %s: want at least 16MiB", f.memory)}
	}
	if f.partitions < 0 {
		return o, usageError{fmt.Errorf("--partitions %d: want a positive number", f.partitions)}
	}
	if f.sample < 0 {
		return o, usageError{fmt.Errorf("--sample %d: want 0 or more", f.sample)}
	}
	o.Key, o.Partitions, o.Memory, o.Workers, o.TempDir, o.OutDir = f.key, f.partitions, mem, f.workers, f.tempDir, f.out
	o.Sample = f.sample
	if f.sample == 0 {
		o.Sample = -1
	}
	o.Rules.Ignore, o.Rules.EmptyAsNull, o.Carry = f.ignore, f.emptyAsNull, f.carry
	if o.Rules.Truncate, err = diff.ParseAssignments("truncate", f.truncate); err != nil {
		return o, err
	}
	if o.Rules.Round, err = diff.ParseRound(f.round); err != nil {
		return o, err
	}
	if o.Rules.Tolerance, err = diff.ParseAssignments("tolerance", f.tolerance); err != nil {
		return o, err
	}
	return o, nil
}

func runDiff(cmd *cobra.Command, args []string, f diffFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	legacy, err := diff.OpenRef(args[0], g.legacyLocation())
	if err != nil {
		return err
	}
	newer, err := diff.OpenRef(args[1], g.newLocation())
	if err != nil {
		return err
	}
	// Keep the process within the budget: the diff sizes its buffers from
	// it, and the soft limit (with a tenth left for stacks, Parquet
	// decoding outside the heap and the runtime) makes the collector keep
	// garbage within it too.
	debug.SetMemoryLimit(opts.Memory * 9 / 10)
	bar := newProgress(cmd.ErrOrStderr(), "reading", "rows", 0)
	var (
		mu    sync.Mutex
		phase string
		last  int64
	)
	labels := map[string][2]string{"digest": {"reading", "rows"}, "exact": {"comparing", "buckets"}, "report": {"reporting", "rows"}}
	opts.Progress = func(p diff.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Phase != phase {
			phase, last = p.Phase, 0
			bar.Done()
			bar = newProgress(cmd.ErrOrStderr(), labels[p.Phase][0], labels[p.Phase][1], p.Total)
		}
		if p.Done > last {
			bar.Add(p.Done - last)
			last = p.Done
		}
	}
	rep, err := diff.Run(cmd.Context(), legacy, newer, opts)
	mu.Lock()
	bar.Done()
	mu.Unlock()
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if g.json {
		if err := printJSON(w, rep); err != nil {
			return err
		}
	} else if err := printReport(w, rep, opts); err != nil {
		return err
	}
	if !rep.Clean {
		return differsError{}
	}
	return nil
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// keyString renders key values in key order: id=7 region="eu".
func keyString(key []string, k map[string]any) string {
	parts := make([]string, 0, len(key))
	for _, c := range key {
		parts = append(parts, c+"="+jsonValue(k[c]))
	}
	return strings.Join(parts, " ")
}

func rowString(r *diff.Row) string {
	if r == nil {
		return ""
	}
	return jsonValue(r.Values)
}

func printReport(w io.Writer, rep *diff.Report, opts diff.Options) error {
	side := func(name string, s diff.SideInfo) string {
		snap := ""
		if s.SnapshotID != nil {
			snap = fmt.Sprintf("  snapshot %d", *s.SnapshotID)
		}
		return fmt.Sprintf("%-7s %s%s  (%s, %s)", name, s.Ref, snap, plural(int64(s.FilesRead), "file"), plural(s.Rows, "row"))
	}
	fmt.Fprintln(w, side("legacy", rep.Legacy))
	fmt.Fprintln(w, side("new", rep.New))
	fmt.Fprintln(w)
	t := newTable(w)
	t.row("legacy_rows", strconv.FormatInt(rep.LegacyRows, 10))
	t.row("new_rows", strconv.FormatInt(rep.NewRows, 10))
	t.row("only_in_legacy", strconv.FormatInt(rep.OnlyInLegacy, 10))
	t.row("only_in_new", strconv.FormatInt(rep.OnlyInNew, 10))
	t.row("matched", strconv.FormatInt(rep.Matched, 10))
	t.row("similarity", strconv.FormatFloat(rep.Similarity, 'f', 6, 64))
	if rep.Changed != nil {
		t.row("changed", strconv.FormatInt(*rep.Changed, 10))
		t.row("missing", strconv.FormatInt(*rep.Missing, 10))
		t.row("extra", strconv.FormatInt(*rep.Extra, 10))
		t.row("duplicate_keys", strconv.FormatInt(*rep.DuplicateKeys, 10))
		t.row("within_tolerance", strconv.FormatInt(*rep.WithinTolerance, 10))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rep.DifferingColumns) > 0 {
		var cols []string
		for c := range rep.DifferingColumns {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		var parts []string
		for _, c := range cols {
			parts = append(parts, fmt.Sprintf("%s %d", c, rep.DifferingColumns[c]))
		}
		fmt.Fprintf(w, "\nchanged columns: %s\n", strings.Join(parts, ", "))
	}
	order := "by key"
	if len(rep.Key) == 0 {
		order = "by fingerprint"
	}
	printPairs := func(title string, ds []diff.Discrepancy, total int64) error {
		if len(ds) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s: first %d of %d %s\n", title, len(ds), total, order)
		t := newTable(w, "KEY", "COLUMN", "LEGACY", "NEW")
		for _, d := range ds {
			k := keyString(rep.Key, d.Key)
			if len(d.Columns) == 0 { // an unpaired row of a changed key
				t.row(k, "(row)", rowString(d.Legacy), rowString(d.New))
				continue
			}
			for i, c := range d.Columns {
				if i > 0 {
					k = ""
				}
				t.row(k, c.Column, jsonValue(c.Legacy), jsonValue(c.New))
			}
		}
		return t.flush()
	}
	printRows := func(title string, ds []diff.Discrepancy, total int64) error {
		if len(ds) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s: first %d of %d %s\n", title, len(ds), total, order)
		var t *table
		if len(rep.Key) > 0 {
			t = newTable(w, "KEY", "ROW")
		} else {
			t = newTable(w, "FINGERPRINT", "ROW")
		}
		for _, d := range ds {
			r := d.Legacy
			if r == nil {
				r = d.New
			}
			first := r.Fingerprint.String()
			if len(rep.Key) > 0 {
				first = keyString(rep.Key, d.Key)
			}
			t.row(first, rowString(r))
		}
		return t.flush()
	}
	s := rep.Samples
	if rep.Changed != nil {
		if err := printPairs("changed", s.Changed, *rep.Changed); err != nil {
			return err
		}
		if err := printRows("missing", s.Missing, *rep.Missing); err != nil {
			return err
		}
		if err := printRows("extra", s.Extra, *rep.Extra); err != nil {
			return err
		}
		if err := printPairs("within_tolerance", s.WithinTolerance, *rep.WithinTolerance); err != nil {
			return err
		}
		if len(s.DuplicateKeys) > 0 {
			fmt.Fprintf(w, "\nduplicate_keys: first %d of %d by key\n", len(s.DuplicateKeys), *rep.DuplicateKeys)
			for _, k := range s.DuplicateKeys {
				fmt.Fprintf(w, "  %s\n", keyString(rep.Key, k))
			}
		}
	} else {
		if err := printRows("only_in_legacy", s.OnlyInLegacy, rep.OnlyInLegacy); err != nil {
			return err
		}
		if err := printRows("only_in_new", s.OnlyInNew, rep.OnlyInNew); err != nil {
			return err
		}
	}
	if len(rep.Rules) > 0 {
		var parts []string
		for _, r := range rep.Rules {
			p := r.Rule + " " + r.Column
			if r.Value != "" {
				p += "=" + r.Value
			}
			parts = append(parts, p)
		}
		fmt.Fprintf(w, "\nrules: %s\n", strings.Join(parts, "; "))
	}
	if len(rep.Carry) > 0 {
		sep := "\n" // under the rules line, else after a blank line
		if len(rep.Rules) > 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%scarried, not compared: %s\n", sep, strings.Join(rep.Carry, ", "))
	}
	ph := rep.Run.Phases
	fmt.Fprintf(w, "\npartitions %d (%d unequal), spilled %d bytes; seconds: plan %.2f, digest %.2f, exact %.2f, report %.2f, total %.2f\n",
		rep.Run.Partitions, rep.Run.UnequalPartitions, rep.Run.SpilledBytes, ph.Plan, ph.Digest, ph.Exact, ph.Report, ph.Total)
	if opts.OutDir != "" {
		fmt.Fprintf(w, "wrote %s and %s in %s\n", diff.OnlyInLegacyFile, diff.OnlyInNewFile, opts.OutDir)
	}
	if rep.Clean {
		fmt.Fprintln(w, "clean")
	} else {
		fmt.Fprintln(w, "differs")
	}
	return nil
}
