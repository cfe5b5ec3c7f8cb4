package vfs

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// recoveredFS is a filesystem in the default mode (uploads at close) over
// be and st, whose staging Manager, on dir, has recovered what a killed
// earlier Manager on dir left (one file "a", created and written, not
// closed).
func recoveredFS(t *testing.T, st *fstest.Store, be Backend, dir string) (*FS, *staging.Manager) {
	t.Helper()
	ctx := context.Background()
	dead, err := staging.New(staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sf, err := dead.Open(ctx, staging.OpenOptions{Key: staging.Key{BucketID: "b1", BucketName: "alpha", Name: "a"}, Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sf.WriteAt(ctx, []byte("recovered"), 0); err != nil {
		t.Fatal(err)
	}
	dead.Abandon() // kill -9
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sm, err := staging.New(staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close(context.Background()) })
	res, err := sm.Recover(ctx, st.Current)
	if err != nil || len(res) != 1 || res[0].Outcome != staging.RecoveredPending {
		t.Fatalf("recover: %+v, %v", res, err)
	}
	f, err := New(Options{Backend: be, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"}, Write: WriteOptions{Staging: sm, Backend: st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f, sm
}

// TestUnlinkRecoveredFileJustUploaded: an unlink of a recovered file whose
// background upload has just landed, before the filesystem was told of
// the new version, removes that version (it used to find no version in
// its listing, drop the staged file and leave the upload visible in B2).
func TestUnlinkRecoveredFileJustUploaded(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := recoveredFS(t, st, st, filepath.Join(t.TempDir(), "s"))
	root := fsys.Root().(*Dir)
	if got := readDir(t, root); len(got) != 1 || got[0] != "a" {
		t.Fatalf("after recovery the root lists %v", got)
	}
	// The recovery's upload lands; its news (the upload hook) is late.
	sf := sm.Lookup(stagingKey(fsys.opts.Bucket, "a"))
	if err := sf.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if !st.Has("b1", "a") {
		t.Fatal("the upload did not land")
	}
	if err := root.Unlink(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st.Has("b1", "a") {
		t.Error("the unlinked file is visible in B2")
	}
	if got := readDir(t, root); len(got) != 0 {
		t.Errorf("after the unlink the root lists %v", got)
	}
}

// TestTruncateRecoveredFile: a truncate(2) by path of a file recovered
// after a crash (staged, pending upload, no handle open) is uploaded when
// it returns, as for any closed file; it used to cut only the staged copy,
// which no close would upload, and which the recovery's upload could let
// go of meanwhile (VFSB2 model seed 13790093331444462083: truncate right
// after the crash, then stat showed the size before it).
func TestTruncateRecoveredFile(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	fsys, sm := recoveredFS(t, st, st, filepath.Join(t.TempDir(), "s"))
	root := fsys.Root().(*Dir)
	n, err := root.Lookup(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(4)
	if _, err := n.(*File).Setattr(ctx, nil, &SetAttr{Size: &size}); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := st.Get("b1", "a"); !ok || string(data) != "reco" {
		t.Errorf("after truncate B2 has %q (%v), want \"reco\"", data, ok)
	}
	if a := n.(*File).Attr(ctx, nil); a.Size != 4 {
		t.Errorf("stat after truncate: size %d, want 4", a.Size)
	}
	if err := sm.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := st.Get("b1", "a"); !ok || string(data) != "reco" {
		t.Errorf("after the recovery's upload B2 has %q (%v), want \"reco\"", data, ok)
	}
}
