package vfs

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
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

// hideRecorder is fstest's backend that records the names hidden.
type hideRecorder struct {
	*fstest.Store
	mu     sync.Mutex
	hidden map[string]bool
}

func (h *hideRecorder) Hide(ctx context.Context, b Bucket, name string) error {
	h.mu.Lock()
	h.hidden[name] = true
	h.mu.Unlock()
	return h.Store.Hide(ctx, b, name)
}

// TestRenameAfterDirectoryRename: a file moved by a directory rename
// has at its new name the copy the rename made; written and closed
// there, then renamed again, the version it uploaded is not the name's
// only one, so the name is hidden rather than its newest version deleted.
// The file kept, from before the directory rename, that this mount made
// its versions at a free name (none of them yet), so the second rename
// deleted the one it uploaded and B2 showed the directory rename's copy
// at the old name again (after a restart or once the listing expired).
func TestRenameAfterDirectoryRename(t *testing.T) {
	ctx := context.Background()
	var hr *hideRecorder
	fsys, st := storeFSWith(t, func(o *Options) {
		hr = &hideRecorder{Store: o.Write.Backend.(*fstest.Store), hidden: map[string]bool{}}
		o.Write.Backend = hr
	})
	root := fsys.Root().(*Dir)
	if _, err := root.Mkdir(ctx, "b", 0o755); err != nil {
		t.Fatal(err)
	}
	bn, err := root.Lookup(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	_, h, err := bn.(*Dir).Create(ctx, "c", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	if err := root.Rename(ctx, "b", root, "e", 0); err != nil { // uploads b/c, copies it to e/c
		t.Fatal(err)
	}
	if _, err := h.Write(ctx, []byte("second"), 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil { // a new version of e/c
		t.Fatal(err)
	}
	h.Release(ctx)
	en, err := root.Lookup(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if err := en.(*Dir).Rename(ctx, "c", root, "g", 0); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := st.Get("b1", "g"); !ok || string(data) != "second" {
		t.Errorf("g in B2: %q (found %v), want %q", data, ok, "second")
	}
	hr.mu.Lock()
	hidden := hr.hidden["e/c"]
	hr.mu.Unlock()
	if vs := st.Versions("b1", "e/c"); len(vs) > 0 && !hidden {
		t.Errorf("e/c keeps %d stored version(s) (%q) and was not hidden: B2 shows the older one again", len(vs), vs)
	}
}
