package vfs

import (
	"context"
	"math"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// CopyFileRange (copy_file_range(2), which cp uses) copies a whole file
// that is in B2 into an empty file of the mount on the server: no byte is
// downloaded or uploaded. Every other case answers EOPNOTSUPP, and cp and
// the kernel then copy through read and write.
func (n *File) CopyFileRange(ctx context.Context, offIn uint64, on *File, fhOut Handle, offOut uint64, length uint64, flags uint64) (uint32, error) {
	if e := n.fsys.writable("copy", capWrite); e != nil {
		return 0, e
	}
	wh, ok := fhOut.(*stagedHandle)
	if !ok || on == nil || !wh.write || offIn != 0 || offOut != 0 || flags != 0 {
		return 0, errs.ErrNotSupported
	}
	// The source must be a version in B2, unchanged locally.
	sb, sdir, sname := n.loc()
	e := n.current()
	id, size, ct := e.FileID, e.Size, e.ContentType
	if sf := n.stagedFile(); sf != nil {
		if sf.Dirty() {
			return 0, errs.ErrNotSupported
		}
		id, size, _, ct = sf.Uploaded()
	}
	if id == "" || size == 0 || uint64(size) > length || size > math.MaxUint32 {
		return 0, errs.ErrNotSupported
	}
	db, ddir, dname := on.loc()
	info := wh.f.Info()
	if sha, _ := e.InfoValue(staging.InfoLargeFileSHA); sha != "" && e.FileID == id {
		info[staging.InfoLargeFileSHA] = sha
	}
	filled, err := wh.f.FillOnServer(ctx, func(ctx context.Context) (backend.Object, error) {
		obj, err := n.fsys.copyRecorded(ctx, Object{Name: childName(sdir, sname), FileID: id, Size: size}, db, childName(ddir, dname),
			&CopyMeta{ContentType: ct, Info: mtimeInfo(info, time.Now())})
		if err != nil {
			return backend.Object{}, err
		}
		return backend.Object{FileID: obj.FileID, Name: obj.Name, Size: size, ContentType: obj.ContentType, SHA1: obj.SHA1, Info: obj.Info}, nil
	})
	if err != nil {
		return 0, n.fsys.opErr("copy "+fmtPath(sb, childName(sdir, sname))+" to "+fmtPath(db, childName(ddir, dname)), err)
	}
	if !filled {
		return 0, errs.ErrNotSupported
	}
	n.fsys.afterUpload(on, wh.f)
	return uint32(size), nil
}
