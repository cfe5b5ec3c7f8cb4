package fs

import (
	"context"
	"math"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/staging"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

var _ = (fusefs.NodeCopyFileRanger)((*fileNode)(nil))

// CopyFileRange (copy_file_range(2), which cp uses) copies a whole file
// that is in B2 into an empty file of the mount on the server: no byte is
// downloaded or uploaded. Every other case answers EOPNOTSUPP, and cp and
// the kernel then copy through read and write.
func (n *fileNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	if e := n.fsys.writable("copy", capWrite); e != 0 {
		return 0, e
	}
	wh, ok := fhOut.(*writeHandle)
	on, ok2 := out.Operations().(*fileNode)
	if !ok || !ok2 || !wh.write || offIn != 0 || offOut != 0 || flags != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	// The source must be a version in B2, unchanged locally.
	sb, sdir, sname := n.loc()
	e := n.current()
	id, size, ct := e.FileID, e.Size, e.ContentType
	if sf := n.stagedFile(); sf != nil {
		if sf.Dirty() {
			return 0, syscall.EOPNOTSUPP
		}
		id, size, _, ct = sf.Uploaded()
	}
	if id == "" || size == 0 || uint64(size) > length || size > math.MaxUint32 {
		return 0, syscall.EOPNOTSUPP
	}
	db, ddir, dname := on.loc()
	info := wh.f.Info()
	if sha := e.Info[staging.InfoLargeFileSHA]; sha != "" && e.FileID == id {
		info[staging.InfoLargeFileSHA] = sha
	}
	filled, err := wh.f.FillOnServer(ctx, func(ctx context.Context) (staging.Version, error) {
		obj, err := n.fsys.opts.Write.Backend.Copy(ctx, Object{Name: childName(sdir, sname), FileID: id, Size: size}, db, childName(ddir, dname),
			&CopyMeta{ContentType: ct, Info: mtimeInfo(info, time.Now())})
		if err != nil {
			return staging.Version{}, err
		}
		return staging.Version{FileID: obj.FileID, Name: obj.Name, Size: size, ContentType: obj.ContentType, SHA1: obj.SHA1, Info: obj.Info}, nil
	})
	if err != nil {
		return 0, n.fsys.werrno("copy "+fmtPath(sb, childName(sdir, sname))+" to "+fmtPath(db, childName(ddir, dname)), err)
	}
	if !filled {
		return 0, syscall.EOPNOTSUPP
	}
	n.fsys.afterUpload(on, wh.f)
	return uint32(size), 0
}
