package main

// shadow log: the investigation log (runs, discrepancies, investigations,
// rules, confidence). This file holds the group and the read commands;
// log_triage.go holds the commands that change investigations.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/investigations"
)

func init() {
	addCommand(newLogCmd)
	markBadInput(investigations.ErrNotFound, investigations.ErrInvalid, investigations.ErrCorrupt)
}

// logAuthor names who changes an investigation (--author, default $USER).
var logAuthor string

func newLogCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Triage the investigation log: runs, discrepancies, investigations, rules, confidence",
		Long: `The investigation log lives in the state database (--db, default ./shadow.db).
Shadow runs write runs and discrepancies to it; these commands read them and
let on-call engineers group discrepancies into investigations.`,
	}
	cmd.PersistentFlags().StringVar(&logAuthor, "author", os.Getenv("USER"), "who is making the change (default $USER)")
	cmd.AddCommand(newLogRunsCmd(), newLogShowCmd(), newLogDiscrepanciesCmd(), newLogExportCmd(), newLogConfidenceCmd(),
		newLogInvestigationsCmd(), newLogInvestigationCmd(), newLogOpenCmd(), newLogLinkCmd(), newLogCategorizeCmd(),
		newLogNoteCmd(), newLogResolveCmd(), newLogRulesCmd(), newLogCategoriesCmd())
	return cmd
}

// openLog opens the state database. Read-only commands pass create=false so
// that a wrong --db never leaves an empty database behind.
func openLog(ctx context.Context, create bool) (*investigations.Store, error) {
	var opts []investigations.Option
	if !create {
		opts = append(opts, investigations.MustExist())
	}
	return investigations.Open(ctx, g.db, opts...)
}

// withLog opens the state database (see openLog), runs fn with it and closes
// it again.
func withLog(ctx context.Context, create bool, fn func(*investigations.Store) error) error {
	s, err := openLog(ctx, create)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// printList prints a list command's result: {"items": [...], "total": N}
// under --json, otherwise a table with one row per item, then a footer when
// --limit left items out (what names them: "runs").
func printList[T any](out io.Writer, items []T, total int, what string, headers []string, row func(T) []string) error {
	if g.json {
		return printJSON(out, newJSONList(items, total))
	}
	t := newTable(out, headers...)
	for _, it := range items {
		t.row(row(it)...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	footer(out, len(items), total, what)
	return nil
}

// printResult prints a command's result: v as JSON under --json, otherwise
// the text that format and args make.
func printResult(out io.Writer, v any, format string, args ...any) error {
	if g.json {
		return printJSON(out, v)
	}
	fmt.Fprintf(out, format, args...)
	return nil
}

func addLimit(cmd *cobra.Command, limit *int) {
	cmd.Flags().IntVar(limit, "limit", 100, "show at most N items (0: all)")
}

func checkLimit(n int) error {
	if n < 0 {
		return usageError{fmt.Errorf("--limit %d: want 0 (all) or more", n)}
	}
	return nil
}

// footer says how much of a limited list was shown.
func footer(w io.Writer, shown, total int, what string) {
	if shown < total {
		fmt.Fprintf(w, "%d of %d %s shown; --limit 0 shows all\n", shown, total, what)
	}
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Second).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	}
	return d.String()
}

func fmtSimilarity(s *float64) string {
	if s == nil {
		return "-"
	}
	v := strconv.FormatFloat(*s, 'f', 6, 64)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	return v
}

func fmtStatus(r investigations.Run) string {
	if r.Superseded {
		return string(r.Status) + ", superseded"
	}
	return string(r.Status)
}

func fmtList(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func fmtIDs(ids []int64) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// fmtKey renders a JSON object of key columns as col=value pairs.
func fmtKey(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		if len(m) == 0 && err == nil {
			return "-"
		}
		return string(raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := string(m[k])
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			v = s
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

func newLogRunsCmd() *cobra.Command {
	var dataset, since string
	var limit int
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			f := investigations.RunFilter{Dataset: dataset, Limit: limit}
			if since != "" {
				t, err := lake.ParseTime(since)
				if err != nil {
					return usageError{fmt.Errorf("--since: %w", err)}
				}
				f.Since = t
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				runs, total, err := s.Runs(cmd.Context(), f)
				if err != nil {
					return err
				}
				now := time.Now()
				return printList(cmd.OutOrStdout(), runs, total, "runs",
					[]string{"RUN", "STATUS", "STARTED", "DURATION", "LEGACY_ROWS", "NEW_ROWS", "ONLY_IN_LEGACY", "ONLY_IN_NEW", "CHANGED", "SIMILARITY"},
					func(r investigations.Run) []string {
						dur := "-" // running, or aborted: no meaningful duration
						if r.FinishedAt != nil && r.Status != investigations.Aborted {
							dur = fmtDuration(r.Duration(now))
						}
						return []string{r.ID, fmtStatus(r), fmtTime(r.StartedAt), dur,
							strconv.FormatInt(r.LegacyRows, 10), strconv.FormatInt(r.NewRows, 10),
							strconv.FormatInt(r.OnlyInLegacy, 10), strconv.FormatInt(r.OnlyInNew, 10), strconv.FormatInt(r.Changed, 10),
							fmtSimilarity(r.Similarity)}
					})
			})
		},
	}
	cmd.Flags().StringVar(&dataset, "dataset", "", "only runs of this dataset")
	cmd.Flags().StringVar(&since, "since", "", "only runs started at or after this time (RFC 3339 or a date)")
	addLimit(cmd, &limit)
	return cmd
}

// runDetail is `show --json`: the run plus its signatures.
type runDetail struct {
	investigations.Run
	Signatures []investigations.RunSignature `json:"signatures"`
}

func newLogShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show RUN",
		Short: "Show one run in full (RUN is dataset/night or dataset/night#attempt)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withLog(ctx, false, func(s *investigations.Store) error {
				r, err := s.Run(ctx, args[0])
				if err != nil {
					return err
				}
				sigs, err := s.RunSignatures(ctx, args[0])
				if err != nil {
					return err
				}
				if sigs == nil {
					sigs = []investigations.RunSignature{}
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, runDetail{r, sigs})
				}
				return printRun(out, r, sigs)
			})
		},
	}
}

// kvList prints "key  value" lines aligned on the keys; an empty pair is a
// blank line.
type kvList struct{ rows [][2]string }

func (l *kvList) row(k, v string) { l.rows = append(l.rows, [2]string{k, v}) }

func (l *kvList) flush(w io.Writer) error {
	width := 0
	for _, r := range l.rows {
		width = max(width, len(r[0]))
	}
	for _, r := range l.rows {
		var err error
		if r[0] == "" && r[1] == "" {
			_, err = fmt.Fprintln(w)
		} else {
			_, err = fmt.Fprintf(w, "%-*s  %s\n", width, r[0], r[1])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func printRun(out io.Writer, r investigations.Run, sigs []investigations.RunSignature) error {
	kv := &kvList{}
	kv.row("run", r.ID)
	kv.row("dataset", r.Dataset)
	if r.Scheduled {
		kv.row("night", r.Night)
	} else {
		kv.row("night", "- (ad hoc)")
	}
	att := strconv.Itoa(r.Attempt)
	if r.Superseded {
		att += " (superseded by a later attempt)"
	}
	kv.row("attempt", att)
	kv.row("status", string(r.Status))
	kv.row("started", fmtTime(r.StartedAt))
	switch {
	case r.FinishedAt == nil:
	case r.Status == investigations.Aborted:
		kv.row("marked aborted", fmtTime(*r.FinishedAt))
	default:
		kv.row("finished", fmt.Sprintf("%s (%s)", fmtTime(*r.FinishedAt), fmtDuration(r.Duration(time.Now()))))
	}
	if r.Status == investigations.Running || r.Status == investigations.Aborted {
		kv.row("process", fmt.Sprintf("pid %d on %s", r.PID, r.Host))
	}
	snap := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	kv.row("legacy snapshot", snap(r.LegacySnapshotID))
	kv.row("new snapshot", snap(r.NewSnapshotID))
	kv.row("backup", orDash(r.Backup))
	kv.row("ttl reference", fmt.Sprintf("legacy %s, new %s", fmtOptTime(r.LegacyTTLReference), fmtOptTime(r.NewTTLReference)))
	if r.Error != "" {
		kv.row("error", r.Error)
	}
	kv.row("", "")
	c := r.Counts
	for _, f := range []struct {
		k string
		v int64
	}{{"legacy_rows", c.LegacyRows}, {"new_rows", c.NewRows}, {"only_in_legacy", c.OnlyInLegacy}, {"only_in_new", c.OnlyInNew},
		{"matched", c.Matched}, {"changed", c.Changed}, {"missing", c.Missing}, {"extra", c.Extra}, {"duplicate_keys", c.DuplicateKeys}} {
		kv.row(f.k, strconv.FormatInt(f.v, 10))
	}
	kv.row("similarity", fmtSimilarity(r.Similarity))
	var stages []string
	for _, st := range r.Stages {
		stages = append(stages, st.Name+" "+fmtDuration(st.Duration))
	}
	kv.row("stages", orDash(strings.Join(stages, ", ")))
	kv.row("diff options", compactJSON(r.DiffOptions))
	if err := kv.flush(out); err != nil {
		return err
	}

	capNote := fmt.Sprintf("at most %d stored per side", r.MaxStoredPerSide)
	if r.MaxStoredPerSide < 0 {
		capNote = "no cap"
	}
	fmt.Fprintf(out, "\ndiscrepancies (%s)\n", capNote)
	t := newTable(out, "SIDE", "SEEN", "STORED")
	t.row("only_in_legacy", strconv.FormatInt(r.Seen.OnlyInLegacy, 10), strconv.FormatInt(r.Stored.OnlyInLegacy, 10))
	t.row("only_in_new", strconv.FormatInt(r.Seen.OnlyInNew, 10), strconv.FormatInt(r.Stored.OnlyInNew, 10))
	t.row("changed", strconv.FormatInt(r.Seen.Changed, 10), strconv.FormatInt(r.Stored.Changed, 10))
	if err := t.flush(); err != nil {
		return err
	}
	if len(sigs) == 0 {
		return nil
	}
	fmt.Fprintf(out, "\nsignatures\n")
	t = newTable(out, "SIGNATURE", "SEEN", "STORED", "INVESTIGATION")
	for _, sg := range sigs {
		inv := "-"
		if sg.Investigation != nil {
			inv = strconv.FormatInt(*sg.Investigation, 10)
		}
		t.row(sg.Text, strconv.FormatInt(sg.Seen, 10), strconv.FormatInt(sg.Stored, 10), inv)
	}
	return t.flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// discrepancyFlags are the filters shared by discrepancies and export.
type discrepancyFlags struct {
	run, side     string
	investigation int64
}

func (f *discrepancyFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.run, "run", "", "only discrepancies of this run")
	cmd.Flags().StringVar(&f.side, "side", "", "only this side: legacy, new or changed")
	cmd.Flags().Int64Var(&f.investigation, "investigation", 0, "only discrepancies linked to this investigation")
}

func (f *discrepancyFlags) filter() (investigations.DiscrepancyFilter, error) {
	df := investigations.DiscrepancyFilter{Run: f.run, Investigation: f.investigation}
	if f.side != "" {
		side, err := investigations.ParseSide(f.side)
		if err != nil {
			return df, usageError{fmt.Errorf("--side: %w", err)}
		}
		df.Side = side
	}
	if f.investigation < 0 {
		return df, usageError{fmt.Errorf("--investigation %d: want an investigation id", f.investigation)}
	}
	return df, nil
}

func newLogDiscrepanciesCmd() *cobra.Command {
	var f discrepancyFlags
	var limit int
	cmd := &cobra.Command{
		Use:   "discrepancies",
		Short: "List stored discrepancies in the order they were written",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			df, err := f.filter()
			if err != nil {
				return err
			}
			df.Limit = limit
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				ds, total, err := s.Discrepancies(cmd.Context(), df)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), ds, total, "discrepancies",
					[]string{"ID", "RUN", "SIDE", "KEY", "COLUMNS", "TAGS", "INVESTIGATIONS"},
					func(d investigations.StoredDiscrepancy) []string {
						return []string{strconv.FormatInt(d.ID, 10), d.RunID, string(d.Side), fmtKey(d.Key), fmtList(d.Columns), fmtList(d.Tags), fmtIDs(d.Investigations)}
					})
			})
		},
	}
	f.add(cmd)
	addLimit(cmd, &limit)
	return cmd
}

func newLogExportCmd() *cobra.Command {
	var f discrepancyFlags
	var format string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export stored discrepancies, all of them, as CSV or JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case format == "" && g.json:
				format = "json"
			case format == "":
				return usageError{fmt.Errorf("--format: want csv or json")}
			case format != "csv" && format != "json":
				return usageError{fmt.Errorf("--format %q: want csv or json", format)}
			case format == "csv" && g.json:
				return usageError{fmt.Errorf("--format csv and --json disagree; pick one")}
			}
			df, err := f.filter()
			if err != nil {
				return err
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				if format == "csv" {
					return exportCSV(cmd.Context(), cmd.OutOrStdout(), s, df)
				}
				return exportJSON(cmd.Context(), cmd.OutOrStdout(), s, df)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&format, "format", "", "csv or json (json is {\"items\": [...], \"total\": N})")
	return cmd
}

func exportCSV(ctx context.Context, out io.Writer, s *investigations.Store, df investigations.DiscrepancyFilter) error {
	w := csv.NewWriter(out)
	w.Write([]string{"id", "run_id", "dataset", "side", "key", "columns", "tags", "signature", "fingerprint", "new_fingerprint", "legacy_row", "new_row", "diffs", "investigations"})
	raw := func(r json.RawMessage) string {
		if string(r) == "null" {
			return ""
		}
		return string(r)
	}
	err := s.EachDiscrepancy(ctx, df, func(d investigations.StoredDiscrepancy) error {
		ids := fmtIDs(d.Investigations)
		if ids == "-" {
			ids = ""
		}
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		return w.Write([]string{strconv.FormatInt(d.ID, 10), d.RunID, d.Dataset, string(d.Side), string(d.Key),
			strings.Join(d.Columns, ","), strings.Join(d.Tags, ","), d.Signature, str(d.Fingerprint), str(d.NewFingerprint),
			raw(d.Legacy), raw(d.New), raw(d.Diffs), ids})
	})
	w.Flush()
	if err != nil {
		return err
	}
	return w.Error()
}

// exportJSON streams {"items": [...], "total": N} without holding the log in memory.
func exportJSON(ctx context.Context, out io.Writer, s *investigations.Store, df investigations.DiscrepancyFilter) error {
	if _, err := io.WriteString(out, "{\n  \"items\": ["); err != nil {
		return err
	}
	n := 0
	err := s.EachDiscrepancy(ctx, df, func(d investigations.StoredDiscrepancy) error {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		sep := ",\n    "
		if n == 0 {
			sep = "\n    "
		}
		n++
		_, err = io.WriteString(out, sep+string(b))
		return err
	})
	if err != nil {
		return err
	}
	end := "\n  ],\n"
	if n == 0 {
		end = "],\n"
	}
	_, err = fmt.Fprintf(out, "%s  \"total\": %d\n}\n", end, n)
	return err
}

func newLogConfidenceCmd() *cobra.Command {
	var dataset string
	cmd := &cobra.Command{
		Use:   "confidence",
		Short: "Clean streak in nights and the last night that differed, per dataset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				cs, err := s.Confidence(cmd.Context(), dataset)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), cs, len(cs), "datasets",
					[]string{"DATASET", "CLEAN_STREAK_NIGHTS", "LAST_DIFFERING_NIGHT", "LAST_NIGHT", "LAST_STATUS", "NIGHTS"},
					func(c investigations.Confidence) []string {
						last := "-"
						if c.LastDifferingNight != nil {
							last = *c.LastDifferingNight
						}
						return []string{c.Dataset, strconv.Itoa(c.CleanStreakNights), last, orDash(c.LastNight), orDash(string(c.LastStatus)), strconv.Itoa(c.Nights)}
					})
			})
		},
	}
	cmd.Flags().StringVar(&dataset, "dataset", "", "only this dataset")
	return cmd
}
