package vfs

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// memWrite is a WriteBackend over a memBackend's files.
type memWrite struct{ m *memBackend }

func (w memWrite) PutEmpty(ctx context.Context, b Bucket, name string) (Object, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	w.m.files[name] = nil
	return Object{Name: name, FileID: "id-" + name}, nil
}

func (w memWrite) Hide(ctx context.Context, b Bucket, name string) error {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	delete(w.m.files, name)
	return nil
}

func (w memWrite) DeleteAll(ctx context.Context, b Bucket, name string) error {
	return w.Hide(ctx, b, name)
}

func (w memWrite) Copy(ctx context.Context, src Object, dst Bucket, name string, meta *CopyMeta) (Object, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	d, ok := w.m.files[strings.TrimPrefix(src.FileID, "id-")]
	if !ok {
		return Object{}, ErrNotFound
	}
	w.m.files[name] = append([]byte(nil), d...)
	return Object{Name: name, FileID: "id-" + name, Size: int64(len(d))}, nil
}

func (w memWrite) ListAll(ctx context.Context, b Bucket, prefix string, limit int) ([]Object, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	var out []Object
	for n, d := range w.m.files {
		if strings.HasPrefix(n, prefix) {
			out = append(out, Object{Name: n, FileID: "id-" + n, Size: int64(len(d))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (w memWrite) CreateBucket(ctx context.Context, name string) (Bucket, error) {
	return Bucket{ID: name, Name: name}, nil
}

func (w memWrite) DeleteBucket(ctx context.Context, b Bucket) error { return nil }

// writeFS is a writable filesystem over be.
func writeFS(t *testing.T, be *memBackend) *FS {
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
		Write: WriteOptions{Staging: sm, Backend: memWrite{be}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRenameFlags: RENAME_NOREPLACE onto an existing name fails with
// EEXIST, RENAME_EXCHANGE (and any other flag) with EINVAL; neither
// changes anything. A plain rename replaces the target.
func TestRenameFlags(t *testing.T) {
	const noReplace, exchange, whiteout = 1, 2, 4
	ctx := context.Background()
	be := newMemBackend("src", "dst")
	f := writeFS(t, be)
	root := f.Root().(*Dir)
	unchanged := func(what string) {
		t.Helper()
		be.mu.Lock()
		defer be.mu.Unlock()
		if string(be.files["src"]) != "data of src" || string(be.files["dst"]) != "data of dst" {
			t.Fatalf("%s changed the files: %q", what, be.files)
		}
	}
	if e := root.Rename(ctx, "src", root, "dst", noReplace); !errors.Is(e, errs.ErrExist) {
		t.Fatalf("RENAME_NOREPLACE onto an existing file: %v, want EEXIST", e)
	}
	unchanged("RENAME_NOREPLACE")
	for _, fl := range []uint32{exchange, whiteout, exchange | noReplace} {
		if e := root.Rename(ctx, "src", root, "dst", fl); !errors.Is(e, errs.ErrInvalid) {
			t.Fatalf("rename flags %#x: %v, want EINVAL", fl, e)
		}
		unchanged("rename with unsupported flags")
	}
	if e := root.Rename(ctx, "src", root, "new", noReplace); e != nil {
		t.Fatalf("RENAME_NOREPLACE onto a free name: %v", e)
	}
	if e := root.Rename(ctx, "new", root, "dst", 0); e != nil {
		t.Fatalf("plain rename: %v", e)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if string(be.files["dst"]) != "data of src" || len(be.files) != 1 {
		t.Fatalf("after the renames: %q", be.files)
	}
}
