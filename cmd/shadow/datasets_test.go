package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const testConfig = `stores:
  archive: {uri: "s3://backups/cass", layout: medusa, cluster: payments}
datasets: ./datasets.yaml
`

const testDatasets = `- name: orders
  owner: payments-data@example.com
  source: {store: archive, keyspace: shop, table: orders, consistency: quorum}
  legacy: iceberg:warehouse.orders
  new: iceberg:shadow.orders
  key: [order_id]
  normalize: {ignore: [etl_batch], round: {amount: 2}}
  cohort: early
  labels: {team: payments}
- name: events
  owner: events-team
  source: {store: "file:///data/backups", cluster: main, keyspace: ks, table: ev}
  legacy: warehouse.events
  new: shadow.events
  schedule: "30 1 * * 1-5"
  connector: {name: timeseries, options: {slice: 1d}}
- name: users
  owner: identity
  source: {store: archive, keyspace: idm, table: users}
  legacy: warehouse.users
  new: shadow.users
  key: id
  cohort: early
`

const badDatasets = `- name: orders
  owner: payments-data@example.com
  source: {store: archiv, keyspace: shop, table: orders, consistency: TWO}
  legacy: iceberg:warehouse.orders@5
  new: iceberg:shadow.orders
  shedule: nightly
- name: events
  source: {store: "file:///data/backups", keyspace: ks, table: ev}
  legacy: warehouse.events
  new: shadow.events
  schedule: "0 2 * *"
  connector: kv
- name: orders
  owner: x
  source: {store: archive, keyspace: shop, table: orders2}
  legacy: warehouse.orders2
  new: shadow.orders2
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDatasetsCLI(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"shadow.yaml":         testConfig,
		"datasets.yaml":       testDatasets,
		"bad.yaml":            badDatasets,
		"inline/shadow.yaml":  "datasets:\n  - {name: solo, owner: me, source: {store: \"s3://b/p\", keyspace: k, table: t}, legacy: l.t, new: n.t}\n",
		"conf/shadow.yaml":    "datasets: sub/ds.yaml\n",
		"conf/sub/ds.yaml":    "datasets:\n  - {name: nested, owner: me, source: {store: \"s3://b/p\", keyspace: k, table: t}, legacy: l.t, new: n.t}\n",
		"empty/shadow.yaml":   "db: x.db\n",
		"mapping/shadow.yaml": "datasets: {name: x}\n",
	})
	for _, c := range []struct {
		name string
		dir  string
		args []string
		code int
	}{
		{"validate", "", []string{"datasets", "validate"}, exitOK},
		{"validate-json", "", []string{"datasets", "validate", "--json"}, exitOK},
		{"validate-errors", "", []string{"datasets", "validate", "--datasets", "bad.yaml"}, exitUsage},
		{"validate-errors-json", "", []string{"datasets", "validate", "--datasets", "bad.yaml", "--json"}, exitUsage},
		{"validate-missing-file", "", []string{"datasets", "validate", "--datasets", "nope.yaml"}, exitUsage},
		{"validate-inline", "inline", []string{"datasets", "validate"}, exitOK},
		{"validate-relative-path", "conf", []string{"datasets", "validate"}, exitOK},
		{"validate-not-configured", "empty", []string{"datasets", "validate"}, exitUsage},
		{"validate-mapping", "mapping", []string{"datasets", "validate"}, exitUsage},
		{"list", "", []string{"datasets", "list"}, exitOK},
		{"list-limit", "", []string{"datasets", "list", "--limit", "2"}, exitOK},
		{"list-json", "", []string{"datasets", "list", "--json"}, exitOK},
		{"list-bad", "", []string{"datasets", "list", "--datasets", "bad.yaml"}, exitUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, filepath.Join(dir, c.dir), c.args...)
			if r.Code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			golden(t, "datasets/"+c.name, "$ shadow "+strings.Join(c.args, " ")+"\n"+transcript(r), regexp.QuoteMeta(dir), "DIR")
		})
	}
}
