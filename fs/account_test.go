package fs

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestAccountRootChanges: at the account root of a read-write mount,
// symlinks, special files and hard links are refused with EPERM (only
// buckets live there) and extended attributes with ENOTSUP; a read-only
// mount answers EROFS.
func TestAccountRootChanges(t *testing.T) {
	ctx := context.Background()
	for _, rw := range []bool{true, false} {
		c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		opts := Options{Backend: memStore("b1"), Cache: c}
		if rw {
			sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: fstest.NewStore("b1"), PartSize: 1 << 20, UploadCutoff: 2 << 20})
			if err != nil {
				t.Fatal(err)
			}
			opts.Write = WriteOptions{Staging: sm, Backend: fstest.NewStore("b1")}
		}
		f, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		root, ok := f.Root().(*accountNode)
		if !ok {
			t.Fatalf("root of an account mount is %T", f.Root())
		}
		want, wantX := syscall.Errno(syscall.EPERM), syscall.Errno(syscall.ENOTSUP)
		if !rw {
			want, wantX = syscall.EROFS, syscall.EROFS
		}
		var out fuse.EntryOut
		if _, e := root.Symlink(ctx, "target", "link", &out); e != want {
			t.Errorf("rw=%v symlink: %v, want %v", rw, e, want)
		}
		if _, e := root.Mknod(ctx, "fifo", syscall.S_IFIFO|0o644, 0, &out); e != want {
			t.Errorf("rw=%v mknod: %v, want %v", rw, e, want)
		}
		if _, e := root.Link(ctx, root, "hard", &out); e != want {
			t.Errorf("rw=%v link: %v, want %v", rw, e, want)
		}
		if e := root.Setxattr(ctx, "user.a", []byte("1"), 0); e != wantX {
			t.Errorf("rw=%v setxattr: %v, want %v", rw, e, wantX)
		}
		if e := root.Removexattr(ctx, "user.a"); e != wantX {
			t.Errorf("rw=%v removexattr: %v, want %v", rw, e, wantX)
		}
	}
}
