package staging

import (
	"context"
	"testing"
	"time"
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
