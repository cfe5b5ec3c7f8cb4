package e2e

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
	"golang.org/x/sys/unix"
)

// The write tests use 64 KiB parts so that "large" files stay small.
const wPart = 1 << 16

// writeEnv is an emulator with bucket "wbucket", a b2fs mount of it and a client
// to look at what reached B2.
type writeEnv struct {
	ts    *b2emu.TestServer
	m     *mount
	c     *b2client.Client
	cache string
}

func newWriteEnv(t *testing.T, args ...string) *writeEnv {
	t.Helper()
	testenv.RequireFUSE(t)
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "wbucket")
	return mountWrite(t, ts, "wbucket", args...)
}

func mountWrite(t *testing.T, ts *b2emu.TestServer, source string, args ...string) *writeEnv {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "cache")
	a := append([]string{"--cache-dir", cache, "--part-size", "64KiB"}, args...)
	w := &writeEnv{ts: ts, cache: cache}
	w.m = startMount(t, ts, mountOpts{Source: source, Args: a})
	c, err := b2client.New(context.Background(), b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

func sha(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

// remote downloads bucket wb's current version of name.
func (w *writeEnv) remote(t *testing.T, name string) (b2client.File, []byte) {
	t.Helper()
	r, err := w.c.Download(context.Background(), b2client.DownloadRequest{BucketName: "wbucket", Name: name})
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	return r.File, b
}

func (w *writeEnv) wantRemote(t *testing.T, name string, want []byte) b2client.File {
	t.Helper()
	f, got := w.remote(t, name)
	if sha(got) != sha(want) {
		t.Fatalf("B2 has %d bytes (sha1 %s) for %s, want %d bytes (sha1 %s)", len(got), sha(got), name, len(want), sha(want))
	}
	return f
}

func (w *writeEnv) wantGone(t *testing.T, name string) {
	t.Helper()
	if _, err := w.c.Head(context.Background(), "wbucket", name); !b2client.IsNotFound(err) {
		t.Fatalf("%s still visible in B2: %v", name, err)
	}
}

// makeTree writes a source tree: many small files, a few files larger than
// the part size (and the upload cutoff), nested and empty directories, odd
// names. Modification times are set in the past.
func makeTree(t *testing.T, dir string, small int) {
	t.Helper()
	for i := 0; i < small; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%4))
		os.MkdirAll(sub, 0o755)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("small %d.txt", i)), testenv.Pattern(uint64(i), 100+i*37), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "big", "deeper"), 0o755)
	os.MkdirAll(filepath.Join(dir, "empty", "also empty"), 0o755)
	for i, n := range []int{3*wPart + 17, 2*wPart + 1, wPart + 5} {
		if err := os.WriteFile(filepath.Join(dir, "big", fmt.Sprintf("large-%d.bin", i)), testenv.Pattern(uint64(1000+i), n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "big", "deeper", "ünïcødé + ß.txt"), []byte("unicode\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "zero"), nil, 0o644)
	old := time.Date(2021, 3, 4, 5, 6, 7, 123_000_000, time.UTC)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, old, old)
			old = old.Add(time.Minute)
		}
		return nil
	})
}

// rclone runs rclone against the emulator with an empty config.
func rclone(t *testing.T, ts *b2emu.TestServer, args ...string) (string, error) {
	t.Helper()
	testenv.RequireTool(t, "rclone")
	conf := filepath.Join(t.TempDir(), "rclone.conf")
	os.WriteFile(conf, nil, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "rclone", args...)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf, "RCLONE_B2_ACCOUNT="+ts.KeyID,
		"RCLONE_B2_KEY="+ts.Key, "RCLONE_B2_ENDPOINT="+ts.URL)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkWithRclone compares the local tree src with wb/prefix through
// rclone: same names, sizes and SHA-1s, and the same modification times.
func checkWithRclone(t *testing.T, ts *b2emu.TestServer, src, prefix string, precision time.Duration) {
	t.Helper()
	if out, err := rclone(t, ts, "check", src, ":b2:wbucket/"+prefix, "--exclude", ".bzEmpty"); err != nil {
		t.Fatalf("rclone check: %v\n%s", err, out)
	}
	out, err := rclone(t, ts, "lsjson", "-R", "--files-only", ":b2:wbucket/"+prefix)
	if err != nil {
		t.Fatalf("rclone lsjson: %v\n%s", err, out)
	}
	var items []struct {
		Path    string
		ModTime time.Time
	}
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, it := range items {
		if filepath.Base(it.Path) == ".bzEmpty" {
			continue
		}
		st, err := os.Stat(filepath.Join(src, it.Path))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := it.ModTime.Truncate(precision), st.ModTime().Truncate(precision); !got.Equal(want) {
			t.Errorf("%s: rclone sees mtime %v, source has %v", it.Path, it.ModTime, st.ModTime())
		}
		n++
	}
	if n == 0 {
		t.Fatal("rclone listed no files")
	}
}

// TestWriteTools copies a tree into the mount with cp -a, rsync -a (twice)
// and tar x, and checks it with diff -r and with rclone directly against
// B2; then removes it with rm -r.
func TestWriteTools(t *testing.T) {
	testenv.RequireTool(t, "rsync", "tar", "diff")
	w := newWriteEnv(t)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 40)
	mnt := w.m.Dir

	// Times and the SHA-1 of large files streamed while written reach B2
	// as deferred metadata (see --metadata-delay); fsync of each file
	// (sync FILE...) makes them durable before rclone looks.
	const syncAll = " && find . -type f -exec sync {} +"
	sh(t, mnt, "cp -a "+src+" cpa && cd cpa"+syncAll)
	sh(t, mnt, "diff -r "+src+" cpa")
	checkWithRclone(t, w.ts, src, "cpa", time.Millisecond)

	sh(t, mnt, "rsync -a "+src+"/ rs/")
	sh(t, mnt, "diff -r "+src+" rs")
	checkWithRclone(t, w.ts, src, "rs", time.Millisecond)
	w.ts.ResetStats()
	out := sh(t, mnt, "rsync -a --stats --itemize-changes "+src+"/ rs/")
	if strings.Contains(out, ">f") || !strings.Contains(out, "Number of regular files transferred: 0") {
		t.Fatalf("second rsync transferred files:\n%s", out)
	}
	if st := w.ts.Stats().Calls; st["b2_upload_file"]+st["b2_upload_part"]+st["b2_copy_file"] != 0 {
		t.Fatalf("second rsync uploaded: %v", st)
	}

	tarball := filepath.Join(t.TempDir(), "src.tar")
	sh(t, filepath.Dir(src), "tar cf "+tarball+" src")
	sh(t, mnt, "mkdir tx && tar xf "+tarball+" -C tx && diff -r "+src+" tx/src && cd tx"+syncAll)
	checkWithRclone(t, w.ts, src, "tx/src", time.Second) // tar keeps whole seconds

	sh(t, mnt, "rm -r cpa rs tx")
	if out := sh(t, mnt, "ls -A"); out != "" {
		t.Fatalf("after rm -r the mount lists %q", out)
	}
	if out, err := rclone(t, w.ts, "lsf", "-R", ":b2:wbucket"); err != nil || out != "" {
		t.Fatalf("after rm -r B2 still has %q (%v)", out, err)
	}
}

// TestWriteGitAndEditor runs git inside the mount and saves a file the way
// editors do (temporary file, fsync, rename over the original).
func TestWriteGitAndEditor(t *testing.T) {
	testenv.RequireTool(t, "git")
	w := newWriteEnv(t)
	mnt := w.m.Dir
	git := "git -c user.email=t@example.com -c user.name=t -c init.defaultBranch=main "
	sh(t, mnt, "mkdir repo && cd repo && "+git+"init -q && printf 'one\\n' > a.txt && mkdir sub && printf 'two\\n' > sub/b.txt && "+
		git+"add . && "+git+"commit -qm first && printf 'three\\n' >> a.txt && "+git+"commit -qam second")
	if out := sh(t, mnt, "cd repo && "+git+"log --format=%s"); out != "second\nfirst\n" {
		t.Fatalf("git log %q", out)
	}
	if out := sh(t, mnt, "cd repo && "+git+"status --porcelain && "+git+"fsck --full 2>&1"); strings.TrimSpace(out) != "" {
		t.Fatalf("git status/fsck: %q", out)
	}
	w.wantRemote(t, "repo/a.txt", []byte("one\nthree\n"))
	// git tries link() for every object it writes and falls back to
	// rename: an expected refusal, logged at debug level, never a warning.
	log := w.m.stderr.String()
	if !strings.Contains(log, "hard link refused") {
		t.Error("git made no link() attempt (the check below proves nothing)")
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			t.Errorf("git workload logged: %s", l)
		}
	}

	// Editor save: write a temporary file, fsync it, rename it over.
	sh(t, mnt, "printf 'v1' > notes.txt")
	sh(t, mnt, "printf 'version 2' > .notes.txt.swp && sync .notes.txt.swp && mv .notes.txt.swp notes.txt")
	if out := sh(t, mnt, "cat notes.txt; ls -A"); !strings.HasPrefix(out, "version 2") || strings.Contains(out, ".swp") {
		t.Fatalf("after save: %q", out)
	}
	w.wantRemote(t, "notes.txt", []byte("version 2"))
	w.wantGone(t, ".notes.txt.swp")
}

// TestWriteOperations covers partial overwrites, truncate, append, utimes,
// mkdir/rmdir, mv of files and directories, and the errors of bad names.
func TestWriteOperations(t *testing.T) {
	testenv.RequireTool(t, "dd", "truncate")
	w := newWriteEnv(t)
	mnt := w.m.Dir
	orig := testenv.Pattern(7, 5*wPart+100)
	put(t, w.ts, "wbucket", "data/big.bin", orig, nil)
	put(t, w.ts, "wbucket", "data/small.txt", []byte("0123456789"), nil)

	// dd conv=notrunc overwrites 8 bytes in the middle of a large file.
	w.ts.ResetStats()
	sh(t, mnt, "printf 'XXXXXXXX' | dd of=data/big.bin bs=1 seek=200000 conv=notrunc status=none")
	want := append([]byte(nil), orig...)
	copy(want[200000:], "XXXXXXXX")
	w.wantRemote(t, "data/big.bin", want)
	if c := w.ts.Stats().Calls; c["b2_copy_part"] < 4 || c["b2_upload_part"] != 1 {
		t.Errorf("partial overwrite: want untouched parts copied on the server, got %v", c)
	}

	// truncate, append
	sh(t, mnt, "truncate -s 4 data/small.txt && printf 'abc' >> data/small.txt && echo line >> data/small.txt")
	w.wantRemote(t, "data/small.txt", []byte("0123abcline\n"))
	sh(t, mnt, "truncate -s 100 data/small.txt")
	w.wantRemote(t, "data/small.txt", append([]byte("0123abcline\n"), make([]byte, 88)...))
	sh(t, mnt, "truncate -s 0 data/big.bin")
	w.wantRemote(t, "data/big.bin", nil)

	// touch -d sets the modification time, stored for other B2 tools (at
	// fsync at the latest, see --metadata-delay).
	sh(t, mnt, "touch -d '2019-05-06 07:08:09.5' data/small.txt && sync data/small.txt")
	wantT := time.Date(2019, 5, 6, 7, 8, 9, 500_000_000, time.Local)
	if out := sh(t, mnt, "stat -c %Y.%y data/small.txt"); !strings.HasPrefix(out, fmt.Sprint(wantT.Unix())) {
		t.Fatalf("stat after touch -d: %q", out)
	}
	f, _ := w.remote(t, "data/small.txt")
	if f.ModTime().UnixMilli() != wantT.UnixMilli() {
		t.Fatalf("B2 mtime %v, want %v", f.ModTime(), wantT)
	}
	// touch of a new file
	sh(t, mnt, "touch -d '2018-01-01 00:00:00' new-empty && sync new-empty && stat -c %s new-empty")
	f = w.wantRemote(t, "new-empty", nil)
	if f.ModTime().Year() != 2018 {
		t.Fatalf("new file's mtime %v", f.ModTime())
	}
	// A time set through a handle with unsent writes (cp -p, cp -a) goes up
	// with the upload: no copy.
	w.ts.ResetStats()
	sf, err := os.OpenFile(filepath.Join(mnt, "stamped"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	tv := []syscall.Timeval{{Sec: 1500000000}, {Sec: 1500000000}}
	if err := syscall.Futimes(int(sf.Fd()), tv); err != nil {
		t.Fatalf("futimes: %v", err)
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
	f = w.wantRemote(t, "stamped", []byte("data"))
	if f.ModTime().Unix() != 1500000000 {
		t.Fatalf("futimens before close: B2 mtime %v", f.ModTime())
	}
	if c := w.ts.Stats().Calls; c["b2_copy_file"] != 0 || c["b2_upload_file"] != 1 {
		t.Errorf("futimens before close: want one upload and no copy, got %v", c)
	}
	sh(t, mnt, "rm stamped")

	// mkdir -p, rmdir
	sh(t, mnt, "mkdir -p a/b/c && test -d a/b/c && rmdir a/b/c && test ! -e a/b/c && test -d a/b")
	if _, errOut, err := shErr(mnt, "rmdir a"); err == nil || !strings.Contains(errOut, "Directory not empty") {
		t.Fatalf("rmdir of a non-empty directory: %v %s", err, errOut)
	}
	if _, errOut, err := shErr(mnt, "mkdir a"); err == nil || !strings.Contains(errOut, "exists") {
		t.Fatalf("mkdir of an existing directory: %v %s", err, errOut)
	}
	// The empty directory survives a remount (it is a .bzEmpty marker).
	if out := sh(t, mnt, "ls a"); out != "b\n" {
		t.Fatalf("ls a: %q", out)
	}
	w.wantRemote(t, "a/b/.bzEmpty", nil)

	// mv of a file (replacing a target) and of a directory tree
	sh(t, mnt, "printf one > m1 && printf two > m2 && mv m1 m2")
	w.wantRemote(t, "m2", []byte("one"))
	w.wantGone(t, "m1")
	sh(t, mnt, "mkdir -p tree/x/y && printf deep > tree/x/y/f && printf top > tree/g && mv tree moved")
	if out := sh(t, mnt, "cat moved/x/y/f moved/g; ls -A; ls -R moved"); !strings.HasPrefix(out, "deeptop") || strings.Contains(out, "tree") {
		t.Fatalf("after mv of a directory: %q", out)
	}
	w.wantRemote(t, "moved/x/y/f", []byte("deep"))
	w.wantGone(t, "tree/x/y/f")
	// a moved directory keeps working under its new name
	sh(t, mnt, "printf more >> moved/x/y/f && cat moved/x/y/f")
	w.wantRemote(t, "moved/x/y/f", []byte("deepmore"))

	// mv of a file that is still open for writing: uploaded first, and
	// later writes through the open handle land under the new name.
	sh(t, mnt, "exec 3>open.txt; printf abc >&3; mv open.txt renamed.txt; printf def >&3; exec 3>&-")
	w.wantRemote(t, "renamed.txt", []byte("abcdef"))
	w.wantGone(t, "open.txt")
	sh(t, mnt, "rm renamed.txt")

	// rm -r
	sh(t, mnt, "rm -r moved a data")
	if out := sh(t, mnt, "ls -A"); out != "m2\nnew-empty\n" {
		t.Fatalf("after rm -r: %q", out)
	}
	w.wantGone(t, "moved/g")

	// Bad names. (Backslash and control characters are stored with
	// rclone's encoding: TestNamesInteropWithRclone.)
	long := strings.Repeat("n", 251)
	for _, tc := range []struct{ cmd, msg string }{
		{"touch " + long, "File name too long"},
		{"mkdir " + long, "File name too long"},
		{"touch .bzEmpty", "Invalid argument"},
		{"c=$(printf 'c%.0s' $(seq 1 200)); mkdir -p \"x/$c/$c/$c/$c/$c/$c\"", "File name too long"},
	} {
		if _, errOut, err := shErr(mnt, tc.cmd); err == nil || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%s: %v %q, want %q", tc.cmd[:min(len(tc.cmd), 40)], err, errOut, tc.msg)
		}
	}
}

// TestWriteDurableAfterFsync kills b2fs with SIGKILL right after fsync
// returns: everything fsynced is in B2.
func TestWriteDurableAfterFsync(t *testing.T) {
	w := newWriteEnv(t)
	mnt := w.m.Dir
	small := testenv.Pattern(1, 5000)
	large := testenv.Pattern(2, 6*wPart+3)
	writeSync := func(name string, data []byte) {
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += 10000 {
			if _, err := f.Write(data[off:min(off+10000, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("fsync %s: %v", name, err)
		}
		// deliberately not closed: the process dies with it open
		t.Cleanup(func() { f.Close() })
	}
	writeSync("fsynced-small", small)
	writeSync("fsynced-large", large)

	w.m.cmd.Process.Signal(syscall.SIGKILL)
	<-w.m.exited
	exec.Command("fusermount3", "-u", "-z", mnt).Run()

	w.wantRemote(t, "fsynced-small", small)
	w.wantRemote(t, "fsynced-large", large)
}

// TestWriteFaults injects B2 failures during uploads: transient ones are
// retried and the data arrives intact; a permanent one fails close with
// EIO and leaves the staged data and its manifest in the cache directory.
func TestWriteFaults(t *testing.T) {
	w := newWriteEnv(t)
	mnt := w.m.Dir
	src := t.TempDir()
	small, large := testenv.Pattern(3, 40000), testenv.Pattern(4, 5*wPart+9)
	os.WriteFile(filepath.Join(src, "small"), small, 0o644)
	os.WriteFile(filepath.Join(src, "large"), large, 0o644)

	w.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Skip: 1, Times: 2, Status: 503})
	w.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: 1, Status: 500})
	w.ts.AddFault(b2emu.FaultRule{API: "b2_upload_part", Skip: 3, Times: 1, Action: "reset", ResetAfterBytes: 1000})
	sh(t, mnt, "cp "+src+"/small "+src+"/large .")
	w.wantRemote(t, "small", small)
	w.wantRemote(t, "large", large)

	w.ts.ExpireTokens()
	sh(t, mnt, "cp "+src+"/large large2")
	w.wantRemote(t, "large2", large)

	w.ts.ClearFaults()
	w.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 400, Code: "bad_request", Message: "permanent test failure"})
	_, errOut, err := shErr(mnt, "cp "+src+"/small doomed")
	if err == nil || !strings.Contains(errOut, "Input/output error") {
		t.Fatalf("cp with a permanently failing upload: %v %q", err, errOut)
	}
	w.ts.ClearFaults()
	w.wantGone(t, "doomed")
	ms, _ := filepath.Glob(filepath.Join(w.cache, "staging", "*", "*", "*.json"))
	found := false
	for _, p := range ms {
		b, _ := os.ReadFile(p)
		var man struct{ Name, State, ID string }
		json.Unmarshal(b, &man)
		if man.Name == "doomed" && man.State == "failed" {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(p), man.ID+".data"))
			if err != nil || !bytes.Equal(data, small) {
				t.Fatalf("staged data of the failed upload: %v", err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no failed manifest for doomed among %v", ms)
	}
	if !strings.Contains(w.m.stderr.String(), "doomed") {
		t.Error("the failure is not logged with the file name")
	}
	// The file is still visible locally with its data, and a later close
	// uploads it.
	sh(t, mnt, "cmp doomed "+src+"/small && touch doomed")
	w.wantRemote(t, "doomed", small)
}

// TestWriteConcurrent runs several writers at once, and two handles on one
// file.
func TestWriteConcurrent(t *testing.T) {
	w := newWriteEnv(t)
	mnt := w.m.Dir
	src := t.TempDir()
	var script strings.Builder
	for i := 0; i < 6; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprint(i)), testenv.Pattern(uint64(50+i), 3*wPart+i*1000), 0o644)
		fmt.Fprintf(&script, "cp %s/%d f%d & ", src, i, i)
	}
	script.WriteString("wait")
	sh(t, mnt, script.String())
	for i := 0; i < 6; i++ {
		w.wantRemote(t, fmt.Sprintf("f%d", i), testenv.Pattern(uint64(50+i), 3*wPart+i*1000))
	}
	// Two handles: both see each other's writes; the last close uploads.
	sh(t, mnt, "exec 3<>two 4<>two; printf AAAA >&3; printf BB >&4; cat <&3; exec 3>&- 4>&-")
	w.wantRemote(t, "two", []byte("BBAA"))
}

// writeStreamed writes a large file sequentially, waiting until parts are
// uploaded while it is open, and closes it. It returns the content and the
// file's modification time (ms) as the mount shows it after close.
func (w *writeEnv) writeStreamed(t *testing.T, name string) ([]byte, int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(w.m.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := testenv.Pattern(9, 12*wPart+5)
	if _, err := f.Write(data[:10*wPart]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.ts.Stats().Calls["b2_upload_part"] < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("no parts uploaded while the file is open: %v", w.ts.Stats().Calls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The last write comes later than streaming started: the final
	// modification time differs from the one the large file started with.
	time.Sleep(20 * time.Millisecond)
	if _, err := f.Write(data[10*wPart:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c := w.ts.Stats().Calls
	if c["b2_copy_part"]+c["b2_copy_file"] != 0 {
		t.Fatalf("close of a streamed file waited for a server-side copy: %v", c)
	}
	if c["b2_finish_large_file"] != 1 {
		t.Fatalf("close returned before the large file was finished: %v", c)
	}
	st, err := os.Stat(filepath.Join(w.m.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data, st.ModTime().UnixMilli()
}

// waitFixed waits until the current version of name has its whole-file
// SHA-1, and checks it and the modification time.
func (w *writeEnv) waitFixed(t *testing.T, name string, data []byte, mtime int64, within time.Duration) b2client.File {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := w.wantRemote(t, name, data)
		if v.Info["large_file_sha1"] != "" {
			if v.Info["large_file_sha1"] != sha(data) {
				t.Fatalf("large_file_sha1 = %q, want %s", v.Info["large_file_sha1"], sha(data))
			}
			if got := v.Info["src_last_modified_millis"]; got != fmt.Sprint(mtime) {
				t.Fatalf("src_last_modified_millis = %s, want %d", got, mtime)
			}
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no large_file_sha1 on %s after %v: %v", name, within, v.Info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitVersions waits until name has want stored versions: the version a
// metadata copy replaced is deleted just after the copy shows (and only
// once no descriptor reads it).
func (w *writeEnv) waitVersions(t *testing.T, name string, want int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := w.versions(t, name)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d stored versions, want %d", name, n, want)
		}
	}
}

// TestWriteStreams checks that a large file being written sequentially is
// uploaded in parts before it is closed, that close waits only for the
// data, and that its final metadata (whole-file SHA-1, exact time) follows
// as deferred metadata: after --metadata-delay, folded with other changes,
// at fsync, and at unmount.
func TestWriteStreams(t *testing.T) {
	t.Run("after-delay", func(t *testing.T) {
		w := newWriteEnv(t, "--metadata-delay", "300ms")
		data, mt := w.writeStreamed(t, "stream.bin")
		// Durable at close, before the fix-up.
		if v := w.wantRemote(t, "stream.bin", data); v.Info["large_file_sha1"] != "" {
			t.Logf("fix-up already applied at the first download: %v", v.Info)
		}
		w.ts.ResetStats()
		w.waitFixed(t, "stream.bin", data, mt, 15*time.Second)
		if c := w.ts.Stats().Calls; c["b2_start_large_file"] != 1 || c["b2_copy_part"] == 0 || c["b2_upload_part"] != 0 {
			t.Fatalf("fix-up calls: %v, want one server-side large copy", c)
		}
		w.waitVersions(t, "stream.bin", 1)
		if p := w.m.stderr.String(); strings.Contains(p, "not applied") {
			t.Fatalf("fix-up failure logged:\n%s", p)
		}
	})
	t.Run("chmod-folds", func(t *testing.T) {
		w := newWriteEnv(t, "--metadata-delay", "300ms")
		data, mt := w.writeStreamed(t, "stream.bin")
		w.ts.ResetStats()
		sh(t, w.m.Dir, "chmod 600 stream.bin")
		v := w.waitFixed(t, "stream.bin", data, mt, 15*time.Second)
		if v.Info["b2fs-mode"] != "600" {
			t.Fatalf("mode not in the fixed-up version: %v", v.Info)
		}
		time.Sleep(600 * time.Millisecond) // no second copy follows
		if c := w.ts.Stats().Calls; c["b2_start_large_file"] != 1 || c["b2_copy_file"] != 0 {
			t.Fatalf("chmod after close: %v, want one copy in all", c)
		}
		if n := w.versions(t, "stream.bin"); n != 1 {
			t.Fatalf("%d stored versions, want 1", n)
		}
	})
	t.Run("fsync", func(t *testing.T) {
		// Without passthrough: a reader served by the kernel from the read
		// cache reads nothing from B2 and pins no version.
		w := newWriteEnv(t, "--metadata-delay", "1h", "--passthrough=false")
		data, mt := w.writeStreamed(t, "stream.bin")
		// The reader must read the version from B2: opened while the
		// writer's staged copy is still there (its RELEASE follows close
		// asynchronously), it would read that copy and pin nothing.
		deadline := time.Now().Add(10 * time.Second)
		for {
			ms, _ := filepath.Glob(filepath.Join(w.cache, "staging", "*", "*", "*.json"))
			if len(ms) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the writer's staged copy stays: %v", ms)
			}
			time.Sleep(10 * time.Millisecond)
		}
		f, err := os.Open(filepath.Join(w.m.Dir, "stream.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		w.waitFixed(t, "stream.bin", data, mt, 0)
		// The version the open handle could still read goes once it
		// closes (a version is deleted only after its last reader).
		if n := w.versions(t, "stream.bin"); n != 2 {
			t.Fatalf("%d stored versions after fsync with the file open, want 2", n)
		}
		f.Close()
		deadline = time.Now().Add(10 * time.Second)
		for w.versions(t, "stream.bin") != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d stored versions after the last reader closed, want 1", w.versions(t, "stream.bin"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("unmount", func(t *testing.T) {
		w := newWriteEnv(t, "--metadata-delay", "1h")
		data, mt := w.writeStreamed(t, "stream.bin")
		w.m.stop(t)
		w.waitFixed(t, "stream.bin", data, mt, 0)
		if n := w.versions(t, "stream.bin"); n != 1 {
			t.Fatalf("%d stored versions after unmount, want 1", n)
		}
	})
	t.Run("streamed-sha1=false", func(t *testing.T) {
		w := newWriteEnv(t, "--metadata-delay", "0", "--streamed-sha1=false")
		data, _ := w.writeStreamed(t, "stream.bin")
		w.m.stop(t)
		if v := w.wantRemote(t, "stream.bin", data); v.Info["large_file_sha1"] != "" {
			t.Fatalf("large_file_sha1 with --streamed-sha1=false: %v", v.Info)
		}
		if c := w.ts.Stats().Calls; c["b2_copy_part"]+c["b2_copy_file"] != 0 {
			t.Fatalf("copies with --streamed-sha1=false: %v", c)
		}
	})
}

// TestWriteLimitsAndPermissions: a full cache directory gives ENOSPC, a
// read-only mount EROFS, a key without writeFiles EACCES with the missing
// capability logged.
func TestWriteLimitsAndPermissions(t *testing.T) {
	w := newWriteEnv(t, "--cache-max-size", "100KiB")
	if _, errOut, err := shErr(w.m.Dir, "head -c 300000 /dev/zero > full"); err == nil || !strings.Contains(errOut, "No space left on device") {
		t.Fatalf("write beyond --cache-max-size: %v %q", err, errOut)
	}
	sh(t, w.m.Dir, "head -c 50000 /dev/zero > fits")

	// A cache directory on a full file system: ENOSPC from the staging
	// file reaches the writer.
	if os.Geteuid() == 0 {
		testenv.RequireTool(t, "mount", "umount")
		small := filepath.Join(t.TempDir(), "tmpfs")
		os.Mkdir(small, 0o700)
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", small).Run() })
		full := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", small, "--part-size", "64KiB"}})
		if _, errOut, err := shErr(full.Dir, "head -c 1000000 /dev/zero > big"); err == nil || !strings.Contains(errOut, "No space left on device") {
			t.Fatalf("write to a full cache file system: %v %q", err, errOut)
		}
		sh(t, full.Dir, "rm -f big && printf ok > after && cat after")
	} else {
		t.Log("not root: the tmpfs part of this test needs root to mount")
	}

	ro := mountWrite(t, w.ts, "wbucket", "--read-only")
	if _, errOut, err := shErr(ro.m.Dir, "touch x"); err == nil || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("touch on a read-only mount: %v %q", err, errOut)
	}

	bid, _ := w.ts.BucketID("wbucket")
	id, key := createKeyWithCaps(t, w.ts, bid, []string{"listBuckets", "listFiles", "readFiles"})
	cache := filepath.Join(t.TempDir(), "cache")
	m := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", cache}, KeyID: id, Key: key})
	if _, errOut, err := shErr(m.Dir, "touch x"); err == nil || !strings.Contains(errOut, "Permission denied") {
		t.Fatalf("touch with a read-only key: %v %q", err, errOut)
	}
	if !strings.Contains(m.stderr.String(), "writeFiles") {
		t.Error("the missing capability is not logged")
	}
}

// TestWriteAccountRootBuckets: mkdir at the account root creates a private
// bucket, rmdir deletes it when empty.
func TestWriteAccountRootBuckets(t *testing.T) {
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "first-bucket")
	w := mountWrite(t, ts, "")
	sh(t, w.m.Dir, "mkdir new-bucket-1 && printf x > new-bucket-1/f")
	if _, ok := ts.BucketID("new-bucket-1"); !ok {
		t.Fatal("mkdir at the root created no bucket")
	}
	if _, errOut, err := shErr(w.m.Dir, "rmdir new-bucket-1"); err == nil || !strings.Contains(errOut, "not empty") {
		t.Fatalf("rmdir of a non-empty bucket: %v %q", err, errOut)
	}
	sh(t, w.m.Dir, "rm new-bucket-1/f")
	// a hidden file still holds the bucket (B2 keeps its versions)
	sh(t, w.m.Dir, "mkdir bucket-two && rmdir bucket-two")
	if _, ok := ts.BucketID("bucket-two"); ok {
		t.Fatal("rmdir left the bucket")
	}
	if _, errOut, err := shErr(w.m.Dir, "touch not-a-bucket"); err == nil || !strings.Contains(errOut, "Operation not permitted") {
		t.Fatalf("file at the account root: %v %q", err, errOut)
	}
	if _, errOut, err := shErr(w.m.Dir, "mkdir x"); err == nil || !strings.Contains(errOut, "Invalid argument") {
		t.Fatalf("mkdir with a bad bucket name: %v %q", err, errOut)
	}
}

// createKeyWithCaps makes an application key with the given capabilities.
func createKeyWithCaps(t *testing.T, ts *b2emu.TestServer, bucketID string, caps []string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/b2api/v3/b2_authorize_account", nil)
	req.SetBasicAuth(ts.KeyID, ts.Key)
	var auth struct {
		AccountID          string `json:"accountId"`
		AuthorizationToken string `json:"authorizationToken"`
		APIInfo            struct {
			StorageAPI struct {
				APIURL string `json:"apiUrl"`
			} `json:"storageApi"`
		} `json:"apiInfo"`
	}
	doJSON(t, req, &auth)
	b, _ := json.Marshal(map[string]any{"accountId": auth.AccountID, "keyName": "limited", "capabilities": caps, "bucketId": bucketID})
	req, _ = http.NewRequest("POST", auth.APIInfo.StorageAPI.APIURL+"/b2api/v3/b2_create_key", bytes.NewReader(b))
	req.Header.Set("Authorization", auth.AuthorizationToken)
	var key struct {
		ID  string `json:"applicationKeyId"`
		Key string `json:"applicationKey"`
	}
	doJSON(t, req, &key)
	return key.ID, key.Key
}

// TestWriteRenameLimit: a directory with more files than --max-rename-files
// is not renamed on the server (EXDEV); mv then copies it file by file.
func TestWriteRenameLimit(t *testing.T) {
	w := newWriteEnv(t, "--max-rename-files", "3")
	mnt := w.m.Dir
	sh(t, mnt, "mkdir small big && for i in 1 2; do printf $i > small/$i; done && for i in 1 2 3 4 5; do printf $i > big/$i; done")
	sh(t, mnt, "mv small small2 && test ! -e small && cat small2/2")
	if err := os.Rename(filepath.Join(mnt, "big"), filepath.Join(mnt, "big2")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename(2) of a too-big directory: %v, want EXDEV", err)
	}
	if !strings.Contains(w.m.stderr.String(), "max-rename-files") {
		t.Error("the refusal is not logged with the flag to raise")
	}
	sh(t, mnt, "mv big big3 && test ! -e big && cat big3/5")
	w.wantRemote(t, "big3/4", []byte("4"))
	w.wantGone(t, "big/4")
}

// TestWriteRecoversAfterCrash: data written but not yet closed when b2fs
// is killed is uploaded by the next b2fs on the same cache directory.
func TestWriteRecoversAfterCrash(t *testing.T) {
	w := newWriteEnv(t)
	data := testenv.Pattern(21, 3*wPart+11)
	f, err := os.Create(filepath.Join(w.m.Dir, "unsynced.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	w.m.cmd.Process.Signal(syscall.SIGKILL)
	<-w.m.exited
	f.Close()
	exec.Command("fusermount3", "-u", "-z", w.m.Dir).Run()
	w.wantGone(t, "unsynced.bin")

	// A mount of another account (another emulator, same bucket name)
	// sharing the cache directory leaves the staged file alone.
	other := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "wbucket")
	om := startMount(t, other, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", w.cache, "--part-size", "64KiB"}})
	if _, err := os.Stat(filepath.Join(om.Dir, "unsynced.bin")); !os.IsNotExist(err) {
		t.Errorf("another account's mount shows the staged file: %v", err)
	}
	om.stop(t)
	if strings.Contains(om.stderr.String(), "earlier run") {
		t.Errorf("another account's mount looked at the staged file:\n%s", om.stderr.String())
	}
	if n := other.Stats().Calls["b2_upload_file"] + other.Stats().Calls["b2_upload_part"]; n != 0 {
		t.Errorf("another account's mount uploaded %d staged files or parts", n)
	}

	m := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", w.cache, "--part-size", "64KiB"}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := w.c.Head(context.Background(), "wbucket", "unsynced.bin"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("staged data of the killed b2fs was not uploaded:\n%s", m.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.wantRemote(t, "unsynced.bin", data)
	if !strings.Contains(m.stderr.String(), "earlier run") {
		t.Errorf("the recovery is not logged:\n%s", m.stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "unsynced.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read through the new mount: %d bytes, %v", len(got), err)
	}
}

// TestWriteHardDelete: rm hides by default (the versions stay); with
// --hard-delete it deletes every version, and mv leaves none of the
// source behind.
func TestWriteHardDelete(t *testing.T) {
	versions := func(w *writeEnv, name string) int {
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
	soft := newWriteEnv(t)
	sh(t, soft.m.Dir, "printf 1 > f && printf 2 > f && rm f")
	if n := versions(soft, "f"); n < 3 { // two uploads and the hide marker
		t.Errorf("soft delete left %d versions, want the uploads and a hide marker", n)
	}
	soft.wantGone(t, "f")

	hard := mountWrite(t, soft.ts, "wbucket", "--hard-delete")
	sh(t, hard.m.Dir, "printf 1 > g && printf 2 > g && rm g && printf 3 > h && mv h h2")
	if n := versions(hard, "g"); n != 0 {
		t.Errorf("--hard-delete left %d versions of g", n)
	}
	if n := versions(hard, "h"); n != 0 {
		t.Errorf("--hard-delete mv left %d versions of the source", n)
	}
	hard.wantRemote(t, "h2", []byte("3"))
}

// TestWriteServerSideCopy: cp inside the mount uses copy_file_range, which
// b2fs turns into a copy on the server: nothing is downloaded or uploaded.
// A source with changes not yet uploaded is copied through read and write.
func TestWriteServerSideCopy(t *testing.T) {
	w := newWriteEnv(t)
	mnt := w.m.Dir
	data := testenv.Pattern(31, 5*wPart+77)
	put(t, w.ts, "wbucket", "src.bin", data, nil)
	w.ts.ResetStats()
	sh(t, mnt, "cp src.bin copy.bin")
	c := w.ts.Stats().Calls
	if c["b2_copy_file"]+c["b2_copy_part"] == 0 || c["b2_upload_file"]+c["b2_upload_part"] != 0 || c["b2_download_file_by_id"]+c["b2_download_file_by_name"] != 0 {
		t.Errorf("cp inside the mount: want a server-side copy only, got %v", c)
	}
	w.wantRemote(t, "copy.bin", data)
	sh(t, mnt, "cmp src.bin copy.bin")

	sh(t, mnt, "exec 3>open.txt; printf abc >&3; cp open.txt open-copy.txt; exec 3>&-")
	w.wantRemote(t, "open-copy.txt", []byte("abc"))
}

// renameat2 calls renameat2(2) with flags.
func renameat2(from, to string, flags uint) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
}

// TestWriteRenameFlags: rename with RENAME_NOREPLACE onto a name that
// another client created in B2 fails with EEXIST; RENAME_EXCHANGE is not
// supported (EINVAL). Nothing changes in either case. (The kernel looks a
// rename's target up again before it asks b2fs; TestRenameFlags in package
// fs checks b2fs's own answer.)
func TestWriteRenameFlags(t *testing.T) {
	const renameNoReplace, renameExchange = unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE
	w := newWriteEnv(t)
	mnt := w.m.Dir
	put(t, w.ts, "wbucket", "src", []byte("source"), nil)
	put(t, w.ts, "wbucket", "sub/other", []byte("other"), nil)
	if _, err := os.Stat(filepath.Join(mnt, "sub", "dst")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat sub/dst: %v", err)
	}
	// Another client creates sub/dst; listing the root prefetches the
	// subtree, so b2fs knows, while the kernel's negative entry stands.
	put(t, w.ts, "wbucket", "sub/dst", []byte("theirs"), nil)
	sh(t, mnt, "ls >/dev/null")
	err := renameat2(filepath.Join(mnt, "src"), filepath.Join(mnt, "sub", "dst"), renameNoReplace)
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("rename with RENAME_NOREPLACE onto an existing name: %v, want EEXIST", err)
	}
	w.wantRemote(t, "sub/dst", []byte("theirs"))
	w.wantRemote(t, "src", []byte("source"))

	os.WriteFile(filepath.Join(mnt, "a"), []byte("aaa"), 0o644)
	os.WriteFile(filepath.Join(mnt, "b"), []byte("bbb"), 0o644)
	err = renameat2(filepath.Join(mnt, "a"), filepath.Join(mnt, "b"), renameExchange)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("rename with RENAME_EXCHANGE: %v, want EINVAL", err)
	}
	if got := sh(t, mnt, "cat a b"); got != "aaabbb" {
		t.Fatalf("after a refused exchange: %q", got)
	}
	w.wantRemote(t, "a", []byte("aaa"))
	w.wantRemote(t, "b", []byte("bbb"))
	// Without the flag the same rename replaces the target.
	if err := renameat2(filepath.Join(mnt, "src"), filepath.Join(mnt, "sub", "dst"), 0); err != nil {
		t.Fatal(err)
	}
	w.wantRemote(t, "sub/dst", []byte("source"))
	w.wantGone(t, "src")
}

// TestChangesToRecoveredFile: a file open for writing when b2fs was killed
// is uploaded by the next start in the background; a chmod and an xattr
// set while that upload runs are kept, and the content is the staged one
// (the metadata change never copies the version the staged file replaces).
func TestChangesToRecoveredFile(t *testing.T) {
	w := newWriteEnv(t)
	p := filepath.Join(w.m.Dir, "f")
	if err := os.WriteFile(p, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new content, staged")); err != nil {
		t.Fatal(err)
	}
	w.m.cmd.Process.Signal(syscall.SIGKILL)
	<-w.m.exited
	f.Close()
	exec.Command("fusermount3", "-u", "-z", w.m.Dir).Run()

	// The recovery's upload stalls for a moment: the changes below meet it.
	w.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Action: "stall", Delay: b2emu.Duration(2 * time.Second)})
	uploads := w.ts.Stats().Calls["b2_upload_file"]
	m := startMount(t, w.ts, mountOpts{Source: "wbucket", Args: []string{"--cache-dir", w.cache, "--part-size", "64KiB"}})
	p = filepath.Join(m.Dir, "f")
	for deadline := time.Now().Add(10 * time.Second); w.ts.Stats().Calls["b2_upload_file"] == uploads; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the recovered file's upload did not start")
		}
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	m.stop(t) // unmount: every change reaches B2
	rf := w.wantRemote(t, "f", []byte("new content, staged"))
	if rf.Info["b2fs-mode"] != "600" || rf.Info["b2fs-x-k"] != "v" {
		t.Errorf("B2 has info %v; want mode 600 and user.k", rf.Info)
	}
}
