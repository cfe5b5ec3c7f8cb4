package fs

import (
	"context"
	"errors"
	"sort"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/versions"
	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The time-travel view: a read-only directory (Options.VersionsDir) at the
// root of each bucket of the mount, left out of the root's listing and
// reached by name. Its layout:
//
//	VERSIONS/at/TIME/...       the tree as it was at TIME (versions.ParseTime)
//	VERSIONS/history/PATH/     every version of PATH, named by upload time,
//	                           "current" (a symlink to the live version),
//	                           and PATH's children as further directories
//
// package versions computes the answers; these nodes turn them into
// inodes. Every change answers EROFS (readOnly, readOnlyDir).

// viewEntry returns the view's root for the bucket directory parent.
func (f *FS) viewEntry(ctx context.Context, parent *fusefs.Inode, b Bucket, root string, out *fuse.EntryOut) *fusefs.Inode {
	f.viewDirAttr(&out.Attr)
	if ch := parent.GetChild(f.Options().VersionsDir); ch != nil {
		if _, ok := ch.Operations().(*viewRoot); ok {
			return ch
		}
	}
	return parent.NewInode(ctx, &viewRoot{viewBase: viewBase{fsys: f, bucket: b, root: root}},
		fusefs.StableAttr{Mode: syscall.S_IFDIR})
}

// viewDirAttr fills out for a directory of the view's own making.
func (f *FS) viewDirAttr(out *fuse.Attr) {
	fillAttr(f.DirAttr(), out)
	out.Mode &^= 0o222
}

// viewErrno maps a view error; a refused listing is logged, since EACCES
// alone does not say which permission is missing.
func (f *FS) viewErrno(op string, err error) syscall.Errno {
	if errors.Is(err, ErrPermission) {
		f.log.Warn("the key may not list file versions", "op", op, "err", err)
	}
	return f.errno(op, err)
}

// viewBase is what every node of the view knows.
type viewBase struct {
	fsys   *FS
	bucket Bucket
	root   string // the mount's prefix in the bucket ("" or ending in "/")
}

func (v viewBase) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	fillStatfs(v.fsys.Statfs(), out)
	return 0
}

// Getxattr and Listxattr: the view's own directories and links have no
// extended attributes (ENOTSUP outside user.*: see xattrperf.go).
func (v viewBase) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	val, err := vfs.InfoXattr(nil, attr)
	if err != nil {
		return 0, v.fsys.errno("getxattr", err)
	}
	return copyXattr(dest, val)
}

func (v viewBase) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// staticDir lists fixed directory entries.
func staticDir(names ...string) []cache.Entry {
	es := make([]cache.Entry, len(names))
	for i, n := range names {
		es[i] = cache.Entry{Name: n, Dir: true}
	}
	return es
}

// viewRoot is VERSIONS: "at" and "history".
type viewRoot struct {
	fusefs.Inode
	readOnlyDir
	viewBase
}

var (
	_ = (fusefs.NodeGetxattrer)((*viewRoot)(nil))
	_ = (fusefs.NodeListxattrer)((*viewRoot)(nil))
	_ = (fusefs.NodeLookuper)((*viewRoot)(nil))
	_ = (fusefs.NodeOpendirHandler)((*viewRoot)(nil))
	_ = (fusefs.NodeGetattrer)((*viewRoot)(nil))
	_ = (fusefs.NodeStatfser)((*viewRoot)(nil))
)

func (n *viewRoot) child(ctx context.Context, name string, out *fuse.EntryOut) *fusefs.Inode {
	n.fsys.viewDirAttr(&out.Attr)
	if ch := n.GetChild(name); ch != nil {
		return ch
	}
	var node fusefs.InodeEmbedder
	if name == "at" {
		node = &viewAtList{viewBase: n.viewBase}
	} else {
		node = &viewHistory{viewBase: n.viewBase}
	}
	return n.NewInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFDIR})
}

func (n *viewRoot) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if name != "at" && name != "history" {
		return nil, syscall.ENOENT
	}
	return n.child(ctx, name, out), 0
}

func (n *viewRoot) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	es := staticDir("at", "history")
	return newListHandle(n.fsys, func(context.Context) ([]cache.Entry, syscall.Errno) { return es, 0 }, func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
		return n.child(ctx, e.Name, out)
	}), 0, 0
}

func (n *viewRoot) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.viewDirAttr(&out.Attr)
	return 0
}

// viewAtList is VERSIONS/at: any time can be entered by name; it lists
// nothing.
type viewAtList struct {
	fusefs.Inode
	readOnlyDir
	viewBase
}

var (
	_ = (fusefs.NodeLookuper)((*viewAtList)(nil))
	_ = (fusefs.NodeOpendirHandler)((*viewAtList)(nil))
	_ = (fusefs.NodeGetattrer)((*viewAtList)(nil))
)

func (n *viewAtList) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	t, err := versions.ParseTime(name)
	if err != nil {
		n.fsys.log.Debug("not a time of the versions view", "err", err)
		return nil, syscall.ENOENT
	}
	node := &viewTree{viewBase: n.viewBase, prefix: n.root, t: t}
	node.attr(&out.Attr)
	if ch := n.GetChild(name); ch != nil {
		return ch, 0
	}
	return n.NewInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (n *viewAtList) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return newListHandle(n.fsys, func(context.Context) ([]cache.Entry, syscall.Errno) { return nil, 0 }, func(context.Context, cache.Entry, *fuse.EntryOut) *fusefs.Inode { return nil }), 0, 0
}

func (n *viewAtList) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.viewDirAttr(&out.Attr)
	return 0
}

// viewTree is a directory of the tree at time t.
type viewTree struct {
	fusefs.Inode
	readOnlyDir
	viewBase
	prefix string
	t      time.Time
	marker backend.Object // the directory's .bzEmpty at t (zero if none)
}

var (
	_ = (fusefs.NodeLookuper)((*viewTree)(nil))
	_ = (fusefs.NodeOpendirHandler)((*viewTree)(nil))
	_ = (fusefs.NodeGetattrer)((*viewTree)(nil))
	_ = (fusefs.NodeGetxattrer)((*viewTree)(nil))
	_ = (fusefs.NodeListxattrer)((*viewTree)(nil))
)

// attr fills out as the live tree would have: the mount's directory
// defaults, or the marker's stored metadata.
func (n *viewTree) attr(out *fuse.Attr) {
	fillAttr(n.fsys.MarkerDirAttr(n.marker.FileID != "", n.marker.Info, n.marker.ModTime()), out)
}

// child returns the inode of entry e, reusing the existing one when it
// shows the same version.
func (n *viewTree) child(ctx context.Context, e versions.Entry, out *fuse.EntryOut) *fusefs.Inode {
	if e.Dir {
		node := &viewTree{viewBase: n.viewBase, prefix: vfs.ChildDir(n.prefix, e.Name), t: n.t, marker: e.Version}
		node.attr(&out.Attr)
		if ch := n.GetChild(e.Name); ch != nil {
			if d, ok := ch.Operations().(*viewTree); ok && d.marker.FileID == e.Version.FileID {
				return ch
			}
		}
		return n.NewInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	}
	return n.fsys.viewFileChild(ctx, n.EmbeddedInode(), n.viewBase, e.Name, e.Version, out)
}

func (n *viewTree) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	e, ok, err := n.fsys.View().LookupAt(ctx, n.bucket.ID, n.root, n.prefix, name, n.t)
	if err != nil {
		return nil, n.fsys.viewErrno("lookup "+fmtPath(n.bucket, vfs.ChildName(n.prefix, name))+" at "+n.t.String(), err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.child(ctx, e, out), 0
}

func (n *viewTree) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return newListHandle(n.fsys, func(ctx context.Context) ([]cache.Entry, syscall.Errno) {
		es, err := n.fsys.View().At(ctx, n.bucket.ID, n.root, n.prefix, n.t)
		if err != nil {
			return nil, n.fsys.viewErrno("list "+fmtPath(n.bucket, n.prefix)+" at "+n.t.String(), err)
		}
		out := make([]cache.Entry, len(es))
		for i, e := range es {
			out[i] = viewCacheEntry(e.Name, e.Version, e.Dir)
		}
		return out, 0
	}, func(ctx context.Context, ce cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
		// The listing just computed is cached: this finds it again.
		e, ok, err := n.fsys.View().LookupAt(ctx, n.bucket.ID, n.root, n.prefix, ce.Name, n.t)
		if err != nil || !ok {
			e = versions.Entry{Name: ce.Name, Dir: ce.Dir, Version: backend.Object{
				FileID: ce.FileID, Size: ce.Size, Uploaded: ce.ModTime, Info: ce.Info(), ContentType: ce.ContentType, SHA1: ce.SHA1}}
		}
		return n.child(ctx, e, out)
	}), 0, 0
}

func (n *viewTree) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.attr(&out.Attr)
	return 0
}

func (n *viewTree) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := vfs.InfoXattr(n.marker.Info, attr)
	if err != nil {
		return 0, n.fsys.errno("getxattr", err)
	}
	return copyXattr(dest, v)
}

func (n *viewTree) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return copyXattr(dest, vfs.InfoXattrNames(n.marker.Info))
}

// viewCacheEntry is the directory entry of a version called name.
func viewCacheEntry(name string, v backend.Object, dir bool) cache.Entry {
	if dir {
		return cache.Entry{Name: name, Dir: true}
	}
	e := cache.Entry{Name: name, Size: v.Size, ModTime: v.ModTime(), FileID: v.FileID,
		ContentType: v.ContentType, SHA1: v.SHA1}
	e.SetInfo(v.Info)
	if v.Hidden {
		e.FileID, e.Size, e.ModTime = "", 0, v.Uploaded
		e.SetInfo(nil)
	}
	return e
}

// sortedEntries sorts a listing by name, dropping later duplicates.
func sortedEntries(es []cache.Entry) []cache.Entry {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	out := es[:0]
	for i, e := range es {
		if i > 0 && e.Name == out[len(out)-1].Name {
			continue
		}
		out = append(out, e)
	}
	return out
}

// isViewNode reports whether n is a directory of the view.
func isViewNode(n fusefs.InodeEmbedder) bool {
	switch n.(type) {
	case *viewRoot, *viewAtList, *viewTree, *viewHistory:
		return true
	}
	return false
}
