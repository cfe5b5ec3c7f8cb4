package vfs

import (
	"context"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// This file holds the operations that change a directory's entries:
// staging does the data, WriteBackend the B2 calls.

// Lookup returns the child called name: a *Dir or a *File. The versions
// view (Options.VersionsDir) is not a child: the caller serves it.
func (n *Dir) Lookup(ctx context.Context, name string) (Node, error) {
	if n.isGone() {
		return nil, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	b, prefix := n.loc()
	if sf := n.fsys.staged(b, childName(prefix, name)); sf != nil {
		return n.fsys.child(b, prefix, stagedEntry(name, sf)), nil
	}
	e, ok, err := n.fsys.lookup(ctx, b, prefix, name)
	if err != nil {
		return nil, n.fsys.opErr("lookup "+fmtPath(b, childName(prefix, name)), err)
	}
	if !ok {
		return nil, errs.ErrNotExist
	}
	return n.fsys.child(b, prefix, e), nil
}

// Child returns the node of entry e of a listing of n (READDIRPLUS).
func (n *Dir) Child(e cache.Entry) Node {
	b, prefix := n.loc()
	return n.fsys.child(b, prefix, e)
}

// Create creates (or, without O_EXCL, opens) the file name and returns it
// with a handle open for writing. flags are open(2)'s; mode the new file's
// permission bits after the umask.
func (n *Dir) Create(ctx context.Context, name string, flags uint32, mode uint32) (*File, Handle, error) {
	if n.isGone() {
		return nil, nil, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if e := n.fsys.writable("create", capWrite); e != nil {
		return nil, nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != nil {
		return nil, nil, e
	}
	if name == EmptyMarker {
		return nil, nil, errs.ErrInvalid // reserved for directory markers
	}
	o := staging.OpenOptions{
		Key: stagingKey(b, childName(prefix, name)), Truncate: flags&syscall.O_TRUNC != 0, Write: true,
		Info: n.fsys.newInfo(ctx, b, prefix, syscall.S_IFREG|mode&0o7777),
	}
	// The staged file first: B2's version is older than its content (see
	// staging.Manager.OpenStaged).
	st := n.fsys.opts.Write.Staging
	sf, err := st.OpenStaged(ctx, o)
	if err != nil {
		return nil, nil, n.fsys.opErr("create "+fmtPath(b, childName(prefix, name)), err)
	}
	var base *staging.Base
	if sf == nil {
		// The kernel calls Create when it believes the name is free; if B2
		// has it after all, O_EXCL fails and otherwise the file is opened.
		e, ok, err := n.fsys.lookup(ctx, b, prefix, name)
		if err != nil {
			return nil, nil, n.fsys.opErr("create "+fmtPath(b, childName(prefix, name)), err)
		}
		if ok {
			if e.Dir {
				return nil, nil, errs.ErrIsDir
			}
			if flags&syscall.O_EXCL != 0 {
				return nil, nil, errs.ErrExist
			}
			if fn := n.fsys.loadedFile(b, prefix, name); fn != nil {
				e = fn.overlay(e) // metadata changes not yet in B2
			}
			base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info()}
		}
		o.Base = base
		if sf, err = st.Open(ctx, o); err != nil {
			return nil, nil, n.fsys.opErr("create "+fmtPath(b, childName(prefix, name)), err)
		}
	}
	e := stagedEntry(name, sf)
	node := &File{fsys: n.fsys, bucket: b, dir: prefix, entry: e, ino: n.fsys.newIno(b, prefix+name)}
	if base == nil {
		node.own = &ownVersions{created: true}
	}
	n.fsys.putFile(node)
	n.fsys.changed(b, prefix, name, &e)
	if base == nil {
		n.fsys.entriesChanged(b, prefix)
	}
	h := &stagedHandle{fsys: n.fsys, node: node, f: sf, write: true, append: flags&syscall.O_APPEND != 0}
	return node, h, nil
}

// Mkdir creates the directory name (a .bzEmpty marker carrying its
// metadata).
func (n *Dir) Mkdir(ctx context.Context, name string, mode uint32) (*Dir, error) {
	if n.isGone() {
		return nil, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if e := n.fsys.writable("mkdir", capWrite); e != nil {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != nil {
		return nil, e
	}
	marker := childDir(prefix, name) + EmptyMarker
	info := n.fsys.newInfo(ctx, b, prefix, syscall.S_IFDIR|mode&0o7777)
	if n.fsys.writeBack() {
		// Pending, like a new file (wbmarkers.go).
		if _, err := n.fsys.stageMarker(ctx, b, childDir(prefix, name), "", info, time.Now()); err != nil {
			return nil, n.fsys.opErr("mkdir "+fmtPath(b, marker), err)
		}
	} else {
		mo, err := n.fsys.putMarker(ctx, b, marker, info)
		if err != nil {
			return nil, n.fsys.opErr("mkdir "+fmtPath(b, marker), err)
		}
		n.fsys.meta.Cache().PutEntry(markerKey(b, childDir(prefix, name)), entryFromObject(EmptyMarker, mo))
	}
	e := cache.Entry{Name: name, Dir: true}
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	// The new directory is empty: lookups of the names about to be created
	// in it need no list call.
	n.fsys.meta.Created(b, childDir(prefix, name))
	return n.fsys.dirNode(b, childDir(prefix, name)), nil
}

// Rmdir removes the empty directory name.
func (n *Dir) Rmdir(ctx context.Context, name string) error {
	if n.isGone() {
		return errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if n.fsys.isViewName(n, name) {
		return errs.ErrReadOnly
	}
	if e := n.fsys.writable("rmdir", n.fsys.removeCaps()...); e != nil {
		return e
	}
	b, prefix := n.loc()
	dir := childDir(prefix, name)
	// A directory removed keeps, for its open handles, the attributes it
	// had.
	var last Attr
	d := n.fsys.loadedDir(b, dir)
	if d != nil {
		last = d.Attr(ctx, false)
	}
	if n.fsys.hasPendingEntries(b, dir) {
		return errs.ErrNotEmpty
	}
	if done, err := n.rmdirPending(ctx, dir); done || err != nil {
		if err == nil {
			n.rmdirDone(ctx, name, dir, d, last)
		}
		return err
	}
	p, err := n.fsys.opts.Backend.ListDir(ctx, b, dir, "", 2)
	if err != nil {
		return n.fsys.opErr("rmdir "+fmtPath(b, dir), err)
	}
	marker := false
	for _, o := range p.Objects {
		if o.Name != dir+EmptyMarker {
			return errs.ErrNotEmpty
		}
		marker = true
	}
	if p.Next != "" {
		return errs.ErrNotEmpty
	}
	// Without a marker the directory existed only through the files in it
	// and went away with the last of them: nothing is left to remove.
	if marker {
		if err := n.fsys.remove(ctx, b, dir+EmptyMarker); err != nil {
			return n.fsys.opErr("rmdir "+fmtPath(b, dir), err)
		}
	}
	// A pending marker (replacing the one removed) goes too.
	n.fsys.opts.Write.Staging.Detach(stagingKey(b, dir+EmptyMarker))
	n.rmdirDone(ctx, name, dir, d, last)
	return nil
}

// rmdirDone records that directory name (prefix dir, node d if loaded,
// which showed last) was removed.
func (n *Dir) rmdirDone(ctx context.Context, name, dir string, d *Dir, last Attr) {
	b, prefix := n.loc()
	n.fsys.changed(b, prefix, name, nil)
	n.fsys.invalidateDir(b, dir)
	n.fsys.forgetMarker(b, dir)
	n.fsys.entriesChanged(b, prefix)
	n.fsys.dirRemoved(b, dir)
	if d != nil {
		n.fsys.dirGone(d, last)
	}
}

// Unlink removes the file name (hides it, or deletes every version with
// HardDelete). A handle open on it keeps working; nothing it writes
// reaches B2.
func (n *Dir) Unlink(ctx context.Context, name string) error {
	if n.isGone() {
		return errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if n.fsys.isViewName(n, name) {
		return errs.ErrReadOnly
	}
	if e := n.fsys.writable("unlink", n.fsys.removeCaps()...); e != nil {
		return e
	}
	b, prefix := n.loc()
	full := childName(prefix, name)
	var u unlinking
	// What an open handle of the file shows once it is gone.
	u.fn = n.fsys.loadedFile(b, prefix, name)
	if u.fn != nil {
		u.last, u.lastSF = u.fn.lastEntry(), u.fn.stagedFile()
	}
	// Taken before the lookup (see unlinkDone); open handles keep using it.
	u.sf = n.fsys.staged(b, full)
	if n.fsys.writeBack() {
		return n.unlinkPending(ctx, name, u)
	}
	u.had, u.base = n.fsys.opts.Write.Staging.DetachVersion(stagingKey(b, full))
	e, ok, err := n.fsys.lookup(ctx, b, prefix, name)
	if err != nil {
		return n.fsys.opErr("unlink "+fmtPath(b, full), err)
	}
	switch {
	case ok && e.Dir:
		return errs.ErrIsDir
	case ok && e.FileID != "":
		if err := n.removeShown(ctx, full, e.FileID, u); err != nil {
			return err
		}
		u.removed = e.FileID
	case !u.had:
		return errs.ErrNotExist
	}
	return n.unlinkDone(ctx, name, u)
}

// unlinking is what an unlink learns of the file as it goes.
type unlinking struct {
	// fn is the loaded file (nil if none); last and lastSF are what its
	// open handles keep showing (see File.setGone).
	fn     *File
	last   cache.Entry
	lastSF *staging.File
	// sf is the name's staged file, taken before the name is looked up.
	sf *staging.File
	// had and base are what staging.DetachVersion returned.
	had  bool
	base string
	// removed is the version the lookup showed, removed from B2 ("" if
	// none).
	removed string
}

// removeShown removes from B2 the version id of name (full) that the
// lookup showed, with the file's pending metadata change.
func (n *Dir) removeShown(ctx context.Context, full, id string, u unlinking) error {
	b, _ := n.loc()
	n.fsys.keptForget(id)
	if u.fn != nil {
		n.fsys.dropMeta(ctx, u.fn, u.sf)
	}
	if err := n.fsys.remove(ctx, b, full); err != nil {
		return n.fsys.opErr("unlink "+fmtPath(b, full), err)
	}
	return nil
}

// unlinkDone ends an unlink of name whose staged file, if any, is
// detached: the version that file was based on when it went (its own
// upload, when it had one) is removed from B2 unless the lookup showed it
// (u.removed, removed already), and the name is forgotten. The version
// may be one the lookup did not show: an upload that landed after the
// lookup read the name's entry. When the file was let go (uploaded, shown
// and closed) before DetachVersion, u.sf, taken before the lookup, still
// knows that version; taken after it, it could be gone while the lookup
// showed the file pending, and that version stayed visible.
func (n *Dir) unlinkDone(ctx context.Context, name string, u unlinking) error {
	b, prefix := n.loc()
	full := childName(prefix, name)
	if !u.had && u.sf != nil {
		u.base, _, _, _ = u.sf.Uploaded()
		u.had = true
	}
	if u.had && u.base != "" && u.base != u.removed {
		n.fsys.keptForget(u.base)
		if err := n.fsys.remove(ctx, b, full); err != nil {
			return n.fsys.opErr("unlink "+fmtPath(b, full), err)
		}
	}
	n.fsys.removed(b, prefix, name)
	if u.fn != nil {
		u.fn.setGone(u.last, u.lastSF)
	}
	n.fsys.changed(b, prefix, name, nil)
	n.fsys.entriesChanged(b, prefix)
	return nil
}

// Link fails: B2 has no hard links (git then falls back to rename).
func (n *Dir) Link(ctx context.Context, target Node, name string) error {
	if e := n.fsys.writable("link"); e != nil {
		return e
	}
	b, prefix := n.loc()
	return n.fsys.linkRefused(b, childName(prefix, name))
}

// Mknod creates an empty regular file, or a FIFO, device or socket (an
// empty object whose file info carries the type; see special.go).
func (n *Dir) Mknod(ctx context.Context, name string, mode uint32, dev uint32) (*File, error) {
	if n.isGone() {
		return nil, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if e := n.fsys.writable("mknod"); e != nil {
		return nil, e
	}
	if isSpecialMode(mode) {
		return n.mknodSpecial(ctx, name, mode, dev)
	}
	return n.mknod(ctx, name, mode)
}

// Attr returns the directory's attributes; with fetch, its metadata is
// fetched when not cached (one list call), else Attr.Unsure tells.
func (n *Dir) Attr(ctx context.Context, fetch bool) Attr {
	n.locMu.Lock()
	gone := n.gone
	n.locMu.Unlock()
	if gone != nil {
		return *gone
	}
	var a Attr
	n.fsys.dirAttr(&a)
	b, prefix := n.loc()
	if !n.fsys.dirMeta(ctx, b, prefix, fetch, &a) {
		a.Unsure = true
	}
	n.fsys.applyDirTimes(b, prefix, &a)
	return a
}

// Setattr stores mode, owner and modification time on the directory's
// .bzEmpty marker (see posix_nodes.go).
func (n *Dir) Setattr(ctx context.Context, in *SetAttr) (Attr, error) {
	if n.isGone() {
		return Attr{}, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if e := n.fsys.writable("setattr"); e != nil {
		return Attr{}, e
	}
	b, prefix := n.loc()
	if e := n.fsys.setDirMeta(ctx, b, prefix, in); e != nil {
		return Attr{}, e
	}
	return n.Attr(ctx, true), nil
}

// Setxattr sets an extended attribute of the user namespace (stored in
// the marker's file info; other namespaces are not supported).
func (n *Dir) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) error {
	if e := n.fsys.writable("setxattr"); e != nil {
		return e
	}
	return n.setxattr(ctx, attr, data, flags, false)
}

// Removexattr removes an extended attribute.
func (n *Dir) Removexattr(ctx context.Context, attr string) error {
	if e := n.fsys.writable("removexattr"); e != nil {
		return e
	}
	return n.setxattr(ctx, attr, nil, 0, true)
}

// Fsync sends the metadata changes of the files in the directory not yet
// in B2 (directory changes reach B2 before the operation that made them
// returns) and, in write-back mode, waits for the uploads of the files
// pending anywhere under it.
func (n *Dir) Fsync(ctx context.Context) error {
	b, prefix := n.loc()
	// Write-back: the uploads of every file pending under it.
	if err := n.fsys.syncPending(ctx, b, prefix); err != nil {
		return n.fsys.opErr("fsync "+fmtPath(b, prefix), err)
	}
	err := n.fsys.flushMetaWhere(context.WithoutCancel(ctx), func(fb Bucket, dir string) bool { return fb.ID == b.ID && dir == prefix })
	return n.fsys.opErr("fsync "+fmtPath(b, prefix), err)
}

// putFile registers n as the file at its location (a new file replaces
// what was loaded there).
func (f *FS) putFile(n *File) {
	b, dir, name := n.loc()
	r := &f.reg
	r.mu.Lock()
	if r.files == nil {
		r.files = map[fileKey]*File{}
	}
	r.files[fkey(b, dir, name)] = n
	r.mu.Unlock()
}
