package fs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/staging"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// This file holds the go-fuse side of POSIX metadata (see posix.go):
// attributes from file info, chmod/chown/utimes, symlinks and extended
// attributes.

// Content types of the objects b2fs makes for directories and symlinks.
const (
	dirContentType     = "application/x-directory"
	symlinkContentType = "application/x-symlink"
)

// infoPutter uploads a small object with file info (symlinks, directory
// markers carrying metadata).
type infoPutter interface {
	PutInfo(ctx context.Context, bucket Bucket, name, contentType string, info map[string]string, body []byte) (Object, error)
}

// versionDeleter deletes one version of a name (the version a metadata
// change replaced, with --hard-delete).
type versionDeleter interface {
	DeleteVersion(ctx context.Context, bucket Bucket, name, fileID string) error
}

var (
	_ infoPutter     = (*B2WriteBackend)(nil)
	_ versionDeleter = (*B2WriteBackend)(nil)
)

// PutInfo implements infoPutter.
func (b *B2WriteBackend) PutInfo(ctx context.Context, bucket Bucket, name, contentType string, info map[string]string, body []byte) (Object, error) {
	f, err := b.c.UploadFile(ctx, b2client.UploadRequest{
		BucketID: bucket.ID, Name: name, ContentType: contentType, Info: info,
	}, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return Object{}, classify("create "+bucket.Name+"/"+name, err)
	}
	return objectFromFile(f), nil
}

// DeleteVersion implements versionDeleter.
func (b *B2WriteBackend) DeleteVersion(ctx context.Context, bucket Bucket, name, fileID string) error {
	if err := b.c.DeleteFileVersion(ctx, name, fileID); err != nil && !b2client.IsNotFound(err) {
		return classify("delete "+bucket.Name+"/"+name, err)
	}
	return nil
}

// applyMeta overrides the mode and owner of out with those recorded in
// info; files without them keep the mount-wide defaults.
func (f *FS) applyMeta(info map[string]string, out *fuse.Attr) {
	if len(info) == 0 {
		return
	}
	m := parseMeta(info)
	typ := out.Mode & syscall.S_IFMT
	switch {
	case m.symlink && typ == syscall.S_IFREG:
		out.Mode = syscall.S_IFLNK | 0o777
	case m.hasMode:
		out.Mode = typ | m.mode
	}
	if m.hasUID {
		out.Uid = m.uid
	}
	if m.hasGID {
		out.Gid = m.gid
	}
}

// caller returns the uid and gid of the process behind a request (the
// mount-wide defaults when unknown).
func (f *FS) caller(ctx context.Context) (uint32, uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
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
		if pm := parseMeta(m.Info); pm.hasMode && pm.mode&syscall.S_ISGID != 0 {
			if pm.hasGID {
				gid = pm.gid
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

// markerKey is the cache directory under which a directory's .bzEmpty
// marker (with the directory's metadata) is cached.
func markerKey(b Bucket, prefix string) string { return "M\x00" + dirKey(b, prefix) }

// noteMarker caches the marker of directory prefix found (or not) in the
// objects of its complete listing.
func (m *meta) noteMarker(b Bucket, prefix string, objs []Object) {
	for _, o := range objs {
		if !o.Folder && o.Name == prefix+EmptyMarker {
			m.cache.PutEntry(markerKey(b, prefix), entryFromObject(EmptyMarker, o))
			return
		}
	}
	m.cache.PutNegative(markerKey(b, prefix), EmptyMarker)
}

// marker returns the .bzEmpty marker of directory prefix: from the cache,
// or (fetch) with one targeted list call. known is false when the answer is
// not cached and fetch is false, or the list call failed.
func (f *FS) marker(ctx context.Context, b Bucket, prefix string, fetch bool) (e cache.Entry, exists, known bool) {
	key := markerKey(b, prefix)
	switch e, r := f.meta.cache.Lookup(key, EmptyMarker); r {
	case cache.Found:
		return e, true, true
	case cache.NotFound:
		return cache.Entry{}, false, true
	}
	if !fetch || b.ID == "" {
		return cache.Entry{}, false, false
	}
	// A cut subtree listing of an ancestor that continues over this
	// directory answers for its marker too.
	if _, err := f.meta.continueTree(ctx, b, prefix); err == nil {
		switch e, r := f.meta.cache.Lookup(key, EmptyMarker); r {
		case cache.Found:
			return e, true, true
		case cache.NotFound:
			return cache.Entry{}, false, true
		}
	}
	type res struct {
		e  cache.Entry
		ok bool
	}
	v, err, _ := f.meta.sf.Do("M"+key, func() (any, error) {
		name := prefix + EmptyMarker
		f.log.Debug("directory metadata lookup", "bucket", b.Name, "marker", name)
		p, err := f.opts.Backend.ListDir(ctx, b, name, "", 1)
		if err != nil {
			return nil, err
		}
		for _, o := range p.Objects {
			if !o.Folder && o.Name == name {
				e := entryFromObject(EmptyMarker, o)
				f.meta.cache.PutEntry(key, e)
				return res{e, true}, nil
			}
		}
		f.meta.cache.PutNegative(key, EmptyMarker)
		return res{}, nil
	})
	if err != nil {
		f.log.Debug("directory metadata not available", "dir", fmtPath(b, prefix), "err", err)
		return cache.Entry{}, false, false
	}
	r := v.(res)
	return r.e, r.ok, true
}

// dirMeta applies the metadata of directory prefix (kept on its marker) to
// out. Without fetch and nothing cached, it shortens the attribute timeout
// so that the kernel asks again (Getattr fetches).
func (f *FS) dirMeta(ctx context.Context, b Bucket, prefix string, fetch bool, out *fuse.Attr) (known bool) {
	e, ok, known := f.marker(ctx, b, prefix, fetch)
	if ok {
		f.applyMeta(e.Info, out)
		if _, has := e.Info[staging.InfoMtime]; has {
			t := e.ModTime
			out.SetTimes(&t, &t, &t)
		}
		setCtime(e, out)
	}
	return known
}

// dirEntryAttr fills out for child directory prefix of a lookup or
// READDIRPLUS.
func (f *FS) dirEntryAttr(ctx context.Context, b Bucket, prefix string, fetch bool, out *fuse.EntryOut) {
	if !f.dirMeta(ctx, b, prefix, fetch, &out.Attr) {
		// Metadata unknown: let the kernel come back for it (Getattr).
		out.SetAttrTimeout(time.Nanosecond)
	}
	f.applyDirTimes(b, prefix, &out.Attr)
}

// dropVersion deletes version fileID of name that a metadata-replacing
// copy replaced: its bytes live on in the copy, and it is no longer the
// newest version, so deleting it changes nothing visible.
func (f *FS) dropVersion(ctx context.Context, b Bucket, name, fileID string) bool {
	return f.deleteVersion(ctx, b, name, fileID, "replaced by a metadata copy")
}

// replacedVersion records for n that a metadata copy newID replaced
// version old (deleted when dropped is true, else still stored).
func (n *fileNode) replacedVersion(old, newID string, dropped bool) {
	if dropped {
		n.replaceOwnVersion(old, newID)
	} else {
		n.noteOwnVersion(newID, -1)
	}
}

// infoChange edits a file info map in place; a non-zero errno aborts the
// change.
type infoChange func(info map[string]string) syscall.Errno

// changeInfo applies change (and mtime, when non-nil) to the file n. A file
// with changes not yet uploaded takes it with its upload (free); otherwise
// it costs one metadata-replacing server-side copy. sf is the handle's
// staged file, if any.
func (n *fileNode) changeInfo(ctx context.Context, sf *staging.File, op string, mtime *time.Time, change infoChange) syscall.Errno {
	if e := n.fsys.writable(op, capWrite); e != 0 {
		return e
	}
	b, dir, name := n.loc()
	full := childName(dir, name)
	if sf == nil {
		sf = n.stagedFile()
	}
	if sf != nil {
		var cerr syscall.Errno
		absorbed, err := sf.SetInfo(ctx, func(info map[string]string) error {
			if cerr = change(info); cerr != 0 {
				return cerr
			}
			return nil
		})
		if cerr != 0 {
			return cerr
		}
		if err != nil {
			return n.fsys.werrno(op+" "+fmtPath(b, full), err)
		}
		if mtime != nil {
			a, err := sf.SetMtime(ctx, *mtime)
			if err != nil {
				return n.fsys.werrno(op+" "+fmtPath(b, full), err)
			}
			absorbed = absorbed || a
		}
		if absorbed {
			e := stagedEntry(name, sf)
			n.update(e)
			n.fsys.changed(b, dir, name, &e)
			return 0
		}
	}
	e := n.current()
	if e.FileID == "" {
		return syscall.ENOENT
	}
	info := cloneInfo(e.Info)
	if errno := change(info); errno != 0 {
		return errno
	}
	if mtime != nil {
		info[staging.InfoMtime] = strconv.FormatInt(mtime.UnixMilli(), 10)
	} else if _, ok := info[staging.InfoMtime]; !ok && !e.ModTime.IsZero() {
		// Entries of files uploaded by this mount carry the time
		// separately; the copy must keep it.
		info[staging.InfoMtime] = strconv.FormatInt(e.ModTime.UnixMilli(), 10)
	}
	if infoEqual(info, e.Info) {
		return 0
	}
	if len(info) > maxInfoEntries || infoBytes(full, info) > maxInfoBytes {
		n.fsys.log.Error("metadata does not fit B2's file info limits (10 entries, 7000 bytes with the name)", "op", op, "file", fmtPath(b, full), "entries", len(info))
		return errInfoFull
	}
	if n.fsys.opts.Write.MetadataDelay > 0 && (sf == nil || !sf.Dirty() && sf.BaseFileID() == e.FileID) {
		// A closed file, or one open without changes (touch): B2 gets
		// the change later, with the others made meanwhile (see
		// metaflush.go).
		ne := n.fsys.deferInfo(n, e, info)
		n.fsys.changed(b, dir, name, &ne)
		return 0
	}
	obj, err := n.fsys.opts.Write.Backend.Copy(ctx, Object{Name: full, FileID: e.FileID, Size: e.Size}, b, full,
		&CopyMeta{ContentType: e.ContentType, Info: info})
	if err != nil {
		return n.fsys.werrno(op+" "+fmtPath(b, full), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	n.replacedVersion(e.FileID, obj.FileID, n.fsys.dropVersion(ctx, b, full, e.FileID))
	n.fsys.keptRekey(e.FileID, obj.FileID)
	ne := entryFromObject(name, obj)
	n.update(ne)
	n.fsys.changed(b, dir, name, &ne)
	if sf != nil {
		sf.Rebase(staging.Version{FileID: obj.FileID, Info: obj.Info})
	}
	return 0
}

// setAttrChange returns the info change a SETATTR asks for (mode, owner),
// the new mtime, and whether anything is asked at all. Owners not given
// keep the current value, or the mount-wide default when none is stored.
func (f *FS) setAttrChange(in *fuse.SetAttrIn, def fuse.Attr) (infoChange, *time.Time, bool) {
	mode, hasMode := in.GetMode()
	uid, hasUID := in.GetUID()
	gid, hasGID := in.GetGID()
	var mt *time.Time
	if t, ok := in.GetMTime(); ok {
		mt = &t
	}
	if !hasMode && !hasUID && !hasGID {
		return func(map[string]string) syscall.Errno { return 0 }, mt, mt != nil
	}
	return func(info map[string]string) syscall.Errno {
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
		return 0
	}, mt, true
}

// setMeta applies the mode, owner and time changes of a SETATTR to file n
// (size changes are handled by the caller).
func (n *fileNode) setMeta(ctx context.Context, sf *staging.File, in *fuse.SetAttrIn) syscall.Errno {
	var def fuse.Attr
	n.fsys.fileAttr(cache.Entry{}, &def)
	change, mt, any := n.fsys.setAttrChange(in, def)
	if !any {
		return 0
	}
	return n.changeInfo(ctx, sf, "setattr", mt, change)
}

// changeDirInfo applies change (and mtime) to the metadata of directory
// prefix: one metadata-replacing copy of its marker, or, for a directory
// that has none (it exists only through the files in it), a new marker.
func (f *FS) changeDirInfo(ctx context.Context, b Bucket, prefix, op string, mtime *time.Time, change infoChange) syscall.Errno {
	if e := f.writable(op, capWrite); e != 0 {
		return e
	}
	name := prefix + EmptyMarker
	m, exists, known := f.marker(ctx, b, prefix, true)
	if !known {
		// Ask once more, uncached, so that a failure is reported.
		if _, err := f.opts.Backend.ListDir(ctx, b, name, "", 1); err != nil {
			return f.werrno(op+" "+fmtPath(b, prefix), err)
		}
		m, exists, _ = f.marker(ctx, b, prefix, true)
	}
	info := cloneInfo(m.Info)
	if errno := change(info); errno != 0 {
		return errno
	}
	f.dirInodeChanged(b, prefix, mtime)
	if f.markerNotNeeded(info) {
		if done, err := f.dropUnneededMarker(ctx, b, prefix, exists); done {
			return f.werrno(op+" "+fmtPath(b, prefix), err)
		}
	}
	if mtime != nil {
		info[staging.InfoMtime] = strconv.FormatInt(mtime.UnixMilli(), 10)
	}
	if exists && infoEqual(info, m.Info) {
		return 0
	}
	if len(info) > maxInfoEntries || infoBytes(name, info) > maxInfoBytes {
		f.log.Error("metadata does not fit B2's file info limits (10 entries, 7000 bytes with the name)", "op", op, "dir", fmtPath(b, prefix), "entries", len(info))
		return errInfoFull
	}
	var obj Object
	var err error
	if exists {
		ct := m.ContentType
		if ct == "" {
			ct = dirContentType
		}
		obj, err = f.opts.Write.Backend.Copy(ctx, Object{Name: name, FileID: m.FileID, Size: m.Size}, b, name, &CopyMeta{ContentType: ct, Info: info})
	} else {
		obj, err = f.putMarker(ctx, b, name, info)
	}
	if err != nil {
		return f.werrno(op+" "+fmtPath(b, prefix), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	if exists {
		f.dropVersion(ctx, b, name, m.FileID)
	}
	f.meta.cache.PutEntry(markerKey(b, prefix), entryFromObject(EmptyMarker, obj))
	return 0
}

// putMarker uploads a directory marker carrying info.
func (f *FS) putMarker(ctx context.Context, b Bucket, name string, info map[string]string) (Object, error) {
	if p, ok := f.opts.Write.Backend.(infoPutter); ok {
		if _, has := info[staging.InfoMtime]; !has {
			info = cloneInfo(info)
			info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
		}
		return p.PutInfo(ctx, b, name, dirContentType, info, nil)
	}
	return f.opts.Write.Backend.PutEmpty(ctx, b, name)
}

// setDirMeta applies the mode, owner and time changes of a SETATTR to
// directory prefix.
func (f *FS) setDirMeta(ctx context.Context, b Bucket, prefix string, in *fuse.SetAttrIn) syscall.Errno {
	var def fuse.Attr
	f.dirAttr(&def)
	change, mt, any := f.setAttrChange(in, def)
	if !any {
		return 0
	}
	return f.changeDirInfo(ctx, b, prefix, "setattr", mt, change)
}

// Symlinks.

// symlink creates name in directory n as a symbolic link to target: a small
// object whose body is the target, marked in its file info.
func (n *dirNode) symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("symlink", capWrite); e != 0 {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != 0 {
		return nil, e
	}
	if name == EmptyMarker {
		return nil, syscall.EINVAL
	}
	if target == "" {
		return nil, syscall.ENOENT
	}
	if len(target) > maxSymlinkLen {
		return nil, syscall.ENAMETOOLONG
	}
	p, ok := n.fsys.opts.Write.Backend.(infoPutter)
	if !ok {
		return nil, syscall.EPERM
	}
	if n.fsys.staged(b, childName(prefix, name)) != nil {
		return nil, syscall.EEXIST
	}
	if _, ok, err := n.fsys.meta.lookup(ctx, b, prefix, name); err != nil {
		return nil, n.fsys.errno("symlink "+fmtPath(b, childName(prefix, name)), err)
	} else if ok {
		return nil, syscall.EEXIST
	}
	info := n.fsys.newInfo(ctx, b, prefix, syscall.S_IFLNK|0o777)
	info[InfoType] = typeSymlink
	info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	info[InfoTarget] = escapeBytes(target)
	if checkInfoFits(childName(prefix, name), info, "") != 0 {
		delete(info, InfoTarget) // readlink downloads the body
	}
	obj, err := p.PutInfo(ctx, b, childName(prefix, name), symlinkContentType, info, []byte(target))
	if err != nil {
		return nil, n.fsys.werrno("symlink "+fmtPath(b, childName(prefix, name)), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	e := entryFromObject(name, obj)
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	return n.fsys.child(ctx, n.EmbeddedInode(), b, prefix, e, out), 0
}

var _ = (fusefs.NodeReadlinker)((*fileNode)(nil))

// Readlink answers from the listing's b2fs-target; only targets too long
// for the file info are downloaded.
func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	e := n.current()
	m := parseMeta(e.Info)
	if !m.symlink {
		return nil, syscall.EINVAL
	}
	if m.hasTarget {
		return []byte(m.target), 0
	}
	if e.Size <= 0 || e.Size > maxSymlinkLen || e.FileID == "" {
		n.fsys.log.Error("symlink has no usable target", "file", e.Name, "size", e.Size)
		return nil, syscall.EIO
	}
	b, _, _ := n.loc()
	rc, err := n.fsys.opts.Backend.OpenRange(ctx, b, e.FileID, 0, e.Size)
	if err != nil {
		return nil, n.fsys.errno("readlink "+e.Name, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxSymlinkLen+1))
	if err != nil {
		return nil, n.fsys.errno("readlink "+e.Name, err)
	}
	return body, 0
}

// Extended attributes.

// xattrNamespace sorts an attribute name: user attributes are stored,
// everything else is not supported.
func xattrUserName(attr string) (string, bool) {
	name, ok := strings.CutPrefix(attr, xattrUser)
	return name, ok && name != ""
}

// copyXattr implements the size-query contract of getxattr/listxattr.
func copyXattr(dest, val []byte) (uint32, syscall.Errno) {
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

func getxattrFrom(info map[string]string, attr string, dest []byte) (uint32, syscall.Errno) {
	name, ok := xattrUserName(attr)
	if !ok {
		return 0, unstoredXattr
	}
	v, ok := getXattr(info, name)
	if !ok {
		return 0, syscall.ENODATA
	}
	return copyXattr(dest, v)
}

func listxattrFrom(info map[string]string, dest []byte) (uint32, syscall.Errno) {
	var buf []byte
	for _, n := range listXattrs(info) {
		buf = append(buf, n...)
		buf = append(buf, 0)
	}
	return copyXattr(dest, buf)
}

// xattrSet returns the change that sets (data non-nil) or removes user
// attribute attr of the object called full.
func xattrSet(full, attr string, data []byte, flags uint32, remove bool) (infoChange, syscall.Errno) {
	name, ok := xattrUserName(attr)
	if !ok {
		return nil, syscall.ENOTSUP
	}
	if len(attr) > 255 {
		return nil, syscall.ERANGE
	}
	return func(info map[string]string) syscall.Errno {
		key, hashed := xattrKey(name)
		_, exists := getXattr(info, name)
		if remove {
			if !exists {
				return syscall.ENODATA
			}
			delete(info, key)
			return 0
		}
		switch {
		case flags&0x1 != 0 && exists: // XATTR_CREATE
			return syscall.EEXIST
		case flags&0x2 != 0 && !exists: // XATTR_REPLACE
			return syscall.ENODATA
		}
		info[key] = xattrValue(name, data, hashed)
		return checkInfoFits(full, info, key)
	}, 0
}

// info returns the current file info of file n (staged or listed).
func (n *fileNode) info() map[string]string {
	if sf := n.stagedFile(); sf != nil {
		return sf.Info()
	}
	return n.current().Info
}

var (
	_ = (fusefs.NodeGetxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeListxattrer)((*fileNode)(nil))
	_ = (fusefs.NodeGetxattrer)((*dirNode)(nil))
	_ = (fusefs.NodeListxattrer)((*dirNode)(nil))
)

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if _, ok := xattrUserName(attr); !ok {
		return 0, unstoredXattr // see xattrperf.go
	}
	return getxattrFrom(n.info(), attr, dest)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattrFrom(n.info(), dest)
}

func (n *fileNode) setxattr(ctx context.Context, attr string, data []byte, flags uint32, remove bool) syscall.Errno {
	b, dir, name := n.loc()
	change, e := xattrSet(childName(dir, name), attr, data, flags, remove)
	if e != 0 {
		if e == syscall.ENOTSUP {
			n.fsys.log.Debug("extended attribute outside the user namespace not stored", "file", fmtPath(b, childName(dir, name)), "attr", attr)
		}
		return e
	}
	return n.changeInfo(ctx, nil, "setxattr", nil, change)
}

func (n *dirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if _, ok := xattrUserName(attr); !ok {
		return 0, unstoredXattr // see xattrperf.go
	}
	b, prefix := n.loc()
	m, _, _ := n.fsys.marker(ctx, b, prefix, true)
	return getxattrFrom(m.Info, attr, dest)
}

func (n *dirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	b, prefix := n.loc()
	m, _, _ := n.fsys.marker(ctx, b, prefix, true)
	return listxattrFrom(m.Info, dest)
}

func (n *dirNode) setxattr(ctx context.Context, attr string, data []byte, flags uint32, remove bool) syscall.Errno {
	b, prefix := n.loc()
	change, e := xattrSet(prefix+EmptyMarker, attr, data, flags, remove)
	if e != 0 {
		return e
	}
	return n.fsys.changeDirInfo(ctx, b, prefix, "setxattr", nil, change)
}

// unsupportedNode logs why hard links and special files fail.
func (f *FS) unsupportedNode(op string, b Bucket, name string) syscall.Errno {
	f.log.Warn(fmt.Sprintf("%s is not supported: B2 stores regular files, directories and symlinks only", op), "file", fmtPath(b, name))
	return syscall.EPERM
}

// noDirFetchKey marks a context in which child directories' metadata is
// taken from the cache only (READDIRPLUS: listing a directory must not cost
// a call per subdirectory; the kernel asks with Getattr when it needs it).
type noDirFetchKey struct{}

func withoutDirFetch(ctx context.Context) context.Context {
	return context.WithValue(ctx, noDirFetchKey{}, true)
}

func fetchDirMeta(ctx context.Context) bool { return ctx.Value(noDirFetchKey{}) == nil }

// mknod creates an empty regular file (tar does so to set extended
// attributes before writing); FIFOs, sockets and devices are in
// special.go, any other type fails with EPERM.
func (n *dirNode) mknod(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if t := mode & syscall.S_IFMT; t != syscall.S_IFREG && t != 0 {
		b, prefix := n.loc()
		return nil, n.fsys.unsupportedNode("mknod of a FIFO, socket or device", b, childName(prefix, name))
	}
	ch, fh, _, errno := n.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, mode&0o7777, out)
	if errno != 0 {
		return nil, errno
	}
	h := fh.(*writeHandle)
	errno = h.Flush(ctx)
	h.Release(ctx)
	if errno != 0 {
		return nil, errno
	}
	return ch, 0
}

// forgetMarker drops what is cached about the marker of directory prefix
// (after rmdir or a directory rename).
func (f *FS) forgetMarker(b Bucket, prefix string) {
	f.meta.cache.Invalidate(markerKey(b, prefix), EmptyMarker)
}
