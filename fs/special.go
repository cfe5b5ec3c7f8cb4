package fs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/staging"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Special files (FIFOs, character and block devices, unix sockets) are
// empty objects whose file info carries the type, like symlinks:
//
//	b2fs-type  "fifo", "chr", "blk" or "sock"
//	b2fs-rdev  the device number as "MAJOR:MINOR" (devices only)
//
// plus the usual mode, owner and mtime keys, so listings alone describe
// them. The kernel implements what they do (a FIFO's pipe, a socket's
// connections, a device's driver): b2fs only stores the inode.
const (
	InfoRdev = "b2fs-rdev"

	typeFIFO   = "fifo"
	typeChar   = "chr"
	typeBlock  = "blk"
	typeSocket = "sock"
)

// specialTypes maps the b2fs-type values of special files to S_IFMT bits
// and the content type their objects get (freedesktop.org's inode/*).
var specialTypes = [...]struct {
	name        string
	mode        uint32
	contentType string
}{
	{typeFIFO, syscall.S_IFIFO, "inode/fifo"},
	{typeChar, syscall.S_IFCHR, "inode/chardevice"},
	{typeBlock, syscall.S_IFBLK, "inode/blockdevice"},
	{typeSocket, syscall.S_IFSOCK, "inode/socket"},
}

// specialMode returns the S_IFMT bits of a special file's info, 0 for
// anything else.
func specialMode(info map[string]string) uint32 {
	t, ok := info[InfoType]
	if !ok {
		return 0
	}
	for _, s := range specialTypes {
		if s.name == t {
			return s.mode
		}
	}
	return 0
}

// isSpecialMode reports whether mode (with S_IFMT bits) is a special file.
func isSpecialMode(mode uint32) bool {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFSOCK:
		return true
	}
	return false
}

// The kernel passes device numbers to FUSE in its 32-bit encoding
// (new_encode_dev): minor bits 0-7 low, then 12 bits of major, then the
// rest of the minor.
func devMajor(dev uint32) uint32 { return (dev >> 8) & 0xfff }
func devMinor(dev uint32) uint32 { return dev&0xff | (dev>>12)&0xfff00 }
func mkdev(major, minor uint32) uint32 {
	return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12
}

func formatRdev(dev uint32) string {
	return fmt.Sprintf("%d:%d", devMajor(dev), devMinor(dev))
}

// parseRdev reads b2fs-rdev; ok is false when it is malformed or out of
// the range the kernel's encoding holds.
func parseRdev(s string) (uint32, bool) {
	ma, mi, found := strings.Cut(s, ":")
	if !found {
		return 0, false
	}
	major, err1 := strconv.ParseUint(ma, 10, 32)
	minor, err2 := strconv.ParseUint(mi, 10, 32)
	if err1 != nil || err2 != nil || major > 0xfff || minor > 0xfffff {
		return 0, false
	}
	return mkdev(uint32(major), uint32(minor)), true
}

// applySpecial gives out the type and device number of a special file
// (after applyMeta has set mode and owner): its permission bits stay.
func applySpecial(info map[string]string, out *fuse.Attr) {
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
func (n *dirNode) mknodSpecial(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.fsys.writable("mknod", capWrite); e != 0 {
		return nil, e
	}
	b, prefix := n.loc()
	if e := checkNewName(prefix, name); e != 0 {
		return nil, e
	}
	if name == EmptyMarker {
		return nil, syscall.EINVAL
	}
	p, ok := n.fsys.opts.Write.Backend.(infoPutter)
	if !ok {
		return nil, syscall.EPERM
	}
	full := childName(prefix, name)
	if n.fsys.staged(b, full) != nil {
		return nil, syscall.EEXIST
	}
	if _, ok, err := n.fsys.meta.lookup(ctx, b, prefix, name); err != nil {
		return nil, n.fsys.errno("mknod "+fmtPath(b, full), err)
	} else if ok {
		return nil, syscall.EEXIST
	}
	info := n.fsys.newInfo(ctx, b, prefix, mode)
	var ct string
	for _, s := range specialTypes {
		if s.mode == mode&syscall.S_IFMT {
			info[InfoType], ct = s.name, s.contentType
		}
	}
	if t := mode & syscall.S_IFMT; t == syscall.S_IFCHR || t == syscall.S_IFBLK {
		info[InfoRdev] = formatRdev(dev)
	}
	info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
	obj, err := p.PutInfo(ctx, b, full, ct, info, nil)
	if err != nil {
		return nil, n.fsys.werrno("mknod "+fmtPath(b, full), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	e := entryFromObject(name, obj)
	n.fsys.changed(b, prefix, name, &e)
	n.fsys.entriesChanged(b, prefix)
	return n.fsys.child(ctx, n.EmbeddedInode(), b, prefix, e, out), 0
}
