package fs

import (
	"context"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/vfs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// goFuseRelease stands for go-fuse's raw RELEASE handler: it calls the
// handle's Release and then, where go-fuse drops its reference to the
// inode's backing-file registration, calls dropped.
type goFuseRelease struct {
	fuse.RawFileSystem
	h       *handle
	dropped func()
}

func (g *goFuseRelease) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	g.h.Release(&fuse.Context{Cancel: cancel})
	g.dropped()
}

// nopHandle is a vfs handle with nothing to release.
type nopHandle struct{}

func (nopHandle) Read(context.Context, []byte, int64) (int, error)  { return 0, nil }
func (nopHandle) Write(context.Context, []byte, int64) (int, error) { return 0, nil }
func (nopHandle) Flush(context.Context) error                       { return nil }
func (nopHandle) Fsync(context.Context) error                       { return nil }
func (nopHandle) Release(context.Context) error                     { return nil }

// TestPassthroughOpenAfterGoFuseRelease: the release of a non-passthrough
// handle lets a passthrough open of its file be made only once go-fuse's
// RELEASE handler is done with it (it drops a backing-file reference after
// the handle's Release, which would take a passthrough open's registration
// made in between: EIO on open), and then at once.
func TestPassthroughOpenAfterGoFuseRelease(t *testing.T) {
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fsys, err := New(Options{Backend: memStore("b1", "f"), Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vn, err := fsys.FS.Root().(*vfs.Dir).Lookup(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	n := &fileNode{fsys: fsys, f: vn.(*vfs.File)}
	v := passVersionOf(n.f.Entry())

	// Served through WrapRaw.
	if errno := n.otherOpen(ctx); errno != 0 {
		t.Fatal(errno)
	}
	var during bool
	g := &goFuseRelease{RawFileSystem: fuse.NewDefaultRawFileSystem(), h: &handle{fsys: fsys, node: n, h: nopHandle{}}}
	g.dropped = func() { _, during = n.passOK(v, nil) }
	fsys.WrapRaw(g).Release(make(chan struct{}), &fuse.ReleaseIn{})
	if during {
		t.Fatal("a passthrough open was allowed before go-fuse had dropped its backing-file reference for the RELEASE")
	}
	if _, ok := n.passOK(v, nil); !ok {
		t.Fatal("no passthrough open allowed after the RELEASE was handled")
	}

	// A release that does not pass through WrapRaw: none for otherGrace.
	if errno := n.otherOpen(ctx); errno != 0 {
		t.Fatal(errno)
	}
	g.dropped = func() {}
	g.Release(make(chan struct{}), &fuse.ReleaseIn{})
	if _, ok := n.passOK(v, nil); ok {
		t.Fatal("a passthrough open was allowed right after an unordered release")
	}
}
