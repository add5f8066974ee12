package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// CLI tests run the real binary, built once here, the way users run it.

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var shadowBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "shadow-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	shadowBin = filepath.Join(dir, "shadow")
	if runtime.GOOS == "windows" {
		shadowBin += ".exe"
	}
	build := exec.Command("go", "build", "-o", shadowBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building shadow:", err)
		os.Exit(3)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one invocation of the binary produced.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// runShadow runs the binary in dir (a temp dir when empty) with a clean
// environment so that no user's shadow.yaml or AWS settings leak in.
func runShadow(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	return runShadowEnv(t, dir, nil, args...)
}

func runShadowEnv(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(shadowBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TZ=UTC"}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running shadow %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return cliResult{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// golden compares got with testdata/<name>, rewriting it under -update.
// Each scrub pair replaces a regexp match (temp dirs, times, durations) with
// a fixed string first, so goldens stay stable.
func golden(t *testing.T, name, got string, scrub ...string) {
	t.Helper()
	for i := 0; i+1 < len(scrub); i += 2 {
		got = regexp.MustCompile(scrub[i]).ReplaceAllString(got, scrub[i+1])
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test ./cmd/shadow -run %s -update)", path, err, t.Name())
	}
	if string(want) != got {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func TestExitCodes(t *testing.T) {
	if r := runShadow(t, "", "version"); r.Code != exitOK {
		t.Fatalf("version: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r := runShadow(t, "", "no-such-command")
	if r.Code != exitUsage {
		t.Fatalf("unknown command: exit %d, want %d", r.Code, exitUsage)
	}
	if !bytes.Contains([]byte(r.Stderr), []byte("unknown command")) {
		t.Fatalf("unknown command: stderr %q does not say so", r.Stderr)
	}
	r = runShadow(t, "", "version", "--no-such-flag")
	if r.Code != exitUsage {
		t.Fatalf("unknown flag: exit %d, want %d", r.Code, exitUsage)
	}
	r = runShadow(t, "", "--config", "/nonexistent/shadow.yaml", "version")
	if r.Code != exitUsage {
		t.Fatalf("missing config: exit %d, want %d (stderr %q)", r.Code, exitUsage, r.Stderr)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "shadow.yaml"), []byte("db: x.db\nno_such_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runShadow(t, dir, "version")
	if r.Code != exitUsage || !bytes.Contains([]byte(r.Stderr), []byte("no_such_key")) {
		t.Fatalf("unknown config key: exit %d stderr %q, want exit 2 naming the key", r.Code, r.Stderr)
	}
}
