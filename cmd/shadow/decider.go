package main

// shadow decider: the connector controller's registry (issue 7): explain a
// decision, set rules, pins and ramps, read the history, and plan or apply
// promotions and demotions from the investigation log's streaks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/decider"
)

func init() {
	addCommand(newDeciderCmd)
	markBadInput(decider.ErrInvalid, decider.ErrNotFound, decider.ErrConflict)
}

// deciderAuthor names who changes the registry (--author, default $USER).
var deciderAuthor string

func newDeciderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decider",
		Short: "Route data movements to the legacy or the new path: rules, pins, ramps, promotions",
		Long: `The decider chooses a path, legacy or new, for each data movement (a dataset of
the datasets file). Its registry lives in the state database (--db), next to
the investigation log. Precedence, first match wins:

  pin > explicit rule > promotion state > cohort ramp > default (legacy)

shadow serve answers GET /v1/decide with the same decision; see docs/decider.md.`,
	}
	addDatasetsFlag(cmd)
	cmd.PersistentFlags().StringVar(&deciderAuthor, "author", os.Getenv("USER"), "who is making the change, for the audit trail (default $USER)")
	cmd.AddCommand(newDeciderDecideCmd(), newDeciderSetCmd(), newDeciderRulesCmd(), newDeciderPinCmd(), newDeciderRampCmd(),
		newDeciderCohortCmd(), newDeciderHistoryCmd(), newDeciderPlanCmd(), newDeciderApplyCmd())
	return cmd
}

// registryOptions are the options of the decider commands: the datasets
// file (if any) and the promotion policy in force, logging to logger.
func registryOptions(logger *slog.Logger) (decider.Options, error) {
	files, err := loadDatasets(false)
	if err != nil {
		return decider.Options{}, err
	}
	policy, err := decider.ParsePolicy(&g.cfg.Decider)
	if err != nil {
		return decider.Options{}, err
	}
	return decider.Options{Datasets: files, Policy: policy, Logger: logger}, nil
}

// withDecider opens the registry, runs fn with it and closes it again.
// Read-only commands pass create=false so that a wrong --db never leaves an
// empty database behind.
func withDecider(ctx context.Context, create bool, fn func(*decider.Decider) error) error {
	opts, err := registryOptions(slog.Default())
	if err != nil {
		return err
	}
	return withLog(ctx, create, func(store *investigations.Store) error {
		return fn(decider.New(store, opts))
	})
}

func newDeciderDecideCmd() *cobra.Command {
	var m decider.Movement
	cmd := &cobra.Command{
		Use:   "decide",
		Short: "Explain the path of a movement, or of every dataset (records nothing)",
		Long: `Explain which path a movement gets and why, exactly as GET /v1/decide would
answer, without recording the decision or counting it in the metrics.
Name the movement with --dataset, or with --keyspace and --table (plus
--cluster and --destination to tell datasets apart). With no movement, every
dataset of the datasets file is explained.

A registry that cannot be read answers LEGACY, as the API does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			opts, err := registryOptions(slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			files := opts.Datasets
			var d *decider.Decider
			store, err := openLog(ctx, false)
			switch {
			case errors.Is(err, investigations.ErrInvalid):
				return err
			case err != nil:
				d = decider.Unavailable(err, opts)
			default:
				defer store.Close()
				d = decider.New(store, opts)
			}
			out := cmd.OutOrStdout()
			all := m == (decider.Movement{}) || m == decider.Movement{Cohort: m.Cohort}
			if all {
				if !files.Configured() {
					return usageError{fmt.Errorf("%w: name a movement (--dataset, or --keyspace and --table), or configure datasets: to explain them all", datasets.ErrNotConfigured)}
				}
				decs := make([]decider.Decision, 0, len(files.Datasets))
				for _, ds := range files.Datasets {
					dec, err := d.Explain(ctx, decider.Movement{Dataset: ds.Name, Cohort: m.Cohort})
					if err != nil {
						return err
					}
					decs = append(decs, dec)
				}
				return printList(out, decs, len(decs), "datasets",
					[]string{"DATASET", "COHORT", "BUCKET", "PATH", "DECISION", "RULE", "REASON"},
					func(dec decider.Decision) []string {
						return []string{dec.Movement, dec.Cohort, fmtBucket(dec.Bucket), string(dec.Path), dec.Answer, dec.Rule, dec.Reason}
					})
			}
			dec, err := d.Explain(ctx, m)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(out, dec)
			}
			fmt.Fprintln(out, dec.Answer)
			t := newTable(out)
			movement := dec.Movement
			if movement == "" {
				movement = "- (no dataset)"
			}
			t.row("dataset:", movement)
			t.row("source:", fmt.Sprintf("cluster=%s keyspace=%s table=%s destination=%s", orDash(dec.Cluster), orDash(dec.Keyspace), orDash(dec.Table), orDash(dec.Destination)))
			t.row("cohort:", dec.Cohort)
			if dec.Bucket != nil {
				t.row("bucket:", strconv.Itoa(*dec.Bucket)+" of 10000")
			}
			t.row("path:", string(dec.Path))
			t.row("decided by:", string(dec.Source))
			t.row("rule:", dec.Rule)
			t.row("reason:", dec.Reason)
			return t.flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Dataset, "dataset", "", "the movement's dataset name")
	f.StringVar(&m.Cluster, "cluster", "", "source cluster")
	f.StringVar(&m.Keyspace, "keyspace", "", "source keyspace")
	f.StringVar(&m.Table, "table", "", "source table")
	f.StringVar(&m.Destination, "destination", "", "destination table (the legacy output, NS.TABLE)")
	f.StringVar(&m.Cohort, "cohort", "", "the caller's migration cohort (default: the movement's own)")
	return cmd
}

func fmtBucket(b *int) string {
	if b == nil {
		return "-"
	}
	return strconv.Itoa(*b)
}

func newDeciderSetCmd() *cobra.Command {
	var r decider.Rule
	var path string
	var remove int64
	cmd := &cobra.Command{
		Use:   "set --path legacy|new [--cluster C] [--keyspace K] [--table T] [--destination D] [--cohort C]",
		Short: "Set an explicit rule (patterns with '*'), or remove one with --remove ID",
		Long: `Set the explicit rule for a tuple of patterns: every movement whose cluster,
keyspace, table, destination and cohort match goes to --path, unless it is
pinned. '*' matches any run of characters; an omitted field is '*'. Setting
the same patterns again replaces the rule's path. When several rules match,
the most specific wins (the most fields that are not '*'); on a tie, legacy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cmd.Flags().Changed("remove") == (path != "") {
				return usageError{errors.New("give --path to set a rule, or --remove ID to remove one")}
			}
			out := cmd.OutOrStdout()
			return withDecider(ctx, true, func(d *decider.Decider) error {
				if cmd.Flags().Changed("remove") {
					old, err := d.RemoveRule(ctx, remove, deciderAuthor, r.Reason)
					if err != nil {
						return err
					}
					return printResult(out, old, "rule %d removed: %s → %s\n", old.ID, old.Patterns(), old.Path)
				}
				r.Path = decider.Path(path)
				rule, created, err := d.SetRule(ctx, r, deciderAuthor)
				if err != nil {
					return err
				}
				verb := "updated"
				if created {
					verb = "created"
				}
				return printResult(out, rule, "rule %d %s: %s → %s\n", rule.ID, verb, rule.Patterns(), rule.Path)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "path", "", "the path the rule sends movements to: legacy or new")
	f.StringVar(&r.Cluster, "cluster", "*", "source cluster pattern")
	f.StringVar(&r.Keyspace, "keyspace", "*", "source keyspace pattern")
	f.StringVar(&r.Table, "table", "*", "source table pattern")
	f.StringVar(&r.Destination, "destination", "*", "destination table pattern (NS.TABLE)")
	f.StringVar(&r.Cohort, "cohort", "*", "cohort pattern")
	f.StringVar(&r.Reason, "reason", "", "why, for the audit trail")
	f.Int64Var(&remove, "remove", 0, "remove the rule with this id")
	return cmd
}

func newDeciderRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List the explicit rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDecider(cmd.Context(), false, func(d *decider.Decider) error {
				rules, err := d.Rules(cmd.Context())
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if len(rules) == 0 && !g.json {
					fmt.Fprintln(out, "no rules")
					return nil
				}
				return printList(out, rules, len(rules), "rules",
					[]string{"ID", "CLUSTER", "KEYSPACE", "TABLE", "DESTINATION", "COHORT", "PATH", "BY", "UPDATED", "REASON"},
					func(r decider.Rule) []string {
						return []string{strconv.FormatInt(r.ID, 10), r.Cluster, r.Keyspace, r.Table, r.Destination, r.Cohort, string(r.Path), r.CreatedBy, fmtTime(r.UpdatedAt), orDash(r.Reason)}
					})
			})
		},
	}
}

func newDeciderPinCmd() *cobra.Command {
	var replace, remove bool
	var reason string
	cmd := &cobra.Command{
		Use:   "pin [DATASET legacy|new]",
		Short: "Pin a dataset to a path (over every rule), unpin it with --remove, or list the pins",
		Long: `Pin a dataset to a path: a pin wins over rules, promotions and ramps. A dataset
has at most one pin: pinning it again is refused unless --replace is given.
With --remove DATASET the pin goes; with no arguments the pins are listed.`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			switch {
			case remove && len(args) != 1:
				return usageError{errors.New("pin --remove takes the dataset to unpin")}
			case !remove && len(args) == 1:
				return usageError{fmt.Errorf("pin %s: name the path too: pin %s legacy|new", args[0], args[0])}
			}
			return withDecider(ctx, len(args) > 0, func(d *decider.Decider) error {
				switch {
				case remove:
					old, err := d.Unpin(ctx, args[0], deciderAuthor, reason)
					if err != nil {
						return err
					}
					return printResult(out, old, "%s unpinned (was pinned to %s)\n", old.Movement, old.Path)
				case len(args) == 2:
					if err := requireDatasets(d); err != nil {
						return err
					}
					pin, err := d.PinMovement(ctx, args[0], decider.Path(args[1]), replace, deciderAuthor, reason)
					if err != nil {
						return err
					}
					return printResult(out, pin, "%s pinned to %s\n", pin.Movement, pin.Path)
				}
				pins, err := d.Pins(ctx)
				if err != nil {
					return err
				}
				if len(pins) == 0 && !g.json {
					fmt.Fprintln(out, "no pins")
					return nil
				}
				return printList(out, pins, len(pins), "pins",
					[]string{"DATASET", "PATH", "BY", "AT", "REASON"},
					func(p decider.Pin) []string {
						return []string{p.Movement, string(p.Path), p.CreatedBy, fmtTime(p.CreatedAt), orDash(p.Reason)}
					})
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&replace, "replace", false, "replace the dataset's pin if it has one")
	f.BoolVar(&remove, "remove", false, "remove the dataset's pin")
	f.StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

// requireDatasets refuses a change that names a dataset when no datasets
// file is configured.
func requireDatasets(d *decider.Decider) error {
	if !d.Datasets().Configured() {
		return fmt.Errorf("%w: set datasets: in shadow.yaml (a path or a list) or pass --datasets FILE", datasets.ErrNotConfigured)
	}
	return nil
}

func newDeciderRampCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "ramp [COHORT PERCENT]",
		Short: "Set a cohort's ramp (0–100% of its movements on the new path), or list the cohorts",
		Long: `Set the share of a cohort's movements that go to the new path. A movement is
inside a ramp of p% when its bucket, xxhash64 of its name modulo 10000, is
below p × 100: the same movements stay inside when the ramp rises. With no
arguments the cohorts are listed with their ramps and members.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return usageError{errors.New("ramp takes a cohort and a percentage (ramp early 30), or nothing to list the cohorts")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var percent int
			if len(args) == 2 {
				p, err := strconv.Atoi(strings.TrimSuffix(args[1], "%"))
				if err != nil {
					return usageError{fmt.Errorf("ramp %s %q: want a whole percentage from 0 to 100", args[0], args[1])}
				}
				percent = p
			}
			return withDecider(ctx, len(args) > 0, func(d *decider.Decider) error {
				if len(args) == 2 {
					c, err := d.SetRamp(ctx, args[0], percent, deciderAuthor, reason)
					if err != nil {
						return err
					}
					return printResult(out, c, "cohort %s ramped to %d%%\n", c.Name, c.Ramp)
				}
				cs, err := d.Cohorts(ctx)
				if err != nil {
					return err
				}
				return printList(out, cs, len(cs), "cohorts",
					[]string{"COHORT", "RAMP", "MEMBERS", "BY", "UPDATED"},
					func(c decider.Cohort) []string {
						return []string{c.Name, strconv.Itoa(c.Ramp) + "%", fmtList(c.Members), orDash(c.UpdatedBy), fmtOptTime(c.UpdatedAt)}
					})
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

func newDeciderCohortCmd() *cobra.Command {
	var reason string
	var unset bool
	cmd := &cobra.Command{
		Use:   "cohort COHORT DATASET... | cohort --unset DATASET...",
		Short: "Move datasets into a cohort in the registry (over the datasets file's cohort), or back with --unset",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !unset && len(args) < 2 {
				return usageError{errors.New("cohort takes a cohort and the datasets to move into it")}
			}
			return withDecider(ctx, true, func(d *decider.Decider) error {
				if err := requireDatasets(d); err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if unset {
					if err := d.UnassignCohort(ctx, args, deciderAuthor, reason); err != nil {
						return err
					}
					return printResult(out, map[string]any{"unset": args}, "%s back in the datasets file's cohort\n", strings.Join(args, ", "))
				}
				if err := d.AssignCohort(ctx, args[0], args[1:], deciderAuthor, reason); err != nil {
					return err
				}
				return printResult(out, map[string]any{"cohort": args[0], "datasets": args[1:]}, "%s now in cohort %s\n", strings.Join(args[1:], ", "), args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&unset, "unset", false, "remove the registry's cohort of the datasets")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail")
	return cmd
}

func newDeciderHistoryCmd() *cobra.Command {
	var f decider.HistoryFilter
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List changes to the registry (the audit trail) and reported outcomes, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			return withDecider(cmd.Context(), false, func(d *decider.Decider) error {
				es, total, err := d.History(cmd.Context(), f)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if total == 0 && !g.json {
					fmt.Fprintln(out, "no history")
					return nil
				}
				return printList(out, es, total, "entries",
					[]string{"AT", "KIND", "BY", "ACTION", "SUBJECT", "CHANGE", "REASON"},
					func(e decider.Entry) []string {
						return []string{fmtTime(e.At), e.Kind, orDash(e.Actor), e.Action, e.Subject, fmtChange(e), orDash(e.Reason)}
					})
			})
		},
	}
	cmd.Flags().StringVar(&f.Movement, "dataset", "", "only this dataset's changes and outcomes")
	cmd.Flags().StringVar(&f.Cohort, "cohort", "", "only this cohort's ramp and membership changes, and outcomes in it")
	addLimit(cmd, &f.Limit)
	return cmd
}

// fmtChange prints a change as before → after, or an outcome's details.
func fmtChange(e decider.Entry) string {
	if e.Kind == "outcome" {
		s := "path " + string(e.Path) + ", cohort " + e.Cohort
		if e.DurationSeconds != nil {
			s += ", " + strconv.FormatFloat(*e.DurationSeconds, 'f', -1, 64) + "s"
		}
		if e.Error != "" {
			s += ": " + e.Error
		}
		return s
	}
	side := func(b []byte) string {
		if b == nil {
			return "-"
		}
		return string(b)
	}
	return side(e.Before) + " → " + side(e.After)
}

func printChanges(out io.Writer, cs []decider.Change) error {
	t := newTable(out, "DATASET", "COHORT", "STREAK", "ACTION", "PATH", "NIGHT", "REASON")
	for _, c := range cs {
		path := string(c.PathBefore)
		if c.PathAfter != c.PathBefore {
			path += " → " + string(c.PathAfter)
		}
		why := c.Reason
		if c.Note != "" {
			why += "; " + c.Note
		}
		t.row(c.Dataset, c.Cohort, strconv.Itoa(c.Streak), c.Action, path, orDash(c.Night), why)
	}
	return t.flush()
}

func countChanges(cs []decider.Change) int {
	n := 0
	for _, c := range cs {
		if c.Action != decider.ActionNone {
			n++
		}
	}
	return n
}

func newDeciderPlanCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "Show what the promotion policy would change, and why, from the investigation log's streaks",
		Long: `For every dataset, show what the promotion policy (decider: in shadow.yaml)
would do: promote after promote_after clean nights in a row, demote after a
night that differs, or nothing, with the path before and after. Nothing is
written; shadow decider apply makes the changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDecider(cmd.Context(), false, func(d *decider.Decider) error {
				if err := requireDatasets(d); err != nil {
					return err
				}
				plan, err := d.Plan(cmd.Context())
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, newJSONList(plan, len(plan)))
				}
				if err := printChanges(out, plan); err != nil {
					return err
				}
				p := d.Policy()
				switch n := countChanges(plan); {
				case n == 0:
					fmt.Fprintf(out, "nothing to change (promote_after %d, auto %t)\n", p.PromoteAfter, p.Auto)
				default:
					fmt.Fprintf(out, "%s to make (promote_after %d, auto %t); shadow decider apply makes them\n", countWord(n, "change"), p.PromoteAfter, p.Auto)
				}
				return nil
			})
		},
	}
}

func newDeciderApplyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Apply the plan's promotions and demotions (audited under --author)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDecider(cmd.Context(), false, func(d *decider.Decider) error {
				if err := requireDatasets(d); err != nil {
					return err
				}
				applied, err := d.Apply(cmd.Context(), deciderAuthor)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, newJSONList(applied, len(applied)))
				}
				if len(applied) == 0 {
					fmt.Fprintln(out, "nothing to change")
					return nil
				}
				if err := printChanges(out, applied); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s applied\n", countWord(len(applied), "change"))
				return nil
			})
		},
	}
}
