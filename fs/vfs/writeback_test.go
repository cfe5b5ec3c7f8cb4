package vfs

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// wbFS is a write-back filesystem over an in-memory account with bucket
// b1 (alpha); its staging directory is dir ("" for a fresh one).
func wbFS(t *testing.T, st *fstest.Store, dir string, delay time.Duration) (*FS, *staging.Manager) {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "s")
	}
	sm, err := staging.New(staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17,
		WriteBack: true, WriteBackDelay: delay, Transfers: 4, Current: st.Current, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close(context.Background()) })
	f, err := New(Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f, sm
}

func newStore() *fstest.Store {
	st := fstest.NewStore()
	st.AddBucket("b1", "alpha")
	return st
}

// writeFile creates (or truncates) name in d with data and closes it.
func writeFile(t *testing.T, d *Dir, name, data string) *File {
	t.Helper()
	ctx := context.Background()
	f, h, err := d.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := h.Write(ctx, []byte(data), 0); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
	h.Release(ctx)
	return f
}

// mutations counts the calls that change B2.
func mutations(st *fstest.Store) map[string]int {
	out := map[string]int{}
	for k, v := range st.AllCalls() {
		switch k {
		case "ListDir", "ListTree", "ListAll", "ListBuckets", "Current", "Download":
			continue
		}
		out[k] = v
	}
	return out
}

// TestWriteBackCloseIsLocal: close returns before the upload; the file is
// readable from the mount at once and in B2 after Sync; Stats counts it.
func TestWriteBackCloseIsLocal(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	writeFile(t, root, "a.txt", "hello")
	if _, _, ok := st.Get("b1", "a.txt"); ok {
		t.Fatal("a.txt is in B2 right after close with a 1h delay")
	}
	if got := readFileVFS(t, root, "a.txt"); got != "hello" {
		t.Fatalf("read back %q", got)
	}
	s := sm.Stats()
	if s.PendingFiles != 1 || s.PendingBytes != 5 || s.OldestPending.IsZero() {
		t.Fatalf("stats before sync: %+v", s)
	}
	if err := fsys.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := st.Get("b1", "a.txt"); !ok || string(data) != "hello" {
		t.Fatalf("B2 has %q %v after Sync", data, ok)
	}
	s = sm.Stats()
	if s.PendingFiles != 0 || s.UploadsDone != 1 || s.UploadedBytes != 5 || !s.OldestPending.IsZero() {
		t.Fatalf("stats after sync: %+v", s)
	}
	// The mount shows the uploaded version.
	n, err := root.Lookup(ctx, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if e := n.(*File).Entry(); e.FileID == "" || e.Size != 5 {
		t.Fatalf("entry after upload: %+v", e)
	}
}

// TestWriteBackUploadsAfterDelay: without Sync the upload happens on its
// own, about the delay after the last change.
func TestWriteBackUploadsAfterDelay(t *testing.T) {
	st := newStore()
	fsys, _ := wbFS(t, st, "", 50*time.Millisecond)
	root := fsys.Root().(*Dir)
	for i := 0; i < 10; i++ {
		writeFile(t, root, "f"+string(rune('0'+i)), strings.Repeat("x", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(st.Names("b1")) < 10 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(st.Names("b1")); got != 10 {
		t.Fatalf("%d of 10 files in B2 after the delay", got)
	}
}

func readFileVFS(t fataler, d *Dir, name string) string {
	t.Helper()
	ctx := context.Background()
	n, err := d.Lookup(ctx, name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	h, err := n.(*File).Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer h.Release(ctx)
	var out []byte
	buf := make([]byte, 4096)
	for {
		k, err := h.Read(ctx, buf, int64(len(out)))
		out = append(out, buf[:k]...)
		if err != nil || k == 0 {
			break
		}
	}
	return string(out)
}

// TestWriteBackCoalescing: files renamed or removed while pending cost no
// B2 call; a pending file renamed over an existing name becomes one
// upload of that name (no copy, hide or delete); the final state is in B2
// after Sync.
func TestWriteBackCoalescing(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	st.Put("b1", "index", []byte("old index"), nil)
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	readDir(t, root) // list once, as a shell would
	before := mutations(st)

	// rsync: .name.XXXXXX then rename.
	writeFile(t, root, ".f.Ab12Cd", "rsync data")
	if err := root.Rename(ctx, ".f.Ab12Cd", root, "f", 0); err != nil {
		t.Fatal(err)
	}
	// git: index.lock renamed over index (which B2 has).
	writeFile(t, root, "index.lock", "new index")
	if err := root.Rename(ctx, "index.lock", root, "index", 0); err != nil {
		t.Fatal(err)
	}
	// An editor's temporary file, removed.
	writeFile(t, root, "tmp~", "scratch")
	if err := root.Unlink(ctx, "tmp~"); err != nil {
		t.Fatal(err)
	}
	if got := mutations(st); !equalCounts(got, before) {
		t.Fatalf("B2 changed before any upload: %v -> %v", before, got)
	}
	if got := readFileVFS(t, root, "index"); got != "new index" {
		t.Fatalf("index reads %q", got)
	}
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	after := mutations(st)
	if after["UploadFile"]-before["UploadFile"] != 2 || len(after) != 1 {
		t.Fatalf("B2 calls for the sequence: %v (want 2 uploads, nothing else)", after)
	}
	for name, want := range map[string]string{"f": "rsync data", "index": "new index"} {
		if _, data, ok := st.Get("b1", name); !ok || string(data) != want {
			t.Fatalf("%s in B2: %q %v", name, data, ok)
		}
	}
	if names := st.Names("b1"); len(names) != 2 {
		t.Fatalf("names in B2: %v", names)
	}
	if vs := st.Versions("b1", "index"); len(vs) != 2 {
		t.Fatalf("index has %d versions, want the old and the new", len(vs))
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// gitCommit runs, through the vfs, the file operations of "git add f.txt;
// git commit" of one new file in a repository whose .git is in B2 (as
// strace shows git 2.x doing them: lock files renamed over their targets,
// loose objects written to temporary files and renamed after link(2)
// fails, logs appended).
func gitCommit(t *testing.T, root *Dir) {
	t.Helper()
	ctx := context.Background()
	lookupDir := func(d *Dir, name string) *Dir {
		n, err := d.Lookup(ctx, name)
		if err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
		return n.(*Dir)
	}
	git := lookupDir(root, ".git")
	objects := lookupDir(git, "objects")
	create := func(d *Dir, name, data string, flags uint32) {
		_, h, err := d.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT|flags, 0o644)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if _, err := h.Write(ctx, []byte(data), 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		h.Release(ctx)
	}
	appendTo := func(d *Dir, name, data string) {
		n, err := d.Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		h, err := n.(*File).Open(ctx, syscall.O_WRONLY|syscall.O_APPEND)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Write(ctx, []byte(data), 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		h.Release(ctx)
	}
	rename := func(d *Dir, from string, to *Dir, name string) {
		if err := d.Rename(ctx, from, to, name, 0); err != nil {
			t.Fatalf("rename %s -> %s: %v", from, name, err)
		}
	}
	object := func(hash, data string) {
		sub, err := objects.Lookup(ctx, hash[:2])
		var od *Dir
		if err != nil {
			if od, err = objects.Mkdir(ctx, hash[:2], 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			od = sub.(*Dir)
		}
		create(od, "tmp_obj_Xy12Ab", data, syscall.O_EXCL)
		if err := od.Link(ctx, nil, hash[2:]); err == nil {
			t.Fatal("link succeeded")
		}
		rename(od, "tmp_obj_Xy12Ab", od, hash[2:])
	}
	create(root, "f.txt", "hello\n", syscall.O_TRUNC)
	// git add
	create(git, "index.lock", "index with f.txt", syscall.O_EXCL)
	object("ce013625030ba8dba906f756967f9e9ca394464a", "blob 6\x00hello\n")
	rename(git, "index.lock", git, "index")
	// git commit
	create(git, "index.lock", "index again", syscall.O_EXCL)
	rename(git, "index.lock", git, "index")
	object("4b825dc642cb6eb9a060e54bf8d69288fbee4904", "tree ...")
	object("9fceb02d0ae598e95dc970b74767f19372d61af8", "commit ...")
	create(git, "COMMIT_EDITMSG", "one file\n", syscall.O_TRUNC)
	refs := lookupDir(lookupDir(git, "refs"), "heads")
	create(refs, "master.lock", "9fceb02d0ae598e95dc970b74767f19372d61af8\n", syscall.O_EXCL)
	appendTo(lookupDir(git, "logs"), "HEAD", "0000 9fce commit: one file\n")
	appendTo(lookupDir(lookupDir(lookupDir(git, "logs"), "refs"), "heads"), "master", "0000 9fce commit: one file\n")
	rename(refs, "master.lock", refs, "master")
}

// seedGit puts a small repository's .git into the store.
func seedGit(st *fstest.Store) {
	for name, data := range map[string]string{
		".git/HEAD": "ref: refs/heads/master\n", ".git/config": "[core]\n", ".git/index": "old index",
		".git/COMMIT_EDITMSG": "first\n", ".git/refs/heads/master": "aaaa\n", ".git/logs/HEAD": "0000 aaaa commit (initial)\n",
		".git/logs/refs/heads/master": "0000 aaaa commit (initial)\n", ".git/objects/aa/aaaaaaaa": "blob", ".git/objects/info/.bzEmpty": "",
	} {
		st.Put("b1", name, []byte(data), nil)
	}
}

// TestWriteBackGitCommitCalls counts the B2 calls of a one-file git
// commit (see gitCommit) in both modes.
func TestWriteBackGitCommitCalls(t *testing.T) {
	ctx := context.Background()
	count := func(wb bool) (map[string]int, int) {
		st := newStore()
		seedGit(st)
		var fsys *FS
		if wb {
			fsys, _ = wbFS(t, st, "", time.Hour)
		} else {
			fsys, _ = storeFS2(t, st)
		}
		root := fsys.Root().(*Dir)
		before := st.AllCalls()
		gitCommit(t, root)
		if err := fsys.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		// Directory markers settle a second after the last change.
		time.Sleep(1500 * time.Millisecond)
		if err := fsys.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		after := st.AllCalls()
		diff := map[string]int{}
		total := 0
		for k, v := range after {
			if d := v - before[k]; d > 0 {
				diff[k] = d
				switch k {
				case "ListDir", "ListTree", "ListAll", "ListBuckets", "Current":
				default:
					total += d
				}
			}
		}
		for name, want := range map[string]string{".git/index": "index again", ".git/refs/heads/master": "9fceb02d0ae598e95dc970b74767f19372d61af8\n",
			".git/logs/HEAD": "0000 aaaa commit (initial)\n0000 9fce commit: one file\n", "f.txt": "hello\n",
			".git/objects/9f/ceb02d0ae598e95dc970b74767f19372d61af8": "commit ..."} {
			if _, data, ok := st.Get("b1", name); !ok || string(data) != want {
				t.Fatalf("write-back %v: %s in B2: %q %v", wb, name, data, ok)
			}
		}
		for _, n := range st.Names("b1") {
			if strings.Contains(n, ".lock") || strings.Contains(n, "tmp_obj") {
				t.Fatalf("write-back %v: temporary name %s reached B2", wb, n)
			}
		}
		return diff, total
	}
	dflt, dTotal := count(false)
	wbk, wTotal := count(true)
	t.Logf("one-file git commit, B2 calls (lists excluded): default %d %v; write-back %d %v", dTotal, dflt, wTotal, wbk)
	// The files that really change: 9 uploads, 2 downloads (the appended
	// logs); no copy, no deletion; the three new object directories'
	// markers stay pending and are dropped once the directories have
	// files: nothing of them reaches B2.
	if wbk["UploadFile"] != 9 || wbk["Copy"]+wbk["DeleteFileVersion"]+wbk["CopyFileReplaceInfo"]+wbk["PutInfo"]+wbk["Hide"] != 0 || wbk["Download"] > 2 || wTotal > 11 {
		t.Fatalf("write-back made %d B2 calls: %v", wTotal, wbk)
	}
	if wTotal >= dTotal {
		t.Fatalf("write-back made %d calls, the default mode %d", wTotal, dTotal)
	}
}

// storeFS2 is storeFS over a given store.
func storeFS2(t *testing.T, st *fstest.Store) (*FS, *staging.Manager) {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close(context.Background()) })
	f, err := New(Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f, sm
}

// TestWriteBackConflict: another client stores a new version of a name
// while this mount has it pending: the pending file still goes up, the
// other version stays in B2, and the conflict is counted.
func TestWriteBackConflict(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	st.Put("b1", "shared", []byte("v1"), nil)
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	readDir(t, root)
	writeFile(t, root, "shared", "mine")
	st.Put("b1", "shared", []byte("theirs"), nil) // another client
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range st.Versions("b1", "shared") {
		got = append(got, string(v))
	}
	if strings.Join(got, ",") != "v1,theirs,mine" {
		t.Fatalf("versions of shared: %q", got)
	}
	if s := sm.Stats(); s.Conflicts != 1 {
		t.Fatalf("conflicts %d", s.Conflicts)
	}
}

// TestWriteBackKilled: a mount killed (its Manager abandoned, nothing
// closed) leaves every closed file, rename and unlink in the staging
// directory; the next start uploads them under their final names.
func TestWriteBackKilled(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	st.Put("b1", "old", []byte("old content"), nil)
	dir := filepath.Join(t.TempDir(), "s")
	fsys, sm := wbFS(t, st, dir, time.Hour)
	root := fsys.Root().(*Dir)
	readDir(t, root)
	writeFile(t, root, "a", "A")
	writeFile(t, root, ".b.tmp", "B")
	if err := root.Rename(ctx, ".b.tmp", root, "b", 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "gone", "G")
	if err := root.Unlink(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "new-old", "replaced")
	if err := root.Rename(ctx, "new-old", root, "old", 0); err != nil {
		t.Fatal(err)
	}
	sm.Abandon() // kill -9
	if n := len(st.Names("b1")); n != 1 {
		t.Fatalf("B2 changed before the restart: %v", st.Names("b1"))
	}
	_, sm2 := wbFS(t, st, dir, time.Hour)
	res, err := sm2.Recover(ctx, st.Current)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("recovered %+v", res)
	}
	if err := sm2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "A", "b": "B", "old": "replaced"}
	if names := st.Names("b1"); len(names) != len(want) {
		t.Fatalf("names in B2: %v", names)
	}
	for name, data := range want {
		if _, got, ok := st.Get("b1", name); !ok || string(got) != data {
			t.Fatalf("%s: %q %v", name, got, ok)
		}
	}
	if s := sm2.Stats(); s.Conflicts != 0 || s.UploadsDone != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestWriteBackDirRenameCarriesPending: renaming a directory moves its
// pending files locally (no upload under the old name, no copy of them);
// what is in B2 is renamed on the server as before.
func TestWriteBackDirRenameCarriesPending(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	st.Put("b1", "d/resident", []byte("R"), nil)
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	readDir(t, root)
	n, err := root.Lookup(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, n.(*Dir), "pending", "P")
	if err := root.Rename(ctx, "d", root, "e", 0); err != nil {
		t.Fatal(err)
	}
	if c := st.Calls("UploadFile"); c != 0 {
		t.Fatalf("%d uploads during the rename", c)
	}
	if got := readFileVFS(t, n.(*Dir), "pending"); got != "P" {
		t.Fatalf("e/pending reads %q", got)
	}
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if names := st.Names("b1"); strings.Join(names, ",") != "e/pending,e/resident" {
		t.Fatalf("names in B2: %v", names)
	}
	if c := st.Calls("UploadFile"); c != 1 {
		t.Fatalf("%d uploads", c)
	}
}

// TestWriteBackChmodRightAfterUpload: a chmod in the moment between a
// background upload and the filesystem's view catching up applies to the
// uploaded version, in B2 and in what the mount shows (it once failed
// with ENOENT, and once went to the staged copy being let go and was
// lost).
func TestWriteBackChmodRightAfterUpload(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := wbFS(t, st, "", time.Millisecond)
	root := fsys.Root().(*Dir)
	for i := 0; i < 50; i++ {
		writeFile(t, root, "a", "")
		writeFile(t, root, "a", "vz")
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		n, err := root.Lookup(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		mode := uint32(0o700 + i%2*0o55)
		if _, err := n.(*File).Setattr(ctx, nil, &SetAttr{Mode: &mode}); err != nil {
			t.Fatalf("chmod %d: %v", i, err)
		}
		if a := n.(*File).Attr(ctx, nil); a.Mode&0o7777 != mode {
			t.Fatalf("chmod %d: the file shows mode %o", i, a.Mode&0o7777)
		}
		if err := sm.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := b2State(t, st)["a"]; got.mode != mode || got.data != "vz" {
			t.Fatalf("chmod %d: B2 has %v, want mode %o", i, got, mode)
		}
	}
}

// TestWriteBackCloseWhileUploadShown: the last handle of a file closes
// while a background upload of it (made urgent by a sync) has finished
// but is not shown yet. The mount must still learn the uploaded version:
// the file keeps its mode and content, and a later open for writing
// works on that version (it once opened a new empty file without the
// mode: created with mode 0001, the file showed 0644 and lost its data).
func TestWriteBackCloseWhileUploadShown(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	c, err := root.Mkdir(ctx, "c", 0o221)
	if err != nil {
		t.Fatal(err)
	}
	_, h, err := c.Create(ctx, "d", syscall.O_RDWR|syscall.O_CREAT, syscall.S_IFREG|0o001)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("xy"), 0); err != nil {
		t.Fatal(err)
	}
	// The handle closes between the upload and the hook that shows it
	// (the hooks of c/d and of c's marker may run at once).
	var closed atomic.Bool
	sm.SetUploadHook(func(k staging.Key, sf *staging.File) {
		if k.Name == "c/d" && closed.CompareAndSwap(false, true) {
			if err := h.Flush(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
			h.Release(ctx)
		}
		fsys.backgroundUploaded(k, sf)
	})
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !closed.Load() {
		t.Fatal("the sync uploaded nothing")
	}
	n, err := c.Lookup(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	f := n.(*File)
	if e := f.Entry(); e.FileID == "" || e.Size != 2 {
		t.Fatalf("after the upload the mount shows %+v", e)
	}
	h2, err := f.Open(ctx, syscall.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if a := f.Attr(ctx, nil); a.Mode&0o7777 != 0o001 || a.Size != 2 {
		t.Errorf("open for writing: mode %o size %d, want 1 and 2", a.Mode&0o7777, a.Size)
	}
	if err := h2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h2.Release(ctx)
	if got := readFileVFS(t, c, "d"); got != "xy" {
		t.Errorf("read %q, want \"xy\"", got)
	}
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b2State(t, st)["c/d"]; got.mode != 0o001 || got.data != "xy" {
		t.Fatalf("B2 has %v, want mode 1 and \"xy\"", got)
	}
}

// TestWriteBackFsyncUnwrittenNewFile: fsync of a file created and not
// written waits for its upload, as for any other pending file (it once
// returned at once: nothing had been written since the file was staged).
func TestWriteBackFsyncUnwrittenNewFile(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := wbFS(t, st, "", time.Hour)
	root := fsys.Root().(*Dir)
	f, h, err := root.Create(ctx, "e", syscall.O_RDWR|syscall.O_CREAT, syscall.S_IFREG|0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b2State(t, st)["e"]; got.mode != 0o600 {
		t.Fatalf("fsync returned; B2 has %v, want the empty file with mode 600", got)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	// Opened with O_TRUNC over the uploaded version, not written.
	_, h, err = root.Create(ctx, "e", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, syscall.S_IFREG|0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if err := sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(st.Versions("b1", "e")); n != 2 {
		t.Fatalf("sync returned; B2 has %d versions of e, want 2", n)
	}
}
