package staging_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// deafStart starts large files in the store but never answers: b2fs is
// killed between B2 starting the large file and b2fs recording its ID.
type deafStart struct {
	*fstest.Store
	started chan struct{}
}

func (r deafStart) StartLargeFile(ctx context.Context, req staging.UploadRequest) (string, error) {
	r.Store.StartLargeFile(ctx, req)
	r.started <- struct{}{}
	<-ctx.Done()
	return "", ctx.Err()
}

// TestRecoverCancelsUnrecordedLargeFile: a b2fs killed while
// b2_start_large_file ran leaves an unfinished large file no manifest
// names; the next start cancels it (it was left billed in B2, found by
// test/crash), and leaves another writer's unfinished upload of the same
// name alone.
func TestRecoverCancelsUnrecordedLargeFile(t *testing.T) {
	ctx := context.Background()
	st := fstest.NewStore("b")
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := func(r staging.Remote) staging.Options {
		return staging.Options{Dir: dir, Remote: r, PartSize: 1 << 16, UploadCutoff: 1 << 17, Concurrency: 2, Logger: log}
	}
	key := staging.Key{BucketID: "b", BucketName: "b", Name: "big"}
	other, err := st.StartLargeFile(ctx, staging.UploadRequest{BucketID: "b", Name: "big", Info: map[string]string{staging.InfoMtime: "1"}})
	if err != nil {
		t.Fatal(err)
	}

	r := deafStart{Store: st, started: make(chan struct{}, 1)}
	m, err := staging.New(opts(r))
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Open(ctx, staging.OpenOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, make([]byte, 3<<16), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no large file started while the file was written")
	}
	if n := len(st.Unfinished()); n != 2 {
		t.Fatalf("%d unfinished large files before the crash, want 2", n)
	}
	m.Abandon() // killed: the ID never reaches the manifest

	m2, err := staging.New(opts(st))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	if _, err := m2.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	left := st.Unfinished()
	if !slices.Equal(left, []string{other}) {
		t.Fatalf("unfinished large files after recovery: %v, want only the other writer's %s", left, other)
	}
}
