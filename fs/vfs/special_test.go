package vfs

import (
	"syscall"
	"testing"

	"github.com/b2fs/b2fs/cache"
)

// Special files are described by their listing entry alone.
func TestSpecialAttr(t *testing.T) {
	f := &FS{opts: Options{FileMode: 0o644, UID: 7, GID: 8}}
	for _, tc := range []struct {
		info map[string]string
		mode uint32
		rdev uint32
	}{
		{map[string]string{InfoType: "fifo", InfoMode: "640"}, syscall.S_IFIFO | 0o640, 0},
		{map[string]string{InfoType: "chr", InfoMode: "620", InfoRdev: "1:3"}, syscall.S_IFCHR | 0o620, mkdev(1, 3)},
		{map[string]string{InfoType: "blk", InfoRdev: "8:17"}, syscall.S_IFBLK | 0o644, mkdev(8, 17)},
		{map[string]string{InfoType: "blk", InfoRdev: "junk"}, syscall.S_IFBLK | 0o644, 0},
		{map[string]string{InfoType: "sock", InfoMode: "755"}, syscall.S_IFSOCK | 0o755, 0},
		{map[string]string{InfoType: "something-else"}, syscall.S_IFREG | 0o644, 0},
		{map[string]string{InfoType: "fifo", InfoRdev: "1:3"}, syscall.S_IFIFO | 0o644, 0}, // rdev for devices only
	} {
		e := cache.Entry{Name: "x"}
		e.SetInfo(tc.info)
		var a Attr
		f.fileAttr(e, &a)
		if a.Mode != tc.mode || a.Rdev != tc.rdev || a.Uid != 7 || a.Gid != 8 {
			t.Errorf("%v: mode %o rdev %#x owner %d:%d, want mode %o rdev %#x", tc.info, a.Mode, a.Rdev, a.Uid, a.Gid, tc.mode, tc.rdev)
		}
		if got := entryType(e); got != tc.mode&syscall.S_IFMT {
			t.Errorf("%v: entryType %o, want %o", tc.info, got, tc.mode&syscall.S_IFMT)
		}
	}
}
