package sstable

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error from this package wraps one of them (or an
// I/O error from the Source) with the file, the offset and what was expected.
var (
	// ErrCorrupt: bytes that do not decode (truncated files, impossible lengths, bad structure).
	ErrCorrupt = errors.New("corrupt sstable")
	// ErrChecksum: a CRC32 (chunk, CRC.db, Digest.crc32, Statistics.db) does not match.
	ErrChecksum = errors.New("sstable checksum mismatch")
	// ErrMissingComponent: a component the SSTable needs does not exist.
	ErrMissingComponent = errors.New("sstable component missing")
	// ErrUnsupported: a version, format, compressor or partitioner this package does not read.
	ErrUnsupported = errors.New("unsupported sstable")
	// ErrOrder: writer input out of partitioner or clustering order.
	ErrOrder = errors.New("sstable writer input out of order")
)

// errAt wraps sentinel with the file, the offset and what was expected.
func errAt(sentinel error, file string, off int64, format string, args ...any) error {
	return fmt.Errorf("sstable %s at offset %d: %s: %w", file, off, fmt.Sprintf(format, args...), sentinel)
}

// errIn wraps sentinel with the file when no offset applies.
func errIn(sentinel error, file string, format string, args ...any) error {
	return fmt.Errorf("sstable %s: %s: %w", file, fmt.Sprintf(format, args...), sentinel)
}
