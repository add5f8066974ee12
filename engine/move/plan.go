package move

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/ring"
)

// PlanResult is what a run would do: the backup, the sizes, the machine's
// sizing and the work units. It is what shadow move --plan prints.
type PlanResult struct {
	Backup       string    `json:"backup"`
	Layout       string    `json:"layout"`
	Cluster      string    `json:"cluster"`
	SnapshotTime time.Time `json:"snapshot_time"`
	TTLReference time.Time `json:"ttl_reference"`
	Schema       string    `json:"schema"` // schema.cql, system_schema or file
	Keyspace     string    `json:"keyspace"`
	Connector    string    `json:"connector"`
	Key          []string  `json:"key"`

	Replication ring.Replication `json:"replication"`
	Consistency ring.Consistency `json:"consistency"`
	LocalDC     string           `json:"local_dc"`

	Parallelism    int   `json:"parallelism"`
	Memory         int64 `json:"memory_bytes"`
	ReadAheadBytes int   `json:"read_ahead_bytes"` // per SSTable scanner
	RowGroupRows   int   `json:"row_group_rows"`   // Parquet rows a writer buffers (0 = the table's default)

	Tables   []TablePlan      `json:"tables"`
	Problems []backup.Problem `json:"problems,omitempty"` // what an AllowIncomplete run skips
	// SkippedBackups are newer backups at AsOf passed over as incomplete.
	SkippedBackups []string `json:"skipped_backups,omitempty"`
}

// TablePlan is one source table's share of the plan.
type TablePlan struct {
	Table               string   `json:"table"`
	Partitioner         string   `json:"partitioner"`
	Nodes               []string `json:"nodes"` // nodes whose SSTables are read
	PreviousBackupNodes []string `json:"previous_backup_nodes,omitempty"`
	SSTables            int      `json:"sstables"`
	Bytes               int64    `json:"bytes"` // Data.db bytes as stored
	// EstimatedPartitions and EstimatedRows sum Statistics.db over the
	// SSTables read (replicas counted once each).
	EstimatedPartitions int64      `json:"estimated_partitions"`
	EstimatedRows       int64      `json:"estimated_rows"`
	MaxPartitionBytes   int64      `json:"max_partition_bytes"`
	Units               []WorkUnit `json:"units"`
}

// WorkUnit is one independent, serializable piece of work: a token range
// that does not wrap, the replicas read for it, their SSTables that overlap
// it, and what the merge needs to know.
type WorkUnit struct {
	ring.WorkUnit
	Table    string   `json:"table"`
	SSTables []string `json:"sstables"` // Data.db object keys
	Bytes    int64    `json:"bytes"`
	// NowSec is the TTL reference (seconds since the epoch).
	NowSec int64 `json:"ttl_reference_sec"`
}

// Plan opens the job's backup and plans the run without moving a row.
func Plan(ctx context.Context, job Job) (*PlanResult, error) {
	s, err := Open(ctx, job)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	out, name, err := s.output(ctx)
	if err != nil {
		return nil, err
	}
	p := &PlanResult{
		Backup: s.backup.ID, Layout: string(s.backup.Layout), Cluster: s.cat.Cluster(), SnapshotTime: s.backup.SnapshotTime,
		TTLReference: s.ttlRef, Schema: s.schemaOf.Kind, Keyspace: s.ks.Name, Connector: name, Key: out.Key(),
		Replication: s.rep, Consistency: s.cl, LocalDC: s.localDC, Parallelism: s.par, Memory: s.memory, Problems: s.problems, SkippedBackups: s.skipped,
	}
	if p.LocalDC == "" {
		p.LocalDC = s.ring.LocalDC(s.rep)
	}
	maxPer := 1
	for _, t := range out.Tables() {
		ts, err := s.prepare(ctx, t)
		if err != nil {
			return nil, err
		}
		tp := TablePlan{Table: t, Partitioner: ts.stats.partitioner, Nodes: ts.stats.nodesRead, PreviousBackupNodes: ts.stats.previousNodes,
			SSTables: ts.stats.sstables, Bytes: ts.stats.bytes, EstimatedPartitions: ts.stats.partitions, EstimatedRows: ts.stats.rows,
			MaxPartitionBytes: ts.stats.maxPartition, Units: []WorkUnit{}}
		for _, u := range ts.units {
			wu := WorkUnit{WorkUnit: u.WorkUnit, Table: t, Bytes: u.bytes, NowSec: s.ttlRef.Unix(), SSTables: []string{}}
			for _, in := range u.inputs {
				wu.SSTables = append(wu.SSTables, in.name)
			}
			maxPer = max(maxPer, len(u.inputs))
			tp.Units = append(tp.Units, wu)
		}
		p.Tables = append(p.Tables, tp)
	}
	p.ReadAheadBytes = s.readAhead(maxPer / 2)
	p.RowGroupRows = s.rowGroupRows(out.Tables())
	return p, nil
}

// availableMemory reads MemAvailable from /proc/meminfo (bytes; 0 when it
// cannot).
func availableMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
