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
// of a file already in B2 (chown, setxattr, then chmod while it is open
// for writing) survive a kill -9 once the call that made them returned
// (docs/write-back.md): with nothing more than a close without writes,
// or with fsync of the file, or b2fs sync.
func TestWriteBackMetadataAcrossCrash(t *testing.T) {
	for _, how := range []string{"close", "fsync", "sync"} {
		t.Run(how, func(t *testing.T) {
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
			if how == "fsync" {
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if how == "sync" {
				e.syncMount(p1)
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
				t.Errorf("after the crash d has mode %o gid %d xattr %q (%v); want mode 532 gid 1000 xattr \"v\"", st.Mode&0o7777, st.Gid, x[:max(n, 0)], xerr)
			}
			p2.stop()
		})
	}
}
