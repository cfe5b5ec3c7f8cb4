package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/b2emu"
)

// prefetchTree is what seedPrefetchTree put in a bucket: find's view of it (paths
// relative to the mount, "." excluded) with each entry's size and mode.
type prefetchTree struct {
	lines    []string // "path size mode", sorted
	dirs     int      // directories, the root included
	bytes    int64    // file bytes
	files    int
	markered int // directories with a .bzEmpty marker
}

// seedPrefetchTree puts files files spread over 100 directories (10 top-level
// ones with 9 subdirectories each) into bucket. Every third directory has a
// .bzEmpty marker carrying mode 750; the others are implicit.
func seedPrefetchTree(t *testing.T, ts *b2emu.TestServer, bucket string, files int) prefetchTree {
	t.Helper()
	var dirs []string
	for i := 0; i < 10; i++ {
		top := fmt.Sprintf("t%d", i)
		dirs = append(dirs, top)
		for j := 0; j < 9; j++ {
			dirs = append(dirs, fmt.Sprintf("%s/s%d", top, j))
		}
	}
	var st prefetchTree
	st.dirs = len(dirs) + 1
	for k, d := range dirs {
		mode := "755"
		if k%3 == 0 {
			put(t, ts, bucket, d+"/.bzEmpty", nil, map[string]string{"b2fs-mode": "750"})
			mode = "750"
			st.markered++
		}
		st.lines = append(st.lines, fmt.Sprintf("%s 4096 %s", d, mode))
	}
	body := make([]byte, 64)
	for f := 0; f < files; f++ {
		d := dirs[f%len(dirs)]
		name := fmt.Sprintf("%s/file-%05d", d, f)
		size := f % 50
		put(t, ts, bucket, name, body[:size], nil)
		st.lines = append(st.lines, fmt.Sprintf("%s %d 644", name, size))
		st.bytes += int64(size)
		st.files++
	}
	sort.Strings(st.lines)
	return st
}

// listCalls returns the calls since the last reset, failing on any Class B.
func listCalls(t *testing.T, ts *b2emu.TestServer, what string) int64 {
	t.Helper()
	s := ts.Stats()
	if s.Classes["B"] != 0 || totalCalls(s) != s.Calls["b2_list_file_names"] {
		t.Errorf("%s made calls other than b2_list_file_names: %v (classes %v)", what, s.Calls, s.Classes)
	}
	return s.Calls["b2_list_file_names"]
}

func lines(s string) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(l)
	return l
}

// TestPrefetchTreeCost walks a 5,000-file tree of 100 directories with
// find, ls -lR and du, each on a fresh mount: one b2_list_file_names call
// each (the subtree prefetch), where listing directory by directory costs
// one call per directory.
func TestPrefetchTreeCost(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "tree-bucket")
	st := seedPrefetchTree(t, ts, "tree-bucket", 5000)
	args := []string{"--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m"}
	tests := []struct {
		name  string
		args  []string
		want  int64
		check func(t *testing.T, dir string)
	}{
		{"find", nil, 1, func(t *testing.T, dir string) {
			got := lines(sh(t, dir, `find . -mindepth 1 -printf '%P %s %m\n'`))
			if strings.Join(got, "\n") != strings.Join(st.lines, "\n") {
				t.Fatalf("find printed %d lines, want %d; first %q want %q", len(got), len(st.lines), got[0], st.lines[0])
			}
		}},
		{"ls -lR", nil, 1, func(t *testing.T, dir string) {
			out := sh(t, dir, "ls -lR")
			if n := strings.Count(out, "\n-rw-r--r-- "); n != st.files {
				t.Fatalf("ls -lR shows %d files, want %d", n, st.files)
			}
			if n := strings.Count(out, "\ndrwxr-x--- "); n != st.markered {
				t.Fatalf("ls -lR shows %d directories with mode 750, want %d", n, st.markered)
			}
			if n := strings.Count(out, "\ndrwxr-xr-x "); n != st.dirs-1-st.markered {
				t.Fatalf("ls -lR shows %d directories with mode 755, want %d", n, st.dirs-1-st.markered)
			}
		}},
		{"du -s", nil, 1, func(t *testing.T, dir string) {
			got := strings.Fields(sh(t, dir, "du -sb ."))[0]
			if want := strconv.FormatInt(st.bytes+int64(st.dirs)*4096, 10); got != want {
				t.Fatalf("du -sb = %s, want %s", got, want)
			}
		}},
		// Without prefetch every directory is its own listing (and a
		// subdirectory's marker often one more).
		{"find without prefetch", []string{"--list-prefetch-pages=0"}, -1, func(t *testing.T, dir string) {
			if got := lines(sh(t, dir, `find . -mindepth 1 -printf '%P %s %m\n'`)); len(got) != len(st.lines) {
				t.Fatalf("find printed %d lines, want %d", len(got), len(st.lines))
			}
		}},
		{"ls -lR without prefetch", []string{"--list-prefetch-pages=0"}, -1, func(t *testing.T, dir string) {
			if n := strings.Count(sh(t, dir, "ls -lR"), "\n-rw-r--r-- "); n != st.files {
				t.Fatalf("ls -lR shows %d files, want %d", n, st.files)
			}
		}},
		{"du -s without prefetch", []string{"--list-prefetch-pages=0"}, -1, func(t *testing.T, dir string) {
			sh(t, dir, "du -sb .")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := startMount(t, ts, mountOpts{Source: "tree-bucket", Args: append(append([]string{}, args...), tc.args...)})
			// The mount point's own attributes (its marker lookup) are
			// settled before counting.
			sh(t, m.Dir, "stat . >/dev/null")
			ts.ResetStats()
			tc.check(t, m.Dir)
			got := listCalls(t, ts, tc.name)
			t.Logf("%s over %d files in %d directories: %d b2_list_file_names calls", tc.name, st.files, st.dirs, got)
			if tc.want < 0 {
				// Without prefetch: at least one listing per directory.
				if got < int64(st.dirs) {
					t.Fatalf("%s made %d b2_list_file_names calls, want at least %d", tc.name, got, st.dirs)
				}
			} else if got != tc.want {
				t.Fatalf("%s made %d b2_list_file_names calls, want %d", tc.name, got, tc.want)
			}
			// Everything is cached now: a second walk is free.
			ts.ResetStats()
			tc.check(t, m.Dir)
			if s := ts.Stats(); totalCalls(s) != 0 {
				t.Fatalf("second %s made calls: %v", tc.name, s.Calls)
			}
			m.stop(t)
		})
	}
}

// TestPrefetchBudget walks a 25,034-object tree with the default budget of
// two 10,000-name pages. The first window (2 calls) ends inside t7/s8/, so
// the root, t7/ and t7/s8/ are listed with the delimiter (3 calls); listing
// t8/ continues the root's subtree listing from where it stopped (1 call,
// the remaining ~5,000 names). Total: ceil(25,034/10,000) + the depth of
// the directory holding the first window's last name = 3 + 3.
func TestPrefetchBudget(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "big-tree")
	st := seedPrefetchTree(t, ts, "big-tree", 25000)
	m := startMount(t, ts, mountOpts{Source: "big-tree", Args: []string{"--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m"}})
	sh(t, m.Dir, "stat . >/dev/null")
	ts.ResetStats()
	got := lines(sh(t, m.Dir, `find . -mindepth 1 -printf '%P %s %m\n'`))
	if strings.Join(got, "\n") != strings.Join(st.lines, "\n") {
		t.Fatalf("find printed %d lines, want %d", len(got), len(st.lines))
	}
	calls := listCalls(t, ts, "find")
	t.Logf("find over %d files (%d objects) in %d directories: %d b2_list_file_names calls", st.files, st.files+st.markered, st.dirs, calls)
	if calls != 6 {
		t.Fatalf("find made %d b2_list_file_names calls, want 6 (3 subtree pages + 3 delimiter listings)", calls)
	}
}

// TestPrefetchThenWrite changes a prefetched subtree and sees the changes.
func TestPrefetchThenWrite(t *testing.T) {
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "wbucket")
	for _, n := range []string{"a/b/c/one", "a/b/c/two", "a/b/d/x/three", "a/e/four", "top"} {
		put(t, ts, "wbucket", n, []byte(n), nil)
	}
	w := mountWrite(t, ts, "wbucket", "--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m")
	sh(t, w.m.Dir, "stat . >/dev/null")
	ts.ResetStats()
	if got := sh(t, w.m.Dir, "find . | sort | tr '\\n' ' '"); got != ". ./a ./a/b ./a/b/c ./a/b/c/one ./a/b/c/two ./a/b/d ./a/b/d/x ./a/b/d/x/three ./a/e ./a/e/four ./top " {
		t.Fatalf("find = %q", got)
	}
	if n := listCalls(t, ts, "find"); n != 1 {
		t.Fatalf("find made %d list calls, want 1", n)
	}
	sh(t, w.m.Dir, "echo new > a/b/d/x/new")
	if got := sh(t, w.m.Dir, "ls a/b/d/x | tr '\\n' ' '"); got != "new three " {
		t.Fatalf("after create: %q", got)
	}
	sh(t, w.m.Dir, "rm a/b/d/x/new")
	if got := sh(t, w.m.Dir, "ls a/b/d/x | tr '\\n' ' '"); got != "three " {
		t.Fatalf("after rm: %q", got)
	}
	sh(t, w.m.Dir, "mkdir a/b/c/sub && echo s > a/b/c/sub/f")
	sh(t, w.m.Dir, "mv a/b/c a/e/moved")
	if got := sh(t, w.m.Dir, "find a | sort | tr '\\n' ' '"); got != "a a/b a/b/d a/b/d/x a/b/d/x/three a/e a/e/four a/e/moved a/e/moved/one a/e/moved/sub a/e/moved/sub/f a/e/moved/two " {
		t.Fatalf("after mv: %q", got)
	}
	if got := sh(t, w.m.Dir, "cat a/e/moved/sub/f a/e/moved/one"); got != "s\na/b/c/one" {
		t.Fatalf("moved contents: %q", got)
	}
}
