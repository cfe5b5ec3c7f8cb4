package vfs

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/staging"
)

// TestDirTimesMilliseconds: a directory shows its times in milliseconds
// from the start (B2 keeps milliseconds: the same time after a remount).
func TestDirTimesMilliseconds(t *testing.T) {
	ctx := context.Background()
	fsys, _ := storeFS(t)
	root := fsys.Root().(*Dir)
	d, err := root.Mkdir(ctx, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d, "f", "x")
	a := d.Attr(ctx, true)
	for what, tm := range map[string]time.Time{"mtime": a.Mtime, "ctime": a.Ctime, "root mtime": root.Attr(ctx, true).Mtime} {
		if tm.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("%s after an entry change: %s, not in milliseconds", what, tm.Format(time.RFC3339Nano))
		}
	}
	set := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	if _, err := d.Setattr(ctx, &SetAttr{Mtime: &set}); err != nil {
		t.Fatal(err)
	}
	if got := d.Attr(ctx, true).Mtime; !got.Equal(set.Truncate(time.Millisecond)) {
		t.Errorf("mtime after utimes: %s, want %s", got.Format(time.RFC3339Nano), set.Truncate(time.Millisecond).Format(time.RFC3339Nano))
	}
}

// TestDirTimesKeptWhenMarkerGoes: a directory showing the time stored on
// its marker keeps showing it when b2fs removes the marker (no longer
// needed: a chmod back to the default mode).
func TestDirTimesKeptWhenMarkerGoes(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC)
	st.PutAt("b1", "d/"+EmptyMarker, nil, map[string]string{InfoMode: "700", staging.InfoMtime: strconv.FormatInt(stamp.UnixMilli(), 10)}, stamp)
	st.Put("b1", "d/f", []byte("x"), nil)
	root := fsys.Root().(*Dir)
	n, err := root.Lookup(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	d := n.(*Dir)
	readDir(t, d) // cached: the marker can go at once
	if a := d.Attr(ctx, true); !a.Mtime.Equal(stamp) || a.Mode != syscall.S_IFDIR|0o700 {
		t.Fatalf("before: mtime %s mode %o", a.Mtime, a.Mode)
	}
	mode := uint32(0o755)
	if _, err := d.Setattr(ctx, &SetAttr{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := st.Get("b1", "d/"+EmptyMarker); ok {
		t.Fatal("the marker is still there: the test does not test the removal")
	}
	if a := d.Attr(ctx, true); !a.Mtime.Equal(stamp) || a.Mode != syscall.S_IFDIR|0o755 {
		t.Errorf("after the marker went: mtime %s mode %o; want %s, 40755", a.Mtime, a.Mode, stamp)
	}
}

// TestChmodOfImplicitDirKeepsMtime: chmod of a directory that has no
// marker (it exists through its files) writes one, and changes its ctime
// only: the mtime stays, also in the marker (after a remount).
func TestChmodOfImplicitDirKeepsMtime(t *testing.T) {
	ctx := context.Background()
	fsys, st := storeFS(t)
	st.Put("b1", "e/f", []byte("x"), nil)
	root := fsys.Root().(*Dir)
	n, err := root.Lookup(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	d := n.(*Dir)
	before := d.Attr(ctx, true)
	time.Sleep(20 * time.Millisecond)
	mode := uint32(0o700)
	a, err := d.Setattr(ctx, &SetAttr{Mode: &mode})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Mtime.Equal(before.Mtime) || !a.Ctime.After(before.Ctime) || a.Mode != syscall.S_IFDIR|0o700 {
		t.Errorf("after chmod: mtime %s ctime %s mode %o; want mtime %s, a later ctime, 40700", a.Mtime, a.Ctime, a.Mode, before.Mtime)
	}
	o, _, ok := st.Get("b1", "e/"+EmptyMarker)
	if !ok {
		t.Fatal("no marker written")
	}
	if ms := o.Info[staging.InfoMtime]; ms != strconv.FormatInt(before.Mtime.UnixMilli(), 10) {
		t.Errorf("the marker stores mtime %s, want %d", ms, before.Mtime.UnixMilli())
	}
}
