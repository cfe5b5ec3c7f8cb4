package staging

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
)

// gatedRemote holds each b2_upload_file until release is closed: with
// land, the version is stored in B2 first; with lose, the answer never
// comes back (the process died before it).
type gatedRemote struct {
	Remote
	land, lose bool
	entered    chan struct{}
	release    chan struct{}
}

func (g *gatedRemote) UploadFile(ctx context.Context, req UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	var v backend.Object
	var err error
	if g.land {
		v, err = g.Remote.UploadFile(context.WithoutCancel(ctx), req, r, size)
	}
	close(g.entered)
	<-g.release
	if g.lose || !g.land {
		return backend.Object{}, errors.New("connection lost")
	}
	return v, err
}

// TestRemovedDuringUploadNotRecovered: a file unlinked while its upload
// runs, with b2fs killed before the upload ended, comes back neither from
// the staging directory nor from B2 at the next start, whether the upload
// had stored its version or not (FUSE model seed 8324663935708629752: a
// file unlinked after a crash, while its recovered copy uploaded, came
// back after a second crash); and an upload that ends while the file is
// still open leaves nothing for a later crash to bring back.
func TestRemovedDuringUploadNotRecovered(t *testing.T) {
	for _, c := range []struct {
		name       string
		land, lose bool
	}{
		{"killed before it landed", false, true},
		{"killed after it landed", true, true},
		{"ended, still open, killed", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			g := &gatedRemote{Remote: e.remote, land: c.land, lose: c.lose, entered: make(chan struct{}), release: make(chan struct{})}
			dead, err := New(Options{Dir: filepath.Dir(e.m.Dir()), Remote: g, PartSize: testPart, UploadCutoff: testCutoff,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			f, err := dead.Open(ctx, OpenOptions{Key: e.key("gone")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(ctx, []byte("scratch"), 0); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- f.Flush(ctx) }()
			<-g.entered
			if !dead.Detach(e.key("gone")) { // rm returns
				t.Fatal("Detach found nothing")
			}
			if !c.lose {
				close(g.release)
				if err := <-done; err != nil {
					t.Fatalf("flush of the removed file: %v", err)
				}
			}
			crash(dead) // kill -9; the handle is still open
			res, err := e.m.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Outcome == RecoveredPending || r.Outcome == RecoveredFailed {
					t.Errorf("recovered %s: %s", r.Key.Name, r.Outcome)
				}
			}
			if err := e.m.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.Head(ctx, e.bucket, "gone"); !b2client.IsNotFound(err) {
				t.Errorf("the removed file is in B2 after the restart: %v", err)
			}
			if c.lose {
				close(g.release) // the dead process's call ends
				<-done
			}
		})
	}
}
