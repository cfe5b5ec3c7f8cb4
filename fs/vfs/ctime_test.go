package vfs

import (
	"fmt"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
)

func TestDirTimesRenameRemoveBound(t *testing.T) {
	f := &FS{}
	b := Bucket{Name: "b"}
	set := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	f.dirInodeChanged(b, "a/", &set)
	f.entriesChanged(b, "a/sub/")
	f.entriesChanged(b, "ab/")
	f.entriesChanged(b, "x/") // a stale entry at the target
	f.dirRenamed(b, "a/", b, "x/")
	var out Attr
	f.applyDirTimes(b, "x/", &out)
	if !out.Mtime.Equal(set) || time.Since(out.Ctime) > time.Minute {
		t.Errorf("renamed directory: mtime %v ctime %v", out.Mtime, out.Ctime)
	}
	if _, ok := f.dtimes.get(dirKey(b, "x/sub/")); !ok {
		t.Error("subdirectory times did not move with the rename")
	}
	for _, gone := range []string{"a/", "a/sub/"} {
		if _, ok := f.dtimes.get(dirKey(b, gone)); ok {
			t.Errorf("%s still has times after the rename", gone)
		}
	}
	if _, ok := f.dtimes.get(dirKey(b, "ab/")); !ok {
		t.Error("a sibling sharing the name's start lost its times")
	}
	f.dirRemoved(b, "x/")
	if _, ok := f.dtimes.get(dirKey(b, "x/sub/")); ok {
		t.Error("rmdir left times below the directory")
	}
	for i := 0; i < maxDirTimes+10; i++ {
		f.entriesChanged(b, fmt.Sprintf("d%d/", i))
	}
	if n := len(f.dtimes.m); n > maxDirTimes {
		t.Errorf("%d directories remembered, bound %d", n, maxDirTimes)
	}
	if _, ok := f.dtimes.get(dirKey(b, fmt.Sprintf("d%d/", maxDirTimes+9))); !ok {
		t.Error("the newest entry was evicted")
	}
}

func TestSetCtime(t *testing.T) {
	mt := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	up := time.Date(2020, 1, 1, 0, 0, 0, 5, time.UTC)
	for _, tc := range []struct {
		changed, want time.Time
	}{{up, up}, {time.Time{}, mt}, {mt.Add(-time.Hour), mt}} {
		var a Attr
		a.SetTimes(&mt, &mt, &mt)
		var e cache.Entry
		e.SetChanged(tc.changed)
		setCtime(e, &a)
		if got := a.Ctime; !got.Equal(tc.want) {
			t.Errorf("changed %v: ctime %v, want %v", tc.changed, got, tc.want)
		}
	}
}
