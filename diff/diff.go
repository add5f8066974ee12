package diff

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"golang.org/x/sync/errgroup"
)

// Defaults.
const (
	DefaultMemory = 1 << 30 // --memory
	DefaultSample = 20      // --sample
)

// Options control a diff. The zero value diffs without a key, with the
// default memory budget and samples.
type Options struct {
	// Key names the key columns. With a key, partitions are chosen by the
	// key's hash, rows are paired by key and classified (contracts §1).
	Key []string
	// Partitions is the number of phase-1 partitions; 0 chooses it from the
	// input size.
	Partitions int
	// Memory is the budget in bytes (default DefaultMemory). The diff sizes
	// its spill, phase-2 and sort buffers from it; a process that wants its
	// resident memory to stay near the budget should also set the Go
	// runtime's soft limit (debug.SetMemoryLimit), as `shadow diff` does.
	Memory int64
	// Sample is the number of rows of each class the report keeps; 0 means
	// DefaultSample, a negative number none.
	Sample int
	// Workers is the parallelism (default GOMAXPROCS).
	Workers int
	// TempDir is where spill files go (default os.TempDir()).
	TempDir string
	// Rules are the normalization rules of contracts §2.
	Rules Rules
	// Carry names columns delivered with each discrepancy row of the
	// side(s) that have them (in Row.Values and the OutDir files), never
	// compared: not part of the fingerprint, the key, the pairing or the
	// similarity. Rows equal on the compared columns are matched whatever
	// their carried values. A carried column may exist on one side only
	// (provenance such as _writetime); one on neither side is an error
	// wrapping ErrUnknownColumn, one also in Key or Rules.Ignore an error
	// wrapping ErrBadRule. Rules do not apply to carried values. Among rows
	// equal on the compared columns, which one's carried values a
	// discrepancy shows is unspecified.
	Carry []string
	// OutDir, if set, receives only_in_legacy.parquet and only_in_new.parquet.
	OutDir string
	// OnDiscrepancy, if set, receives every row of C − M and M − C,
	// classified, in report order (by key, else by fingerprint), after the
	// exact phase. Changed pairs arrive as one discrepancy. Within-tolerance
	// pairs count as matched and are not delivered. Returning an error stops
	// the diff with that error.
	OnDiscrepancy func(Discrepancy) error
	// Progress, if set, is called from worker goroutines as work advances.
	Progress func(Progress)
}

// Progress reports how far a diff is.
type Progress struct {
	Phase string // "digest", "exact", "report"
	Done  int64  // rows read (digest) or buckets done (exact)
	Total int64  // expected; 0 when unknown
}

// Run diffs two sources: C (legacy) and M (new). It returns the report, or
// an error wrapping ErrSchemaMismatch, ErrUnknownColumn, ErrBadRule,
// ErrCorrupt, lake.ErrNotFound or lake.ErrBadReference for bad input.
func Run(ctx context.Context, legacy, newer Source, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Memory <= 0 {
		opts.Memory = DefaultMemory
	}
	switch {
	case opts.Sample == 0:
		opts.Sample = DefaultSample
	case opts.Sample < 0:
		opts.Sample = 0
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Partitions < 0 {
		return nil, fmt.Errorf("%w: --partitions %d: want a positive number", ErrBadRule, opts.Partitions)
	}

	var plans [2]*Plan
	for s, src := range []Source{legacy, newer} {
		p, err := src.Plan(ctx)
		if err != nil {
			return nil, err
		}
		plans[s] = p
		if p.Close != nil {
			defer p.Close()
		}
	}
	carry, err := carryColumns(plans[0].Schema, plans[1].Schema, opts.Carry, opts.Key, opts.Rules.Ignore)
	if err != nil {
		return nil, err
	}
	cols, err := matchSchemas(plans[0].Schema, plans[1].Schema, append(slices.Clone(opts.Rules.Ignore), opts.Carry...))
	if err != nil {
		return nil, err
	}
	keyIdx, err := keyColumns(opts.Key, cols, opts.Rules.Ignore)
	if err != nil {
		return nil, err
	}
	rules, err := compileRules(opts.Rules, cols)
	if err != nil {
		return nil, err
	}

	rep := &Report{Rules: opts.Rules.List(), Key: slices.Clone(opts.Key), Carry: slices.Clone(opts.Carry)}
	if rep.Rules == nil {
		rep.Rules = []Rule{}
	}
	rep.Run.Started = start.UTC()
	rep.Run.Workers = opts.Workers
	rep.Run.MemoryBudget = opts.Memory
	for s, p := range plans {
		info := SideInfo{Ref: p.Ref, SnapshotID: p.SnapshotID, Files: p.Files, FilesRead: len(p.Files)}
		if info.Files == nil {
			info.Files = []string{}
		}
		if s == 0 {
			rep.Legacy = info
		} else {
			rep.New = info
		}
	}
	for _, c := range cols {
		rep.Columns = append(rep.Columns, ColumnInfo{Name: c.name, Kind: c.typ.String(), LegacyType: c.legacyType.String(), NewType: c.newType.String()})
	}
	for _, j := range keyIdx {
		rep.Columns[j].Key = true
	}
	if rep.Columns == nil {
		rep.Columns = []ColumnInfo{}
	}
	rep.Run.Phases.Plan = time.Since(start).Seconds()

	d := &differ{opts: opts, cols: cols, rules: rules, keyIdx: keyIdx, carry: carry, plans: plans, rep: rep}
	if err := d.run(ctx); err != nil {
		return nil, err
	}
	rep.Run.Phases.Total = time.Since(start).Seconds()
	return rep, nil
}

func keyColumns(key []string, cols []column, ignore []string) ([]int, error) {
	var idx []int
	seen := map[string]bool{}
	for _, k := range key {
		if seen[k] {
			return nil, fmt.Errorf("%w: key column %q named twice", ErrUnknownColumn, k)
		}
		seen[k] = true
		j := slices.IndexFunc(cols, func(c column) bool { return c.name == k })
		if j < 0 {
			if slices.Contains(ignore, k) {
				return nil, fmt.Errorf("%w: key column %q is ignored (--ignore)", ErrUnknownColumn, k)
			}
			names := make([]string, len(cols))
			for i, c := range cols {
				names[i] = c.name
			}
			return nil, fmt.Errorf("%w: key column %q does not exist (columns: %s)", ErrUnknownColumn, k, strings.Join(names, ", "))
		}
		idx = append(idx, j)
	}
	return idx, nil
}

type differ struct {
	opts   Options
	cols   []column
	rules  []colRule
	keyIdx []int
	carry  *carried
	plans  [2]*Plan
	rep    *Report

	partitions, buckets int
	recSize             int // index record size
	segCap              int // row log segment size
	dir                 string
	mem, rowMem         *memBudget
	index               [2]*spillStore
	logMu               sync.Mutex
	logs                []*rowLog
	digests             [2]*Digest
}

func nextPow2(n int64) int64 {
	p := int64(1)
	for p < n {
		p <<= 1
	}
	return p
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// size chooses partitions, spill buckets and buffer sizes from the input
// size and the memory budget.
func (d *differ) size() (chunkSize int) {
	rows := d.plans[0].Rows + d.plans[1].Rows
	if d.plans[0].Rows < 0 || d.plans[1].Rows < 0 {
		rows = 10_000_000 // unknown: assume a mid-sized table
	}
	d.partitions = d.opts.Partitions
	if d.partitions == 0 {
		// Many small partitions make phase 2 selective: with few
		// differences, few partitions are unequal.
		d.partitions = int(clamp(nextPow2(rows/256), 64, 1<<16))
	}
	spill := rows * int64(d.recSize)
	if len(d.keyIdx) > 0 {
		spill += rows * 24
	}
	mem := d.opts.Memory
	d.buckets = int(clamp(nextPow2(spill/max(mem/8, 1)), int64(4*d.opts.Workers), 1024))
	d.buckets = min(d.buckets, d.partitions)
	d.segCap = int(clamp(mem/128, 1<<20, 8<<20))
	streams := int64(2)
	if len(d.keyIdx) > 0 {
		streams = 4
	}
	// Every worker keeps one open chunk per bucket and stream: together at
	// most a sixteenth of the budget.
	return int(clamp(mem/16/(int64(d.buckets)*int64(d.opts.Workers)*streams), 4<<10, 1<<20))
}

func (d *differ) run(ctx context.Context) error {
	d.recSize = indexSize
	if len(d.keyIdx) > 0 {
		d.recSize = indexKeyed
	}
	chunkSize := d.size()
	d.rep.Run.Partitions, d.rep.Run.SpillBuckets = d.partitions, d.buckets
	dir, err := os.MkdirTemp(d.opts.TempDir, "shadow-diff-")
	if err != nil {
		return fmt.Errorf("spill directory: %w", err)
	}
	d.dir = dir
	defer os.RemoveAll(dir)
	// The budget, shared out: index chunks 40%, row logs 2%, recycled
	// Arrow buffers 10%, open chunks up to 6% (see size), phase 2 30% and
	// sorting 10% (both after phase 1, as the index chunks are freed); the
	// rest is batches in flight, Parquet decoding and the runtime's slack.
	// Rows are read back rarely, so they are the first to go to disk.
	d.mem = &memBudget{limit: d.opts.Memory * 40 / 100}
	d.rowMem = &memBudget{limit: d.opts.Memory * 2 / 100}
	defer func() {
		for _, l := range d.logs {
			l.close()
		}
	}()
	for s, name := range sideNames {
		d.index[s] = newSpillStore(dir, name+"-index", d.buckets, chunkSize, d.mem)
		defer d.index[s].close()
	}

	t := time.Now()
	if err := d.phase1(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.rep.Run.Phases.Digest = time.Since(t).Seconds()
	d.rep.LegacyRows, d.rep.NewRows = d.digests[0].Rows(), d.digests[1].Rows()
	d.rep.Legacy.Rows, d.rep.New.Rows = d.rep.LegacyRows, d.rep.NewRows
	unequal := Unequal(d.digests[0], d.digests[1])
	for _, u := range unequal {
		if u {
			d.rep.Run.UnequalPartitions++
		}
	}

	t = time.Now()
	srt := newSorter(dir, int(d.opts.Memory/10))
	dups, dupKeys, err := d.phase2(ctx, unequal, srt)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, l := range d.logs {
		d.rep.Run.SpilledBytes += l.diskBytes.Load()
	}
	for s := range d.index {
		d.rep.Run.SpilledBytes += d.index[s].diskBytes.Load()
	}
	d.rep.Run.Phases.Exact = time.Since(t).Seconds()

	t = time.Now()
	if err := d.report(ctx, srt, dups, dupKeys); err != nil {
		return err
	}
	d.rep.Run.Phases.Report = time.Since(t).Seconds()
	return nil
}

type sideTask struct {
	side int
	task Task
}

type batch struct {
	side int
	rec  arrow.RecordBatch
}

// phase1 reads both sides once, in parallel: readers run the sources' tasks
// and hand batches to hashers, which encode, fingerprint, digest and spill.
func (d *differ) phase1(ctx context.Context) error {
	var tasks []sideTask
	lt, nt := d.plans[0].Tasks, d.plans[1].Tasks
	for i := 0; i < max(len(lt), len(nt)); i++ {
		if i < len(lt) {
			tasks = append(tasks, sideTask{0, lt[i]})
		}
		if i < len(nt) {
			tasks = append(tasks, sideTask{1, nt[i]})
		}
	}
	workers := d.opts.Workers
	g, gctx := errgroup.WithContext(withAllocator(ctx, newPoolAllocator(d.opts.Memory*10/100)))
	taskCh := make(chan sideTask)
	batches := make(chan batch, workers)
	g.Go(func() error { return sendAll(gctx, taskCh, tasks) })
	var readers sync.WaitGroup
	for r := 0; r < min(workers, max(len(tasks), 1)); r++ {
		readers.Add(1)
		g.Go(func() error {
			defer readers.Done()
			for t := range taskCh {
				err := t.task(gctx, func(rec arrow.RecordBatch) error {
					if rec.NumRows() == 0 {
						return nil
					}
					rec.Retain()
					select {
					case batches <- batch{t.side, rec}:
						return nil
					case <-gctx.Done():
						rec.Release()
						return gctx.Err()
					}
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		readers.Wait()
		close(batches)
		return nil
	})
	var (
		mu    sync.Mutex
		done  atomic.Int64
		total = max(d.plans[0].Rows, 0) + max(d.plans[1].Rows, 0)
	)
	d.digests = [2]*Digest{NewDigest(d.partitions), NewDigest(d.partitions)}
	for h := 0; h < workers; h++ {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("diff: encoding failed: %v", r)
				}
			}()
			var hs [2]*hasher
			for s := range hs {
				hs[s] = d.newHasher(s)
			}
			for b := range batches {
				err := hs[b.side].add(b.rec)
				n := b.rec.NumRows()
				b.rec.Release()
				if err != nil {
					return err
				}
				if d.opts.Progress != nil {
					d.opts.Progress(Progress{Phase: "digest", Done: done.Add(n), Total: total})
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for s, h := range hs {
				if err := h.flush(); err != nil {
					return err
				}
				h.mergeInto(d.digests[s])
			}
			return nil
		})
	}
	err := g.Wait()
	for b := range batches { // only left over after an error
		b.rec.Release()
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// hasher is one worker's phase-1 state for one side.
type hasher struct {
	d      *differ
	enc    *rowEncoder
	log    *rowLog
	digest []uint64 // count, sum interleaved per partition
	index  *spillWriter
	keyed  bool
	rec    []byte
}

// sendAll sends the items on ch in order, then closes ch. It stops early,
// without an error, when ctx is done: the group's failing goroutine reports
// why.
func sendAll[T any](ctx context.Context, ch chan<- T, items []T) error {
	defer close(ch)
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func (d *differ) newHasher(side int) *hasher {
	name := sideNames[side]
	d.logMu.Lock()
	log := newRowLog(len(d.logs), d.dir, d.rowMem, d.segCap)
	log.carry = len(d.carry.names[side]) > 0
	d.logs = append(d.logs, log)
	d.logMu.Unlock()
	enc := newRowEncoder(name, d.cols, d.rules, d.keyIdx)
	if log.carry {
		enc.withCarry(d.carry.names[side], d.carry.types[side])
	}
	h := &hasher{d: d, enc: enc, log: log,
		digest: make([]uint64, 2*d.partitions), index: d.index[side].writer(), rec: make([]byte, d.recSize), keyed: len(d.keyIdx) > 0}
	return h
}

func (h *hasher) add(rec arrow.RecordBatch) error {
	var base int64
	if _, err := h.enc.encode(rec, func(n int) ([]byte, error) {
		b, off, err := h.log.alloc(n)
		base = off
		return b, err
	}); err != nil {
		return err
	}
	e := h.enc
	P, B := h.d.partitions, h.d.buckets
	keyed := h.keyed
	id := uint64(h.log.id) << locBits
	r := h.rec
	for i, fp := range e.fps {
		hash := fp
		if keyed {
			hash = e.khashes[i]
			binary.LittleEndian.PutUint64(r[24:], hash)
		}
		p := PartitionOf(hash, P)
		h.digest[2*p]++
		h.digest[2*p+1] += fp
		binary.LittleEndian.PutUint64(r, fp)
		binary.LittleEndian.PutUint64(r[8:], e.checks[i])
		binary.LittleEndian.PutUint64(r[16:], id|uint64(base+int64(e.starts[i])))
		b := p % B
		if err := h.index.add(b, r); err != nil {
			return err
		}
	}
	return nil
}

func (h *hasher) flush() error {
	if err := h.log.seal(); err != nil {
		return err
	}
	return h.index.flush()
}

func (h *hasher) mergeInto(d *Digest) {
	for p := range d.Counts {
		d.Counts[p] += h.digest[2*p]
		d.Sums[p] += h.digest[2*p+1]
	}
}

// phase2 runs the exact difference over every bucket holding an unequal
// partition, and the duplicate-key count over every bucket when keyed.
func (d *differ) phase2(ctx context.Context, unequal []bool, srt *sorter) (int64, *dupSample, error) {
	needed := make([]bool, d.buckets)
	for p, u := range unequal {
		if u {
			needed[p%d.buckets] = true
		}
	}
	keyed := len(d.keyIdx) > 0
	var todo []int
	for b := 0; b < d.buckets; b++ {
		if needed[b] || keyed {
			todo = append(todo, b)
		} else {
			d.index[0].free(b)
			d.index[1].free(b)
		}
	}
	unequalN := 0
	for _, u := range unequal {
		if u {
			unequalN++
		}
	}
	workers := d.opts.Workers
	budget := d.opts.Memory * 30 / 100 / int64(workers)
	job := &exactJob{index: d.index, logs: d.logs, recSize: d.recSize, partitions: d.partitions, unequal: unequal, unequalN: unequalN, keyed: keyed, budget: budget}
	dj := &dupJob{index: d.index, recSize: d.recSize, partitions: d.partitions, buckets: d.buckets, unequal: unequal}
	var (
		onlyL, onlyN, dups atomic.Int64
		done               atomic.Int64
		dmu                sync.Mutex
		sample             = &dupSample{n: d.opts.Sample}
	)
	g, gctx := errgroup.WithContext(ctx)
	ch := make(chan int)
	g.Go(func() error { return sendAll(gctx, ch, todo) })
	for w := 0; w < workers; w++ {
		g.Go(func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("diff: exact phase failed: %v", r)
				}
			}()
			var (
				x       recIndex
				k       dupScratch
				scratch []byte
				rowBuf  []byte
				split   [][]byte
				okey    []byte
			)
			sortKey := func(fp uint64, row []byte) ([]byte, error) {
				okey = okey[:0]
				if !keyed {
					return binary.BigEndian.AppendUint64(okey, fp), nil
				}
				var err error
				if split, err = splitRow(row, len(d.cols), split); err != nil {
					return nil, err
				}
				for _, j := range d.keyIdx {
					okey = appendOrderKey(okey, split[j])
				}
				return okey, nil
			}
			myJob := *job
			myJob.emit = func(side byte, fp uint64, row, carry []byte) error {
				key, err := sortKey(fp, row)
				if err != nil {
					return err
				}
				return srt.add(key, side, fp, row, carry)
			}
			for b := range ch {
				if err := gctx.Err(); err != nil {
					return err
				}
				if needed[b] {
					l, n, s, rb, err := myJob.run(b, &x, scratch, rowBuf)
					scratch, rowBuf = s, rb
					if err != nil {
						return err
					}
					onlyL.Add(l)
					onlyN.Add(n)
				}
				if keyed {
					var n int64
					n, scratch, err = dj.run(b, &k, scratch, func(loc uint64) error {
						var row, key []byte
						var err error
						if row, _, rowBuf, err = d.logs[loc>>locBits].row(int64(loc&(1<<locBits-1)), rowBuf); err != nil {
							return err
						}
						if split, err = splitRow(row, len(d.cols), split); err != nil {
							return err
						}
						okey = okey[:0]
						for _, j := range d.keyIdx {
							okey = appendOrderKey(okey, split[j])
							key = append(key, split[j]...)
						}
						dmu.Lock()
						sample.add(okey, key)
						dmu.Unlock()
						return nil
					})
					if err != nil {
						return err
					}
					dups.Add(n)
				}
				d.index[0].free(b)
				d.index[1].free(b)
				if d.opts.Progress != nil {
					d.opts.Progress(Progress{Phase: "exact", Done: done.Add(1), Total: int64(len(todo))})
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, err
	}
	d.rep.OnlyInLegacy, d.rep.OnlyInNew = onlyL.Load(), onlyN.Load()
	return dups.Load(), sample, nil
}

// report orders the differing rows, classifies them and finishes the report.
func (d *differ) report(ctx context.Context, srt *sorter, dups int64, dupKeys *dupSample) error {
	var out *outWriter
	if d.opts.OutDir != "" {
		var err error
		if out, err = newOutWriter(d.opts.OutDir, d.cols, d.carry); err != nil {
			return err
		}
	}
	c := &classifier{cols: d.cols, keyIdx: d.keyIdx, carry: d.carry, rules: d.rules, sample: d.opts.Sample, rep: d.rep,
		onDisc: d.opts.OnDiscrepancy, out: out, diffCol: map[string]int64{}}
	total := srt.entries
	var done int64
	err := srt.each(func(e sortEntry) error {
		done++
		if done%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.opts.Progress != nil {
				d.opts.Progress(Progress{Phase: "report", Done: done, Total: total})
			}
		}
		return c.add(e)
	})
	if err == nil {
		err = c.finish()
	}
	if err == nil {
		err = out.close()
	}
	if err != nil {
		out.abort()
		return err
	}
	if len(d.keyIdx) > 0 {
		ch, mi, ex, wt := c.counts.changed, c.counts.missing, c.counts.extra, c.counts.within
		d.rep.Changed, d.rep.Missing, d.rep.Extra, d.rep.WithinTolerance, d.rep.DuplicateKeys = &ch, &mi, &ex, &wt, &dups
		if len(c.diffCol) > 0 {
			d.rep.DifferingColumns = c.diffCol
		}
		var split [][]byte
		for _, kb := range dupKeys.vals {
			var err error
			if split, err = splitRow(kb, len(d.keyIdx), split); err != nil {
				return err
			}
			m := map[string]any{}
			for i, j := range d.keyIdx {
				m[d.cols[j].name] = decodeChecked(split[i], d.cols[j].typ)
			}
			d.rep.Samples.DuplicateKeys = append(d.rep.Samples.DuplicateKeys, m)
		}
	}
	d.rep.finish()
	return nil
}
