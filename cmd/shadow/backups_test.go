package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cassmove/shadow/engine/backup/backuptest"
	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/s3test"
)

var backupDay = time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)

// medusaStore lays out three nightly Medusa backups of a 2-DC cluster:
// the first two complete, the last one missing a node.
func medusaStore(t *testing.T, st objstore.Store) {
	t.Helper()
	ctx := context.Background()
	cl := backuptest.New([]string{"dc1", "dc2"}, 2, 2, 4)
	skew := func(i int) time.Duration { return time.Duration(i) * 10 * time.Minute }
	for d, name := range []string{"2026-11-20", "2026-11-21", "2026-11-22"} {
		o := backuptest.Options{Skew: skew}
		if d == 2 {
			o.Skip = map[string]bool{"dc2-node2.example.com": true}
		}
		cl.Generation = 10 * d
		if err := cl.WriteMedusa(ctx, st, name, backupDay.Add(time.Duration(d)*24*time.Hour), o); err != nil {
			t.Fatal(err)
		}
	}
}

// priamStore lays out two Priam snapshots of a 3-node ring; in the second
// one a file is lost after the upload.
func priamStore(t *testing.T, st objstore.Store) {
	t.Helper()
	ctx := context.Background()
	cl := backuptest.Priam([]string{"us-east-1"}, 3)
	o := backuptest.Options{Base: "backup", App: "fake-app", Skew: func(i int) time.Duration { return time.Duration(i) * time.Hour }}
	for d := range 2 {
		cl.Generation = 10 * d
		if err := cl.WritePriam(ctx, st, backupDay.Add(time.Duration(d)*24*time.Hour), o); err != nil {
			t.Fatal(err)
		}
	}
}

func fileStore(t *testing.T, fill func(*testing.T, objstore.Store)) (string, string) {
	dir := t.TempDir()
	st, err := objstore.Open(context.Background(), "file://"+dir, objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, st)
	return dir, "file://" + dir
}

// transcript renders one run for a golden file.
func transcript(r cliResult) string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// backupsCase is one backups command whose transcript is compared with
// testdata/backups/<name>.
type backupsCase struct {
	name string
	args []string
	code int
}

// runBackupsCases runs each case as a subtest, checks its exit code and
// compares its transcript, scrubbed, with the golden file.
func runBackupsCases(t *testing.T, cases []backupsCase, scrub ...string) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, "", c.args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, c.code, r.Stdout, r.Stderr)
			}
			golden(t, "backups/"+c.name, transcript(r), scrub...)
		})
	}
}

func TestBackupsMedusaGolden(t *testing.T) {
	dir, uri := fileStore(t, medusaStore)
	runBackupsCases(t, []backupsCase{
		{"medusa-list", []string{"backups", "list", "--store", uri}, 0},
		{"medusa-list-verify", []string{"backups", "list", "--store", uri, "--verify"}, 0},
		{"medusa-list-json", []string{"backups", "list", "--store", uri, "--json", "--limit", "2"}, 0},
		{"medusa-list-as-of", []string{"backups", "list", "--store", uri, "--as-of", "2026-11-21"}, 0},
		{"medusa-show", []string{"backups", "show", "--store", uri}, 0},
		{"medusa-show-json", []string{"backups", "show", "--store", uri, "--json", "2026-11-20"}, 0},
		{"medusa-show-incomplete", []string{"backups", "show", "--store", uri, "2026-11-22"}, 0},
		{"medusa-verify-latest", []string{"backups", "verify", "--store", uri}, 2},
		{"medusa-verify-json", []string{"backups", "verify", "--store", uri, "--json", "2026-11-22"}, 2},
		{"medusa-verify-ok", []string{"backups", "verify", "--store", uri, "--as-of", "2026-11-21T12:00:00Z"}, 0},
		{"medusa-verify-unknown", []string{"backups", "verify", "--store", uri, "2026-12-01"}, 2},
		{"medusa-show-none", []string{"backups", "show", "--store", uri, "--as-of", "2026-01-01"}, 2},
	}, regexp.QuoteMeta(dir), "STORE")
}

func TestBackupsPriamGolden(t *testing.T) {
	dir, uri := fileStore(t, priamStore)
	// Lose one SSTable component of the newest snapshot.
	var lost string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, "nb-12-big-Data.db") && strings.Contains(p, "/orders-") && lost == "" {
			lost = p
		}
		return nil
	})
	if lost == "" {
		t.Fatal("no file to lose")
	}
	os.Remove(lost)
	runBackupsCases(t, []backupsCase{
		{"priam-list", []string{"backups", "list", "--store", uri, "--cluster", "fake-app", "--verify"}, 0},
		{"priam-show", []string{"backups", "show", "--store", uri, "--layout", "priam"}, 0},
		{"priam-list-window", []string{"backups", "list", "--store", uri, "--snapshot-window", "90m", "--as-of", "2026-11-21T23:00:00Z", "--limit", "2"}, 0},
		{"priam-verify", []string{"backups", "verify", "--store", uri, "--cluster", "fake-app", "--layout", "priam"}, 2},
		{"priam-unknown-app", []string{"backups", "list", "--store", uri, "--cluster", "other-app"}, 2},
		{"priam-forced-medusa", []string{"backups", "list", "--store", uri, "--layout", "medusa"}, 2},
	}, regexp.QuoteMeta(dir), "STORE")
}

func TestBackupsBadInput(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		name string
		args []string
	}{
		{"no-store", []string{"backups", "list"}},
		{"bad-uri", []string{"backups", "list", "--store", "ftp://host/x"}},
		{"bad-layout", []string{"backups", "list", "--store", "file://" + empty, "--layout", "cassandra"}},
		{"bad-as-of", []string{"backups", "list", "--store", "file://" + empty, "--as-of", "yesterday"}},
		{"bad-window", []string{"backups", "list", "--store", "file://" + empty, "--snapshot-window", "0s"}},
		{"empty-store", []string{"backups", "list", "--store", "file://" + empty}},
		{"id-and-as-of", []string{"backups", "show", "--store", "file://" + empty, "x", "--as-of", "2026-01-01"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runShadow(t, "", c.args...)
			if r.Code != exitUsage {
				t.Errorf("exit %d, want 2\nstderr: %s", r.Code, r.Stderr)
			}
			golden(t, "backups/bad-"+c.name, transcript(r), regexp.QuoteMeta(empty), "EMPTY")
		})
	}
}

func TestBackupsSchemaOverride(t *testing.T) {
	_, uri := fileStore(t, medusaStore)
	dir := t.TempDir()
	cql := filepath.Join(dir, "override.cql")
	os.WriteFile(cql, []byte("CREATE KEYSPACE other WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\nCREATE TABLE other.t (k int PRIMARY KEY);\n"), 0o644)
	r := runShadow(t, "", "backups", "show", "--store", uri, "--schema", cql)
	if r.Code != 0 || !strings.Contains(r.Stdout, "file from "+cql) || !strings.Contains(r.Stdout, "other (SimpleStrategy rf=1): t") {
		t.Fatalf("--schema: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	os.WriteFile(cql, []byte("CREATE TABLE other.t (k int PRIMARY KEY"), 0o644)
	r = runShadow(t, "", "backups", "show", "--store", uri, "--schema", cql)
	if r.Code != exitUsage || !strings.Contains(r.Stderr, cql+":1:") {
		t.Fatalf("bad --schema: exit %d, stderr %s", r.Code, r.Stderr)
	}
}

func TestBackupsConfigStore(t *testing.T) {
	_, uri := fileStore(t, priamStore)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "shadow.yaml"), []byte(fmt.Sprintf("stores:\n  archive: {uri: %q, layout: priam, cluster: fake-app}\n", uri)), 0o644)
	r := runShadow(t, dir, "backups", "list", "--store", "archive")
	if r.Code != 0 || !strings.Contains(r.Stdout, "202611210100") {
		t.Fatalf("named store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = runShadow(t, dir, "backups", "list")
	if r.Code != 0 || !strings.Contains(r.Stdout, "202611200100") {
		t.Fatalf("the only configured store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestBackupsS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "archive")
	srv.Setenv(t)
	ctx := context.Background()
	st, err := objstore.Open(ctx, "s3://archive/cassandra", objstore.Settings{Endpoint: srv.Endpoint, PathStyle: true, Region: srv.Region})
	if err != nil {
		t.Fatal(err)
	}
	medusaStore(t, st)
	r := runShadowEnv(t, "", srv.Env(), "backups", "list", "--store", "s3://archive/cassandra", "--s3-path-style", "--verify")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	golden(t, "backups/s3-list", transcript(r))
	r = runShadowEnv(t, "", srv.Env(), "backups", "verify", "--store", "s3://archive/cassandra", "--s3-path-style", "2026-11-21")
	if r.Code != 0 || !strings.Contains(r.Stdout, "complete") {
		t.Fatalf("verify over S3: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Wrong credentials: refused at once, exit 3, naming the object.
	env := append(srv.Env(), "AWS_SECRET_ACCESS_KEY=wrong")
	r = runShadowEnv(t, "", env, "backups", "list", "--store", "s3://archive/cassandra", "--s3-path-style")
	if r.Code != exitFailure || !strings.Contains(r.Stderr, "access denied") || !strings.Contains(r.Stderr, "s3://archive/cassandra/") {
		t.Fatalf("bad credentials: exit %d, stderr %s", r.Code, r.Stderr)
	}
	// A missing bucket is the user's to fix.
	r = runShadowEnv(t, "", srv.Env(), "backups", "list", "--store", "s3://no-such-bucket", "--s3-path-style")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, `bucket "no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: exit %d, stderr %s", r.Code, r.Stderr)
	}
}

func TestBackupsS3Unreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for retries")
	}
	// Nothing listens on this port: the connection is refused, retried
	// with backoff, then reported with the attempts (exit 3).
	port := freePort(t)
	env := []string{"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y", "AWS_REGION=us-east-1"}
	r := runShadowEnv(t, "", env, "backups", "list", "--store", "s3://archive/x", "--s3-path-style", "--s3-endpoint", fmt.Sprintf("http://127.0.0.1:%d", port))
	if r.Code != exitFailure {
		t.Fatalf("exit %d, stderr %s", r.Code, r.Stderr)
	}
	golden(t, "backups/s3-unreachable", transcript(r), fmt.Sprintf("%d", port), "PORT")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
