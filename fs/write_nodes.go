package fs

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/staging"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sync/errgroup"
)

// This file holds the go-fuse operations that change the tree. They stay
// thin: staging does the data, WriteBackend the B2 calls.

const renameNoReplace = 0x1 // RENAME_NOREPLACE

// loc returns the directory's bucket and prefix (a rename changes them).
func (n *dirNode) loc() (Bucket, string) {
	n.locMu.Lock()
	defer n.locMu.Unlock()
	return n.bucket, n.prefix
}

func (n *dirNode) setLoc(b Bucket, prefix string) {
	n.locMu.Lock()
	n.bucket, n.prefix = b, prefix
	n.locMu.Unlock()
}

// loc returns the file's bucket, parent prefix and name.
func (n *fileNode) loc() (Bucket, string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bucket, n.dir, n.entry.Name
}

func (n *fileNode) setLoc(b Bucket, dir, name string) {
	n.mu.Lock()
	n.bucket, n.dir, n.entry.Name = b, dir, name
	n.mu.Unlock()
}

// stagedFile returns the staged file of n, or nil.
func (n *fileNode) stagedFile() *staging.File {
	b, dir, name := n.loc()
	return n.fsys.staged(b, childName(dir, name))
}

var _ = (fusefs.NodeCreater)((*dirNode)(nil))

func (n *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if e := n.fsys.writable("create", capWrite); e != 0 {
		return nil, nil, 0, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != 0 {
		return nil, nil, 0, e
	}
	if name == EmptyMarker {
		return nil, nil, 0, syscall.EINVAL // reserved for directory markers
	}
	var base *staging.Base
	if n.fsys.staged(b, childName(prefix, name)) == nil {
		// The kernel calls Create when it believes the name is free; if B2
		// has it after all, O_EXCL fails and otherwise the file is opened.
		e, ok, err := n.fsys.meta.lookup(ctx, b, prefix, name)
		if err != nil {
			return nil, nil, 0, n.fsys.errno("create "+fmtPath(b, childName(prefix, name)), err)
		}
		if ok {
			if e.Dir {
				return nil, nil, 0, syscall.EISDIR
			}
			if flags&syscall.O_EXCL != 0 {
				return nil, nil, 0, syscall.EEXIST
			}
			if ch := n.GetChild(name); ch != nil {
				if fn, ok := ch.Operations().(*fileNode); ok {
					e = fn.overlay(e) // metadata changes not yet in B2
				}
			}
			base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info}
		}
	}
	sf, err := n.fsys.opts.Write.Staging.Open(ctx, staging.OpenOptions{
		Key: stagingKey(b, childName(prefix, name)), Base: base, Truncate: flags&syscall.O_TRUNC != 0,
		Info: n.fsys.newInfo(ctx, b, prefix, syscall.S_IFREG|mode&0o7777),
	})
	if err != nil {
		return nil, nil, 0, n.fsys.werrno("create "+fmtPath(b, childName(prefix, name)), err)
	}
	e := stagedEntry(name, sf)
	node := &fileNode{fsys: n.fsys, bucket: b, dir: prefix, entry: e, created: base == nil}
	ch := n.NewInode(ctx, node, fusefs.StableAttr{Mode: syscall.S_IFREG})
	n.fsys.fileAttr(e, &out.Attr)
	n.fsys.changed(b, prefix, name, &e)
	if base == nil {
		n.fsys.entriesChanged(b, prefix)
	}
	h := &writeHandle{fsys: n.fsys, node: node, f: sf, write: true, append: flags&syscall.O_APPEND != 0}
	return ch, h, 0, 0
}

var _ = (fusefs.NodeMkdirer)((*dirNode)(nil))

func (n *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("mkdir", capWrite); e != 0 {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != 0 {
		return nil, e
	}
	marker := childDir(prefix, name) + EmptyMarker
	mo, err := n.fsys.putMarker(ctx, b, marker, n.fsys.newInfo(ctx, b, prefix, syscall.S_IFDIR|mode&0o7777))
	if err != nil {
		return nil, n.fsys.werrno("mkdir "+fmtPath(b, marker), err)
	}
	n.fsys.meta.cache.PutEntry(markerKey(b, childDir(prefix, name)), entryFromObject(EmptyMarker, mo))
	e := cache.Entry{Name: name, Dir: true}
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	// The new directory is empty: lookups of the names about to be created
	// in it need no list call.
	n.fsys.meta.cache.PutListing(dirKey(b, childDir(prefix, name)), nil)
	return n.fsys.child(ctx, n.EmbeddedInode(), b, prefix, e, out), 0
}

var _ = (fusefs.NodeRmdirer)((*dirNode)(nil))

func (n *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.fsys.isViewName(n, name) {
		return syscall.EROFS
	}
	if e := n.fsys.writable("rmdir", n.fsys.removeCaps()...); e != 0 {
		return e
	}
	b, prefix := n.loc()
	dir := childDir(prefix, name)
	if len(n.fsys.opts.Write.Staging.Under(b.ID, dir, false)) > 0 {
		return syscall.ENOTEMPTY
	}
	p, err := n.fsys.opts.Backend.ListDir(ctx, b, dir, "", 2)
	if err != nil {
		return n.fsys.werrno("rmdir "+fmtPath(b, dir), err)
	}
	marker := false
	for _, o := range p.Objects {
		if o.Name != dir+EmptyMarker {
			return syscall.ENOTEMPTY
		}
		marker = true
	}
	if p.Next != "" {
		return syscall.ENOTEMPTY
	}
	// Without a marker the directory existed only through the files in it
	// and went away with the last of them: nothing is left to remove.
	if marker {
		if err := n.fsys.remove(ctx, b, dir+EmptyMarker); err != nil {
			return n.fsys.werrno("rmdir "+fmtPath(b, dir), err)
		}
	}
	n.fsys.changed(b, prefix, name, nil)
	n.fsys.meta.cache.InvalidateDir(dirKey(b, dir))
	n.fsys.forgetMarker(b, dir)
	n.fsys.entriesChanged(b, prefix)
	n.fsys.dirRemoved(b, dir)
	return 0
}

var _ = (fusefs.NodeUnlinker)((*dirNode)(nil))

func (n *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.fsys.isViewName(n, name) {
		return syscall.EROFS
	}
	if e := n.fsys.writable("unlink", n.fsys.removeCaps()...); e != 0 {
		return e
	}
	b, prefix := n.loc()
	full := childName(prefix, name)
	had := n.fsys.opts.Write.Staging.Detach(stagingKey(b, full))
	e, ok, err := n.fsys.meta.lookup(ctx, b, prefix, name)
	if err != nil {
		return n.fsys.errno("unlink "+fmtPath(b, full), err)
	}
	switch {
	case ok && e.Dir:
		return syscall.EISDIR
	case ok && e.FileID != "":
		n.fsys.keptForget(e.FileID)
		if ch := n.GetChild(name); ch != nil {
			if fn, ok := ch.Operations().(*fileNode); ok {
				n.fsys.dropMeta(ctx, fn)
			}
		}
		if err := n.fsys.remove(ctx, b, full); err != nil {
			return n.fsys.werrno("unlink "+fmtPath(b, full), err)
		}
	case !had:
		return syscall.ENOENT
	}
	n.fsys.changed(b, prefix, name, nil)
	n.fsys.entriesChanged(b, prefix)
	return 0
}

var _ = (fusefs.NodeRenamer)((*dirNode)(nil))

func (n *dirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^uint32(renameNoReplace) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	dst, ok := newParent.(*dirNode)
	switch {
	case !ok && isViewNode(newParent), ok && n.fsys.isViewName(dst, newName), n.fsys.isViewName(n, name):
		return syscall.EROFS // into, onto or of the versions view
	case !ok:
		return syscall.EPERM // into the account root: buckets are made with mkdir
	}
	caps := append([]string{capWrite}, n.fsys.removeCaps()...)
	if e := n.fsys.writable("rename", caps...); e != 0 {
		return e
	}
	sb, sp := n.loc()
	db, dp := dst.loc()
	if e := checkNewName(dp, newName); e != 0 {
		return e
	}
	sf := n.fsys.staged(sb, childName(sp, name))
	e, ok, err := n.fsys.meta.lookup(ctx, sb, sp, name)
	if err != nil {
		return n.fsys.errno("rename "+fmtPath(sb, childName(sp, name)), err)
	}
	if !ok && sf == nil {
		return syscall.ENOENT
	}
	te, tok, err := n.fsys.meta.lookup(ctx, db, dp, newName)
	if err != nil {
		return n.fsys.errno("rename "+fmtPath(db, childName(dp, newName)), err)
	}
	tok = tok || n.fsys.staged(db, childName(dp, newName)) != nil
	if tok && flags&renameNoReplace != 0 {
		return syscall.EEXIST
	}
	if ok && e.Dir {
		if tok && !te.Dir {
			return syscall.ENOTDIR
		}
		return n.renameDir(ctx, name, dst, newName)
	}
	if tok && te.Dir {
		return syscall.EISDIR
	}
	if newName == EmptyMarker {
		return syscall.EINVAL // reserved for directory markers
	}
	if ch := dst.GetChild(newName); ch != nil && tok {
		if tn, ok := ch.Operations().(*fileNode); ok {
			n.fsys.dropMeta(ctx, tn) // the file is being replaced
		}
	}
	return n.renameFile(ctx, name, e, sf, dst, newName, tok)
}

// renameFile copies the file on the server, then removes the source. A
// file being written is uploaded first.
func (n *dirNode) renameFile(ctx context.Context, name string, e cache.Entry, sf *staging.File, dst *dirNode, newName string, replaces bool) syscall.Errno {
	tok := replaces
	sb, sp := n.loc()
	db, dp := dst.loc()
	src := Object{Name: childName(sp, name), FileID: e.FileID, Size: e.Size}
	if sf != nil {
		before, _, _, _ := sf.Uploaded()
		if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
			return n.fsys.werrno("rename: upload "+fmtPath(sb, childName(sp, name)), err)
		}
		id, size, _, _ := sf.Uploaded()
		if id != before {
			n.fsys.log.Debug("uploaded before rename", "file", fmtPath(sb, childName(sp, name)))
		}
		src.FileID, src.Size = id, size
	}
	if src.FileID == "" {
		return syscall.ENOENT
	}
	// Metadata changes not yet in B2 ride on the rename's copy.
	var fn *fileNode
	if ch := n.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	var pm *pendingMeta
	var meta *CopyMeta
	if fn != nil {
		p, err := n.fsys.claimMeta(ctx, fn)
		if err != nil {
			return n.fsys.werrno("rename "+fmtPath(sb, src.Name), err)
		}
		if p != nil && p.base != src.FileID {
			n.fsys.releaseMeta(fn, p, "", nil) // superseded by a newer version
		} else if p != nil {
			pm, meta = p, &CopyMeta{ContentType: p.ct, Info: p.info}
		}
	}
	obj, err := n.fsys.opts.Write.Backend.Copy(ctx, src, db, childName(dp, newName), meta)
	if pm != nil {
		n.fsys.releaseMeta(fn, pm, obj.FileID, err)
	}
	if err != nil {
		return n.fsys.werrno("rename "+fmtPath(sb, src.Name), err)
	}
	if meta != nil && obj.Info == nil {
		obj.Info = meta.Info
	}
	n.fsys.keptRekey(src.FileID, obj.FileID)
	// The source's only version, made by this mount (a temporary file of
	// rsync or an editor), lives on in the copy: delete it rather than
	// leave it stored behind a hide marker.
	if fn != nil && fn.onlyOwnVersion(src.FileID) && n.fsys.deleteVersion(ctx, sb, src.Name, src.FileID, "renamed") {
		n.fsys.log.Debug("rename: deleted the source's only version", "file", fmtPath(sb, src.Name))
	} else if err := n.fsys.remove(ctx, sb, src.Name); err != nil {
		return n.fsys.werrno("rename: remove source "+fmtPath(sb, src.Name), err)
	}
	n.fsys.opts.Write.Staging.Rename(stagingKey(sb, src.Name), stagingKey(db, childName(dp, newName)), &staging.Version{FileID: obj.FileID})
	ne := entryFromObject(newName, obj)
	if fn != nil {
		fn.setLoc(db, dp, newName)
		fn.setCreated(!tok, obj.FileID)
		fn.update(ne)
		ne = fn.overlay(ne)
	}
	n.fsys.changed(sb, sp, name, nil)
	n.fsys.changed(db, dp, newName, &ne)
	n.fsys.entriesChanged(sb, sp)
	n.fsys.entriesChanged(db, dp)
	return 0
}

// renameDir moves every file under the directory: server-side copies, then
// removal of the sources, with bounded concurrency. Directories with more
// than MaxRenameFiles files fail with EXDEV (mv then copies file by file).
func (n *dirNode) renameDir(ctx context.Context, name string, dst *dirNode, newName string) syscall.Errno {
	w := &n.fsys.opts.Write
	sb, sp := n.loc()
	db, dp := dst.loc()
	from, to := childDir(sp, name), childDir(dp, newName)
	if sb.ID == db.ID && strings.HasPrefix(to, from) {
		return syscall.EINVAL
	}
	// The target, if it exists, must be an empty directory.
	p, err := n.fsys.opts.Backend.ListDir(ctx, db, to, "", 2)
	if err != nil {
		return n.fsys.werrno("rename "+fmtPath(db, to), err)
	}
	for _, o := range p.Objects {
		if o.Name != to+EmptyMarker {
			return syscall.ENOTEMPTY
		}
	}
	if p.Next != "" || len(w.Staging.Under(db.ID, to, false)) > 0 {
		return syscall.ENOTEMPTY
	}
	// Files being written inside go up first, and metadata changes not
	// yet in B2 with them (the copies keep each file's info).
	if err := n.fsys.flushMetaWhere(ctx, func(b Bucket, dir string) bool {
		return b.ID == sb.ID && strings.HasPrefix(dir, from)
	}); err != nil {
		return n.fsys.werrno("rename "+fmtPath(sb, from), err)
	}
	for _, sf := range w.Staging.Under(sb.ID, from, false) {
		if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
			return n.fsys.werrno("rename: upload "+sf.Key().String(), err)
		}
	}
	objs, err := w.Backend.ListAll(ctx, sb, from, w.MaxRenameFiles)
	if err != nil {
		return n.fsys.werrno("rename "+fmtPath(sb, from), err)
	}
	if len(objs) > w.MaxRenameFiles {
		n.fsys.log.Error("directory too big to rename on the server; raise --max-rename-files", "dir", fmtPath(sb, from), "limit", w.MaxRenameFiles)
		return syscall.EXDEV
	}
	big := len(objs) >= 1000
	if big {
		n.fsys.log.Info("renaming directory", "from", fmtPath(sb, from), "to", fmtPath(db, to), "files", len(objs))
	}
	copies := make([]Object, len(objs))
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.RenameConcurrency)
	for i, o := range objs {
		g.Go(func() error {
			c, err := w.Backend.Copy(gctx, o, db, to+o.Name[len(from):], nil)
			if err != nil {
				return err
			}
			copies[i] = c
			if d := done.Add(1); big && d%1000 == 0 {
				n.fsys.log.Info("renaming directory: copied", "from", fmtPath(sb, from), "done", d, "of", len(objs))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		n.fsys.log.Error("directory rename failed while copying; the source is unchanged", "from", fmtPath(sb, from), "copied", done.Load(), "of", len(objs))
		return n.fsys.werrno("rename "+fmtPath(sb, from), err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(w.RenameConcurrency)
	for _, o := range objs {
		g.Go(func() error { return n.fsys.remove(gctx, sb, o.Name) })
	}
	if err := g.Wait(); err != nil {
		n.fsys.log.Error("directory rename: copied, but removing the source failed", "from", fmtPath(sb, from), "err", err)
		return n.fsys.werrno("rename "+fmtPath(sb, from), err)
	}
	if big {
		n.fsys.log.Info("renamed directory", "from", fmtPath(sb, from), "to", fmtPath(db, to), "files", len(objs))
	}
	// Open files follow their names.
	byName := make(map[string]Object, len(objs))
	for i, o := range objs {
		byName[o.Name] = copies[i]
	}
	for _, sf := range w.Staging.Under(sb.ID, from, false) {
		old := sf.Key().Name
		var v *staging.Version
		if c, ok := byName[old]; ok {
			v = &staging.Version{FileID: c.FileID}
		}
		w.Staging.Rename(stagingKey(sb, old), stagingKey(db, to+old[len(from):]), v)
	}
	// Loaded nodes below the directory get their new names.
	if ch := n.GetChild(name); ch != nil {
		relocate(ch, db, to)
	}
	// Cached listings of both trees are stale.
	dirs := map[string]bool{from: true}
	for _, o := range objs {
		for i := len(from); i < len(o.Name); i++ {
			if o.Name[i] == '/' {
				dirs[o.Name[:i+1]] = true
			}
		}
	}
	for d := range dirs {
		n.fsys.meta.cache.InvalidateDir(dirKey(sb, d))
		n.fsys.meta.cache.InvalidateDir(dirKey(db, to+d[len(from):]))
		n.fsys.forgetMarker(sb, d)
		n.fsys.forgetMarker(db, to+d[len(from):])
	}
	n.fsys.changed(sb, sp, name, nil)
	ne := cache.Entry{Name: newName, Dir: true}
	n.fsys.changed(db, dp, newName, &ne)
	n.fsys.entriesChanged(sb, sp)
	n.fsys.entriesChanged(db, dp)
	n.fsys.dirRenamed(sb, from, db, to)
	return 0
}

// relocate gives the directory inode ch, and every loaded node below it,
// the location under prefix in bucket b.
func relocate(ch *fusefs.Inode, b Bucket, prefix string) {
	if d, ok := ch.Operations().(*dirNode); ok {
		d.setLoc(b, prefix)
	}
	for name, c := range ch.Children() {
		switch op := c.Operations().(type) {
		case *dirNode:
			relocate(c, b, childDir(prefix, name))
		case *fileNode:
			op.setLoc(b, prefix, name)
		}
	}
}

var (
	_ = (fusefs.NodeLinker)((*dirNode)(nil))
	_ = (fusefs.NodeSymlinker)((*dirNode)(nil))
	_ = (fusefs.NodeMknoder)((*dirNode)(nil))
)

// Link fails: B2 has no hard links (git then falls back to rename).
func (n *dirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("link"); e != 0 {
		return nil, e
	}
	b, prefix := n.loc()
	return nil, n.fsys.linkRefused(b, childName(prefix, name))
}

// Symlink stores a symbolic link (see posix_nodes.go).
func (n *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return n.symlink(ctx, target, name, out)
}

// Mknod creates regular files only (see posix_nodes.go).
func (n *dirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("mknod"); e != 0 {
		return nil, e
	}
	if isSpecialMode(mode) {
		return n.mknodSpecial(ctx, name, mode, dev, out)
	}
	return n.mknod(ctx, name, mode, out)
}

var _ = (fusefs.NodeMkdirer)((*accountNode)(nil))

// Mkdir at the account root creates a private bucket.
func (n *accountNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("create bucket", capWriteBuckets); e != 0 {
		return nil, e
	}
	if !validBucketName(name) {
		return nil, syscall.EINVAL
	}
	b, err := n.fsys.opts.Write.Backend.CreateBucket(ctx, name)
	if err != nil {
		return nil, n.fsys.werrno("create bucket "+name, err)
	}
	n.fsys.meta.cache.InvalidateDir(bucketsKey)
	return n.bucketChild(ctx, cache.Entry{Name: b.Name, Dir: true, FileID: b.ID}, out), 0
}

var _ = (fusefs.NodeRmdirer)((*accountNode)(nil))

// Rmdir at the account root deletes an empty bucket.
func (n *accountNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if e := n.fsys.writable("delete bucket", capDeleteBuckets); e != 0 {
		return e
	}
	es, err := n.fsys.meta.buckets(ctx)
	if err != nil {
		return n.fsys.errno("delete bucket "+name, err)
	}
	e, ok := cache.Find(es, name)
	if !ok {
		return syscall.ENOENT
	}
	b := Bucket{ID: e.FileID, Name: e.Name}
	if len(n.fsys.opts.Write.Staging.Under(b.ID, "", false)) > 0 {
		return syscall.ENOTEMPTY
	}
	if err := n.fsys.opts.Write.Backend.DeleteBucket(ctx, b); err != nil {
		return n.fsys.werrno("delete bucket "+name, err)
	}
	n.fsys.meta.cache.InvalidateDir(bucketsKey)
	return 0
}

// validBucketName checks B2's bucket name rules: 6 to 63 letters, digits
// and hyphens, not starting with "b2-".
func validBucketName(s string) bool {
	if len(s) < 6 || len(s) > 63 || strings.HasPrefix(strings.ToLower(s), "b2-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

var _ = (fusefs.NodeSetattrer)((*fileNode)(nil))

// Setattr truncates (size) and sets mode, owner and modification time
// (free while the file has changes not yet uploaded, else one
// metadata-replacing server-side copy).
func (n *fileNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := n.fsys.writable("setattr"); e != 0 {
		return e
	}
	b, dir, name := n.loc()
	full := childName(dir, name)
	// The handle's staged file, when there is one: it may be unlinked
	// (then nothing may reach B2) or renamed.
	handleFile := func() *staging.File {
		if h, ok := fh.(*writeHandle); ok {
			return h.f
		}
		return n.stagedFile()
	}
	if sz, ok := in.GetSize(); ok {
		if e := n.fsys.writable("truncate", capWrite); e != 0 {
			return e
		}
		if sf := handleFile(); sf != nil {
			if err := sf.Truncate(ctx, int64(sz)); err != nil {
				return n.fsys.werrno("truncate "+fmtPath(b, full), err)
			}
		} else if e := n.truncateClosed(ctx, int64(sz)); e != 0 {
			return e
		}
	}
	if e := n.setMeta(ctx, handleFile(), in); e != 0 {
		return e
	}
	return n.Getattr(ctx, fh, out)
}

// truncateClosed truncates a file no handle has open: stage, cut, upload.
func (n *fileNode) truncateClosed(ctx context.Context, size int64) syscall.Errno {
	b, dir, name := n.loc()
	e := n.current()
	var base *staging.Base
	if e.FileID != "" {
		base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info}
		if e.Size == size {
			return 0
		}
	}
	st := n.fsys.opts.Write.Staging
	sf, err := st.Open(ctx, staging.OpenOptions{Key: stagingKey(b, childName(dir, name)), Base: base, Truncate: size == 0})
	if err != nil {
		return n.fsys.werrno("truncate "+fmtPath(b, childName(dir, name)), err)
	}
	defer st.Release(sf)
	if err := sf.Truncate(ctx, size); err != nil {
		return n.fsys.werrno("truncate "+fmtPath(b, childName(dir, name)), err)
	}
	if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
		return n.fsys.werrno("truncate "+fmtPath(b, childName(dir, name)), err)
	}
	n.fsys.afterUpload(n, sf)
	return 0
}

// openStaged opens a handle on the staged copy of the file, staging it
// first: every open for writing, and every open while the file is staged.
func (n *fileNode) openStaged(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write || flags&syscall.O_TRUNC != 0 {
		if e := n.fsys.writable("open for writing", capWrite); e != 0 {
			return nil, 0, e
		}
	}
	b, dir, name := n.loc()
	st := n.fsys.opts.Write.Staging
	if st == nil {
		return nil, 0, syscall.EROFS
	}
	e := n.current()
	var base *staging.Base
	if e.FileID != "" {
		base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info}
	}
	sf, err := st.Open(ctx, staging.OpenOptions{Key: stagingKey(b, childName(dir, name)), Base: base, Truncate: flags&syscall.O_TRUNC != 0})
	if err != nil {
		return nil, 0, n.fsys.werrno("open "+fmtPath(b, childName(dir, name)), err)
	}
	return &writeHandle{fsys: n.fsys, node: n, f: sf, write: write, append: flags&syscall.O_APPEND != 0}, 0, 0
}

// afterUpload records the version sf uploaded for node n.
func (f *FS) afterUpload(n *fileNode, sf *staging.File) {
	b, dir, name := n.loc()
	e := stagedEntry(name, sf)
	n.noteOwnVersion(e.FileID, e.Size)
	f.supersedeMeta(n, e.FileID)
	if fx := sf.TakeMetaFixup(); fx != nil {
		// A large file streamed while being written: its final time and
		// whole-file SHA-1 go up as deferred metadata (one copy, folded
		// with any later chmod, utimes or rename of the file).
		e = f.deferInfo(n, e, fx)
	}
	n.update(e)
	f.changed(b, dir, name, &e)
}

// writeHandle is an open staged file.
type writeHandle struct {
	fsys   *FS
	node   *fileNode
	f      *staging.File
	write  bool
	append bool
	// emptyUp is the empty version of a new file this handle uploaded at
	// its last flush (see sync).
	emptyMu sync.Mutex // guards emptyUp
	emptyUp string
}

var (
	_ = (fusefs.FileReader)((*writeHandle)(nil))
	_ = (fusefs.FileWriter)((*writeHandle)(nil))
	_ = (fusefs.FileFlusher)((*writeHandle)(nil))
	_ = (fusefs.FileFsyncer)((*writeHandle)(nil))
	_ = (fusefs.FileReleaser)((*writeHandle)(nil))
	_ = (fusefs.FileGetattrer)((*writeHandle)(nil))
)

func (h *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(ctx, dest, off)
	if err != nil && err != io.EOF {
		return nil, readErrno(h.fsys.log, "read "+h.f.Key().String(), err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.write {
		return 0, syscall.EBADF
	}
	var n int
	var err error
	if h.append {
		n, err = h.f.Append(ctx, data)
	} else {
		n, err = h.f.WriteAt(ctx, data, off)
	}
	if err != nil {
		return uint32(n), h.fsys.werrno("write "+h.f.Key().String(), err)
	}
	return uint32(n), 0
}

// Flush uploads: the kernel ignores Release's result, so close(2) reports
// upload errors through Flush. The upload is not cancelled when the
// closing process is interrupted.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	if !h.write {
		return 0
	}
	return h.sync(ctx, "close")
}

func (h *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.sync(ctx, "fsync")
}

func (h *writeHandle) sync(ctx context.Context, op string) syscall.Errno {
	// Metadata changes not yet in B2 go up with the data, for free.
	if err := h.fsys.absorbMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.werrno(op+" "+h.f.Key().String(), err)
	}
	before, _, _, _ := h.f.Uploaded()
	// A streamed large file's final metadata is deferred (afterUpload).
	if err := h.f.FlushDeferMeta(context.WithoutCancel(ctx)); err != nil {
		return h.fsys.werrno(op+" "+h.f.Key().String(), err)
	}
	if after, _, _, _ := h.f.Uploaded(); after != before {
		h.fsys.afterUpload(h.node, h.f)
		// An empty version this mount uploaded moments ago (the first
		// close of "echo x > f", whose shell closes a duplicate of the
		// descriptor first) holds nothing worth keeping.
		h.emptyMu.Lock()
		prevEmpty := h.emptyUp
		h.emptyUp = ""
		if h.node.ownEmptyVersion(after) {
			h.emptyUp = after
		}
		h.emptyMu.Unlock()
		if before != "" && before == prevEmpty && h.node.ownEmptyVersion(before) {
			b, dir, name := h.node.loc()
			if h.fsys.deleteVersion(context.WithoutCancel(ctx), b, childName(dir, name), before, "empty, superseded") {
				h.node.forgetOwnVersion(before)
			}
		}
	}
	if op == "fsync" {
		if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
			return h.fsys.werrno(op+" "+h.f.Key().String(), err)
		}
	}
	return 0
}

func (h *writeHandle) Release(ctx context.Context) syscall.Errno {
	h.fsys.opts.Write.Staging.Release(h.f)
	return 0
}

func (h *writeHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	_, _, name := h.node.loc()
	h.fsys.fileAttr(h.node.stagedView(name, h.f), &out.Attr)
	return 0
}

var (
	_ = (fusefs.NodeSetattrer)((*dirNode)(nil))
	_ = (fusefs.NodeSetattrer)((*accountNode)(nil))
)

// Setattr on a directory stores mode, owner and modification time on its
// .bzEmpty marker (see posix_nodes.go).
func (n *dirNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := n.fsys.writable("setattr"); e != 0 {
		return e
	}
	b, prefix := n.loc()
	if e := n.fsys.setDirMeta(ctx, b, prefix, in); e != 0 {
		return e
	}
	return n.Getattr(ctx, fh, out)
}

// Setattr on the account root: see dirNode.Setattr.
func (n *accountNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if e := n.fsys.writable("setattr"); e != 0 {
		return e
	}
	return n.Getattr(ctx, fh, out)
}

var (
	_ = (fusefs.NodeSetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*fileNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*dirNode)(nil))
)

// Extended attributes in the user namespace are stored in file info (see
// posix_nodes.go); other namespaces (and so ACLs) are not supported.
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.fsys.writable("setxattr"); e != 0 {
		return e
	}
	return n.setxattr(ctx, attr, data, flags, false)
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if e := n.fsys.writable("removexattr"); e != 0 {
		return e
	}
	return n.setxattr(ctx, attr, nil, 0, true)
}

func (n *dirNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.fsys.writable("setxattr"); e != 0 {
		return e
	}
	return n.setxattr(ctx, attr, data, flags, false)
}

func (n *dirNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if e := n.fsys.writable("removexattr"); e != 0 {
		return e
	}
	return n.setxattr(ctx, attr, nil, 0, true)
}

var (
	_ = (fusefs.FileFsyncer)((*fileHandle)(nil))
	_ = (fusefs.FileFsyncer)((*dirHandle)(nil))
	_ = (fusefs.FileFsyncdirer)((*dirHandle)(nil))
)

// Fsync of a read-only handle on a file with nothing staged: the content is
// in B2 already; metadata changes not yet in B2 are sent.
func (h *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.node == nil {
		return 0
	}
	if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.werrno("fsync "+h.path, err)
	}
	return 0
}

// Fsync of a directory: directory changes reach B2 before the operation
// that made them returns; metadata changes of the files in it not yet in
// B2 are sent.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return h.Fsync(ctx, flags)
}

func (h *dirHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.fsync == nil {
		return 0
	}
	return h.fsync(context.WithoutCancel(ctx))
}

var (
	_ = (fusefs.NodeCreater)((*accountNode)(nil))
	_ = (fusefs.NodeUnlinker)((*accountNode)(nil))
	_ = (fusefs.NodeRenamer)((*accountNode)(nil))
)

// Files cannot live at the account root, and buckets are not renamed.
func (n *accountNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if e := n.fsys.writable("create"); e != 0 {
		return nil, nil, 0, e
	}
	return nil, nil, 0, syscall.EPERM
}

func (n *accountNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if e := n.fsys.writable("unlink"); e != 0 {
		return e
	}
	return syscall.EPERM
}

func (n *accountNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if e := n.fsys.writable("rename"); e != 0 {
		return e
	}
	return syscall.EPERM
}

var (
	_ = (fusefs.NodeSymlinker)((*accountNode)(nil))
	_ = (fusefs.NodeMknoder)((*accountNode)(nil))
	_ = (fusefs.NodeLinker)((*accountNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*accountNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*accountNode)(nil))
)

// Symlinks, special files and hard links cannot live at the account root
// either (only buckets do).
func (n *accountNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("symlink"); e != 0 {
		return nil, e
	}
	return nil, syscall.EPERM
}

func (n *accountNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("mknod"); e != 0 {
		return nil, e
	}
	return nil, syscall.EPERM
}

func (n *accountNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("link"); e != 0 {
		return nil, e
	}
	return nil, syscall.EPERM
}

// The account root has nowhere to store extended attributes.
func (n *accountNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if e := n.fsys.writable("setxattr"); e != 0 {
		return e
	}
	return syscall.ENOTSUP
}

func (n *accountNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if e := n.fsys.writable("removexattr"); e != 0 {
		return e
	}
	return syscall.ENOTSUP
}
