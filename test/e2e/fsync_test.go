package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/b2fs/b2fs/test/testenv"
)

// TestFsyncReadOnlyHandle: fsync of a read-only descriptor (what `sync
// FILE` does) succeeds on a file this mount wrote, which the read cache
// serves (through FUSE passthrough where the kernel has it), and sends
// the file's pending metadata change to B2.
func TestFsyncReadOnlyHandle(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "1h")
	p := filepath.Join(w.m.Dir, "synced")
	data := testenv.Pattern(7, 5000)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil { // pending for an hour
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync of a read-only descriptor: %v", err)
	}
	got := w.wantRemote(t, "synced", data)
	if m := got.Info["b2fs-mode"]; m != "600" {
		t.Fatalf("b2fs-mode in B2 after fsync = %q, want 600", m)
	}
}
