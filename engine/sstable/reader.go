package sstable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cassmove/shadow/engine/cql"
	"github.com/cassmove/shadow/engine/token"
)

// Options tune a Reader. The zero value is fine.
type Options struct {
	// ReadAhead is how many bytes of Data.db one read fetches (default
	// 1 MiB): one ranged GET per window over an object store.
	ReadAhead int
	// ColumnTypes overrides header column types by column name, e.g. to mark
	// UDT columns frozen in 3.0 (m*) SSTables whose headers omit FrozenType
	// (CASSANDRA-15035). Take them from the table schema.
	ColumnTypes map[string]*cql.Type
}

func (o *Options) readAhead() int {
	if o == nil || o.ReadAhead <= 0 {
		return 1 << 20
	}
	return o.ReadAhead
}

// Reader is an opened SSTable: its metadata in memory, its data read on demand.
type Reader struct {
	src         Source
	opts        *Options
	desc        Descriptor
	version     Version
	toc         []string
	stats       *Statistics
	partitioner token.Partitioner
	comp        *Compression
	crcs        []uint32

	indexOnce sync.Once
	summary   *summary
	indexErr  error
}

// OpenPath opens the SSTable at path: a *-Data.db file or a directory
// holding exactly one SSTable.
func OpenPath(ctx context.Context, path string, opts *Options) (*Reader, error) {
	src, err := NewDirSource(path)
	if err != nil {
		return nil, err
	}
	return Open(ctx, src, opts)
}

// Open reads the metadata of an SSTable (TOC.txt, Statistics.db,
// CompressionInfo.db or CRC.db) and checks its version and partitioner.
func Open(ctx context.Context, src Source, opts *Options) (*Reader, error) {
	if opts == nil {
		opts = &Options{}
	}
	desc := src.Descriptor()
	v, err := LookupVersion(desc.Format, desc.Version)
	if err != nil {
		return nil, fmt.Errorf("sstable %s: %w", src.Name(ComponentData), err)
	}
	r := &Reader{src: src, opts: opts, desc: desc, version: v}
	if b, err := readAll(ctx, src, ComponentTOC, 1<<20); err == nil {
		r.toc = parseTOC(b)
		for _, c := range []string{ComponentData, ComponentStatistics} {
			if !slices.Contains(r.toc, c) {
				return nil, errIn(ErrCorrupt, src.Name(ComponentTOC), "TOC does not list %s", c)
			}
		}
	} else if !errors.Is(err, ErrMissingComponent) {
		return nil, err
	}
	b, err := readAll(ctx, src, ComponentStatistics, 256<<20)
	if err != nil {
		return nil, err
	}
	if r.stats, err = parseStatistics(b, src.Name(ComponentStatistics), v); err != nil {
		return nil, err
	}
	for name, t := range opts.ColumnTypes {
		if c := r.stats.Header.Column(name); c != nil {
			c.Type = t
		}
	}
	sortColumns(r.stats.Header.Statics)
	sortColumns(r.stats.Header.Regulars)
	if r.partitioner, err = token.ForClass(r.stats.Partitioner); err != nil {
		return nil, fmt.Errorf("sstable %s: %w: %w", src.Name(ComponentStatistics), err, ErrUnsupported)
	}
	data, err := openComponent(ctx, src, ComponentData)
	if err != nil {
		return nil, err
	}
	dataSize := data.Size()
	data.Close()
	if b, err := readAll(ctx, src, ComponentCompressionInfo, 1<<30); err == nil {
		if r.comp, err = parseCompressionInfo(b, src.Name(ComponentCompressionInfo), v); err != nil {
			return nil, err
		}
	} else if errors.Is(err, ErrMissingComponent) && !r.listed(ComponentCompressionInfo) {
		r.comp = &Compression{ChunkLength: 64 << 10, DataLength: dataSize, MaxCompressedLength: 1<<31 - 1}
		if b, err := readAll(ctx, src, ComponentCRC, 1<<30); err == nil {
			cr := &mreader{b: b, file: src.Name(ComponentCRC)}
			r.comp.ChunkLength = int(cr.i32("chunk size"))
			if (r.comp.ChunkLength <= 0 || r.comp.ChunkLength > MaxChunkLength) && cr.err == nil {
				return nil, errAt(ErrCorrupt, cr.file, 0, "chunk size %d: want 1 to %d", r.comp.ChunkLength, MaxChunkLength)
			}
			for cr.remaining() > 0 && cr.err == nil {
				r.crcs = append(r.crcs, cr.u32("chunk crc32"))
			}
			if cr.err != nil {
				return nil, cr.err
			}
			if len(r.crcs) != r.comp.ChunkCount() {
				return nil, errIn(ErrCorrupt, cr.file, "%d CRCs for %d chunks of %d bytes", len(r.crcs), r.comp.ChunkCount(), r.comp.ChunkLength)
			}
			r.comp.HasCRC = true
		} else if !errors.Is(err, ErrMissingComponent) {
			return nil, err
		}
	} else {
		return nil, err
	}
	return r, nil
}

func (r *Reader) listed(c string) bool { return slices.Contains(r.toc, c) }

// Close releases the Reader (scanners have their own handles).
func (r *Reader) Close() error { return nil }

// Descriptor names the SSTable.
func (r *Reader) Descriptor() Descriptor { return r.desc }

// Version returns the format features.
func (r *Reader) Version() Version { return r.version }

// Components lists TOC.txt (nil when there is none).
func (r *Reader) Components() []string { return r.toc }

// Statistics returns Statistics.db, including the serialization header.
func (r *Reader) Statistics() *Statistics { return r.stats }

// Header returns the serialization header: key, clustering and column types.
func (r *Reader) Header() *Header { return &r.stats.Header }

// Partitioner returns the partitioner named in Statistics.db.
func (r *Reader) Partitioner() token.Partitioner { return r.partitioner }

// Compression describes how Data.db is stored.
func (r *Reader) Compression() *Compression { return r.comp }

// Source is where the components come from.
func (r *Reader) Source() Source { return r.src }

// VerifyDigest compares Digest.crc32 (the CRC32 of the whole Data.db, as
// stored) with the file. It reads all of Data.db.
func (r *Reader) VerifyDigest(ctx context.Context) error {
	b, err := readAll(ctx, r.src, ComponentDigest, 64)
	if err != nil {
		return err
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return errAt(ErrCorrupt, r.src.Name(ComponentDigest), 0, "digest %q: want a decimal CRC32", strings.TrimSpace(string(b)))
	}
	f, err := openComponent(ctx, r.src, ComponentData)
	if err != nil {
		return err
	}
	defer f.Close()
	h := crc32.NewIEEE()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < f.Size(); {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(len(buf)), f.Size()-off))
		m, err := f.ReadAt(buf[:n], off)
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return errAt(ErrCorrupt, r.src.Name(ComponentData), off, "reading for the digest: %v", err)
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	if got := h.Sum32(); uint64(got) != want {
		return errIn(ErrChecksum, r.src.Name(ComponentData), "digest mismatch (Digest.crc32 says %d, Data.db has %d)", want, got)
	}
	return nil
}

// summary is Summary.db in memory: sampled Index.db keys and positions.
type summary struct {
	keys      [][]byte
	tokens    []token.Token
	positions []int64
	first     []byte
	last      []byte
	indexSize int64
}

func (r *Reader) loadSummary(ctx context.Context) (*summary, error) {
	r.indexOnce.Do(func() {
		if r.desc.Format != "big" {
			r.indexErr = fs.ErrNotExist
			return
		}
		b, err := readAll(ctx, r.src, ComponentSummary, 1<<30)
		if err != nil {
			r.indexErr = err
			return
		}
		r.summary, r.indexErr = parseSummary(b, r.src.Name(ComponentSummary), r.partitioner)
		if r.indexErr == nil {
			f, err := openComponent(ctx, r.src, ComponentIndex)
			if err != nil {
				r.indexErr = err
				return
			}
			r.summary.indexSize = f.Size()
			f.Close()
		}
	})
	return r.summary, r.indexErr
}

func parseSummary(b []byte, file string, p token.Partitioner) (*summary, error) {
	r := &mreader{b: b, file: file}
	r.i32("min index interval")
	n := r.count("summary entry count", 12)
	offheap := r.i64("off-heap size")
	r.i32("sampling level")
	r.i32("size at full sampling")
	if r.err != nil {
		return nil, r.err
	}
	base := r.p
	if offheap < int64(4*n) || offheap > int64(len(b)-base) {
		return nil, errAt(ErrCorrupt, file, 8, "summary size %d: want between %d and %d", offheap, 4*n, len(b)-base)
	}
	entriesEnd := base + int(offheap)
	offs := make([]int, n)
	for i := range offs {
		offs[i] = int(binary.LittleEndian.Uint32(r.take(4, "summary offset")))
	}
	// Some platforms wrote big-endian offsets; the first offset is always 4n.
	if n > 0 && offs[0] != 4*n {
		for i := range offs {
			o := uint32(offs[i])
			offs[i] = int(o>>24 | o>>8&0xff00 | o<<8&0xff0000 | o<<24)
		}
	}
	s := &summary{}
	for i := 0; i < n; i++ {
		start := base + offs[i]
		end := entriesEnd
		if i+1 < n {
			end = base + offs[i+1]
		}
		if start < base+4*n || end < start+8 || end > entriesEnd {
			return nil, errAt(ErrCorrupt, file, int64(base+4*i), "summary entry %d spans [%d, %d): want offsets in order within the entries", i, start, end)
		}
		s.keys = append(s.keys, b[start:end-8])
		s.positions = append(s.positions, int64(binary.LittleEndian.Uint64(b[end-8:end])))
	}
	tr := &mreader{b: b, p: entriesEnd, file: file}
	s.first = tr.take(tr.count("first key length", 1), "first key")
	s.last = tr.take(tr.count("last key length", 1), "last key")
	if tr.err != nil {
		return nil, tr.err
	}
	for _, k := range s.keys {
		s.tokens = append(s.tokens, p.Token(k))
	}
	return s, nil
}

// dataPositionFor returns the Data.db offset of the first partition with a
// token ≥ t, a position at or before it, or -1 when no index can tell.
func (r *Reader) dataPositionFor(ctx context.Context, t token.Token) (int64, error) {
	s, err := r.loadSummary(ctx)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrMissingComponent) {
			return -1, nil // scan forward
		}
		return 0, err
	}
	// the last summary entry whose token is < t: start reading Index.db there
	i, _ := slices.BinarySearchFunc(s.tokens, t, func(a, b token.Token) int {
		if token.Compare(a, b) < 0 {
			return -1
		}
		return 1
	})
	var idxPos int64
	if i > 0 {
		idxPos = s.positions[i-1]
	}
	f, err := openComponent(ctx, r.src, ComponentIndex)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ir := &indexReader{ra: readAhead{f: f, size: f.Size(), win: 64 << 10, start: -1}, name: r.src.Name(ComponentIndex), pos: idxPos}
	for ir.pos < f.Size() {
		key, dataPos, err := ir.next()
		if err != nil {
			return 0, err
		}
		if token.Compare(r.partitioner.Token(key), t) >= 0 {
			return dataPos, nil
		}
	}
	return r.comp.DataLength, nil
}

// indexReader walks Index.db entries: u16 key length, key, uvint data
// position, uvint promoted index size, promoted index.
type indexReader struct {
	ra   readAhead
	name string
	pos  int64
}

func (ir *indexReader) next() ([]byte, int64, error) {
	start := ir.pos
	want := int(min(ir.ra.size-start, 64<<10))
	if end := ir.ra.start + int64(len(ir.ra.buf)); ir.ra.start >= 0 && start >= ir.ra.start && start < end {
		// Decode from what the window holds; asking for a full window
		// from every entry would fetch it again for each entry.
		want = int(end - start)
	}
	for {
		b, err := ir.ra.get(start, want)
		if err != nil {
			return nil, 0, errAt(ErrCorrupt, ir.name, start, "index entry: %v", err)
		}
		d := dec{b: b, limit: ir.ra.size - start}
		key := d.bytes(uint64(d.u16()), "index key")
		pos := d.uv()
		size := d.uv()
		skip := d.bytes(size, "promoted index")
		_ = skip
		if d.bad != "" {
			return nil, 0, errAt(ErrCorrupt, ir.name, start+int64(d.badAt), "%s", d.bad)
		}
		if d.short {
			want = int(min(ir.ra.size-start, int64(max(d.need, want*2, 64<<10))))
			continue
		}
		ir.pos = start + int64(d.p)
		return append([]byte(nil), key...), int64(pos), nil
	}
}

// KeyRange returns the first and last partition keys, from Statistics.db
// (oa, da) or Summary.db.
func (r *Reader) KeyRange(ctx context.Context) (first, last []byte, err error) {
	if r.version.HasKeyRange && len(r.stats.FirstKey) > 0 {
		return r.stats.FirstKey, r.stats.LastKey, nil
	}
	s, err := r.loadSummary(ctx)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errIn(ErrMissingComponent, r.src.Name(ComponentSummary), "no key range in Statistics.db and no Summary.db")
		}
		return nil, nil, err
	}
	return s.first, s.last, nil
}

// TokenRange returns the tokens of the first and last partitions.
func (r *Reader) TokenRange(ctx context.Context) (first, last token.Token, err error) {
	f, l, err := r.KeyRange(ctx)
	if err != nil {
		return token.Token{}, token.Token{}, err
	}
	return r.partitioner.Token(f), r.partitioner.Token(l), nil
}
