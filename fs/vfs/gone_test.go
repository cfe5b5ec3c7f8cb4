package vfs

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/errs"
)

func readContent(t *testing.T, h Handle) string {
	t.Helper()
	buf := make([]byte, 100)
	n, err := h.Read(context.Background(), buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestUnlinkedOpenFileKeepsItsAttributes: a file unlinked while open shows
// its own attributes with no link through its handles (fstat), whatever
// its name holds later, and its handles still read and write it.
func TestUnlinkedOpenFileKeepsItsAttributes(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFS(t)
	root := fsys.Root().(*Dir)

	// A closed file opened for reading, and a new one still being written.
	f := writeFile(t, root, "r", "twelve bytes")
	rh, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	w, wh, err := root.Create(ctx, "w", syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wh.Write(ctx, []byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	if err := root.Unlink(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := root.Unlink(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	// Other files take the names.
	writeFile(t, root, "r", "x")
	writeFile(t, root, "w", "")

	if a := f.Attr(ctx, rh); a.Nlink != 0 || a.Size != 12 || a.Mode != syscall.S_IFREG|0o644 {
		t.Errorf("unlinked reader: nlink %d size %d mode %o; want 0, 12, 100644", a.Nlink, a.Size, a.Mode)
	}
	if a := f.Attr(ctx, nil); a.Nlink != 0 || a.Size != 12 {
		t.Errorf("unlinked file without a handle: nlink %d size %d", a.Nlink, a.Size)
	}
	if got := readContent(t, rh); got != "twelve bytes" {
		t.Errorf("read through the unlinked reader: %q", got)
	}
	if _, err := wh.Write(ctx, []byte("defg"), 3); err != nil {
		t.Fatal(err)
	}
	if a := w.Attr(ctx, wh); a.Nlink != 0 || a.Size != 7 || a.Mode != syscall.S_IFREG|0o600 {
		t.Errorf("unlinked writer: nlink %d size %d mode %o; want 0, 7, 100600", a.Nlink, a.Size, a.Mode)
	}
	if got := readContent(t, wh); got != "abcdefg" {
		t.Errorf("read through the unlinked writer: %q", got)
	}
	// fchmod of the unlinked file changes it, not the new one.
	mode := uint32(0o640)
	if a, err := w.Setattr(ctx, wh, &SetAttr{Mode: &mode}); err != nil || a.Mode != syscall.S_IFREG|0o640 || a.Nlink != 0 {
		t.Errorf("fchmod of the unlinked file: %+v %v", a, err)
	}
	if err := wh.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wh.Release(ctx)
	rh.Release(ctx)
	for name, size := range map[string]uint64{"r": 1, "w": 0} {
		n, err := root.Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if a := n.(*File).Attr(ctx, nil); a.Size != size || a.Nlink != 1 || a.Mode != syscall.S_IFREG|0o644 {
			t.Errorf("%s, the new file: size %d nlink %d mode %o", name, a.Size, a.Nlink, a.Mode)
		}
	}
	// A file gone since the kernel's lookup cannot be opened any more.
	if _, err := f.Open(ctx, syscall.O_RDONLY); !errors.Is(err, errs.ErrNotExist) {
		t.Errorf("open of the unlinked file: %v, want ErrNotExist", err)
	}
}

// TestReplacedOpenFileKeepsItsAttributes: a file replaced by a rename (of a
// symlink, here) keeps its own type, size and content for its handles, and
// an open of it after the rename does not open what replaced it.
func TestReplacedOpenFileKeepsItsAttributes(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFS(t)
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "dst", "dst")
	h, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if _, err := root.Symlink(ctx, "/etc/passwd", "tmp"); err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "tmp", root, "dst", 0); err != nil {
		t.Fatal(err)
	}
	if a := f.Attr(ctx, h); a.Nlink != 0 || a.Size != 3 || a.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("replaced file: nlink %d size %d mode %o", a.Nlink, a.Size, a.Mode)
	}
	if got := readContent(t, h); got != "dst" {
		t.Errorf("read of the replaced file: %q", got)
	}
	if _, err := f.Open(ctx, syscall.O_RDONLY); !errors.Is(err, errs.ErrNotExist) {
		t.Errorf("open of the replaced file: %v, want ErrNotExist", err)
	}
	n, err := root.Lookup(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if a := n.(*File).Attr(ctx, nil); a.Mode&syscall.S_IFMT != syscall.S_IFLNK || a.Nlink != 1 {
		t.Errorf("the symlink at dst: mode %o nlink %d", a.Mode, a.Nlink)
	}
}

// TestReplacedDirectoryKeepsItsAttributes: a directory replaced by a
// rename (or removed) keeps its own mode for its open handles, and nothing
// can be created in it.
func TestReplacedDirectoryKeepsItsAttributes(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFS(t)
	root := fsys.Root().(*Dir)
	if _, err := root.Mkdir(ctx, "dir1", 0o755); err != nil {
		t.Fatal(err)
	}
	d2, err := root.Mkdir(ctx, "dir2", 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "dir1", root, "dir2", 0); err != nil {
		t.Fatal(err)
	}
	if a := d2.Attr(ctx, true); a.Mode != syscall.S_IFDIR|0o700 || a.Nlink != 0 {
		t.Errorf("replaced directory: mode %o nlink %d; want 40700, 0", a.Mode, a.Nlink)
	}
	if _, _, err := d2.Create(ctx, "f", syscall.O_WRONLY|syscall.O_CREAT, 0o644); !errors.Is(err, errs.ErrNotExist) {
		t.Errorf("create in the replaced directory: %v, want ErrNotExist", err)
	}
	n, err := root.Lookup(ctx, "dir2")
	if err != nil {
		t.Fatal(err)
	}
	if a := n.(*Dir).Attr(ctx, true); a.Mode != syscall.S_IFDIR|0o755 || a.Nlink == 0 {
		t.Errorf("dir2 now: mode %o nlink %d; want 40755", a.Mode, a.Nlink)
	}
	d3, err := root.Mkdir(ctx, "dir3", 0o711)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Rmdir(ctx, "dir3"); err != nil {
		t.Fatal(err)
	}
	if a := d3.Attr(ctx, true); a.Mode != syscall.S_IFDIR|0o711 || a.Nlink != 0 {
		t.Errorf("removed directory: mode %o nlink %d", a.Mode, a.Nlink)
	}
	if _, err := d3.Mkdir(ctx, "x", 0o755); !errors.Is(err, errs.ErrNotExist) {
		t.Errorf("mkdir in the removed directory: %v", err)
	}
}

// TestUninterruptible: the context the FUSE adapter gives a rename and an
// unlink outlives its caller's cancellation (a signal) and ends with the
// filesystem.
func TestUninterruptible(t *testing.T) {
	fsys, st := storeFS(t)
	root := fsys.Root().(*Dir)
	writeFile(t, root, "a", "data")
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	ctx, done := fsys.Uninterruptible(cctx)
	defer done()
	if err := root.Rename(ctx, "a", root, "b", 0); err != nil {
		t.Fatalf("rename of an interrupted caller: %v", err)
	}
	if _, _, ok := st.Get("b1", "a"); ok {
		t.Error("a still in B2")
	}
	if err := root.Unlink(ctx, "b"); err != nil {
		t.Fatalf("unlink of an interrupted caller: %v", err)
	}
	if names := st.Names("b1"); len(names) != 0 {
		t.Errorf("B2 has %v", names)
	}
	fsys.Shutdown(context.Background())
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Error("the context outlived the filesystem")
	}
}
