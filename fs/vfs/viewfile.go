package vfs

import (
	"context"
	"io"
	"math"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/readahead"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
)

// VersionFile is one version of a file in the versions view (read-only).
type VersionFile struct {
	fsys   *FS
	bucket Bucket
	b2name string      // the B2 name the version belongs to
	entry  cache.Entry // the version, named as the view shows it
}

// VersionFile returns the version e (a view entry) of the B2 name b2name in b.
func (f *FS) VersionFile(b Bucket, b2name string, e cache.Entry) *VersionFile {
	return &VersionFile{fsys: f, bucket: b, b2name: b2name, entry: e}
}

// Entry returns the version's entry.
func (n *VersionFile) Entry() cache.Entry { return n.entry }

// Attr returns the version's attributes.
func (n *VersionFile) Attr() Attr { return n.fsys.FileAttr(n.entry) }

// Open opens the version for reading; every other open is ErrReadOnly.
func (n *VersionFile) Open(ctx context.Context, flags uint32) (Handle, error) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, errs.ErrReadOnly
	}
	e, b := n.entry, n.bucket
	var fetch readahead.FetchFunc = func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		return n.fsys.opts.Backend.OpenRange(ctx, b, e.FileID, off, length)
	}
	size := e.Size
	if e.FileID == "" {
		size = 0 // a hide marker
	}
	// Versions are cached by file ID like live files (the same version read
	// through either is fetched once).
	fetch = readahead.FetchFunc(n.fsys.opts.ReadCache.Wrap(e.FileID, size, ContentSHA1(e), readcache.FetchFunc(fetch)))
	return &readHandle{fsys: n.fsys, path: fmtPath(b, n.b2name) + "@" + e.Name, entry: e,
		reader: readahead.New(size, fetch, n.fsys.opts.Read)}, nil
}

// Readlink answers from the version's b2fs-target, else its body.
func (n *VersionFile) Readlink(ctx context.Context) ([]byte, error) {
	e := n.entry
	m := parseEntryMeta(e)
	if !m.Symlink {
		return nil, errs.ErrInvalid
	}
	if m.HasTarget {
		return []byte(m.Target), nil
	}
	if e.Size <= 0 || e.Size > maxSymlinkLen || e.FileID == "" {
		n.fsys.log.Error("symlink version has no usable target", "file", fmtPath(n.bucket, n.b2name), "fileId", e.FileID)
		return nil, errs.ErrIO
	}
	rc, err := n.fsys.opts.Backend.OpenRange(ctx, n.bucket, e.FileID, 0, e.Size)
	if err != nil {
		return nil, n.fsys.opErr("readlink "+fmtPath(n.bucket, n.b2name), err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxSymlinkLen+1))
	if err != nil {
		return nil, n.fsys.opErr("readlink "+fmtPath(n.bucket, n.b2name), err)
	}
	return body, nil
}

// Getxattr returns the version's extended attribute attr (ErrNotSupported
// outside user.*, see unstoredXattr).
func (n *VersionFile) Getxattr(attr string) ([]byte, error) {
	return getxattrFrom(n.entry.Info(), attr)
}

// Listxattr returns the names of the version's extended attributes.
func (n *VersionFile) Listxattr() []byte { return listxattrFrom(n.entry.Info()) }

// CopyTo copies the whole version into an empty file of the live tree on
// the server (b2_copy_file): restoring a version costs no download and no
// upload. Other cases answer ErrNotSupported, and the kernel or cp copies
// through read and write.
func (n *VersionFile) CopyTo(ctx context.Context, offIn uint64, on *File, fhOut Handle, offOut, length, flags uint64) (uint32, error) {
	wh, ok := fhOut.(*stagedHandle)
	e := n.entry
	if !ok || on == nil || !wh.write || offIn != 0 || offOut != 0 || flags != 0 ||
		e.FileID == "" || e.Size == 0 || uint64(e.Size) > length || e.Size > math.MaxUint32 {
		return 0, errs.ErrNotSupported
	}
	if err := n.fsys.writable("copy", capWrite); err != nil {
		return 0, err
	}
	db, ddir, dname := on.loc()
	info := wh.f.Info()
	if sha, _ := e.InfoValue(staging.InfoLargeFileSHA); sha != "" {
		info[staging.InfoLargeFileSHA] = sha
	}
	filled, err := wh.f.FillOnServer(ctx, func(ctx context.Context) (backend.Object, error) {
		obj, err := n.fsys.copyRecorded(ctx, Object{Name: n.b2name, FileID: e.FileID, Size: e.Size}, db, childName(ddir, dname),
			&CopyMeta{ContentType: e.ContentType, Info: mtimeInfo(info, time.Now())})
		if err != nil {
			return backend.Object{}, err
		}
		return backend.Object{FileID: obj.FileID, Name: obj.Name, Size: e.Size, ContentType: obj.ContentType, SHA1: obj.SHA1, Info: obj.Info}, nil
	})
	if err != nil {
		return 0, n.fsys.opErr("copy "+fmtPath(n.bucket, n.b2name)+" ("+e.Name+") to "+fmtPath(db, childName(ddir, dname)), err)
	}
	if !filled {
		return 0, errs.ErrNotSupported
	}
	n.fsys.afterUpload(on, wh.f)
	return uint32(e.Size), nil
}

// FileAttr returns the attributes of a file entry.
func (f *FS) FileAttr(e cache.Entry) Attr {
	var a Attr
	f.fileAttr(e, &a)
	return a
}

// DirAttr returns the attributes of a directory without metadata of its own.
func (f *FS) DirAttr() Attr {
	var a Attr
	f.dirAttr(&a)
	return a
}

// HandleVersion returns the version a handle reads when it reads one
// version of B2 (a read-only open of a file with nothing staged), so that
// the kernel may keep the pages it cached of that version.
func HandleVersion(h Handle) (string, bool) {
	switch h := h.(type) {
	case *readHandle:
		return h.version().FileID, true
	}
	return "", false
}

// MarkerDirAttr returns the attributes of a directory whose marker has
// info and modTime (the view's directories as the live tree had them);
// without a marker, the mount's defaults.
func (f *FS) MarkerDirAttr(hasMarker bool, info map[string]string, modTime time.Time) Attr {
	var a Attr
	f.dirAttr(&a)
	if hasMarker {
		f.applyMeta(info, &a)
		a.SetTimes(&modTime, &modTime, &modTime)
	}
	return a
}

// InfoXattr returns the extended attribute attr stored in info
// (ErrNotSupported outside user.*, see unstoredXattr).
func InfoXattr(info map[string]string, attr string) ([]byte, error) {
	return getxattrFrom(info, attr)
}

// InfoXattrNames returns the names of the extended attributes stored in
// info, each ended by NUL.
func InfoXattrNames(info map[string]string) []byte { return listxattrFrom(info) }

// SymlinkInfo is the file info of a symlink to target.
func SymlinkInfo(target string) map[string]string {
	return map[string]string{InfoType: typeSymlink, InfoTarget: escapeBytes(target)}
}

// SymlinkTarget returns the target stored in the info of a symlink entry.
func SymlinkTarget(e cache.Entry) (string, bool) {
	if !isSymlink(e) {
		return "", false
	}
	m := parseEntryMeta(e)
	return m.Target, m.HasTarget
}
