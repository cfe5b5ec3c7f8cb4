package vfs

import (
	"context"
	"errors"
	"testing"

	"github.com/b2fs/b2fs/fs/errs"
)

// After a readdir, lookups of the listed names (and of a missing one) are
// answered from the cached listing. A listed directory's own metadata is
// on its marker, which the parent's listing does not show: its attributes
// are Unsure until fetched (the FUSE adapter lets the kernel keep them only
// briefly), fetching costs one list call per directory, and afterwards
// they are known without calls.
func TestListedDirAttrsUnsureUntilFetched(t *testing.T) {
	be := newMemBackend("a.txt", "dir/b.txt", "empty/.bzEmpty")
	fsys := streamFS(t, be)
	names, err := readAll(t, openDir(t, fsys, ""))
	if err != nil || len(names) != 3 {
		t.Fatalf("root lists %q: %v", names, err)
	}
	ctx := context.Background()
	root := fsys.dirNode(Bucket{ID: "b1", Name: "alpha"}, "")
	calls := be.Calls("ListDir")
	var dirs []*Dir
	for _, name := range []string{"a.txt", "dir", "empty"} {
		n, err := root.Lookup(ctx, name)
		if err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
		if d, ok := n.(*Dir); ok {
			if !d.Attr(ctx, false).Unsure {
				t.Fatalf("%s: attributes sure before its marker was fetched", name)
			}
			dirs = append(dirs, d)
		}
	}
	if _, err := root.Lookup(ctx, "missing"); !errors.Is(err, errs.ErrNotExist) {
		t.Fatalf("lookup missing: %v", err)
	}
	if got := be.Calls("ListDir"); got != calls || len(dirs) != 2 {
		t.Fatalf("lookups after readdir made %d list calls (%d dirs)", got-calls, len(dirs))
	}
	for _, d := range dirs {
		if d.Attr(ctx, true).Unsure {
			t.Fatal("attributes unsure after fetching")
		}
	}
	if got := be.Calls("ListDir") - calls; got != len(dirs) {
		t.Fatalf("fetching %d directories' metadata made %d list calls", len(dirs), got)
	}
	calls = be.Calls("ListDir")
	for _, d := range dirs {
		if d.Attr(ctx, false).Unsure || d.Attr(ctx, true).Unsure {
			t.Fatal("attributes unsure once fetched")
		}
	}
	if got := be.Calls("ListDir"); got != calls {
		t.Fatalf("known directory metadata made %d list calls", got-calls)
	}
}
