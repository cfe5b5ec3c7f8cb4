package vfs

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"
)

// TestReaderKeepsVersionAcrossMetadataCopy: a large file streamed while
// being written gets its final metadata by a deferred server-side copy,
// which deletes the version it replaces. A handle opened before the copy
// still reads that version: the delete waits until it is released.
func TestReaderKeepsVersionAcrossMetadataCopy(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFSWith(t, func(o *Options) { o.Write.MetadataDelay = time.Hour })
	root := fsys.Root().(*Dir)
	data := bytes.Repeat([]byte("0123456789abcdef"), 320<<10/16) // 320 KiB: streamed in 64 KiB parts
	f, h, err := root.Create(ctx, "big", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 32 << 10 {
		if _, err := h.Write(ctx, data[off:off+32<<10], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if fsys.PendingMetadata() != 1 {
		t.Fatalf("%d files with deferred metadata, want the streamed file's", fsys.PendingMetadata())
	}
	old := f.Entry().FileID
	rh, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Fsync(ctx); err != nil { // the deferred copy
		t.Fatal(err)
	}
	if now := f.Entry().FileID; now == old {
		t.Fatalf("no metadata copy made (version %s)", now)
	}
	got := make([]byte, len(data))
	for off := 0; off < len(got); {
		n, err := rh.Read(ctx, got[off:], int64(off))
		if err != nil {
			t.Fatalf("read at %d after the metadata copy: %v", off, err)
		}
		if n == 0 {
			break
		}
		off += n
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the reader read other bytes")
	}
	if _, err := st.Download(ctx, old, 0, 1); err != nil {
		t.Fatalf("the replaced version went while read: %v", err)
	}
	rh.Release(ctx)
	if _, err := st.Download(ctx, old, 0, 1); err == nil {
		t.Error("the replaced version is still stored after its last reader")
	}
}

// TestReaderKeepsVersionAcrossRename: renaming a file this mount created
// deletes its only version (the copy holds the bytes); a handle reading it
// keeps it until released, and the old name is gone at once.
func TestReaderKeepsVersionAcrossRename(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "tmp", "content")
	old := f.Entry().FileID
	rh, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "tmp", root, "final", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := st.Get("b1", "tmp"); ok {
		t.Error("tmp still visible in B2 after the rename")
	}
	if got := readContent(t, rh); got != "content" {
		t.Errorf("read after the rename: %q", got)
	}
	rh.Release(ctx)
	if _, err := st.Download(ctx, old, 0, 1); err == nil {
		t.Error("the renamed file's old version is still stored after its last reader")
	}
	if _, data, ok := st.Get("b1", "final"); !ok || string(data) != "content" {
		t.Errorf("final: %q %v", data, ok)
	}
}
