package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client/nameenc"
	"github.com/b2fs/b2fs/fs/versions"
	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

const vdir = ".b2fs-versions"

// waitRemote waits until name's current version in wbucket has content
// data and modification time mtime (seconds).
func (w *writeEnv) waitRemote(t *testing.T, name string, data []byte, mtime int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		f, got := w.remote(t, name)
		if string(got) == string(data) && f.Info["src_last_modified_millis"] == fmt.Sprint(mtime*1000) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in B2: %q mtime %s, want %q mtime %d", name, got, f.Info["src_last_modified_millis"], data, mtime*1000)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// historyOf lists a history directory: the version names (chronological)
// and the target of "current".
func historyOf(t *testing.T, dir string) ([]string, string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	cur := ""
	for _, e := range ents {
		if e.Name() == "current" {
			if cur, err = os.Readlink(filepath.Join(dir, "current")); err != nil {
				t.Fatal(err)
			}
			continue
		}
		vs = append(vs, e.Name())
	}
	return vs, cur
}

// TestVersionsOverwrittenFile: a file written and overwritten three times
// through the mount (each time with its own mtime) has four versions in
// its history, each reading back its own content and mtime; at/ a time
// between the second and third write shows the second content; copying a
// version out restores it with one server-side copy.
func TestVersionsOverwrittenFile(t *testing.T) {
	testenv.RequireTool(t, "stat", "cp")
	w := newWriteEnv(t, "--metadata-delay", "0", "--dir-cache-ttl", "1s")
	sh(t, w.m.Dir, "mkdir docs")
	var contents []string
	for i := 1; i <= 4; i++ {
		c := fmt.Sprintf("report version %d\n", i)
		contents = append(contents, c)
		mtime := int64(1_700_000_000 + i*86400)
		sh(t, w.m.Dir, fmt.Sprintf("printf '%s' > docs/report.txt && touch -d @%d docs/report.txt", strings.TrimSuffix(c, "\n")+`\n`, mtime))
		w.waitRemote(t, "docs/report.txt", []byte(c), mtime)
		time.Sleep(5 * time.Millisecond) // distinct upload milliseconds
	}
	if n := w.versions(t, "docs/report.txt"); n != 4 {
		t.Fatalf("B2 stores %d versions of docs/report.txt, want 4", n)
	}
	hist := filepath.Join(w.m.Dir, vdir, "history", "docs", "report.txt")
	vs, cur := historyOf(t, hist)
	if len(vs) != 4 || !sort.StringsAreSorted(vs) || cur != vs[3] {
		t.Fatalf("history %q current %q, want 4 versions, the last current", vs, cur)
	}
	for i, name := range vs {
		p := filepath.Join(hist, name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != contents[i] {
			t.Fatalf("version %s reads %q, %v; want %q", name, b, err, contents[i])
		}
		if got := strings.TrimSpace(sh(t, hist, "stat -c %Y "+name)); got != fmt.Sprint(1_700_000_000+(i+1)*86400) {
			t.Fatalf("version %s mtime %s", name, got)
		}
	}
	// A moment between the second and third upload.
	t2, err := versions.ParseTime(vs[1])
	t3, err3 := versions.ParseTime(vs[2])
	if err != nil || err3 != nil {
		t.Fatal(err, err3)
	}
	mid := t2.Add(t3.Sub(t2) / 2).UTC().Format(time.RFC3339Nano)
	if got := sh(t, w.m.Dir, "cat "+vdir+"/at/"+mid+"/docs/report.txt"); got != contents[1] {
		t.Fatalf("at %s: %q, want %q", mid, got, contents[1])
	}
	if got := sh(t, w.m.Dir, "cat "+vdir+"/at/"+vs[0]+"/docs/report.txt"); got != contents[0] {
		t.Fatalf("at %s (the first upload): %q", vs[0], got)
	}
	// Restore the second version: a server-side copy, nothing downloaded.
	w.ts.ResetStats()
	sh(t, w.m.Dir, "cp "+vdir+"/history/docs/report.txt/"+vs[1]+" docs/report.txt")
	s := w.ts.Stats()
	if s.Calls["b2_copy_file"] != 1 || s.Calls["b2_download_file_by_id"] != 0 || s.Calls["b2_upload_file"] != 0 {
		t.Fatalf("restoring with cp made calls %v, want one b2_copy_file", s.Calls)
	}
	w.wantRemote(t, "docs/report.txt", []byte(contents[1]))
	if got := sh(t, w.m.Dir, "cat docs/report.txt"); got != contents[1] {
		t.Fatalf("restored file reads %q", got)
	}
	// The restore is a fifth version; the history shows it once listed
	// again (after the 1 s directory TTL).
	if n := w.versions(t, "docs/report.txt"); n != 5 {
		t.Fatalf("after the restore B2 stores %d versions, want 5", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		vs, cur = historyOf(t, hist)
		if len(vs) == 5 && cur == vs[4] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after the restore: %q current %q", vs, cur)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestVersionsRemovedFolder: after rm -r, the tree at a moment before the
// removal still has the folder with every file and its content; the live
// tree does not, and the history marks the deletions.
func TestVersionsRemovedFolder(t *testing.T) {
	testenv.RequireTool(t, "find")
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "mkdir -p proj/sub && printf a > proj/a.txt && printf bb > proj/sub/b.txt && printf c > proj/sub/c.txt")
	// A name B2 stores encoded (backslash and a control character).
	oddLocal := "odd\\name\x01"
	if err := os.WriteFile(filepath.Join(w.m.Dir, "proj", oddLocal), []byte("odd"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.wantRemote(t, "proj/"+nameenc.Encode(oddLocal), []byte("odd"))
	w.wantRemote(t, "proj/sub/c.txt", []byte("c"))
	time.Sleep(10 * time.Millisecond)
	before := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(10 * time.Millisecond)
	sh(t, w.m.Dir, "rm -r proj")
	if _, err := os.Stat(filepath.Join(w.m.Dir, "proj")); !os.IsNotExist(err) {
		t.Fatalf("live proj after rm -r: %v", err)
	}
	at := vdir + "/at/" + before
	got := sh(t, w.m.Dir, "cd "+at+" && find . | sort")
	if got != ".\n./proj\n./proj/a.txt\n./proj/"+oddLocal+"\n./proj/sub\n./proj/sub/b.txt\n./proj/sub/c.txt\n" {
		t.Fatalf("find at %s:\n%q", before, got)
	}
	if b, err := os.ReadFile(filepath.Join(w.m.Dir, at, "proj", oddLocal)); err != nil || string(b) != "odd" {
		t.Fatalf("odd name at %s: %q %v", before, b, err)
	}
	if ents, err := os.ReadDir(filepath.Join(w.m.Dir, vdir, "history", "proj", oddLocal)); err != nil || len(ents) != 2 {
		t.Fatalf("history of the odd name: %v %v", ents, err)
	}
	if got := sh(t, w.m.Dir, "cat "+at+"/proj/a.txt "+at+"/proj/sub/b.txt "+at+"/proj/sub/c.txt"); got != "abbc" {
		t.Fatalf("contents at %s: %q", before, got)
	}
	// Now (a moment after the removal) the folder is gone from the view too.
	now := time.Now().UTC().Add(time.Second).Format(time.RFC3339)
	if out, _, err := shErr(w.m.Dir, "ls "+vdir+"/at/"+now+"/proj"); err == nil {
		t.Fatalf("proj exists at %s: %q", now, out)
	}
	if got := sh(t, w.m.Dir, "ls "+vdir+"/at/"+now); got != "" {
		t.Fatalf("root at %s: %q", now, got)
	}
	vs, cur := historyOf(t, filepath.Join(w.m.Dir, vdir, "history", "proj", "sub", "b.txt"))
	if len(vs) != 2 || !strings.HasSuffix(vs[1], versions.DeletedSuffix) || cur != "" {
		t.Fatalf("history of a removed file: %q current %q", vs, cur)
	}
	if got := sh(t, w.m.Dir, "ls "+vdir+"/history/proj | wc -l"); got != "3\n" {
		t.Fatalf("history/proj: %q", got)
	}
	if got := sh(t, w.m.Dir, "cat "+vdir+"/history/proj/sub/b.txt/"+vs[0]); got != "bb" {
		t.Fatalf("the removed file's version reads %q", got)
	}
	// Restoring the folder is a copy out of the view.
	sh(t, w.m.Dir, "cp -r "+at+"/proj proj")
	if got := sh(t, w.m.Dir, "cat proj/a.txt proj/sub/b.txt proj/sub/c.txt"); got != "abbc" {
		t.Fatalf("restored folder: %q", got)
	}
	w.wantRemote(t, "proj/sub/b.txt", []byte("bb"))
}

// TestVersionsHidden: find, ls -a and du never enter the view (no version
// listing at all); it is entered by name, in bucket, prefix and account
// mounts, under another name with --versions-dir, and not at all with
// --versions-dir="".
func TestVersionsHidden(t *testing.T) {
	testenv.RequireTool(t, "find", "du")
	ts := newServer(t, b2emu.Options{}, "hbucket", "other-bucket")
	put(t, ts, "hbucket", "top.txt", []byte("t"), nil)
	put(t, ts, "hbucket", "p/q/in.txt", []byte("in"), nil)
	put(t, ts, "other-bucket", "o.txt", []byte("o"), nil)

	m := startMount(t, ts, mountOpts{Source: "hbucket"})
	ts.ResetStats()
	if out := sh(t, m.Dir, "find . ; ls -a ; du -s ."); strings.Contains(out, vdir) {
		t.Fatalf("the view shows in find, ls -a or du:\n%s", out)
	}
	if n := ts.Stats().Calls["b2_list_file_versions"]; n != 0 {
		t.Fatalf("find, ls -a and du listed versions %d times", n)
	}
	if got := sh(t, m.Dir, "ls "+vdir); got != "at\nhistory\n" {
		t.Fatalf("ls %s: %q", vdir, got)
	}
	if got := sh(t, m.Dir, "ls "+vdir+"/history"); got != "p\ntop.txt\n" {
		t.Fatalf("history of the bucket: %q", got)
	}
	if got := sh(t, m.Dir, "ls "+vdir+"/at"); got != "" {
		t.Fatalf("ls at: %q", got)
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "2026-12-01%2010:00", "2026-12-01T10:00:00.000Z.deleted"} {
		if _, errOut, err := shErr(m.Dir, "ls "+vdir+"/at/"+bad); err == nil || !strings.Contains(errOut, "No such file") {
			t.Fatalf("at/%s: %v %s", bad, err, errOut)
		}
	}

	pm := startMount(t, ts, mountOpts{Source: "hbucket/p"})
	if got := sh(t, pm.Dir, "ls "+vdir+"/history; cat "+vdir+"/at/2999-01-01/q/in.txt"); got != "q\nin" {
		t.Fatalf("prefix mount: %q", got)
	}
	if _, _, err := shErr(pm.Dir, "ls q/"+vdir); err == nil {
		t.Fatal("the view is also inside a subdirectory of a prefix mount")
	}

	am := startMount(t, ts, mountOpts{})
	if out := sh(t, am.Dir, "ls -a . hbucket"); strings.Contains(out, vdir) {
		t.Fatalf("account mount lists the view:\n%s", out)
	}
	if got := sh(t, am.Dir, "cat other-bucket/"+vdir+"/at/2999-01-01/o.txt hbucket/"+vdir+"/at/2999-01-01/top.txt"); got != "ot" {
		t.Fatalf("account mount: %q", got)
	}
	if _, _, err := shErr(am.Dir, "ls "+vdir); err == nil {
		t.Fatal("the account root has a view")
	}
	// A real folder of the view's name is listed, but the name leads to
	// the view, also after a READDIRPLUS of the bucket's root.
	put(t, ts, "other-bucket", vdir+"/real.txt", []byte("r"), nil)
	sm := startMount(t, ts, mountOpts{Source: "other-bucket"})
	if got := sh(t, sm.Dir, "ls -la >/dev/null; ls "+vdir+"; ls -a | grep -c -x -F "+vdir); got != "at\nhistory\n1\n" {
		t.Fatalf("a real folder called %s: %q", vdir, got)
	}

	rm := startMount(t, ts, mountOpts{Source: "hbucket", Args: []string{"--versions-dir", ".snap"}})
	if got := sh(t, rm.Dir, "ls .snap; ls -a"); got != "at\nhistory\n.\n..\np\ntop.txt\n" {
		t.Fatalf("--versions-dir .snap: %q", got)
	}
	off := startMount(t, ts, mountOpts{Source: "hbucket", Args: []string{"--versions-dir="}})
	if _, _, err := shErr(off.Dir, "ls "+vdir); err == nil {
		t.Fatal("--versions-dir= left the view on")
	}
}

// TestVersionsReadOnly: every change inside the view is EROFS; the live
// tree still takes writes.
func TestVersionsReadOnly(t *testing.T) {
	testenv.RequireTool(t, "setfattr", "truncate")
	w := newWriteEnv(t)
	sh(t, w.m.Dir, "mkdir d && printf x > d/f")
	w.wantRemote(t, "d/f", []byte("x"))
	at := vdir + "/at/2999-01-01"
	sh(t, w.m.Dir, "cat "+at+"/d/f >/dev/null")
	for _, cmd := range []string{
		"printf y > " + at + "/d/f",
		"printf y >> " + at + "/d/f",
		"truncate -s 0 " + at + "/d/f",
		"touch " + at + "/d/new",
		"mkdir " + at + "/d/sub",
		"ln -s x " + at + "/d/link",
		"mv " + at + "/d/f " + at + "/d/g",
		"mv " + at + "/d/f d/g",
		"mv d/f " + at + "/d/g",
		"chmod 600 " + at + "/d/f",
		"touch -d @1600000000 " + at + "/d/f",
		"setfattr -n user.k -v v " + at + "/d/f",
		"rm " + at + "/d/f",
		"rmdir " + at + "/d",
		"rmdir " + vdir,
		"mv " + vdir + " elsewhere",
		"mkdir " + vdir + "/x",
		"chmod 700 " + vdir,
	} {
		_, errOut, err := shErr(w.m.Dir, cmd)
		if err == nil || !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("%s: %v %q, want EROFS", cmd, err, errOut)
		}
	}
	if got := sh(t, w.m.Dir, "printf z > d/f && cat d/f && ls d"); got != "zf\n" {
		t.Fatalf("live tree after the refused changes: %q", got)
	}
	w.wantRemote(t, "d/f", []byte("z"))
}

// TestVersionsCost: browsing a directory of 1,000 files with 3 versions
// each (ls -l of the tree at a moment, and of one file's history) costs
// ceil(3,000/10,000) = 1 list call and no class B call.
func TestVersionsCost(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "cbucket", "cbucket2")
	for v := 0; v < 3; v++ {
		for i := 0; i < 1000; i++ {
			put(t, ts, "cbucket", fmt.Sprintf("big/f%04d", i), []byte(fmt.Sprint(v)), nil)
		}
	}
	for v := 0; v < 3; v++ { // 12,000 versions in another bucket
		for i := 0; i < 4000; i++ {
			put(t, ts, "cbucket2", fmt.Sprintf("big/f%04d", i), []byte(fmt.Sprint(v)), nil)
		}
	}
	m := startMount(t, ts, mountOpts{Source: "cbucket"})
	ts.ResetStats()
	start := time.Now()
	out := sh(t, m.Dir, "ls -l "+vdir+"/at/2999-01-01/big | wc -l; ls -l "+vdir+"/history/big | wc -l; ls -l "+vdir+"/history/big/f0500 | wc -l")
	took := time.Since(start)
	if out != "1001\n1001\n5\n" { // "total" lines; 3 versions and current
		t.Fatalf("listings: %q", out)
	}
	s := ts.Stats()
	if s.Calls["b2_list_file_versions"] != 1 || s.Classes["C"] != 1 || s.Classes["B"] != 0 {
		t.Fatalf("calls %v classes %v, want one b2_list_file_versions and no class B", s.Calls, s.Classes)
	}
	t.Logf("ls -l of the tree at a moment, of history/big and of one file's history (1,000 files, 3,000 versions): %v", took)
	// Reading a version costs its bytes: one ranged download.
	if got := sh(t, m.Dir, "cat "+vdir+"/at/2999-01-01/big/f0007"); got != "2" {
		t.Fatalf("f0007 now: %q", got)
	}
	if s := ts.Stats(); s.Calls["b2_download_file_by_id"] != 1 || s.Classes["C"] != 1 {
		t.Fatalf("after one read: %v", s.Calls)
	}
	// 12,000 versions: ceil(12,000/10,000) = 2 list calls.
	m2 := startMount(t, ts, mountOpts{Source: "cbucket2"})
	ts.ResetStats()
	if out := sh(t, m2.Dir, "ls -l "+vdir+"/at/2999-01-01/big | wc -l; ls "+vdir+"/history/big/f3999 | wc -l"); out != "4001\n4\n" {
		t.Fatalf("listings: %q", out)
	}
	if s := ts.Stats(); s.Calls["b2_list_file_versions"] != 2 || s.Classes["C"] != 2 || s.Classes["B"] != 0 {
		t.Fatalf("12,000 versions: calls %v classes %v, want 2 b2_list_file_versions and no class B", s.Calls, s.Classes)
	}
}

// TestVersionsNoListPermission: a key whose version listings are refused
// gets EACCES in the view (and a log line saying why); the mount and its
// live tree carry on.
func TestVersionsNoListPermission(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "kbucket")
	put(t, ts, "kbucket", "f", []byte("f"), nil)
	m := startMount(t, ts, mountOpts{Source: "kbucket"})
	ts.AddFault(b2emu.FaultRule{API: "b2_list_file_versions", Status: 401, Code: "unauthorized", Times: -1})
	for _, p := range []string{vdir + "/history", vdir + "/at/2026-01-01"} {
		if _, errOut, err := shErr(m.Dir, "ls "+p); err == nil || !strings.Contains(errOut, "Permission denied") {
			t.Fatalf("ls %s: %v %q, want EACCES", p, err, errOut)
		}
	}
	if got := sh(t, m.Dir, "cat f"); got != "f" {
		t.Fatalf("live tree: %q", got)
	}
	if !strings.Contains(m.stderr.String(), "may not list file versions") {
		t.Fatal("no log line for the refused version listing")
	}
}

// TestVersionsMetadataCopiesKeepContent: b2fs replaces a version by a
// metadata copy for chmod, touch and setfattr and deletes the replaced
// version; every content ever stored stays in the history.
func TestVersionsMetadataCopiesKeepContent(t *testing.T) {
	testenv.RequireTool(t, "setfattr", "getfattr")
	w := newWriteEnv(t, "--metadata-delay", "0")
	put(t, w.ts, "wbucket", "m.txt", []byte("one"), nil) // by another client
	put(t, w.ts, "wbucket", "m.txt", []byte("two"), nil)
	sh(t, w.m.Dir, "chmod 600 m.txt && touch -d @1600000000 m.txt && setfattr -n user.k -v v m.txt")
	sh(t, w.m.Dir, "printf three > m.txt && chmod 640 m.txt && touch -d @1600000100 m.txt")
	w.waitRemote(t, "m.txt", []byte("three"), 1600000100)
	hist := filepath.Join(w.m.Dir, vdir, "history", "m.txt")
	vs, cur := historyOf(t, hist)
	var got []string
	for _, v := range vs {
		b, err := os.ReadFile(filepath.Join(hist, v))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 { // the shell's "> m.txt" truncates first: an empty version
			got = append(got, string(b))
		}
		if string(b) == "two" { // its metadata as the changes left it
			if out := sh(t, hist, "stat -c '%a %Y' "+v+"; getfattr --only-values -n user.k "+v); out != "600 1600000000\nv" {
				t.Fatalf("version %s: %q", v, out)
			}
		}
	}
	if strings.Join(got, ",") != "one,two,three" || cur != vs[len(vs)-1] {
		t.Fatalf("history %q reads %q (current %q), want one,two,three", vs, got, cur)
	}
	if n := w.versions(t, "m.txt"); n != len(vs) {
		t.Fatalf("B2 stores %d versions, the history shows %d", n, len(vs))
	}
	if got := sh(t, hist, "stat -L -c '%a %Y' current"); got != "640 1600000100\n" {
		t.Fatalf("current version's mode and mtime: %q", got)
	}
}
