package fs

import (
	"context"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// viewFile is one stored version (or hide marker: empty, no file ID) shown
// in the view. Its content never changes, so the kernel keeps its pages.
type viewFile struct {
	fusefs.Inode
	readOnly
	viewBase
	v *vfs.VersionFile
}

// viewFileChild returns parent's child called name showing version v,
// reusing the existing inode when it shows the same version.
func (f *FS) viewFileChild(ctx context.Context, parent *fusefs.Inode, base viewBase, name string, v backend.Object, out *fuse.EntryOut) *fusefs.Inode {
	e := viewCacheEntry(name, v, false)
	vf := f.VersionFile(base.bucket, v.Name, e)
	a := vf.Attr()
	fillAttr(a, &out.Attr)
	typ := a.Mode & syscall.S_IFMT
	if ch := parent.GetChild(name); ch != nil {
		if o, ok := ch.Operations().(*viewFile); ok && o.v.Entry().FileID == e.FileID && o.v.Entry().ModTime.Equal(e.ModTime) &&
			ch.StableAttr().Mode == typ {
			return ch
		}
	}
	return parent.NewInode(ctx, &viewFile{viewBase: base, v: vf}, fusefs.StableAttr{Mode: typ})
}

var (
	_ = (fusefs.NodeGetattrer)((*viewFile)(nil))
	_ = (fusefs.NodeOpener)((*viewFile)(nil))
	_ = (fusefs.NodeReadlinker)((*viewFile)(nil))
	_ = (fusefs.NodeGetxattrer)((*viewFile)(nil))
	_ = (fusefs.NodeListxattrer)((*viewFile)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*viewFile)(nil))
	_ = (fusefs.NodeStatfser)((*viewFile)(nil))
)

func (n *viewFile) path() string {
	return n.bucket.Name + "/" + n.v.Entry().Name
}

func (n *viewFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(n.v.Attr(), &out.Attr)
	return 0
}

func (n *viewFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	h, err := n.v.Open(ctx, flags)
	if err != nil {
		return nil, 0, n.fsys.errno("open "+n.path(), err)
	}
	return &viewHandle{fsys: n.fsys, path: n.path(), h: h}, fuse.FOPEN_KEEP_CACHE, 0
}

// Readlink answers from the version's b2fs-target, else its body.
func (n *viewFile) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.v.Readlink(ctx)
	if err != nil {
		return nil, n.fsys.errno("readlink "+n.path(), err)
	}
	return t, 0
}

func (n *viewFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.v.Getxattr(attr)
	if err != nil {
		return 0, n.fsys.errno("getxattr "+n.path(), err)
	}
	return copyXattr(dest, v)
}

func (n *viewFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return copyXattr(dest, n.v.Listxattr())
}

// CopyFileRange restores the version into an empty file of the live tree
// on the server (see vfs.VersionFile.CopyTo).
func (n *viewFile) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	on, ok := out.Operations().(*fileNode)
	h, ok2 := fhOut.(*handle)
	if !ok || !ok2 {
		return 0, syscall.EOPNOTSUPP
	}
	c, err := n.v.CopyTo(ctx, offIn, on.f, h.h, offOut, length, flags)
	if err != nil {
		return 0, n.fsys.errno("copy "+n.path()+" to "+on.path(), err)
	}
	return c, 0
}

// viewHandle reads one version.
type viewHandle struct {
	fsys *FS
	path string
	h    vfs.Handle
}

var (
	_ = (fusefs.FileReader)((*viewHandle)(nil))
	_ = (fusefs.FileReleaser)((*viewHandle)(nil))
)

func (h *viewHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if vr, ok := h.h.(vfs.VecReader); ok {
		if res, st, ok := readVec(ctx, vr, len(dest), off, func(err error) syscall.Errno { return h.fsys.errno("read "+h.path, err) }); ok {
			return res, st
		}
	}
	n, err := h.h.Read(ctx, dest, off)
	if err != nil {
		return nil, h.fsys.errno("read "+h.path, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *viewHandle) Release(ctx context.Context) syscall.Errno {
	return h.fsys.errno("release "+h.path, h.h.Release(ctx))
}

var _ = cache.Entry{}
