package main

// shadow datasets: check and list the datasets file (issue 6).

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/shadow/datasets"
)

func init() {
	addCommand(newDatasetsCmd)
	markBadInput(datasets.ErrInvalid, datasets.ErrNotFound, datasets.ErrNotConfigured)
}

// datasetsFlag is --datasets PATH, shared by the groups that read the
// datasets file.
var datasetsFlag string

func addDatasetsFlag(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&datasetsFlag, "datasets", "", "datasets file (default: datasets: in shadow.yaml, a path or an inline list)")
}

// loadDatasets reads the datasets file in force. required makes "none
// configured" an error.
func loadDatasets(required bool) (*datasets.File, error) {
	f, err := datasets.Load(g.cfg, datasetsFlag)
	if err != nil {
		return nil, err
	}
	if required && !f.Configured() {
		return nil, fmt.Errorf("%w: set datasets: in shadow.yaml (a path or a list) or pass --datasets FILE", datasets.ErrNotConfigured)
	}
	return f, nil
}

func newDatasetsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "datasets",
		Short: "Check and list the datasets file: the data movements shadow runs and the decider routes",
	}
	addDatasetsFlag(cmd)
	cmd.AddCommand(newDatasetsValidateCmd(), newDatasetsListCmd())
	return cmd
}

type validateReport struct {
	Path     string             `json:"path"`
	Valid    bool               `json:"valid"`
	Datasets int                `json:"datasets"`
	Problems []datasets.Problem `json:"problems"`
	Names    []string           `json:"names"`
}

func newDatasetsValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the datasets file and report every problem at once (exit 2 when any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadDatasets(true)
			var ve *datasets.ValidationError
			if err != nil && !errors.As(err, &ve) {
				return err
			}
			rep := validateReport{Problems: []datasets.Problem{}, Names: []string{}}
			if ve != nil {
				rep.Problems = ve.Problems
				if len(ve.Problems) > 0 {
					rep.Path = ve.Problems[0].Path
				}
			} else {
				rep.Path, rep.Valid, rep.Datasets, rep.Names = f.Path, true, len(f.Datasets), f.Names()
			}
			if g.json {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else if rep.Valid {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s valid: %s\n", rep.Path, countWord(rep.Datasets, "dataset"), strings.Join(rep.Names, ", "))
			}
			return err
		},
	}
}

func countWord(n int, w string) string {
	if n == 1 {
		return "1 " + w
	}
	return fmt.Sprintf("%d %ss", n, w)
}

func newDatasetsListCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the datasets with their source, tables, schedule, connector and cohort",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadDatasets(true)
			if err != nil {
				return err
			}
			items := f.Datasets
			if limit > 0 && len(items) > limit {
				items = items[:limit]
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), newJSONList(items, len(f.Datasets)))
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "OWNER", "SOURCE", "LEGACY", "NEW", "SCHEDULE", "PERIOD", "CONNECTOR", "COHORT")
			for _, d := range items {
				src := d.Source.Keyspace + "." + d.Source.Table
				if d.Source.Cluster != "" {
					src = d.Source.Cluster + "/" + src
				}
				t.row(d.Name, d.Owner, src, d.LegacyTable().String(), d.NewTable().String(), d.Schedule,
					shortDuration(d.SchedulePeriod()), d.Connector.Name, d.EffectiveCohort())
			}
			if err := t.flush(); err != nil {
				return err
			}
			if len(items) < len(f.Datasets) {
				fmt.Fprintf(cmd.OutOrStdout(), "(%d of %d; --limit 0 shows all)\n", len(items), len(f.Datasets))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "show at most N datasets (0: all)")
	return cmd
}

// shortDuration prints 24h rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
