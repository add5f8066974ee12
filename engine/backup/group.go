package backup

import (
	"sort"
	"time"
)

// group puts node snapshots together into cluster backups.
//
// Nodes snapshot at different moments (cron jitter, slow nodes, a node
// retried an hour later), so one clock second does not identify a cluster
// backup. A unit (a single node snapshot; for Medusa, all node backups
// sharing one backup name) joins the open group when it starts within
// window of the group's first snapshot and brings no node the group
// already has; otherwise it opens a new group. Units are taken in order of
// their first snapshot, so the result does not depend on listing order.
func group(snaps []*NodeSnapshot, byName bool, window time.Duration) [][]*NodeSnapshot {
	type unit struct {
		start time.Time
		key   string
		snaps []*NodeSnapshot
	}
	var units []*unit
	if byName {
		idx := map[string]*unit{}
		for _, s := range snaps {
			u := idx[s.Name]
			if u == nil {
				u = &unit{start: s.Time, key: s.Name}
				idx[s.Name] = u
				units = append(units, u)
			}
			// A node backed up twice under one name (it should not
			// happen) keeps the later one.
			replaced := false
			for i, o := range u.snaps {
				if o.Node == s.Node {
					if s.Time.After(o.Time) {
						u.snaps[i] = s
					}
					replaced = true
				}
			}
			if !replaced {
				u.snaps = append(u.snaps, s)
			}
			if s.Time.Before(u.start) {
				u.start = s.Time
			}
		}
	} else {
		for _, s := range snaps {
			units = append(units, &unit{start: s.Time, key: s.Node, snaps: []*NodeSnapshot{s}})
		}
	}
	sort.SliceStable(units, func(i, j int) bool {
		if !units[i].start.Equal(units[j].start) {
			return units[i].start.Before(units[j].start)
		}
		return units[i].key < units[j].key
	})
	var groups [][]*NodeSnapshot
	var cur []*NodeSnapshot
	var curStart time.Time
	nodes := map[string]bool{}
	for _, u := range units {
		fits := cur != nil && !u.start.After(curStart.Add(window))
		for _, s := range u.snaps {
			if nodes[s.Node] {
				fits = false
			}
		}
		if !fits {
			if cur != nil {
				groups = append(groups, cur)
			}
			cur, curStart, nodes = nil, u.start, map[string]bool{}
		}
		for _, s := range u.snaps {
			cur = append(cur, s)
			nodes[s.Node] = true
		}
	}
	if cur != nil {
		groups = append(groups, cur)
	}
	return groups
}
