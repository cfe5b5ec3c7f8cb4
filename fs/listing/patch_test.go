package listing

import (
	"context"
	"testing"

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
	m.Changed(b, "d/", "x", &cache.Entry{Name: "x", FileID: "x1", Size: 3})
	m.Changed(b, "d/", "a", nil)
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
