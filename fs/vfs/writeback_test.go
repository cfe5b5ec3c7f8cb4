package vfs

import (
	"context"
	"path/filepath"
	"strings"
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
		WriteBack: true, WriteBackDelay: delay, Transfers: 4, Current: st.Current})
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
