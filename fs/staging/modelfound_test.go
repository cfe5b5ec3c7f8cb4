package staging_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// stallRemote holds every part upload until its context is cancelled.
type stallRemote struct {
	*fstest.Store
	started chan struct{}
}

func (r stallRemote) UploadPart(ctx context.Context, id string, part int, rd io.ReaderAt, size int64, sha1Hex string) (string, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return "", ctx.Err()
}

// TestCloseWhileStreaming: a Manager closed while a file being written
// streams its parts, with the uploads not done by the deadline, returns
// once its context is cancelled. A part upload failing because the
// background context was cancelled started the next attempt, which failed
// at once too: the file's uploads spun forever and Close (and anything
// waiting for the file to be idle) never returned (found by test/model's
// TestModelVFS, at a crash).
func TestCloseWhileStreaming(t *testing.T) {
	ctx := context.Background()
	r := stallRemote{Store: fstest.NewStore("b"), started: make(chan struct{}, 1)}
	m, err := staging.New(staging.Options{Dir: t.TempDir(), Remote: r, PartSize: 1 << 16, UploadCutoff: 1 << 17, Concurrency: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Open(ctx, staging.OpenOptions{Key: staging.Key{BucketID: "b", BucketName: "b", Name: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, make([]byte, 3<<16), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no part upload started while the file was written")
	}
	done := make(chan struct{})
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		m.Close(cctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the part uploads keep restarting")
	}
}

// TestSyncWaitsUntilUploadShown: in write-back mode, Sync called while a
// background upload has made the file clean but the filesystem is still
// being shown the new version (the upload hook runs) returns only after
// that. It returned at once (the file was no longer dirty), and a chmod
// right after an fsync copied the version B2 had before (found by
// test/model's TestModelVFSWriteBack).
func TestSyncWaitsUntilUploadShown(t *testing.T) {
	ctx := context.Background()
	m, err := staging.New(staging.Options{Dir: t.TempDir(), Remote: fstest.NewStore("b"), PartSize: 1 << 16, UploadCutoff: 1 << 17,
		WriteBack: true, WriteBackDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	var shown atomic.Bool
	entered := make(chan struct{}, 1)
	m.SetUploadHook(func(staging.Key, *staging.File) {
		entered <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		shown.Store(true)
	})
	f, err := m.Open(ctx, staging.OpenOptions{Key: staging.Key{BucketID: "b", BucketName: "b", Name: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no background upload")
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !shown.Load() {
		t.Fatal("Sync returned while the upload was still being shown")
	}
}
