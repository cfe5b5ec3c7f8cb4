package vfs

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

func TestStopWrites(t *testing.T) {
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: fstest.NewStore("b1"), PartSize: 1 << 20, UploadCutoff: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	be := fstest.NewStore("b1")
	fsys, err := New(Options{Backend: be, Cache: c, Bucket: Bucket{ID: "b", Name: "b"},
		Write: WriteOptions{Staging: m, Backend: fstest.NewStore("b1")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"create", "open for writing", "unlink"} {
		if e := fsys.writable(op, capWrite); e != nil {
			t.Fatalf("%s before StopWrites: %v", op, e)
		}
	}
	fsys.StopWrites()
	fsys.StopWrites() // idempotent
	for _, op := range []string{"create", "open for writing", "unlink"} {
		if e := fsys.writable(op, capWrite); !errors.Is(e, errs.ErrReadOnly) {
			t.Fatalf("%s after StopWrites: %v, want EROFS", op, e)
		}
	}
}
