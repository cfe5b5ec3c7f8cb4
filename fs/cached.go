package fs

import (
	"context"
	"io"
	"os"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The persistent read cache (Options.ReadCache, package fs/readcache)
// sits under every file handle's ranged reads (fileNode.Open wraps the
// fetch function). A version whose content is entirely cached is opened
// with FUSE passthrough when Options.Passthrough is set: the kernel reads
// the cache file directly and READ requests never reach b2fs.
//
// The kernel refuses to have one inode open in passthrough and in cached
// (page cache) mode at once (the second open fails with EIO), so each
// fileNode counts its open handles of both kinds (ioPass, ioCached, under
// fileNode.mu): a passthrough open is only made while no cached-mode handle
// is open, and handles opened while a passthrough handle is open get
// FOPEN_DIRECT_IO, which takes no side.

// passHandle reads a version whose content is entirely in the read cache.
// With passthrough in effect the kernel reads fd itself; otherwise (kernel
// or privileges lack it) go-fuse sends READ requests, served from fd, whose
// blocks were all verified at open.
type passHandle struct {
	fsys  *FS
	node  *fileNode
	path  string
	entry cache.Entry
	fd    *os.File
}

var (
	_ = (fusefs.FilePassthroughFder)((*passHandle)(nil))
	_ = (fusefs.FileReader)((*passHandle)(nil))
	_ = (fusefs.FileReleaser)((*passHandle)(nil))
	_ = (fusefs.FileFlusher)((*passHandle)(nil))
)

func (h *passHandle) PassthroughFd() (int, bool) { return int(h.fd.Fd()), true }

func (h *passHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if !h.fsys.passWarned.Swap(true) {
		h.fsys.log.Info("FUSE passthrough not in effect (the kernel needs Linux 6.9+ and b2fs CAP_SYS_ADMIN); cached files are read through b2fs")
	}
	n, err := h.fd.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, readErrno(h.fsys.log, "read "+h.path+" (read cache)", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *passHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

var _ = (fusefs.FileFsyncer)((*passHandle)(nil))

// Fsync sends the file's pending metadata change, like a read-only handle
// of a file that is not cached (sync FILE opens read-only).
func (h *passHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.werrno("fsync "+h.path, err)
	}
	return 0
}

func (h *passHandle) Release(ctx context.Context) syscall.Errno {
	h.fd.Close()
	h.node.mu.Lock()
	h.node.ioPass--
	h.node.mu.Unlock()
	return 0
}

// openPass opens version e of n for passthrough when passthrough is on,
// the whole version is in the read cache and no cached-mode handle of n is
// open.
func (f *FS) openPass(n *fileNode, path string, e cache.Entry) (*passHandle, bool) {
	if !f.opts.Passthrough || f.opts.ReadCache == nil || e.FileID == "" {
		return nil, false
	}
	n.mu.Lock()
	busy := n.ioCached > 0
	n.mu.Unlock()
	if busy {
		return nil, false
	}
	fd, ok := f.opts.ReadCache.OpenComplete(e.FileID, e.Size, e.SHA1)
	if !ok {
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ioCached > 0 {
		fd.Close()
		return nil, false
	}
	n.ioPass++
	return &passHandle{fsys: f, node: n, path: path, entry: e, fd: fd}, true
}

// cachedOpen records a cached-mode handle of n being opened and returns
// the flags it needs: FOPEN_DIRECT_IO (and no count) while a passthrough
// handle of n is open.
func (n *fileNode) cachedOpen(flags uint32) (uint32, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ioPass > 0 {
		return (flags | fuse.FOPEN_DIRECT_IO) &^ fuse.FOPEN_KEEP_CACHE, false
	}
	n.ioCached++
	return flags, true
}

// passFlags adds FOPEN_DIRECT_IO to the flags of a handle not counted in
// ioCached (a staged one) while a passthrough handle of n is open.
func (n *fileNode) passFlags(flags uint32) uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ioPass > 0 {
		return (flags | fuse.FOPEN_DIRECT_IO) &^ fuse.FOPEN_KEEP_CACHE
	}
	return flags
}

// cachedClose undoes a counted cachedOpen.
func (n *fileNode) cachedClose() {
	n.mu.Lock()
	n.ioCached--
	n.mu.Unlock()
}

// keptRekey records that version newID, a server-side copy of oldID made
// by this mount (rename, metadata change), has oldID's content; oldID is
// gone.
func (f *FS) keptRekey(oldID, newID string) {
	f.opts.ReadCache.Alias(oldID, newID, true)
}

// keptForget drops version id from the read cache.
func (f *FS) keptForget(id string) {
	f.opts.ReadCache.Forget(id)
}
