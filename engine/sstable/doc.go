// Package sstable reads and writes Apache Cassandra SSTables: the BIG format
// versions ma, mb, mc, md, me (3.0/3.11), na, nb (4.0/4.1), oa (5.0) and the
// Data.db of BTI da (5.0), checked against files real Cassandras wrote.
// The writer produces nb and oa.
//
// # On-disk layout
//
// One SSTable is a set of files <version>-<generation>-<format>-<Component>,
// e.g. nb-1-big-Data.db:
//
//	TOC.txt             component names, one per line
//	Statistics.db       int32 n, [na+ crc], n × (type, offset), [na+ crc], then per component (+ crc32 from na):
//	                      0 VALIDATION  partitioner class, bloom filter fp chance
//	                      1 COMPACTION  HyperLogLog++ of the keys
//	                      2 STATS       size/cell histograms, min/max timestamp, deletion time, TTL,
//	                                    clustering min/max, repair, [oa] first/last key …
//	                      3 HEADER      EncodingStats (delta bases), key type, clustering types,
//	                                    static and regular columns with marshal type strings
//	CompressionInfo.db  compressor, options, chunk length, [na+ max compressed length],
//	                    data length, chunk count, int64 chunk offsets in Data.db
//	CRC.db              (uncompressed SSTables) chunk size + CRC32 per chunk
//	Data.db             chunks: [compressed bytes][crc32 BE] …; uncompressed, the stream is:
//
//	   Partition*  := u16 keylen, key, DeletionTime, [static row], Unfiltered*, 0x01
//	   DeletionTime:= before oa: int32 ldt, int64 mfda (live = 7fffffff 8000…)
//	                  oa/da:     0x80 (live) | int64 mfda, uint32 ldt
//	   Row         := flags, [ext flags], clustering (2-bit header per 32 values + values),
//	                  uvint size, uvint prev size, [liveness ts, ttl, ldt], [deletion],
//	                  [column subset], cells in header order (simple, then complex)
//	   Cell        := flags, [ts], [ldt], [ttl], [path], [value]   (times are deltas from the header)
//	   Marker      := 0x02, kind, u16 size, values, uvint size, uvint prev, deletion(s)
//
//	Index.db            per partition: u16 keylen, key, uvint data position,
//	                    uvint promoted index size, [row index blocks (IndexInfo) + offsets]
//	Summary.db          every 128th Index.db key with its Index.db position, first and last key
//	Filter.db           bloom filter (Murmur3 of the key, Cassandra's variant)
//	Digest.crc32        decimal CRC32 of the whole Data.db as stored
//	Partitions.db,
//	Rows.db             (BTI) trie indexes; this package scans Data.db instead
//
// # Layers
//
// block.go and compress.go are the block layer: chunks, CRC32 checks, the
// five codecs (LZ4, Snappy, Deflate, Zstd, Noop) and uncompressed data with
// CRC.db. A dataStream is a window over the uncompressed bytes. decode.go
// decodes rows, cells and markers from that window and knows nothing of
// files; scan.go drives it as a Scanner; reader.go opens metadata and seeks
// with Summary.db and Index.db. writer.go mirrors the reader; builder.go sits
// on top of it for in-memory data.
//
// # Reading
//
// Open an SSTable from any Source — an interface that opens each component
// as an io.ReaderAt with a size, so an object store works through ranged
// GETs — or from a local path:
//
//	r, err := sstable.Open(ctx, src, nil)            // src: a Source (DirSource, MemSource, your S3 one)
//	r, err := sstable.OpenPath(ctx, "…/nb-1-big-Data.db", nil)
//	st := r.Statistics()                             // partitioner, histograms, min/max timestamps, Header
//	h := r.Header()                                  // key, clustering and column types (cql.Type)
//	first, last, err := r.TokenRange(ctx)            // Summary.db, or Statistics.db for oa/da
//
// Scan streams partitions in token order and, within each, unfiltereds (rows
// and range tombstone markers) in clustering order. Memory is one chunk window
// plus the current row, whatever the partition size. Keys stay valid until
// the next NextPartition; rows and their byte slices until the next Next.
//
//	sc, err := r.Scan(ctx)
//	defer sc.Close()
//	sc.SeekToken(ctx, t)                 // optional: first partition with token ≥ t
//	for sc.NextPartition() {
//		p := sc.Partition()              // Key, Token, Deletion, Static (*Row or nil), Position
//		for sc.Next() {
//			u := sc.Unfiltered()         // u.Kind: UnfilteredRow (u.Row) or UnfilteredMarker (u.Marker)
//		}
//	}
//	if err := sc.Err(); err != nil { … }
//
// A Row has Clustering, Liveness (primary-key timestamp/TTL), Deletion and
// Columns; each ColumnData has the header Column, its Cells (one for a
// simple column; sorted by path for a non-frozen collection or UDT) and its
// complex Deletion. A Cell has Timestamp, TTL, LocalDeletionTime, Path and
// Value (serialized; decode with cql.Decode, counters with
// cql.CounterTotal). A RangeTombstoneMarker has a Bound (kind + clustering
// prefix) and the Close and Open deletions. Times are normalised: no
// timestamp is NoTimestamp, no deletion time NoDeletionTime, whatever the
// version's encoding (int32 before oa, uint32 from oa).
//
// Order within a partition comes from Header.Comparator(): Compare for
// clusterings and CompareBounds for rows against bounds and boundaries, per
// column type and ReversedType, as Cassandra's ClusteringComparator does.
// token.CompareKeys orders partitions.
//
// # Writing
//
// Writer streams partitions given in (token, key) order and unfiltereds in
// clustering order; it checks both. Builder collects writes like a memtable
// (inserts with TTLs, updates, deletions of partitions, ranges, rows, cells,
// collection elements, counters), sorts them and normalises overlapping range
// deletions into bounds and boundaries:
//
//	b, _ := sstable.NewBuilder(schema)
//	b.Partition("k").Row(1).Insert(ts, 0).Set("v", "x", ts, 3600)
//	files, err := b.WriteTo(dir, &sstable.WriterOptions{Version: "oa", Compression: sstable.Zstd})
//
// Both write Data.db, Index.db (with row index blocks for wide partitions),
// Summary.db, Filter.db, Statistics.db, CompressionInfo.db or CRC.db,
// Digest.crc32 and TOC.txt.
//
// # Errors
//
// Errors wrap ErrCorrupt, ErrChecksum, ErrMissingComponent, ErrUnsupported or
// ErrOrder and name the file, the offset (in the uncompressed Data.db for
// rows) and what was expected. Every length read from a file is checked
// against the bytes that remain before anything is allocated; decoding never
// panics (see the fuzz tests).
package sstable
