package staging

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// TestWriteAfterDetachOfSettledFile: a file whose manifest was saved
// (after an upload) and that is then unlinked while open can still be
// written and truncated through the open handle. (Writing used to spin
// forever: a detached file never saves its manifest, so it stayed
// "settled".)
func TestWriteAfterDetachOfSettledFile(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("unlinked")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil { // uploads and saves a settled manifest
		t.Fatal(err)
	}
	if !e.m.Detach(e.key("unlinked")) {
		t.Fatal("Detach found nothing")
	}
	done := make(chan error, 1)
	go func() {
		if _, err := f.WriteAt(ctx, []byte("again"), 5); err != nil {
			done <- err
			return
		}
		done <- f.Truncate(ctx, 3)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after detach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write to a detached, settled staged file did not return")
	}
	buf := make([]byte, 10)
	n, err := f.ReadAt(ctx, buf, 0)
	if string(buf[:n]) != "hel" {
		t.Fatalf("read after detach: %q, %v; want \"hel\"", buf[:n], err)
	}
	e.m.Release(f)
	assertNoStaged(t, e.m)
}

// TestDetachedOpenFileNotRecovered: a file unlinked while still open, and
// written, is not brought back under its old name when the process dies
// before the handle is closed.
func TestDetachedOpenFileNotRecovered(t *testing.T) {
	for _, uploaded := range []bool{false, true} {
		e := newEnv(t, envOptions{})
		ctx := context.Background()
		f, err := e.m.Open(ctx, OpenOptions{Key: e.key("temp")})
		if err != nil {
			t.Fatal(err)
		}
		if uploaded {
			if err := f.Flush(ctx); err != nil { // in B2 (empty), as create does
				t.Fatal(err)
			}
		}
		if _, err := f.WriteAt(ctx, []byte("scratch"), 0); err != nil {
			t.Fatal(err)
		}
		if uploaded {
			if _, err := e.c.HideFile(ctx, e.bucketID, "temp"); err != nil { // what unlink does
				t.Fatal(err)
			}
		}
		e.m.Detach(e.key("temp"))
		if _, err := f.WriteAt(ctx, []byte("more scratch"), 7); err != nil {
			t.Fatal(err)
		}
		oldDir := e.m.Dir()
		crash(e.m) // the handle is still open

		m2, err := New(Options{Dir: filepath.Dir(oldDir), Remote: e.remote, PartSize: testPart, UploadCutoff: testCutoff,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		res, err := m2.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			t.Errorf("uploaded before unlink %v: recovered %s: %s", uploaded, r.Key.Name, r.Outcome)
		}
		if err := m2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Head(ctx, e.bucket, "temp"); !b2client.IsNotFound(err) {
			t.Errorf("uploaded before unlink %v: the unlinked file is back in B2: %v", uploaded, err)
		}
	}
}
