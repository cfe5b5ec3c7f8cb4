package vfs

import (
	"syscall"
	"testing"

	"github.com/b2fs/b2fs/cache"
)

func TestApplyMeta(t *testing.T) {
	f := &FS{opts: Options{UID: 7, GID: 8, FileMode: 0o644, DirMode: 0o755}}
	for _, tc := range []struct {
		name string
		info map[string]string
		mode uint32
		uid  uint32
		gid  uint32
	}{
		{"no metadata", nil, syscall.S_IFREG | 0o644, 7, 8},
		{"full", map[string]string{InfoMode: "4750", InfoUID: "1000", InfoGID: "65534"}, syscall.S_IFREG | 0o4750, 1000, 65534},
		{"mode 000", map[string]string{InfoMode: "0"}, syscall.S_IFREG, 7, 8},
		{"leading zero", map[string]string{InfoMode: "0640", InfoUID: "01"}, syscall.S_IFREG | 0o640, 1, 8},
		{"bad values ignored", map[string]string{InfoMode: "9z", InfoUID: "-1", InfoGID: "x"}, syscall.S_IFREG | 0o644, 7, 8},
		{"symlink", map[string]string{InfoType: typeSymlink, InfoMode: "600", InfoUID: "3"}, syscall.S_IFLNK | 0o777, 3, 8},
	} {
		var out Attr
		var e cache.Entry
		e.SetInfo(tc.info)
		f.fileAttr(e, &out)
		if out.Mode != tc.mode || out.Uid != tc.uid || out.Gid != tc.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", tc.name, out.Mode, out.Uid, out.Gid, tc.mode, tc.uid, tc.gid)
		}
	}
}
