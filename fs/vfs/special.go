package vfs

import (
	"context"
	"strconv"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/posixmeta"
	"github.com/b2fs/b2fs/fs/staging"
)

// The encoding of special files is in package posixmeta.
func specialMode(info map[string]string) uint32 { return posixmeta.SpecialMode(info) }
func isSpecialMode(mode uint32) bool            { return posixmeta.IsSpecialMode(mode) }
func devMajor(dev uint32) uint32                { return posixmeta.DevMajor(dev) }
func devMinor(dev uint32) uint32                { return posixmeta.DevMinor(dev) }
func mkdev(major, minor uint32) uint32          { return posixmeta.Mkdev(major, minor) }
func formatRdev(dev uint32) string              { return posixmeta.FormatRdev(dev) }
func parseRdev(s string) (uint32, bool)         { return posixmeta.ParseRdev(s) }

// InfoRdev is the file info key of a device's number.
const InfoRdev = posixmeta.InfoRdev

// applySpecial gives out the type and device number of a special file
// (after applyMeta has set mode and owner): its permission bits stay.
func applySpecial(info map[string]string, out *Attr) {
	t := specialMode(info)
	if t == 0 {
		return
	}
	out.Mode = t | out.Mode&^syscall.S_IFMT
	out.Size, out.Blocks = 0, 0
	if t == syscall.S_IFCHR || t == syscall.S_IFBLK {
		if dev, ok := parseRdev(info[InfoRdev]); ok {
			out.Rdev = dev
		}
	}
}

// mknodSpecial creates a FIFO, device or socket called name in n: one
// upload of an empty object with the type, rdev, mode and owner in its
// file info.
func (n *Dir) mknodSpecial(ctx context.Context, name string, mode, dev uint32) (*File, error) {
	if e := n.fsys.writable("mknod", capWrite); e != nil {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != nil {
		return nil, e
	}
	if name == EmptyMarker {
		return nil, errs.ErrInvalid
	}
	p, ok := n.fsys.opts.Write.Backend.(infoPutter)
	if !ok {
		return nil, errs.ErrPerm
	}
	full := childName(prefix, name)
	if n.fsys.staged(b, full) != nil {
		return nil, errs.ErrExist
	}
	if _, ok, err := n.fsys.lookup(ctx, b, prefix, name); err != nil {
		return nil, n.fsys.opErr("mknod "+fmtPath(b, full), err)
	} else if ok {
		return nil, errs.ErrExist
	}
	info := n.fsys.newInfo(ctx, b, prefix, mode)
	var ct string
	for _, s := range posixmeta.SpecialTypes {
		if s.Mode == mode&syscall.S_IFMT {
			info[InfoType], ct = s.Name, s.ContentType
		}
	}
	if t := mode & syscall.S_IFMT; t == syscall.S_IFCHR || t == syscall.S_IFBLK {
		info[InfoRdev] = formatRdev(dev)
	}
	info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	obj, err := p.PutInfo(ctx, b, full, ct, info, nil)
	if err != nil {
		return nil, n.fsys.opErr("mknod "+fmtPath(b, full), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	e := entryFromObject(name, obj)
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	return n.fsys.fileNode(b, prefix, e), nil
}
