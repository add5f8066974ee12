package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/token"
)

func init() {
	addCommand(newSSTableCommand)
	markBadInput(sstable.ErrCorrupt, sstable.ErrChecksum, sstable.ErrMissingComponent, sstable.ErrUnsupported,
		cql.ErrBadType, cql.ErrBadValue, token.ErrUnknownPartitioner)
}

func newSSTableCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sstable",
		Short: "Inspect Cassandra SSTables (BIG ma…oa, BTI da)",
	}
	cmd.AddCommand(newSSTableDumpCommand(), newSSTableDescribeCommand())
	return cmd
}

func newSSTableDumpCommand() *cobra.Command {
	var opts sstable.DumpOptions
	cmd := &cobra.Command{
		Use:   "dump PATH",
		Short: "Print an SSTable as Cassandra's sstabledump does",
		Long: `Print the content of an SSTable in the shape of Cassandra's sstabledump: a JSON array with one
object per partition, its rows, static rows, cells and tombstones.

PATH is a *-Data.db file or a folder holding one SSTable. Keys and clustering values print as strings,
cell values as CQL renders them (text as is, numbers as numbers, blobs as 0x…, counters as their total).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := sstable.OpenPath(cmd.Context(), args[0], nil)
			if err != nil {
				return err
			}
			defer r.Close()
			return r.Dump(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Lines, "lines", "l", false, "print one partition per line (JSON lines)")
	f.BoolVarP(&opts.RawTimestamps, "raw-timestamps", "t", false, "print timestamps as raw microseconds (and seconds) instead of ISO-8601")
	f.BoolVarP(&opts.Debug, "debug", "d", false, "print the compact text form, one row per line")
	return cmd
}

// describeJSON is the --json output of sstable describe.
type describeJSON struct {
	Path                 string        `json:"path"`
	Version              string        `json:"version"`
	Format               string        `json:"format"`
	Partitioner          string        `json:"partitioner"`
	Compression          compressionJS `json:"compression"`
	EstimatedPartitions  int64         `json:"estimated_partitions"`
	EstimatedRows        int64         `json:"estimated_rows"`
	MeanPartitionBytes   float64       `json:"mean_partition_bytes"`
	MaxPartitionBytes    int64         `json:"max_partition_bytes"`
	MinTimestamp         *int64        `json:"min_timestamp"`
	MaxTimestamp         *int64        `json:"max_timestamp"`
	MinLocalDeletionTime *int64        `json:"min_local_deletion_time"`
	MaxLocalDeletionTime *int64        `json:"max_local_deletion_time"`
	MinTTL               int32         `json:"min_ttl"`
	MaxTTL               int32         `json:"max_ttl"`
	RepairedAt           int64         `json:"repaired_at"`
	SSTableLevel         int32         `json:"sstable_level"`
	FirstKey             string        `json:"first_key,omitempty"`
	LastKey              string        `json:"last_key,omitempty"`
	Schema               schemaJS      `json:"schema"`
	Components           []string      `json:"components"`
	Digest               string        `json:"digest,omitempty"` // "ok" with --verify
}

type compressionJS struct {
	Compressor       string  `json:"compressor"`
	ChunkLength      int     `json:"chunk_length"`
	Chunks           int     `json:"chunks"`
	DataLength       int64   `json:"data_length"`
	CompressionRatio float64 `json:"compression_ratio"`
}

type columnJS struct {
	Name    string `json:"name"`
	CQL     string `json:"cql"`
	Marshal string `json:"marshal"`
}

type schemaJS struct {
	PartitionKey string     `json:"partition_key"`
	Clustering   []columnJS `json:"clustering"`
	Static       []columnJS `json:"static"`
	Regular      []columnJS `json:"regular"`
}

func describe(cmd *cobra.Command, path string) (*describeJSON, *sstable.Reader, error) {
	ctx := cmd.Context()
	r, err := sstable.OpenPath(ctx, path, nil)
	if err != nil {
		return nil, nil, err
	}
	st := r.Statistics()
	h := r.Header()
	c := r.Compression()
	d := &describeJSON{Path: path, Version: r.Version().Name, Format: r.Version().Format, Partitioner: st.Partitioner,
		EstimatedPartitions: st.EstimatedPartitions(), EstimatedRows: st.TotalRows,
		MeanPartitionBytes: math.Round(st.PartitionSizes.Mean()), MaxPartitionBytes: st.PartitionSizes.Max(),
		MinTTL: st.MinTTL, MaxTTL: st.MaxTTL, RepairedAt: st.RepairedAt, SSTableLevel: st.SSTableLevel,
		Components: r.Components()}
	if d.Components == nil {
		d.Components = []string{}
	}
	d.Compression = compressionJS{Compressor: c.Compressor, ChunkLength: c.ChunkLength, Chunks: c.ChunkCount(), DataLength: c.DataLength, CompressionRatio: st.CompressionRatio}
	if c.Compressor == "" {
		d.Compression.Compressor = "none"
	}
	if st.MinTimestamp <= st.MaxTimestamp {
		d.MinTimestamp, d.MaxTimestamp = &st.MinTimestamp, &st.MaxTimestamp
	}
	if st.MinLocalDeletionTime != sstable.NoDeletionTime {
		d.MinLocalDeletionTime = &st.MinLocalDeletionTime
	}
	if st.MaxLocalDeletionTime != sstable.NoDeletionTime {
		d.MaxLocalDeletionTime = &st.MaxLocalDeletionTime
	}
	if first, last, err := r.KeyRange(ctx); err == nil {
		d.FirstKey, d.LastKey = h.KeyString(first), h.KeyString(last)
	}
	d.Schema.PartitionKey = h.KeyType.CQL()
	if h.KeyType.Kind == cql.KindComposite {
		var parts []string
		for _, t := range h.KeyType.Elems {
			parts = append(parts, t.CQL())
		}
		d.Schema.PartitionKey = "(" + strings.Join(parts, ", ") + ")"
	}
	col := func(name string, t *cql.Type) columnJS {
		s := t.CQL()
		if t.Reversed {
			s += " DESC"
		}
		return columnJS{Name: name, CQL: s, Marshal: t.String()}
	}
	d.Schema.Clustering, d.Schema.Static, d.Schema.Regular = []columnJS{}, []columnJS{}, []columnJS{}
	for i, t := range h.ClusteringTypes {
		d.Schema.Clustering = append(d.Schema.Clustering, col(fmt.Sprintf("clustering%d", i+1), t))
	}
	for _, c := range h.Statics {
		d.Schema.Static = append(d.Schema.Static, col(c.Name, c.Type))
	}
	for _, c := range h.Regulars {
		d.Schema.Regular = append(d.Schema.Regular, col(c.Name, c.Type))
	}
	return d, r, nil
}

func newSSTableDescribeCommand() *cobra.Command {
	var verify bool
	cmd := &cobra.Command{
		Use:   "describe PATH",
		Short: "Print an SSTable's version, partitioner, schema, compression and statistics",
		Long: `Print what an SSTable's metadata says: its version and format, partitioner, the schema in its
serialization header (key, clustering, static and regular column types; the header has no key column
names), compression, partition and row estimates, and the min/max timestamps, TTLs and deletion times.

PATH is a *-Data.db file or a folder holding one SSTable.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, r, err := describe(cmd, args[0])
			if err != nil {
				return err
			}
			defer r.Close()
			if verify {
				if err := r.VerifyDigest(cmd.Context()); err != nil {
					return err
				}
				d.Digest = "ok"
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			return printDescribe(cmd.OutOrStdout(), d)
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "check Digest.crc32 against the whole Data.db (reads all of it)")
	return cmd
}

func printDescribe(w io.Writer, d *describeJSON) error {
	ts := func(v *int64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%s (%d)", sstable.JavaInstant(*v/1e6, (*v%1e6)*1e3), *v)
	}
	ldt := func(v *int64) string {
		if v == nil {
			return "none"
		}
		return fmt.Sprintf("%s (%d)", sstable.JavaInstant(*v, 0), *v)
	}
	c := d.Compression
	comp := "none (uncompressed)"
	if c.Compressor != "none" {
		comp = fmt.Sprintf("%s, %d KiB chunks, %d chunks, %d bytes uncompressed, ratio %.3f", c.Compressor, c.ChunkLength>>10, c.Chunks, c.DataLength, c.CompressionRatio)
	}
	t := newTable(w)
	t.row("path", d.Path)
	t.row("version", d.Version+" ("+d.Format+")")
	t.row("partitioner", d.Partitioner)
	t.row("compression", comp)
	t.row("partitions (estimated)", fmt.Sprint(d.EstimatedPartitions))
	t.row("rows (estimated)", fmt.Sprint(d.EstimatedRows))
	t.row("partition size", fmt.Sprintf("mean %.0f bytes, max %d bytes", d.MeanPartitionBytes, d.MaxPartitionBytes))
	t.row("min timestamp", ts(d.MinTimestamp))
	t.row("max timestamp", ts(d.MaxTimestamp))
	t.row("min local deletion time", ldt(d.MinLocalDeletionTime))
	t.row("max local deletion time", ldt(d.MaxLocalDeletionTime))
	t.row("ttl", fmt.Sprintf("min %d, max %d", d.MinTTL, d.MaxTTL))
	if d.FirstKey != "" {
		t.row("first key", d.FirstKey)
		t.row("last key", d.LastKey)
	}
	t.row("repaired at", fmt.Sprint(d.RepairedAt))
	t.row("components", strings.Join(d.Components, " "))
	if d.Digest != "" {
		t.row("digest", d.Digest+" (Digest.crc32 matches Data.db)")
	}
	t.row("partition key", d.Schema.PartitionKey)
	for _, group := range []struct {
		name string
		cols []columnJS
	}{{"clustering", d.Schema.Clustering}, {"static", d.Schema.Static}, {"regular", d.Schema.Regular}} {
		for _, col := range group.cols {
			name := col.Name
			if group.name != "clustering" {
				name = cql.QuoteIdent(col.Name)
			}
			t.row(group.name, name+" "+col.CQL)
		}
	}
	return t.flush()
}
