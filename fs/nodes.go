package fs

import (
	"context"
	"io"
	"sync"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/readcache"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// This file holds the go-fuse-facing nodes. They stay thin: metadata comes
// from meta, data from rangeReader, errno values from toErrno.

// readOnly is embedded by every node: each operation that would change
// something answers EROFS until the write path exists.
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

// child returns the inode for entry e of the directory prefix in bucket b,
// reusing the existing child of parent when it has the same type (so that
// per-inode state such as the kernel cache's file ID survives), and fills
// out.
func (f *FS) child(ctx context.Context, parent *fusefs.Inode, b Bucket, prefix string, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
	f.entryAttr(e, &out.Attr)
	if e.Dir {
		f.dirEntryAttr(ctx, b, childDir(prefix, e.Name), fetchDirMeta(ctx), out)
	}
	if ch := parent.GetChild(e.Name); ch != nil {
		switch n := ch.Operations().(type) {
		case *dirNode:
			if e.Dir {
				return ch
			}
		case *fileNode:
			if !e.Dir && ch.StableAttr().Mode == entryType(e) {
				n.update(e)
				f.entryAttr(n.overlay(e), &out.Attr)
				return ch
			}
		}
	}
	if e.Dir {
		return parent.NewInode(ctx, &dirNode{fsys: f, bucket: b, prefix: childDir(prefix, e.Name)},
			fusefs.StableAttr{Mode: syscall.S_IFDIR})
	}
	ch := parent.NewInode(ctx, &fileNode{fsys: f, bucket: b, dir: prefix, entry: e},
		fusefs.StableAttr{Mode: entryType(e)})
	f.inodes.added(parent, e.Name) // bounded file inodes (inodecap.go)
	return ch
}

// accountNode is the root of an account mount: one directory per bucket.
type accountNode struct {
	fusefs.Inode
	readOnlyDir
	fsys *FS
}

var _ = (fusefs.NodeLookuper)((*accountNode)(nil))

func (n *accountNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	es, err := n.fsys.meta.buckets(ctx)
	if err != nil {
		return nil, n.fsys.errno("lookup bucket "+name, err)
	}
	e, ok := cache.Find(es, name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.bucketChild(ctx, e, out), 0
}

func (n *accountNode) bucketChild(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
	n.fsys.dirAttr(&out.Attr)
	if ch := n.GetChild(e.Name); ch != nil {
		if d, ok := ch.Operations().(*dirNode); ok && d.bucket.ID == e.FileID {
			return ch
		}
	}
	return n.NewInode(ctx, &dirNode{fsys: n.fsys, bucket: Bucket{ID: e.FileID, Name: e.Name}},
		fusefs.StableAttr{Mode: syscall.S_IFDIR})
}

var _ = (fusefs.NodeOpendirHandler)((*accountNode)(nil))

func (n *accountNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{
		list: listAll(func(ctx context.Context) ([]cache.Entry, syscall.Errno) {
			es, err := n.fsys.meta.buckets(ctx)
			if err != nil {
				return nil, n.fsys.errno("list buckets", err)
			}
			return es, 0
		}),
		lookup: func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
			return n.bucketChild(ctx, e, out)
		},
	}, 0, 0
}

var _ = (fusefs.NodeGetattrer)((*accountNode)(nil))

func (n *accountNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.dirAttr(&out.Attr)
	return 0
}

var _ = (fusefs.NodeStatfser)((*accountNode)(nil))

func (n *accountNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	n.fsys.statfs(out)
	return 0
}

// dirNode is a directory: a bucket's root or a folder inside it.
type dirNode struct {
	fusefs.Inode
	readOnlyDir
	fsys *FS

	locMu  sync.Mutex // guards bucket and prefix (a rename changes them); use loc()
	bucket Bucket
	prefix string // "" or ending in "/"

	kdir kernelDirCache // whether the kernel may cache the entries (dircache.go)
}

var _ = (fusefs.NodeLookuper)((*dirNode)(nil))

func (n *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	b, prefix := n.loc()
	if name == n.fsys.opts.VersionsDir && n.fsys.viewAt(b, prefix) {
		return n.fsys.viewEntry(ctx, n.EmbeddedInode(), b, prefix, out), 0
	}
	if sf := n.fsys.staged(b, childName(prefix, name)); sf != nil {
		return n.fsys.child(ctx, n.EmbeddedInode(), b, prefix, stagedEntry(name, sf), out), 0
	}
	e, ok, err := n.fsys.meta.lookup(ctx, b, prefix, name)
	if err != nil {
		return nil, n.fsys.errno("lookup "+b.Name+"/"+childName(prefix, name), err)
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	return n.fsys.child(ctx, n.EmbeddedInode(), b, prefix, e, out), 0
}

var _ = (fusefs.NodeOpendirHandler)((*dirNode)(nil))

func (n *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	b, prefix := n.loc()
	return &dirHandle{
		list: func(ctx context.Context, c dirCursor) (dirCursor, syscall.Errno) {
			c, err := n.fsys.streamStep(ctx, b, prefix, c)
			if err != nil {
				return c, n.fsys.errno("list "+b.Name+"/"+prefix, err)
			}
			return c, 0
		},
		lookup: func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode {
			if e.Name == n.fsys.opts.VersionsDir && n.fsys.viewAt(b, prefix) {
				return n.fsys.viewEntry(ctx, n.EmbeddedInode(), b, prefix, out) // shadows a real folder
			}
			return n.fsys.child(withoutDirFetch(ctx), n.EmbeddedInode(), b, prefix, e, out)
		},
		fsync: func(ctx context.Context) syscall.Errno {
			err := n.fsys.flushMetaWhere(ctx, func(fb Bucket, dir string) bool { return fb.ID == b.ID && dir == prefix })
			if err != nil {
				return n.fsys.werrno("fsync "+fmtPath(b, prefix), err)
			}
			return 0
		},
	}, n.kdir.openFlags(n.fsys.meta.cache, dirKey(b, prefix)), 0 // see dircache.go
}

var _ = (fusefs.NodeGetattrer)((*dirNode)(nil))

func (n *dirNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.dirAttr(&out.Attr)
	b, prefix := n.loc()
	n.fsys.dirMeta(ctx, b, prefix, true, &out.Attr)
	n.fsys.applyDirTimes(b, prefix, &out.Attr)
	return 0
}

var _ = (fusefs.NodeStatfser)((*dirNode)(nil))

func (n *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	n.fsys.statfs(out)
	return 0
}

// dirHandle streams a directory listing (sorted by name when complete at
// the start, else in B2's order as pages arrive; see FS.streamStep) and
// answers READDIRPLUS lookups from the entries received. The listing is
// fetched on the first read, not at open: opening a directory (fchdir,
// O_DIRECTORY opens by find and du) costs nothing. list is called again
// whenever the reader has used every entry received so far, until it
// reports the listing complete.
type dirHandle struct {
	list   func(ctx context.Context, c dirCursor) (dirCursor, syscall.Errno)
	lookup func(ctx context.Context, e cache.Entry, out *fuse.EntryOut) *fusefs.Inode
	fsync  func(ctx context.Context) syscall.Errno // nil: nothing to do

	mu  sync.Mutex // guards the fields below (go-fuse also serializes calls per handle)
	cur dirCursor
	gen uint64 // bumped by a rewind
	pos uint64 // 0 ".", 1 "..", 2+i cur.entries[i]
}

// dirCursor is a reader's progress through one listing.
type dirCursor struct {
	entries []cache.Entry // returned so far, in order; only appended to
	byName  []cache.Entry // the entries known, sorted by name (for lookups)
	done    bool          // entries is the complete listing
	stream  *dirStream    // the listing being read (nil: not started)
	seen    int           // pages of the stream used
	started bool          // lastKey is set
	lastKey string        // b2Key of the last entry returned
}

// listAll is a dirHandle list function for a listing got in one piece.
func listAll(get func(ctx context.Context) ([]cache.Entry, syscall.Errno)) func(context.Context, dirCursor) (dirCursor, syscall.Errno) {
	return func(ctx context.Context, c dirCursor) (dirCursor, syscall.Errno) {
		es, errno := get(ctx)
		if errno != 0 {
			return c, errno
		}
		return dirCursor{entries: es, byName: es, done: true}, 0
	}
}

// more makes entry p-2 available (or the listing complete). It is called
// with mu held and releases it around the listing, which may go to the
// network.
func (h *dirHandle) more(ctx context.Context, p uint64) syscall.Errno {
	for !h.cur.done && p-2 >= uint64(len(h.cur.entries)) {
		c, gen := h.cur, h.gen
		h.mu.Unlock()
		c, errno := h.list(ctx, c)
		h.mu.Lock()
		if errno != 0 {
			return errno
		}
		if h.gen == gen {
			h.cur = c
		}
	}
	return 0
}

var (
	_ = (fusefs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fusefs.FileLookuper)((*dirHandle)(nil))
	_ = (fusefs.FileSeekdirer)((*dirHandle)(nil))
)

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pos
	if p >= 2 {
		if errno := h.more(ctx, p); errno != 0 {
			return nil, errno
		}
	}
	var de fuse.DirEntry
	switch {
	case p == 0:
		de = fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR}
	case p == 1:
		de = fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR}
	case p-2 < uint64(len(h.cur.entries)):
		e := h.cur.entries[p-2]
		de = fuse.DirEntry{Name: e.Name, Mode: entryType(e)}
	default:
		return nil, 0
	}
	h.pos++
	de.Off = h.pos
	return &de, 0
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.mu.Lock()
	h.pos = off
	if off == 0 {
		// rewinddir sees a fresh (or freshly cached) listing
		h.cur = dirCursor{}
		h.gen++
	}
	h.mu.Unlock()
	return 0
}

func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	h.mu.Lock()
	es := h.cur.byName
	h.mu.Unlock()
	e, ok := cache.Find(es, name)
	if !ok {
		return nil, syscall.ENOENT
	}
	return h.lookup(ctx, e, out), 0
}

// fileNode is a file: one name in a bucket, currently at the version
// entry.FileID.
type fileNode struct {
	fusefs.Inode
	readOnly
	fsys *FS

	mu     sync.Mutex // guards the fields below
	bucket Bucket     // bucket, dir and entry.Name change on rename; use loc()
	dir    string     // the parent's prefix
	entry  cache.Entry
	// kernelID is the file ID whose bytes the kernel's page cache holds for
	// this inode ("" before the first open).
	kernelID string
	// pend is the metadata change not yet in B2 (see metaflush.go).
	pend *pendingMeta
	// created: this mount created the file at a name B2 did not have;
	// ownIDs are the versions it stored there since (see ownversions.go).
	created  bool
	ownIDs   []string
	ownEmpty map[string]bool // the empty ones among ownIDs
	// ioPass and ioCached count the open handles in passthrough and in
	// cached mode (see cached.go).
	ioPass, ioCached int
}

// update records a newer view of the file (from a listing or lookup). When
// its version changed, the kernel's cached pages are dropped.
func (n *fileNode) update(e cache.Entry) {
	n.mu.Lock()
	old := n.entry.FileID
	n.entry = e
	stale := n.kernelID != "" && n.kernelID != e.FileID
	n.mu.Unlock()
	if old != "" && old != e.FileID {
		n.fsys.keptForget(old) // a new version: the local copy is stale
	}
	if stale {
		// Never notify from inside an operation on this inode: the kernel
		// may hold locks the notification needs.
		go n.NotifyContent(0, 0)
	}
}

func (n *fileNode) current() cache.Entry {
	// A fresher view may be in the cache (a later listing of the parent).
	b, dir, name := n.loc()
	if e, r := n.fsys.meta.cache.Lookup(dirKey(b, dir), name); r == cache.Found && !e.Dir {
		n.mu.Lock()
		changed := e.FileID != n.entry.FileID
		n.mu.Unlock()
		if changed {
			n.update(e)
		}
		return n.overlay(e)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.overlayLocked(n.entry)
}

func (n *fileNode) name() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.entry.Name
}

var _ = (fusefs.NodeGetattrer)((*fileNode)(nil))

func (n *fileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if sf := n.stagedFile(); sf != nil {
		_, _, name := n.loc()
		n.fsys.fileAttr(n.stagedView(name, sf), &out.Attr)
		return 0
	}
	if h, ok := fh.(*fileHandle); ok {
		n.fsys.fileAttr(h.entry, &out.Attr)
		return 0
	}
	if h, ok := fh.(*passHandle); ok {
		n.fsys.fileAttr(h.entry, &out.Attr)
		return 0
	}
	n.fsys.fileAttr(n.current(), &out.Attr)
	return 0
}

var _ = (fusefs.NodeOpener)((*fileNode)(nil))

func (n *fileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0 || n.stagedFile() != nil {
		h, fl, errno := n.openStaged(ctx, flags)
		return h, n.passFlags(fl), errno
	}
	e := n.current()
	n.mu.Lock()
	keep := n.kernelID == e.FileID
	n.kernelID = e.FileID
	n.mu.Unlock()
	var fuseFlags uint32
	if keep {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE
	}
	b, dir, _ := n.loc()
	path := b.Name + "/" + childName(dir, e.Name)
	if h, ok := n.fsys.openPass(n, path, e); ok {
		return h, fuseFlags, 0
	}
	fsys, id := n.fsys, e.FileID
	var fetch fetchFunc = func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		return fsys.opts.Backend.OpenRange(ctx, b, id, off, length)
	}
	fetch = fetchFunc(fsys.opts.ReadCache.Wrap(id, e.Size, readcache.FetchFunc(fetch)))
	h := &fileHandle{
		fsys:   n.fsys,
		node:   n,
		path:   path,
		entry:  e,
		reader: newRangeReader(e.Size, fetch, n.fsys.opts.Read),
	}
	fuseFlags, h.counted = n.cachedOpen(fuseFlags)
	return h, fuseFlags, 0
}

// fileHandle reads one version of a file.
type fileHandle struct {
	fsys    *FS
	node    *fileNode
	path    string
	entry   cache.Entry
	reader  *rangeReader
	counted bool // in node.ioCached (see cached.go)
}

var (
	_ = (fusefs.FileReader)((*fileHandle)(nil))
	_ = (fusefs.FileReleaser)((*fileHandle)(nil))
	_ = (fusefs.FileFlusher)((*fileHandle)(nil))
)

func (h *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b, err := h.reader.read(ctx, dest, off)
	if err != nil {
		return nil, readErrno(h.fsys.log, "read "+h.path, err)
	}
	return fuse.ReadResultData(b), 0
}

func (h *fileHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

func (h *fileHandle) Release(ctx context.Context) syscall.Errno {
	h.reader.close()
	if h.counted {
		h.node.cachedClose()
	}
	return 0
}
