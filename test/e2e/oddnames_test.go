package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/b2emu"
)

// TestOddNames mounts names other tools create that b2fs itself never
// would: a file and a folder with the same name, "//", a trailing "/", a
// leading "/". The rules are deterministic: the directory wins, names with
// empty components are not shown, a name ending in "/" is a directory
// marker.
func TestOddNames(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "odd-bucket")
	for _, n := range []string{"clash", "clash/inside.txt", "dbl//x.txt", "marker/", "marker/m.txt", "/leading.txt", "plain.txt"} {
		put(t, ts, "odd-bucket", n, []byte("body of "+n), nil)
	}
	m := startMount(t, ts, mountOpts{Source: "odd-bucket"})
	if out := sh(t, m.Dir, "ls"); out != "clash\ndbl\nmarker\nplain.txt\n" {
		t.Fatalf("ls = %q", out)
	}
	if out := sh(t, m.Dir, "stat -c %F clash && cat clash/inside.txt"); out != "directory\nbody of clash/inside.txt" {
		t.Fatalf("clash = %q", out)
	}
	if out := sh(t, m.Dir, "ls -A dbl | wc -l"); strings.TrimSpace(out) != "0" {
		t.Fatalf("dbl lists %s entries", out)
	}
	if out := sh(t, m.Dir, "ls marker"); out != "m.txt\n" {
		t.Fatalf("marker lists %q", out)
	}
	// Directories have two links and a size; statfs reports plenty of room.
	if out := sh(t, m.Dir, "stat -c '%h %s' marker"); strings.TrimSpace(out) != "2 4096" {
		t.Fatalf("directory nlink/size = %q", out)
	}
	out := sh(t, m.Dir, "df -Pk . | tail -1")
	f := strings.Fields(out)
	if avail, err := strconv.ParseInt(f[3], 10, 64); err != nil || avail < 1<<40 {
		t.Fatalf("df avail = %q", out)
	}
}
