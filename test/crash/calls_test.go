package crash

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

// B2 calls of write-back workloads on a real mount, counted by b2emu from
// just before the command until the mount is stopped (after b2fs sync).

// callsSince returns b2emu's counters and their total.
func (e *env) calls() (map[string]int64, int64) {
	st := e.ts.Stats()
	var n int64
	for _, v := range st.Calls {
		n += v
	}
	return st.Calls, n
}

// quiet waits until b2emu's counters have not moved for d (what the
// mount still does after b2fs sync: deferred marker checks).
func (e *env) quiet(d time.Duration) {
	_, last := e.calls()
	since := time.Now()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, n := e.calls(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= d {
			return
		}
	}
	e.t.Fatal("b2fs kept calling B2 for a minute after b2fs sync")
}

func fmtCalls(c map[string]int64) string {
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%s×%d", strings.TrimPrefix(k, "b2_"), v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestWriteBackRsyncCalls: rsync -a of a tree into a write-back mount
// uploads every file once under its final name, and the directories'
// markers at most once each with their final metadata: no copy, hide or
// delete (rsync makes each directory 0700 and sets its mode and times
// last; its temporary names never reach B2).
func TestWriteBackRsyncCalls(t *testing.T) {
	testenv.RequireTool(t, "rsync")
	src := filepath.Join(t.TempDir(), "src")
	const dirs, files = 6, 120
	for i := 0; i < files; i++ {
		d := filepath.Join(src, fmt.Sprintf("d%02d", i%dirs))
		if i%dirs == 5 {
			d = filepath.Join(src, fmt.Sprintf("d%02d", i%dirs), "sub")
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), []byte(strings.Repeat("x", 100+i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One directory keeps a mode of its own (its marker must go up).
	if err := os.Chmod(filepath.Join(src, "d01"), 0o750); err != nil {
		t.Fatal(err)
	}
	// Listings expire while rsync runs: the markers' fate is then decided
	// with a list call, not from the cache.
	e := newEnv(t, mode{"writeback", []string{"--write-back=1s", "--dir-cache-ttl=300ms"}})
	p := e.start(e.dir, e.cache)
	e.ts.ResetStats()
	if out, err := exec.Command("rsync", "-a", src+"/", filepath.Join(e.dir, "t")+"/").CombinedOutput(); err != nil {
		t.Fatalf("rsync: %v\n%s", err, out)
	}
	e.syncMount(p)
	p.stop()
	c, total := e.calls()
	t.Logf("rsync -a of %d files in %d directories: %d B2 calls: %s", files, dirs+2, total, fmtCalls(c))
	if n := c["b2_copy_file"] + c["b2_hide_file"] + c["b2_delete_file_version"]; n != 0 {
		t.Errorf("%d copies, hides and deletes (want 0): %s", n, fmtCalls(c))
	}
	// The files, plus at most one marker per directory (t, 6, d05/sub).
	if up := c["b2_upload_file"]; up < files || up > files+dirs+2 {
		t.Errorf("%d uploads for %d files: %s", up, files, fmtCalls(c))
	}
	cur := e.current()
	if m, ok := cur["t/d01/.bzEmpty"]; !ok || m.Info["b2fs-mode"] != "750" {
		t.Errorf("t/d01's marker: %v %v", ok, m.Info)
	}
	n := 0
	for name := range cur {
		if strings.HasPrefix(name, "t/") && !strings.HasSuffix(name, ".bzEmpty") {
			n++
		}
		if strings.Contains(name, "/.f") {
			t.Errorf("temporary name %s in B2", name)
		}
	}
	if n != files {
		t.Errorf("%d files in B2, want %d", n, files)
	}
}

// TestWriteBackGitCommitCalls: a one-file git commit in a repository on a
// write-back mount costs at most 15 B2 calls (the files that change go
// up once each; lock files, temporary objects and the new object
// directories' markers cost nothing).
func TestWriteBackGitCommitCalls(t *testing.T) {
	testenv.RequireTool(t, "git")
	e := newEnv(t, mode{"writeback", []string{"--write-back=1s"}})
	p := e.start(e.dir, e.cache)
	repo := filepath.Join(e.dir, "repo")
	home := t.TempDir()
	git := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s\nb2fs log:\n%s", script, err, out, testenv.Tail(p.output(), 60))
		}
	}
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	// The files are older than the index, as in a repository in use:
	// files written in the index's second are "racily clean", and git
	// then touches (utime) the objects of all of them at every commit,
	// each a metadata copy in B2 (docs/write-back.md).
	git(`git init -q -b main . && for i in $(seq 1 20); do echo "file $i" > f$i.txt; done && touch -d '2 hours ago' f*.txt && git add -A && git commit -q -m first`)
	e.syncMount(p)
	e.quiet(2 * time.Second)
	e.ts.ResetStats()
	git(`echo change >> f1.txt && git commit -q -am "one file"`)
	e.syncMount(p)
	p.stop()
	c, total := e.calls()
	t.Logf("one-file git commit: %d B2 calls: %s", total, fmtCalls(c))
	if total > 15 {
		t.Errorf("one-file git commit made %d B2 calls (want at most 15): %s", total, fmtCalls(c))
	}
	for name := range e.current() {
		if strings.HasSuffix(name, ".lock") || strings.Contains(name, "tmp_obj") {
			t.Errorf("temporary name %s in B2", name)
		}
	}
}
