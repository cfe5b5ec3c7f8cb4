package vfs

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
)

// TestReadRightAfterStreamedClose: a large file streamed while written
// gets its final metadata by a copy that replaces (and deletes) the
// streamed version as soon as it is closed (no --metadata-delay); an open
// and read right after the close read the file, never the deleted version.
// Two races made about one read in a hundred fail with EIO ("download: no
// such file"): the close published the streamed version after the copy
// had replaced it, and an open could pin the version after the copy had
// deleted it (found by test/model's TestModelVFS).
func TestReadRightAfterStreamedClose(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFS(t)
	root := fsys.Root().(*Dir)
	for i := range 500 {
		name := fmt.Sprintf("f%d", i)
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 7}, 50_000) // 150 KB: streams (cutoff 128 KiB)
		f, h, err := root.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Write(ctx, data, 0); err != nil {
			t.Fatal(err)
		}
		if err := h.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		h.Release(ctx)
		r, err := f.Open(ctx, syscall.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(data))
		n, err := r.Read(ctx, buf, 0)
		r.Release(ctx)
		if err != nil || !bytes.Equal(buf[:n], data) {
			t.Fatalf("iteration %d: read after close: %d bytes, %v", i, n, err)
		}
	}
}
