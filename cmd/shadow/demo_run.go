package main

// shadow demo: the main job on embedded defaults, with no external services.

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/investigations"
	"github.com/cassmove/shadow/shadow/datasets"
	"github.com/cassmove/shadow/shadow/demo"
	"github.com/cassmove/shadow/shadow/metrics"
	"github.com/cassmove/shadow/shadow/runner"
)

func init() { addCommand(newDemoCmd) }

// demoReport is `shadow demo --json`.
type demoReport struct {
	World *demo.World `json:"world"`
	Runs  []demoRun   `json:"runs"`
	Next  []string    `json:"next"`
}

type demoRun struct {
	*runner.Result
	Signatures []investigations.RunSignature `json:"signatures"`
}

func newDemoCmd() *cobra.Command {
	var (
		dir  string
		seed int64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job on embedded defaults, with no external services",
		Long: `Build a sample world under --dir and make the nightly shadow run on it:

  1. a simulated 6-node, two-DC Cassandra cluster with two tables (orders,
     users), whose history has overwrites, replicas that missed writes, TTLs
     and deletions, backed up three nights in a row in Medusa's layout on the
     local file system;
  2. the legacy connector's output of both tables in Iceberg (an SQLite
     catalog and a file warehouse), produced by the engine set to behave as
     legacy connectors did: consistency ONE, TTLs expired at the moment of the
     run rather than at the snapshot, and the previous backup for one node;
  3. shadow.yaml and datasets.yaml describing the two datasets.

Then it runs each dataset's shadow run (new engine → diff → investigation log
→ metrics) and prints the report: counts, similarity, the top discrepancy
signatures and the investigations opened, with the commands to go on.

The exit code is 0 whenever the demo ran, whatever it found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			w := cmd.OutOrStdout()
			errw := cmd.ErrOrStderr()
			fmt.Fprintf(errw, "demo: building the sample world in %s …\n", dir)
			t0 := time.Now()
			world, err := demo.BuildWorld(ctx, demo.WorldOptions{Dir: dir, Seed: seed})
			if err != nil {
				return err
			}
			fmt.Fprintf(errw, "demo: world built in %s; running the shadow runs …\n", time.Since(t0).Round(100*time.Millisecond))
			rep, err := runDemo(ctx, world)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(w, rep)
			}
			printDemo(w, rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "./shadow-demo", "directory for the sample world (replaced on each run; refused if it holds anything else)")
	cmd.Flags().Int64Var(&seed, "seed", 0, "seed of the simulated cluster (0: the fixed default)")
	cmd.AddCommand(newDemoDiffCmd())
	return cmd
}

// runDemo makes the shadow run of every dataset of the world.
func runDemo(ctx context.Context, world *demo.World) (*demoReport, error) {
	ds, err := datasets.ReadFile(world.Datasets, nil)
	if err != nil {
		return nil, err
	}
	store, err := investigations.Open(ctx, world.DB)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	m, err := metrics.New(metricsConfig(ds, false))
	if err != nil {
		return nil, err
	}
	r := &runner.Runner{Datasets: ds, Log: store, Metrics: m, Legacy: world.Legacy, New: world.New}
	rep := &demoReport{World: world}
	now := time.Now().UTC()
	for _, d := range ds.Datasets {
		res, err := r.Run(ctx, runner.Request{Dataset: d.Name, Scheduled: d.Latest(now)})
		if err != nil {
			return nil, err
		}
		if res.Err != nil {
			return nil, fmt.Errorf("demo: the shadow run of %s failed in stage %s: %w", d.Name, res.Stage, res.Err)
		}
		sigs, err := store.RunSignatures(ctx, res.RunID)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].Seen > sigs[j].Seen })
		rep.Runs = append(rep.Runs, demoRun{Result: res, Signatures: sigs})
	}
	cfg := world.Config
	rep.Next = []string{
		fmt.Sprintf("shadow --config %s log runs", cfg),
		fmt.Sprintf("shadow --config %s log investigations", cfg),
		fmt.Sprintf("shadow --config %s log discrepancies --run %s --limit 20", cfg, rep.Runs[0].RunID),
		fmt.Sprintf("shadow --config %s log confidence", cfg),
		fmt.Sprintf("shadow --config %s run --dataset %s", cfg, rep.Runs[0].Dataset),
		fmt.Sprintf("shadow --config %s serve", cfg),
	}
	return rep, nil
}

func printDemo(w io.Writer, rep *demoReport) {
	wd := rep.World
	fmt.Fprintf(w, "shadow demo: a simulated %d-node Cassandra cluster, keyspace %s, tables %s\n", wd.Nodes, demo.Keyspace, strings.Join(wd.Tables, " and "))
	fmt.Fprintf(w, "  backups:  %d nightly Medusa backups in %s\n", wd.Backups, wd.Store)
	fmt.Fprintf(w, "  legacy:   the legacy connector's output (C), emulated: consistency ONE, TTLs expired at run time,\n")
	fmt.Fprintf(w, "            and the previous backup for node %s\n", wd.Stale)
	fmt.Fprintf(w, "  new:      the new engine's output (M): LOCAL_QUORUM, TTLs expired at the snapshot, every node's newest backup\n")
	fmt.Fprintf(w, "  config:   %s (datasets in %s, state in %s)\n", wd.Config, filepath.Base(wd.Datasets), filepath.Base(wd.DB))
	for _, run := range rep.Runs {
		res := run.Result
		c := res.Counts
		fmt.Fprintf(w, "\nrun %s: %s\n", res.RunID, res.Status)
		fmt.Fprintf(w, "  key %s; backup %s\n", strings.Join(res.Key, ", "), res.Backup)
		printCounts(w, c, true)
		if res.Similarity != nil {
			fmt.Fprintf(w, "  similarity %.4f\n", *res.Similarity)
		}
		if len(run.Signatures) > 0 {
			fmt.Fprintf(w, "  top discrepancy signatures:\n")
			st := newTable(w, "  SEEN", "SIGNATURE", "INVESTIGATION")
			for i, s := range run.Signatures {
				if i == 5 {
					break
				}
				inv := "-"
				if s.Investigation != nil {
					inv = fmt.Sprintf("#%d", *s.Investigation)
				}
				st.row(fmt.Sprintf("  %d", s.Seen), s.Text, inv)
			}
			_ = st.flush()
			if len(run.Signatures) > 5 {
				fmt.Fprintf(w, "  … and %d more signatures\n", len(run.Signatures)-5)
			}
		}
		if n := len(res.Opened); n > 0 {
			fmt.Fprintf(w, "  investigations opened: %d (%s)\n", n, idRange(res.Opened))
		}
		if n := len(res.Linked); n > 0 {
			fmt.Fprintf(w, "  investigations linked: %d (%s)\n", n, idRange(res.Linked))
		}
	}
	fmt.Fprintf(w, "\nnext:\n")
	for _, n := range rep.Next {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

// printCounts prints a run's counts, aligned.
func printCounts(w io.Writer, c investigations.Counts, keyed bool) {
	rows := [][2]string{
		{"legacy rows (C)", fmt.Sprint(c.LegacyRows)},
		{"new rows (M)", fmt.Sprint(c.NewRows)},
		{"only in legacy (C−M)", fmt.Sprint(c.OnlyInLegacy)},
		{"only in new (M−C)", fmt.Sprint(c.OnlyInNew)},
		{"matched", fmt.Sprint(c.Matched)},
	}
	if keyed {
		rows = append(rows, [2]string{"changed", fmt.Sprint(c.Changed)}, [2]string{"missing", fmt.Sprint(c.Missing)},
			[2]string{"extra", fmt.Sprint(c.Extra)}, [2]string{"duplicate keys", fmt.Sprint(c.DuplicateKeys)})
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-22s %s\n", r[0], r[1])
	}
}

// idRange shows investigation ids compactly: #3, or #1–#35 when they are
// consecutive, else the list.
func idRange(ids []int64) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	if len(s) > 2 && s[len(s)-1]-s[0] == int64(len(s)-1) {
		return fmt.Sprintf("#%d–#%d", s[0], s[len(s)-1])
	}
	return joinIDs(s)
}
