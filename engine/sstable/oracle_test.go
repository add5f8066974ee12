package sstable

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cassmove/shadow/engine/token"
)

// oracleLines renders an SSTable in the JSON-lines shape of
// shared/tools/sstverify/dump.py (values in hex, absolute times), so the
// reader can be compared with the goldens that independent reader produced.
func oracleLines(t testing.TB, r *Reader, name string) []string {
	t.Helper()
	ctx := context.Background()
	sc, err := r.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	version := r.Version().Name
	if r.Version().Format == "bti" {
		version = "oa"
	}
	var out []string
	for sc.NextPartition() {
		p := sc.Partition()
		obj := map[string]any{
			"key":     hex.EncodeToString(p.Key),
			"token":   token.Murmur3Token(p.Key),
			"sstable": name,
			"version": version,
			"static":  nil,
		}
		obj["deletion"] = delJSON(p.Deletion)
		if p.Static != nil {
			obj["static"] = rowJSON(p.Static, false)
		}
		rows := []any{}
		for sc.Next() {
			u := sc.Unfiltered()
			if u.Kind == UnfilteredMarker {
				m := u.Marker
				var dels []any
				if m.Bound.Kind.IsBoundary() {
					dels = []any{pair(m.Close), pair(m.Open)}
				} else if m.Bound.Kind.IsStart() {
					dels = []any{pair(m.Open)}
				} else {
					dels = []any{pair(m.Close)}
				}
				rows = append(rows, map[string]any{"marker": int(m.Bound.Kind), "bound": hexList(m.Bound.Values), "deletion": dels})
				continue
			}
			rows = append(rows, rowJSON(&u.Row, true))
		}
		obj["rows"] = rows
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func pair(d DeletionTime) []any { return []any{d.MarkedForDeleteAt, ldtJSON(d.LocalDeletionTime)} }

func delJSON(d DeletionTime) any {
	if d.IsLive() {
		return nil
	}
	return pair(d)
}

func ldtJSON(v int64) any {
	if v == NoDeletionTime {
		return nil
	}
	return v
}

func hexList(vs Clustering) []any {
	out := []any{}
	for _, v := range vs {
		if v == nil {
			out = append(out, nil)
		} else {
			out = append(out, hex.EncodeToString(v))
		}
	}
	return out
}

func rowJSON(r *Row, withClustering bool) map[string]any {
	var ts, ttl, ldt any
	if !r.Liveness.IsEmpty() {
		ts = r.Liveness.Timestamp
		if r.Liveness.IsExpiring() {
			ttl, ldt = int64(r.Liveness.TTL), r.Liveness.LocalExpirationTime
		}
	}
	cells := map[string]any{}
	cell := func(c *Cell) map[string]any {
		m := map[string]any{"flags": int(c.Flags), "ts": c.Timestamp, "ttl": int64(c.TTL), "ldt": ldtJSON(c.LocalDeletionTime), "path": nil, "value": hex.EncodeToString(c.Value)}
		if c.Path != nil {
			m["path"] = hex.EncodeToString(c.Path)
		}
		if c.Flags&CellUseRowTTL != 0 && !r.Liveness.IsExpiring() {
			m["ttl"] = nil
		}
		return m
	}
	for _, cd := range r.Columns {
		if !cd.Column.Complex() {
			cells[cd.Column.Name] = cell(&cd.Cells[0])
			continue
		}
		cs := []any{}
		for i := range cd.Cells {
			cs = append(cs, cell(&cd.Cells[i]))
		}
		cells[cd.Column.Name] = map[string]any{"complex_deletion": delJSON(cd.Deletion), "cells": cs}
	}
	m := map[string]any{"liveness": []any{ts, ttl, ldt}, "deletion": delJSON(r.Deletion), "cells": cells}
	if withClustering {
		m["clustering"] = hexList(r.Clustering)
	}
	return m
}

// jsonEqual compares two JSON documents exactly (numbers as written).
func jsonEqual(a, b string) bool {
	var x, y any
	da := json.NewDecoder(strings.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(strings.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func readGolden(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) > 0 {
			lines = append(lines, string(l))
		}
	}
	return lines
}

// legacyTables lists the copied Cassandra fixtures: testdata/legacy-sstables/<v>/legacy_tables/<table>.
func legacyTables(t testing.TB) []string {
	dirs, err := filepath.Glob("testdata/legacy-sstables/*/legacy_tables/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}
