package fs

import (
	"context"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The persistent read cache (Options.ReadCache, package fs/readcache)
// sits under every read handle's ranged reads (see vfs.File.Open). A
// version whose content is entirely cached is opened with FUSE passthrough
// when Options.Passthrough is set: the kernel reads the cache file
// directly and READ requests never reach b2fs.
//
// The kernel (fs/fuse/iomode.c) puts an inode that has open files either
// in passthrough mode or in cached mode: while a passthrough file of the
// inode is open, every other open must be a passthrough open of the same
// backing file, and while a non-passthrough file is open (page cache or
// FOPEN_DIRECT_IO alike) a passthrough open fails; the failing open
// returns EIO to the caller. go-fuse keeps one backing file per inode,
// registered at the first passthrough open, and drops a reference to it
// at every RELEASE of the inode.
//
// So each fileNode counts its open handles of both kinds (ioPass, ioOther,
// under fileNode.mu, from OPEN to RELEASE, which the kernel sends after it
// has let go of the file, so the counts cover the kernel's):
//   - a passthrough open is made only while no other handle is open, and
//     only of the version the passthrough handles already open read or of
//     one with its content (same size and known SHA-1, or the same read
//     cache file), as their backing file is shared, or when none is open
//     and no other open waits for them;
//   - any other open waits, up to passWait, until the passthrough handles
//     are released (a closed file's RELEASE is usually in flight), and
//     fails with ETXTBSY (the reason logged) when one stays open.

// passWait bounds how long an open that cannot be a passthrough open waits
// for the passthrough handles of its file to be released.
const passWait = 5 * time.Second

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
	_ = (fusefs.FileGetattrer)((*passHandle)(nil))
	_ = (fusefs.FileFsyncer)((*passHandle)(nil))
)

// Fsync: the content is in B2 already; metadata changes not yet in B2 are
// sent.
func (h *passHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.fsys.errno("fsync "+h.path, h.node.f.Fsync(ctx))
}

func (h *passHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	fillAttr(h.node.f.VersionAttr(h.entry), &out.Attr)
	return 0
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

func (h *passHandle) Release(ctx context.Context) syscall.Errno {
	h.fd.Close()
	h.node.passClose()
	return 0
}

// openPass opens version e of n for passthrough when passthrough is on,
// the whole version is in the read cache and the kernel would accept it.
// A version with the content of the one the open passthrough handles read
// (a metadata copy of it, made while they are open) joins them: the
// kernel reads the backing file registered at the first of them, and the
// handle still reports e.
func (f *FS) openPass(n *fileNode, path string, e cache.Entry) (*passHandle, bool) {
	o := f.Options()
	if !o.Passthrough || o.ReadCache == nil || e.FileID == "" {
		return nil, false
	}
	v := passVersionOf(e)
	src, ok := n.passOK(v, nil)
	if !ok {
		return nil, false
	}
	fd, ok := o.ReadCache.OpenComplete(v.id, v.size, v.sha1)
	if !ok && src.id != v.id && src.sameContent(v) {
		// The copy's data may still be the read version's only.
		fd, ok = o.ReadCache.OpenComplete(src.id, src.size, src.sha1)
	}
	if !ok {
		return nil, false
	}
	fi, err := fd.Stat()
	if err != nil {
		fd.Close()
		return nil, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.passOKLocked(v, fi); !ok {
		fd.Close()
		return nil, false
	}
	io := n.ioLocked()
	if io.ioPass == 0 {
		io.pass, io.passFile = v, fi
	}
	io.ioPass++
	return &passHandle{fsys: f, node: n, path: path, entry: e, fd: fd}, true
}

// passVersion is what a passthrough open reads: a version's file ID and,
// when known, its content's size and SHA-1.
type passVersion struct {
	id   string
	size int64
	sha1 string
}

func passVersionOf(e cache.Entry) passVersion {
	return passVersion{id: e.FileID, size: e.Size, sha1: vfs.ContentSHA1(e)}
}

// sameContent reports whether v and w are known to have the same content.
func (v passVersion) sameContent(w passVersion) bool {
	return v.id == w.id || (v.sha1 != "" && v.sha1 == w.sha1 && v.size == w.size)
}

func (n *fileNode) passOK(v passVersion, fi os.FileInfo) (passVersion, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.passOKLocked(v, fi)
}

// passOKLocked reports whether a passthrough open of version v, whose
// read-cache file is fi (nil: not opened yet), may be made now, and the
// version the open passthrough handles read (v when none is open). It
// joins them when v has their content: the same known SHA-1 and size, or
// the same cache file (the read cache moves a version's file to a
// metadata copy made by this mount). Without fi, an open that may have
// their content is allowed, to be checked again with fi. n.mu is held.
func (n *fileNode) passOKLocked(v passVersion, fi os.FileInfo) (passVersion, bool) {
	io := n.io
	if io == nil {
		return v, true // nothing open, nothing waiting
	}
	if io.ioOther > 0 || time.Now().Before(io.otherUntil) {
		return v, false
	}
	if io.ioPass > 0 {
		// Joins the open ones: a process may hold one open while it
		// opens another, so this does not wait for waiting opens.
		if io.pass.sameContent(v) {
			return io.pass, true
		}
		if v.size != io.pass.size || (v.sha1 != "" && io.pass.sha1 != "") {
			return io.pass, false
		}
		return io.pass, fi == nil || (io.passFile != nil && os.SameFile(fi, io.passFile))
	}
	return v, io.otherWaiting == 0
}

// otherOpen records a non-passthrough handle of n being opened, once no
// passthrough handle of n is open (waiting up to passWait or until ctx
// ends for their release). Each successful call is undone by otherClose.
func (n *fileNode) otherOpen(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	io := n.ioLocked()
	if io.ioPass == 0 {
		io.ioOther++
		return 0
	}
	if io.passFree == nil {
		io.passFree = make(chan struct{})
	}
	io.otherWaiting++
	defer func() { io.otherWaiting-- }()
	timer := time.NewTimer(passWait)
	defer timer.Stop()
	for io.ioPass > 0 {
		free := io.passFree
		n.mu.Unlock()
		expired := false
		select {
		case <-free:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			expired = true
		}
		n.mu.Lock()
		if expired && io.ioPass > 0 {
			n.fsys.log.Warn("open refused: the file stays open for FUSE passthrough reading, and the kernel allows no other kind of open of it meanwhile", "file", n.path(), "waited", passWait)
			return syscall.ETXTBSY
		}
	}
	io.ioOther++
	return 0
}

// otherClose undoes an otherOpen; no passthrough open of the file is made
// for grace afterwards.
func (n *fileNode) otherClose(grace time.Duration) {
	n.mu.Lock()
	io := n.ioLocked()
	io.ioOther--
	if grace > 0 {
		io.otherUntil = time.Now().Add(grace)
	}
	n.mu.Unlock()
}

// otherGrace is how long after the release of a non-passthrough handle no
// passthrough open of the file is made when the release cannot be ordered
// after go-fuse's (a node tree served without WrapRaw, see
// releaseorder.go): long enough for go-fuse to drop its backing-file
// reference for that RELEASE. Opens meanwhile are served through b2fs.
const otherGrace = time.Second

// passClose records the release of a passthrough handle and wakes the
// opens waiting for the last one.
func (n *fileNode) passClose() {
	n.mu.Lock()
	defer n.mu.Unlock()
	io := n.ioLocked()
	io.ioPass--
	if io.ioPass == 0 && io.passFree != nil {
		close(io.passFree)
		io.passFree = nil
	}
}

// fileIO is the state of a file inode that has been opened. Its fields are
// guarded by the fileNode's mu.
type fileIO struct {
	// kernelID is the file ID whose bytes the kernel's page cache holds for
	// this inode ("" before the first open).
	kernelID string
	// ioPass and ioOther count the open handles in passthrough and in
	// any other mode, otherWaiting the opens waiting for the passthrough
	// handles, which read version pass, to be released; passFree is
	// closed when they are (see cached.go).
	ioPass, ioOther, otherWaiting int
	pass                          passVersion
	passFile                      os.FileInfo // pass's read-cache file
	passFree                      chan struct{}
	otherUntil                    time.Time // no passthrough open before (see otherGrace)
}

// ioLocked returns n's open state, made on first use. n.mu is held.
func (n *fileNode) ioLocked() *fileIO {
	if n.io == nil {
		n.io = &fileIO{}
	}
	return n.io
}
