package vfs

import (
	"context"
	"syscall"
	"testing"
)

// TestReadAfterOwnMetadataCopy: a handle reading a version this mount
// then replaced by a metadata copy (and deleted, being its own) reads on
// from the copy. Reads failed with EIO ("download: no such file") once the
// version was gone (found by TestModelVFS: a streamed file's deferred
// metadata copy landed between open and read).
func TestReadAfterOwnMetadataCopy(t *testing.T) {
	fsys, st := storeFS(t)
	ctx := context.Background()
	root := fsys.Root().(*Dir)
	f, h, err := root.Create(ctx, "a", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("the bytes of a")
	if _, err := h.Write(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	old, _, _ := st.Get("b1", "a")
	r, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release(ctx)
	mode := uint32(0o600)
	if _, err := f.Setattr(ctx, nil, &SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if cur, _, _ := st.Get("b1", "a"); cur.FileID == old.FileID {
		t.Fatalf("chmod made no copy (version %s)", cur.FileID)
	}
	buf := make([]byte, 64)
	n, err := r.Read(ctx, buf, 0)
	if err != nil || string(buf[:n]) != string(data) {
		t.Fatalf("read after the copy = %q, %v; want %q", buf[:n], err, data)
	}
}
