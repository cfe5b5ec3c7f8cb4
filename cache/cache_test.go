package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func newTest(t *testing.T, opts Options) (*Cache, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts.Now = clk.Now
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, clk
}

func TestListingTTL(t *testing.T) {
	c, clk := newTest(t, Options{DirTTL: time.Minute, AttrTTL: time.Second, NegativeTTL: time.Second})
	c.PutListing("b\x00dir/", []Entry{{Name: "z"}, {Name: "a", Dir: true}, {Name: "m", Size: 3}})
	l, ok := c.Listing("b\x00dir/")
	if !ok || len(l) != 3 || l[0].Name != "a" || l[1].Name != "m" || l[2].Name != "z" {
		t.Fatalf("listing = %v, %v; want sorted a m z", l, ok)
	}
	tests := []struct {
		name string
		want Result
		size int64
	}{
		{"m", Found, 3},
		{"a", Found, 0},
		{"nope", NotFound, 0},
	}
	for _, tc := range tests {
		e, r := c.Lookup("b\x00dir/", tc.name)
		if r != tc.want || e.Size != tc.size {
			t.Errorf("Lookup(%q) = %v %v, want %v size %d", tc.name, e, r, tc.want, tc.size)
		}
	}
	clk.Advance(59 * time.Second)
	if _, ok := c.Listing("b\x00dir/"); !ok {
		t.Fatal("listing expired before its TTL")
	}
	clk.Advance(time.Second)
	if _, ok := c.Listing("b\x00dir/"); ok {
		t.Fatal("listing still valid at its TTL")
	}
	if _, r := c.Lookup("b\x00dir/", "nope"); r != Unknown {
		t.Fatalf("Lookup after expiry = %v, want unknown", r)
	}
}

func TestEntryAndNegativeTTL(t *testing.T) {
	c, clk := newTest(t, Options{DirTTL: time.Minute, AttrTTL: 10 * time.Second, NegativeTTL: 5 * time.Second})
	c.PutEntry("d", Entry{Name: "f", Size: 7, FileID: "id1"})
	c.PutNegative("d", "gone")
	if e, r := c.Lookup("d", "f"); r != Found || e.FileID != "id1" {
		t.Fatalf("Lookup(f) = %v %v", e, r)
	}
	if _, r := c.Lookup("d", "gone"); r != NotFound {
		t.Fatalf("Lookup(gone) = %v, want not-found", r)
	}
	if _, r := c.Lookup("d", "other"); r != Unknown {
		t.Fatalf("Lookup(other) = %v, want unknown", r)
	}
	clk.Advance(5 * time.Second)
	if _, r := c.Lookup("d", "gone"); r != Unknown {
		t.Fatalf("negative entry outlived NegativeTTL: %v", r)
	}
	if _, r := c.Lookup("d", "f"); r != Found {
		t.Fatalf("positive entry expired early: %v", r)
	}
	clk.Advance(5 * time.Second)
	if _, r := c.Lookup("d", "f"); r != Unknown {
		t.Fatalf("positive entry outlived AttrTTL: %v", r)
	}
}

func TestListingWinsOverEntries(t *testing.T) {
	c, _ := newTest(t, Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	c.PutNegative("d", "x")
	c.PutListing("d", []Entry{{Name: "x", Size: 1}})
	if _, r := c.Lookup("d", "x"); r != Found {
		t.Fatalf("fresh listing must answer: got %v", r)
	}
}

func TestZeroTTLDisables(t *testing.T) {
	c, _ := newTest(t, Options{})
	c.PutListing("d", []Entry{{Name: "x"}})
	c.PutNegative("d", "y")
	if _, ok := c.Listing("d"); ok {
		t.Fatal("listing cached with zero TTL")
	}
	if _, r := c.Lookup("d", "y"); r != Unknown {
		t.Fatalf("negative cached with zero TTL: %v", r)
	}
}

func TestInvalidate(t *testing.T) {
	c, _ := newTest(t, Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	c.PutListing("d", []Entry{{Name: "x"}})
	c.PutEntry("d", Entry{Name: "y"})
	c.PutListing("e", []Entry{{Name: "z"}})
	c.Invalidate("d", "y")
	if _, r := c.Lookup("d", "y"); r != Unknown {
		t.Fatalf("entry survived Invalidate: %v", r)
	}
	if _, ok := c.Listing("d"); ok {
		t.Fatal("listing survived Invalidate of one of its names")
	}
	if _, ok := c.Listing("e"); !ok {
		t.Fatal("Invalidate dropped an unrelated listing")
	}
	c.InvalidateDir("e")
	if _, ok := c.Listing("e"); ok {
		t.Fatal("listing survived InvalidateDir")
	}
}

func TestCostBound(t *testing.T) {
	const max = 1000
	c, _ := newTest(t, Options{MaxEntries: max, DirTTL: time.Hour, AttrTTL: time.Hour, NegativeTTL: time.Hour})
	for i := 0; i < 200; i++ {
		entries := make([]Entry, 49)
		for j := range entries {
			entries[j] = Entry{Name: fmt.Sprintf("f%03d", j)}
		}
		c.PutListing(fmt.Sprintf("dir%d", i), entries) // cost 50 each, 10,000 in total
	}
	if got := c.Cost(); got > max {
		t.Fatalf("cache holds cost %d, bound is %d", got, max)
	}
	held := 0
	for i := 0; i < 200; i++ {
		if _, ok := c.Listing(fmt.Sprintf("dir%d", i)); ok {
			held++
		}
	}
	if held == 0 || held > max/50 {
		t.Fatalf("%d listings held; want between 1 and %d", held, max/50)
	}
	// A listing larger than the whole budget is not cached at all.
	big := make([]Entry, max+10)
	for j := range big {
		big[j] = Entry{Name: fmt.Sprintf("g%05d", j)}
	}
	c.PutListing("big", big)
	if _, ok := c.Listing("big"); ok {
		t.Fatal("listing over the cost bound was cached")
	}
}

func TestFind(t *testing.T) {
	l := []Entry{{Name: "a"}, {Name: "b b"}, {Name: "é"}}
	for _, n := range []string{"a", "b b", "é"} {
		if _, ok := Find(l, n); !ok {
			t.Errorf("Find(%q) failed", n)
		}
	}
	for _, n := range []string{"", "b", "z"} {
		if _, ok := Find(l, n); ok {
			t.Errorf("Find(%q) found a ghost", n)
		}
	}
}

func TestStats(t *testing.T) {
	now := time.Unix(1000, 0)
	c, err := New(Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Listing("d/") // miss
	c.PutListing("d/", []Entry{{Name: "a"}})
	c.Listing("d/")     // hit
	c.Lookup("d/", "a") // hit (listing)
	now = now.Add(2 * time.Minute)
	c.Listing("d/") // miss (expired)
	if h, m := c.Stats(); h != 2 || m != 2 {
		t.Fatalf("Stats() = %d hits, %d misses; want 2 and 2", h, m)
	}
}

func TestListingIDChangesWithEveryListing(t *testing.T) {
	now := time.Unix(1000, 0)
	c, err := New(Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.ListingID("d"); ok {
		t.Fatal("ListingID of an uncached directory")
	}
	c.PutListing("d", []Entry{{Name: "a"}})
	id1, ok := c.ListingID("d")
	if !ok {
		t.Fatal("no ListingID after PutListing")
	}
	if id, _ := c.ListingID("d"); id != id1 {
		t.Fatalf("ListingID changed without a new listing: %d then %d", id1, id)
	}
	c.PutEntry("d", Entry{Name: "b"}) // a single entry does not replace the listing
	if id, _ := c.ListingID("d"); id != id1 {
		t.Fatalf("ListingID changed by PutEntry: %d then %d", id1, id)
	}
	c.PutListing("d", []Entry{{Name: "a"}})
	id2, ok := c.ListingID("d")
	if !ok || id2 == id1 {
		t.Fatalf("second listing has ID %d (ok %v), first %d", id2, ok, id1)
	}
	c.PutListing("e", nil) // empty listings are listings too
	if id, ok := c.ListingID("e"); !ok || id == id1 || id == id2 {
		t.Fatalf("empty listing: ID %d ok %v", id, ok)
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.ListingID("d"); ok {
		t.Fatal("ListingID of an expired listing")
	}
	c.InvalidateDir("e")
	if _, ok := c.ListingID("e"); ok {
		t.Fatal("ListingID after InvalidateDir")
	}
}

// TestPutSortedListing: a sorted listing is cached as it is (no copy), and
// an append to what Listing returns cannot write into it; an unsorted one
// is copied and sorted like PutListing.
func TestPutSortedListing(t *testing.T) {
	c, _ := newTest(t, Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	sorted := make([]Entry, 3, 10)
	sorted[0].Name, sorted[1].Name, sorted[2].Name = "a", "b", "c"
	c.PutSortedListing("d", sorted)
	l, ok := c.Listing("d")
	if !ok || len(l) != 3 || &l[0] != &sorted[0] {
		t.Fatalf("sorted listing: %v %v, want the same array", l, ok)
	}
	if cap(l) != len(l) {
		t.Fatalf("cached listing has room to append into (cap %d, len %d)", cap(l), len(l))
	}
	unsorted := []Entry{{Name: "b"}, {Name: "a"}}
	c.PutSortedListing("e", unsorted)
	l, ok = c.Listing("e")
	if !ok || len(l) != 2 || l[0].Name != "a" || l[1].Name != "b" || &l[0] == &unsorted[0] {
		t.Fatalf("unsorted listing: %v %v, want a sorted copy", l, ok)
	}
	if unsorted[0].Name != "b" {
		t.Fatal("the caller's unsorted slice was modified")
	}
	c.PutSortedListing("f", nil)
	if l, ok := c.Listing("f"); !ok || len(l) != 0 {
		t.Fatalf("empty listing: %v %v", l, ok)
	}
}
