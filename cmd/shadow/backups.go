package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/lake"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file"
	_ "github.com/cassmove/shadow/engine/objstore/s3"
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/schema"
)

func init() {
	addCommand(newBackupsCmd)
	markBadInput(backup.ErrNotFound, backup.ErrIncomplete, backup.ErrNoBackup, backup.ErrFormat, backup.ErrCorrupt,
		backup.ErrNoSchema, objstore.ErrBadURI, objstore.ErrNotFound, schema.ErrSyntax, schema.ErrInvalid, schema.ErrUnknown)
}

// backupFlags are the flags every backups subcommand shares.
type backupFlags struct {
	store, cluster, layout, asOf string
	window                       time.Duration
}

func (f *backupFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", "", "object store holding the backups: file:///path or s3://bucket/prefix, or a store name from shadow.yaml")
	fl.StringVar(&f.cluster, "cluster", "", "Priam: the application name; Medusa: the storage prefix (optional)")
	fl.StringVar(&f.layout, "layout", "", "backup layout: medusa or priam (default: detect)")
	fl.StringVar(&f.asOf, "as-of", "", "point in time (RFC 3339 or a date): consider backups taken at or before it (default now)")
	fl.DurationVar(&f.window, "snapshot-window", backup.DefaultSnapshotWindow, "node snapshots this close together form one cluster backup")
}

// open resolves the store (a URI, or a name of shadow.yaml's stores) and
// opens the catalog with a progress bar on stderr.
func (f *backupFlags) open(cmd *cobra.Command) (*backup.Catalog, *progress, error) {
	ctx := cmd.Context()
	uri, layout, cluster := f.store, f.layout, f.cluster
	if g.cfg != nil {
		if s, ok := g.cfg.Stores[uri]; ok {
			uri = s.URI
			if !cmd.Flags().Changed("layout") {
				layout = s.Layout
			}
			if !cmd.Flags().Changed("cluster") {
				cluster = s.Cluster
			}
		} else if uri == "" && len(g.cfg.Stores) == 1 {
			for _, s := range g.cfg.Stores {
				uri, layout, cluster = s.URI, s.Layout, s.Cluster
			}
		}
	}
	if uri == "" {
		return nil, nil, usageError{errors.New("--store is required: file:///path or s3://bucket/prefix")}
	}
	l, err := backup.ParseLayout(layout)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--layout: %w", err)}
	}
	if f.window <= 0 {
		return nil, nil, usageError{fmt.Errorf("--snapshot-window %s: want a positive duration", f.window)}
	}
	st, err := objstore.Open(ctx, uri, objstore.Settings{Endpoint: g.s3Endpoint, PathStyle: g.s3PathStyle, Region: g.s3Region})
	if err != nil {
		return nil, nil, err
	}
	p := newProgress(cmd.ErrOrStderr(), "opening", "", 0)
	var stage string
	var last int
	c, err := backup.Open(ctx, st, backup.Options{
		Layout: l, Cluster: cluster, SnapshotWindow: f.window,
		Progress: func(s string, done, total int) {
			if s != stage {
				stage, last = s, 0
				p.Stage(s)
				p.SetTotal(int64(total))
			}
			p.Add(int64(done - last))
			last = done
		},
	})
	if err != nil {
		p.Done()
		return nil, nil, err
	}
	return c, p, nil
}

func (f *backupFlags) asOfTime() (time.Time, error) {
	if f.asOf == "" {
		return time.Now().UTC(), nil
	}
	t, err := lake.ParseTime(f.asOf)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--as-of: %w", err)}
	}
	return t, nil
}

func newBackupsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "List, show and verify Cassandra backups (cassandra-medusa, Priam) in an object store",
		Long: `List, show and verify the Cassandra backups of a cluster, read straight from the object store.

The layout (cassandra-medusa or Netflix Priam backup v2) is detected from the store, or forced
with --layout. --cluster names the Priam application, or the Medusa storage prefix.

Node snapshots taken within --snapshot-window of each other form one cluster backup; its snapshot
time is the latest node snapshot time. A backup is complete when every node of the ring has a
finished snapshot in it and every file its manifests list is there with the right size.`,
	}
	cmd.AddCommand(newBackupsListCmd(), newBackupsShowCmd(), newBackupsVerifyCmd())
	return cmd
}

// backupItem is one backup in list output.
type backupItem struct {
	ID              string           `json:"id"`
	Layout          backup.Layout    `json:"layout"`
	Cluster         string           `json:"cluster"`
	Type            string           `json:"type"`
	SnapshotTime    time.Time        `json:"snapshot_time"`
	FirstSnapshot   time.Time        `json:"first_snapshot"`
	Nodes           int              `json:"nodes"`
	NodesExpected   int              `json:"nodes_expected"`
	MissingNodes    []string         `json:"missing_nodes"`
	UnfinishedNodes []string         `json:"unfinished_nodes"`
	Status          string           `json:"status"` // complete, incomplete or unverified
	Files           *int             `json:"files,omitempty"`
	Bytes           *int64           `json:"bytes,omitempty"`
	Problems        []backup.Problem `json:"problems,omitempty"`
	report          *backup.Report
}

func itemOf(b *backup.Backup, r *backup.Report) backupItem {
	finished := 0
	for _, n := range b.Nodes {
		if !n.Finished.IsZero() {
			finished++
		}
	}
	it := backupItem{
		ID: b.ID, Layout: b.Layout, Cluster: b.Cluster, Type: b.Type, SnapshotTime: b.SnapshotTime.UTC(), FirstSnapshot: b.FirstSnapshot.UTC(),
		Nodes: finished, NodesExpected: len(b.Missing) + len(b.Nodes), MissingNodes: nonNil(b.Missing), UnfinishedNodes: nonNil(b.Unfinished()),
		Status: "unverified", report: r,
	}
	if !b.Finished() {
		it.Status = "incomplete"
	}
	if r != nil {
		it.Status = "complete"
		if !r.Complete {
			it.Status = "incomplete"
		}
		it.Files, it.Bytes, it.Problems = &r.Files, &r.Bytes, r.Problems
	}
	return it
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newBackupsListCmd() *cobra.Command {
	var f backupFlags
	var verify bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backups of a cluster, newest first",
		Long: `List the backups of a cluster, newest first.

STATUS is "incomplete" when a ring node has no finished snapshot in the backup, and "unverified"
otherwise; with --verify every listed backup's files are checked too, and STATUS becomes
"complete" or "incomplete".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			asOf, err := f.asOfTime()
			if err != nil {
				return err
			}
			if limit < 0 {
				return usageError{fmt.Errorf("--limit %d: want 0 (no limit) or more", limit)}
			}
			c, p, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			defer p.Done()
			ctx := cmd.Context()
			bs, err := c.Backups(ctx)
			if err != nil {
				return err
			}
			var items []backupItem
			for _, b := range bs {
				if b.SnapshotTime.After(asOf) {
					continue
				}
				items = append(items, itemOf(b, nil))
			}
			total := len(items)
			if limit > 0 && len(items) > limit {
				items = items[:limit]
			}
			if verify {
				for i := range items {
					b, _ := c.Backup(ctx, items[i].ID)
					r, err := c.Verify(ctx, b)
					if err != nil {
						return err
					}
					items[i] = itemOf(b, r)
				}
			}
			p.Done()
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, newJSONList(items, total))
			}
			if len(items) == 0 {
				fmt.Fprintf(out, "no backups at or before %s\n", asOf.Format(time.RFC3339))
				return nil
			}
			headers := []string{"ID", "SNAPSHOT TIME", "NODES", "TYPE", "STATUS"}
			if verify {
				headers = append(headers, "FILES", "SIZE")
			}
			t := newTable(out, headers...)
			for _, it := range items {
				row := []string{it.ID, it.SnapshotTime.Format(time.RFC3339), fmt.Sprintf("%d/%d", it.Nodes, it.NodesExpected), it.Type, it.Status}
				if verify {
					row = append(row, strconv.Itoa(*it.Files), formatBytes(*it.Bytes))
				}
				t.row(row...)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if total > len(items) {
				fmt.Fprintf(out, "(%d of %d backups; --limit 0 shows all)\n", len(items), total)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&verify, "verify", false, "check every listed backup's files (slower)")
	cmd.Flags().IntVar(&limit, "limit", 100, "list at most this many backups (0: all)")
	return cmd
}

// withBackup runs fn on the backup that show and verify work on: the one an
// ID names, or else the newest backup at or before --as-of (the newest
// complete one, with its report, when complete is set). The catalog stays
// open and the progress bar on until fn returns.
func (f *backupFlags) withBackup(cmd *cobra.Command, args []string, complete bool, fn func(c *backup.Catalog, p *progress, b *backup.Backup, r *backup.Report) error) error {
	if len(args) == 1 && f.asOf != "" {
		return usageError{errors.New("give a backup ID or --as-of, not both")}
	}
	c, p, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	defer p.Done()
	b, r, err := pickBackup(cmd.Context(), c, f, args, complete)
	if err != nil {
		return err
	}
	return fn(c, p, b, r)
}

// pickBackup returns the backup an ID names, or else the newest backup at
// or before --as-of: the newest complete one when complete is set.
func pickBackup(ctx context.Context, c *backup.Catalog, f *backupFlags, args []string, complete bool) (*backup.Backup, *backup.Report, error) {
	if len(args) == 1 {
		b, err := c.Backup(ctx, args[0])
		return b, nil, err
	}
	asOf, err := f.asOfTime()
	if err != nil {
		return nil, nil, err
	}
	if complete {
		return c.Pick(ctx, asOf)
	}
	bs, err := c.Backups(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range bs {
		if !b.SnapshotTime.After(asOf) {
			return b, nil, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: no backup at or before %s", backup.ErrNotFound, asOf.Format(time.RFC3339))
}

// showNode is one node in show output.
type showNode struct {
	Node         string     `json:"node"`
	DC           string     `json:"dc"`
	Rack         string     `json:"rack"`
	Tokens       int        `json:"tokens"`
	SnapshotTime *time.Time `json:"snapshot_time"`
	Name         string     `json:"name,omitempty"`
	Cassandra    string     `json:"cassandra,omitempty"`
	Status       string     `json:"status"` // ok, missing or unfinished
}

type showTable struct {
	Keyspace string `json:"keyspace"`
	Table    string `json:"table"`
	Nodes    int    `json:"nodes"`
	SSTables int    `json:"sstables"`
	Bytes    int64  `json:"bytes"`
}

type showSchema struct {
	Kind      string         `json:"kind"`
	Node      string         `json:"node,omitempty"`
	Key       string         `json:"key,omitempty"`
	Keyspaces []showKeyspace `json:"keyspaces,omitempty"`
	SSTables  int            `json:"sstables,omitempty"`
	Error     string         `json:"error,omitempty"`
}

type showKeyspace struct {
	Name        string   `json:"name"`
	Replication string   `json:"replication"`
	Tables      []string `json:"tables"`
}

type showOutput struct {
	Backup backupItem  `json:"backup"`
	Store  string      `json:"store"`
	Schema showSchema  `json:"schema"`
	Nodes  []showNode  `json:"nodes"`
	Tables []showTable `json:"tables"`
}

func newBackupsShowCmd() *cobra.Command {
	var f backupFlags
	var schemaFile string
	cmd := &cobra.Command{
		Use:   "show [ID]",
		Short: "Show one backup: nodes, topology, schema and tables",
		Long: `Show one backup: its nodes with their DC, rack and tokens, where its schema comes from, and its
tables. Without an ID it shows the backup shadow would read: the newest complete backup at or
before --as-of (default now).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withBackup(cmd, args, true, func(c *backup.Catalog, p *progress, b *backup.Backup, r *backup.Report) error {
				o, err := describeBackup(cmd.Context(), c, b, r, schemaFile)
				if err != nil {
					return err
				}
				p.Done()
				if g.json {
					return printJSON(cmd.OutOrStdout(), o)
				}
				return printShow(cmd.OutOrStdout(), o)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&schemaFile, "schema", "", "CQL file to use as the schema instead of the backup's (for backups that hold none)")
	return cmd
}

// describeBackup gathers what show prints about backup b: its nodes in ring
// order, its tables and its schema (schemaFile, if set, overrides the
// backup's). r is b's report; a nil r verifies b first.
func describeBackup(ctx context.Context, c *backup.Catalog, b *backup.Backup, r *backup.Report, schemaFile string) (showOutput, error) {
	if r == nil {
		var err error
		if r, err = c.Verify(ctx, b); err != nil {
			return showOutput{}, err
		}
	}
	o := showOutput{Backup: itemOf(b, r), Store: c.Store().URI(), Nodes: []showNode{}, Tables: []showTable{}}
	topo, err := c.Topology(ctx, b)
	if err != nil {
		return showOutput{}, err
	}
	for _, n := range topo {
		sn := showNode{Node: n.Name, DC: n.DC, Rack: n.Rack, Tokens: len(n.Tokens), Status: "missing"}
		if ns := b.Node(n.Name); ns != nil {
			t := ns.Time.UTC()
			sn.SnapshotTime, sn.Name, sn.Cassandra, sn.Status = &t, ns.Name, ns.Version, "ok"
			if ns.Finished.IsZero() {
				sn.Status = "unfinished"
			}
		}
		o.Nodes = append(o.Nodes, sn)
	}
	// Ring order within each DC: by the node's first token.
	first := map[string]int64{}
	for _, n := range topo {
		if len(n.Tokens) > 0 {
			first[n.Name] = slices.Min(n.Tokens)
		}
	}
	sort.SliceStable(o.Nodes, func(i, j int) bool {
		a, b := o.Nodes[i], o.Nodes[j]
		if a.DC != b.DC {
			return a.DC < b.DC
		}
		if first[a.Node] != first[b.Node] {
			return first[a.Node] < first[b.Node]
		}
		return a.Node < b.Node
	})
	// Nodes with a snapshot that the ring does not list.
	for _, ns := range b.Nodes {
		if !containsNode(topo, ns.Node) {
			t := ns.Time.UTC()
			o.Nodes = append(o.Nodes, showNode{Node: ns.Node, DC: ns.DC, Rack: ns.Rack, Tokens: len(ns.Tokens), SnapshotTime: &t, Name: ns.Name, Status: "not in ring"})
		}
	}
	tables := map[string]*showTable{}
	for _, ns := range b.Nodes {
		if ns.Finished.IsZero() {
			continue
		}
		ts, err := c.Tables(ctx, b, ns.Node)
		if err != nil {
			return showOutput{}, err
		}
		for _, t := range ts {
			k := t.Keyspace + "." + t.Table
			st := tables[k]
			if st == nil {
				st = &showTable{Keyspace: t.Keyspace, Table: t.Table}
				tables[k] = st
			}
			st.Nodes++
			st.SSTables += t.SSTables
			st.Bytes += t.Bytes
		}
	}
	for _, t := range tables {
		o.Tables = append(o.Tables, *t)
	}
	sort.Slice(o.Tables, func(i, j int) bool {
		return o.Tables[i].Keyspace+"."+o.Tables[i].Table < o.Tables[j].Keyspace+"."+o.Tables[j].Table
	})
	s, src, err := c.LoadSchema(ctx, b, schemaFile)
	switch {
	case errors.Is(err, backup.ErrNoSchema):
		o.Schema = showSchema{Kind: "none", Error: err.Error()}
	case err != nil:
		return showOutput{}, err
	default:
		o.Schema = showSchema{Kind: src.Kind, Node: src.Node, Key: src.Key, SSTables: len(src.SSTables)}
		if s != nil {
			for _, ks := range s.Keyspaces {
				sk := showKeyspace{Name: ks.Name, Replication: replicationString(ks.Replication), Tables: []string{}}
				for _, t := range ks.Tables {
					sk.Tables = append(sk.Tables, t.Name)
				}
				o.Schema.Keyspaces = append(o.Schema.Keyspaces, sk)
			}
		}
	}
	return o, nil
}

func containsNode(nodes []ring.Node, name string) bool {
	for _, n := range nodes {
		if n.Name == name {
			return true
		}
	}
	return false
}

func replicationString(r schema.Replication) string {
	switch r.Class {
	case "SimpleStrategy":
		return fmt.Sprintf("SimpleStrategy rf=%d", r.Factor)
	case "NetworkTopologyStrategy":
		var parts []string
		for _, dc := range r.DCs() {
			parts = append(parts, fmt.Sprintf("%s=%d", dc, r.DCFactors[dc]))
		}
		return "NetworkTopologyStrategy " + strings.Join(parts, " ")
	}
	return r.Class
}

func printShow(w io.Writer, o showOutput) error {
	it := o.Backup
	cluster := it.Cluster
	if cluster == "" {
		cluster = "(no prefix)"
	}
	status := it.Status
	if it.Files != nil {
		status += fmt.Sprintf(" (%d files, %s)", *it.Files, formatBytes(*it.Bytes))
	}
	kv := newTable(w)
	kv.row("backup", it.ID)
	kv.row("layout", string(it.Layout))
	kv.row("cluster", cluster)
	kv.row("store", o.Store)
	kv.row("type", it.Type)
	kv.row("snapshot time", it.SnapshotTime.Format(time.RFC3339)+" (latest node snapshot; the default TTL reference)")
	kv.row("first snapshot", it.FirstSnapshot.Format(time.RFC3339))
	kv.row("nodes", fmt.Sprintf("%d of %d", it.Nodes, it.NodesExpected))
	kv.row("status", status)
	switch o.Schema.Kind {
	case "none":
		kv.row("schema", "none in the backup: give one with --schema FILE.cql")
	case "system_schema":
		kv.row("schema", fmt.Sprintf("system_schema SSTables of node %s (%d SSTables, for the sstable reader to decode)", o.Schema.Node, o.Schema.SSTables))
	default:
		from := o.Schema.Key
		if o.Schema.Node != "" {
			from = "node " + o.Schema.Node
		}
		kv.row("schema", fmt.Sprintf("%s from %s", o.Schema.Kind, from))
		for _, ks := range o.Schema.Keyspaces {
			kv.row("", fmt.Sprintf("%s (%s): %s", ks.Name, ks.Replication, strings.Join(ks.Tables, ", ")))
		}
	}
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := newTable(w, "NODE", "DC", "RACK", "TOKENS", "SNAPSHOT TIME", "STATUS")
	for _, n := range o.Nodes {
		at := "-"
		if n.SnapshotTime != nil {
			at = n.SnapshotTime.Format(time.RFC3339)
		}
		t.row(n.Node, n.DC, n.Rack, strconv.Itoa(n.Tokens), at, n.Status)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "TABLE", "NODES", "SSTABLES", "SIZE")
	for _, tb := range o.Tables {
		t.row(tb.Keyspace+"."+tb.Table, strconv.Itoa(tb.Nodes), strconv.Itoa(tb.SSTables), formatBytes(tb.Bytes))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(it.Problems) > 0 {
		fmt.Fprintln(w)
		printProblems(w, it.Problems)
	}
	return nil
}

func printProblems(w io.Writer, ps []backup.Problem) {
	t := newTable(w, "NODE", "PROBLEM", "DETAIL")
	for _, p := range ps {
		t.row(p.Node, p.Kind, p.Detail)
	}
	t.flush()
}

func newBackupsVerifyCmd() *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "verify [ID]",
		Short: "Check that a backup is complete; exit 2 and list what is missing when it is not",
		Long: `Check that a backup is complete: every node of the ring has a finished snapshot in it, and every
file its manifests (Medusa) or meta files (Priam) list exists with the right size. Without an ID
it checks the newest backup at or before --as-of (default now).

Exit status: 0 when complete, 2 when incomplete (what is missing is listed), 3 when the object
store fails.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withBackup(cmd, args, false, func(c *backup.Catalog, p *progress, b *backup.Backup, _ *backup.Report) error {
				r, err := c.Verify(cmd.Context(), b)
				if err != nil {
					return err
				}
				p.Done()
				out := cmd.OutOrStdout()
				if g.json {
					if err := printJSON(out, r); err != nil {
						return err
					}
				} else {
					state := "complete"
					if !r.Complete {
						state = fmt.Sprintf("INCOMPLETE, %d problem(s)", len(r.Problems))
					}
					fmt.Fprintf(out, "backup %s (%s, snapshot %s): %s\n", r.Backup, r.Layout, r.SnapshotTime.UTC().Format(time.RFC3339), state)
					fmt.Fprintf(out, "%d/%d nodes, %d/%d files, %s\n", r.NodesPresent, r.Nodes, r.FilesPresent, r.Files, formatBytes(r.Bytes))
					if !r.Complete {
						fmt.Fprintln(out)
						printProblems(out, r.Problems)
					}
				}
				if !r.Complete {
					return incompleteError{fmt.Sprintf("backup %s is incomplete: %d problem(s), listed above", r.Backup, len(r.Problems))}
				}
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

// incompleteError reports an incomplete backup whose problems were
// printed already (exit 2).
type incompleteError struct{ msg string }

func (e incompleteError) Error() string { return e.msg }
func (e incompleteError) Unwrap() error { return backup.ErrIncomplete }

// formatBytes prints a size in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
