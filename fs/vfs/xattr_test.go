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
