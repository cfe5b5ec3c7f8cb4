package vfs

import (
	"context"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
)

func TestDefaultDirInfo(t *testing.T) {
	f := &FS{opts: Options{DirMode: 0o755, UID: 1000, GID: 100}}
	for _, tc := range []struct {
		info map[string]string
		want bool
	}{
		{nil, true},
		{map[string]string{"b2fs-mode": "755", "b2fs-uid": "1000", "b2fs-gid": "100", "src_last_modified_millis": "1"}, true},
		{map[string]string{"src_last_modified_millis": "1500000000000"}, true}, // times alone
		{map[string]string{"b2fs-mode": "700"}, false},
		{map[string]string{"b2fs-mode": "2755"}, false}, // set-group-ID
		{map[string]string{"b2fs-uid": "0"}, false},
		{map[string]string{"b2fs-gid": "0"}, false},
		{map[string]string{"b2fs-x-comment": "hi"}, false},
		{map[string]string{"b2fs-mode": "junk"}, false},
	} {
		if got := f.defaultDirInfo(tc.info); got != tc.want {
			t.Errorf("defaultDirInfo(%v) = %v, want %v", tc.info, got, tc.want)
		}
	}
	f.opts.Write.KeepDirMarkers = true
	if f.markerNotNeeded(nil) {
		t.Error("KeepDirMarkers: a marker is never unneeded")
	}
}

// A directory that keeps changing is checked once it settles, not per
// change; rmdir cancels the check of the directory and those below it.
func TestMarkerQueueSettles(t *testing.T) {
	q := &markerQueue{}
	d := 50 * time.Millisecond
	tk := &markerTidy{first: time.Now(), last: time.Now()}
	tk.timer = time.NewTimer(time.Hour)
	q.m = map[string]*markerTidy{"k": tk}
	if q.take("k", tk, d) {
		t.Fatal("taken before it settled")
	}
	tk.last = time.Now().Add(-2 * d)
	if !q.take("k", tk, d) {
		t.Fatal("not taken once settled")
	}
	if q.take("k", tk, d) {
		t.Fatal("taken twice")
	}
	// A directory changing for longer than markerMaxWait is checked anyway.
	tk2 := &markerTidy{first: time.Now().Add(-markerMaxWait), last: time.Now()}
	tk2.timer = time.NewTimer(time.Hour)
	q.m["k2"] = tk2
	if !q.take("k2", tk2, d) {
		t.Fatal("a directory changing without end was never checked")
	}

	f := &FS{}
	f.opts.Write.Staging = nil
	b := Bucket{Name: "b"}
	f.markers.m = map[string]*markerTidy{}
	for _, p := range []string{"a/", "a/b/", "ab/"} {
		f.markers.m[dirKey(b, p)] = &markerTidy{b: b, prefix: p, timer: time.NewTimer(time.Hour)}
	}
	f.cancelMarkerTidy(b, "a/")
	if f.PendingMarkerChecks() != 1 || f.markers.m[dirKey(b, "ab/")] == nil {
		t.Fatalf("after cancelling a/: %d pending", f.PendingMarkerChecks())
	}
}

// TestTidyMarker applies the marker rule over an in-memory backend: a
// default marker of a directory with files goes, one with its own mode
// stays, an emptied directory without a marker gets one, and with
// KeepDirMarkers nothing is scheduled.
func TestTidyMarker(t *testing.T) {
	ctx := context.Background()
	be := newMemBackend("full/.bzEmpty", "full/f", "own/.bzEmpty", "own/f", "sub/inner/.bzEmpty")
	f := writeFS(t, be)
	b := f.opts.Bucket
	own := cache.Entry{Name: EmptyMarker, FileID: "id-own"}
	own.SetInfo(map[string]string{InfoMode: "700"})
	f.meta.Cache().PutEntry(markerKey(b, "own/"), own)
	has := func(name string) bool { return be.Has("b1", name) }
	for _, p := range []string{"full/", "own/", "emptied/", "sub/"} {
		if again := f.tidyMarker(ctx, b, p); again {
			t.Fatalf("%s: undecided", p)
		}
	}
	for name, want := range map[string]bool{
		"full/.bzEmpty":    false, // files and default metadata: not needed
		"own/.bzEmpty":     true,  // mode 700 lives there
		"emptied/.bzEmpty": true,  // nothing else keeps the directory
		"sub/.bzEmpty":     false, // a subdirectory is an entry
		"full/f":           true,
	} {
		if has(name) != want {
			t.Errorf("%s present = %v, want %v", name, !want, want)
		}
	}
	// Deciding a directory whose listing is cached costs no call.
	f.meta.Cache().PutListing(dirKey(b, "cached/"), []cache.Entry{{Name: "x", FileID: "id-x"}})
	f.meta.Cache().PutNegative(markerKey(b, "cached/"), EmptyMarker)
	before := be.Calls("ListDir")
	f.tidyMarker(ctx, b, "cached/")
	if be.Calls("ListDir") != before || has("cached/.bzEmpty") {
		t.Errorf("cached directory: %d list calls, marker written %v", be.Calls("ListDir")-before, has("cached/.bzEmpty"))
	}

	f.entriesChanged(b, "full/")
	if f.PendingMarkerChecks() != 1 {
		t.Fatalf("%d checks pending after an entry change, want 1", f.PendingMarkerChecks())
	}
	f.flushMarkerTidy(ctx, nil)
	if f.PendingMarkerChecks() != 0 {
		t.Fatal("flush left checks pending")
	}
	f.opts.Write.KeepDirMarkers = true
	f.entriesChanged(b, "full/")
	if f.PendingMarkerChecks() != 0 {
		t.Fatal("KeepDirMarkers: a check was scheduled")
	}
}
