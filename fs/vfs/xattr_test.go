package vfs

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestXattrWhileOpenUnchanged: an xattr set on a file open for writing
// without changes yet, with metadata changes deferred, is visible at once
// (getxattr, listxattr) and after the close. The change is deferred as
// for a closed file; listxattr read the staged file's info without it
// (found by test/model's TestModelVFS).
func TestXattrWhileOpenUnchanged(t *testing.T) {
	fsys, _ := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	ctx := context.Background()
	root := fsys.Root().(*Dir)
	f, h, err := root.Create(ctx, "a", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if h, err = f.Open(ctx, syscall.O_WRONLY); err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if err := f.Setxattr(ctx, "user.x", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if l, err := f.Listxattr(ctx); err != nil || string(l) != "user.x\x00" {
			t.Errorf("%s: listxattr = %q, %v; want user.x", when, l, err)
		}
		if v, err := f.Getxattr(ctx, "user.x"); err != nil || string(v) != "v" {
			t.Errorf("%s: getxattr = %q, %v; want v", when, v, err)
		}
	}
	check("while open")
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("after close")
}

// TestUnlinkedOpenFileKeepsDeferredChmod: a chmod and an xattr deferred
// (--metadata-delay) on a file open without changes, then the file
// unlinked: its open handle shows them, also after writing through it.
// The pending change was dropped with the name and fstat showed the mode
// before (found by test/model's TestModelVFS).
func TestUnlinkedOpenFileKeepsDeferredChmod(t *testing.T) {
	fsys, _ := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	ctx := context.Background()
	root := fsys.Root().(*Dir)
	f, h, err := root.Create(ctx, "a", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if h, err = f.Open(ctx, syscall.O_RDWR); err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	mode := uint32(0o600)
	if _, err := f.Setattr(ctx, nil, &SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if err := f.Setxattr(ctx, "user.x", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := root.Unlink(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		a := f.Attr(ctx, h)
		if a.Mode&0o7777 != 0o600 || a.Nlink != 0 {
			t.Errorf("%s: fstat mode %o nlink %d, want 600 and 0", when, a.Mode&0o7777, a.Nlink)
		}
		if v, err := f.Getxattr(ctx, "user.x"); err != nil || string(v) != "v" {
			t.Errorf("%s: getxattr = %q, %v; want v", when, v, err)
		}
	}
	check("after unlink")
	if _, err := h.Write(ctx, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	check("after a write")
}

// TestRenameOpenFileKeepsDeferredXattr: an xattr deferred on a file open
// for writing rides on its rename's copy, and the open file shows it
// after the rename as B2 does. The open staged copy kept the info from
// before and hid it until the file was closed (found by test/model's
// TestModelVFS).
func TestRenameOpenFileKeepsDeferredXattr(t *testing.T) {
	fsys, st := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	ctx := context.Background()
	root := fsys.Root().(*Dir)
	f, h, err := root.Create(ctx, "x", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if err := root.Rename(ctx, "x", root, "b", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Setxattr(ctx, "user.a", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "b", root, "c", 0); err != nil {
		t.Fatal(err)
	}
	if o, _, ok := st.Get("b1", "c"); !ok || o.Info["b2fs-x-a"] != "v" {
		t.Fatalf("B2's c: %v %v, want the xattr", ok, o.Info)
	}
	n, err := root.Lookup(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if l, err := n.(*File).Listxattr(ctx); err != nil || string(l) != "user.a\x00" {
		t.Fatalf("listxattr of c while open = %q, %v; want user.a", l, err)
	}
}
