package vfs

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

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
	f.meta.OpenStream(b, "d/")
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
	if _, err := f.meta.ListDir(lctx, b, "e/"); err == nil || lctx.Err() != nil {
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
