package fs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/test/testenv"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// mountMem mounts a filesystem over be in this process. The test goroutine
// only uses the mount through system calls, never from a FUSE callback.
func mountMem(t *testing.T, be Backend, opts Options) string {
	t.Helper()
	testenv.RequireFUSE(t)
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts.Backend, opts.Cache = be, c
	if opts.Bucket.Name == "" && opts.Prefix == "" {
		opts.Bucket = Bucket{ID: "b1", Name: "alpha"}
	}
	fsys, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := fusefs.Mount(dir, fsys.Root(), fsys.FuseOptions(MountConfig{FsName: "b2fs:test"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	})
	return dir
}

func TestMountReadOnlyTree(t *testing.T) {
	be := memStore("b1", "a.txt", "dir/b.txt", "dir/sub/c.txt", "empty/.bzEmpty", "x y/ü%+.txt")
	dir := mountMem(t, be, Options{})

	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"a.txt", "dir", "empty", "x y"}
	if len(names) != len(want) {
		t.Fatalf("root lists %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("root lists %q, want %q", names, want)
		}
	}
	// Names of the listed root, present or missing, are answered from the
	// cached listing.
	calls := be.Calls("ListDir")
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat missing: %v", err)
	}
	if got := be.Calls("ListDir"); got != calls {
		t.Fatalf("stat after readdir made %d list calls", got-calls)
	}
	// A directory's own metadata lives on its marker, which the parent's
	// listing does not show: the kernel keeps a directory's attributes
	// from READDIRPLUS only for a jiffy or two (Attr.Unsure), and a stat
	// after that fetches the marker, once per directory (the sleep lets
	// those attributes expire, so that the markers are known below).
	dirs := []string{"dir", "empty", "x y"}
	time.Sleep(100 * time.Millisecond)
	for range 2 {
		for _, p := range dirs {
			if st, err := os.Stat(filepath.Join(dir, p)); err != nil || !st.IsDir() {
				t.Fatalf("stat %s: %v %v", p, st, err)
			}
		}
	}
	if got := be.Calls("ListDir") - calls; got > len(dirs) {
		t.Fatalf("stats of %d directories after readdir made %d list calls", len(dirs), got)
	}
	calls = be.Calls("ListDir")
	for _, p := range append(dirs, "a.txt") {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := be.Calls("ListDir"); got != calls {
		t.Fatalf("stats with the markers known made %d list calls", got-calls)
	}
	got, err := os.ReadFile(filepath.Join(dir, "x y", "ü%+.txt"))
	if err != nil || !bytes.Equal(got, []byte("data of x y/ü%+.txt")) {
		t.Fatalf("read: %q %v", got, err)
	}
	got, err = os.ReadFile(filepath.Join(dir, "dir", "sub", "c.txt"))
	if err != nil || string(got) != "data of dir/sub/c.txt" {
		t.Fatalf("read nested: %q %v", got, err)
	}
	st, err := os.Stat(filepath.Join(dir, "a.txt"))
	if err != nil || st.Size() != int64(len("data of a.txt")) || st.Mode().Perm() != 0o644 || !st.ModTime().Equal(time.UnixMilli(1000)) {
		t.Fatalf("stat a.txt: %v %v", st, err)
	}
	if es, err := os.ReadDir(filepath.Join(dir, "empty")); err != nil || len(es) != 0 {
		t.Fatalf("empty folder: %v %v", es, err)
	}

	// Every write is refused with EROFS.
	writes := map[string]func() error{
		"create": func() error { return os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644) },
		"open-w": func() error {
			f, err := os.OpenFile(filepath.Join(dir, "a.txt"), os.O_WRONLY, 0)
			if err == nil {
				f.Close()
			}
			return err
		},
		"mkdir":   func() error { return os.Mkdir(filepath.Join(dir, "d2"), 0o755) },
		"unlink":  func() error { return os.Remove(filepath.Join(dir, "a.txt")) },
		"rmdir":   func() error { return syscall.Rmdir(filepath.Join(dir, "empty")) },
		"rename":  func() error { return os.Rename(filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")) },
		"chmod":   func() error { return os.Chmod(filepath.Join(dir, "a.txt"), 0o600) },
		"symlink": func() error { return os.Symlink("a.txt", filepath.Join(dir, "l")) },
		"truncate": func() error {
			return os.Truncate(filepath.Join(dir, "a.txt"), 0)
		},
	}
	for name, op := range writes {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: got %v, want EROFS", name, err)
		}
	}
}

func TestMountAccountRoot(t *testing.T) {
	be := memStore("b2", "f")
	dir := mountMemAccount(t, be)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 2 || ents[0].Name() != "alpha" || ents[1].Name() != "beta" || !ents[0].IsDir() {
		t.Fatalf("account root: %v %v", ents, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "beta", "f"))
	if err != nil || string(b) != "data of f" {
		t.Fatalf("read through bucket dir: %q %v", b, err)
	}
}

func mountMemAccount(t *testing.T, be Backend) string {
	t.Helper()
	testenv.RequireFUSE(t)
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fsys, err := New(Options{Backend: be, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := fusefs.Mount(dir, fsys.Root(), fsys.FuseOptions(MountConfig{FsName: "b2fs"}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	})
	return dir
}

// memStore is an account with buckets alpha (ID b1) and beta (b2), and in
// bucket the given names, each holding "data of NAME", uploaded at 1s.
func memStore(bucket string, names ...string) *fstest.Store {
	s := fstest.NewStore()
	s.AddBucket("b1", "alpha")
	s.AddBucket("b2", "beta")
	for _, n := range names {
		s.PutAt(bucket, n, []byte("data of "+n), nil, time.UnixMilli(1000))
	}
	return s
}
