package vfs

import (
	"context"
	"strconv"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// This file holds the changes of POSIX metadata (see posix.go):
// attributes from file info, chmod/chown/utimes, symlinks and extended
// attributes.

// Content types of the objects b2fs makes for directories and symlinks.
const (
	dirContentType     = "application/x-directory"
	symlinkContentType = "application/x-symlink"
)

// applyMeta overrides the mode and owner of out with those recorded in
// info; files without them keep the mount-wide defaults.
func (f *FS) applyMeta(info map[string]string, out *Attr) {
	if len(info) == 0 {
		return
	}
	f.applyParsed(parseMeta(info), out)
}

// applyMetaEntry is applyMeta of an entry's info (without building a map
// when the entry keeps it as numbers).
func (f *FS) applyMetaEntry(e cache.Entry, out *Attr) {
	if e.InfoLen() == 0 {
		return
	}
	f.applyParsed(parseEntryMeta(e), out)
}

func (f *FS) applyParsed(m posixMeta, out *Attr) {
	typ := out.Mode & syscall.S_IFMT
	switch {
	case m.Symlink && typ == syscall.S_IFREG:
		out.Mode = syscall.S_IFLNK | 0o777
	case m.HasMode:
		out.Mode = typ | m.Mode
	}
	if m.HasUID {
		out.Uid = m.UID
	}
	if m.HasGID {
		out.Gid = m.GID
	}
}

// caller returns the uid and gid of the process behind a request (the
// mount-wide defaults when unknown).
func (f *FS) caller(ctx context.Context) (uint32, uint32) {
	if c, ok := ctx.Value(callerKey{}).(caller); ok {
		return c.uid, c.gid
	}
	return f.opts.UID, f.opts.GID
}

// newInfo is the metadata of a file or directory created by the caller of
// ctx with mode (permission bits after the umask, and the file type) in
// directory prefix. As on local filesystems, in a set-group-ID directory
// the new entry takes the directory's group, and a new directory keeps the
// set-group-ID bit.
func (f *FS) newInfo(ctx context.Context, b Bucket, prefix string, mode uint32) map[string]string {
	uid, gid := f.caller(ctx)
	perm := mode & 0o7777
	if m, ok, _ := f.marker(ctx, b, prefix, false); ok {
		if pm := parseEntryMeta(m); pm.HasMode && pm.Mode&syscall.S_ISGID != 0 {
			if pm.HasGID {
				gid = pm.GID
			} else {
				gid = f.opts.GID
			}
			if mode&syscall.S_IFMT == syscall.S_IFDIR {
				perm |= syscall.S_ISGID
			}
		}
	}
	info := map[string]string{}
	setOwnerMode(info, perm, uid, gid)
	return info
}

// dropVersion deletes version fileID of name that a metadata-replacing
// copy replaced: its bytes live on in the copy, and it is no longer the
// newest version, so deleting it changes nothing visible.
func (f *FS) dropVersion(ctx context.Context, b Bucket, name, fileID string) bool {
	return f.deleteVersion(ctx, b, name, fileID, "replaced by a metadata copy")
}

// replacedVersion records for n that a metadata copy newID replaced
// version old (deleted when dropped is true, else still stored).
func (n *File) replacedVersion(old, newID string, dropped bool) {
	if dropped {
		n.replaceOwnVersion(old, newID)
	} else {
		n.noteOwnVersion(newID, -1)
	}
}

// infoChange edits a file info map in place; a non-zero errno aborts the
// change.
type infoChange func(info map[string]string) error

// changeInfo applies change (and mtime, when non-nil) to the file n. A file
// with changes not yet uploaded takes it with its upload (free); otherwise
// it costs one metadata-replacing server-side copy. sf is the handle's
// staged file, if any.
func (n *File) changeInfo(ctx context.Context, sf *staging.File, op string, mtime *time.Time, change infoChange) error {
	if e := n.fsys.writable(op, capWrite); e != nil {
		return e
	}
	if n.isGone() {
		return n.changeGone(ctx, sf, mtime, change)
	}
	b, dir, name := n.loc()
	full := childName(dir, name)
	if sf == nil {
		sf = n.stagedFile()
	}
	if sf != nil {
		// No background upload (write-back, or of a file recovered
		// after a crash) lands or is shown while the change is made
		// (absorbed, or a copy of the version sf uploaded): the upload's
		// hook would show the version from before the copy.
		release := sf.Hold()
		defer release()
		var cerr error
		absorbed, err := sf.SetInfo(ctx, func(info map[string]string) error {
			if cerr = change(info); cerr != nil {
				return cerr
			}
			return nil
		})
		if cerr != nil {
			return cerr
		}
		if err != nil {
			return n.fsys.opErr(op+" "+fmtPath(b, full), err)
		}
		if mtime != nil {
			a, err := sf.SetMtime(ctx, *mtime)
			if err != nil {
				return n.fsys.opErr(op+" "+fmtPath(b, full), err)
			}
			absorbed = absorbed || a
		}
		if absorbed {
			e := stagedEntry(name, sf)
			n.update(e)
			n.fsys.changed(b, dir, name, &e)
			return nil
		}
	}
	// The version to copy: the staged file's (it may have uploaded one
	// the listings do not show yet, such as a file recovered after a
	// crash), else the file's current one.
	var e cache.Entry
	var before map[string]string // the staged file's info the copy starts from
	if sf != nil {
		e, before = n.stagedView(name, sf), sf.Info()
	} else {
		e = n.current()
	}
	if e.FileID == "" {
		return errs.ErrNotExist
	}
	info := cloneInfo(e.Info())
	if errno := change(info); errno != nil {
		return errno
	}
	if mtime != nil {
		info[staging.InfoMtime] = strconv.FormatInt(mtime.UnixMilli(), 10)
	} else if _, ok := info[staging.InfoMtime]; !ok && !e.ModTime.IsZero() {
		// Entries of files uploaded by this mount carry the time
		// separately; the copy must keep it.
		info[staging.InfoMtime] = strconv.FormatInt(e.ModTime.UnixMilli(), 10)
	}
	// (A staged file's view shows the time SetMtime just set, not its
	// version's: that one is changed with a copy all the same.)
	if infoEqual(info, e.Info()) && (sf == nil || mtime == nil) {
		return nil
	}
	if len(info) > maxInfoEntries || infoBytes(full, info) > maxInfoBytes {
		n.fsys.log.Error("metadata does not fit B2's file info limits (10 entries, 7000 bytes with the name)", "op", op, "file", fmtPath(b, full), "entries", len(info))
		return errInfoFull
	}
	// A pending change (such as the final metadata of a large file
	// that streamed) may be being copied from version e right now, and
	// that copy drops e when it lands: this change joins it rather than
	// copy e as well.
	delay := n.fsys.opts.Write.MetadataDelay
	if (delay > 0 || n.hasPending()) && !n.fsys.writeBack() && (sf == nil || !sf.Dirty() && sf.BaseFileID() == e.FileID) {
		// A closed file, or one open without changes (touch): B2 gets
		// the change later, with the others made meanwhile (see
		// metaflush.go). Not in write-back mode, whose journal does not
		// hold such changes: they reach B2 before the call returns.
		ne := n.fsys.deferInfo(n, e, info)
		n.fsys.changed(b, dir, name, &ne)
		if delay > 0 {
			return nil
		}
		// Without --metadata-delay the change is in B2 when the call
		// returns: after the copy in flight, one copy of both.
		if err := n.fsys.flushMeta(ctx, n); err != nil {
			return n.fsys.opErr(op+" "+fmtPath(b, full), err)
		}
		return nil
	}
	obj, err := n.fsys.copyRecorded(ctx, Object{Name: full, FileID: e.FileID, Size: e.Size}, b, full,
		&CopyMeta{ContentType: e.ContentType, Info: info})
	if err != nil {
		return n.fsys.opErr(op+" "+fmtPath(b, full), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	n.fsys.keptRekey(e.FileID, obj.FileID)
	ne := entryFromObject(name, obj)
	n.update(ne)
	n.fsys.changed(b, dir, name, &ne)
	if sf != nil {
		sf.RebaseCopy(backend.Object{FileID: obj.FileID, Info: obj.Info}, e.FileID, before)
	}
	// Last: opens from now on read the copy (see sendMeta).
	n.replacedVersion(e.FileID, obj.FileID, n.fsys.dropVersion(ctx, b, full, e.FileID))
	return nil
}

// changeGone applies a metadata change to a file that is gone (unlinked
// or replaced, still open): to its staged copy sf when the handle has one,
// and to the attributes its handles show. Nothing reaches B2.
func (n *File) changeGone(ctx context.Context, sf *staging.File, mtime *time.Time, change infoChange) error {
	if sf != nil {
		var cerr error
		if _, err := sf.SetInfo(ctx, func(info map[string]string) error {
			cerr = change(info)
			return cerr
		}); cerr != nil {
			return cerr
		} else if err != nil {
			return n.fsys.opErr("setattr (unlinked) "+sf.Key().String(), err)
		}
		if mtime != nil {
			if _, err := sf.SetMtime(ctx, *mtime); err != nil {
				return n.fsys.opErr("setattr (unlinked) "+sf.Key().String(), err)
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	info := cloneInfo(n.entry.Info())
	if err := change(info); err != nil {
		return err
	}
	n.entry.SetInfo(info)
	if mtime != nil {
		n.entry.ModTime = *mtime
	}
	n.entry.SetChanged(time.Now())
	return nil
}

// setAttrChange returns the info change a SETATTR asks for (mode, owner),
// the new mtime, and whether anything is asked at all. Owners not given
// keep the current value, or the mount-wide default when none is stored.
func (f *FS) setAttrChange(in *SetAttr, def Attr) (infoChange, *time.Time, bool) {
	mode, hasMode := in.GetMode()
	uid, hasUID := in.GetUID()
	gid, hasGID := in.GetGID()
	var mt *time.Time
	if t, ok := in.GetMTime(); ok {
		mt = &t
	}
	if !hasMode && !hasUID && !hasGID {
		return func(map[string]string) error { return nil }, mt, mt != nil
	}
	return func(info map[string]string) error {
		cur := def
		f.applyMeta(info, &cur)
		m, u, g := cur.Mode&0o7777, cur.Uid, cur.Gid
		if hasMode {
			m = mode & 0o7777
		}
		if hasUID {
			u = uid
		}
		if hasGID {
			g = gid
		}
		if info[InfoType] == typeSymlink {
			m = 0o777
		}
		setOwnerMode(info, m, u, g)
		return nil
	}, mt, true
}

// setMeta applies the mode, owner and time changes of a SETATTR to file n
// (size changes are handled by the caller).
func (n *File) setMeta(ctx context.Context, sf *staging.File, in *SetAttr) error {
	var def Attr
	n.fsys.fileAttr(cache.Entry{}, &def)
	change, mt, any := n.fsys.setAttrChange(in, def)
	if !any {
		return nil
	}
	return n.changeInfo(ctx, sf, "setattr", mt, change)
}

// callerKey marks a context with the caller of an operation (see
// WithCaller).
type callerKey struct{}

type caller struct{ uid, gid uint32 }

// WithCaller returns ctx carrying the uid and gid of the process an
// operation is made for: new files and directories are theirs.
func WithCaller(ctx context.Context, uid, gid uint32) context.Context {
	return context.WithValue(ctx, callerKey{}, caller{uid, gid})
}
