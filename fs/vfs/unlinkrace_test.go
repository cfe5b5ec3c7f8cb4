package vfs

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// TestWriteBackUnlinkUploadLetGoMidway: the background upload of a pending
// file lands, is shown, and lets the file go (uploaded, no handle open) in
// the middle of its unlink: after the unlink's lookup read the name's
// entry (pending, no version in B2) and before the staged file is
// detached. The unlink must still remove the uploaded version (it once
// found neither a staged file nor a version to remove, returned, and left
// the upload visible in B2), and a power cut right after it must not
// bring the file back.
//
// The interleaving is forced through the metadata cache's clock, which
// the lookup reads right after it has read the entry: the first reading
// once armed runs the upload to its end.
func TestWriteBackUnlinkUploadLetGoMidway(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	dir := filepath.Join(t.TempDir(), "staging")
	lfs, err := fstest.NewLossyFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pause atomic.Pointer[func()]
	now := func() time.Time {
		if p := pause.Swap(nil); p != nil {
			(*p)()
		}
		return time.Now()
	}
	m := newLossyMountClock(t, st, dir, lfs, time.Hour, now)
	root := m.fsys.Root().(*Dir)
	writeFile(t, root, "a", "aa")
	writeFile(t, root, "c", "cc")
	key := staging.Key{BucketID: "b1", BucketName: "alpha", Name: "c"}
	if m.sm.Lookup(key) == nil {
		t.Fatal("c is not pending before its unlink")
	}
	ran := false
	midway := func() {
		ran = true
		if err := m.sm.Sync(ctx); err != nil {
			t.Errorf("sync during the unlink: %v", err)
		}
		if len(st.Versions("b1", "c")) != 1 {
			t.Errorf("the upload during the unlink made %d versions of c, want 1", len(st.Versions("b1", "c")))
		}
		if m.sm.Lookup(key) != nil {
			t.Error("c is still staged after its upload was shown")
		}
	}
	pause.Store(&midway)
	if err := root.Unlink(ctx, "c"); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	if !ran {
		t.Fatal("the unlink did not read the cache")
	}
	if got := b2State(t, st); got["c"].data != "" || got["a"].data != "aa" {
		t.Fatalf("B2 right after the unlink:\n%s\nwant a only", dump(got))
	}

	m.sm.Abandon()
	lfs2, err := lfs.PowerCut()
	if err != nil {
		t.Fatal(err)
	}
	m.fsys.Shutdown(ctx)
	m2 := newLossyMount(t, st, dir, lfs2, time.Hour)
	defer m2.fsys.Shutdown(ctx)
	defer m2.sm.Close(ctx)
	if _, err := m2.sm.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.sm.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b2State(t, st); got["c"].data != "" || got["a"].data != "aa" {
		t.Fatalf("B2 after a power cut and recovery:\n%s\nwant a only", dump(got))
	}
}
