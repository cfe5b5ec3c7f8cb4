package vfs

import (
	"context"
	"testing"
	"time"
)

// TestEmptiedDirMarkerWindow pins the window in which an emptied directory
// exists only in memory (docs/posix.md "Directory markers"): removing its
// last file writes no marker at once; the marker comes once the entries
// have not changed for markerSettle (or --metadata-delay, if longer), or
// at once at an fsync of the directory. A crash inside the window loses
// the directory.
func TestEmptiedDirMarkerWindow(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	st.Put("b1", "d/f", []byte("x"), nil)
	st.Put("b1", "e/f", []byte("x"), nil)
	root := fsys.Root().(*Dir)
	dir := func(name string) *Dir {
		n, err := root.Lookup(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return n.(*Dir)
	}
	d, e := dir("d"), dir("e")
	for _, x := range []*Dir{d, e} {
		readDir(t, x)
		if err := x.Unlink(ctx, "f"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	marker := func(name string) bool {
		_, _, ok := st.Get("b1", name+"/"+EmptyMarker)
		return ok
	}
	if marker("d") || marker("e") {
		t.Fatal("a marker was written with the unlink: the window this test pins is gone (update docs/posix.md)")
	}
	// fsync of the directory closes the window at once.
	if err := e.Fsync(ctx); err != nil {
		t.Fatal(err)
	}
	if !marker("e") {
		t.Error("no marker after fsync of the emptied directory")
	}
	// Otherwise the marker comes after markerSettle.
	for !marker("d") {
		if time.Since(start) > 10*markerSettle {
			t.Fatalf("no marker %s after the last file went", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < markerSettle {
		t.Errorf("the marker came after %s, before markerSettle (%s): update docs/posix.md", took, markerSettle)
	}
	if names := readDir(t, root); len(names) != 2 {
		t.Errorf("root lists %v, want d and e", names)
	}
}
