package fs

import (
	"context"
	"sync"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The go-fuse node tree. Each method converts its arguments, calls the
// vfs, and converts the result: errors become errno values (toErrno),
// attributes FUSE replies. What only the kernel needs (inodes, its page
// and directory caches, entry timeouts) lives here; everything else in
// package vfs.

// inode returns the inode for node n, child name of parent, reusing the
// existing child when it serves the same vfs node with the same type (so
// that per-inode state such as the kernel cache's file ID survives), and
// fills out. fetch: a directory's metadata may cost a list call (a
// lookup), else it is taken from the cache (READDIRPLUS).
func (f *FS) inode(ctx context.Context, parent *fusefs.Inode, name string, n vfs.Node, fetch bool, out *fuse.EntryOut) *fusefs.Inode {
	switch n := n.(type) {
	case *vfs.Dir:
		fillEntry(n.Attr(ctx, fetch), out)
		if ch := parent.GetChild(name); ch != nil {
			if d, ok := ch.Operations().(*dirNode); ok && d.d == n {
				return ch
			}
		}
		return parent.NewInode(ctx, &dirNode{fsys: f, d: n}, fusefs.StableAttr{Mode: syscall.S_IFDIR, Ino: n.Ino(), Gen: f.gen.Add(1)})
	case *vfs.File:
		a := n.Attr(ctx, nil)
		fillEntry(a, out)
		typ := a.Mode & syscall.S_IFMT
		if ch := parent.GetChild(name); ch != nil {
			if fn, ok := ch.Operations().(*fileNode); ok && fn.f == n && ch.StableAttr().Mode == typ {
				return ch
			}
		}
		fn := &fileNode{fsys: f, f: n}
		n.OnNewVersion(fn.newVersion)
		ch := parent.NewInode(ctx, fn, fusefs.StableAttr{Mode: typ, Ino: n.Ino(), Gen: f.gen.Add(1)})
		f.inodes.added(parent, name) // bounded file inodes (inodecap.go)
		return ch
	}
	return nil
}

// dirNode is a directory: a bucket's root or a folder inside it.
type dirNode struct {
	fusefs.Inode
	fsys *FS
	d    *vfs.Dir
	kdir kernelDirCache // whether the kernel may cache the entries (dircache.go)
}

var (
	_ = (fusefs.NodeLookuper)((*dirNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*dirNode)(nil))
	_ = (fusefs.NodeGetattrer)((*dirNode)(nil))
	_ = (fusefs.NodeStatfser)((*dirNode)(nil))
	_ = (fusefs.NodeCreater)((*dirNode)(nil))
	_ = (fusefs.NodeMkdirer)((*dirNode)(nil))
	_ = (fusefs.NodeRmdirer)((*dirNode)(nil))
	_ = (fusefs.NodeUnlinker)((*dirNode)(nil))
	_ = (fusefs.NodeRenamer)((*dirNode)(nil))
	_ = (fusefs.NodeLinker)((*dirNode)(nil))
	_ = (fusefs.NodeSymlinker)((*dirNode)(nil))
	_ = (fusefs.NodeMknoder)((*dirNode)(nil))
	_ = (fusefs.NodeSetattrer)((*dirNode)(nil))
	_ = (fusefs.NodeGetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeListxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*dirNode)(nil))
	_ = (fusefs.NodeOnForgetter)((*dirNode)(nil))
)

func (n *dirNode) path(name string) string {
	b, prefix := n.d.Loc()
	return b.Name + "/" + prefix + name
}

func (n *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if n.d.IsViewName(name) {
		b, prefix := n.d.Loc()
		return n.fsys.viewEntry(ctx, n.EmbeddedInode(), b, prefix, out), 0
	}
	c, err := n.d.Lookup(ctx, name)
	if err != nil {
		return nil, n.fsys.errno("lookup "+n.path(name), err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, c, true, out), 0
}

func (n *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	b, prefix := n.d.Loc()
	h := &dirHandle{dirReader: dirReader{fsys: n.fsys, h: n.d.Opendir()}, parent: n.EmbeddedInode(), dir: n.d, child: n.d.Child}
	return h, n.kdir.openFlags(n.fsys.Cache(), vfs.DirKey(b, prefix)), 0 // see dircache.go
}

func (n *dirNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(n.d.Attr(ctx, true), &out.Attr)
	return 0
}

func (n *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	fillStatfs(n.fsys.Statfs(), out)
	return 0
}

func (n *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	f, h, err := n.d.Create(withCaller(ctx), name, flags, mode)
	if err != nil {
		return nil, nil, 0, n.fsys.errno("create "+n.path(name), err)
	}
	ch := n.fsys.inode(ctx, n.EmbeddedInode(), name, f, false, out)
	fn := ch.Operations().(*fileNode)
	// A non-passthrough handle: see cached.go.
	if errno := fn.otherOpen(ctx); errno != 0 {
		h.Release(ctx)
		return nil, nil, 0, errno
	}
	return ch, &handle{fsys: n.fsys, node: fn, h: h}, 0, 0
}

func (n *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	d, err := n.d.Mkdir(withCaller(ctx), name, mode)
	if err != nil {
		return nil, n.fsys.errno("mkdir "+n.path(name), err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, d, false, out), 0
}

func (n *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fsys.errno("rmdir "+n.path(name), n.d.Rmdir(ctx, name))
}

func (n *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	uctx, done := n.fsys.Uninterruptible(ctx) // not stopped half-way by a signal
	defer done()
	return n.fsys.errno("unlink "+n.path(name), n.d.Unlink(uctx, name))
}

func (n *dirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	var dst vfs.Node
	switch p := newParent.(type) {
	case *dirNode:
		dst = p.d
	case *accountNode:
		dst = p.a
	default:
		if isViewNode(newParent) {
			return syscall.EROFS // into the versions view
		}
		return syscall.EXDEV
	}
	uctx, done := n.fsys.Uninterruptible(ctx) // not stopped half-way by a signal
	defer done()
	return n.fsys.errno("rename "+n.path(name), n.d.Rename(uctx, name, dst, newName, flags))
}

// Link fails: B2 has no hard links (git then falls back to rename).
func (n *dirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, n.fsys.errno("link "+n.path(name), n.d.Link(ctx, nil, name))
}

func (n *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	f, err := n.d.Symlink(withCaller(ctx), target, name)
	if err != nil {
		return nil, n.fsys.errno("symlink "+n.path(name), err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, f, false, out), 0
}

func (n *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	f, err := n.d.Mknod(withCaller(ctx), name, mode, dev)
	if err != nil {
		return nil, n.fsys.errno("mknod "+n.path(name), err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, f, false, out), 0
}

func (n *dirNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	a, err := n.d.Setattr(ctx, toSetAttr(in))
	if err != nil {
		return n.fsys.errno("setattr "+n.path(""), err)
	}
	fillAttr(a, &out.Attr)
	return 0
}

func (n *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.d.Getxattr(ctx, attr)
	if err != nil {
		return 0, n.fsys.errno("getxattr "+n.path(""), err)
	}
	return copyXattr(dest, v)
}

func (n *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	v, err := n.d.Listxattr(ctx)
	if err != nil {
		return 0, n.fsys.errno("listxattr "+n.path(""), err)
	}
	return copyXattr(dest, v)
}

func (n *dirNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.fsys.errno("setxattr "+n.path(""), n.d.Setxattr(ctx, attr, data, flags))
}

func (n *dirNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.fsys.errno("removexattr "+n.path(""), n.d.Removexattr(ctx, attr))
}

func (n *dirNode) OnForget() { n.fsys.Forget(n.d) }

// dirHandle reads a directory (see vfs.DirHandle) and answers READDIRPLUS
// lookups from the entries received.
type dirHandle struct {
	dirReader
	parent *fusefs.Inode
	dir    vfs.Node // the directory read
	child  func(e cache.Entry) vfs.Node
}

// dirReader serves READDIR(PLUS) entries and seeks of a vfs.DirHandle; the
// directory handles embed it.
type dirReader struct {
	fsys *FS
	h    *vfs.DirHandle
}

func (r *dirReader) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	de, err := r.h.Readdirent(ctx)
	if err != nil {
		return nil, r.fsys.errno("readdir", err)
	}
	if de == nil {
		return nil, 0
	}
	return &fuse.DirEntry{Name: de.Name, Mode: de.Mode, Off: de.Off}, 0
}

func (r *dirReader) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	r.h.Seekdir(off)
	return 0
}

var (
	_ = (fusefs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fusefs.FileLookuper)((*dirHandle)(nil))
	_ = (fusefs.FileSeekdirer)((*dirHandle)(nil))
	_ = (fusefs.FileFsyncer)((*dirHandle)(nil))
	_ = (fusefs.FileFsyncdirer)((*dirHandle)(nil))
)

func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e, ok := h.h.Entry(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	if d, ok := h.dir.(*vfs.Dir); ok && d.IsViewName(e.Name) {
		b, prefix := d.Loc()
		return h.fsys.viewEntry(ctx, h.parent, b, prefix, out), 0 // shadows a real folder
	}
	// Listing a directory must not cost a call per subdirectory: their
	// metadata comes from the cache (the kernel asks with GETATTR when it
	// needs it).
	return h.fsys.inode(ctx, h.parent, name, h.child(e), false, out), 0
}

func (h *dirHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.fsys.errno("fsync", h.h.Fsync(ctx))
}

func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return h.Fsync(ctx, flags)
}

// fileNode is a file.
type fileNode struct {
	fusefs.Inode
	fsys *FS
	f    *vfs.File

	mu sync.Mutex // guards io
	io *fileIO    // nil until the first open (most inodes are never opened)
}

var (
	_ = (fusefs.NodeGetattrer)((*fileNode)(nil))
	_ = (fusefs.NodeOpener)((*fileNode)(nil))
	_ = (fusefs.NodeSetattrer)((*fileNode)(nil))
	_ = (fusefs.NodeReadlinker)((*fileNode)(nil))
	_ = (fusefs.NodeGetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeListxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*fileNode)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*fileNode)(nil))
	_ = (fusefs.NodeOnForgetter)((*fileNode)(nil))
)

func (n *fileNode) path() string {
	b, dir, name := n.f.Loc()
	return b.Name + "/" + dir + name
}

// newVersion drops the kernel's cached pages when they are of another
// version than the file's new one.
func (n *fileNode) newVersion(old, id string) {
	n.mu.Lock()
	stale := n.io != nil && n.io.kernelID != "" && n.io.kernelID != id
	n.mu.Unlock()
	if stale {
		n.NotifyContent(0, 0)
	}
}

func (n *fileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*passHandle); ok {
		// fh may be any open handle of the inode (see vfs.File.VersionAttr).
		fillAttr(n.f.VersionAttr(h.entry), &out.Attr)
		return 0
	}
	var h vfs.Handle
	if fh, ok := fh.(*handle); ok {
		h = fh.h
	}
	fillAttr(n.f.Attr(ctx, h), &out.Attr)
	return 0
}

func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	e, version := n.f.ReadsVersion(flags)
	var fuseFlags uint32
	if version {
		// One version of B2, read as it is: the kernel keeps what it
		// cached of it while the file ID is unchanged.
		n.mu.Lock()
		io := n.ioLocked()
		keep := io.kernelID == e.FileID
		io.kernelID = e.FileID
		n.mu.Unlock()
		if keep {
			fuseFlags |= fuse.FOPEN_KEEP_CACHE
		}
		if h, ok := n.fsys.openPass(n, n.path(), e); ok {
			return h, fuseFlags, 0
		}
	}
	// Every handle but a passthrough one, staged ones too, is counted:
	// while one is open, a passthrough open would fail in the kernel, and
	// it cannot be opened while a passthrough one is (see cached.go).
	if errno := n.otherOpen(ctx); errno != 0 {
		return nil, 0, errno
	}
	h, err := n.f.Open(ctx, flags)
	if err != nil {
		n.otherClose(0) // no handle: nothing for go-fuse to release
		return nil, 0, n.fsys.errno("open "+n.path(), err)
	}
	return &handle{fsys: n.fsys, node: n, h: h}, fuseFlags, 0
}

func (n *fileNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var h vfs.Handle
	if fh, ok := fh.(*handle); ok {
		h = fh.h
	}
	a, err := n.f.Setattr(ctx, h, toSetAttr(in))
	if err != nil {
		return n.fsys.errno("setattr "+n.path(), err)
	}
	fillAttr(a, &out.Attr)
	return 0
}

func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.f.Readlink(ctx)
	if err != nil {
		return nil, n.fsys.errno("readlink "+n.path(), err)
	}
	return t, 0
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.f.Getxattr(ctx, attr)
	if err != nil {
		return 0, n.fsys.errno("getxattr "+n.path(), err)
	}
	return copyXattr(dest, v)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	v, err := n.f.Listxattr(ctx)
	if err != nil {
		return 0, n.fsys.errno("listxattr "+n.path(), err)
	}
	return copyXattr(dest, v)
}

func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.fsys.errno("setxattr "+n.path(), n.f.Setxattr(ctx, attr, data, flags))
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.fsys.errno("removexattr "+n.path(), n.f.Removexattr(ctx, attr))
}

// CopyFileRange (copy_file_range(2), which cp uses): see
// vfs.File.CopyFileRange.
func (n *fileNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	on, ok := out.Operations().(*fileNode)
	h, ok2 := fhOut.(*handle)
	if !ok || !ok2 {
		return 0, syscall.EOPNOTSUPP
	}
	c, err := n.f.CopyFileRange(ctx, offIn, on.f, h.h, offOut, length, flags)
	if err != nil {
		return 0, n.fsys.errno("copy "+n.path()+" to "+on.path(), err)
	}
	return c, 0
}

func (n *fileNode) OnForget() { n.fsys.Forget(n.f) }

// handle is an open file (see vfs.Handle).
type handle struct {
	fsys *FS
	node *fileNode
	h    vfs.Handle
}

var (
	_ = (fusefs.FileReader)((*handle)(nil))
	_ = (fusefs.FileWriter)((*handle)(nil))
	_ = (fusefs.FileFlusher)((*handle)(nil))
	_ = (fusefs.FileFsyncer)((*handle)(nil))
	_ = (fusefs.FileReleaser)((*handle)(nil))
	_ = (fusefs.FileGetattrer)((*handle)(nil))
)

func (h *handle) op(what string) string { return what + " " + h.node.path() }

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if vr, ok := h.h.(vfs.VecReader); ok {
		if res, st, ok := readVec(ctx, vr, len(dest), off, func(err error) syscall.Errno { return h.fsys.errno(h.op("read"), err) }); ok {
			return res, st
		}
	}
	n, err := h.h.Read(ctx, dest, off)
	if err != nil {
		return nil, h.fsys.errno(h.op("read"), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.h.Write(ctx, data, off)
	if err != nil {
		return uint32(n), h.fsys.errno(h.op("write"), err)
	}
	return uint32(n), 0
}

// Flush uploads: the kernel ignores Release's result, so close(2) reports
// upload errors through Flush. The upload is not cancelled when the
// closing process is interrupted.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	return h.fsys.errno(h.op("close"), h.h.Flush(ctx))
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.fsys.errno(h.op("fsync"), h.h.Fsync(ctx))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	err := h.h.Release(ctx)
	// Recorded once go-fuse has dropped its backing-file reference for
	// this RELEASE (it drops one at every RELEASE of the inode; see
	// releaseorder.go), after the vfs release (which may take a while: a
	// staged copy is adopted into the read cache).
	if !h.fsys.rel.afterRelease(ctx, func() { h.node.otherClose(0) }) {
		h.node.otherClose(otherGrace)
	}
	return h.fsys.errno(h.op("release"), err)
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	fillAttr(h.node.f.Attr(ctx, h.h), &out.Attr)
	return 0
}
