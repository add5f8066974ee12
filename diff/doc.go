// Package diff computes C − M and M − C, the rows a legacy table C has and a
// new table M lacks and the reverse, with SQL EXCEPT ALL semantics, for
// tables of billions of rows in bounded memory. It is a library first:
// `shadow diff` and the nightly runs call Run in-process.
//
// # Flow
//
//	C, M ──(Sources: Iceberg scans, Parquet files, Arrow streams; tasks read in parallel)──▶ record batches
//	  │ phase 1, one pass over each side
//	  ▼
//	canonical rows ──▶ fingerprint f = xxhash64(row), check c = XXH3-64(row)
//	  │  partition p = hash(key columns) with --key, else f, into P partitions
//	  ├─▶ digest[side][p] = (count, Σ f mod 2^64)       mergeable: add counts and sums
//	  ├─▶ row log: the row, in memory while the budget allows, then on local disk
//	  └─▶ index record (f, c, location[, key hash]) ──▶ bucket p mod B, in memory, then on disk
//	  │ phase 2, only partitions whose digests differ
//	  ▼
//	per bucket: index legacy records by (f, c); each new record cancels one ⇒ M − C leftovers;
//	uncancelled legacy records ⇒ C − M; read just those rows back, re-hash them
//	  │ report
//	  ▼
//	sort by key (else fingerprint), spilling runs to disk ⇒ pair rows of one key, classify
//	(changed, missing, extra), apply tolerances ⇒ counts, samples, callback, --out Parquet
//
// Equal digests mean equal partitions (a sum, unlike XOR, does not let
// duplicates cancel); unequal ones get the exact difference. Rows are read
// once; phase 2 reads the spill, never the tables. See docs/diff.md for the
// memory budget and the spill.
//
// # Canonical row encoding
//
// A row is the concatenation of its column values in column-name order
// (byte order of the names), after --ignore. Each value starts with a tag
// byte that fixes its type and how many bytes follow, so encodings are
// self-delimiting and two rows are equal under contracts §2 exactly when
// their encodings are equal byte for byte. Integers are big-endian.
//
//	0x00 NULL                         (NULL equals NULL and nothing else)
//	0x01 false, 0x02 true
//	0x03 integer      int64, 8 bytes  (every width and signedness, by value)
//	0x04 integer      uint64, 8 bytes (only unsigned values above 2^63-1)
//	0x05 float        float64 bits, 8 bytes; float16/32 widened exactly;
//	                  -0.0 is written as 0.0, every NaN as 0x7ff8000000000001
//	0x06 decimal      int8 scale, uint8 n, n bytes two's complement unscaled value,
//	                  normalised: trailing zeros stripped (1.0 = 1.00 = (1, 0)), 0 has scale 0
//	0x07 string       uvarint n, n raw bytes (no collation, no normalisation)
//	0x08 binary       uvarint n, n raw bytes (binary, large, view, fixed-size)
//	0x09 date         int32 days since 1970-01-01, 4 bytes (date64 rounded down to days)
//	0x0A time         int64 microseconds since midnight, 8 bytes
//	0x0B timestamp    int64 microseconds since 1970-01-01T00:00:00Z, 8 bytes: any unit,
//	                  any time zone (Arrow stores UTC instants); nanoseconds round down
//	0x0C uuid         16 bytes
//	0x0D list         uvarint count, then each element (order kept; [] is not NULL)
//	0x0E map          uvarint count, then key, value pairs sorted by the key's encoding
//	0x0F struct       uvarint count, then the fields in field-name order
//
// Dictionary-encoded columns encode their values. Normalisation rules run
// while encoding, so digests stay exact: --truncate rounds timestamps and
// times down to ms or s, --round rounds floats (by their shortest decimal
// form) and decimals (half away from zero) to N places, --empty-as-null
// writes the empty string as NULL. --tolerance runs later, on rows paired by key.
//
// Columns are matched by name. After --ignore, a column on one side only,
// or two columns of one name whose kinds (integer, float, decimal, string,
// binary, bool, date, time, timestamp, uuid, list, map, struct — nested
// kinds compared element by element, struct fields by name) differ, is a
// schema mismatch (ErrSchemaMismatch, exit 2); widths and units of one kind
// are compatible.
//
// # Keys and order
//
// With key columns, the key's canonical values (in --key order) are hashed
// with xxhash64 for the partition, so both rows of a changed key land in one
// partition. Reports and callbacks order rows by an order-preserving
// encoding of the key values (numbers by value, strings and binaries by
// bytes, NULL first), then side (legacy first), fingerprint and row bytes:
// a total order that does not depend on workers, partitions or the budget.
// Without a key they are ordered by fingerprint.
package diff
