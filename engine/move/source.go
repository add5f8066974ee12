package move

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go/table"
	"golang.org/x/sync/errgroup"

	"github.com/cassmove/shadow/engine/backup"
	"github.com/cassmove/shadow/engine/compaction"
	"github.com/cassmove/shadow/engine/connector"
	"github.com/cassmove/shadow/engine/objstore"
	_ "github.com/cassmove/shadow/engine/objstore/file" // file:// stores
	_ "github.com/cassmove/shadow/engine/objstore/s3"   // s3:// stores
	"github.com/cassmove/shadow/engine/ring"
	"github.com/cassmove/shadow/engine/rows"
	"github.com/cassmove/shadow/engine/schema"
	"github.com/cassmove/shadow/engine/sstable"
	"github.com/cassmove/shadow/engine/systemschema"
	"github.com/cassmove/shadow/engine/token"
)

// Source is one backup of one keyspace, read the way the job says: it
// implements connector.Source. Close it when done.
type Source struct {
	job      Job
	cat      *backup.Catalog
	backup   *backup.Backup
	prev     *backup.Backup // for PreviousBackupNodes
	problems []backup.Problem
	skipped  []string        // newer backups at AsOf that were incomplete
	missing  map[string]bool // object keys an AllowIncomplete run skips
	schema   *schema.Schema
	schemaOf *backup.SchemaSource
	ks       *schema.Keyspace
	ring     *ring.Ring
	rep      ring.Replication
	cl       ring.Consistency
	localDC  string
	ttlRef   time.Time
	par      int
	memory   int64
	stages   map[string]time.Duration

	read      atomic.Int64 // SSTable bytes read
	unitsDone atomic.Int64

	mu     sync.Mutex
	tables map[string]*tableState
	nodes  map[string][]backup.TableRef // node → its tables (listed lazily)
}

var _ connector.Source = (*Source)(nil)

// Open picks the job's backup, verifies it, loads its schema and ring, and
// returns the Source. Tables are listed and their SSTables opened on first
// use.
func Open(ctx context.Context, job Job) (*Source, error) {
	if job.Store == "" {
		return nil, fmt.Errorf("%w: no store (file:///path or s3://bucket/prefix)", ErrJob)
	}
	if job.Keyspace == "" {
		return nil, fmt.Errorf("%w: no keyspace", ErrJob)
	}
	cl := ring.LocalQuorum
	if job.Consistency != "" {
		c, err := ring.ParseConsistency(job.Consistency)
		if err != nil {
			return nil, err
		}
		cl = c
	}
	layout, err := backup.ParseLayout(job.Layout)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJob, err)
	}
	if job.Parallelism < 0 || job.Memory < 0 {
		return nil, fmt.Errorf("%w: parallelism %d and memory %d must not be negative", ErrJob, job.Parallelism, job.Memory)
	}
	start := time.Now()
	st, err := objstore.Open(ctx, job.Store, objstore.Settings{Endpoint: job.S3.Endpoint, PathStyle: job.S3.PathStyle, Region: job.S3.Region, Observer: job.Observer})
	if err != nil {
		return nil, err
	}
	cat, err := backup.Open(ctx, st, backup.Options{Layout: layout, Cluster: job.Cluster, SnapshotWindow: job.SnapshotWindow, CacheDir: job.CacheDir})
	if err != nil {
		return nil, err
	}
	s := &Source{job: job, cat: cat, cl: cl, localDC: job.DC, tables: map[string]*tableState{}, nodes: map[string][]backup.TableRef{},
		missing: map[string]bool{}, stages: map[string]time.Duration{}}
	ok := false
	defer func() {
		if !ok {
			cat.Close()
		}
	}()
	asOf := job.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	if err := s.pick(ctx, asOf); err != nil {
		return nil, err
	}
	s.stages["catalog"] = time.Since(start)
	start = time.Now()
	s.ttlRef = job.TTLReference
	if s.ttlRef.IsZero() {
		s.ttlRef = s.backup.SnapshotTime
	}
	sc, src, err := cat.LoadSchema(ctx, s.backup, job.SchemaFile)
	if err != nil {
		return nil, err
	}
	if sc == nil {
		// Priam: decode the backed-up system_schema tables, as of the
		// backup's snapshot.
		if sc, err = systemschema.Load(ctx, cat, src, s.backup.SnapshotTime.Unix()); err != nil {
			return nil, err
		}
	}
	s.schema, s.schemaOf = sc, src
	s.ks = sc.Keyspace(job.Keyspace)
	if s.ks == nil {
		var names []string
		for _, k := range sc.Keyspaces {
			names = append(names, k.Name)
		}
		return nil, fmt.Errorf("%w: keyspace %q is not in the schema of backup %s (%s; it has %v)", schema.ErrUnknown, job.Keyspace, s.backup.ID, src.Kind, names)
	}
	s.rep = ring.Replication{Class: s.ks.Replication.Class, Factor: s.ks.Replication.Factor, DCFactors: s.ks.Replication.DCFactors}
	if s.ring, err = cat.Ring(ctx, s.backup); err != nil {
		return nil, err
	}
	if s.localDC != "" && !slices.Contains(s.ring.DCs(), s.localDC) {
		return nil, fmt.Errorf("%w: data center %q is not in the ring (it has %v)", ErrJob, s.localDC, s.ring.DCs())
	}
	for _, n := range job.PreviousBackupNodes {
		if _, ok := s.ring.Node(n); !ok {
			return nil, fmt.Errorf("%w: previous-backup node %q is not in the ring of backup %s", ErrJob, n, s.backup.ID)
		}
	}
	s.stages["schema"] = time.Since(start)
	s.par, s.memory = job.Parallelism, job.Memory
	if s.par == 0 {
		s.par = runtime.GOMAXPROCS(0)
	}
	if s.memory == 0 {
		s.memory = autoMemory()
	}
	ok = true
	return s, nil
}

// pick chooses the backup (and, for PreviousBackupNodes, the one before).
func (s *Source) pick(ctx context.Context, asOf time.Time) error {
	if !s.job.AllowIncomplete {
		b, _, err := s.cat.Pick(ctx, asOf)
		if err != nil {
			return err
		}
		s.backup = b
		// Say which newer backups were passed over for being incomplete:
		// the run reads older data than the user may think.
		bs, err := s.cat.Backups(ctx)
		if err != nil {
			return err
		}
		for _, x := range bs {
			if x.SnapshotTime.After(b.SnapshotTime) && !x.SnapshotTime.After(asOf) {
				s.skipped = append(s.skipped, x.ID)
				slog.WarnContext(ctx, "skipping an incomplete backup", "backup", x.ID, "picked", b.ID)
			}
		}
	} else {
		bs, err := s.cat.Backups(ctx)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if !b.SnapshotTime.After(asOf) {
				s.backup = b
				break
			}
		}
		if s.backup == nil {
			return fmt.Errorf("%w: no backup at or before %s in %s", backup.ErrNoBackup, asOf.UTC().Format(time.RFC3339), s.cat.Store().URI())
		}
		rep, err := s.cat.Verify(ctx, s.backup)
		if err != nil {
			return err
		}
		s.problems = rep.Problems
		for _, p := range rep.Problems {
			if p.Key != "" {
				s.missing[p.Key] = true
			}
			slog.WarnContext(ctx, "reading an incomplete backup", "backup", s.backup.ID, "problem", p.String())
		}
	}
	if len(s.job.PreviousBackupNodes) > 0 {
		bs, err := s.cat.Backups(ctx)
		if err != nil {
			return err
		}
		for _, b := range bs { // newest first
			if b.SnapshotTime.Before(s.backup.FirstSnapshot) {
				s.prev = b
				break
			}
		}
		if s.prev == nil {
			return fmt.Errorf("%w: previous-backup nodes %v: no backup before %s", ErrJob, s.job.PreviousBackupNodes, s.backup.ID)
		}
		for _, n := range s.job.PreviousBackupNodes {
			if s.prev.Node(n) == nil {
				return fmt.Errorf("%w: previous-backup node %q has no snapshot in backup %s", ErrJob, n, s.prev.ID)
			}
		}
	}
	return nil
}

// Close releases the SSTable readers and the catalog's cache.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		t.close()
	}
	s.tables = map[string]*tableState{}
	return s.cat.Close()
}

// Backup is the backup read.
func (s *Source) Backup() *backup.Backup { return s.backup }

// Schema returns the keyspace's schema as the backup has it.
func (s *Source) Keyspace() *schema.Keyspace { return s.ks }

// TTLReference is the time TTLs expire at.
func (s *Source) TTLReference() time.Time { return s.ttlRef }

// InputBytes are the SSTable bytes read so far.
func (s *Source) InputBytes() int64 { return s.read.Load() }

// Tables lists the keyspace's tables of the backup's schema, sorted. A
// table with no SSTables in the backup is empty, not missing.
func (s *Source) Tables() []string {
	var out []string
	for _, t := range s.ks.Tables {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

func (s *Source) table(name string) (*schema.Table, error) {
	t := s.ks.Table(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %s.%s (backup %s has %v)", connector.ErrMissingTable, s.ks.Name, name, s.backup.ID, s.Tables())
	}
	return t, nil
}

func (s *Source) rowsOptions() rows.Options {
	return rows.Options{Provenance: s.job.Provenance, SnapshotTime: s.backup.SnapshotTime}
}

// Schema is the Arrow schema of the table's batches.
func (s *Source) Schema(name string) (*arrow.Schema, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	ct, err := compaction.NewTable(s.ks, t)
	if err != nil {
		return nil, err
	}
	return arrowSchema(ct, s.rowsOptions())
}

func arrowSchema(ct *compaction.Table, o rows.Options) (*arrow.Schema, error) {
	sc, err := rows.Schema(ct, o)
	if err != nil {
		return nil, err
	}
	return table.SchemaToArrowSchema(sc, nil, true, false)
}

// Key is the table's primary key columns.
func (s *Source) Key(name string) ([]string, error) {
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range t.PartitionKey {
		out = append(out, c.Name)
	}
	for _, c := range t.Clustering {
		out = append(out, c.Name)
	}
	return out, nil
}

// Scan streams the table's live rows, merged from the chosen replicas of
// every work unit by Parallelism workers. emit is called from one
// goroutine.
func (s *Source) Scan(ctx context.Context, name string, emit func(arrow.RecordBatch) error) error {
	ts, err := s.prepare(ctx, name)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	units := make(chan *unitState)
	out := make(chan arrow.RecordBatch, s.par)
	g.Go(func() error {
		defer close(units)
		for _, u := range ts.units {
			select {
			case units <- u:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var workers sync.WaitGroup
	for range min(s.par, max(1, len(ts.units))) {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			opts := s.rowsOptions()
			opts.BatchRows = s.batchRows(ts)
			bt, err := rows.NewBatcher(ts.ct, ts.arrow, opts, memory.DefaultAllocator)
			if err != nil {
				return err
			}
			defer bt.Release()
			for u := range units {
				if err := s.runUnit(gctx, ts, u, bt, out); err != nil {
					return err
				}
				s.unitsDone.Add(1)
			}
			if b := bt.Flush(); b != nil {
				select {
				case out <- b:
				case <-gctx.Done():
					b.Release()
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		workers.Wait()
		close(out)
	}()
	var emitErr error
	for b := range out {
		if emitErr != nil {
			b.Release()
			continue
		}
		if err := emit(b); err != nil {
			emitErr = err
			// Stop the workers; keep draining so none blocks.
			g.Go(func() error { return err })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return emitErr
}

// runUnit merges one work unit into the batcher, sending full batches.
func (s *Source) runUnit(ctx context.Context, ts *tableState, u *unitState, bt *rows.Batcher, out chan<- arrow.RecordBatch) error {
	if len(u.inputs) == 0 {
		return nil
	}
	opts := compaction.Options{NowSec: s.ttlRef.Unix()}
	if ts.murmur3 {
		opts.Range = compaction.Range{Start: token.Murmur3Of(u.Range.Start), End: token.Murmur3Of(u.Range.End)}
	}
	ins := make([]compaction.Input, len(u.inputs))
	for i, r := range u.inputs {
		ins[i] = compaction.Input{Reader: r.reader, Name: r.name}
	}
	m, err := compaction.NewMerger(ctx, ts.ct, ins, opts)
	if err != nil {
		return fmt.Errorf("%s.%s unit %d %s: %w", s.ks.Name, ts.ct.Name, u.ID, u.Range, err)
	}
	defer m.Close()
	for m.Next() {
		if err := bt.Append(m.Row()); err != nil {
			return fmt.Errorf("%s.%s unit %d: %w", s.ks.Name, ts.ct.Name, u.ID, err)
		}
		if bt.Full() {
			b := bt.Flush()
			select {
			case out <- b:
			case <-ctx.Done():
				b.Release()
				return ctx.Err()
			}
		}
	}
	if err := m.Err(); err != nil {
		return fmt.Errorf("%s.%s unit %d %s: %w", s.ks.Name, ts.ct.Name, u.ID, u.Range, err)
	}
	return nil
}

// output binds the job's connector to the source.
func (s *Source) output(ctx context.Context) (connector.Output, string, error) {
	name := s.job.Connector
	if name == "" {
		name = connector.Default
	}
	c, err := connector.New(name, s.job.ConnectorOptions)
	if err != nil {
		return nil, name, err
	}
	spec := connector.Spec{Table: s.job.Table, From: s.job.From, To: s.job.To}
	if spec.Table == "" {
		return nil, name, fmt.Errorf("%w: no table", ErrJob)
	}
	out, err := c.Open(ctx, s, spec)
	if err != nil {
		return nil, name, err
	}
	return out, name, nil
}

// tableState is one table's merge view and work units, with its SSTables
// opened.
type tableState struct {
	ct      *compaction.Table
	arrow   *arrow.Schema
	murmur3 bool
	units   []*unitState
	readers []*openSSTable
	stats   tableStats
}

type tableStats struct {
	sstables      int
	bytes         int64 // Data.db bytes of the SSTables the plan reads
	partitions    int64 // estimated
	rows          int64
	maxPartition  int64
	uncompressed  int64
	partitioner   string
	nodesRead     []string
	previousNodes []string
}

func (t *tableState) close() {
	for _, r := range t.readers {
		r.reader.Close()
	}
}

type openSSTable struct {
	node   string
	name   string // the Data.db object key
	reader *sstable.Reader
	size   int64 // Data.db bytes as stored
	first  token.Token
	last   token.Token
}

type unitState struct {
	ring.WorkUnit
	inputs []*openSSTable
	bytes  int64
}

// prepare lists the table's SSTables on every node the plan reads, opens
// them, checks their headers against the schema, and cuts the work units.
func (s *Source) prepare(ctx context.Context, name string) (*tableState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts, ok := s.tables[name]; ok {
		return ts, nil
	}
	t, err := s.table(name)
	if err != nil {
		return nil, err
	}
	ct, err := compaction.NewTable(s.ks, t)
	if err != nil {
		return nil, err
	}
	as, err := arrowSchema(ct, s.rowsOptions())
	if err != nil {
		return nil, err
	}
	ts := &tableState{ct: ct, arrow: as}
	// Which nodes hold replicas that the consistency level reads.
	plan, err := s.ring.Plan(s.rep, s.cl, s.localDC, 1)
	if err != nil {
		return nil, err
	}
	need := map[string]bool{}
	for _, u := range plan.Units {
		for _, r := range u.Replicas {
			need[r] = true
		}
		if s.job.AllowIncomplete {
			for _, r := range u.All {
				need[r] = true
			}
		}
	}
	nodes := make([]string, 0, len(need))
	for n := range need {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	prev := map[string]bool{}
	for _, n := range s.job.PreviousBackupNodes {
		prev[n] = true
	}
	// List and open every SSTable of those nodes.
	var mu sync.Mutex
	present := map[string]bool{}
	byNode := map[string][]*openSSTable{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	perSSTable := s.readAhead(0)
	var all []backup.SSTable
	for _, n := range nodes {
		b := s.backup
		if prev[n] {
			b = s.prev
		}
		if b.Node(n) == nil {
			if !s.job.AllowIncomplete {
				return nil, fmt.Errorf("%w: node %s has no snapshot in backup %s", backup.ErrIncomplete, n, b.ID)
			}
			continue
		}
		sst, err := s.cat.SSTables(ctx, b, n, s.ks.Name, name)
		if err != nil {
			return nil, err
		}
		present[n] = true
		if prev[n] {
			ts.stats.previousNodes = append(ts.stats.previousNodes, n)
		}
		ts.stats.nodesRead = append(ts.stats.nodesRead, n)
	next:
		for _, x := range sst {
			for _, c := range x.Components {
				if s.missing[c.Key] {
					slog.WarnContext(ctx, "skipping an SSTable of an incomplete backup", "sstable", x.Name, "node", n, "missing", c.Key)
					continue next
				}
			}
			all = append(all, x)
		}
	}
	if len(all) > 0 {
		var bytes int64
		for _, x := range all {
			if c, ok := x.Component(sstable.ComponentData); ok {
				bytes += c.Size
			}
		}
		perNode := len(all) / max(1, len(ts.stats.nodesRead))
		perSSTable = s.readAhead(perNode)
		// A unit reads about its share of each SSTable: a window much
		// larger than that is fetched and thrown away at every unit.
		units := max(s.ring.Tokens(), s.minUnits(bytes/int64(max(1, len(ts.stats.nodesRead)))))
		share := bytes / int64(len(all)) / int64(units)
		perSSTable = min(perSSTable, max(int(share), 64<<10))
	}
	for _, x := range all {
		g.Go(func() error {
			in, err := compaction.OpenBackup(gctx, s.cat, x, &sstable.Options{ReadAhead: perSSTable, ColumnTypes: ct.ColumnTypes()}, &s.read)
			if err != nil {
				return fmt.Errorf("%s.%s node %s: %w", s.ks.Name, name, x.Node, err)
			}
			o := &openSSTable{node: x.Node, name: in.Name, reader: in.Reader}
			if c, ok := x.Component(sstable.ComponentData); ok {
				o.size = c.Size
			}
			if o.first, o.last, err = in.Reader.TokenRange(gctx); err != nil {
				in.Reader.Close()
				return fmt.Errorf("%s: %w", in.Name, err)
			}
			mu.Lock()
			byNode[x.Node] = append(byNode[x.Node], o)
			ts.readers = append(ts.readers, o)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		ts.close()
		return nil, err
	}
	for _, l := range byNode {
		sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	}
	// Check every header against the schema now, so a mismatch is one
	// clear error before any work.
	part := ""
	for _, o := range ts.readers {
		p := o.reader.Partitioner().Class()
		if part == "" {
			part = p
		} else if p != part {
			ts.close()
			return nil, fmt.Errorf("%w: %s uses %s, other SSTables of %s.%s use %s", sstable.ErrUnsupported, o.name, p, s.ks.Name, name, part)
		}
		st := o.reader.Statistics()
		ts.stats.sstables++
		ts.stats.bytes += o.size
		ts.stats.partitions += st.EstimatedPartitions()
		ts.stats.rows += st.TotalRows
		ts.stats.maxPartition = max(ts.stats.maxPartition, st.PartitionSizes.Max())
		if c := o.reader.Compression(); c != nil {
			ts.stats.uncompressed += c.DataLength
		}
	}
	if err := checkHeaders(ctx, ts); err != nil {
		ts.close()
		return nil, err
	}
	ts.murmur3 = part == "" || part == token.Murmur3Class
	ts.stats.partitioner = part
	if err := s.cut(ts, byNode, present); err != nil {
		ts.close()
		return nil, err
	}
	s.tables[name] = ts
	return ts, nil
}

// checkHeaders checks every SSTable's header against the table: an error
// wraps compaction.ErrSchemaMismatch.
func checkHeaders(_ context.Context, ts *tableState) error {
	for _, o := range ts.readers {
		if err := ts.ct.Check(o.reader.Header(), o.name); err != nil {
			return err
		}
	}
	return nil
}

// cut splits the ring into work units and gives each the SSTables of its
// chosen replicas that overlap its range.
func (s *Source) cut(ts *tableState, byNode map[string][]*openSSTable, present map[string]bool) error {
	var units []ring.WorkUnit
	if ts.murmur3 {
		// Enough units to keep every worker busy, and none much larger
		// than 256 MiB of input.
		minUnits := s.minUnits(ts.stats.bytes / int64(max(1, len(ts.stats.nodesRead))))
		plan, err := s.ring.Plan(s.rep, s.cl, s.localDC, minUnits)
		if err != nil {
			return err
		}
		units = plan.Units
	} else {
		// Other partitioners' tokens are not the ring's Murmur3 tokens:
		// shadow places no replicas for them, so it reads the whole token
		// space as one unit, which is right only when every node holds
		// every row (one node, or RF = nodes).
		u, err := s.wholeRing()
		if err != nil {
			return fmt.Errorf("%s.%s uses %s: %w", s.ks.Name, ts.ct.Name, ts.stats.partitioner, err)
		}
		units = []ring.WorkUnit{u}
	}
	for _, u := range units {
		us := &unitState{WorkUnit: u}
		replicas := u.Replicas
		if s.job.AllowIncomplete {
			replicas = nil
			for _, r := range u.Replicas {
				if present[r] {
					replicas = append(replicas, r)
				}
			}
			// Stand in for absent chosen replicas with other replicas.
			for _, r := range u.All {
				if len(replicas) >= len(u.Replicas) {
					break
				}
				if present[r] && !slices.Contains(replicas, r) {
					replicas = append(replicas, r)
				}
			}
			us.Replicas = replicas
		}
		for _, r := range replicas {
			for _, o := range byNode[r] {
				if ts.murmur3 && !overlaps(o, u.Range) {
					continue
				}
				us.inputs = append(us.inputs, o)
				us.bytes += share(o, u.Range, ts.murmur3)
			}
		}
		ts.units = append(ts.units, us)
	}
	return nil
}

// share estimates the bytes of an SSTable that fall in a range, assuming
// its partitions spread evenly over its token span.
func share(o *openSSTable, g ring.Range, murmur3 bool) int64 {
	if !murmur3 || o.first.IsZero() || o.first.Kind() != token.Murmur3 {
		return o.size
	}
	lo, hi := float64(o.first.Int64()), float64(o.last.Int64())
	if hi <= lo {
		return o.size
	}
	a, b := max(lo, float64(g.Start)), min(hi, float64(g.End))
	if b <= a {
		return 0
	}
	return int64(float64(o.size) * (b - a) / (hi - lo))
}

func overlaps(o *openSSTable, g ring.Range) bool {
	if o.first.IsZero() || o.first.Kind() != token.Murmur3 {
		return true
	}
	return o.last.Int64() > g.Start && o.first.Int64() <= g.End
}

// wholeRing is one unit over every token, for partitioners shadow does not
// place: the replicas are every node, in contracts §8 order, and the level
// takes its count of them.
func (s *Source) wholeRing() (ring.WorkUnit, error) {
	var names []string
	for _, n := range s.ring.Nodes() {
		names = append(names, n.Name)
	}
	rf := s.rep.Factor
	if strings.HasSuffix(s.rep.Class, "NetworkTopologyStrategy") {
		rf = 0
		for _, f := range s.rep.DCFactors {
			rf += f
		}
	}
	if rf < len(names) {
		return ring.WorkUnit{}, fmt.Errorf("%w: %d nodes with replication factor %d: only Murmur3 rings are placed", sstable.ErrUnsupported, len(names), rf)
	}
	all := s.ring.Order(names, s.localDC)
	n := len(all)
	switch s.cl {
	case ring.One:
		n = 1
	case ring.Quorum, ring.LocalQuorum:
		n = len(all)/2 + 1
	}
	return ring.WorkUnit{Range: ring.Range{Start: ring.MinToken, End: ring.MaxToken}, Replicas: all[:n], All: all}, nil
}

// minUnits is the number of work units to cut at least: enough to keep
// every worker busy, and none much larger than 256 MiB of one replica's
// input.
func (s *Source) minUnits(replicaBytes int64) int {
	return max(4*s.par, int(replicaBytes>>28)+1)
}

// readAhead sizes the read window of one SSTable scanner from the memory
// budget: every worker merges up to perUnit SSTables at once.
func (s *Source) readAhead(perUnit int) int {
	perUnit = max(perUnit, 1) * 2 // two replicas per unit at least, typically
	ra := s.memory / int64(max(1, s.par)) / 4 / int64(perUnit)
	return int(min(max(ra, 64<<10), 4<<20))
}

// rowBytes estimates the decoded bytes of one row of the tables (0 when
// unknown).
func (s *Source) rowBytes(tables []string) int64 {
	var bytes, nrows int64
	s.mu.Lock()
	for _, t := range tables {
		if ts, ok := s.tables[t]; ok {
			bytes += ts.stats.uncompressed
			nrows += ts.stats.rows
		}
	}
	s.mu.Unlock()
	if nrows == 0 || bytes == 0 {
		return 0
	}
	return max(bytes/nrows, 16)
}

// The memory budget is split so that what the pipeline holds stays inside
// it whatever the rows' size: about 10 record batches are in flight (per
// worker one being filled, the queues between Scan, the connector and the
// writers, each writer's buffer), and each Parquet writer buffers one row
// group.

// batchRows sizes record batches: a thirty-second of a worker's share.
func (s *Source) batchRows(ts *tableState) int {
	per := int64(0)
	if ts.stats.rows > 0 && ts.stats.uncompressed > 0 {
		per = max(ts.stats.uncompressed/ts.stats.rows, 16)
	}
	if per == 0 {
		return 0
	}
	return int(min(max(s.memory/32/int64(max(1, s.par))/per, 256), 8192))
}

// rowGroupRows bounds the rows a Parquet writer buffers: a quarter of a
// writer's share.
func (s *Source) rowGroupRows(tables []string) int {
	per := s.rowBytes(tables)
	if per == 0 {
		return 0
	}
	return int(min(max(s.memory/4/int64(max(1, s.par))/per, 4096), 1<<20))
}

// autoMemory is the default memory budget: a quarter of the memory
// available, between 256 MiB and 4 GiB.
func autoMemory() int64 {
	avail := availableMemory()
	if avail <= 0 {
		return 1 << 30
	}
	return min(max(avail/4, 256<<20), 4<<30)
}
