package wire

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/fs/vfs"
	"github.com/b2fs/b2fs/test/b2emu"
)

// TestWireOverEmulator: the layers New puts together write through the
// one B2 adapter to B2, and a mount without staging is read-only.
func TestWireOverEmulator(t *testing.T) {
	ts := b2emu.NewTestServer(t, b2emu.Options{})
	id, err := ts.CreateBucket("wire-bucket", "allPrivate")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mc.Close)
	opts := fs.Options{Cache: mc, Bucket: fs.Bucket{ID: id, Name: "wire-bucket"}}
	so := &staging.Options{Dir: filepath.Join(t.TempDir(), "staging"), PartSize: 1 << 20, UploadCutoff: 2 << 20}
	m, err := New(Options{Client: c, FS: opts, Staging: so, PartSize: 1 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	root := m.FS.FS.Root().(*vfs.Dir)
	_, h, err := root.Create(ctx, "f.txt", syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(ctx, []byte("wired"), 0)
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h.Release(ctx)
	if _, err := c.Head(ctx, "wire-bucket", "f.txt"); err != nil {
		t.Fatalf("B2 does not have the file: %v", err)
	}
	if err := m.FS.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.CloseWrite(ctx); err != nil {
		t.Fatal(err)
	}

	ro, err := New(Options{Client: c, FS: opts})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Staging != nil {
		t.Fatal("a mount without staging options has a staging area")
	}
	r := ro.FS.FS.Root().(*vfs.Dir)
	if _, _, err := r.Create(ctx, "g", syscall.O_WRONLY|syscall.O_CREAT, 0o644); !errors.Is(err, errs.ErrReadOnly) {
		t.Fatalf("create on a read-only mount: %v", err)
	}
	if n, err := r.Lookup(ctx, "f.txt"); err != nil || n.(*vfs.File).Entry().Size != 5 {
		t.Fatalf("lookup through the read-only mount: %v %v", n, err)
	}
	ro.FS.Shutdown(ctx)
}
