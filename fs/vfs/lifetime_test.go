package vfs

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// manyNames returns n file names that sort in order.
func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("f%05d", i)
	}
	return out
}

// idleStream opens the stream of the root of be (pages of 100 entries),
// reads its first page and waits until its fetcher went idle.
func idleStream(t *testing.T, m *meta) *dirStream {
	t.Helper()
	b := Bucket{ID: "b1", Name: "alpha"}
	s := m.openStream(b, "")
	if _, _, _, _, err := s.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if !running {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("the fetcher never went idle")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStreamWaitLockOrder: a reader restarting an idle fetcher must not
// hold dirStream.mu while it takes meta.streamMu (the documented order is
// streamMu, then dirStream.mu; openStream follows it): a reader in wait and
// a reader in openStream of the same directory would deadlock.
func TestStreamWaitLockOrder(t *testing.T) {
	m := newMeta(t, newMemBackend(manyNames(1000)...), 100)
	m.streamIdle.Store(int64(5 * time.Millisecond))
	s := idleStream(t, m)
	s.mu.Lock()
	pages := s.pages
	s.mu.Unlock()

	// Play openStream: hold streamMu while a reader wants more.
	m.streamMu.Lock()
	done := make(chan error, 1)
	go func() {
		_, _, _, _, err := s.wait(context.Background(), pages)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	// openStream would now take s.mu: it must be free.
	free := false
	for i := 0; i < 200 && !free; i++ {
		if s.mu.TryLock() {
			s.mu.Unlock()
			free = true
			break
		}
		time.Sleep(time.Millisecond)
	}
	m.streamMu.Unlock()
	if !free {
		t.Error("wait holds dirStream.mu while it waits for meta.streamMu (ABBA with openStream)")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return")
	}
}

// TestStreamRestartedAfterIdleIsShared: a reader that restarts a fetcher
// just as it went idle keeps it shared, so a second reader of the
// directory joins it instead of listing the directory again.
func TestStreamRestartedAfterIdleIsShared(t *testing.T) {
	be := newMemBackend(manyNames(1000)...) // 10 pages of 100
	m := newMeta(t, be, 100)
	m.streamIdle.Store(int64(5 * time.Millisecond))
	var once sync.Once
	restarted := make(chan error, 1)
	m.afterIdle = func(s *dirStream) {
		once.Do(func() {
			// From now on the fetcher stays up while this test runs.
			m.streamIdle.Store(int64(time.Minute))
			s.mu.Lock()
			pages := s.pages
			s.mu.Unlock()
			_, _, _, _, err := s.wait(context.Background(), pages)
			restarted <- err
		})
	}
	s := m.openStream(Bucket{ID: "b1", Name: "alpha"}, "")
	if _, _, _, _, err := s.wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the fetcher never went idle")
	}
	// A second reader lists the whole directory.
	es, err := m.listDir(context.Background(), Bucket{ID: "b1", Name: "alpha"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1000 {
		t.Fatalf("listed %d entries, want 1000", len(es))
	}
	if n := be.count("list"); n != 10 {
		t.Fatalf("%d list calls for a directory of 10 pages: listed twice", n)
	}
}

// stallingBackend blocks every ListDir until its context ends, counting the
// calls in progress.
type stallingBackend struct {
	*memBackend
	inflight atomic.Int32
	started  chan struct{}
}

func (b *stallingBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return Page{}, ctx.Err()
}

// countingWrite is a WriteBackend that counts copies.
type countingWrite struct {
	WriteBackend
	copies atomic.Int32
}

func (c *countingWrite) Copy(ctx context.Context, src Object, dst Bucket, name string, meta *CopyMeta) (Object, error) {
	c.copies.Add(1)
	return Object{Name: name, FileID: src.FileID + "+", Size: src.Size}, nil
}

func lifetimeFS(t *testing.T, be Backend, wb WriteBackend, delay time.Duration) *FS {
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
	f, err := New(Options{Backend: be, Cache: c, Bucket: Bucket{ID: "b1", Name: "alpha"},
		Write: WriteOptions{Staging: sm, Backend: wb, MetadataDelay: delay}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestShutdownStopsListingFetchers: a listing fetcher blocked in a B2 call
// ends at Shutdown, which returns only once it has; later listings fail
// at once.
func TestShutdownStopsListingFetchers(t *testing.T) {
	be := &stallingBackend{memBackend: newMemBackend("a"), started: make(chan struct{}, 1)}
	f := lifetimeFS(t, be, &countingWrite{}, 0)
	b := Bucket{ID: "b1", Name: "alpha"}
	f.meta.openStream(b, "d/")
	select {
	case <-be.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the fetcher did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := be.inflight.Load(); n != 0 {
		t.Fatalf("%d listing calls still running after Shutdown", n)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	if _, err := f.meta.listDir(lctx, b, "e/"); err == nil || lctx.Err() != nil {
		t.Fatalf("listing after Shutdown: %v (ctx %v)", err, lctx.Err())
	}
	if n := be.inflight.Load(); n != 0 {
		t.Fatalf("a listing started after Shutdown")
	}
}

// TestShutdownStopsMetadataTimers: a deferred metadata change whose timer
// has not fired stays pending at Shutdown; no copy runs after it.
func TestShutdownStopsMetadataTimers(t *testing.T) {
	wb := &countingWrite{}
	f := lifetimeFS(t, newMemBackend("a"), wb, 30*time.Millisecond)
	b := Bucket{ID: "b1", Name: "alpha"}
	newNode := func(name string) *File {
		e := cache.Entry{Name: name, FileID: "id-" + name, Size: 1}
		n := &File{fsys: f, bucket: b, entry: e}
		f.deferInfo(n, e, map[string]string{"b2fs-mode": "600"})
		return n
	}
	// Sanity: without Shutdown the timer applies the change.
	newNode("before")
	deadline := time.Now().Add(10 * time.Second)
	for wb.copies.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the deferred change was never applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	newNode("after")
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := wb.copies.Load(); n != 1 {
		t.Fatalf("%d copies; the timer of a change pending at Shutdown fired", n)
	}
	if n := f.PendingMetadata(); n != 1 {
		t.Fatalf("PendingMetadata = %d after Shutdown, want 1", n)
	}
}
