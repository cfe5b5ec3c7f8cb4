package vfs

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// writeFS is a writable filesystem over be.
func writeFS(t *testing.T, be *memBackend) *FS {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: fstest.NewStore("b1"), PartSize: 1 << 20, UploadCutoff: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Options{Backend: be, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: be}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRenameFlags: RENAME_NOREPLACE onto an existing name fails with
// EEXIST, RENAME_EXCHANGE (and any other flag) with EINVAL; neither
// changes anything. A plain rename replaces the target.
func TestRenameFlags(t *testing.T) {
	const noReplace, exchange, whiteout = 1, 2, 4
	ctx := context.Background()
	be := newMemBackend("src", "dst")
	f := writeFS(t, be)
	root := f.Root().(*Dir)
	unchanged := func(what string) {
		t.Helper()
		_, src, _ := be.Get("b1", "src")
		_, dst, _ := be.Get("b1", "dst")
		if string(src) != "data of src" || string(dst) != "data of dst" || len(be.Names("b1")) != 2 {
			t.Fatalf("%s changed the files: %q", what, be.Names("b1"))
		}
	}
	if e := root.Rename(ctx, "src", root, "dst", noReplace); !errors.Is(e, errs.ErrExist) {
		t.Fatalf("RENAME_NOREPLACE onto an existing file: %v, want EEXIST", e)
	}
	unchanged("RENAME_NOREPLACE")
	for _, fl := range []uint32{exchange, whiteout, exchange | noReplace} {
		if e := root.Rename(ctx, "src", root, "dst", fl); !errors.Is(e, errs.ErrInvalid) {
			t.Fatalf("rename flags %#x: %v, want EINVAL", fl, e)
		}
		unchanged("rename with unsupported flags")
	}
	if e := root.Rename(ctx, "src", root, "new", noReplace); e != nil {
		t.Fatalf("RENAME_NOREPLACE onto a free name: %v", e)
	}
	if e := root.Rename(ctx, "new", root, "dst", 0); e != nil {
		t.Fatalf("plain rename: %v", e)
	}
	if _, dst, _ := be.Get("b1", "dst"); string(dst) != "data of src" || len(be.Names("b1")) != 1 {
		t.Fatalf("after the renames: %q", be.Names("b1"))
	}
}
