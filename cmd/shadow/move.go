package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/move"
	"github.com/cassmove/shadow/engine/sink"
)

func init() {
	addCommand(newMoveCmd)
	markBadInput(move.BadInput...)
}

type moveFlags struct {
	store, cluster, layout            string
	keyspace, table, to               string
	asOf, ttlRef, consistency, dc     string
	window                            time.Duration
	allowIncomplete, provenance, plan bool
	schemaFile, mode, connector       string
	connectorOpts, previous           []string
	since, until                      string
	parallelism                       int
	memory                            string
}

func newMoveCmd() *cobra.Command {
	var f moveFlags
	cmd := &cobra.Command{
		Use:   "move",
		Short: "Move one table of a Cassandra backup into Iceberg (the new engine)",
		Long: `Move one table of a Cassandra backup (cassandra-medusa or Priam, in S3 or a folder) into an
Iceberg table, as one snapshot.

The backup is the newest complete one at or before --as-of (default now). Each token range is read
from the replicas the consistency level chooses (--consistency, default LOCAL_QUORUM; local data
center --dc, default the first by name), their SSTables are merged the way Cassandra compacts, TTLs
expire at --ttl-reference (default the backup's snapshot time), and the live rows are written with
--mode append (default) or overwrite. The Iceberg catalog is --new-catalog (or --catalog) with its
warehouse.

--plan prints the plan (the backup, the sizes, the sizing for this machine and the work units)
without moving anything. An incomplete backup is never read unless --allow-incomplete is given.`,
		Example: `  shadow move --store s3://backups/prod --keyspace shop --table orders --to iceberg:shop.orders
  shadow move --store file:///backups --cluster app --keyspace shop --table orders --plan --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMove(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "object store holding the backups: file:///path or s3://bucket/prefix, or a store name from shadow.yaml")
	fl.StringVar(&f.cluster, "cluster", "", "Priam: the application name; Medusa: the storage prefix (optional)")
	fl.StringVar(&f.layout, "layout", "", "backup layout: medusa or priam (default: detect)")
	fl.StringVar(&f.keyspace, "keyspace", "", "keyspace (required)")
	fl.StringVar(&f.table, "table", "", "table (required): the dataset's table for the connector")
	fl.StringVar(&f.to, "to", "", "destination Iceberg table: iceberg:NS.TABLE (required unless --plan)")
	fl.StringVar(&f.asOf, "as-of", "", "read the newest complete backup at or before this time (RFC 3339 or a date; default now)")
	fl.DurationVar(&f.window, "snapshot-window", backup.DefaultSnapshotWindow, "node snapshots this close together form one cluster backup")
	fl.StringVar(&f.consistency, "consistency", "LOCAL_QUORUM", "replicas read per token range: ONE, LOCAL_QUORUM, QUORUM or ALL")
	fl.StringVar(&f.dc, "dc", "", "local data center for LOCAL_QUORUM and replica order (default the first by name)")
	fl.StringVar(&f.ttlRef, "ttl-reference", "", "time at which TTLs expire (default the backup's snapshot time)")
	fl.BoolVar(&f.allowIncomplete, "allow-incomplete", false, "read an incomplete backup, skipping what is missing")
	fl.StringVar(&f.schemaFile, "schema", "", "CQL schema file that replaces the backup's schema")
	fl.BoolVar(&f.provenance, "provenance", false, "add the columns _writetime, _ttl_expires_at and _snapshot_time")
	fl.StringVar(&f.mode, "mode", "append", "append to the table or overwrite it")
	fl.StringVar(&f.connector, "connector", "", "output shape: raw (default), or another registered connector")
	fl.StringSliceVar(&f.connectorOpts, "connector-option", nil, "connector option KEY=VALUE (repeatable)")
	fl.StringSliceVar(&f.previous, "previous-backup-nodes", nil, "read these nodes' SSTables from the backup before the chosen one (legacy emulation)")
	fl.StringVar(&f.since, "since", "", "time-sliced connectors: first time read (RFC 3339)")
	fl.StringVar(&f.until, "until", "", "time-sliced connectors: end of the time read (RFC 3339)")
	fl.IntVar(&f.parallelism, "parallelism", 0, "work units merged at once (default: the CPUs)")
	fl.StringVar(&f.memory, "memory", "", "memory budget, e.g. 2GiB (default: a quarter of the available memory)")
	fl.BoolVar(&f.plan, "plan", false, "print the plan only")
	return cmd
}

func (f *moveFlags) job(cmd *cobra.Command) (move.Job, error) {
	j := move.Job{
		Store: f.store, S3: g.s3(), Layout: f.layout, Cluster: f.cluster, Keyspace: f.keyspace, Table: f.table,
		Connector: f.connector, SnapshotWindow: f.window, Consistency: f.consistency, DC: f.dc,
		AllowIncomplete: f.allowIncomplete, SchemaFile: f.schemaFile, Provenance: f.provenance,
		PreviousBackupNodes: f.previous, Parallelism: f.parallelism,
	}
	if g.cfg != nil {
		if s, ok := g.cfg.Stores[j.Store]; ok {
			j.Store = s.URI
			if !cmd.Flags().Changed("layout") {
				j.Layout = s.Layout
			}
			if !cmd.Flags().Changed("cluster") {
				j.Cluster = s.Cluster
			}
		} else if j.Store == "" && len(g.cfg.Stores) == 1 {
			for _, s := range g.cfg.Stores {
				j.Store, j.Layout, j.Cluster = s.URI, s.Layout, s.Cluster
			}
		}
	}
	var missing []string
	for _, r := range []struct{ name, v string }{{"--store", j.Store}, {"--keyspace", j.Keyspace}, {"--table", j.Table}} {
		if r.v == "" {
			missing = append(missing, r.name)
		}
	}
	if !f.plan && f.to == "" {
		missing = append(missing, "--to")
	}
	if len(missing) > 0 {
		return j, usageError{fmt.Errorf("%s required", strings.Join(missing, ", "))}
	}
	if f.window <= 0 {
		return j, usageError{fmt.Errorf("--snapshot-window %s: want a positive duration", f.window)}
	}
	if f.parallelism < 0 {
		return j, usageError{fmt.Errorf("--parallelism %d: want 0 (auto) or more", f.parallelism)}
	}
	times := []struct {
		flag, v string
		dst     *time.Time
	}{{"--as-of", f.asOf, &j.AsOf}, {"--ttl-reference", f.ttlRef, &j.TTLReference}, {"--since", f.since, &j.From}, {"--until", f.until, &j.To}}
	for _, x := range times {
		if x.v == "" {
			continue
		}
		t, err := lake.ParseTime(x.v)
		if err != nil {
			return j, usageError{fmt.Errorf("%s: %w", x.flag, err)}
		}
		*x.dst = t
	}
	if f.memory != "" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return j, usageError{fmt.Errorf("--memory: %w", err)}
		}
		j.Memory = n
	}
	for _, kv := range f.connectorOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return j, usageError{fmt.Errorf("--connector-option %q: want KEY=VALUE", kv)}
		}
		if j.ConnectorOptions == nil {
			j.ConnectorOptions = map[string]any{}
		}
		j.ConnectorOptions[k] = v
	}
	return j, nil
}

// parseBytes reads a size: 1048576, 512MiB, 2GiB, 64KiB (also KB/MB/GB as
// powers of 1000).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	num, mul := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mul = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mul
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive size such as 512MiB or 2GiB", s)
	}
	return int64(n * float64(mul)), nil
}

func parseDestination(s string) (lake.TableRef, error) {
	rest, ok := strings.CutPrefix(s, "iceberg:")
	if !ok {
		return lake.TableRef{}, usageError{fmt.Errorf("--to %q: want iceberg:NS.TABLE", s)}
	}
	ref, err := lake.ParseTableRef(rest)
	if err != nil {
		return lake.TableRef{}, usageError{fmt.Errorf("--to: %w", err)}
	}
	if strings.Contains(rest, "@") {
		return lake.TableRef{}, usageError{fmt.Errorf("--to %q: a destination cannot name a snapshot or a time", s)}
	}
	return ref, nil
}

func runMove(cmd *cobra.Command, f *moveFlags) error {
	ctx := cmd.Context()
	job, err := f.job(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.plan {
		p := newProgress(cmd.ErrOrStderr(), "planning", "", 0)
		plan, err := move.Plan(ctx, job)
		p.Done()
		if err != nil {
			return err
		}
		if g.json {
			return printJSON(out, plan)
		}
		return printPlan(out, plan)
	}
	ref, err := parseDestination(f.to)
	if err != nil {
		return err
	}
	mode, err := sink.ParseMode(f.mode)
	if err != nil {
		return usageError{fmt.Errorf("--mode: %w", err)}
	}
	if job.Memory > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// The budget bounds what the pipeline holds; a soft limit a
		// little above it keeps the garbage collector from letting the
		// heap grow to twice that (GOMEMLIMIT overrides).
		debug.SetMemoryLimit(job.Memory + 64<<20)
	}
	cat, err := lake.Open(ctx, g.newLocation(), true)
	if err != nil {
		return err
	}
	defer cat.Close()
	bar := newProgress(cmd.ErrOrStderr(), "opening backup", "units", 0)
	var stage string
	var done int64
	res, err := move.Run(ctx, job, move.Destination{Catalog: cat, Table: ref, Mode: mode}, func(p move.Progress) {
		if p.Stage != stage {
			stage = p.Stage
			bar.SetTotal(int64(p.Units))
			bar.Stage(map[string]string{"catalog": "opening backup", "plan": "planning", "move": "moving", "commit": "committing"}[p.Stage])
		}
		bar.Add(int64(p.UnitsDone) - done)
		done = int64(p.UnitsDone)
	})
	bar.Done()
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(out, res)
	}
	return printMoveResult(out, res)
}

func printMoveResult(w io.Writer, r *move.Result) error {
	committed := fmt.Sprintf("snapshot %d", r.SnapshotID)
	if !r.Committed {
		committed = "no rows: nothing committed"
	}
	fmt.Fprintf(w, "moved %d rows into %s (%s)\n", r.Rows, r.Table, committed)
	fmt.Fprintf(w, "backup %s (%s), snapshot time %s, TTL reference %s\n", r.Backup, r.Layout, r.SnapshotTime.UTC().Format(time.RFC3339), r.TTLReference.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "connector %s, key %s, tables %s\n", r.Connector, strings.Join(r.Key, ","), strings.Join(r.Tables, ","))
	fmt.Fprintf(w, "read %s of SSTables in %d work units (parallelism %d); wrote %d data files, %s\n",
		formatBytes(r.InputBytes), r.Units, r.Parallelism, r.DataFiles, formatBytes(r.OutputBytes))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "skipped (incomplete backup): %s\n", p)
	}
	if len(r.SkippedBackups) > 0 {
		fmt.Fprintf(w, "newer incomplete backups passed over: %s\n", strings.Join(r.SkippedBackups, ", "))
	}
	return nil
}

func printPlan(w io.Writer, p *move.PlanResult) error {
	fmt.Fprintf(w, "backup %s (%s%s), snapshot time %s, schema from %s\n", p.Backup, p.Layout, clusterNote(p.Cluster), p.SnapshotTime.UTC().Format(time.RFC3339), p.Schema)
	fmt.Fprintf(w, "keyspace %s, connector %s, key %s\n", p.Keyspace, p.Connector, strings.Join(p.Key, ","))
	fmt.Fprintf(w, "consistency %s, local dc %s, TTL reference %s\n", p.Consistency, p.LocalDC, p.TTLReference.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "parallelism %d, memory %s, read-ahead %s per SSTable\n", p.Parallelism, formatBytes(p.Memory), formatBytes(int64(p.ReadAheadBytes)))
	for _, pr := range p.Problems {
		fmt.Fprintf(w, "skipped (incomplete backup): %s\n", pr)
	}
	if len(p.SkippedBackups) > 0 {
		fmt.Fprintf(w, "newer incomplete backups passed over: %s\n", strings.Join(p.SkippedBackups, ", "))
	}
	for _, t := range p.Tables {
		fmt.Fprintf(w, "\ntable %s: %d SSTables, %s on nodes %s, ~%d partitions, ~%d rows, largest partition ≤ %s, %s\n",
			t.Table, t.SSTables, formatBytes(t.Bytes), strings.Join(t.Nodes, ","), t.EstimatedPartitions, t.EstimatedRows, formatMax(t.MaxPartitionBytes), t.Partitioner)
		if len(t.PreviousBackupNodes) > 0 {
			fmt.Fprintf(w, "from the previous backup: %s\n", strings.Join(t.PreviousBackupNodes, ","))
		}
		tb := newTable(w, "UNIT", "START (EXCL)", "END (INCL)", "REPLICAS", "SSTABLES", "EST. BYTES")
		for _, u := range t.Units {
			tb.row(strconv.Itoa(u.ID), strconv.FormatInt(u.Range.Start, 10), strconv.FormatInt(u.Range.End, 10),
				strings.Join(u.Replicas, ","), strconv.Itoa(len(u.SSTables)), formatBytes(u.Bytes))
		}
		if err := tb.flush(); err != nil {
			return err
		}
	}
	return nil
}

func formatMax(n int64) string {
	if n <= 0 || n == 1<<63-1 {
		return "?"
	}
	return formatBytes(n)
}

func clusterNote(c string) string {
	if c == "" {
		return ""
	}
	return ", cluster " + c
}
