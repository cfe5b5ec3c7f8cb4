package fs

import (
	"context"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/versions"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// currentName is the symlink in a history directory that points at the
// version the live tree shows.
const currentName = "current"

// viewHistory is VERSIONS/history (name "") or VERSIONS/history/PATH (name
// is the B2 name of PATH): PATH's versions and the names that ever
// existed below PATH.
type viewHistory struct {
	fusefs.Inode
	readOnlyDir
	viewBase
	name string
}

var (
	_ = (fusefs.NodeLookuper)((*viewHistory)(nil))
	_ = (fusefs.NodeOpendirHandler)((*viewHistory)(nil))
	_ = (fusefs.NodeGetattrer)((*viewHistory)(nil))
	_ = (fusefs.NodeStatfser)((*viewHistory)(nil))
)

// below is the prefix of the names below PATH.
func (n *viewHistory) below() string {
	if n.name == "" {
		return n.root
	}
	return n.name + "/"
}

func (n *viewHistory) dirChild(ctx context.Context, name string, out *fuse.EntryOut) *fusefs.Inode {
	n.fsys.viewDirAttr(&out.Attr)
	if ch := n.GetChild(name); ch != nil {
		if _, ok := ch.Operations().(*viewHistory); ok {
			return ch
		}
	}
	return n.NewInode(ctx, &viewHistory{viewBase: n.viewBase, name: vfs.ChildName(n.below(), name)},
		fusefs.StableAttr{Mode: syscall.S_IFDIR})
}

func (n *viewHistory) currentChild(ctx context.Context, target versions.Named, out *fuse.EntryOut) *fusefs.Inode {
	node := &viewCurrent{viewBase: n.viewBase, target: target.Name, mtime: viewCacheEntry("", target.Version, false)}
	node.attr(&out.Attr)
	if ch := n.GetChild(currentName); ch != nil {
		if c, ok := ch.Operations().(*viewCurrent); ok && c.target == target.Name {
			return ch
		}
	}
	return n.NewInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFLNK})
}

// lookup finds name among PATH's versions, its "current" link and the
// names below PATH.
func (n *viewHistory) lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if n.name != "" {
		h, err := n.fsys.View().History(ctx, n.bucket.ID, n.root, n.name)
		if err != nil {
			return nil, n.fsys.viewErrno("history of "+fmtPath(n.bucket, n.name), err)
		}
		for _, v := range h {
			if v.Name == name {
				return n.fsys.viewFileChild(ctx, n.EmbeddedInode(), n.viewBase, v.Name, v.Version, out), 0
			}
			if name == currentName && v.Current {
				return n.currentChild(ctx, v, out), 0
			}
		}
	}
	ok, err := n.fsys.View().HasHistory(ctx, n.bucket.ID, n.root, n.below(), name)
	if err != nil {
		return nil, n.fsys.viewErrno("history of "+fmtPath(n.bucket, vfs.ChildName(n.below(), name)), err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.dirChild(ctx, name, out), 0
}

func (n *viewHistory) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return n.lookup(ctx, name, out)
}

func (n *viewHistory) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return newListHandle(n.fsys, n.list, func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
		if ch, errno := n.lookup(ctx, e.Name, out); errno == 0 {
			return ch
		}
		// The listing that produced e is no longer cached and could
		// not be fetched again: answer from e itself (never nil).
		return n.entryChild(ctx, e, out)
	}), 0, 0
}

func (n *viewHistory) list(ctx context.Context) ([]cache.Entry, syscall.Errno) {
	var es []cache.Entry
	if n.name != "" {
		h, err := n.fsys.View().History(ctx, n.bucket.ID, n.root, n.name)
		if err != nil {
			return nil, n.fsys.viewErrno("history of "+fmtPath(n.bucket, n.name), err)
		}
		for _, v := range h {
			es = append(es, viewCacheEntry(v.Name, v.Version, false))
			if v.Current {
				cur := cache.Entry{Name: currentName, ModTime: v.Version.ModTime()}
				cur.SetInfo(vfs.SymlinkInfo(v.Name))
				es = append(es, cur)
			}
		}
	}
	names, err := n.fsys.View().HistoryChildren(ctx, n.bucket.ID, n.root, n.below())
	if err != nil {
		return nil, n.fsys.viewErrno("history of "+fmtPath(n.bucket, n.below()), err)
	}
	for _, name := range names {
		es = append(es, cache.Entry{Name: name, Dir: true})
	}
	return sortedEntries(es), 0
}

// entryChild makes the child for an entry of n's listing.
func (n *viewHistory) entryChild(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
	switch {
	case e.Dir:
		return n.dirChild(ctx, e.Name, out)
	case e.Name == currentName && e.FileID == "":
		if target, ok := vfs.SymlinkTarget(e); ok {
			return n.currentChild(ctx, versions.Named{Name: target, Version: backend.Object{Uploaded: e.ModTime}}, out)
		}
	}
	v := backend.Object{Name: n.name, FileID: e.FileID, Size: e.Size, ContentType: e.ContentType, SHA1: e.SHA1,
		Uploaded: e.ModTime, Info: e.Info(), Hidden: e.FileID == ""}
	return n.fsys.viewFileChild(ctx, n.EmbeddedInode(), n.viewBase, e.Name, v, out)
}

func (n *viewHistory) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.viewDirAttr(&out.Attr)
	return 0
}

// viewCurrent is a history directory's "current" link.
type viewCurrent struct {
	fusefs.Inode
	readOnly
	viewBase
	target string
	mtime  cache.Entry // the target's entry (for its times)
}

var (
	_ = (fusefs.NodeReadlinker)((*viewCurrent)(nil))
	_ = (fusefs.NodeGetattrer)((*viewCurrent)(nil))
)

func (n *viewCurrent) attr(out *fuse.Attr) {
	fillAttr(n.fsys.FileAttr(cache.Entry{Size: int64(len(n.target)), ModTime: n.mtime.ModTime}), out)
	out.Mode = syscall.S_IFLNK | 0o777
}

func (n *viewCurrent) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(n.target), 0
}

func (n *viewCurrent) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.attr(&out.Attr)
	return 0
}
