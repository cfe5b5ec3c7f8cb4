package vfs

import (
	"context"
	"io"
	"os"

	"github.com/b2fs/b2fs/fs/errs"
)

// keptHandle reads a version whose content this mount uploaded and still
// has in the staging read cache (staging/keep.go): no download.
type keptHandle struct {
	fsys *FS
	node *File
	path string
	id   string // the version kept
	fd   *os.File
}

func (h *keptHandle) Read(ctx context.Context, dest []byte, off int64) (int, error) {
	n, err := h.fd.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return 0, readFailed("read "+h.path+" (local copy)", err)
	}
	return n, nil
}

func (h *keptHandle) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, errs.ErrBadHandle
}

func (h *keptHandle) Flush(ctx context.Context) error { return nil }

func (h *keptHandle) Release(ctx context.Context) error {
	h.fd.Close()
	return nil
}

func (h *keptHandle) Fsync(ctx context.Context) error {
	if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.opErr("fsync "+h.path, err)
	}
	return nil
}

// openKept opens version id of n from the read cache, if it is there.
func (f *FS) openKept(n *File, path, id string, size int64) (*keptHandle, bool) {
	st := f.opts.Write.Staging
	if st == nil || id == "" {
		return nil, false
	}
	fd, sz, ok := st.KeptOpen(id)
	if !ok {
		return nil, false
	}
	if sz != size {
		fd.Close()
		st.KeptForget(id)
		return nil, false
	}
	return &keptHandle{fsys: f, node: n, path: path, id: id, fd: fd}, true
}

// keptRekey moves the read cache's copy of version oldID to newID (a
// server-side copy of the same content).
func (f *FS) keptRekey(oldID, newID string) {
	if st := f.opts.Write.Staging; st != nil {
		st.KeptRekey(oldID, newID)
	}
}

// keptForget drops version id from the read cache.
func (f *FS) keptForget(id string) {
	if st := f.opts.Write.Staging; st != nil && id != "" {
		st.KeptForget(id)
	}
}
