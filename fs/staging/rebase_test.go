package staging

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"sync"
	"testing"

	"github.com/b2fs/b2fs/fs/backend"
)

// hookedDownload runs hook once, before the first download.
type hookedDownload struct {
	Remote
	once sync.Once
	hook func()
}

func (h *hookedDownload) Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error) {
	h.once.Do(h.hook)
	return h.Remote.Download(ctx, fileID, off, length)
}

// TestReadWhileBaseReplaced: a read that fetches from the file's version
// in B2 while a metadata copy replaces that version (RebaseCopy, then the
// replaced version is deleted) reads the copy. It answered EIO: the
// download of the deleted version failed (404) and the read gave up,
// although the base had moved on.
func TestReadWhileBaseReplaced(t *testing.T) {
	e := newEnv(t, envOptions{readSize: 4096})
	ctx := context.Background()
	orig := randBytes(rand.New(rand.NewSource(3)), 100_000)
	v1 := e.put("f.bin", orig)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("f.bin"), Base: v1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	e.remote.Remote = &hookedDownload{Remote: e.remote.Remote, hook: func() {
		// What a metadata copy of the file does meanwhile: a new version
		// with the same bytes, the staged file rebased on it, the
		// replaced version deleted.
		v2 := e.put("f.bin", orig)
		f.RebaseCopy(backend.Object{FileID: v2.FileID}, v1.FileID, nil)
		if err := e.c.DeleteFileVersion(ctx, "f.bin", v1.FileID); err != nil {
			t.Error(err)
		}
	}}
	buf := make([]byte, 10)
	if _, err := f.ReadAt(ctx, buf, 10_000); err != nil {
		t.Fatalf("read while the base was replaced: %v", err)
	}
	if !bytes.Equal(buf, orig[10_000:10_010]) {
		t.Fatalf("read %q, want %q", buf, orig[10_000:10_010])
	}
}
