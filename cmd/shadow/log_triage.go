package main

// shadow log commands that read and change investigations, rules and
// categories.

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/investigations"
)

func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%s %q: want a positive number", what, s)}
	}
	return id, nil
}

func newLogInvestigationsCmd() *cobra.Command {
	var status, category, dataset string
	var limit int
	cmd := &cobra.Command{
		Use:   "investigations",
		Short: "List investigations, most recently updated first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			f := investigations.InvestigationFilter{Category: category, Dataset: dataset, Limit: limit}
			if status != "" {
				st, err := investigations.ParseInvestigationStatus(status)
				if err != nil {
					return usageError{fmt.Errorf("--status: %w", err)}
				}
				f.Status = st
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				invs, total, err := s.Investigations(cmd.Context(), f)
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), invs, total, "investigations",
					[]string{"ID", "STATUS", "CATEGORY", "DISCREPANCIES", "UPDATED", "TITLE"},
					func(i investigations.Investigation) []string {
						return []string{strconv.FormatInt(i.ID, 10), string(i.Status), orDash(i.Category), strconv.FormatInt(i.Discrepancies, 10), fmtTime(i.UpdatedAt), i.Title}
					})
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only this status: open, triaged, explained, fixed, wontfix")
	cmd.Flags().StringVar(&category, "category", "", "only this category")
	cmd.Flags().StringVar(&dataset, "dataset", "", "only investigations covering this dataset")
	addLimit(cmd, &limit)
	return cmd
}

func newLogInvestigationCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "investigation I",
		Short: "Show one investigation: signatures, runs and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("investigation", args[0])
			if err != nil {
				return err
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				d, err := s.Investigation(cmd.Context(), id)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), d)
				}
				return printInvestigation(cmd.OutOrStdout(), d)
			})
		},
	}
}

func printInvestigation(out io.Writer, d investigations.InvestigationDetail) error {
	kv := &kvList{}
	kv.row("investigation", strconv.FormatInt(d.ID, 10))
	kv.row("title", d.Title)
	kv.row("status", string(d.Status))
	kv.row("category", orDash(d.Category))
	kv.row("owner", orDash(d.Owner))
	opened := fmtTime(d.CreatedAt)
	if d.Auto {
		opened += " (automatically)"
	}
	kv.row("opened", opened)
	kv.row("updated", fmtTime(d.UpdatedAt))
	kv.row("discrepancies", strconv.FormatInt(d.Discrepancies, 10))
	kv.row("runs", fmtList(d.Runs))
	if err := kv.flush(out); err != nil {
		return err
	}
	if len(d.Signatures) > 0 {
		fmt.Fprintf(out, "\nsignatures\n")
		t := newTable(out, "DATASET", "SIGNATURE")
		for _, sg := range d.Signatures {
			t.row(sg.Dataset, sg.Text)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\ntimeline\n")
	for _, e := range d.Timeline {
		fmt.Fprintf(out, "%s  %-5s  %s\n", fmtTime(e.CreatedAt), e.Kind, orDash(e.Author))
		for _, line := range strings.Split(strings.TrimRight(e.Body, "\n"), "\n") {
			fmt.Fprintf(out, "    %s\n", line)
		}
	}
	return nil
}

func newLogOpenCmd() *cobra.Command {
	var fromRun, side, owner string
	cmd := &cobra.Command{
		Use:   "open TITLE",
		Short: "Open an investigation, linking a run's stored discrepancies (--from-run, optionally one --side)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := investigations.OpenRequest{Title: args[0], Owner: owner, FromRun: fromRun, Author: logAuthor}
			if side != "" {
				if fromRun == "" {
					return usageError{fmt.Errorf("--side needs --from-run")}
				}
				sd, err := investigations.ParseSide(side)
				if err != nil {
					return usageError{fmt.Errorf("--side: %w", err)}
				}
				req.Side = sd
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				d, err := s.OpenInvestigation(cmd.Context(), req)
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), d, "opened investigation %d: %s (%d discrepancies linked, %d signatures)\n", d.ID, d.Title, d.Discrepancies, len(d.Signatures))
			})
		},
	}
	cmd.Flags().StringVar(&fromRun, "from-run", "", "link this run's stored discrepancies and adopt their signatures")
	cmd.Flags().StringVar(&side, "side", "", "with --from-run: only this side (legacy, new or changed)")
	cmd.Flags().StringVar(&owner, "owner", os.Getenv("USER"), "who owns the investigation (default $USER)")
	return cmd
}

func newLogLinkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "link I DISCREPANCY...",
		Short: "Link discrepancies to an investigation (their signatures follow: later matches join it)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := parseID("investigation", args[0])
			if err != nil {
				return err
			}
			var ds []int64
			for _, a := range args[1:] {
				id, err := parseID("discrepancy", a)
				if err != nil {
					return err
				}
				ds = append(ds, id)
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				n, err := s.Link(cmd.Context(), inv, ds, logAuthor)
				if err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), map[string]int64{"investigation": inv, "linked": int64(n)},
					"investigation %d: linked %d discrepancies (%d already linked)\n", inv, n, len(ds)-n)
			})
		},
	}
}

// printInvestigationSummary prints the one-line result of a change, or the
// investigation as JSON.
func printInvestigationSummary(cmd *cobra.Command, s *investigations.Store, id int64, what string) error {
	d, err := s.Investigation(cmd.Context(), id)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), d, "investigation %d: %s (status %s, category %s)\n", id, what, d.Status, orDash(d.Category))
}

func newLogCategorizeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "categorize I CATEGORY",
		Short: "Set an investigation's category (an open one becomes triaged)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := parseID("investigation", args[0])
			if err != nil {
				return err
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				if err := s.Categorize(cmd.Context(), inv, args[1], logAuthor); err != nil {
					return err
				}
				return printInvestigationSummary(cmd, s, inv, "categorized as "+args[1])
			})
		},
	}
}

func newLogNoteCmd() *cobra.Command {
	var logFile, query string
	cmd := &cobra.Command{
		Use:   "note I [TEXT]",
		Short: "Add to an investigation's timeline: a note, a log excerpt (--log FILE, - for stdin) or a query (--query SQL, stored, never run)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := parseID("investigation", args[0])
			if err != nil {
				return err
			}
			type entry struct {
				kind investigations.EntryKind
				body string
			}
			var entries []entry
			if len(args) == 2 {
				entries = append(entries, entry{investigations.Note, args[1]})
			}
			if logFile != "" {
				var b []byte
				if logFile == "-" {
					b, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), investigations.MaxEntryBytes+1))
				} else {
					b, err = os.ReadFile(logFile)
				}
				if err != nil {
					return usageError{fmt.Errorf("--log: %w", err)}
				}
				entries = append(entries, entry{investigations.Log, string(b)})
			}
			if query != "" {
				entries = append(entries, entry{investigations.Query, query})
			}
			if len(entries) == 0 {
				return usageError{fmt.Errorf("note: give TEXT, --log FILE or --query SQL")}
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				var added []investigations.Entry
				for _, e := range entries {
					en, err := s.AddEntry(cmd.Context(), inv, e.kind, e.body, logAuthor)
					if err != nil {
						return err
					}
					added = append(added, en)
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), newJSONList(added, len(added)))
				}
				for _, e := range added {
					fmt.Fprintf(cmd.OutOrStdout(), "investigation %d: added %s %d\n", inv, e.Kind, e.ID)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&logFile, "log", "", "add this file's contents as a log excerpt (- reads stdin; at most 1 MiB)")
	cmd.Flags().StringVar(&query, "query", "", "add this query as text (it is never run)")
	return cmd
}

func newLogResolveCmd() *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "resolve I --status explained|fixed|wontfix",
		Short: "Close an investigation (explained ones keep collecting matching discrepancies)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := parseID("investigation", args[0])
			if err != nil {
				return err
			}
			st := investigations.InvestigationStatus(status)
			switch st {
			case investigations.StatusExplained, investigations.StatusFixed, investigations.StatusWontFix:
			default:
				return usageError{fmt.Errorf("--status %q: want explained, fixed or wontfix", status)}
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				if err := s.Resolve(cmd.Context(), inv, st, logAuthor); err != nil {
					return err
				}
				return printInvestigationSummary(cmd, s, inv, "resolved as "+status)
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "explained, fixed or wontfix")
	cmd.MarkFlagRequired("status")
	return cmd
}

func newLogRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Manage the auto-triage rules that map signatures to categories",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the rules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				rules, err := s.Rules(cmd.Context())
				if err != nil {
					return err
				}
				return printList(cmd.OutOrStdout(), rules, len(rules), "rules",
					[]string{"ID", "DATASET", "SIDE", "COLUMNS", "TAG", "CATEGORY"},
					func(r investigations.Rule) []string {
						return []string{strconv.FormatInt(r.ID, 10), r.Dataset, r.Side, r.Columns, r.Tag, r.Category}
					})
			})
		},
	}
	var r investigations.Rule
	add := &cobra.Command{
		Use:   "add --category C [--dataset GLOB] [--side S] [--columns C1,C2] [--tag T]",
		Short: "Add a rule ('*' is a wildcard in every field; the most specific matching rule wins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withLog(cmd.Context(), true, func(s *investigations.Store) error {
				rule, categorized, err := s.AddRule(cmd.Context(), r, logAuthor)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), struct {
						Rule        investigations.Rule `json:"rule"`
						Categorized []int64             `json:"categorized"`
					}{rule, categorized})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added rule %d: dataset %s, side %s, columns %s, tag %s → %s\n",
					rule.ID, rule.Dataset, rule.Side, rule.Columns, rule.Tag, rule.Category)
				if len(categorized) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "categorized investigations %s\n", fmtIDs(categorized))
				}
				return nil
			})
		},
	}
	add.Flags().StringVar(&r.Category, "category", "", "the category matching signatures get")
	add.Flags().StringVar(&r.Dataset, "dataset", "*", "dataset pattern")
	add.Flags().StringVar(&r.Side, "side", "*", "legacy, new, changed or *")
	add.Flags().StringVar(&r.Columns, "columns", "*", "differing columns, comma-separated (order does not matter) or a pattern")
	add.Flags().StringVar(&r.Tag, "tag", "*", "a pattern tag, or a pattern")
	add.MarkFlagRequired("category")
	rm := &cobra.Command{
		Use:   "rm ID",
		Short: "Remove a rule (categories it set stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("rule", args[0])
			if err != nil {
				return err
			}
			return withLog(cmd.Context(), false, func(s *investigations.Store) error {
				if err := s.RemoveRule(cmd.Context(), id); err != nil {
					return err
				}
				return printResult(cmd.OutOrStdout(), map[string]int64{"removed": id}, "removed rule %d\n", id)
			})
		},
	}
	cmd.AddCommand(list, add, rm)
	return cmd
}

func newLogCategoriesCmd() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		return withLog(cmd.Context(), false, func(s *investigations.Store) error {
			cs, err := s.Categories(cmd.Context())
			if err != nil {
				return err
			}
			return printList(cmd.OutOrStdout(), cs, len(cs), "categories",
				[]string{"CATEGORY", "INVESTIGATIONS", "DESCRIPTION"},
				func(c investigations.Category) []string {
					return []string{c.Name, strconv.FormatInt(c.Investigations, 10), c.Description}
				})
		})
	}
	cmd := &cobra.Command{
		Use:   "categories",
		Short: "List the categories (or add one with: categories add NAME DESCRIPTION)",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	cmd.AddCommand(&cobra.Command{Use: "list", Short: "List the categories", Args: cobra.NoArgs, RunE: list},
		&cobra.Command{
			Use:   "add NAME DESCRIPTION",
			Short: "Add a category, or change its description",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return withLog(cmd.Context(), true, func(s *investigations.Store) error {
					if err := s.AddCategory(cmd.Context(), args[0], args[1]); err != nil {
						return err
					}
					return printResult(cmd.OutOrStdout(), investigations.Category{Name: args[0], Description: args[1]}, "category %s: %s\n", args[0], args[1])
				})
			},
		})
	return cmd
}
