package vfs

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// This file holds the go-fuse side of POSIX metadata (see posix.go):
// attributes from file info, chmod/chown/utimes, symlinks and extended
// attributes.

// Symlinks (small objects whose body is the target, marked in their file
// info) and special files (refused, but for empty regular files).

// Symlink creates name in directory n as a symbolic link to target: a small
// object whose body is the target, marked in its file info.
func (n *Dir) Symlink(ctx context.Context, target, name string) (*File, error) {
	if n.isGone() {
		return nil, errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	if e := n.fsys.writable("symlink", capWrite); e != nil {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != nil {
		return nil, e
	}
	if name == EmptyMarker {
		return nil, errs.ErrInvalid
	}
	if target == "" {
		return nil, errs.ErrNotExist
	}
	if len(target) > maxSymlinkLen {
		return nil, errs.ErrNameTooLong
	}
	p, ok := n.fsys.opts.Write.Backend.(infoPutter)
	if !ok {
		return nil, errs.ErrPerm
	}
	if n.fsys.staged(b, childName(prefix, name)) != nil {
		return nil, errs.ErrExist
	}
	if _, ok, err := n.fsys.lookup(ctx, b, prefix, name); err != nil {
		return nil, n.fsys.opErr("symlink "+fmtPath(b, childName(prefix, name)), err)
	} else if ok {
		return nil, errs.ErrExist
	}
	info := n.fsys.newInfo(ctx, b, prefix, syscall.S_IFLNK|0o777)
	info[InfoType] = typeSymlink
	info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	info[InfoTarget] = escapeBytes(target)
	if checkInfoFits(childName(prefix, name), info, "") != nil {
		delete(info, InfoTarget) // readlink downloads the body
	}
	obj, err := p.PutInfo(ctx, b, childName(prefix, name), symlinkContentType, info, []byte(target))
	if err != nil {
		return nil, n.fsys.opErr("symlink "+fmtPath(b, childName(prefix, name)), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	e := entryFromObject(name, obj)
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	return n.fsys.fileNode(b, prefix, e), nil
}

// Readlink answers from the listing's b2fs-target; only targets too long
// for the file info are downloaded.
func (n *File) Readlink(ctx context.Context) ([]byte, error) {
	e := n.current()
	m := parseEntryMeta(e)
	if !m.Symlink {
		return nil, errs.ErrInvalid
	}
	if m.HasTarget {
		return []byte(m.Target), nil
	}
	if e.Size <= 0 || e.Size > maxSymlinkLen || e.FileID == "" {
		n.fsys.log.Error("symlink has no usable target", "file", e.Name, "size", e.Size)
		return nil, errs.ErrIO
	}
	b, _, _ := n.loc()
	rc, err := n.fsys.opts.Backend.OpenRange(ctx, b, e.FileID, 0, e.Size)
	if err != nil {
		return nil, n.fsys.opErr("readlink "+e.Name, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxSymlinkLen+1))
	if err != nil {
		return nil, n.fsys.opErr("readlink "+e.Name, err)
	}
	return body, nil
}

// Extended attributes.

// unsupportedNode logs why hard links and special files fail.
func (f *FS) unsupportedNode(op string, b Bucket, name string) error {
	f.log.Warn(fmt.Sprintf("%s is not supported: B2 stores regular files, directories and symlinks only", op), "file", fmtPath(b, name))
	return errs.ErrPerm
}

// mknod creates an empty regular file (tar does so to set extended
// attributes before writing); FIFOs, sockets and devices are in
// special.go, any other type fails with ErrPerm.
func (n *Dir) mknod(ctx context.Context, name string, mode uint32) (*File, error) {
	if t := mode & syscall.S_IFMT; t != syscall.S_IFREG && t != 0 {
		b, prefix := n.loc()
		return nil, n.fsys.unsupportedNode("mknod of a FIFO, socket or device", b, childName(prefix, name))
	}
	f, h, err := n.Create(ctx, name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, mode&0o7777)
	if err != nil {
		return nil, err
	}
	err = h.Flush(ctx)
	h.Release(ctx)
	if err != nil {
		return nil, err
	}
	return f, nil
}
