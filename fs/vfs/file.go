package vfs

import (
	"context"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// Handle is an open file.
type Handle interface {
	// Read reads into p at off; fewer bytes only at the end of the file.
	Read(ctx context.Context, p []byte, off int64) (int, error)
	// Write writes p at off (at the end for O_APPEND handles).
	Write(ctx context.Context, p []byte, off int64) (int, error)
	// Flush is close(2): a handle open for writing uploads its changes
	// and reports the upload's result.
	Flush(ctx context.Context) error
	// Fsync uploads the file's changes and sends its metadata changes.
	Fsync(ctx context.Context) error
	// Release ends the handle (its result is not reported to anyone).
	Release(ctx context.Context) error
}

// VecReader is a Handle that can return what it reads without copying
// it: slices of its own buffers, valid until release is called (exactly
// once, also after Release). A FUSE reply is written from them. With ok
// false the handle cannot serve that read so (the caller uses Read).
type VecReader interface {
	ReadVec(ctx context.Context, off int64, n int) (vec [][]byte, release func(), ok bool, err error)
}

// Attr returns the file's attributes; h is the handle the caller asks
// through (nil for a path). Once the file is gone (unlinked or replaced)
// they are its own last ones, with no link: its handles still read and
// write it.
func (n *File) Attr(ctx context.Context, h Handle) Attr {
	var a Attr
	_, _, name := n.loc()
	if n.isGone() {
		// Its handles still write the staged copy it had: every handle
		// shows it (go-fuse answers fstat through any open handle).
		sf := n.goneStagedFile()
		if sh, ok := h.(*stagedHandle); ok {
			sf = sh.f
		}
		if sf != nil {
			n.fsys.fileAttr(n.stagedView(name, sf), &a)
			a.Nlink = 0
			return a
		}
	}
	if sf := n.stagedFile(); sf != nil {
		n.fsys.fileAttr(n.stagedView(name, sf), &a)
		return a
	}
	switch h := h.(type) {
	case *stagedHandle:
		n.fsys.fileAttr(n.stagedView(name, h.f), &a)
		return a
	case *readHandle:
		return n.VersionAttr(h.version())
	}
	n.fsys.fileAttr(n.current(), &a)
	if n.isGone() {
		a.Nlink = 0
	}
	return a
}

// VersionAttr returns the attributes to report through a handle that
// reads version e of the file. The kernel keeps one set of attributes per
// inode, shared by all its descriptors, and go-fuse answers a GETATTR of a
// path (stat) through any open handle of the inode: the version a reader
// opened would pass for the file's, hiding a newer one written meanwhile.
// So the attributes are the file's (its current ones, or the last ones
// once it is gone); the handle keeps reading its version.
func (n *File) VersionAttr(e cache.Entry) Attr {
	return n.Attr(context.Background(), nil)
}

// Open opens the file with open(2)'s flags. A read-only open of a file
// with nothing staged reads version FileID of Entry() (kept while the
// handle lives), through the read cache when there is one; every other
// open works on the staged copy.
func (n *File) Open(ctx context.Context, flags uint32) (Handle, error) {
	if n.isGone() {
		// Unlinked or replaced between the kernel's lookup and this
		// open: what its name holds now is another file.
		return nil, errs.ErrNotExist
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0 || n.stagedFile() != nil {
		return n.openStaged(ctx, flags)
	}
	wrote := n.wroteCount()
	e, err := n.pinnedCurrent()
	if err != nil {
		return nil, err
	}
	h := &readHandle{fsys: n.fsys, node: n, wrote: wrote}
	h.setVersion(e)
	return h, nil
}

// pinnedCurrent returns the file's current version, pinned (pins.go) so
// that it is not deleted under a handle reading it. One being deleted just
// now was replaced: the file's view has the newer version. A copy updates
// the view before it deletes the version it replaced, so a pin taken while
// the view still shows the version holds; one taken after the view moved
// on may be of a version already deleted, and is dropped for the newer one.
func (n *File) pinnedCurrent() (cache.Entry, error) {
	e := n.current()
	for i := 0; e.FileID != "" && !n.pinCurrent(e.FileID); i++ {
		if i == 10 {
			return cache.Entry{}, n.fsys.opErr("open "+e.Name, errs.ErrIO)
		}
		if i > 0 {
			time.Sleep(time.Millisecond << i)
		}
		e = n.current()
	}
	return e, nil
}

// pinCurrent pins version id (see File.Open) when it is still the file's
// current one.
func (n *File) pinCurrent(id string) bool {
	if !n.fsys.pinVersion(id) {
		return false
	}
	if n.current().FileID != id {
		n.fsys.unpinVersion(id)
		return false
	}
	return true
}

// ReadsVersion returns the version an open with flags would read from B2
// as it is (a read-only open of a file with nothing staged), so that the
// caller can serve it from a local copy (FUSE passthrough).
func (n *File) ReadsVersion(flags uint32) (cache.Entry, bool) {
	if n.isGone() {
		return cache.Entry{}, false // Open refuses
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0 || n.stagedFile() != nil {
		return cache.Entry{}, false
	}
	return n.current(), true
}

// Fsync sends the file's metadata changes not yet in B2 (its content
// reaches B2 through its handles' Flush and Fsync).
func (n *File) Fsync(ctx context.Context) error {
	b, dir, name := n.loc()
	if sf := n.stagedFile(); sf != nil && n.fsys.writeBack() {
		if err := n.fsys.opts.Write.Staging.SyncFile(ctx, sf); err != nil {
			return n.fsys.opErr("fsync "+fmtPath(b, childName(dir, name)), err)
		}
	}
	return n.fsys.opErr("fsync "+fmtPath(b, childName(dir, name)), n.fsys.flushMeta(context.WithoutCancel(ctx), n))
}

// Setattr truncates (size) and sets mode, owner and modification time
// (free while the file has changes not yet uploaded, else one
// metadata-replacing server-side copy). h is the handle asked through, or
// nil.
func (n *File) Setattr(ctx context.Context, h Handle, in *SetAttr) (Attr, error) {
	if e := n.fsys.writable("setattr"); e != nil {
		return Attr{}, e
	}
	b, dir, name := n.loc()
	full := childName(dir, name)
	// The handle's staged file, when there is one: it may be unlinked
	// (then nothing may reach B2) or renamed.
	handleFile := func() *staging.File {
		if h, ok := h.(*stagedHandle); ok {
			return h.f
		}
		return n.stagedFile()
	}
	if sz, ok := in.GetSize(); ok {
		if e := n.fsys.writable("truncate", capWrite); e != nil {
			return Attr{}, e
		}
		if sh, ok := h.(*stagedHandle); ok {
			if err := sh.f.Truncate(ctx, int64(sz)); err != nil {
				return Attr{}, n.fsys.opErr("truncate "+fmtPath(b, full), err)
			}
			// A pending metadata change goes with the truncation's
			// upload (see foldMeta).
			if err := n.fsys.foldMeta(context.WithoutCancel(ctx), n, sh.f); err != nil {
				return Attr{}, n.fsys.opErr("truncate "+fmtPath(b, full), err)
			}
		} else if n.isGone() {
			return Attr{}, errs.ErrNotExist // only its handles reach it
		} else if e := n.truncatePath(ctx, int64(sz)); e != nil {
			return Attr{}, e
		}
	}
	if e := n.setMeta(ctx, handleFile(), in); e != nil {
		return Attr{}, e
	}
	return n.Attr(ctx, h), nil
}

// truncatePath is truncate(2) of a path: of the file's staged copy when
// it has one, else of its B2 version (stage, cut, upload). The staged
// file is opened, not only looked up: a reference keeps it from being let
// go under the truncation (in write-back mode, once its background upload
// lands), which would lose the truncation.
func (n *File) truncatePath(ctx context.Context, size int64) error {
	b, dir, name := n.loc()
	key := stagingKey(b, childName(dir, name))
	path := fmtPath(b, key.Name)
	st := n.fsys.opts.Write.Staging
	o := staging.OpenOptions{Key: key, Truncate: size == 0}
	// The staged file first: the view's version is older than its
	// content (see staging.Manager.OpenStaged).
	sf, err := st.OpenStaged(ctx, o)
	staged := sf != nil
	if err == nil && !staged {
		e := n.current()
		if e.FileID != "" {
			if e.Size == size {
				return nil
			}
			o.Base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info()}
		}
		sf, err = st.Open(ctx, o)
	}
	if err != nil {
		return n.fsys.opErr("truncate "+path, err)
	}
	defer st.Release(sf)
	if err := sf.Truncate(ctx, size); err != nil {
		return n.fsys.opErr("truncate "+path, err)
	}
	// A pending metadata change goes with the truncation's upload (see
	// foldMeta).
	if err := n.fsys.foldMeta(context.WithoutCancel(ctx), n, sf); err != nil {
		return n.fsys.opErr("truncate "+path, err)
	}
	if staged && sf.Writing() {
		return nil // its close commits or uploads the truncation
	}
	if n.fsys.writeBack() {
		return n.fsys.opErr("truncate "+path, sf.Commit(context.WithoutCancel(ctx)))
	}
	if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
		return n.fsys.opErr("truncate "+path, err)
	}
	n.fsys.afterUpload(n, sf)
	return nil
}

// Setxattr sets an extended attribute of the user namespace (stored in
// file info; other namespaces, and so ACLs, are not supported).
func (n *File) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) error {
	if e := n.fsys.writable("setxattr"); e != nil {
		return e
	}
	return n.setxattr(ctx, attr, data, flags, false)
}

// Removexattr removes an extended attribute.
func (n *File) Removexattr(ctx context.Context, attr string) error {
	if e := n.fsys.writable("removexattr"); e != nil {
		return e
	}
	return n.setxattr(ctx, attr, nil, 0, true)
}
