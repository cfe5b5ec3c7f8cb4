package fs

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func TestCheckNewName(t *testing.T) {
	tests := []struct {
		prefix, name string
		want         syscall.Errno
	}{
		{"", "ok.txt", 0},
		{"a/b/", "ünïcødé + spaces.txt", 0},
		{"", strings.Repeat("n", 250), 0},
		{"", strings.Repeat("n", 251), syscall.ENAMETOOLONG},
		{strings.Repeat("d/", 600), "x", syscall.ENAMETOOLONG},
		{strings.Repeat("d/", 400), "x", 0},
		// Encoded the way rclone does, so accepted; the limits count
		// the encoded bytes (a tab becomes the 3-byte U+2409).
		{"", "back\\slash", 0},
		{"", "ctl\x01", 0},
		{"", "tab\there", 0},
		{"", "del\x7f", 0},
		{"", "bad\xff\xfeutf8", 0},
		{"", strings.Repeat("\t", 83), 0},
		{"", strings.Repeat("\t", 84), syscall.ENAMETOOLONG},
		{"", strings.Repeat("\xff", 50), 0},
		{"", strings.Repeat("\xff", 51), syscall.ENAMETOOLONG},
		{"", "nul\x00", syscall.EINVAL},
		{"", "a/b", syscall.EINVAL},
		{"", "", syscall.EINVAL},
		{"", "..", syscall.EINVAL},
	}
	for _, tc := range tests {
		if got := checkNewName(tc.prefix, tc.name); got != tc.want {
			t.Errorf("checkNewName(%q, %q) = %v, want %v", tc.prefix, tc.name, got, tc.want)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	for name, want := range map[string]bool{
		"my-bucket": true, "abcdef": true, "ABC123-x": true,
		"short": false, "b2-reserved": false, "has_underscore": false,
		"has.dot.name": false, strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
	} {
		if got := validBucketName(name); got != want {
			t.Errorf("validBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestChangedPatchesListing: a change updates a cached listing in place
// (no list call needed afterwards) and records the entry or its absence.
func TestChangedPatchesListing(t *testing.T) {
	c, err := cache.New(cache.Options{DirTTL: 60e9, AttrTTL: 60e9, NegativeTTL: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := New(Options{Backend: newMemBackend(), Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	b := Bucket{ID: "b1", Name: "alpha"}
	key := dirKey(b, "d/")
	c.PutListing(key, []cache.Entry{{Name: "a"}, {Name: "c"}})
	f.changed(b, "d/", "b", &cache.Entry{Name: "b", Size: 3})
	f.changed(b, "d/", "a", nil)
	l, ok := c.Listing(key)
	if !ok || len(l) != 2 || l[0].Name != "b" || l[0].Size != 3 || l[1].Name != "c" {
		t.Fatalf("listing after changes: %v %v", l, ok)
	}
	if _, r := c.Lookup(key, "a"); r != cache.NotFound {
		t.Fatalf("removed name: %v", r)
	}
	// Without a cached listing only the entry is recorded.
	f.changed(b, "e/", "x", &cache.Entry{Name: "x"})
	if _, ok := c.Listing(dirKey(b, "e/")); ok {
		t.Fatal("changed invented a listing")
	}
	if e, r := c.Lookup(dirKey(b, "e/"), "x"); r != cache.Found || e.Name != "x" {
		t.Fatalf("entry: %v %v", e, r)
	}
}

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
		opts := Options{Backend: newMemBackend(), Cache: c}
		if rw {
			sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: &staging.B2Remote{}, PartSize: 1 << 20, UploadCutoff: 2 << 20})
			if err != nil {
				t.Fatal(err)
			}
			opts.Write = WriteOptions{Staging: sm, Backend: NewB2WriteBackend(nil, 0, 0)}
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
