package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/diff"
	"github.com/cassmove/shadow/shadow/demo"
)

func init() { addCommand(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job on embedded defaults, with no external services",
		Long: `Generate two small Iceberg tables (an SQLite catalog and a file warehouse
under --dir) that differ in known ways, diff them by key and print the
report. The exit code is 0 whenever the demo ran, whatever it found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			ds, err := demo.Generate(ctx, dir)
			if err != nil {
				return err
			}
			legacy, err := diff.OpenRef(ds.Legacy, ds.Location)
			if err != nil {
				return err
			}
			newer, err := diff.OpenRef(ds.New, ds.Location)
			if err != nil {
				return err
			}
			opts := diff.Options{Key: ds.Key}
			rep, err := diff.Run(ctx, legacy, newer, opts)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(w, struct {
					Dir     string       `json:"dir"`
					Catalog string       `json:"catalog"`
					Planted []string     `json:"planted"`
					Report  *diff.Report `json:"report"`
				}{ds.Dir, ds.Location.Catalog, ds.Planted, rep})
			}
			fmt.Fprintf(w, "demo: two Iceberg tables in %s (catalog %s), with differences planted on purpose:\n", ds.Dir, "sqlite:"+strings.TrimPrefix(ds.Dir, "./")+"/catalog.db")
			for _, p := range ds.Planted {
				fmt.Fprintf(w, "  - %s\n", p)
			}
			fmt.Fprintf(w, "\n$ shadow diff %s %s --key %s --catalog sqlite:%s/catalog.db\n\n", ds.Legacy, ds.New, strings.Join(ds.Key, ","), strings.TrimPrefix(ds.Dir, "./"))
			if err := printReport(w, rep, opts); err != nil {
				return err
			}
			e := ds.Expected
			found := rep.OnlyInLegacy == e.OnlyInLegacy && rep.OnlyInNew == e.OnlyInNew && *rep.Changed == e.Changed &&
				*rep.Missing == e.Missing && *rep.Extra == e.Extra && *rep.DuplicateKeys == e.DuplicateKeys
			if found {
				fmt.Fprintln(w, "\ndemo: the diff found exactly the planted differences")
			} else {
				fmt.Fprintln(w, "\ndemo: the diff did not find the planted differences (please report this)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./shadow-demo", "directory for the demo catalog and warehouse (replaced on each run)")
	return cmd
}
