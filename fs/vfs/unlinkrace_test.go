package vfs

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
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
	m.c.Close()
	if got := rebootedState(t, st, dir, lfs2); got["c"].data != "" || got["a"].data != "aa" {
		t.Fatalf("B2 after a power cut and recovery:\n%s\nwant a only", dump(got))
	}
}

// heldUpload is fstest's store as the staging area's remote: the upload
// of name waits, once entered, until release is closed, and deleting a
// version of name fails.
type heldUpload struct {
	*fstest.Store
	name             string
	entered, release chan struct{}
}

func (h *heldUpload) UploadFile(ctx context.Context, req staging.UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	if req.Name == h.name {
		close(h.entered)
		<-h.release
	}
	return h.Store.UploadFile(ctx, req, r, size)
}

func (h *heldUpload) DeleteFileVersion(ctx context.Context, name, fileID string) error {
	if name == h.name {
		return errors.New("delete refused (test)")
	}
	return h.Store.DeleteFileVersion(ctx, name, fileID)
}

// TestWriteBackUnlinkUploadLeftover: an unlink cancels the background
// upload of a pending file whose last call is under way; the upload still
// makes a version, and deleting that version fails. The unlink must not
// return with the version visible: it removes the name in B2 (it once
// returned and left the upload in B2 for every listing to show).
func TestWriteBackUnlinkUploadLeftover(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	h := &heldUpload{Store: st, name: "c", entered: make(chan struct{}), release: make(chan struct{})}
	fsys, sm := wbFSOverRemote(t, st, h, st, time.Hour)
	root := fsys.Root().(*Dir)
	writeFile(t, root, "c", "cc")
	synced := make(chan error, 1)
	go func() { synced <- sm.Sync(ctx) }()
	<-h.entered
	unlinked := make(chan error, 1)
	go func() { unlinked <- root.Unlink(ctx, "c") }()
	// Detached (and its upload cancelled) once the Manager no longer has
	// it; only then does the upload's last call end.
	key := staging.Key{BucketID: "b1", BucketName: "alpha", Name: "c"}
	for sm.Lookup(key) != nil {
		select {
		case err := <-unlinked:
			t.Fatalf("the unlink returned (%v) before the upload ended", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(h.release)
	if err := <-unlinked; err != nil {
		t.Fatalf("unlink: %v", err)
	}
	if err := <-synced; err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n := len(st.Versions("b1", "c")); n != 1 {
		t.Fatalf("B2 has %d versions of c, want the upload's one (its delete was refused)", n)
	}
	if got := b2State(t, st); got["c"].data != "" {
		t.Fatalf("B2 right after the unlink:\n%s\nwant no c", dump(got))
	}
}
