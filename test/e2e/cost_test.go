package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// waitCalls polls the emulator until api has been called want times (or
// the deadline passes) and returns the final count.
func (w *writeEnv) waitCalls(api string, want int64, within time.Duration) int64 {
	deadline := time.Now().Add(within)
	for {
		n := w.ts.Stats().Calls[api]
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCostDeferredMetadataCoalesces: several metadata changes of a closed
// file show at once in stat and reach B2 after the delay as one copy.
func TestCostDeferredMetadataCoalesces(t *testing.T) {
	testenv.RequireTool(t, "stat")
	w := newWriteEnv(t, "--metadata-delay", "700ms")
	sh(t, w.m.Dir, "echo content > f; stat f >/dev/null")
	w.ts.ResetStats()
	got := sh(t, w.m.Dir, "touch -d @1600000000 f; chmod 600 f; chown 1000:65534 f; stat -c '%a %u %g %Y' f")
	if got != "600 1000 65534 1600000000\n" {
		t.Fatalf("stat right after the changes: %q", got)
	}
	if n := w.ts.Stats().Calls["b2_copy_file"]; n != 0 {
		t.Fatalf("%d copies before the delay, want 0", n)
	}
	if n := w.waitCalls("b2_copy_file", 1, 10*time.Second); n != 1 {
		t.Fatalf("%d copies after the delay, want 1 (calls: %v)", n, w.ts.Stats().Calls)
	}
	time.Sleep(1500 * time.Millisecond) // nothing more follows
	s := w.ts.Stats()
	if s.Calls["b2_copy_file"] != 1 || s.Calls["b2_upload_file"] != 0 {
		t.Fatalf("calls %v, want exactly one copy", s.Calls)
	}
	f := w.wantRemote(t, "f", []byte("content\n"))
	if f.Info["b2fs-mode"] != "600" || f.Info["b2fs-uid"] != "1000" || f.Info["b2fs-gid"] != "65534" ||
		f.Info["src_last_modified_millis"] != "1600000000000" {
		t.Fatalf("info in B2 %v", f.Info)
	}
	if got := sh(t, w.m.Dir, "stat -c '%a %u %g %Y' f"); got != "600 1000 65534 1600000000\n" {
		t.Fatalf("stat after the copy: %q", got)
	}
	// "echo content > f" stored one version, the copy replaced it: one.
	if n := w.versions(t, "f"); n != 1 {
		t.Fatalf("f has %d stored versions, want 1", n)
	}
}

// TestCostShellRedirectOneVersion: "echo x > f" (the shell closes a
// duplicate descriptor first, so the new file is uploaded empty, then with
// its content) leaves one stored version.
func TestCostShellRedirectOneVersion(t *testing.T) {
	w := newWriteEnv(t)
	w.ts.ResetStats()
	sh(t, w.m.Dir, "echo x > f; : > e; printf 'a\nb\n' > g")
	w.wantRemote(t, "f", []byte("x\n"))
	w.wantRemote(t, "e", nil)
	w.wantRemote(t, "g", []byte("a\nb\n"))
	for _, name := range []string{"f", "e", "g"} {
		if n := w.versions(t, name); n != 1 {
			t.Fatalf("%s has %d stored versions, want 1 (calls %v)", name, n, w.ts.Stats().Calls)
		}
	}
	// An existing file's older versions are never deleted by an overwrite
	// or an append, nor an empty file's by a later write.
	sh(t, w.m.Dir, "echo again > f; echo more >> g; echo now > e")
	for _, name := range []string{"f", "e", "g"} {
		if n := w.versions(t, name); n != 2 {
			t.Fatalf("%s has %d stored versions after an overwrite, want 2", name, n)
		}
	}
}

// TestCostMetadataAtFsyncRenameAndUnmount: with a long delay, fsync of the
// file or its directory, a rename and unmount each apply the pending
// changes.
func TestCostMetadataAtFsyncRenameAndUnmount(t *testing.T) {
	testenv.RequireTool(t, "sync", "stat")
	w := newWriteEnv(t, "--metadata-delay", "1h")
	sh(t, w.m.Dir, "mkdir d; echo a > a; echo b > d/b; echo c > c; echo e > e; stat a d/b c e >/dev/null")

	w.ts.ResetStats()
	sh(t, w.m.Dir, "chmod 600 a; touch -d @1500000000 a; sync a")
	if s := w.ts.Stats(); s.Calls["b2_copy_file"] != 1 {
		t.Fatalf("chmod+touch+fsync: %v, want one copy", s.Calls)
	}
	if f := w.wantRemote(t, "a", []byte("a\n")); f.Info["b2fs-mode"] != "600" || f.Info["src_last_modified_millis"] != "1500000000000" {
		t.Fatalf("a's info after fsync %v", f.Info)
	}

	w.ts.ResetStats()
	sh(t, w.m.Dir, "chmod 640 d/b; sync d")
	if s := w.ts.Stats(); s.Calls["b2_copy_file"] != 1 {
		t.Fatalf("chmod+fsync of the directory: %v, want one copy", s.Calls)
	}
	if f := w.wantRemote(t, "d/b", []byte("b\n")); f.Info["b2fs-mode"] != "640" {
		t.Fatalf("d/b's info after directory fsync %v", f.Info)
	}

	// A rename carries the pending changes in its own copy.
	w.ts.ResetStats()
	sh(t, w.m.Dir, "chmod 604 c; touch -d @1400000000 c; mv c c2")
	if s := w.ts.Stats(); s.Calls["b2_copy_file"] != 1 {
		t.Fatalf("chmod+touch+rename: %v, want one copy", s.Calls)
	}
	if f := w.wantRemote(t, "c2", []byte("c\n")); f.Info["b2fs-mode"] != "604" || f.Info["src_last_modified_millis"] != "1400000000000" {
		t.Fatalf("c2's info after rename %v", f.Info)
	}
	if got := sh(t, w.m.Dir, "stat -c '%a %Y' c2"); got != "604 1400000000\n" {
		t.Fatalf("stat c2: %q", got)
	}

	// The rename's source, created by this mount, is deleted, not hidden.
	if s := w.ts.Stats(); s.Calls["b2_hide_file"] != 0 {
		t.Fatalf("rename made %d hides, want 0 (%v)", s.Calls["b2_hide_file"], s.Calls)
	}
	if n := w.versions(t, "c"); n != 0 {
		t.Fatalf("c has %d stored versions after the rename, want 0", n)
	}
	if n := w.versions(t, "c2"); n != 1 {
		t.Fatalf("c2 has %d stored versions, want 1", n)
	}

	// Unmount applies what is still pending before b2fs exits.
	w.ts.ResetStats()
	sh(t, w.m.Dir, "chmod 611 e; chown 65534:65534 e")
	if n := w.ts.Stats().Calls["b2_copy_file"]; n != 0 {
		t.Fatalf("%d copies before unmount, want 0", n)
	}
	w.m.stop(t)
	if s := w.ts.Stats(); s.Calls["b2_copy_file"] != 1 {
		t.Fatalf("unmount: %v, want one copy", s.Calls)
	}
	if f := w.wantRemote(t, "e", []byte("e\n")); f.Info["b2fs-mode"] != "611" || f.Info["b2fs-uid"] != "65534" {
		t.Fatalf("e's info after unmount %v", f.Info)
	}
}

// TestCostRsync: rsync -a of small files with modes and times costs one
// upload per file and at most one copy per file.
func TestCostRsync(t *testing.T) {
	testenv.RequireTool(t, "rsync", "stat")
	w := newWriteEnv(t)
	src := t.TempDir()
	const n = 20
	for i := 0; i < n; i++ {
		p := filepath.Join(src, fmt.Sprintf("f%02d", i))
		if err := os.WriteFile(p, []byte(strings.Repeat("x", i+1)), 0o640); err != nil {
			t.Fatal(err)
		}
		tm := time.Unix(1500000000+int64(i), 0)
		if err := os.Chtimes(p, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	sh(t, w.m.Dir, "mkdir dst; stat dst >/dev/null")
	w.ts.ResetStats()
	sh(t, w.m.Dir, "rsync -a "+src+"/ dst/")
	got := sh(t, w.m.Dir, "cd dst && stat -c '%n %a %Y %s' *")
	want := ""
	for i := 0; i < n; i++ {
		want += fmt.Sprintf("f%02d 640 %d %d\n", i, 1500000000+i, i+1)
	}
	if got != want {
		t.Fatalf("stat after rsync:\n%s\nwant:\n%s", got, want)
	}
	s := w.ts.Stats()
	t.Logf("rsync -a of %d files: %v", n, s.Calls)
	// At most one copy per file, and one for the times and mode of the
	// directory itself (its .bzEmpty marker).
	if s.Calls["b2_upload_file"] != n || s.Calls["b2_copy_file"] > n+1 {
		t.Fatalf("rsync -a of %d files: %v, want %d uploads and at most %d copies", n, s.Calls, n, n+1)
	}
	// Temporary files are deleted, never hidden. The one hide allowed is
	// the directory's .bzEmpty marker: while rsync fills dst it has entries
	// and default metadata, so its marker may be tidied away (docs/posix.md)
	// before rsync sets the directory's mode at the end.
	if s.Calls["b2_hide_file"] > 1 {
		t.Fatalf("rsync -a of %d files made %d hides, want at most 1 (the directory marker; temporary files deleted instead)", n, s.Calls["b2_hide_file"])
	}
	// What B2 has is complete once the mount stops: one stored version
	// per file, nothing left of the temporary files.
	w.m.stop(t)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("dst/f%02d", i)
		f := w.wantRemote(t, name, []byte(strings.Repeat("x", i+1)))
		if f.Info["b2fs-mode"] != "640" || f.Info["src_last_modified_millis"] != fmt.Sprint((1500000000+int64(i))*1000) {
			t.Fatalf("%s info %v", name, f.Info)
		}
		if v := w.versions(t, name); v != 1 {
			t.Fatalf("%s has %d stored versions, want 1", name, v)
		}
	}
	if v := w.versions(t, "dst/."); v != 0 {
		t.Fatalf("%d stored versions of rsync's temporary files left", v)
	}
}

// TestCostReadBackWithoutDownload: reading a file just written from this
// mount (also after a rename and a metadata change) downloads nothing; a
// file changed since is read from B2 again.
func TestCostReadBackWithoutDownload(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	body := testenv.Pattern(3, 200000) // a large file (parts of 64 KiB)
	if err := os.WriteFile(filepath.Join(w.m.Dir, "big"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	sh(t, w.m.Dir, "echo small > s; mv s s2; chmod 600 s2")
	w.ts.ResetStats()
	got, err := os.ReadFile(filepath.Join(w.m.Dir, "big"))
	if err != nil || sha(got) != sha(body) {
		t.Fatalf("read back big: %v (%d bytes)", err, len(got))
	}
	if out := sh(t, w.m.Dir, "cat s2"); out != "small\n" {
		t.Fatalf("cat s2 = %q", out)
	}
	// A new version through the mount replaces the local copy.
	if out := sh(t, w.m.Dir, "echo newer > s2; cat s2"); out != "newer\n" {
		t.Fatalf("cat s2 after an overwrite = %q", out)
	}
	assertNoCalls(t, w.ts, "reading back what was just written", "b2_download_file_by_id", "b2_download_file_by_name")

	// Another writer replaces s2 in B2; after the listing is refreshed
	// (a fresh mount), its content comes from B2.
	put(t, w.ts, "wbucket", "s2", []byte("from elsewhere\n"), nil)
	w2 := mountWrite(t, w.ts, "wbucket")
	if out := sh(t, w2.m.Dir, "cat s2"); out != "from elsewhere\n" {
		t.Fatalf("cat s2 on a second mount = %q", out)
	}
	// The read cache goes with the mount: nothing of it is left to
	// upload or to clean.
	w.m.stop(t)
	kept, _ := filepath.Glob(filepath.Join(w.cache, "staging", "*", "kept"))
	if len(kept) != 0 {
		t.Fatalf("read cache left after unmount: %v", kept)
	}
}

// TestCostVersionDeleteFailureKeepsSemantics: when deleting a superseded
// version fails, b2fs falls back to what it did before (hide, keep the
// version): nothing visible changes and no old content comes back.
func TestCostVersionDeleteFailureKeepsSemantics(t *testing.T) {
	w := newWriteEnv(t, "--metadata-delay", "0")
	// The first delete (the empty version of "echo tmp > .t") works; the
	// second (the version chmod's copy replaced) fails, so .t keeps two
	// versions and the rename must hide it, not delete its newest.
	w.ts.AddFault(b2emu.FaultRule{API: "b2_delete_file_version", Skip: 1, Times: 1, Status: 400, Code: "bad_request"})
	sh(t, w.m.Dir, "echo tmp > .t; chmod 600 .t; mv .t final; echo x > f")
	w.wantGone(t, ".t")
	if f := w.wantRemote(t, "final", []byte("tmp\n")); f.Info["b2fs-mode"] != "600" {
		t.Fatalf("final's info %v", f.Info)
	}
	w.wantRemote(t, "f", []byte("x\n"))
	if got := sh(t, w.m.Dir, "ls -A; stat -c %a final"); got != "f\nfinal\n600\n" {
		t.Fatalf("listing after failed deletes: %q", got)
	}
	if s := w.ts.Stats(); s.Calls["b2_hide_file"] != 1 {
		t.Fatalf("rename with a failing delete: %v, want the source hidden once", s.Calls)
	}
}
