package diff

import (
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Fingerprint is the xxhash64 of a canonical row. It prints and marshals
// as 16 hex digits so that JSON consumers never round it.
type Fingerprint uint64

func (f Fingerprint) String() string { return fmt.Sprintf("%016x", uint64(f)) }

// MarshalText implements encoding.TextMarshaler.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	var v uint64
	if _, err := fmt.Sscanf(string(b), "%016x", &v); err != nil || len(b) != 16 {
		return fmt.Errorf("fingerprint %q: want 16 hex digits", b)
	}
	*f = Fingerprint(v)
	return nil
}

// FingerprintOf returns the fingerprint of canonical row bytes.
func FingerprintOf(row []byte) Fingerprint { return Fingerprint(xxhash.Sum64(row)) }

// PartitionOf maps a 64-bit hash (of the key columns with a key, of the
// row otherwise) to one of n partitions.
func PartitionOf(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// Digest is the phase-1 digest of one side: for each partition, the number
// of rows and the sum of their fingerprints mod 2^64. Sums, unlike XOR,
// keep duplicates from cancelling, so equal digests mean equal multisets
// (up to a 64-bit collision). Digests of disjoint parts of one side, made by
// separate workers over separate files, merge by adding.
type Digest struct {
	Counts []uint64 `json:"counts"`
	Sums   []uint64 `json:"sums"`
}

// NewDigest returns an empty digest over n partitions.
func NewDigest(n int) *Digest {
	return &Digest{Counts: make([]uint64, n), Sums: make([]uint64, n)}
}

// Partitions returns the number of partitions.
func (d *Digest) Partitions() int { return len(d.Counts) }

// Add counts one row of the given partition and fingerprint.
func (d *Digest) Add(partition int, fp Fingerprint) {
	d.Counts[partition]++
	d.Sums[partition] += uint64(fp)
}

// Merge adds another digest of the same side into d.
func (d *Digest) Merge(o *Digest) error {
	if len(o.Counts) != len(d.Counts) || len(o.Sums) != len(d.Sums) {
		return fmt.Errorf("merging digests of %d and %d partitions", len(d.Counts), len(o.Counts))
	}
	for i := range d.Counts {
		d.Counts[i] += o.Counts[i]
		d.Sums[i] += o.Sums[i]
	}
	return nil
}

// Rows returns the number of rows the digest counted.
func (d *Digest) Rows() int64 {
	var n uint64
	for _, c := range d.Counts {
		n += c
	}
	return int64(n)
}

// Unequal returns, for each partition, whether the two digests differ
// there: those partitions, and only those, need phase 2.
func Unequal(a, b *Digest) []bool {
	out := make([]bool, len(a.Counts))
	for i := range out {
		out[i] = a.Counts[i] != b.Counts[i] || a.Sums[i] != b.Sums[i]
	}
	return out
}
