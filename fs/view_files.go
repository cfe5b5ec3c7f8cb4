package fs

import (
	"context"
	"io"
	"math"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/fs/versions"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// viewFile is one stored version (or hide marker: empty, no file ID) shown
// in the view. Its content never changes, so the kernel keeps its pages.
type viewFile struct {
	fusefs.Inode
	readOnly
	viewBase
	b2name string // the version's B2 name
	entry  cache.Entry
}

// viewFileChild returns parent's child called name showing version v,
// reusing the existing inode when it shows the same version.
func (f *FS) viewFileChild(ctx context.Context, parent *fusefs.Inode, base viewBase, name string, v versions.Version, out *fuse.EntryOut) *fusefs.Inode {
	e := viewCacheEntry(name, v, false)
	f.fileAttr(e, &out.Attr)
	if ch := parent.GetChild(name); ch != nil {
		if o, ok := ch.Operations().(*viewFile); ok && o.entry.FileID == e.FileID && o.entry.ModTime.Equal(e.ModTime) &&
			ch.StableAttr().Mode == entryType(e) {
			return ch
		}
	}
	return parent.NewInode(ctx, &viewFile{viewBase: base, b2name: v.Name, entry: e}, fusefs.StableAttr{Mode: entryType(e)})
}

var (
	_ = (fusefs.NodeGetattrer)((*viewFile)(nil))
	_ = (fusefs.NodeOpener)((*viewFile)(nil))
	_ = (fusefs.NodeReadlinker)((*viewFile)(nil))
	_ = (fusefs.NodeGetxattrer)((*viewFile)(nil))
	_ = (fusefs.NodeListxattrer)((*viewFile)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*viewFile)(nil))
	_ = (fusefs.NodeStatfser)((*viewFile)(nil))
)

func (n *viewFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.fileAttr(n.entry, &out.Attr)
	return 0
}

func (n *viewFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	e, b := n.entry, n.bucket
	var fetch fetchFunc = func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		return n.fsys.opts.Backend.OpenRange(ctx, b, e.FileID, off, length)
	}
	size := e.Size
	if e.FileID == "" {
		size = 0 // a hide marker
	}
	// Versions are cached by file ID like live files (the same version read
	// through either is fetched once).
	fetch = fetchFunc(n.fsys.opts.ReadCache.Wrap(e.FileID, size, readcache.FetchFunc(fetch)))
	h := &viewHandle{fsys: n.fsys, path: fmtPath(b, n.b2name) + "@" + e.Name, reader: newRangeReader(size, fetch, n.fsys.opts.Read)}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// Readlink answers from the version's b2fs-target, else its body.
func (n *viewFile) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	e := n.entry
	m := parseMeta(e.Info)
	if !m.symlink {
		return nil, syscall.EINVAL
	}
	if m.hasTarget {
		return []byte(m.target), 0
	}
	if e.Size <= 0 || e.Size > maxSymlinkLen || e.FileID == "" {
		n.fsys.log.Error("symlink version has no usable target", "file", fmtPath(n.bucket, n.b2name), "fileId", e.FileID)
		return nil, syscall.EIO
	}
	rc, err := n.fsys.opts.Backend.OpenRange(ctx, n.bucket, e.FileID, 0, e.Size)
	if err != nil {
		return nil, n.fsys.errno("readlink "+fmtPath(n.bucket, n.b2name), err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxSymlinkLen+1))
	if err != nil {
		return nil, n.fsys.errno("readlink "+fmtPath(n.bucket, n.b2name), err)
	}
	return body, 0
}

func (n *viewFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return getxattrFrom(n.entry.Info, attr, dest) // ENOTSUP outside user.*: see xattrperf.go
}

func (n *viewFile) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattrFrom(n.entry.Info, dest)
}

// CopyFileRange copies the whole version into an empty file of the live
// tree on the server (b2_copy_file): restoring a version costs no
// download and no upload. Other cases answer EOPNOTSUPP, and the kernel
// or cp copies through read and write.
func (n *viewFile) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	wh, ok := fhOut.(*writeHandle)
	on, ok2 := out.Operations().(*fileNode)
	e := n.entry
	if !ok || !ok2 || !wh.write || offIn != 0 || offOut != 0 || flags != 0 ||
		e.FileID == "" || e.Size == 0 || uint64(e.Size) > length || e.Size > math.MaxUint32 {
		return 0, syscall.EOPNOTSUPP
	}
	if errno := n.fsys.writable("copy", capWrite); errno != 0 {
		return 0, errno
	}
	db, ddir, dname := on.loc()
	info := wh.f.Info()
	if sha := e.Info[staging.InfoLargeFileSHA]; sha != "" {
		info[staging.InfoLargeFileSHA] = sha
	}
	filled, err := wh.f.FillOnServer(ctx, func(ctx context.Context) (staging.Version, error) {
		obj, err := n.fsys.opts.Write.Backend.Copy(ctx, Object{Name: n.b2name, FileID: e.FileID, Size: e.Size}, db, childName(ddir, dname),
			&CopyMeta{ContentType: e.ContentType, Info: mtimeInfo(info, time.Now())})
		if err != nil {
			return staging.Version{}, err
		}
		return staging.Version{FileID: obj.FileID, Name: obj.Name, Size: e.Size, ContentType: obj.ContentType, SHA1: obj.SHA1, Info: obj.Info}, nil
	})
	if err != nil {
		return 0, n.fsys.werrno("copy "+fmtPath(n.bucket, n.b2name)+" ("+e.Name+") to "+fmtPath(db, ddir+dname), err)
	}
	if !filled {
		return 0, syscall.EOPNOTSUPP
	}
	n.fsys.afterUpload(on, wh.f)
	return uint32(e.Size), 0
}

// viewHandle reads one version.
type viewHandle struct {
	fsys   *FS
	path   string
	reader *rangeReader
}

var (
	_ = (fusefs.FileReader)((*viewHandle)(nil))
	_ = (fusefs.FileReleaser)((*viewHandle)(nil))
)

func (h *viewHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	b, err := h.reader.read(ctx, dest, off)
	if err != nil {
		return nil, readErrno(h.fsys.log, "read "+h.path, err)
	}
	return fuse.ReadResultData(b), 0
}

func (h *viewHandle) Release(ctx context.Context) syscall.Errno {
	h.reader.close()
	return 0
}
