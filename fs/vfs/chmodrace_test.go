package vfs

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
)

// hookedCopy is fstest's backend whose server-side copies call hook (once)
// before they return.
type hookedCopy struct {
	*fstest.Store
	once sync.Once
	hook func()
}

func (h *hookedCopy) Copy(ctx context.Context, src Object, dst Bucket, name string, meta *CopyMeta) (Object, error) {
	o, err := h.Store.Copy(ctx, src, dst, name, meta)
	if h.hook != nil {
		h.once.Do(h.hook)
	}
	return o, err
}

// hookedCopyFS is storeFSWith (opt may be nil) whose server-side copies
// go through the returned hookedCopy.
func hookedCopyFS(t *testing.T, opt func(*Options)) (*FS, *fstest.Store, *hookedCopy) {
	t.Helper()
	var hc *hookedCopy
	fsys, st := storeFSWith(t, func(o *Options) {
		if opt != nil {
			opt(o)
		}
		hc = &hookedCopy{Store: o.Write.Backend.(*fstest.Store)}
		o.Write.Backend = hc
	})
	return fsys, st, hc
}

func wantMode(t *testing.T, st *fstest.Store, name, mode, data string) {
	t.Helper()
	o, got, ok := st.Get("b1", name)
	if !ok || string(got) != data || o.Info[InfoMode] != mode {
		t.Errorf("B2 has %s: %q mode %q (found %v); want %q mode %q", name, got, o.Info[InfoMode], ok, data, mode)
	}
}

// TestChmodDuringMetadataCopy: a chmod through a handle that comes while
// the background copy of an earlier chmod runs (the file open, and written
// meanwhile) is not undone when the copy lands: the upload at close has it.
func TestChmodDuringMetadataCopy(t *testing.T) {
	ctx := context.Background()
	fsys, st, hc := hookedCopyFS(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "f", "abc")
	m640 := uint32(0o640)
	if _, err := f.Setattr(ctx, nil, &SetAttr{Mode: &m640}); err != nil { // deferred
		t.Fatal(err)
	}
	h, err := f.Open(ctx, syscall.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	hc.hook = func() {
		// While the copy of the 0640 runs: a write (it waits for the
		// copy to hand over the pending change) and a chmod.
		sf := h.(*stagedHandle).f
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Write(ctx, []byte("X"), 3); err != nil {
				t.Error(err)
			}
		}()
		for !sf.Dirty() {
			time.Sleep(time.Millisecond)
		}
		m600 := uint32(0o600)
		if _, err := f.Setattr(ctx, h, &SetAttr{Mode: &m600}); err != nil {
			t.Error(err)
		}
	}
	if err := f.Fsync(ctx); err != nil { // the copy of the 0640
		t.Fatal(err)
	}
	wg.Wait()
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	wantMode(t, st, "f", "600", "abcX")
	if a := f.Attr(ctx, nil); a.Mode != syscall.S_IFREG|0o600 {
		t.Errorf("mode %o", a.Mode)
	}
}

// TestChmodDuringCopyFileRange: a chmod of the destination while
// copy_file_range's server-side copy runs is uploaded, with the copied
// content.
func TestChmodDuringCopyFileRange(t *testing.T) {
	ctx := context.Background()
	fsys, st, hc := hookedCopyFS(t, nil)
	root := fsys.Root().(*Dir)
	src := writeFile(t, root, "src", "source bytes")
	dst, h, err := root.Create(ctx, "dst", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	hc.hook = func() {
		m600 := uint32(0o600)
		if _, err := dst.Setattr(ctx, h, &SetAttr{Mode: &m600}); err != nil {
			t.Error(err)
		}
	}
	if n, err := src.CopyFileRange(ctx, 0, dst, h, 0, 1<<20, 0); err != nil || n != 12 {
		t.Fatalf("copy_file_range: %d %v", n, err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	wantMode(t, st, "dst", "600", "source bytes")
}

// TestXattrOfOpenFileWithDeferredChange: an xattr set on a file open
// without changes waits as a deferred change; getxattr shows it at once.
func TestXattrOfOpenFileWithDeferredChange(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "f", "abc")
	h, err := f.Open(ctx, syscall.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if err := f.Setxattr(ctx, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if fsys.PendingMetadata() != 1 {
		t.Fatalf("%d pending changes, want the xattr", fsys.PendingMetadata())
	}
	if v, err := f.Getxattr(ctx, "user.k"); err != nil || string(v) != "v" {
		t.Errorf("getxattr: %q %v", v, err)
	}
	if l, _ := f.Listxattr(ctx); string(l) != "user.k\x00" {
		t.Errorf("listxattr: %q", l)
	}
}

// TestUtimesOfOpenFileReachesB2: utimes of a file that a handle has open
// without changes is copied to B2 (the staged file shows the new time at
// once; its version must get it too).
func TestUtimesOfOpenFileReachesB2(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "f", "abc")
	h, err := f.Open(ctx, syscall.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(130, 0)
	if _, err := f.Setattr(ctx, nil, &SetAttr{Mtime: &mt}); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if o, _, _ := st.Get("b1", "f"); o.Info["src_last_modified_millis"] != "130000" {
		t.Errorf("B2 has mtime %q, want 130000", o.Info["src_last_modified_millis"])
	}
}

// TestRenameOfOpenFileKeepsPendingXattr: an xattr set on a file open
// without changes waits as deferred metadata; a rename of the file carries
// it in its copy, and the open file (its staged copy, now under the new
// name) shows it too.
func TestRenameOfOpenFileKeepsPendingXattr(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "e f", "content")
	h, err := f.Open(ctx, syscall.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if err := f.Setxattr(ctx, "user.e", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	b, err := root.Mkdir(ctx, "b", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "e f", b, "d", 0); err != nil {
		t.Fatal(err)
	}
	if o, _, _ := st.Get("b1", "b/d"); o.Info["b2fs-x-e"] != "v" {
		t.Errorf("B2 has info %v, want user.e", o.Info)
	}
	if v, err := f.Getxattr(ctx, "user.e"); err != nil || string(v) != "v" {
		t.Errorf("getxattr after the rename: %q %v", v, err)
	}
}

// TestReplacedFileKeepsDeferredChmod: a chmod whose copy is deferred
// (--metadata-delay), of a file open for writing and not written yet, is
// what the handle's fstat shows after a rename over the file or its
// unlink (model seed 18124746377415650168: fstat showed the mode from
// before the chmod).
func TestReplacedFileKeepsDeferredChmod(t *testing.T) {
	for _, how := range []string{"rename", "unlink"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			fsys, _ := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
			root := fsys.Root().(*Dir)
			f := writeFile(t, root, "f", "abc")
			writeFile(t, root, "g", "other")
			h, err := f.Open(ctx, syscall.O_WRONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Release(ctx)
			m612 := uint32(0o612)
			if _, err := f.Setattr(ctx, nil, &SetAttr{Mode: &m612}); err != nil { // deferred
				t.Fatal(err)
			}
			if how == "rename" {
				err = root.Rename(ctx, "g", root, "f", 0)
			} else {
				err = root.Unlink(ctx, "f")
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Write(ctx, []byte("XY"), 1); err != nil {
				t.Fatal(err)
			}
			if a := f.Attr(ctx, h); a.Mode&0o7777 != 0o612 {
				t.Errorf("fstat after %s: mode %o, want 612", how, a.Mode&0o7777)
			}
		})
	}
}
