package listing

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// allDirs returns every directory prefix under root implied by names.
func allDirs(root string, names []string) []string {
	set := map[string]bool{root: true}
	for _, n := range names {
		if !strings.HasPrefix(n, root) {
			continue
		}
		for i := len(root); i < len(n); i++ {
			if n[i] == '/' {
				set[n[:i+1]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// delimited lists dir of be with the delimiter, all pages, as entries.
func delimited(t *testing.T, be *memBackend, dir string) []cache.Entry {
	t.Helper()
	var objs []Object
	start := ""
	for {
		p, err := be.ListDir(context.Background(), Bucket{ID: "b1", Name: "alpha"}, dir, start, 7)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, p.Objects...)
		if p.Next == "" {
			break
		}
		start = p.Next
	}
	return buildEntries(nil, dir, objs)
}

// treeNames is a tree with files at several depths, odd names, markers and
// a file/folder clash.
func treeNames() []string {
	names := []string{"top", "a/x", "a/b/c/deep", "a/b/.bzEmpty", "a-b", "a.b/z", "a//odd", "e/.bzEmpty", "f/g/", "clash", "clash/in"}
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("d%02d/f%02d", i%7, i), fmt.Sprintf("a/b/n%02d", i))
	}
	return names
}

func TestTreeBuilderMatchesDelimiterListings(t *testing.T) {
	names := treeNames()
	be := newMemBackend(names...)
	tl := be
	for _, root := range []string{"", "a/", "a/b/"} {
		for _, window := range []int{1, 3, 10, 50, 1000} {
			p, err := tl.ListTree(context.Background(), Bucket{ID: "b1", Name: "alpha"}, root, "", window)
			if err != nil {
				t.Fatal(err)
			}
			tb := newTreeBuilder(root, true, "")
			for _, o := range p.Objects {
				tb.add(o)
			}
			complete, cut := tb.finish(p.Next == "")
			if p.Next == "" && len(cut) != 0 {
				t.Errorf("root %q window %d: whole tree listed but %v cut", root, window, cut)
			}
			if p.Next != "" && !contains(cut, root) {
				t.Errorf("root %q window %d: root not cut", root, window)
			}
			for _, d := range complete {
				got := buildEntries(nil, d, tb.dirs[d])
				if want := delimited(t, be, d); !reflect.DeepEqual(got, want) {
					t.Errorf("root %q window %d dir %q:\n got %v\nwant %v", root, window, d, names2(got), names2(want))
				}
			}
			for _, d := range cut {
				if p.Next != "" && !strings.HasPrefix(p.Objects[len(p.Objects)-1].Name, d) {
					t.Errorf("root %q window %d: %q cut but does not hold the last name", root, window, d)
				}
			}
			if p.Next == "" && len(complete) != len(allDirs(root, names)) {
				t.Errorf("root %q: %d complete dirs, want %d", root, len(complete), len(allDirs(root, names)))
			}
		}
	}
}

func TestTreeBuilderContinuationWindow(t *testing.T) {
	// A window after "d/f05" holds names from "d/g/..." on: d/ itself
	// is cut at its start, d/g/ and d/h/ are complete.
	tb := newTreeBuilder("", false, "d/f05")
	for _, n := range []string{"d/g/1", "d/g/2", "d/h/1", "e/1"} {
		tb.add(Object{Name: n})
	}
	complete, cut := tb.finish(true)
	sort.Strings(complete)
	sort.Strings(cut)
	if !reflect.DeepEqual(complete, []string{"d/g/", "d/h/", "e/"}) || !reflect.DeepEqual(cut, []string{"", "d/"}) {
		t.Fatalf("complete %v cut %v", complete, cut)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func names2(es []cache.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
		if e.Dir {
			out[i] += "/"
		}
	}
	return out
}

func newTreeMeta(t *testing.T, be *memBackend, pageSize, pages int) *Meta {
	m := newMeta(t, be, pageSize)
	m.tree, m.prefetchPages = be, pages
	return m
}

// walk lists every directory below root depth-first, as find does, and
// checks each listing against the delimiter listing.
func walk(t *testing.T, m *Meta, truth *memBackend, b Bucket, dir string) int {
	t.Helper()
	es, err := m.listDir(context.Background(), b, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := delimited(t, truth, dir); !reflect.DeepEqual(es, want) {
		t.Fatalf("listing of %q:\n got %v\nwant %v", dir, names2(es), names2(want))
	}
	n := len(es)
	for _, e := range es {
		if e.Dir {
			n += walk(t, m, truth, b, childDir(dir, e.Name))
		}
	}
	return n
}

func TestPrefetchWholeTreeOneCall(t *testing.T) {
	names := treeNames()
	be := newMemBackend(names...)
	be.Put("b1", "a/b/"+EmptyMarker, nil, map[string]string{"b2fs-mode": "700"})
	m := newTreeMeta(t, be, 1000, 2)
	b := Bucket{ID: "b1", Name: "alpha"}
	walk(t, m, newMemBackend(names...), b, "")
	if be.Calls("ListTree") != 1 || be.Calls("ListDir") != 0 {
		t.Fatalf("walk made %d tree and %d delimiter calls, want 1 and 0", be.Calls("ListTree"), be.Calls("ListDir"))
	}
	// Markers (directory metadata) came with it.
	if e, r := m.cache.Lookup(MarkerKey(b, "a/b/"), EmptyMarker); r != cache.Found || e.Info()["b2fs-mode"] != "700" {
		t.Fatalf("marker of a/b/: %v %+v", r, e)
	}
	if _, r := m.cache.Lookup(MarkerKey(b, "a/"), EmptyMarker); r != cache.NotFound {
		t.Fatalf("marker of a/: %v", r)
	}
	// Lookups anywhere are free.
	for _, q := range [][2]string{{"a/b/c/", "deep"}, {"a/b/", "nope"}, {"d03/", "f03"}} {
		if _, _, err := m.lookup(context.Background(), b, q[0], q[1]); err != nil {
			t.Fatal(err)
		}
	}
	if be.Calls("ListTree")+be.Calls("ListDir") != 1 {
		t.Fatalf("lookups made calls")
	}
}

func TestPrefetchBudgetAndContinuation(t *testing.T) {
	// 10 directories of 50 files, pages of 100, 2 pages a window: the
	// first window covers d00-d03 (d03 cut at the boundary, last name
	// d03/f49); the second starts again at d03/f49 and covers d04-d06
	// (d07 cut at d07/f48), the third (d07/f48 to the end, 102 names)
	// d08-d09 in 2 pages. The root and the cut d03 and d07 are listed with
	// the delimiter.
	var names []string
	for d := 0; d < 10; d++ {
		for f := 0; f < 50; f++ {
			names = append(names, fmt.Sprintf("d%02d/f%02d", d, f))
		}
	}
	be := newMemBackend(names...)
	m := newTreeMeta(t, be, 100, 2)
	b := Bucket{ID: "b1", Name: "alpha"}
	if n := walk(t, m, newMemBackend(names...), b, ""); n != 510 {
		t.Fatalf("walk saw %d entries", n)
	}
	if tree, list := be.Calls("ListTree"), be.Calls("ListDir"); tree != 6 || list != 3 {
		t.Fatalf("walk made %d tree and %d delimiter calls, want 6 and 3", tree, list)
	}
	// A second walk is served from the cache.
	walk(t, m, newMemBackend(names...), b, "")
	if be.Calls("ListTree")+be.Calls("ListDir") != 9 {
		t.Fatalf("second walk made calls")
	}
}

func TestPrefetchDisabled(t *testing.T) {
	names := treeNames()
	be := newMemBackend(names...)
	m := newTreeMeta(t, be, 1000, 0)
	walk(t, m, newMemBackend(names...), Bucket{ID: "b1", Name: "alpha"}, "")
	// One call per directory shown ("a//" has an empty name and is not).
	want := 0
	for _, d := range allDirs("", names) {
		if !strings.Contains(d, "//") {
			want++
		}
	}
	if be.Calls("ListTree") != 0 || be.Calls("ListDir") != want {
		t.Fatalf("%d tree and %d delimiter calls, want 0 and %d", be.Calls("ListTree"), be.Calls("ListDir"), want)
	}
}

func TestPrefetchOverCacheBoundFallsBack(t *testing.T) {
	var names []string
	for i := 0; i < 300; i++ {
		names = append(names, fmt.Sprintf("d/f%03d", i))
	}
	be := newMemBackend(names...)
	c, err := cache.New(cache.Options{MaxEntries: 200, DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m := newTreeMeta(t, be, 1000, 2)
	m.cache = c
	b := Bucket{ID: "b1", Name: "alpha"}
	es, err := m.listDir(context.Background(), b, "")
	if err != nil || len(es) != 1 {
		t.Fatalf("%v %v", names2(es), err)
	}
	if _, ok := c.Listing(dirKey(b, "d/")); ok {
		t.Fatal("a subtree larger than half the cache was cached")
	}
	// The tree is remembered as large: d/ is listed on its own.
	if _, err := m.listDir(context.Background(), b, "d/"); err != nil {
		t.Fatal(err)
	}
	if be.Calls("ListTree") != 1 {
		t.Fatalf("%d tree calls, want 1", be.Calls("ListTree"))
	}
}

// racingTree records a change during each subtree listing.
type racingTree struct {
	*memBackend
	m *Meta
}

func (r racingTree) ListTree(ctx context.Context, b Bucket, prefix, start string, max int) (Page, error) {
	r.m.mutations.Add(1)
	return r.memBackend.ListTree(ctx, b, prefix, start, max)
}

func TestPrefetchSkipsCachingAfterRacingChange(t *testing.T) {
	be := newMemBackend("d/a", "d/e/x")
	m := newTreeMeta(t, be, 1000, 2)
	m.tree = racingTree{be, m}
	b := Bucket{ID: "b1", Name: "alpha"}
	es, err := m.listDir(context.Background(), b, "d/")
	if err != nil || !reflect.DeepEqual(names2(es), []string{"a", "e/"}) {
		t.Fatalf("%v %v", names2(es), err)
	}
	if _, ok := m.cache.Listing(dirKey(b, "d/e/")); ok {
		t.Fatal("a subtree listing that raced a change was cached")
	}
	if _, ok := m.cache.Listing(dirKey(b, "d/")); ok {
		t.Fatal("a listing that raced a change was cached")
	}
}

func TestPrefetchContinuationSeesNamesCreatedInTheGap(t *testing.T) {
	var names []string
	for d := 0; d < 6; d++ {
		for f := 0; f < 50; f++ {
			names = append(names, fmt.Sprintf("d%02d/f%02d", d, f))
		}
	}
	be := newMemBackend(names...)
	m := newTreeMeta(t, be, 100, 2)
	b := Bucket{ID: "b1", Name: "alpha"}
	if _, err := m.listDir(context.Background(), b, ""); err != nil {
		t.Fatal(err)
	}
	// The first window ended at d03/f49 (the next name was d04/f00); a
	// directory created in between by another client shows its file.
	be.Put("b1", "d03z/new", []byte("x"), nil)
	es, err := m.listDir(context.Background(), b, "d03z/")
	if err != nil || !reflect.DeepEqual(names2(es), []string{"new"}) {
		t.Fatalf("listing of d03z/: %v %v", names2(es), err)
	}
}

func TestPrefetchedListingsExpireOnTheirOwn(t *testing.T) {
	names := treeNames()
	be := newMemBackend(names...)
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m := newTreeMeta(t, be, 1000, 2)
	m.cache = c
	b := Bucket{ID: "b1", Name: "alpha"}
	walk(t, m, newMemBackend(names...), b, "")
	if be.Calls("ListTree") != 1 {
		t.Fatalf("%d tree calls", be.Calls("ListTree"))
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	// Every listing expired with the root's: a subdirectory is listed
	// again (its own subtree only), and stays cached afterwards.
	if _, ok := c.Listing(dirKey(b, "a/b/")); ok {
		t.Fatal("a/b/ still cached after its TTL")
	}
	walk(t, m, newMemBackend(names...), b, "a/")
	if be.Calls("ListTree") != 2 || be.Calls("ListDir") != 0 {
		t.Fatalf("%d tree and %d delimiter calls after expiry, want 2 and 0", be.Calls("ListTree"), be.Calls("ListDir"))
	}
	if _, ok := c.Listing(dirKey(b, "")); ok {
		t.Fatal("the root was cached by a listing of a/")
	}
}

// TestPrefetchCutInOwnFiles: a directory with more files than one subtree
// window holds continues its delimiter listing after the window's last
// name instead of listing from the start again, and ends with the same
// listing and marker as a delimiter listing.
func TestPrefetchCutInOwnFiles(t *testing.T) {
	names := []string{"big/.bzEmpty", "big/sub/x", "big/sub/y"}
	for i := 0; i < 45; i++ {
		names = append(names, fmt.Sprintf("big/f%02d", i))
	}
	be := newMemBackend(names...)
	m := newTreeMeta(t, be, 10, 2)
	b := Bucket{ID: "b1", Name: "alpha"}
	if n := walk(t, m, newMemBackend(names...), b, "big/"); n != 45+1+2 {
		t.Fatalf("walk saw %d entries", n)
	}
	// 48 names: the window takes 20 (2 tree calls); the delimiter listing
	// goes on after them (3 calls: 10, 10, and 7 names with sub/ rolled
	// up) instead of starting again (5 calls); sub/, beyond the window,
	// is answered by continuing the subtree listing (3 tree calls).
	if tree, list := be.Calls("ListTree"), be.Calls("ListDir"); tree != 5 || list != 3 {
		t.Fatalf("%d tree and %d delimiter calls, want 5 and 3", tree, list)
	}
	if e, r := m.cache.Lookup(MarkerKey(b, "big/"), EmptyMarker); r != cache.Found || e.Name != EmptyMarker {
		t.Fatalf("marker of big/: %v %v", e, r)
	}
}
