package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
)

// markers lists the .bzEmpty markers in wbucket.
func (w *writeEnv) markers(t *testing.T) []string {
	t.Helper()
	var out []string
	start := ""
	for {
		p, err := w.c.ListFileNames(context.Background(), bucketID(t, w.ts, "wbucket"), b2client.ListOptions{StartName: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Files {
			if strings.HasSuffix(f.Name, "/.bzEmpty") || f.Name == ".bzEmpty" {
				out = append(out, f.Name)
			}
		}
		if p.NextName == "" {
			break
		}
		start = p.NextName
	}
	sort.Strings(out)
	return out
}

func bucketID(t *testing.T, ts *b2emu.TestServer, name string) string {
	t.Helper()
	id, ok := ts.BucketID(name)
	if !ok {
		t.Fatalf("no bucket %s", name)
	}
	return id
}

// makeMarkerTree builds a tree of nested directories with default modes
// and files in each.
func makeMarkerTree(t *testing.T, dir string) int {
	t.Helper()
	dirs := 0
	for _, d := range []string{"a", "a/b", "a/b/c", "a/d", "e", "e/f"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			os.WriteFile(filepath.Join(dir, d, fmt.Sprintf("file%d.txt", i)), []byte(d+fmt.Sprint(i)), 0o644)
		}
		dirs++
	}
	sh(t, dir, "touch -d @1500000000 a a/b e")
	return dirs
}

// TestDirMarkersOnlyWhereNeeded: cp -a of a tree through b2fs leaves no
// marker in directories that have entries and default metadata, so rclone
// check with its defaults passes; empty directories and those with their
// own mode keep theirs and survive a remount; a directory emptied by rm or
// mv gets its marker back. With --dir-markers all every directory keeps
// its marker, as before.
func TestDirMarkersOnlyWhereNeeded(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	dirs := makeMarkerTree(t, src)

	costs := map[string]int64{}
	for _, mode := range []string{"all", "needed"} {
		w := newWriteEnv(t, "--dir-markers", mode)
		w.ts.ResetStats()
		sh(t, src, "cp -a . "+filepath.Join(w.m.Dir, "tree"))
		w.m.stop(t) // runs the pending marker checks
		s := w.ts.Stats()
		costs[mode] = totalCalls(s)
		t.Logf("cp -a of %d directories, %d files, --dir-markers %s: %d calls %v", dirs+1, dirs*3, mode, totalCalls(s), s.Calls)
		got := w.markers(t)
		if mode == "all" {
			if len(got) != dirs+1 {
				t.Fatalf("--dir-markers all: markers %q, want one per directory (%d)", got, dirs+1)
			}
			continue
		}
		if len(got) != 0 {
			t.Fatalf("--dir-markers needed: markers left %q", got)
		}
		if out, err := rclone(t, w.ts, "check", src, ":b2:wbucket/tree"); err != nil {
			t.Fatalf("rclone check: %v\n%s", err, out)
		}

		// Remounted: the tree is whole; empty and non-default directories
		// keep markers.
		w2 := mountWrite(t, w.ts, "wbucket")
		m := w2.m.Dir
		list := "find . | LC_ALL=C sort; find . -type d | LC_ALL=C sort | xargs stat -c '%n %a %u %g'"
		if got, want := sh(t, filepath.Join(m, "tree"), list), sh(t, src, list); got != want {
			t.Fatalf("tree after remount:\n%s\nwant:\n%s", got, want)
		}
		sh(t, m, `set -e
mkdir empty private emptied moved-out
chmod 700 private && echo x > private/f
echo x > emptied/f && echo x > moved-out/f
python3 -c 'import os,sys
for d in sys.argv[1:]:
    fd = os.open(d, os.O_RDONLY); os.fsync(fd); os.close(fd)' emptied moved-out
`)
		if got := w.markers(t); strings.Join(got, " ") != "empty/.bzEmpty private/.bzEmpty" {
			t.Fatalf("markers after fsync of the filled directories: %q", got)
		}
		sh(t, m, "rm emptied/f && mv moved-out/f tree/f && test -d emptied && test -d moved-out")
		w2.m.stop(t)
		if got := w.markers(t); strings.Join(got, " ") != "emptied/.bzEmpty empty/.bzEmpty moved-out/.bzEmpty private/.bzEmpty" {
			t.Fatalf("markers after emptying two directories: %q", got)
		}
		w3 := mountWrite(t, w.ts, "wbucket")
		if got := sh(t, w3.m.Dir, "stat -c '%n %F %a' empty private emptied moved-out && ls -A emptied moved-out empty"); got !=
			"empty directory 755\nprivate directory 700\nemptied directory 755\nmoved-out directory 755\nemptied:\n\nempty:\n\nmoved-out:\n" {
			t.Fatalf("after remount: %q", got)
		}
		// rm -r costs no marker: the checks of directories removed are
		// dropped.
		w.ts.ResetStats()
		sh(t, w3.m.Dir, "rm -r tree")
		w3.m.stop(t)
		if s := w.ts.Stats(); s.Calls["b2_upload_file"] != 0 {
			t.Errorf("rm -r uploaded %d files (markers of emptied directories): %v", s.Calls["b2_upload_file"], s.Calls)
		}
	}
	if extra := costs["needed"] - costs["all"]; extra > int64(2*(dirs+1)) {
		t.Errorf("--dir-markers needed costs %d calls more than all for %d directories", extra, dirs+1)
	}
}

// TestRenamedDirectoryMetadataInListing: a directory moved by mv shows its
// own mode in a listing of its new parent (ls -l, READDIRPLUS) and in stat
// afterwards, with no call to fetch its marker.
func TestRenamedDirectoryMetadataInListing(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	m := w.m.Dir
	sh(t, m, "mkdir -p x/y/deeper z && echo f > x/y/f && chmod 711 x/y && chmod 700 x/y/deeper && ls -l x z >/dev/null")
	sh(t, m, "mv x/y z/y")
	w.ts.ResetStats()
	out := sh(t, m, "for d in z z/y; do ls -l $d | grep -v ^total | awk '{print $1, $NF}'; done; stat -c '%n %a' z/y z/y/deeper")
	if out != "drwx--x--x y\ndrwx------ deeper\n-rw-r--r-- f\nz/y 711\nz/y/deeper 700\n" {
		t.Fatalf("after mv:\n%s", out)
	}
	if n := w.ts.Stats().Calls["b2_list_file_names"]; n > 1 {
		t.Errorf("listing the moved directory made %d list calls (its markers are known from the rename)", n)
	}
}
