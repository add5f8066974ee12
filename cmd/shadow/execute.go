package main

// shadow execute: the fallback executor (issue 7).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/shadow/decider"
	"github.com/cassmove/shadow/shadow/metrics"
)

func init() { addCommand(newExecuteCmd) }

func newExecuteCmd() *cobra.Command {
	var (
		f           runFlags
		dataset     string
		cohort      string
		pushgateway string
	)
	cmd := &cobra.Command{
		Use:   "execute --dataset D -- LEGACY_COMMAND [ARG...]",
		Short: "Move a dataset on the path the decider chooses, falling back to the legacy command when the new engine fails",
		Long: `The fallback executor. It asks the decider for the dataset's path:

  MOVE_DATA  run the new engine with the dataset's settings from the datasets
             file, into the dataset's destination table; when it fails, run
             LEGACY_COMMAND instead and record the fallback (an outcome, the
             shadow_decider_fallbacks_total metric and the ShadowDeciderFallback
             alert);
  LEGACY     run LEGACY_COMMAND.

LEGACY_COMMAND is any program (the legacy connector's job); it inherits
stdin, stdout and stderr. The job definition never changes when a dataset
moves from one path to the other.

Exit codes: 0 when either path succeeded, 2 for bad input, 3 when both paths
failed (or the legacy path alone failed).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return usageError{errors.New("put the legacy command after --: shadow execute --dataset D -- COMMAND [ARG...]")}
			}
			if dataset == "" {
				return usageError{errors.New("--dataset is required")}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ds, err := loadDatasets(true)
			if err != nil {
				return err
			}
			d, err := ds.Get(dataset)
			if err != nil {
				return err
			}
			pol, err := decider.ParsePolicy(&g.cfg.Decider)
			if err != nil {
				return usageError{err}
			}
			stderr := cmd.ErrOrStderr()
			var dec *decider.Decider
			r, store, err := newRunner(ctx, &f, ds, false)
			var ue usageError
			switch {
			case errors.As(err, &ue):
				return err
			case err != nil:
				// Safe default: without a readable registry the answer is
				// LEGACY, never a guess of MOVE_DATA.
				fmt.Fprintf(stderr, "shadow execute: the decider's registry cannot be read, the legacy path runs: %v\n", err)
				dec = decider.Unavailable(err, deciderOptions(pol, ds, nil))
			default:
				defer store.Close()
				dec = decider.New(store, deciderOptions(pol, ds, r))
			}
			push := func() {
				if r == nil {
					return
				}
				if pg := pickString(pushgateway, g.cfg.Alerting.Pushgateway); pg != "" {
					if err := r.Metrics.Push(context.WithoutCancel(ctx), metrics.PushConfig{URL: pg, Dataset: d.Name}); err != nil {
						fmt.Fprintf(stderr, "shadow execute: pushing metrics: %v\n", err)
					}
				}
			}
			defer push()

			decision, err := dec.Decide(ctx, decider.Movement{Dataset: d.Name, Cohort: cohort})
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "shadow execute: %s: %s (%s: %s)\n", d.Name, decision.Answer, decision.Rule, decision.Reason)

			if decision.Path == decider.PathNew {
				dest, err := lake.ParseTableRef(d.Destination)
				if err != nil {
					return usageError{fmt.Errorf("dataset %s: destination %q: %w", d.Name, d.Destination, err)}
				}
				start := time.Now()
				res, err := r.Execute(ctx, d.Name, dest)
				took := time.Since(start)
				if err == nil {
					fmt.Fprintf(stderr, "shadow execute: %s: the new engine wrote %d rows into %s (snapshot %d) in %s\n",
						d.Name, res.Rows, dest, res.SnapshotID, took.Round(time.Millisecond))
					secs := took.Seconds()
					if _, oerr := dec.RecordOutcome(context.WithoutCancel(ctx), decider.Outcome{
						Movement: decider.Movement{Dataset: d.Name}, Path: decider.PathNew, Outcome: decider.OutcomeSuccess,
						DurationSeconds: &secs, Reporter: "shadow execute", DecisionID: decision.ID,
					}); oerr != nil {
						fmt.Fprintf(stderr, "shadow execute: recording the outcome: %v\n", oerr)
					}
					return nil
				}
				if ctx.Err() != nil {
					return fmt.Errorf("dataset %s: interrupted on the new path: %w", d.Name, err)
				}
				fmt.Fprintf(stderr, "shadow execute: %s: the new engine failed, falling back to the legacy command: %v\n", d.Name, err)
				if _, ferr := dec.RecordFallback(context.WithoutCancel(ctx), d.Name, decision.ID, took, err); ferr != nil {
					fmt.Fprintf(stderr, "shadow execute: recording the fallback: %v\n", ferr)
				}
			}

			start := time.Now()
			lerr := runLegacy(ctx, cmd, args)
			secs := time.Since(start).Seconds()
			o := decider.Outcome{Movement: decider.Movement{Dataset: d.Name}, Path: decider.PathLegacy, Outcome: decider.OutcomeSuccess,
				DurationSeconds: &secs, Reporter: "shadow execute", DecisionID: decision.ID}
			if lerr != nil {
				o.Outcome, o.Error = decider.OutcomeFailure, lerr.Error()
			}
			if _, oerr := dec.RecordOutcome(context.WithoutCancel(ctx), o); oerr != nil {
				fmt.Fprintf(stderr, "shadow execute: recording the outcome: %v\n", oerr)
			}
			if lerr != nil {
				if decision.Path == decider.PathNew {
					return fmt.Errorf("dataset %s: both paths failed; the legacy command: %w", d.Name, lerr)
				}
				return fmt.Errorf("dataset %s: the legacy command: %w", d.Name, lerr)
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&dataset, "dataset", "", "the data movement (a dataset of the datasets file)")
	fl.StringVar(&cohort, "cohort", "", "the caller's migration cohort (default the dataset's)")
	fl.StringVar(&pushgateway, "pushgateway", "", "Pushgateway base URL to push-add the metrics to (default alerting.pushgateway in shadow.yaml)")
	return cmd
}

// runLegacy runs the legacy command with the process's stdio.
func runLegacy(ctx context.Context, cmd *cobra.Command, args []string) error {
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 30 * time.Second
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}
