package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestMetaPendingThenWrite: a metadata change of a closed file still
// waiting for --metadata-delay never overrides what happens to the file
// once it is opened for writing or truncated; a later change always wins,
// in the mount and in B2 (after a remount).
func TestMetaPendingThenWrite(t *testing.T) {
	for _, delay := range []string{"1h", "300ms"} {
		t.Run("delay="+delay, func(t *testing.T) {
			w := newWriteEnv(t, "--metadata-delay", delay)
			check := func(t *testing.T, dir, name string, mode os.FileMode, after time.Time) {
				t.Helper()
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: mode %o, want %o", name, fi.Mode().Perm(), mode)
				}
				if !after.IsZero() && fi.ModTime().Before(after.Add(-time.Second)) {
					t.Errorf("%s: mtime %v, want after %v", name, fi.ModTime(), after)
				}
			}
			var start time.Time
			// The pending utimes is older than the truncation: the
			// truncation's time wins.
			start = time.Now()
			sh(t, w.m.Dir, "echo x > trunc; touch -d @1500000000 trunc; sleep 0.1; : > trunc")
			check(t, w.m.Dir, "trunc", 0o644, start)
			sh(t, w.m.Dir, "sync trunc")
			check(t, w.m.Dir, "trunc", 0o644, start)

			// chmod while closed (pending), then open for writing,
			// chmod while open, write, close: the later chmod wins.
			sh(t, w.m.Dir, "echo x > open; chmod 600 open")
			p := filepath.Join(w.m.Dir, "open")
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o640); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("yy"), 0); err != nil {
				t.Fatal(err)
			}
			check(t, w.m.Dir, "open", 0o640, time.Time{})
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			check(t, w.m.Dir, "open", 0o640, time.Time{})

			// chmod of an open file just uploaded (fsync), then a write,
			// then close: the chmod is kept.
			f, err = os.OpenFile(filepath.Join(w.m.Dir, "up"), os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("one")); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Fchmod(int(f.Fd()), 0o604); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("two")); err != nil {
				t.Fatal(err)
			}
			check(t, w.m.Dir, "up", 0o604, time.Time{})
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			check(t, w.m.Dir, "up", 0o604, time.Time{})
			time.Sleep(500 * time.Millisecond) // any background copy runs
			check(t, w.m.Dir, "trunc", 0o644, start)
			check(t, w.m.Dir, "open", 0o640, time.Time{})
			check(t, w.m.Dir, "up", 0o604, time.Time{})

			w.m.stop(t)
			w2 := mountWrite(t, w.ts, "wbucket")
			check(t, w2.m.Dir, "trunc", 0o644, start)
			check(t, w2.m.Dir, "open", 0o640, time.Time{})
			check(t, w2.m.Dir, "up", 0o604, time.Time{})
		})
	}
}
