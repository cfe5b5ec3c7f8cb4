package listing

import (
	"context"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// lateBackend takes each listing page from B2 and then waits until
// released before returning it: a listing fetched before a change made
// through the filesystem and received after it.
type lateBackend struct {
	*memBackend
	entered chan struct{}
	release chan struct{}
}

func (b *lateBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	p, err := b.memBackend.ListDir(ctx, bk, prefix, start, max)
	b.entered <- struct{}{}
	<-b.release
	return p, err
}

func names(es []cache.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// TestStreamKeepsChangesMadeWhileListing: changes made through the
// filesystem while a directory's listing is being fetched show in what
// the listing returns and in what it caches, although the page it
// fetched from B2 predates them (a file whose write-back upload landed
// meanwhile once vanished from readdir and from later lookups).
func TestStreamKeepsChangesMadeWhileListing(t *testing.T) {
	be := &lateBackend{memBackend: newMemBackend("d/a", "d/b"), entered: make(chan struct{}, 1), release: make(chan struct{})}
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	type res struct {
		es  []cache.Entry
		err error
	}
	done := make(chan res, 1)
	go func() {
		es, err := m.listDir(context.Background(), b, "d/")
		done <- res{es, err}
	}()
	<-be.entered
	gen := m.DirGen(b, "d/")
	// As the filesystem does: Changed, the cache patched, Settled.
	m.Changed(b, "d/", "x", &cache.Entry{Name: "x", FileID: "x1", Size: 3})
	m.Settled(b, "d/")
	m.Changed(b, "d/", "a", nil)
	m.Settled(b, "d/")
	if m.DirGen(b, "d/") == gen {
		t.Error("the directory's generation did not change")
	}
	close(be.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := names(r.es); len(got) != 2 || got[0] != "b" || got[1] != "x" {
		t.Errorf("listing: %v, want [b x]", got)
	}
	l, ok := m.cache.Listing(dirKey(b, "d/"))
	if got := names(l); !ok || len(got) != 2 || got[0] != "b" || got[1] != "x" {
		t.Errorf("cached listing: %v (%v), want [b x]", got, ok)
	}
}

// TestLookupRacingChangeKeepsIt: a lookup whose list call was answered
// before a change to the name and returned after it answers, and leaves
// in the cache, what the change recorded, not B2's answer of before.
func TestLookupRacingChangeKeepsIt(t *testing.T) {
	be := &lateBackend{memBackend: newMemBackend("d/a"), entered: make(chan struct{}, 1), release: make(chan struct{})}
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	type res struct {
		e     cache.Entry
		found bool
		err   error
	}
	done := make(chan res, 1)
	go func() {
		e, found, err := m.lookup(context.Background(), b, "d/", "x")
		done <- res{e, found, err}
	}()
	<-be.entered // B2 has no d/x
	e := cache.Entry{Name: "x", FileID: "x1", Size: 3}
	m.Changed(b, "d/", "x", &e)
	m.cache.PutEntry(dirKey(b, "d/"), e) // what the filesystem does next
	close(be.release)
	r := <-done
	if r.err != nil || !r.found || r.e.FileID != "x1" {
		t.Errorf("lookup: %+v %v %v, want x1", r.e, r.found, r.err)
	}
	if got, rr := m.cache.Lookup(dirKey(b, "d/"), "x"); rr != cache.Found || got.FileID != "x1" {
		t.Errorf("cache: %+v %v, want x1", got, rr)
	}
}

// TestLatestAfterTheStreamEnded: a reader whose stream ended before a
// change gets the listing with the change: the stream's own listing when
// nothing changed since it ended, the cached listing (patched by the
// change) after a change, and ok false (list again) when the listing was
// not cached.
func TestLatestAfterTheStreamEnded(t *testing.T) {
	for _, ttl := range []time.Duration{time.Minute, 0} {
		t.Run("dirTTL="+ttl.String(), func(t *testing.T) {
			ctx := context.Background()
			m := newMeta(t, newMemBackend("d/a"), 1000)
			if ttl == 0 {
				c, err := cache.New(cache.Options{DirTTL: 0, AttrTTL: time.Minute, NegativeTTL: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Close)
				m.cache = c
			}
			b := Bucket{ID: "b1", Name: "alpha"}
			s := m.openStream(b, "d/")
			all, _, _, done, err := s.wait(ctx, 0)
			if err != nil || !done {
				t.Fatalf("wait: done %v, %v", done, err)
			}
			if l, complete, ok := s.Latest(all); !ok || !complete || len(l) != 1 || &l[0] != &all[0] {
				t.Errorf("nothing changed: Latest %v %v %v, want the stream's listing", names(l), complete, ok)
			}
			// A change after the stream ended (the filesystem patches the
			// cache between the two calls).
			e := cache.Entry{Name: "x", FileID: "x1", Size: 3}
			m.Changed(b, "d/", "x", &e)
			if l, ok := m.cache.Listing(dirKey(b, "d/")); ok {
				m.cache.PutListing(dirKey(b, "d/"), append(append([]cache.Entry(nil), l...), e))
			}
			m.Settled(b, "d/")
			l, complete, ok := s.Latest(all)
			if ttl == 0 {
				if ok {
					t.Errorf("uncached: Latest %v %v %v, want ok false", names(l), complete, ok)
				}
				return
			}
			if got := names(l); !ok || !complete || len(got) != 2 || got[1] != "x" {
				t.Errorf("cached: Latest %v %v %v, want [a x] complete", got, complete, ok)
			}
		})
	}
}

// TestLatestWhileFetching: while the stream fetches, Latest gives its
// entries with the changes made since the reader's Wait; once the stream
// is idle (changes made meanwhile are not in it), ok is false.
func TestLatestWhileFetching(t *testing.T) {
	ctx := context.Background()
	be := &lateBackend{memBackend: newMemBackend("d/a", "d/b", "d/c"), entered: make(chan struct{}, 1), release: make(chan struct{}, 4)}
	m := newMeta(t, be, 1) // one name per page
	stopped := make(chan struct{})
	m.afterIdle = func(*Stream) { close(stopped) }
	m.streamIdle.Store(int64(time.Millisecond))
	b := Bucket{ID: "b1", Name: "alpha"}
	s := m.openStream(b, "d/")
	<-be.entered
	be.release <- struct{}{}
	all, _, _, done, err := s.wait(ctx, 0)
	if err != nil || done {
		t.Fatalf("wait: done %v, %v", done, err)
	}
	<-be.entered // the second page is being fetched
	m.Changed(b, "d/", "x", &cache.Entry{Name: "x", FileID: "x1"})
	m.Settled(b, "d/")
	l, complete, ok := s.Latest(all)
	if got := names(l); !ok || complete || len(got) != 2 || got[0] != "a" || got[1] != "x" {
		t.Errorf("fetching: Latest %v %v %v, want [a x], not complete", got, complete, ok)
	}
	be.release <- struct{}{}
	<-stopped // no reader asked for the third page
	if l, _, ok := s.Latest(all); ok {
		t.Errorf("idle: Latest %v ok, want ok false", names(l))
	}
}
