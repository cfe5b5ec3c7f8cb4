package listing

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// changeThroughFS records a new entry of directory prefix as the
// filesystem does (vfs's changed): first here, then in the cache, where a
// cached listing of the directory is patched.
func changeThroughFS(m *Meta, b Bucket, prefix string, e cache.Entry) {
	key := dirKey(b, prefix)
	m.Changed(b, prefix, e.Name, &e)
	if l, ok := m.cache.Listing(key); ok {
		nl := slices.DeleteFunc(slices.Clone(l), func(x cache.Entry) bool { return x.Name == e.Name })
		m.cache.PutListing(key, append(nl, e))
	}
	m.cache.PutEntry(key, e)
}

// TestPrefetchWindowCachingRacingChangeKeepsIt: a change made through the
// filesystem after a subtree window found that no change raced its
// listing, but before the window cached it, is not overwritten by the
// window's older listing: it comes before the check (nothing is cached)
// or patches the cached listing. A file whose upload landed then vanished
// from the listings of its directory (the listed one and one below it)
// until they expired.
func TestPrefetchWindowCachingRacingChangeKeepsIt(t *testing.T) {
	ctx := context.Background()
	be := newMemBackend("d/a", "d/e/x")
	m := newTreeMeta(t, be, 1000, 2)
	b := Bucket{ID: "b1", Name: "alpha"}
	changed := make(chan struct{})
	var once sync.Once
	m.windowChecked = func() {
		once.Do(func() {
			go func() {
				defer close(changed)
				for _, d := range []string{"d/", "d/e/"} {
					o := be.Put("b1", d+"n", []byte("new"), nil) // its upload landed
					changeThroughFS(m, b, d, entryFromObject("n", o))
				}
			}()
			// The change goes through now, unless it waits for the
			// window to be cached.
			select {
			case <-changed:
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
	if _, err := m.listDir(ctx, b, "d/"); err != nil {
		t.Fatal(err)
	}
	<-changed
	if be.Calls("ListTree") != 1 {
		t.Fatalf("%d subtree listings, want 1", be.Calls("ListTree"))
	}
	for _, d := range []string{"d/", "d/e/"} {
		es, err := m.listDir(ctx, b, d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(names2(es), "n") {
			t.Errorf("listing of %s after the change: %v, want n in it", d, names2(es))
		}
		if _, found, err := m.lookup(ctx, b, d, "n"); err != nil || !found {
			t.Errorf("lookup of %sn after the change: found %v, %v", d, found, err)
		}
	}
}
