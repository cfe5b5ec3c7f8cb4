package vfs

import (
	"context"
	"syscall"
	"testing"

	"time"
)

// readHandleAll reads h from offset 0 with a buffer bigger than the test
// files.
func readHandleAll(t *testing.T, h Handle) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := h.Read(context.Background(), buf, 0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf[:n])
}

// TestReaderSeesOneFile: a descriptor opened read-only on a file with
// nothing staged reads what the other descriptors of the file wrote after
// it was opened (found by TestModelVFS: POSIX has one file per inode), and
// what a truncation of the closed file left; one of a file unlinked or
// replaced keeps reading what it had.
func TestReaderSeesOneFile(t *testing.T) {
	ctx := context.Background()
	for _, wb := range []bool{false, true} {
		name := "default"
		if wb {
			name = "write-back"
		}
		t.Run(name, func(t *testing.T) {
			fsys, _ := storeFS(t)
			if wb {
				fsys, _ = wbFS(t, newStore(), "", time.Hour)
			}
			root := fsys.Root().(*Dir)
			f := writeFile(t, root, "a", "first version")
			if err := fsys.Sync(ctx); err != nil { // in B2, nothing staged
				t.Fatal(err)
			}

			r, err := f.Open(ctx, syscall.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release(ctx)
			if got := readHandleAll(t, r); got != "first version" {
				t.Fatalf("reader reads %q", got)
			}
			// Another descriptor truncates and writes: the reader reads it
			// before and after the writer's close.
			w, err := f.Open(ctx, syscall.O_RDWR|syscall.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if got := readHandleAll(t, r); got != "" {
				t.Fatalf("after O_TRUNC by another descriptor the reader reads %q", got)
			}
			if _, err := w.Write(ctx, []byte("second"), 0); err != nil {
				t.Fatal(err)
			}
			if got := readHandleAll(t, r); got != "second" {
				t.Fatalf("after a write by another descriptor the reader reads %q", got)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			w.Release(ctx)
			if got := readHandleAll(t, r); got != "second" {
				t.Fatalf("after the writer's close the reader reads %q", got)
			}

			// A reader that never read while the file was staged: the
			// truncation of the closed file is what it reads next.
			if err := fsys.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			r2, err := f.Open(ctx, syscall.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Release(ctx)
			sz := uint64(3)
			if _, err := f.Setattr(ctx, nil, &SetAttr{Size: &sz}); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if got := readHandleAll(t, r2); got != "sec" {
				t.Fatalf("after truncate(3) the reader reads %q", got)
			}
			if got := readHandleAll(t, r); got != "sec" {
				t.Fatalf("after truncate(3) the first reader reads %q", got)
			}

			// Unlinked while another descriptor writes it, the reader
			// never having read meanwhile: it reads what the writer
			// wrote after the unlink (found by TestModelVFS).
			if err := fsys.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			r4, err := f.Open(ctx, syscall.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r4.Release(ctx)
			w2, err := f.Open(ctx, syscall.O_WRONLY|syscall.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if err := root.Unlink(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, err := w2.Write(ctx, []byte("unlinked"), 0); err != nil {
				t.Fatal(err)
			}
			if got := readHandleAll(t, r4); got != "unlinked" {
				t.Fatalf("after unlink and a write by another descriptor the reader reads %q", got)
			}
			// fstat through either descriptor (go-fuse answers it through
			// any open handle of the inode) shows the size written.
			for _, h := range []Handle{r4, w2} {
				if a := f.Attr(ctx, h); a.Size != 8 || a.Nlink != 0 {
					t.Fatalf("fstat of the unlinked file: size %d nlink %d, want 8 and 0", a.Size, a.Nlink)
				}
			}
			w2.Release(ctx)
			f = writeFile(t, root, "a", "sec")

			// Replaced by a rename: the readers keep the file they had.
			if err := fsys.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			r3, err := f.Open(ctx, syscall.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			defer r3.Release(ctx)
			writeFile(t, root, "b", "other file")
			if err := root.Rename(ctx, "b", root, "a", 0); err != nil {
				t.Fatal(err)
			}
			if got := readHandleAll(t, r3); got != "sec" {
				t.Fatalf("after the file was replaced its reader reads %q", got)
			}
		})
	}
}
