package vfs

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// storeFS is a writable filesystem over an in-memory account with bucket
// b1 (called alpha).
func storeFS(t *testing.T) (*FS, *fstest.Store) {
	t.Helper()
	return storeFSWith(t, nil)
}

// storeFSWith is storeFS with the options changed by opt (when not nil).
func storeFSWith(t *testing.T, opt func(*Options)) (*FS, *fstest.Store) {
	t.Helper()
	st := fstest.NewStore()
	st.AddBucket("b1", "alpha")
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close(context.Background()) })
	o := Options{Backend: st, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: st}}
	if opt != nil {
		opt(&o)
	}
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f, st
}

func readDir(t *testing.T, d *Dir) []string {
	t.Helper()
	h := d.Opendir()
	var names []string
	for {
		de, err := h.Readdirent(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if de == nil {
			break
		}
		if de.Name != "." && de.Name != ".." {
			names = append(names, de.Name)
		}
	}
	sort.Strings(names)
	return names
}

// TestVFSWithoutKernel drives the write path through the vfs API alone:
// create, write, close, read back, rename (with and without
// RENAME_NOREPLACE), mkdir, rmdir, chmod, symlinks, xattrs, unlink.
func TestVFSWithoutKernel(t *testing.T) {
	ctx := WithCaller(context.Background(), 1000, 1000)
	fsys, st := storeFS(t)
	root := fsys.Root().(*Dir)

	f, h, err := root.Create(ctx, "a.txt", syscall.O_WRONLY|syscall.O_CREAT, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := h.Write(ctx, []byte("hello"), 0); err != nil || n != 5 {
		t.Fatalf("write: %d %v", n, err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if _, data, ok := st.Get("b1", "a.txt"); !ok || string(data) != "hello" {
		t.Fatalf("B2 has %q %v after close", data, ok)
	}
	if a := f.Attr(ctx, nil); a.Size != 5 || a.Mode != syscall.S_IFREG|0o640 || a.Uid != 1000 {
		t.Fatalf("attributes %+v", a)
	}
	n, err := root.Lookup(ctx, "a.txt")
	if err != nil || n.(*File) != f {
		t.Fatalf("lookup: %v %v", n, err)
	}
	rh, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := rh.Read(ctx, buf, 0); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read: %q %v", buf[:n], err)
	}
	rh.Release(ctx)

	sub, err := root.Mkdir(ctx, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Mkdir(ctx, "d", 0o755); !errors.Is(err, errs.ErrExist) && err != nil {
		t.Fatalf("second mkdir: %v", err)
	}
	if _, h2, err := sub.Create(ctx, "b", syscall.O_WRONLY|syscall.O_CREAT, 0o644); err != nil {
		t.Fatal(err)
	} else {
		h2.Flush(ctx)
		h2.Release(ctx)
	}
	if err := root.Rename(ctx, "a.txt", sub, "b", RenameNoReplace); !errors.Is(err, errs.ErrExist) {
		t.Fatalf("rename with RENAME_NOREPLACE onto b: %v", err)
	}
	if err := root.Rename(ctx, "a.txt", sub, "c", 0); err != nil {
		t.Fatal(err)
	}
	if got := readDir(t, sub); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("d lists %q", got)
	}
	if _, data, ok := st.Get("b1", "d/c"); !ok || string(data) != "hello" {
		t.Fatalf("renamed file in B2: %q %v", data, ok)
	}
	if _, err := root.Lookup(ctx, "a.txt"); !errors.Is(err, errs.ErrNotExist) {
		t.Fatalf("lookup of the old name: %v", err)
	}
	if err := root.Rmdir(ctx, "d"); !errors.Is(err, errs.ErrNotEmpty) {
		t.Fatalf("rmdir of a non-empty directory: %v", err)
	}

	c, err := sub.Lookup(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	mode := uint32(0o600)
	if a, err := c.(*File).Setattr(ctx, nil, &SetAttr{Mode: &mode}); err != nil || a.Mode&0o7777 != 0o600 {
		t.Fatalf("chmod: %+v %v", a, err)
	}
	if err := c.(*File).Setxattr(ctx, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.(*File).Getxattr(ctx, "user.k"); err != nil || string(v) != "v" {
		t.Fatalf("getxattr: %q %v", v, err)
	}
	if _, err := c.(*File).Getxattr(ctx, "user.none"); !errors.Is(err, errs.ErrNoAttr) {
		t.Fatalf("getxattr of a missing attribute: %v", err)
	}
	if o, _, _ := st.Get("b1", "d/c"); o.Info["b2fs-mode"] != "600" {
		t.Fatalf("B2 info after chmod and setxattr: %v", o.Info)
	}

	l, err := root.Symlink(ctx, "d/c", "link")
	if err != nil {
		t.Fatal(err)
	}
	if tgt, err := l.Readlink(ctx); err != nil || string(tgt) != "d/c" {
		t.Fatalf("readlink: %q %v", tgt, err)
	}
	if a := l.Attr(ctx, nil); a.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		t.Fatalf("symlink mode %o", a.Mode)
	}
	if err := root.Link(ctx, l, "hard"); !errors.Is(err, errs.ErrPerm) {
		t.Fatalf("link: %v", err)
	}

	for _, name := range []string{"b", "c"} {
		if err := sub.Unlink(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Rmdir(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := root.Unlink(ctx, "link"); err != nil {
		t.Fatal(err)
	}
	if got := st.Names("b1"); len(got) != 0 {
		t.Fatalf("B2 still has %q", got)
	}
	if got := readDir(t, root); len(got) != 0 {
		t.Fatalf("root lists %q", got)
	}
	fsys.StopWrites()
	if _, _, err := root.Create(ctx, "x", syscall.O_WRONLY|syscall.O_CREAT, 0o644); !errors.Is(err, errs.ErrReadOnly) {
		t.Fatalf("create after StopWrites: %v", err)
	}
}

// TestVFSDirectoryRenameMovesLoadedNodes: after a directory rename, the
// directory and file objects loaded before it name their new places (a
// handle's later changes reach the renamed file).
func TestVFSDirectoryRenameMovesLoadedNodes(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	root := fsys.Root().(*Dir)
	a, err := root.Mkdir(ctx, "a", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	x, h, err := a.Create(ctx, "x", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(ctx, []byte("data"), 0)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if err := root.Rename(ctx, "a", root, "b", 0); err != nil {
		t.Fatal(err)
	}
	if b, p := a.Loc(); b.ID != "b1" || p != "b/" {
		t.Fatalf("the renamed directory's object is at %q", p)
	}
	if _, dir, name := x.Loc(); dir != "b/" || name != "x" {
		t.Fatalf("the file's object is at %q%q", dir, name)
	}
	mode := uint32(0o600)
	if _, err := x.Setattr(ctx, nil, &SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if o, data, ok := st.Get("b1", "b/x"); !ok || string(data) != "data" || o.Info["b2fs-mode"] != "600" {
		t.Fatalf("b/x in B2: %v %q %v", ok, data, o.Info)
	}
	if _, _, ok := st.Get("b1", "a/x"); ok {
		t.Fatal("a/x still in B2")
	}
	n, err := root.Lookup(ctx, "b")
	if err != nil || n.(*Dir) != a {
		t.Fatalf("lookup of b: %v %v", n, err)
	}
	fsys.Forget(x)
	y, err := a.Lookup(ctx, "x")
	if err != nil || y.(*File) == x {
		t.Fatalf("lookup after Forget: %v %v (the forgotten object came back)", y, err)
	}
}
