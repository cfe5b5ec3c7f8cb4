package staging_test

import (
	"context"
	"io"
	"log/slog"
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

// TestAbandonWhileStreaming: a Manager abandoned (as a crash leaves it)
// while a file being written streams its parts returns at once. A part
// upload failing because the background context was cancelled started
// the next attempt, which failed at once too: the file's uploads spun
// forever and Abandon (and anything waiting for the file to be idle)
// never returned (found by test/model's TestModelVFS).
func TestAbandonWhileStreaming(t *testing.T) {
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
	go func() { m.Abandon(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Abandon did not return: the part uploads keep restarting")
	}
}
