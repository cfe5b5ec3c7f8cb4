package e2e

import (
	"testing"
	"time"
)

// TestInodeNumbersStable: st_ino of a file does not change when the kernel
// forgets its inode (here the --max-file-inodes cap makes it forget) and
// looks it up again, nor across a remount: git's index, rsync and backup
// tools compare inode numbers, and a changed one makes git hash every file
// again (and freshen the objects: a metadata copy each in B2).
func TestInodeNumbersStable(t *testing.T) {
	w := newWriteEnv(t, "--max-file-inodes", "10")
	const statAll = "stat -c '%n %i' d/* d"
	sh(t, w.m.Dir, "mkdir d && for i in $(seq 1 40); do echo $i > d/f$i; done")
	first := sh(t, w.m.Dir, statAll)
	time.Sleep(time.Second) // the cap's forgets reach the kernel in the background
	if again := sh(t, w.m.Dir, statAll); again != first {
		t.Fatalf("inode numbers changed after the kernel forgot the inodes:\n%s\nbefore:\n%s", again, first)
	}
	// A lock file renamed over its target, twice (git, editors): the
	// second lock file is a new file with a number of its own.
	if out := sh(t, w.m.Dir, "echo a > x.lock && mv x.lock x && echo bb > x.lock && mv x.lock x && ls x* && cat x"); out != "x\nbb\n" {
		t.Fatalf("lock file renamed twice: %q, want x holding bb", out)
	}
	w.m.stop(t)
	w2 := mountWrite(t, w.ts, "wbucket")
	if again := sh(t, w2.m.Dir, statAll); again != first {
		t.Fatalf("inode numbers changed across a remount:\n%s\nbefore:\n%s", again, first)
	}
}
