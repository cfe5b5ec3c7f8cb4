package fs

import (
	"context"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// accountNode is the root of an account mount: one directory per bucket.
type accountNode struct {
	fusefs.Inode
	fsys *FS
	a    *vfs.Account
}

var (
	_ = (fusefs.NodeLookuper)((*accountNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*accountNode)(nil))
	_ = (fusefs.NodeGetattrer)((*accountNode)(nil))
	_ = (fusefs.NodeStatfser)((*accountNode)(nil))
	_ = (fusefs.NodeMkdirer)((*accountNode)(nil))
	_ = (fusefs.NodeRmdirer)((*accountNode)(nil))
	_ = (fusefs.NodeSetattrer)((*accountNode)(nil))
	_ = (fusefs.NodeCreater)((*accountNode)(nil))
	_ = (fusefs.NodeUnlinker)((*accountNode)(nil))
	_ = (fusefs.NodeRenamer)((*accountNode)(nil))
	_ = (fusefs.NodeSymlinker)((*accountNode)(nil))
	_ = (fusefs.NodeMknoder)((*accountNode)(nil))
	_ = (fusefs.NodeLinker)((*accountNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*accountNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*accountNode)(nil))
)

func (n *accountNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	d, err := n.a.Lookup(ctx, name)
	if err != nil {
		return nil, n.fsys.errno("lookup bucket "+name, err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, d, false, out), 0
}

func (n *accountNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{dirReader: dirReader{fsys: n.fsys, h: n.a.Opendir()}, parent: n.EmbeddedInode(), dir: n.a,
		child: func(e cache.Entry) vfs.Node { return n.a.Child(e) }}, 0, 0
}

func (n *accountNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillAttr(n.a.Attr(), &out.Attr)
	return 0
}

func (n *accountNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	fillStatfs(n.fsys.Statfs(), out)
	return 0
}

// Mkdir at the account root creates a private bucket.
func (n *accountNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	d, err := n.a.Mkdir(ctx, name, mode)
	if err != nil {
		return nil, n.fsys.errno("create bucket "+name, err)
	}
	return n.fsys.inode(ctx, n.EmbeddedInode(), name, d, false, out), 0
}

// Rmdir at the account root deletes an empty bucket.
func (n *accountNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.fsys.errno("delete bucket "+name, n.a.Rmdir(ctx, name))
}

func (n *accountNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	a, err := n.a.Setattr(ctx, toSetAttr(in))
	if err != nil {
		return n.fsys.errno("setattr", err)
	}
	fillAttr(a, &out.Attr)
	return 0
}

// Files, symlinks, special files and hard links cannot live at the
// account root, and buckets are not renamed.
func (n *accountNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, n.fsys.errno("create", n.a.Refuse("create"))
}

func (n *accountNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.fsys.errno("unlink", n.a.Refuse("unlink"))
}

func (n *accountNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return n.fsys.errno("rename", n.a.Refuse("rename"))
}

func (n *accountNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, n.fsys.errno("symlink", n.a.Refuse("symlink"))
}

func (n *accountNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, n.fsys.errno("mknod", n.a.Refuse("mknod"))
}

func (n *accountNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, n.fsys.errno("link", n.a.Refuse("link"))
}

func (n *accountNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.fsys.errno("setxattr", n.a.RefuseXattr("setxattr"))
}

func (n *accountNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.fsys.errno("removexattr", n.a.RefuseXattr("removexattr"))
}
