package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client/nameenc"
	"github.com/b2fs/b2fs/test/testenv"
)

// awkwardNames are names Linux allows and B2 does not store as they are.
// local says whether rclone's local backend (its Linux encoding quotes
// U+201B, U+FF0F, U+2400 and whole-name U+FF0E) writes the name unchanged
// to a local directory; the others are checked through rclone's listing
// only.
var awkwardNames = []struct {
	name  string
	local bool
}{
	{"tab\there", true},
	{"new\nline", true},
	{"del\x7f", true},
	{"ctl\x01\x1f", true},
	{`back\slash`, true},
	{"bad\xffutf8\xc3", true},
	{"...", true},
	{"trail. ", true},
	{"sym␉tab", true},   // already holds a look-alike
	{"full＼back", true}, // the look-alike of backslash
	{"sym␡del", true},
	{"．", false},
	{"．．", false},
	{"quote‛d", false},
	{"full／slash", false},
}

// rcloneOut runs Debian's rclone against w's emulator with its defaults
// (the B2 backend's default encoding) and returns its standard output;
// credentials travel in the environment.
func rcloneOut(t *testing.T, w *writeEnv, args ...string) string {
	t.Helper()
	testenv.RequireTool(t, "rclone")
	cfg := filepath.Join(t.TempDir(), "rclone.conf")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rclone", args...)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+cfg,
		"RCLONE_B2_ACCOUNT="+w.ts.KeyID, "RCLONE_B2_KEY="+w.ts.Key, "RCLONE_B2_ENDPOINT="+w.ts.URL,
		"RCLONE_LOW_LEVEL_RETRIES=2", "RCLONE_RETRIES=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// dirNames returns the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func body(name string) []byte { return []byte("body of " + name + "\n") }

// TestNamesInteropWithRclone creates awkward names through b2fs and checks
// that rclone, with its defaults, shows and copies them under the same
// names; then rclone writes them and b2fs shows and reads them.
func TestNamesInteropWithRclone(t *testing.T) {
	w := newWriteEnv(t)
	m := w.m.Dir
	var want []string
	if err := os.Mkdir(filepath.Join(m, "dir\twith tab"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range awkwardNames {
		if err := os.WriteFile(filepath.Join(m, n.name), body(n.name), 0o644); err != nil {
			t.Fatalf("create %q: %v", n.name, err)
		}
		want = append(want, n.name)
	}
	// Renamed through b2fs, into a directory with an awkward name.
	if err := os.WriteFile(filepath.Join(m, "to be\nmoved"), body("moved\x7f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(m, "to be\nmoved"), filepath.Join(m, "dir\twith tab", "moved\x7f")); err != nil {
		t.Fatalf("rename: %v", err)
	}
	want = append(want, "dir\twith tab")
	sort.Strings(want)
	if got := dirNames(t, m); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("b2fs lists %q, want %q", got, want)
	}
	for _, n := range awkwardNames {
		if b, err := os.ReadFile(filepath.Join(m, n.name)); err != nil || !bytes.Equal(b, body(n.name)) {
			t.Fatalf("read %q: %q %v", n.name, b, err)
		}
	}
	w.m.stop(t) // every upload is in B2 once b2fs has exited

	// rclone prints names in its display encoding (control characters as
	// symbols); the listing must be the display form of each name.
	var wantLsf []string
	for _, n := range awkwardNames {
		wantLsf = append(wantLsf, nameenc.Standard.Encode(n.name))
	}
	wantLsf = append(wantLsf, nameenc.Standard.Encode("dir\twith tab")+"/"+nameenc.Standard.Encode("moved\x7f"))
	sort.Strings(wantLsf)
	gotLsf := strings.Split(strings.TrimSuffix(rcloneOut(t, w, "lsf", "-R", "--files-only", ":b2:wbucket"), "\n"), "\n")
	sort.Strings(gotLsf)
	if strings.Join(gotLsf, "|") != strings.Join(wantLsf, "|") {
		t.Errorf("rclone lsf:\n got %q\nwant %q", gotLsf, wantLsf)
	}
	// rclone copy to a local directory: same bytes under the same names.
	local := t.TempDir()
	rcloneOut(t, w, "copy", ":b2:wbucket", local)
	for _, n := range awkwardNames {
		if !n.local {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(local, n.name)); err != nil || !bytes.Equal(b, body(n.name)) {
			t.Errorf("rclone copy of %q: %q %v (local dir holds %q)", n.name, b, err, dirNames(t, local))
		}
	}
	if b, err := os.ReadFile(filepath.Join(local, "dir\twith tab", "moved\x7f")); err != nil || !bytes.Equal(b, body("moved\x7f")) {
		t.Errorf("rclone copy of the renamed file: %q %v", b, err)
	}

	// The other way: rclone uploads awkward names, b2fs shows them.
	src := t.TempDir()
	var fromRclone []string
	for _, n := range awkwardNames {
		if n.local {
			if err := os.WriteFile(filepath.Join(src, n.name), body("rclone "+n.name), 0o644); err != nil {
				t.Fatal(err)
			}
			fromRclone = append(fromRclone, n.name)
		}
	}
	sort.Strings(fromRclone)
	rcloneOut(t, w, "copy", src, ":b2:wbucket/from rclone")
	w2 := mountWrite(t, w.ts, "wbucket")
	dir := filepath.Join(w2.m.Dir, "from rclone")
	if got := dirNames(t, dir); strings.Join(got, "|") != strings.Join(fromRclone, "|") {
		t.Fatalf("b2fs lists rclone's upload as %q, want %q", got, fromRclone)
	}
	for _, n := range fromRclone {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err != nil || !bytes.Equal(b, body("rclone "+n)) {
			t.Errorf("b2fs reads rclone's %q: %q %v", n, b, err)
		}
	}
}

// TestNamesTooLong: a name whose B2 segment would pass 250 bytes is
// refused with ENAMETOOLONG, and statfs reports 250 as the longest name.
func TestNamesTooLong(t *testing.T) {
	w := newWriteEnv(t)
	m := w.m.Dir
	if out := strings.TrimSpace(sh(t, m, "stat -f -c %l .")); out != "250" {
		t.Errorf("f_namelen = %s, want 250", out)
	}
	ok := strings.Repeat("n", 250)
	if err := os.WriteFile(filepath.Join(m, ok), nil, 0o644); err != nil {
		t.Errorf("250-byte name: %v", err)
	}
	for _, long := range []string{
		strings.Repeat("n", 251),
		strings.Repeat("\t", 84), // 252 bytes once each tab is U+2409
	} {
		err := os.WriteFile(filepath.Join(m, long), nil, 0o644)
		if !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("create %d-byte name %q...: %v, want ENAMETOOLONG", len(long), long[:4], err)
		}
		if err := os.Mkdir(filepath.Join(m, long), 0o755); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("mkdir %d-byte name: %v, want ENAMETOOLONG", len(long), err)
		}
	}
}
