package fs

import (
	"context"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// go-fuse's RELEASE handler calls the handle's Release and then drops a
// reference to the inode's passthrough backing-file registration, for
// every handle, passthrough or not (see cached.go). If a passthrough
// open of the inode were made between the two, that drop would take its
// registration: the kernel then fails the open (the backing ID is gone)
// or a later one (a second backing file for the inode) with EIO. So the
// release of a non-passthrough handle is recorded only once go-fuse's
// RELEASE handler has returned: WrapRaw wraps the raw filesystem that
// serves the node tree, and the handles' Release hands it what to record.

// releaseOrder is the raw filesystem that records releases after go-fuse
// is done with them.
type releaseOrder struct {
	fuse.RawFileSystem
	rel *releases
}

// releases are the RELEASE requests in progress, by their cancel channel
// (unique among the requests in flight), each with the handle closes to
// record when it ends.
type releases struct {
	mu     sync.Mutex // guards byReq
	byReq  map[<-chan struct{}][]func()
	active bool // set by WrapRaw: RELEASE requests pass through releaseOrder
}

// WrapRaw returns raw, the go-fuse raw filesystem serving f's node tree
// (fusefs.NewNodeFS of Root), with releases ordered as described above.
// Without it, a release is recorded at once and no passthrough open of the
// file is made for otherGrace afterwards.
func (f *FS) WrapRaw(raw fuse.RawFileSystem) fuse.RawFileSystem {
	f.rel.mu.Lock()
	f.rel.active = true
	f.rel.mu.Unlock()
	return &releaseOrder{RawFileSystem: raw, rel: &f.rel}
}

func (r *releaseOrder) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	r.rel.mu.Lock()
	r.rel.byReq[cancel] = nil
	r.rel.mu.Unlock()
	r.RawFileSystem.Release(cancel, in)
	r.rel.mu.Lock()
	done := r.rel.byReq[cancel]
	delete(r.rel.byReq, cancel)
	r.rel.mu.Unlock()
	for _, fn := range done {
		fn()
	}
}

// afterRelease runs fn once the RELEASE request that ctx belongs to has
// been handled by go-fuse, and reports whether it will; false when the
// request does not pass through WrapRaw (fn is not run).
func (r *releases) afterRelease(ctx context.Context, fn func()) bool {
	fc, ok := ctx.(*fuse.Context)
	if !ok || fc.Cancel == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.byReq[fc.Cancel]
	if !r.active || !ok {
		return false
	}
	r.byReq[fc.Cancel] = append(l, fn)
	return true
}
