package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// statScript prints, for every name under the current directory (sorted),
// its type, mode, owner, group, mtime, symlink target and user xattrs.
const statScript = `find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
  stat -c '%n %F %a %u %g %Y' "$f"
  if [ -L "$f" ]; then printf '  -> %s\n' "$(readlink "$f")"; fi
  getfattr -h -d -m '^user\.' --absolute-names "$f" 2>/dev/null | grep -v '^#' | grep -v '^$' | LC_ALL=C sort | sed 's/^/  /'
done`

// statTree runs statScript in dir.
func statTree(t *testing.T, dir string) string {
	t.Helper()
	return sh(t, dir, statScript)
}

// wantSameTree fails when the trees under a and b differ in any name,
// type, mode, owner, mtime, symlink target or user xattr.
func wantSameTree(t *testing.T, what, a, b string) {
	t.Helper()
	sa, sb := statTree(t, a), statTree(t, b)
	if sa != sb {
		t.Fatalf("%s: trees differ\nsource:\n%s\ncopy:\n%s", what, sa, sb)
	}
	if strings.Count(sa, "\n") < 10 {
		t.Fatalf("%s: suspiciously small tree:\n%s", what, sa)
	}
}

// makePosixTree builds a local tree with varied modes, owners, mtimes,
// symlinks (relative, absolute, dangling) and user xattrs.
func makePosixTree(t *testing.T, dir string) {
	t.Helper()
	sh(t, dir, `set -e
mkdir -p docs/private bin empty 'sp ace'
echo readme > README; chmod 644 README
echo secret > docs/private/key; chmod 600 docs/private/key; chown 1000:1000 docs/private/key
echo report > docs/report.txt; chmod 640 docs/report.txt; chown 1000:65534 docs/report.txt
printf '#!/bin/sh\necho hi\n' > bin/tool; chmod 755 bin/tool
echo nobody > 'sp ace/owned by nobody'; chown 65534:65534 'sp ace/owned by nobody'; chmod 604 'sp ace/owned by nobody'
echo suid > bin/suid; chmod 4750 bin/suid
: > empty/zero; chmod 400 empty/zero
ln -s ../README docs/readme-link
ln -s /etc/hostname bin/abs-link
ln -s does/not/exist dangling
ln -s 'sp ace/owned by nobody' 'link with space'
setfattr -n user.comment -v 'hello world' README
setfattr -n user.mime_type -v text/plain docs/report.txt
setfattr -n user.Odd.Name -v 0sAAECAwQ= docs/report.txt
setfattr -n user.dircomment -v dirs-too docs
chmod 750 docs/private; chown 1000:1000 docs/private
chmod 711 bin
chmod 1777 empty
touch -h -d @1500000000 docs/readme-link bin/abs-link dangling 'link with space'
touch -d @1600000000 README docs/private/key docs/report.txt bin/tool bin/suid empty/zero 'sp ace/owned by nobody'
touch -d @1400000000 docs/private docs bin empty 'sp ace'
`)
}

func TestPosixMetadataRemountAndSecondMount(t *testing.T) {
	testenv.RequireTool(t, "getfattr", "setfattr", "stat")
	// Metadata changes go to B2 at once, so the second mount sees them.
	w := newWriteEnv(t, "--metadata-delay", "0")
	sh(t, w.m.Dir, `set -e
echo hello > a; chmod 640 a; chown 1000:65534 a; touch -d @1600000000 a
mkdir d; chmod 750 d; chown 1000:1000 d
ln -s a rel; ln -s /abs/target abs; ln -s missing dangling
setfattr -n user.comment -v hi a
setfattr -n user.UPPER.and~odd -v 'x y' a
setfattr -n user.dirnote -v yes d
echo inside > d/f; chmod 600 d/f
touch -d @1500000000 d`) // last: creating d/f moves d's mtime
	want := statTree(t, w.m.Dir)
	for _, s := range []string{"./a regular file 640 1000 65534 1600000000", "./d directory 750 1000 1000 1500000000",
		`user.comment="hi"`, `user.UPPER.and~odd="x y"`, `user.dirnote="yes"`, "-> /abs/target", "-> missing", "./d/f regular file 600 0 0"} {
		if !strings.Contains(want, s) {
			t.Fatalf("missing %q in\n%s", s, want)
		}
	}
	// A second mount of the same bucket sees the same metadata.
	m2 := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "c2")}})
	if got := statTree(t, m2.Dir); got != want {
		t.Fatalf("second mount differs:\nfirst:\n%s\nsecond:\n%s", want, got)
	}
	// And so does a fresh mount after both stopped.
	w.m.stop(t)
	m2.stop(t)
	m3 := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "c3")}})
	if got := statTree(t, m3.Dir); got != want {
		t.Fatalf("remount differs:\nbefore:\n%s\nafter:\n%s", want, got)
	}
	// readlink and ls -l answer from the listing: no download.
	w.ts.ResetStats()
	if got := sh(t, m3.Dir, "readlink rel abs dangling; ls -l >/dev/null"); got != "a\n/abs/target\nmissing\n" {
		t.Fatalf("readlink = %q", got)
	}
	assertNoCalls(t, w.ts, "readlink", "b2_download_file_by_id", "b2_download_file_by_name", "b2_get_file_info")
}

func TestPosixOneCopyPerChange(t *testing.T) {
	testenv.RequireTool(t, "setfattr", "stat")
	// Each change goes to B2 at once (see TestCost* for deferred ones).
	w := newWriteEnv(t, "--metadata-delay", "0")
	sh(t, w.m.Dir, "echo content > f; mkdir d; stat f d >/dev/null")
	for _, tc := range []struct{ what, cmd, want string }{
		{"chmod", "chmod 600 f", "600 0 0"},
		{"chown", "chown 1000:65534 f", "600 1000 65534"},
		{"utimes", "touch -m -d @1234567890 f", "600 1000 65534 1234567890"},
		{"setxattr", "setfattr -n user.k -v v f", ""},
		{"removexattr", "setfattr -x user.k f", ""},
		{"chmod dir", "chmod 700 d", ""},
	} {
		w.ts.ResetStats()
		sh(t, w.m.Dir, tc.cmd)
		s := w.ts.Stats()
		if s.Calls["b2_copy_file"] != 1 {
			t.Errorf("%s made %d b2_copy_file calls, want 1 (all: %v)", tc.what, s.Calls["b2_copy_file"], s.Calls)
		}
		for _, c := range []string{"b2_upload_file", "b2_upload_part", "b2_download_file_by_id", "b2_download_file_by_name", "b2_copy_part"} {
			if s.Calls[c] != 0 {
				t.Errorf("%s made %d %s calls (all: %v)", tc.what, s.Calls[c], c, s.Calls)
			}
		}
		if tc.want != "" {
			if got := strings.TrimSpace(sh(t, w.m.Dir, "stat -c '%a %u %g %Y' f")); !strings.HasPrefix(got, tc.want) {
				t.Errorf("after %s: %q, want %q", tc.what, got, tc.want)
			}
		}
	}
	// The content is untouched.
	w.wantRemote(t, "f", []byte("content\n"))
	if got := strings.TrimSpace(sh(t, w.m.Dir, "stat -c %a d")); got != "700" {
		t.Fatalf("dir mode %s", got)
	}

	// On a file open for writing, the changes ride along with the upload.
	w.ts.ResetStats()
	// (From this process: a shell's children would inherit the
	// descriptor and their exit would flush it.)
	g := filepath.Join(w.m.Dir, "g")
	fd, err := os.OpenFile(g, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.WriteString("data\n"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{os.Chmod(g, 0o604), os.Chown(g, 65534, 1000), syscall.Setxattr(g, "user.x", []byte("1"), 0),
		os.Chtimes(g, time.Unix(1300000000, 0), time.Unix(1300000000, 0))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	s := w.ts.Stats()
	if s.Calls["b2_copy_file"] != 0 || s.Calls["b2_upload_file"] != 1 {
		t.Fatalf("changes to an open file: %v, want one upload and no copy", s.Calls)
	}
	f := w.wantRemote(t, "g", []byte("data\n"))
	if f.Info["b2fs-mode"] != "604" || f.Info["b2fs-uid"] != "65534" || f.Info["b2fs-gid"] != "1000" ||
		f.Info["src_last_modified_millis"] != "1300000000000" || f.Info["b2fs-x-x"] != "1" {
		t.Fatalf("uploaded info %v", f.Info)
	}
}

// TestPosixRsyncAndTarRoundTrip runs with --dir-markers all: the times of
// directories with default mode and owner ('sp ace') survive the remount
// only on their markers.
func TestPosixRsyncAndTarRoundTrip(t *testing.T) {
	testenv.RequireTool(t, "rsync", "tar", "getfattr", "setfattr", "stat")
	src := filepath.Join(t.TempDir(), "src")
	os.Mkdir(src, 0o755)
	makePosixTree(t, src)
	w := newWriteEnv(t, "--dir-markers", "all")
	sh(t, w.m.Dir, "mkdir rs tr")
	sh(t, src, "rsync -aX ./ "+filepath.Join(w.m.Dir, "rs")+"/")
	sh(t, src, "tar --xattrs --xattrs-include='user.*' -cf - . | tar --xattrs --xattrs-include='user.*' -C "+filepath.Join(w.m.Dir, "tr")+" -xpf -")
	sh(t, src, "cp -a . "+filepath.Join(w.m.Dir, "cp"))
	wantSameTree(t, "cp -a into the mount", src, filepath.Join(w.m.Dir, "cp"))
	wantSameTree(t, "rsync -aX into the mount", src, filepath.Join(w.m.Dir, "rs"))
	wantSameTree(t, "tar into the mount", src, filepath.Join(w.m.Dir, "tr"))

	// After a remount, copying back out restores the same tree.
	w.m.stop(t)
	m := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "c2"), "--dir-markers", "all"}})
	wantSameTree(t, "rsync tree after remount", src, filepath.Join(m.Dir, "rs"))
	wantSameTree(t, "tar tree after remount", src, filepath.Join(m.Dir, "tr"))
	wantSameTree(t, "cp -a tree after remount", src, filepath.Join(m.Dir, "cp"))
	back := filepath.Join(t.TempDir(), "back")
	os.Mkdir(back, 0o755)
	sh(t, m.Dir, "rsync -aX rs/ "+back+"/")
	wantSameTree(t, "rsync -aX out of the mount", src, back)
	back2 := filepath.Join(t.TempDir(), "back2")
	os.Mkdir(back2, 0o755)
	sh(t, filepath.Join(m.Dir, "tr"), "tar --xattrs --xattrs-include='user.*' -cf - . | tar --xattrs --xattrs-include='user.*' -C "+back2+" -xpf -")
	wantSameTree(t, "tar out of the mount", src, back2)
	back3 := filepath.Join(t.TempDir(), "back3")
	sh(t, m.Dir, "cp -a rs "+back3)
	wantSameTree(t, "cp -a out of the mount", src, back3)
}

func TestPosixListingCost(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "meta-bucket")
	const n = 10000 // 9,999 files and a symlink: one page
	for i := 0; i < n-1; i++ {
		put(t, ts, "meta-bucket", fmt.Sprintf("many/f%05d", i), []byte("x"), map[string]string{
			"b2fs-mode": []string{"600", "640", "755"}[i%3], "b2fs-uid": strconv.Itoa(1000 + i%7),
			"b2fs-gid": "65534", "src_last_modified_millis": strconv.Itoa(1600000000000 + i*1000),
			"b2fs-x-note": "n" + strconv.Itoa(i),
		})
	}
	put(t, ts, "meta-bucket", "many/link", []byte("f00042"), map[string]string{"b2fs-type": "symlink", "b2fs-target": "f00042"})
	m := startMount(t, ts, mountOpts{Source: "meta-bucket", Args: []string{"--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m", "--read-only"}})
	sh(t, m.Dir, "stat many >/dev/null")
	ts.ResetStats()
	out := sh(t, m.Dir, "ls -ln --time-style=+%s many")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n+1 {
		t.Fatalf("ls -l printed %d lines", len(lines))
	}
	for _, want := range []string{"-rw------- 1 1000 65534 1 1600000000 f00000", "-rw-r----- 1 1001 65534 1 1600000001 f00001",
		"-rwxr-xr-x 1 1002 65534 1 1600000002 f00002", " link -> f00042"} {
		if !strings.Contains(out, want) {
			t.Fatalf("ls -l lacks %q:\n%s", want, strings.Join(lines[:5], "\n"))
		}
	}
	if !regexp.MustCompile(`(?m)^lrwxrwxrwx 1 +0 +0 +6 1[0-9]+ link -> f00042$`).MatchString(out) {
		t.Fatalf("ls -l shows the symlink wrongly:\n%s", lines[len(lines)-1])
	}
	s := ts.Stats()
	if s.Calls["b2_list_file_names"] != 1 || s.Classes["B"] != 0 || totalCalls(s) != 1 {
		t.Fatalf("ls -l of %d files with metadata made %v (classes %v), want exactly one b2_list_file_names", n, s.Calls, s.Classes)
	}
	ts.ResetStats()
	sh(t, m.Dir, "stat -c '%a %u %g %Y' many/* >/dev/null; readlink many/link >/dev/null; getfattr -n user.note many/f00123 >/dev/null")
	if s := ts.Stats(); totalCalls(s) != 0 {
		t.Fatalf("stat, readlink and getfattr after ls -l made calls: %v", s.Calls)
	}
}

func TestPosixPermissions(t *testing.T) {
	testenv.RequireTool(t, "setpriv")
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "wbucket")
	w := mountWrite(t, ts, "wbucket", "-o", "allow_other")
	// Let nobody reach the mount point through the test's directories.
	for d := filepath.Dir(w.m.Dir); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	sh(t, w.m.Dir, `set -e
echo secret > secret; chmod 600 secret
echo public > public; chmod 644 public
mkdir closed; chmod 755 closed
mkdir open; chmod 777 open
echo mine > theirs; chown 65534:65534 theirs; chmod 600 theirs`)
	asNobody := func(script string) (string, string, error) {
		return shErr(w.m.Dir, "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '"+script+"'")
	}
	for _, tc := range []struct {
		script string
		ok     bool
	}{
		{"cat secret", false},
		{"cat public", true},
		{"echo x >> public", false},
		{"touch closed/new", false},
		{"touch open/new", true},
		{"cat theirs", true},
		{"chmod 644 theirs", true},
		{"chmod 600 public", false},
		{"rm public", false},
	} {
		out, errOut, err := asNobody(tc.script)
		if tc.ok && err != nil {
			t.Errorf("nobody: %s failed: %v %s", tc.script, err, errOut)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("nobody: %s succeeded (%q)", tc.script, out)
			} else if !strings.Contains(errOut, "Permission denied") && !strings.Contains(errOut, "Operation not permitted") {
				t.Errorf("nobody: %s: want EACCES/EPERM, got %s", tc.script, errOut)
			}
		}
	}
	got := sh(t, w.m.Dir, "stat -c '%n %a %u %g' open/new theirs public")
	if got != "open/new 644 65534 65534\ntheirs 644 65534 65534\npublic 644 0 0\n" {
		t.Fatalf("after nobody's changes:\n%s", got)
	}
}

func TestPosixXattrLimits(t *testing.T) {
	testenv.RequireTool(t, "getfattr", "setfattr")
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "echo x > f; setfattr -n user.keep -v stored f")
	// Count: mode, uid, gid, mtime and a reserved large_file_sha1 leave
	// five entries for attributes.
	var failed string
	for i := 0; i < 8; i++ {
		_, errOut, err := shErr(w.m.Dir, fmt.Sprintf("setfattr -n user.a%d -v %d f", i, i))
		if err != nil {
			failed = errOut
			if i != 4 {
				t.Fatalf("setfattr #%d failed, want the 5th to fail: %s", i+2, errOut)
			}
			break
		}
	}
	if !strings.Contains(failed, "No space left on device") {
		t.Fatalf("setting too many attributes: %q, want ENOSPC", failed)
	}
	// One value larger than B2's 7,000 bytes: E2BIG.
	_, errOut, err := shErr(w.m.Dir, "setfattr -n user.big -v "+strings.Repeat("v", 7000)+" f")
	if err == nil || !strings.Contains(errOut, "Argument list too long") {
		t.Fatalf("7000-byte attribute: %v %q, want E2BIG", err, errOut)
	}
	// Two large values that do not fit together: ENOSPC.
	sh(t, w.m.Dir, "setfattr -x user.a0 f; setfattr -x user.a1 f; setfattr -n user.half -v "+strings.Repeat("h", 3600)+" f")
	_, errOut, err = shErr(w.m.Dir, "setfattr -n user.half2 -v "+strings.Repeat("h", 3600)+" f")
	if err == nil || !strings.Contains(errOut, "No space left on device") {
		t.Fatalf("second 3600-byte attribute: %v %q, want ENOSPC", err, errOut)
	}
	want := "user.a2=\"2\"\nuser.a3=\"3\"\nuser.half=\"" + strings.Repeat("h", 3600) + "\"\nuser.keep=\"stored\"\n"
	dump := "getfattr -d --absolute-names f | grep -v '^#' | grep -v '^$' | LC_ALL=C sort"
	if got := sh(t, w.m.Dir, dump); got != want {
		t.Fatalf("attributes after the failures:\n%s\nwant:\n%s", got, want)
	}
	// Nothing was lost in B2 either.
	w.m.stop(t)
	m := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "c2")}})
	if got := sh(t, m.Dir, dump); got != want {
		t.Fatalf("attributes after remount:\n%s\nwant:\n%s", got, want)
	}
	// The kernel asks for security.capability on every write, ls -l for
	// security.selinux and system.posix_acl_access: answered without a B2
	// call, "not supported" outside the user namespace (which makes ls stop
	// asking), "no such attribute" inside it.
	w.ts.ResetStats()
	for _, a := range []string{"security.capability", "security.selinux", "system.posix_acl_access"} {
		if _, errOut, err := shErr(m.Dir, "getfattr -n "+a+" f"); err == nil || !strings.Contains(errOut, "Operation not supported") {
			t.Fatalf("getfattr %s: %v %q, want ENOTSUP", a, err, errOut)
		}
	}
	if _, errOut, err := shErr(m.Dir, "getfattr -n user.absent f"); err == nil || !strings.Contains(errOut, "No such attribute") {
		t.Fatalf("getfattr user.absent: %v %q, want ENODATA", err, errOut)
	}
	if s := w.ts.Stats(); totalCalls(s) != 0 {
		t.Fatalf("getxattr of absent attributes made calls: %v", s.Calls)
	}
	// Other namespaces are not supported.
	if _, errOut, err := shErr(m.Dir, "setfattr -n trusted.x -v 1 f"); err == nil || !strings.Contains(errOut, "not supported") {
		t.Fatalf("trusted.x: %v %q, want ENOTSUP", err, errOut)
	}
}

// TestPosixHardLinkRefused: link() is EPERM (special files:
// TestSpecialFiles).
func TestPosixHardLinkRefused(t *testing.T) {
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "echo x > f")
	for _, cmd := range []string{"ln f hard", "ln f hard2"} {
		_, errOut, err := shErr(w.m.Dir, cmd)
		if err == nil || !strings.Contains(errOut, "Operation not permitted") {
			t.Errorf("%s: %v %q, want EPERM", cmd, err, errOut)
		}
	}
	if err := os.Link(filepath.Join(w.m.Dir, "f"), filepath.Join(w.m.Dir, "hard3")); !errors.Is(err, syscall.EPERM) {
		t.Errorf("link: %v, want EPERM", err)
	}
	if got := sh(t, w.m.Dir, "ls"); got != "f\n" {
		t.Fatalf("directory after refused links: %q", got)
	}
	// The refused link is expected (git tries link() for every object and
	// falls back): a debug line, never a warning.
	for _, l := range strings.Split(w.m.stderr.String(), "\n") {
		if strings.Contains(l, "hard link") && !strings.Contains(l, "level=DEBUG") {
			t.Errorf("refused hard link logged above debug level: %s", l)
		}
	}
	if !strings.Contains(w.m.stderr.String(), "hard link refused") {
		t.Fatalf("no debug line for the refused hard link")
	}
}

// versions counts the stored versions of name in wbucket (hide markers
// included).
func (w *writeEnv) versions(t *testing.T, name string) int {
	t.Helper()
	bid, _ := w.ts.BucketID("wbucket")
	n := 0
	for f, err := range w.c.FileVersions(context.Background(), bid, b2client.ListOptions{Prefix: name}) {
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			n++
		}
	}
	return n
}

func TestPosixLargeFileAndVersions(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	big := testenv.Pattern(7, 5*wPart+3) // above the copy threshold: copied part by part
	if err := os.WriteFile(filepath.Join(w.m.Dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, w.m.Dir, "echo small > small; stat big small >/dev/null")
	w.ts.ResetStats()
	sh(t, w.m.Dir, "chmod 600 big")
	s := w.ts.Stats()
	if s.Calls["b2_copy_part"] < 2 || s.Calls["b2_start_large_file"] != 1 || s.Calls["b2_finish_large_file"] != 1 {
		t.Fatalf("chmod of a large file: %v, want one server-side large copy", s.Calls)
	}
	for _, c := range []string{"b2_upload_file", "b2_upload_part", "b2_download_file_by_id", "b2_download_file_by_name"} {
		if s.Calls[c] != 0 {
			t.Fatalf("chmod of a large file made %d %s calls: %v", s.Calls[c], c, s.Calls)
		}
	}
	f := w.wantRemote(t, "big", big)
	if f.Info["b2fs-mode"] != "600" || f.Info["src_last_modified_millis"] == "" || f.Info["large_file_sha1"] != sha(big) {
		t.Fatalf("large file info after chmod: %v", f.Info)
	}
	// The replaced version is deleted: its bytes live on in the copy.
	before := w.versions(t, "small")
	sh(t, w.m.Dir, "chmod 640 small")
	if n := w.versions(t, "small"); n != before {
		t.Fatalf("small has %d versions after a chmod, want still %d", n, before)
	}

	// With --hard-delete it is deleted.
	w.m.stop(t)
	w2 := mountWrite(t, w.ts, "wbucket", "--hard-delete", "--metadata-delay", "0")
	w.ts.ResetStats()
	sh(t, w2.m.Dir, "chmod 600 small")
	s = w.ts.Stats()
	if s.Calls["b2_copy_file"] != 1 || s.Calls["b2_delete_file_version"] != 1 {
		t.Fatalf("chmod with --hard-delete: %v, want one copy and one version deleted", s.Calls)
	}
	if n := w.versions(t, "small"); n != before {
		t.Fatalf("small has %d versions after a hard-delete chmod, want still %d (the replaced version deleted)", n, before)
	}
	if got := sh(t, w2.m.Dir, "stat -c %a small; cat small"); got != "600\nsmall\n" {
		t.Fatalf("small after chmod: %q", got)
	}
}

func TestPosixDirectoryMetadata(t *testing.T) {
	testenv.RequireTool(t, "setfattr", "getfattr")
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "wbucket")
	// An implicit directory: only files, no marker.
	put(t, ts, "wbucket", "implicit/file", []byte("x"), nil)
	// A file another tool filled with 9 info entries: chmod cannot add
	// three more (ENOSPC, nothing changes).
	nine := map[string]string{}
	for i := 0; i < 9; i++ {
		nine[fmt.Sprintf("other-%d", i)] = "v"
	}
	put(t, ts, "wbucket", "full-info", []byte("x"), nine)
	w := mountWrite(t, ts, "wbucket")
	if _, errOut, err := shErr(w.m.Dir, "chmod 600 full-info"); err == nil || !strings.Contains(errOut, "No space left") {
		t.Fatalf("chmod of a file with 9 info entries: %v %q, want ENOSPC", err, errOut)
	}
	if f := w.wantRemote(t, "full-info", []byte("x")); len(f.Info) != 9 {
		t.Fatalf("info after the refused chmod: %v", f.Info)
	}
	if got := sh(t, w.m.Dir, "stat -c '%a %u' implicit"); got != "755 0\n" {
		t.Fatalf("implicit directory: %q, want the defaults", got)
	}
	ts.ResetStats()
	sh(t, w.m.Dir, "chmod 700 implicit; chown 65534 implicit; setfattr -n user.d -v 1 implicit")
	if s := ts.Stats(); s.Calls["b2_upload_file"] != 1 || s.Calls["b2_copy_file"] != 2 {
		t.Fatalf("metadata of an implicit directory: %v, want one marker upload, then copies", s.Calls)
	}
	// rmdir forgets the metadata; a new directory of the same name starts
	// fresh.
	sh(t, w.m.Dir, "mkdir gone; chmod 700 gone; rmdir gone; mkdir gone")
	want := "gone 755 0\nimplicit 700 65534\n"
	if got := sh(t, w.m.Dir, "stat -c '%n %a %u' gone implicit"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A set-group-ID directory passes its group (and, to directories, the
	// bit) on, as on local filesystems.
	sh(t, w.m.Dir, "mkdir sg; chown 0:1000 sg; chmod 2775 sg; touch sg/f; mkdir sg/d; ln -s f sg/l")
	if got := sh(t, w.m.Dir, "stat -c '%n %a %g' sg/f sg/d; stat -c '%n %g' sg/l"); got != "sg/f 644 1000\nsg/d 2755 1000\nsg/l 1000\n" {
		t.Fatalf("set-group-ID directory: %q", got)
	}
	// mv keeps a directory's metadata.
	sh(t, w.m.Dir, "mkdir -p a/b; chmod 711 a/b; mv a c")
	if got := sh(t, w.m.Dir, "stat -c %a c/b"); got != "711\n" {
		t.Fatalf("renamed directory: %q", got)
	}
	w.m.stop(t)
	m := startMount(t, ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", filepath.Join(t.TempDir(), "c2")}})
	if got := sh(t, m.Dir, "stat -c '%n %a %u' gone implicit; getfattr --only-values -n user.d implicit; echo; stat -c %a c/b"); got != want+"1\n711\n" {
		t.Fatalf("after remount: %q", got)
	}
}

// TestPosixDirectoryTimesNotReused: the time set on a directory belongs to
// that directory: a directory made later under the same name has its own.
func TestPosixDirectoryTimesNotReused(t *testing.T) {
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "mkdir d1 && touch -d 2000-01-02 d1 && test $(stat -c %Y d1) -lt 1000000000 && rmdir d1 && mkdir d1")
	got := strings.TrimSpace(sh(t, w.m.Dir, "stat -c %Y d1"))
	if sec, err := strconv.ParseInt(got, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > time.Hour {
		t.Fatalf("re-created directory dated %s, want now (the removed directory's time leaked)", got)
	}
	// The time of a renamed directory stays with it, not with its old name.
	sh(t, w.m.Dir, "mkdir d2 && touch -d 2001-01-01 d2 && mv d2 d3 && mkdir d2")
	got = sh(t, w.m.Dir, "stat -c %Y d2 d3")
	f := strings.Fields(got)
	if len(f) != 2 {
		t.Fatalf("stat: %q", got)
	}
	if sec, _ := strconv.ParseInt(f[0], 10, 64); time.Since(time.Unix(sec, 0)) > time.Hour {
		t.Fatalf("new d2 dated %s, want now", f[0])
	}
	if f[1] != strconv.FormatInt(time.Date(2001, 1, 1, 0, 0, 0, 0, time.Local).Unix(), 10) {
		t.Fatalf("renamed d3 dated %s, want 2001-01-01", f[1])
	}
}

func TestPosixMountDefaults(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "dbucket")
	put(t, ts, "dbucket", "plain/file", []byte("from another tool"), nil)
	put(t, ts, "dbucket", "owned", []byte("x"), map[string]string{"b2fs-mode": "600", "b2fs-uid": "7", "b2fs-gid": "8"})
	m := startMount(t, ts, mountOpts{Source: "dbucket", Args: []string{"--read-only", "--uid", "1234", "-o", "gid=4321,umask=027"}})
	want := "plain 750 1234 4321\nplain/file 640 1234 4321\nowned 600 7 8\n"
	if got := sh(t, m.Dir, "stat -c '%n %a %u %g' plain plain/file owned"); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	// Stored set-user-ID bits are never honoured.
	if got := sh(t, "/", "findmnt -n -o OPTIONS "+m.Dir); !strings.Contains(got, "nosuid") || !strings.Contains(got, "nodev") {
		t.Fatalf("mount options %q lack nosuid,nodev", got)
	}
}

// TestPosixXattrsOff: --xattrs=false turns extended attributes off in the
// kernel (ENOTSUP), and the rest of the metadata still works.
func TestPosixXattrsOff(t *testing.T) {
	testenv.RequireTool(t, "getfattr", "setfattr")
	w := newWriteEnv(t, "--xattrs=false", "--metadata-delay", "0")
	sh(t, w.m.Dir, "echo x > f; chmod 640 f")
	_, errOut, err := shErr(w.m.Dir, "setfattr -n user.a -v 1 f")
	if err == nil || !strings.Contains(errOut, "Operation not supported") {
		t.Fatalf("setfattr with --xattrs=false: %v %q, want ENOTSUP", err, errOut)
	}
	if got := sh(t, w.m.Dir, "stat -c '%a' f"); got != "640\n" {
		t.Errorf("mode = %q", got)
	}
	if f, _ := w.remote(t, "f"); f.Info["b2fs-mode"] == "" {
		t.Errorf("mode not stored with --xattrs=false: %v", f.Info)
	}
}
