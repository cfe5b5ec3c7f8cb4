package listing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
)

// memBackend is the in-memory account of package fstest, with B2's
// listing semantics.
type memBackend = fstest.Store

// newMemBackend returns buckets b1 (alpha) and b2 (beta) with names in b1
// (see fstest.NewSeeded).
func newMemBackend(names ...string) *memBackend { return fstest.NewSeeded(names...) }

func newMeta(t *testing.T, be Backend, pageSize int) *Meta {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Meta{life: context.Background(), be: be, cache: c, pageSize: pageSize, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestListDirPagesAndCaches(t *testing.T) {
	var names []string
	for i := 0; i < 250; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	names = append(names, "d/sub/x", "d/sub/y", "d/empty/.bzEmpty", "top")
	be := newMemBackend(names...)
	m := newMeta(t, be, 100)
	b := Bucket{ID: "b1", Name: "alpha"}
	es, err := m.listDir(context.Background(), b, "d/")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 252 || es[0].Name != "empty" || !es[0].Dir || es[251].Name != "sub" {
		t.Fatalf("got %d entries, first %+v", len(es), es[0])
	}
	if got := be.Calls("ListDir"); got != 3 {
		t.Fatalf("%d list calls for 252 entries with page size 100, want 3", got)
	}
	if _, err := m.listDir(context.Background(), b, "d/"); err != nil || be.Calls("ListDir") != 3 {
		t.Fatalf("second listing not served from cache: %v, %d calls", err, be.Calls("ListDir"))
	}
	// Lookups in a listed directory, positive and negative, cost nothing.
	for _, n := range []string{"f0007", "sub", "nope", ".bzEmpty"} {
		if _, _, err := m.lookup(context.Background(), b, "d/", n); err != nil {
			t.Fatal(err)
		}
	}
	if be.Calls("ListDir") != 3 {
		t.Fatalf("lookups in a listed directory made calls: %d", be.Calls("ListDir"))
	}
	// An empty folder made of a marker lists as empty.
	es, err = m.listDir(context.Background(), b, "d/empty/")
	if err != nil || len(es) != 0 {
		t.Fatalf("empty folder: %v %v", es, err)
	}
}

func TestLookupTargeted(t *testing.T) {
	names := []string{"p/a", "p/a/inner", "p/ab", "p/c/.bzEmpty"}
	for i := 0; i < 150; i++ { // push "p/a/" beyond the first page
		names = append(names, fmt.Sprintf("p/a.%03d", i))
	}
	be := newMemBackend(names...)
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	tests := []struct {
		name      string
		found     bool
		dir       bool
		wantCalls int
	}{
		{"ab", true, false, 1},
		{"c", true, true, 1},
		{"zz", false, false, 1},
		{"a", true, true, 2}, // file and folder clash, folder beyond page one
		{"a.007", true, false, 1},
	}
	for _, tc := range tests {
		before := be.Calls("ListDir")
		e, ok, err := m.lookup(context.Background(), b, "p/", tc.name)
		if err != nil || ok != tc.found || e.Dir != tc.dir {
			t.Errorf("lookup(%q) = %+v %v %v", tc.name, e, ok, err)
		}
		if got := be.Calls("ListDir") - before; got != tc.wantCalls {
			t.Errorf("lookup(%q) made %d calls, want %d", tc.name, got, tc.wantCalls)
		}
		before = be.Calls("ListDir")
		if _, ok2, _ := m.lookup(context.Background(), b, "p/", tc.name); ok2 != ok || be.Calls("ListDir") != before {
			t.Errorf("repeated lookup(%q) not cached", tc.name)
		}
	}
	if _, _, err := m.lookup(context.Background(), b, "p/", strings.Repeat("x", 1100)); err != errs.ErrNameTooLong {
		t.Errorf("long name: %v", err)
	}
}

func TestBucketsCached(t *testing.T) {
	be := newMemBackend()
	m := newMeta(t, be, 1000)
	for i := 0; i < 3; i++ {
		es, err := m.buckets(context.Background())
		if err != nil || len(es) != 2 || es[0].Name != "alpha" || es[1].FileID != "b2" {
			t.Fatalf("buckets = %+v, %v", es, err)
		}
	}
	if be.Calls("ListBuckets") != 1 {
		t.Fatalf("%d bucket listings", be.Calls("ListBuckets"))
	}
}

// blockingBackend holds ListDir until released.
type blockingBackend struct {
	*memBackend
	release chan struct{}
}

func (b *blockingBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return Page{}, ctx.Err()
	}
	return b.memBackend.ListDir(ctx, bk, prefix, start, max)
}

func TestSharedListingSurvivesOneCallerCancel(t *testing.T) {
	be := &blockingBackend{memBackend: newMemBackend("d/a", "d/b"), release: make(chan struct{})}
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	ctx1, cancel1 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := m.listDir(ctx1, b, "d/"); errs <- err }()
	var got []cache.Entry
	go func() {
		var err error
		got, err = m.listDir(context.Background(), b, "d/")
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	close(be.release)
	if err := <-errs; err != nil || len(got) != 2 {
		t.Fatalf("other caller: %v %v", got, err)
	}
	if be.Calls("ListDir") != 1 {
		t.Fatalf("%d list calls, want 1 shared", be.Calls("ListDir"))
	}
}

// TestLookupRelistsSmallDirectory: once the listing of a small directory
// is gone from the cache (expired), a lookup there lists the directory
// again (one call, as a targeted lookup costs) and the lookups after it
// cost nothing; in a big directory, or one never listed, a lookup stays
// targeted.
func TestLookupRelistsSmallDirectory(t *testing.T) {
	var names []string
	for i := 0; i < 20; i++ {
		names = append(names, fmt.Sprintf("s/f%02d", i))
	}
	for i := 0; i < smallDirNames+1; i++ {
		names = append(names, fmt.Sprintf("big/f%04d", i))
	}
	be := &prefixRecorder{memBackend: newMemBackend(names...)}
	m := newMeta(t, be, 10000)
	b := Bucket{ID: "b1", Name: "alpha"}
	ctx := context.Background()
	calls := func() int { return be.Calls("ListDir") }
	lookup := func(prefix, name string, want bool) {
		t.Helper()
		if _, ok, err := m.lookup(ctx, b, prefix, name); err != nil || ok != want {
			t.Fatalf("lookup(%q, %q) = %v, %v; want %v", prefix, name, ok, err, want)
		}
	}
	// Never listed: targeted.
	lookup("s/", "new0", false)
	if be.LastListPrefix() != "s/new0" {
		t.Fatalf("lookup in a directory never listed asked for %q, want the name", be.LastListPrefix())
	}
	for _, d := range []string{"s/", "big/"} {
		if _, err := m.listDir(ctx, b, d); err != nil {
			t.Fatal(err)
		}
		m.cache.InvalidateDir(dirKey(b, d)) // as when the listing expires
	}
	n0 := calls()
	lookup("s/", "new1", false)
	lookup("s/", "new2", false)
	lookup("s/", "f07", true)
	if got := calls() - n0; got != 1 {
		t.Fatalf("%d list calls for three lookups in a small directory whose listing expired, want 1", got)
	}
	if be.LastListPrefix() != "s/" {
		t.Fatalf("the lookup asked for %q, want the directory", be.LastListPrefix())
	}
	// A directory just made counts as listed (empty).
	m.Created(b, "made/")
	m.cache.InvalidateDir(dirKey(b, "made/"))
	n0 = calls()
	lookup("made/", "a", false)
	lookup("made/", "b", false)
	if got := calls() - n0; got != 1 || be.LastListPrefix() != "made/" {
		t.Fatalf("new directory: %d calls, last for %q; want one listing of the directory", got, be.LastListPrefix())
	}
	n0 = calls()
	lookup("big/", "new1", false)
	lookup("big/", "new2", false)
	if got := calls() - n0; got != 2 || be.LastListPrefix() != "big/new2" {
		t.Fatalf("big directory: %d calls, last for %q; want 2 targeted lookups", got, be.LastListPrefix())
	}
}

// prefixRecorder records the prefix of the last ListDir call.
type prefixRecorder struct {
	*memBackend
	mu   sync.Mutex
	last string
}

func (p *prefixRecorder) ListDir(ctx context.Context, b Bucket, prefix, start string, max int) (Page, error) {
	p.mu.Lock()
	p.last = prefix
	p.mu.Unlock()
	return p.memBackend.ListDir(ctx, b, prefix, start, max)
}

func (p *prefixRecorder) LastListPrefix() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}
