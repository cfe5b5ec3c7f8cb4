package vfs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// flakyBackend fails the ListDir call number failAt (1-based; 0 never).
type flakyBackend struct {
	*memBackend
	mu     sync.Mutex
	n      int
	failAt int
}

var errInjected = errors.New("injected listing failure")

func (b *flakyBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	b.mu.Lock()
	b.n++
	fail := b.n == b.failAt
	b.mu.Unlock()
	if fail {
		return Page{}, errInjected
	}
	return b.memBackend.ListDir(ctx, bk, prefix, start, max)
}

// streamFS returns a filesystem over be with a page size of 100 and a
// staging area holding staged-only files with the given names.
func streamFS(t *testing.T, be Backend, staged ...string) *FS {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sm, err := staging.New(staging.Options{Dir: filepath.Join(t.TempDir(), "s"), Remote: fstest.NewStore("b1"), PartSize: 1 << 20, UploadCutoff: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range staged {
		f, err := sm.Open(context.Background(), staging.OpenOptions{Key: staging.Key{BucketID: "b1", BucketName: "alpha", Name: n}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sm.Release(f) })
	}
	fsys, err := New(Options{Backend: be, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"}, ListPageSize: 100,
		Write: WriteOptions{Staging: sm, Backend: fstest.NewStore("b1")}})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// readAll reads a directory handle to its end or first error, returning the
// names (without "." and "..").
func readAll(t *testing.T, h *DirHandle) ([]string, error) {
	t.Helper()
	var names []string
	for i := 0; i < 100000; i++ {
		de, errno := h.Readdirent(context.Background())
		if errno != nil {
			return names, errno
		}
		if de == nil {
			return names, nil
		}
		if de.Name != "." && de.Name != ".." {
			names = append(names, de.Name)
		}
	}
	t.Fatal("directory stream did not end")
	return nil, nil
}

func openDir(t *testing.T, fsys *FS, prefix string) *DirHandle {
	t.Helper()
	return fsys.dirNode(Bucket{ID: "b1", Name: "alpha"}, prefix).Opendir()
}

func TestStreamedReaddirMergesStaged(t *testing.T) {
	var names []string
	for i := 0; i < 250; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	// "d/f0099 x" sorts before the folder "d/f0099/" in B2's order but
	// after its entry name "f0099": a page ending there must hold f0099
	// back until the folder is known.
	names = append(names, "d/f0099 x", "d/f0099/in", "d/.bzEmpty", "d/f0120", "d/weird//x")
	be := newMemBackend(names...)
	staged := []string{"d/a-staged", "d/f0150x", "d/f0010", "d/zz-staged", "d/sub/deep"}
	fsys := streamFS(t, be, staged...)
	h := openDir(t, fsys, "d/")

	// The first entry arrives with at most the first page and the one
	// fetched ahead.
	for i := 0; i < 3; i++ {
		de, errno := h.Readdirent(context.Background())
		if errno != nil || de == nil {
			t.Fatalf("entry %d: %v %v", i, de, errno)
		}
	}
	if got := be.Calls("ListDir"); got > 2 {
		t.Fatalf("%d list calls before the first entry, want <= 2", got)
	}
	got, errno := readAll(t, h)
	if errno != nil {
		t.Fatal(errno)
	}
	// got lacks the first entry, read above.
	got = append([]string{"a-staged"}, got...)
	want := map[string]bool{"a-staged": true, "f0150x": true, "zz-staged": true, "f0099 x": true, "weird": true}
	for i := 0; i < 250; i++ {
		want[fmt.Sprintf("f%04d", i)] = true
	}
	if len(got) != len(want) {
		t.Fatalf("got %d names, want %d", len(got), len(want))
	}
	for _, n := range got {
		if !want[n] {
			t.Fatalf("unexpected name %q", n)
		}
	}
	// Streamed entries come in B2's order (a directory sorts as "name/"),
	// strictly increasing: sorted, no duplicates.
	for i, e := range h.cur.entries {
		if e.Name != got[i] {
			t.Fatalf("entry %d: handle has %q, read %q", i, e.Name, got[i])
		}
		if i > 0 && b2Key(h.cur.entries[i-1]) >= b2Key(e) {
			t.Fatalf("entries %q, %q out of B2 order", b2Key(h.cur.entries[i-1]), b2Key(e))
		}
	}
	if e, ok := cache.Find(h.cur.byName, "f0099"); !ok || !e.Dir {
		t.Fatalf("f0099 (file and folder) listed as %+v %v, want the directory", e, ok)
	}
	if be.Calls("ListDir") != 3 {
		t.Fatalf("%d list calls, want 3", be.Calls("ListDir"))
	}
	// The complete listing is cached: a second reader and lookups cost
	// nothing.
	if got2, errno := readAll(t, openDir(t, fsys, "d/")); errno != nil || len(got2) != len(want) {
		t.Fatalf("second read: %d names, %v", len(got2), errno)
	}
	if _, ok, err := fsys.meta.Lookup(context.Background(), Bucket{ID: "b1", Name: "alpha"}, "d/", "f0200"); err != nil || !ok {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	if be.Calls("ListDir") != 3 {
		t.Fatalf("%d list calls after a cached read, want 3", be.Calls("ListDir"))
	}
}

func TestStreamedReaddirErrorIsEIO(t *testing.T) {
	var names []string
	for i := 0; i < 350; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	for _, failAt := range []int{1, 2, 3, 4} {
		t.Run(fmt.Sprint("fail call ", failAt), func(t *testing.T) {
			be := &flakyBackend{memBackend: newMemBackend(names...), failAt: failAt}
			fsys := streamFS(t, be, "d/f0000a")
			got, errno := readAll(t, openDir(t, fsys, "d/"))
			if !errors.Is(errno, errInjected) {
				t.Fatalf("read %d names then %v, want the listing's failure (EIO at the adapter)", len(got), errno)
			}
			if len(got) >= 350 || !sort.StringsAreSorted(got) {
				t.Fatalf("%d names before the error (sorted %v)", len(got), sort.StringsAreSorted(got))
			}
			if _, ok := fsys.meta.Cache().Listing(dirKey(Bucket{ID: "b1", Name: "alpha"}, "d/")); ok {
				t.Fatal("a failed listing was cached")
			}
			// The next reader starts a fresh listing, which succeeds.
			got, errno = readAll(t, openDir(t, fsys, "d/"))
			if errno != nil || len(got) != 351 {
				t.Fatalf("retry: %d names, %v", len(got), errno)
			}
		})
	}
}

func TestStreamedReaddirShared(t *testing.T) {
	var names []string
	for i := 0; i < 450; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	be := newMemBackend(names...)
	fsys := streamFS(t, be)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, errno := readAll(t, openDir(t, fsys, "d/"))
			if errno != nil || len(got) != 450 || !sort.StringsAreSorted(got) {
				errs <- fmt.Errorf("%d names, %v", len(got), errno)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := be.Calls("ListDir"); got != 5 {
		t.Fatalf("%d list calls for 4 concurrent readers of 5 pages, want 5", got)
	}
}

// gateBackend holds continuation pages (start != "") until released.
type gateBackend struct {
	*memBackend
	release chan struct{}
}

func (b *gateBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	if start != "" {
		select {
		case <-b.release:
		case <-ctx.Done():
			return Page{}, ctx.Err()
		}
	}
	return b.memBackend.ListDir(ctx, bk, prefix, start, max)
}

func TestLookupDuringStream(t *testing.T) {
	var names []string
	for i := 0; i < 250; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	be := &gateBackend{memBackend: newMemBackend(names...), release: make(chan struct{})}
	fsys := streamFS(t, be)
	h := openDir(t, fsys, "d/")
	// ".", "..", then the first page's entries while page 2 is held.
	for i := 0; i < 10; i++ {
		if de, errno := h.Readdirent(context.Background()); errno != nil || de == nil {
			t.Fatalf("entry %d: %v %v", i, de, errno)
		}
	}
	if got := be.Calls("ListDir"); got != 1 {
		t.Fatalf("%d list calls with page 2 held, want 1", got)
	}
	b := Bucket{ID: "b1", Name: "alpha"}
	for _, c := range []struct {
		name  string
		found bool
	}{{"f0005", true}, {"f0098", true}, {"f00", false}} {
		if _, ok, err := fsys.meta.Lookup(context.Background(), b, "d/", c.name); err != nil || ok != c.found {
			t.Fatalf("lookup %q during the stream: %v %v", c.name, ok, err)
		}
	}
	if got := be.Calls("ListDir"); got != 1 {
		t.Fatalf("lookups of received names made calls: %d list calls, want 1", got)
	}
	// A name beyond the received part costs its targeted call.
	if _, ok, err := fsys.meta.Lookup(context.Background(), b, "d/", "f0200"); err != nil || !ok {
		t.Fatalf("lookup beyond the received part: %v %v", ok, err)
	}
	if got := be.Calls("ListDir"); got != 2 {
		t.Fatalf("%d list calls after a lookup beyond the received part, want 2", got)
	}
	close(be.release)
	got, errno := readAll(t, h)
	if errno != nil || len(got) != 250-8 {
		t.Fatalf("rest of the stream: %d names, %v", len(got), errno)
	}
}

func TestStreamFetchesOnePageAhead(t *testing.T) {
	var names []string
	for i := 0; i < 450; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	be := newMemBackend(names...)
	fsys := streamFS(t, be)
	h := openDir(t, fsys, "d/")
	for i := 0; i < 5; i++ {
		if de, errno := h.Readdirent(context.Background()); errno != nil || de == nil {
			t.Fatalf("entry %d: %v %v", i, de, errno)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got := be.Calls("ListDir"); got != 2 {
		t.Fatalf("a reader inside page 1 caused %d list calls, want 2 (one page ahead)", got)
	}
	got, errno := readAll(t, h)
	if errno != nil || len(got) != 450-3 || be.Calls("ListDir") != 5 {
		t.Fatalf("rest: %d names, %v, %d calls", len(got), errno, be.Calls("ListDir"))
	}
}

// TestStreamedReaddirSharesListing: a directory read while its listing is
// streamed returns every name once, in B2's order, and ends up holding the
// cached listing itself, not a copy of it (a listing of 100,000 names is
// 14 MB); a folder whose name straddles a page boundary and a staged file
// make the reader fall back to its own copy, with the same result.
func TestStreamedReaddirSharesListing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  []string
		staged []string
		shared bool
	}{
		{"files only", nil, nil, true},
		{"folder out of order", []string{"d/f0099 x", "d/f0099/in"}, nil, false},
		{"staged file", nil, []string{"d/f0150x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for i := 0; i < 450; i++ {
				names = append(names, fmt.Sprintf("d/f%04d", i))
			}
			fsys := streamFS(t, newMemBackend(append(names, tc.extra...)...), tc.staged...)
			h := openDir(t, fsys, "d/")
			got, err := readAll(t, h)
			if err != nil {
				t.Fatal(err)
			}
			if want := 450 + len(tc.extra)/2 + len(tc.staged); len(got) != want {
				t.Fatalf("read %d names, want %d", len(got), want)
			}
			for i := 1; i < len(h.cur.entries); i++ {
				if a, b := b2Key(h.cur.entries[i-1]), b2Key(h.cur.entries[i]); a >= b {
					t.Fatalf("entries %d and %d out of B2's order: %q, %q", i-1, i, a, b)
				}
			}
			l, ok := fsys.meta.Cache().Listing(dirKey(Bucket{ID: "b1", Name: "alpha"}, "d/"))
			if !ok {
				t.Fatal("listing not cached")
			}
			if shared := &h.cur.entries[0] == &l[0]; shared != tc.shared {
				t.Fatalf("reader shares the cached listing: %v, want %v", shared, tc.shared)
			}
		})
	}
}
