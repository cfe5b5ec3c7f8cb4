package fs

import (
	"context"
	"io"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// keptHandle reads a version whose content this mount uploaded and still
// has in the staging read cache (staging/keep.go): no download.
type keptHandle struct {
	fsys *FS
	node *fileNode
	path string
	fd   *os.File
}

var (
	_ = (fusefs.FileReader)((*keptHandle)(nil))
	_ = (fusefs.FileReleaser)((*keptHandle)(nil))
	_ = (fusefs.FileFlusher)((*keptHandle)(nil))
	_ = (fusefs.FileFsyncer)((*keptHandle)(nil))
)

func (h *keptHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.fd.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, readErrno(h.fsys.log, "read "+h.path+" (local copy)", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *keptHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *keptHandle) Release(ctx context.Context) syscall.Errno {
	h.fd.Close()
	return 0
}

func (h *keptHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.errno("fsync "+h.path, err)
	}
	return 0
}

// openKept opens version id of n from the read cache, if it is there.
func (f *FS) openKept(n *fileNode, path, id string, size int64) (*keptHandle, bool) {
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
	return &keptHandle{fsys: f, node: n, path: path, fd: fd}, true
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
