// Package testenv holds the helpers every b2fs test package shares to decide
// whether the machine can run a test, and to build the project's binaries once
// per test binary.
//
// A test that needs FUSE or an external tool calls RequireFUSE or RequireTool.
// On a developer machine a missing requirement skips the test (and
// scripts/test.sh then fails the run unless it was asked for a partial run);
// in CI (CI=true) it fails the test, so a CI run can never pass by skipping.
//
// It also holds the small pieces the mount harnesses share: IsMounted reads
// the mount table, SyncBuffer collects a subprocess's output, CredEnv passes
// credentials through the environment and Tail shortens logs for failures.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every
// requirement must be met.
func InCI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// missing fails the test in CI and skips it elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("requirement missing in CI: %s (scripts/test.sh installs it)", msg)
	}
	t.Skipf("requirement missing: %s (scripts/test.sh installs tools on Debian; a run with skips fails unless partial: scripts/test.sh --partial)", msg)
}

// RequireTool makes sure each named program is on PATH.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing(t, "tool %q not found on PATH", n)
		}
	}
}

// RequireFUSE makes sure this process can mount FUSE filesystems: Linux,
// /dev/fuse present and openable, and fusermount3 (or fusermount) available
// for unmounting.
func RequireFUSE(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		missing(t, "FUSE tests need Linux")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		missing(t, "cannot open /dev/fuse: %v", err)
		return
	}
	f.Close()
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err := exec.LookPath("fusermount"); err != nil {
			missing(t, "fusermount3 not found (Debian package fuse3)")
		}
	}
}

// RepoRoot returns the repository's top directory (the one holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Binary builds ./cmd/<name> once per test binary and returns the path of the
// executable. The directory is removed by Cleanup, which TestMain should
// defer.
func Binary(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "b2fs-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

// Cleanup removes the binaries built by Binary.
func Cleanup() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
		built = map[string]string{}
		debPath = ""
	}
}

// RequireRoot makes sure the test runs as root (it boots a container or
// installs packages).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "the test must run as root")
	}
}
