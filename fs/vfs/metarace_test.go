package vfs

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// gatedCopies is a store whose first Copy waits until gate is closed.
type gatedCopies struct {
	*fstest.Store
	once    sync.Once
	blocked chan struct{} // closed when the first Copy waits
	gate    chan struct{}
}

func (g *gatedCopies) Copy(ctx context.Context, src Object, dst Bucket, name string, meta *CopyMeta) (Object, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.blocked)
		<-g.gate
	}
	return g.Store.Copy(ctx, src, dst, name, meta)
}

// TestChangeDuringDeferredCopy: without a metadata delay, a chown or
// setxattr of a file whose deferred metadata (the final info of a large
// file that streamed) is being copied joins that copy instead of copying
// the same version at the same time: each copy drops the version it
// replaced, so one of them found it gone (the file answered ENOENT, or
// the deferred change stayed pending for good).
func TestChangeDuringDeferredCopy(t *testing.T) {
	st := fstest.NewStore("b1")
	wb := &gatedCopies{Store: st, blocked: make(chan struct{}), gate: make(chan struct{})}
	f := lifetimeFS(t, newMemBackend(), wb, 0)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f.Shutdown(ctx)
	})
	b := Bucket{ID: "b1", Name: "alpha"}
	obj := st.Put("b1", "big", []byte("streamed content"), map[string]string{InfoMode: "644"})
	e := entryFromObject("big", obj)
	n := f.fileNode(b, "", e)
	// What afterUpload does for a streamed large file: its final info is
	// pending, and with no delay its copy starts at once.
	fixup := map[string]string{InfoMode: "644", staging.InfoMtime: "1000", staging.InfoLargeFileSHA: "abc"}
	f.deferInfo(n, e, fixup)
	select {
	case <-wb.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the deferred copy did not start")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.Setxattr(ctx, "user.k", []byte("v"), 0) }()
	var err error
	select {
	case err = <-done:
		close(wb.gate) // copied on its own while the deferred copy waited
	case <-time.After(300 * time.Millisecond):
		close(wb.gate) // waits for the deferred copy
		err = <-done
	}
	if err != nil {
		t.Fatalf("setxattr during the deferred copy: %v", err)
	}
	if err := f.FlushMetadata(ctx); err != nil {
		t.Fatalf("pending metadata: %v", err)
	}
	got, _, ok := st.Get("b1", "big")
	if !ok {
		t.Fatal("the file has no version in B2")
	}
	if v, err := getxattrFrom(got.Info, "user.k"); err != nil || string(v) != "v" {
		t.Errorf("B2's version lacks the xattr: info %v", got.Info)
	}
	if got.Info[staging.InfoLargeFileSHA] != "abc" || got.Info[staging.InfoMtime] != "1000" {
		t.Errorf("B2's version lacks the deferred final info: %v", got.Info)
	}
	// Each copy drops the version it replaced once it has landed; the
	// drop of the last one may still be under way when the flush returns
	// (the new version, checked above, is in B2 already).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n := len(st.Versions("b1", "big"))
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d versions of the file in B2, want 1 (each copy drops the one it replaced)", n)
			break
		}
	}
	if a, err := n.Listxattr(ctx); err != nil || string(a) != "user.k\x00" {
		t.Errorf("listxattr = %q, %v", a, err)
	}
}

// TestRenameDuringMetadataCopy: a rename of a file whose deferred
// metadata is being copied (the background flush) waits for that copy and
// then renames the version it made. The rename took the source's version
// before waiting; the flush dropped that version once its copy landed, so
// the rename's copy found it gone (ENOENT), with or without a handle open
// on the file.
func TestRenameDuringMetadataCopy(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "open"}[open], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var gc *gatedCopies
			fsys, st := storeFSWith(t, func(o *Options) {
				o.Write.MetadataDelay = time.Hour
				gc = &gatedCopies{Store: o.Write.Backend.(*fstest.Store), blocked: make(chan struct{}), gate: make(chan struct{})}
				o.Write.Backend = gc
			})
			root := fsys.Root().(*Dir)
			f := writeFile(t, root, "f", "abc")
			m640 := uint32(0o640)
			if _, err := f.Setattr(ctx, nil, &SetAttr{Mode: &m640}); err != nil { // deferred
				t.Fatal(err)
			}
			if open {
				h, err := f.Open(ctx, syscall.O_RDWR) // staged, nothing written
				if err != nil {
					t.Fatal(err)
				}
				defer h.Release(ctx)
			}
			flushed := make(chan error, 1)
			go func() { flushed <- fsys.FlushMetadata(ctx) }()
			select {
			case <-gc.blocked:
			case <-time.After(10 * time.Second):
				t.Fatal("the metadata copy did not start")
			}
			renamed := make(chan error, 1)
			go func() { renamed <- root.Rename(ctx, "f", root, "g", 0) }()
			select {
			case err := <-renamed:
				t.Fatalf("the rename did not wait for the metadata copy in flight: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			close(gc.gate)
			if err := <-flushed; err != nil {
				t.Fatalf("flush: %v", err)
			}
			if err := <-renamed; err != nil {
				t.Fatalf("rename during the metadata copy: %v", err)
			}
			wantMode(t, st, "g", "640", "abc")
			if _, _, ok := st.Get("b1", "f"); ok {
				t.Error("the source is still in B2")
			}
		})
	}
}
