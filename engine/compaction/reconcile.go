package compaction

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cassmove/shadow/engine/sstable"
)

// The reconciliation rules of Cassandra 4.x/5.0 (db/rows/Cells.java,
// LivenessInfo.java, DeletionTime.java, db/context/CounterContext.java),
// written out one by one so that the tests can name them.

// regularWins reports whether cell a wins over cell b (Cells.resolveRegular
// with a as the left cell: the left cell keeps a full tie).
//
//  1. the higher timestamp wins;
//  2. on a tie, an expiring-or-tombstone cell beats a live regular cell
//     (CASSANDRA-14592);
//  3. between two of those, a tombstone beats an expiring cell;
//  4. then the higher local deletion time wins;
//  5. then the greater value bytes (unsigned), the left cell on equality.
func regularWins(a, b *sstable.Cell) bool {
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	aET := a.LocalDeletionTime != sstable.NoDeletionTime
	bET := b.LocalDeletionTime != sstable.NoDeletionTime
	if aET || bET {
		if aET != bET {
			return aET
		}
		aTomb, bTomb := !a.IsExpiring(), !b.IsExpiring()
		if aTomb != bTomb {
			return aTomb
		}
		if a.LocalDeletionTime != b.LocalDeletionTime {
			return a.LocalDeletionTime > b.LocalDeletionTime
		}
	}
	return bytes.Compare(a.Value, b.Value) >= 0
}

// livenessSupersedes is LivenessInfo.supersedes: the higher timestamp; on a
// tie an expired (materialized-view) liveness beats a live one; then, when
// both expire or neither does, the later expiration; else the expiring one.
func livenessSupersedes(a, b sstable.LivenessInfo) bool {
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	aExp, bExp := a.TTL == sstable.ExpiredLivenessTTL, b.TTL == sstable.ExpiredLivenessTTL
	if aExp != bExp {
		return aExp
	}
	if a.IsExpiring() == b.IsExpiring() {
		return a.LocalExpirationTime > b.LocalExpirationTime
	}
	return a.IsExpiring()
}

// maxDeletion returns the deletion that supersedes the other
// (DeletionTime.supersedes: higher markedForDeleteAt, then higher local
// deletion time).
func maxDeletion(a, b sstable.DeletionTime) sstable.DeletionTime {
	if b.Supersedes(a) {
		return b
	}
	return a
}

// Counter contexts (CounterContext): a header of int16 n and n int16
// element indices (negative: a global shard at index - Short.MIN_VALUE;
// otherwise a local shard), then shards of 16-byte counter id, int64 clock,
// int64 count, sorted by counter id. Shards not named in the header are
// remote (pre-2.1 legacy).
const shardLen = 32

type shardKind uint8

const (
	shardRemote shardKind = iota
	shardLocal
	shardGlobal
)

type shard struct {
	id    [16]byte
	clock int64
	count int64
	kind  shardKind
}

// parseContext appends the shards of a counter context to dst.
func parseContext(dst []shard, b []byte) ([]shard, error) {
	if len(b) < 2 {
		return dst, fmt.Errorf("counter context of %d bytes", len(b))
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	if n < 0 {
		n = -n
	}
	body := 2 + 2*n
	if body > len(b) || (len(b)-body)%shardLen != 0 {
		return dst, fmt.Errorf("counter context of %d bytes with %d header elements: want 2+2×elements+32×shards", len(b), n)
	}
	start := len(dst)
	for off := body; off < len(b); off += shardLen {
		var s shard
		copy(s.id[:], b[off:off+16])
		s.clock = int64(binary.BigEndian.Uint64(b[off+16:]))
		s.count = int64(binary.BigEndian.Uint64(b[off+24:]))
		dst = append(dst, s)
	}
	shards := (len(b) - body) / shardLen
	for i := 0; i < n; i++ {
		e := int16(binary.BigEndian.Uint16(b[2+2*i:]))
		idx, kind := int(e), shardLocal
		if e < 0 {
			idx, kind = int(e)-(-32768), shardGlobal
		}
		if idx < 0 || idx >= shards {
			return dst[:start], fmt.Errorf("counter context header names shard %d of %d", idx, shards)
		}
		dst[start+idx].kind = kind
	}
	return dst, nil
}

// shardRelation is CounterContext.compare for two shards of one counter id:
// >0 keep a, <0 keep b, 0 equal (keep b), and sum reports two local shards,
// which add up.
func shardRelation(a, b *shard) (rel int, sum bool) {
	switch {
	case a.kind == shardGlobal || b.kind == shardGlobal:
		if a.kind == shardGlobal && b.kind == shardGlobal {
			if a.clock == b.clock {
				switch {
				case a.count > b.count:
					return 1, false
				case a.count == b.count:
					return 0, false
				}
				return -1, false
			}
			if a.clock > b.clock {
				return 1, false
			}
			return -1, false
		}
		if a.kind == shardGlobal {
			return 1, false
		}
		return -1, false
	case a.kind == shardLocal || b.kind == shardLocal:
		if a.kind == shardLocal && b.kind == shardLocal {
			return 0, true
		}
		if a.kind == shardLocal {
			return 1, false
		}
		return -1, false
	}
	if a.clock == b.clock {
		switch {
		case a.count > b.count:
			return 1, false
		case a.count == b.count:
			return 0, false
		}
		return -1, false
	}
	if (a.clock >= 0 && b.clock > 0 && a.clock >= b.clock) || (a.clock < 0 && (b.clock > 0 || a.clock < b.clock)) {
		return 1, false
	}
	return -1, false
}

// mergeShards merges two sorted shard lists the way CounterContext.merge
// does, into dst: per counter id the shard that wins shardRelation, two
// local shards summed. The same shard seen on several replicas therefore
// counts once.
func mergeShards(dst, a, b []shard) []shard {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		c := bytes.Compare(a[i].id[:], b[j].id[:])
		switch {
		case c == 0:
			rel, sum := shardRelation(&a[i], &b[j])
			switch {
			case sum:
				s := a[i]
				s.clock += b[j].clock
				s.count += b[j].count
				dst = append(dst, s)
			case rel > 0:
				dst = append(dst, a[i])
			default:
				dst = append(dst, b[j])
			}
			i++
			j++
		case c < 0:
			dst = append(dst, a[i])
			i++
		default:
			dst = append(dst, b[j])
			j++
		}
	}
	dst = append(dst, a[i:]...)
	return append(dst, b[j:]...)
}

func shardTotal(s []shard) int64 {
	var t int64
	for i := range s {
		t += s[i].count
	}
	return t
}
