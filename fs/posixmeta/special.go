package posixmeta

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
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

	TypeFIFO   = "fifo"
	TypeChar   = "chr"
	TypeBlock  = "blk"
	TypeSocket = "sock"
)

// SpecialTypes maps the b2fs-type values of special files to S_IFMT bits
// and the content type their objects get (freedesktop.org's inode/*).
var SpecialTypes = [...]struct {
	Name        string
	Mode        uint32
	ContentType string
}{
	{TypeFIFO, syscall.S_IFIFO, "inode/fifo"},
	{TypeChar, syscall.S_IFCHR, "inode/chardevice"},
	{TypeBlock, syscall.S_IFBLK, "inode/blockdevice"},
	{TypeSocket, syscall.S_IFSOCK, "inode/socket"},
}

// SpecialMode returns the S_IFMT bits of a special file's info, 0 for
// anything else.
func SpecialMode(info map[string]string) uint32 {
	t, ok := info[InfoType]
	if !ok {
		return 0
	}
	return specialType(t)
}

// specialType returns the S_IFMT bits of a b2fs-type value, 0 for anything
// but a special file's.
func specialType(t string) uint32 {
	for _, s := range SpecialTypes {
		if s.Name == t {
			return s.Mode
		}
	}
	return 0
}

// IsSpecialMode reports whether mode (with S_IFMT bits) is a special file.
func IsSpecialMode(mode uint32) bool {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFSOCK:
		return true
	}
	return false
}

// The kernel passes device numbers to FUSE in its 32-bit encoding
// (new_encode_dev): minor bits 0-7 low, then 12 bits of major, then the
// rest of the minor.
func DevMajor(dev uint32) uint32 { return (dev >> 8) & 0xfff }
func DevMinor(dev uint32) uint32 { return dev&0xff | (dev>>12)&0xfff00 }
func Mkdev(major, minor uint32) uint32 {
	return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12
}

func FormatRdev(dev uint32) string {
	return fmt.Sprintf("%d:%d", DevMajor(dev), DevMinor(dev))
}

// ParseRdev reads b2fs-rdev; ok is false when it is malformed or out of
// the range the kernel's encoding holds.
func ParseRdev(s string) (uint32, bool) {
	ma, mi, found := strings.Cut(s, ":")
	if !found {
		return 0, false
	}
	major, err1 := strconv.ParseUint(ma, 10, 32)
	minor, err2 := strconv.ParseUint(mi, 10, 32)
	if err1 != nil || err2 != nil || major > 0xfff || minor > 0xfffff {
		return 0, false
	}
	return Mkdev(uint32(major), uint32(minor)), true
}
