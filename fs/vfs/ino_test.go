package vfs

import (
	"context"
	"syscall"
	"testing"
)

// TestInodeNumbersStable: a file and a directory keep their inode numbers
// when their nodes are forgotten and loaded again and in a new instance
// over the same bucket (a remount); a renamed file keeps the number it was
// loaded with; different names get different numbers.
func TestInodeNumbersStable(t *testing.T) {
	ctx := context.Background()
	be := newMemBackend("f1", "f2", "d/g")
	f := writeFS(t, be)
	root := f.Root().(*Dir)
	ino := func(fsys *FS, name string) uint64 {
		t.Helper()
		n, err := fsys.Root().(*Dir).Lookup(ctx, name)
		if err != nil {
			t.Fatalf("lookup %s: %v", name, err)
		}
		switch n := n.(type) {
		case *File:
			return n.Ino()
		case *Dir:
			return n.Ino()
		}
		t.Fatalf("lookup %s: %T", name, n)
		return 0
	}
	f1, f2, d := ino(f, "f1"), ino(f, "f2"), ino(f, "d")
	if f1 == f2 || f1 == d || f2 == d || f1 < 2 || f1>>63 != 0 {
		t.Fatalf("inode numbers f1 %d, f2 %d, d %d: want distinct, above 1, below 2^63", f1, f2, d)
	}
	n, _ := root.Lookup(ctx, "f1")
	f.Forget(n)
	dn, _ := root.Lookup(ctx, "d")
	f.Forget(dn)
	if got := ino(f, "f1"); got != f1 {
		t.Errorf("f1 after its node was forgotten: inode %d, want %d", got, f1)
	}
	if got := ino(f, "d"); got != d {
		t.Errorf("d after its node was forgotten: inode %d, want %d", got, d)
	}
	if got := ino(writeFS(t, be), "f1"); got != f1 {
		t.Errorf("f1 in a new instance: inode %d, want %d", got, f1)
	}
	if e := root.Rename(ctx, "f1", root, "f3", 0); e != nil {
		t.Fatal(e)
	}
	if got := ino(f, "f3"); got != f1 {
		t.Errorf("f1 renamed to f3: inode %d, want %d (kept while loaded)", got, f1)
	}
	// A new file at the old name (a lock file after its rename) while the
	// renamed one is loaded, and one at the name of a file unlinked while
	// loaded, get numbers no loaded node has.
	if _, _, e := root.Create(ctx, "f1", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o644); e != nil {
		t.Fatal(e)
	}
	if got := ino(f, "f1"); got == f1 {
		t.Errorf("new f1 while the renamed file is loaded: inode %d, the renamed file's", got)
	}
	if e := root.Unlink(ctx, "f2"); e != nil {
		t.Fatal(e)
	}
	if _, _, e := root.Create(ctx, "f2", syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o644); e != nil {
		t.Fatal(e)
	}
	if got := ino(f, "f2"); got == f2 {
		t.Errorf("new f2 while the unlinked one is loaded: inode %d, the unlinked file's", got)
	}
}
