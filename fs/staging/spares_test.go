package staging_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
)

// TestWriteBackCloseFsyncs: with the pool of prepared pairs filled, the
// close (Commit) of a new small file costs one fsync (the manifest, which
// carries the content), of a larger one two (data file, manifest), and
// neither a directory fsync; files uploaded and let go meanwhile (whose
// removal needs none) do not bring one back. A power cut right after the
// closes loses none of them: Recover restores the content from the
// manifests.
func TestWriteBackCloseFsyncs(t *testing.T) {
	root := filepath.Join(t.TempDir(), "s")
	lfs, err := fstest.NewLossyFS(root)
	if err != nil {
		t.Fatal(err)
	}
	st := fstest.NewStore("b1")
	m, err := staging.New(staging.Options{Dir: root, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, Logger: quiet, FS: lfs,
		WriteBack: true, WriteBackDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if m != nil {
			m.Abandon()
		}
	}()
	waitSpares := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); m.SparesForTest() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the pool holds %d prepared pairs after 20s, want %d", m.SparesForTest(), n)
			}
		}
	}
	ctx := context.Background()
	// Uploaded and let go: their pairs are emptied into the pool or removed.
	for i := range 40 {
		stage(t, m, fmt.Sprintf("old%02d", i), []byte("old"))
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	waitSpares(32)
	// The preparer may still end a batch it began while the pool was
	// low (its directory fsync is not a close's): wait until it is idle.
	for _, prev := lfs.Syncs(); ; {
		time.Sleep(200 * time.Millisecond)
		_, d := lfs.Syncs()
		if d == prev && m.SparesForTest() == 32 {
			break
		}
		prev = d
	}
	files0, dirs0 := lfs.Syncs()
	const n = 12
	content := func(i int) string {
		if i%4 == 3 {
			return strings.Repeat(fmt.Sprintf("large %d ", i), 5000) // past maxInline
		}
		return fmt.Sprintf("content %d", i)
	}
	for i := range n {
		stage(t, m, fmt.Sprintf("f%02d", i), []byte(content(i)))
	}
	files1, dirs1 := lfs.Syncs()
	if d := dirs1 - dirs0; d != 0 {
		t.Errorf("%d directory fsyncs for %d closes of new files, want 0", d, n)
	}
	if f, want := files1-files0, int64(n+n/4); f != want {
		t.Errorf("%d file fsyncs for %d closes (%d large), want %d", f, n, n/4, want)
	}
	m.Abandon()
	m = nil
	lfs2, err := lfs.PowerCut()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := staging.New(staging.Options{Dir: root, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, Logger: quiet, FS: lfs2,
		WriteBack: true, WriteBackDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	if _, err := m2.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("f%02d", i)
		if _, b, _ := st.Get("b1", name); string(b) != content(i) {
			t.Errorf("%s after the power cut: %q", name, b)
		}
	}
}

// TestWriteBackAppendReadsKeptBase: appending to a file this mount
// uploaded takes the bytes of the base version from the read cache, where
// the upload left them, instead of downloading them (git's logs, an
// append with >>).
func TestWriteBackAppendReadsKeptBase(t *testing.T) {
	rc, err := readcache.Open(readcache.Options{Dir: filepath.Join(t.TempDir(), "rc"), MaxSize: 64 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	st := fstest.NewStore("b1")
	m := wbManager(t, st, staging.Options{WriteBackDelay: time.Millisecond, Keep: rc})
	ctx := context.Background()
	stage(t, m, "log", []byte("line 1\n"))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	obj, _, ok := st.Get("b1", "log")
	if !ok {
		t.Fatal("log not in B2")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if fd, ok := rc.OpenComplete(obj.FileID, obj.Size, ""); ok {
			fd.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the uploaded file is not in the read cache")
		}
	}
	downloads := st.Calls("Download")
	f, err := m.Open(ctx, staging.OpenOptions{Key: key("log"), Write: true, Base: &staging.Base{FileID: obj.FileID, Size: obj.Size}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("line 2\n"), obj.Size); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m.ReleaseWrite(f)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, b, _ := st.Get("b1", "log"); string(b) != "line 1\nline 2\n" {
		t.Fatalf("log in B2: %q", b)
	}
	if n := st.Calls("Download") - downloads; n != 0 {
		t.Fatalf("%d downloads for an append to a file whose content the read cache holds, want 0", n)
	}
}
