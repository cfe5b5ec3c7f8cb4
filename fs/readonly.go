package fs

import (
	"context"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readOnly is embedded by the nodes of the versions view: each operation
// that would change something answers EROFS.
type readOnly struct{}

func (readOnly) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Removexattr(ctx context.Context, attr string) syscall.Errno { return syscall.EROFS }

// readOnlyDir refuses every change to a directory's entries.
type readOnlyDir struct{ readOnly }

func (readOnlyDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnlyDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnlyDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (readOnlyDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnlyDir) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnlyDir) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
func (readOnlyDir) Rmdir(ctx context.Context, name string) syscall.Errno  { return syscall.EROFS }
func (readOnlyDir) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}

var (
	_ = (fusefs.NodeMkdirer)((*readOnlyDir)(nil))
	_ = (fusefs.NodeMknoder)((*readOnlyDir)(nil))
	_ = (fusefs.NodeCreater)((*readOnlyDir)(nil))
	_ = (fusefs.NodeSymlinker)((*readOnlyDir)(nil))
	_ = (fusefs.NodeLinker)((*readOnlyDir)(nil))
	_ = (fusefs.NodeUnlinker)((*readOnlyDir)(nil))
	_ = (fusefs.NodeRmdirer)((*readOnlyDir)(nil))
	_ = (fusefs.NodeRenamer)((*readOnlyDir)(nil))
	_ = (fusefs.NodeSetattrer)((*readOnly)(nil))
	_ = (fusefs.NodeSetxattrer)((*readOnly)(nil))
	_ = (fusefs.NodeRemovexattrer)((*readOnly)(nil))
)

// listHandle reads a listing got in one piece (the versions view's
// directories) and answers READDIRPLUS lookups with lookup.
type listHandle struct {
	dirReader
	lookup func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode
}

// newListHandle returns a listHandle over list.
func newListHandle(fsys *FS, list func(ctx context.Context) ([]cache.Entry, syscall.Errno), lookup func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode) *listHandle {
	get := func(ctx context.Context) ([]cache.Entry, error) {
		es, errno := list(ctx)
		if errno != 0 {
			return nil, errno
		}
		return es, nil
	}
	return &listHandle{dirReader: dirReader{fsys: fsys, h: vfs.NewListHandle(get)}, lookup: lookup}
}

var (
	_ = (fusefs.FileReaddirenter)((*listHandle)(nil))
	_ = (fusefs.FileLookuper)((*listHandle)(nil))
	_ = (fusefs.FileSeekdirer)((*listHandle)(nil))
)

func (h *listHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e, ok := h.h.Entry(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	ch := h.lookup(ctx, e, out)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	return ch, 0
}

// fmtPath names a B2 file in logs.
func fmtPath(b Bucket, name string) string { return b.Name + "/" + name }
