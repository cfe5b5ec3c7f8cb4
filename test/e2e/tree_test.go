package e2e

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// seedTree puts a small tree with awkward names into bucket and returns the
// files' contents by name.
func seedTree(t *testing.T, ts *b2emu.TestServer, bucket string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"readme.txt":                  []byte("hello b2fs\n"),
		"docs/a b c.txt":              []byte("spaces\n"),
		"docs/ünïcødé-日本.txt":         []byte("unicode\n"),
		"docs/100% real+plus.txt":     []byte("percent and plus\n"),
		"deep/er/and/deeper/leaf.bin": testenv.Pattern(1, 1000),
		"some/prefix/inside.txt":      []byte("inside the prefix\n"),
		"some/prefix/sub/nested.txt":  []byte("nested in the prefix\n"),
		"big/random.bin":              testenv.Pattern(2, 3<<20+12345),
		"empty-folder/.bzEmpty":       nil,
	}
	for name, body := range files {
		put(t, ts, bucket, name, body, map[string]string{"src_last_modified_millis": "1600000000000"})
	}
	return files
}

func TestBucketTreeWithUnixTools(t *testing.T) {
	testenv.RequireTool(t, "ls", "find", "stat", "cat", "cmp", "dd", "tail", "sha1sum", "du")
	ts := newServer(t, b2emu.Options{}, "tree-bucket")
	files := seedTree(t, ts, "tree-bucket")
	m := startMount(t, ts, mountOpts{Source: "tree-bucket"})
	dir := m.Dir

	// find lists every visible file and directory (no .bzEmpty).
	out := sh(t, dir, "find . | sort")
	var want []string
	seen := map[string]bool{".": true}
	for name := range files {
		if strings.HasSuffix(name, "/.bzEmpty") {
			name = strings.TrimSuffix(name, "/.bzEmpty")
		} else {
			want = append(want, "./"+name)
		}
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			seen["./"+d] = true
		}
		if !strings.HasSuffix(name, ".txt") && !strings.HasSuffix(name, ".bin") {
			seen["./"+name] = true
		}
	}
	for d := range seen {
		want = append(want, d)
		if d == "." {
			continue
		}
	}
	sort.Strings(want)
	got := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("find:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// ls -lR shows sizes; the marker never shows.
	ls := sh(t, dir, "ls -lR")
	if strings.Contains(ls, ".bzEmpty") {
		t.Fatalf("ls -lR shows the .bzEmpty marker:\n%s", ls)
	}
	if !strings.Contains(ls, strconv.Itoa(len(files["big/random.bin"]))+" ") {
		t.Fatalf("ls -lR lacks the big file's size:\n%s", ls)
	}
	if out := sh(t, dir, "ls -A empty-folder | wc -l"); strings.TrimSpace(out) != "0" {
		t.Fatalf("empty folder lists %s entries", out)
	}
	if out := sh(t, dir, "stat -c %F empty-folder"); strings.TrimSpace(out) != "directory" {
		t.Fatalf("empty-folder is %q", out)
	}

	// stat: size, mtime from src_last_modified_millis, mode, type.
	out = sh(t, dir, "stat -c '%s %Y %a %F' 'docs/100% real+plus.txt'")
	if want := fmt.Sprintf("%d 1600000000 644 regular file", len(files["docs/100% real+plus.txt"])); strings.TrimSpace(out) != want {
		t.Fatalf("stat = %q, want %q", out, want)
	}

	// cat and cmp every file against the source bytes.
	src := t.TempDir()
	for name, body := range files {
		if strings.HasSuffix(name, ".bzEmpty") {
			continue
		}
		p := filepath.Join(src, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		sh(t, dir, fmt.Sprintf("cmp %s %s", shq(name), shq(p)))
		if c := sh(t, dir, "cat "+shq(name)); c != string(body) {
			t.Fatalf("cat %s returned %d bytes, want %d", name, len(c), len(body))
		}
	}

	big := files["big/random.bin"]
	// dd with skip= reads from the middle.
	out = sh(t, dir, "dd if=big/random.bin bs=4096 skip=300 count=5 status=none | sha1sum")
	if want := sha1hex(big[300*4096 : 305*4096]); !strings.HasPrefix(out, want) {
		t.Fatalf("dd skip: %s, want %s", out, want)
	}
	// tail -c reads the end.
	out = sh(t, dir, "tail -c 70000 big/random.bin | sha1sum")
	if want := sha1hex(big[len(big)-70000:]); !strings.HasPrefix(out, want) {
		t.Fatalf("tail -c: %s, want %s", out, want)
	}
	// du counts blocks from the listing.
	out = sh(t, dir, "du -sk big")
	if kb, _ := strconv.Atoi(strings.Fields(out)[0]); kb < len(big)/1024 {
		t.Fatalf("du -sk big = %s, want at least %d", out, len(big)/1024)
	}
}

func sha1hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestPrefixRoot(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "pfx-bucket")
	seedTree(t, ts, "pfx-bucket")
	m := startMount(t, ts, mountOpts{Source: "pfx-bucket/some/prefix", Args: []string{"-o", "ro"}})
	out := sh(t, m.Dir, "find . | sort")
	if want := ".\n./inside.txt\n./sub\n./sub/nested.txt\n"; out != want {
		t.Fatalf("prefix root lists:\n%s\nwant:\n%s", out, want)
	}
	if c := sh(t, m.Dir, "cat sub/nested.txt"); c != "nested in the prefix\n" {
		t.Fatalf("cat = %q", c)
	}
	// A read-only mount refuses every change.
	for _, cmd := range []string{"touch new", "mkdir d", "rm inside.txt", "mv inside.txt x", "echo x >> inside.txt", "chmod 600 inside.txt"} {
		if _, errOut, err := shErr(m.Dir, cmd); err == nil || !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("%s on a read-only mount: %v %s", cmd, err, errOut)
		}
	}
}

func TestAccountRoot(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "acct-one", "acct-two")
	put(t, ts, "acct-one", "f1.txt", []byte("one\n"), nil)
	put(t, ts, "acct-two", "dir/f2.txt", []byte("two\n"), nil)
	m := startMount(t, ts, mountOpts{})
	if out := sh(t, m.Dir, "ls"); out != "acct-one\nacct-two\n" {
		t.Fatalf("account root lists %q", out)
	}
	if c := sh(t, m.Dir, "cat acct-one/f1.txt acct-two/dir/f2.txt"); c != "one\ntwo\n" {
		t.Fatalf("cat = %q", c)
	}

	// A key restricted to one bucket shows just that bucket.
	id, _ := ts.BucketID("acct-two")
	keyID, key := createKey(t, ts, id, "")
	m2 := startMount(t, ts, mountOpts{KeyID: keyID, Key: key})
	if out := sh(t, m2.Dir, "ls"); out != "acct-two\n" {
		t.Fatalf("bucket-restricted key lists %q", out)
	}
	if c := sh(t, m2.Dir, "cat acct-two/dir/f2.txt"); c != "two\n" {
		t.Fatalf("cat = %q", c)
	}

	// A key restricted to a name prefix mounts that prefix.
	keyID, key = createKey(t, ts, id, "dir/")
	m3 := startMount(t, ts, mountOpts{KeyID: keyID, Key: key})
	if out := sh(t, m3.Dir, "ls"); out != "f2.txt\n" {
		t.Fatalf("prefix-restricted key lists %q", out)
	}
}

func TestListingCost(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "cost-bucket")
	const n = 10000
	for i := 0; i < n; i++ {
		put(t, ts, "cost-bucket", fmt.Sprintf("many/file-%05d.txt", i), []byte(strconv.Itoa(i)), nil)
	}
	put(t, ts, "cost-bucket", "top.txt", []byte("top\n"), nil)
	m := startMount(t, ts, mountOpts{Source: "cost-bucket", Args: []string{"--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m"}})
	sh(t, m.Dir, "stat many >/dev/null")

	ts.ResetStats()
	out := sh(t, m.Dir, "ls -l many | wc -l")
	if got := strings.TrimSpace(out); got != strconv.Itoa(n+1) { // + "total" line
		t.Fatalf("ls -l many printed %s lines", got)
	}
	if got := ts.Stats().Calls["b2_list_file_names"]; got != 1 {
		t.Fatalf("ls -l of %d files made %d b2_list_file_names calls, want 1", n, got)
	}
	assertNoCalls(t, ts, "ls -l", "b2_get_file_info", "b2_download_file_by_name", "b2_download_file_by_id")

	ts.ResetStats()
	sh(t, m.Dir, "ls -l many >/dev/null")
	sh(t, m.Dir, "stat many/* >/dev/null")
	sh(t, m.Dir, "find many -type f | wc -l >/dev/null")
	sh(t, m.Dir, "du -s many >/dev/null")
	if s := ts.Stats(); totalCalls(s) != 0 {
		t.Fatalf("repeated ls -l, stat, find, du within the TTL made calls: %v", s.Calls)
	}

	// Reading a file downloads it by ID and never asks for its info.
	ts.ResetStats()
	if c := sh(t, m.Dir, "cat many/file-04242.txt"); c != "4242" {
		t.Fatalf("cat = %q", c)
	}
	assertNoCalls(t, ts, "cat", "b2_get_file_info", "b2_download_file_by_name", "b2_list_file_names")
	if got := ts.Stats().Calls["b2_download_file_by_id"]; got != 1 {
		t.Fatalf("cat made %d downloads by id, want 1", got)
	}

	// A lookup in a directory whose listing is not cached costs one
	// targeted list call, and a missing name is cached negatively.
	ts.ResetStats()
	sh(t, m.Dir, "stat top.txt >/dev/null; stat -c %s top.txt >/dev/null")
	if _, _, err := shErr(m.Dir, "stat nothing-here"); err == nil {
		t.Fatal("stat of a missing name succeeded")
	}
	shErr(m.Dir, "stat nothing-here")
	if got := ts.Stats().Calls["b2_list_file_names"]; got != 2 {
		t.Fatalf("two lookups in an unlisted directory made %d list calls, want 2", got)
	}
	assertNoCalls(t, ts, "lookup", "b2_get_file_info", "b2_download_file_by_name")
}

func totalCalls(s b2emu.Stats) int64 {
	var n int64
	for _, v := range s.Calls {
		n += v
	}
	return n
}

func assertNoCalls(t *testing.T, ts *b2emu.TestServer, what string, apis ...string) {
	t.Helper()
	s := ts.Stats()
	for _, a := range apis {
		if s.Calls[a] != 0 {
			t.Errorf("%s made %d %s calls (all calls: %v)", what, s.Calls[a], a, s.Calls)
		}
	}
}

func TestReadFaults(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "fault-bucket")
	body := testenv.Pattern(7, 2<<20+99)
	put(t, ts, "fault-bucket", "f.bin", body, nil)
	// No read cache: every case must reach B2.
	m := startMount(t, ts, mountOpts{Source: "fault-bucket", Args: []string{"--read-cache-size", "0"}})
	sh(t, m.Dir, "ls -l >/dev/null")
	want := sha1hex(body)
	cases := []struct {
		name  string
		setup func()
	}{
		{"503", func() { ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_id", Status: 503, Times: 2}) }},
		{"429 with Retry-After", func() {
			ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_id", Status: 429, RetryAfter: 1})
		}},
		{"connection reset mid-body", func() {
			ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_id", Action: "reset", ResetAfterBytes: 100000, Times: 2})
		}},
		{"expired token", func() { ts.ExpireTokens() }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			// Drop the kernel's page cache so the read reaches b2fs.
			sh(t, m.Dir, "echo 1 > /proc/sys/vm/drop_caches")
			out := sh(t, m.Dir, "cat f.bin | sha1sum")
			if !strings.HasPrefix(out, want) {
				t.Fatalf("case %d: cat returned wrong bytes: %s", i, out)
			}
		})
	}
}

func TestRcloneMtime(t *testing.T) {
	testenv.RequireTool(t, "rclone")
	ts := newServer(t, b2emu.Options{}, "rclone-bucket")
	src := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(src, testenv.Pattern(3, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2019, 7, 6, 5, 4, 3, 210_000_000, time.UTC)
	if err := os.Chtimes(src, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	cmd := []string{"rclone", "copyto", src, "emu:rclone-bucket/pics/photo.jpg", "--b2-endpoint", ts.URL}
	out, errOut, err := runEnv(append(credEnvRclone(ts), "RCLONE_CONFIG_EMU_TYPE=b2"), cmd...)
	if err != nil {
		t.Fatalf("rclone copyto against b2emu failed: %v\n%s%s", err, out, errOut)
	}
	m := startMount(t, ts, mountOpts{Source: "rclone-bucket"})
	got := sh(t, m.Dir, "stat -c '%s %.3Y' pics/photo.jpg")
	if want := fmt.Sprintf("5000 %d.210", mtime.Unix()); strings.TrimSpace(got) != want {
		t.Fatalf("rclone-uploaded file: stat %q, want %q", got, want)
	}
	sh(t, m.Dir, "cmp pics/photo.jpg "+shq(src))
}

func credEnvRclone(ts *b2emu.TestServer) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"RCLONE_CONFIG_EMU_ACCOUNT=" + ts.KeyID, "RCLONE_CONFIG_EMU_KEY=" + ts.Key,
		"RCLONE_CONFIG=/dev/null",
	}
}

var _ = bytes.Equal
