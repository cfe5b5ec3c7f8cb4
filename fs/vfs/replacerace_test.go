package vfs

import (
	"context"
	"syscall"
	"testing"
)

// TestFstatWhileSymlinkRenamedOver: fstat through an open handle of a file
// while a symlink is renamed over it shows the file (empty and regular),
// also when B2 has the symlink under the name already and a lookup of the
// name (an ls -l, once the name's cached entry expired) comes between the
// rename's copy and its end. posixtest's OpenSymlinkRace saw the
// symlink's size through the handle now and then; such a lookup gave the
// file's node the symlink's entry.
func TestFstatWhileSymlinkRenamedOver(t *testing.T) {
	ctx := context.Background()
	fsys, _, hc := hookedCopyFS(t, nil)
	root := fsys.Root().(*Dir)
	f := writeFile(t, root, "p", "")
	h, err := f.Open(ctx, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release(ctx)
	if _, err := root.Symlink(ctx, "/etc/passwd", "p.tmp"); err != nil {
		t.Fatal(err)
	}
	fstat := func(when string) {
		t.Helper()
		if a := f.Attr(ctx, h); a.Mode&syscall.S_IFMT != syscall.S_IFREG || a.Size != 0 {
			t.Errorf("%s: fstat through the file's handle shows mode %o size %d; want an empty regular file", when, a.Mode, a.Size)
		}
	}
	hooked := false
	hc.hook = func() {
		// B2 has the symlink under the name now.
		hooked = true
		key := dirKey(fsys.opts.Bucket, "")
		fsys.meta.Cache().InvalidateDir(key) // expired
		fsys.meta.Cache().Invalidate(key, "p")
		if _, err := root.Lookup(ctx, "p"); err != nil {
			t.Errorf("lookup during the rename: %v", err)
		}
		fstat("during the rename")
	}
	if err := root.Rename(ctx, "p.tmp", root, "p", 0); err != nil {
		t.Fatal(err)
	}
	if !hooked {
		t.Fatal("the rename made no server-side copy")
	}
	fstat("after the rename")
	if n, err := root.Lookup(ctx, "p"); err != nil {
		t.Fatalf("lookup after the rename: %v", err)
	} else if ln, ok := n.(*File); !ok || ln == f {
		t.Fatalf("lookup after the rename: %T, the replaced file's node %v", n, ln == f)
	} else if a := ln.Attr(ctx, nil); a.Mode&syscall.S_IFMT != syscall.S_IFLNK || a.Size != uint64(len("/etc/passwd")) {
		t.Errorf("lookup after the rename: mode %o size %d, want the symlink", a.Mode, a.Size)
	}
}
