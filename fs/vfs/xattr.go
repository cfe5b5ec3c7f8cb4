package vfs

import (
	"context"
	"strings"

	"github.com/b2fs/b2fs/fs/errs"
)

// This file holds the go-fuse side of POSIX metadata (see posix.go):
// attributes from file info, chmod/chown/utimes, symlinks and extended
// attributes.

// Extended attributes: the user namespace is stored in file info (see
// posix.go); other namespaces are not supported.

// xattrNamespace sorts an attribute name: user attributes are stored,
// everything else is not supported.
func xattrUserName(attr string) (string, bool) {
	name, ok := strings.CutPrefix(attr, xattrUser)
	return name, ok && name != ""
}

// unstoredXattr answers getxattr of every name outside the user namespace
// (security.selinux, security.capability, system.posix_acl_*): b2fs does
// not store them (setxattr of such a name fails the same way), so the
// answer is "not supported", not "no such attribute".
//
// The difference is what makes ls -l cheap. The kernel keeps no xattr
// answer of a FUSE filesystem, so every getxattr is a round trip; ls -l
// asks each file for security.selinux and system.posix_acl_access, but
// stops asking a device that answered EOPNOTSUPP once (coreutils'
// getfilecon_cache and file_has_acl_cache), so a listing costs two round
// trips instead of two per file. ErrNotSupported (ENOTSUP) is not ENOSYS: the kernel keeps
// sending getxattr for user.* names, which b2fs serves.
var unstoredXattr = errs.ErrNotSupported

func getxattrFrom(info map[string]string, attr string) ([]byte, error) {
	name, ok := xattrUserName(attr)
	if !ok {
		return nil, unstoredXattr
	}
	v, ok := getXattr(info, name)
	if !ok {
		return nil, errs.ErrNoAttr
	}
	return v, nil
}

// listxattrFrom returns the names of info's attributes, each ended by NUL.
func listxattrFrom(info map[string]string) []byte {
	var buf []byte
	for _, n := range listXattrs(info) {
		buf = append(buf, n...)
		buf = append(buf, 0)
	}
	return buf
}

// xattrSet returns the change that sets (data non-nil) or removes user
// attribute attr of the object called full.
func xattrSet(full, attr string, data []byte, flags uint32, remove bool) (infoChange, error) {
	name, ok := xattrUserName(attr)
	if !ok {
		return nil, errs.ErrNotSupported
	}
	if len(attr) > 255 {
		return nil, errs.ErrRange
	}
	return func(info map[string]string) error {
		key, hashed := xattrKey(name)
		_, exists := getXattr(info, name)
		if remove {
			if !exists {
				return errs.ErrNoAttr
			}
			delete(info, key)
			return nil
		}
		switch {
		case flags&0x1 != 0 && exists: // XATTR_CREATE
			return errs.ErrExist
		case flags&0x2 != 0 && !exists: // XATTR_REPLACE
			return errs.ErrNoAttr
		}
		info[key] = xattrValue(name, data, hashed)
		return checkInfoFits(full, info, key)
	}, nil
}

// info returns the current file info of file n (staged or listed): the
// staged file's with the pending metadata change over it, as Attr shows
// it (stagedView).
func (n *File) info() map[string]string {
	if sf := n.stagedFile(); sf != nil {
		_, _, name := n.loc()
		return n.stagedView(name, sf).Info()
	}
	return n.current().Info()
}

// Getxattr returns the value of extended attribute attr: ErrNoAttr when
// the file has none, ErrNotSupported outside the user namespace.
func (n *File) Getxattr(ctx context.Context, attr string) ([]byte, error) {
	return getxattrFrom(n.info(), attr)
}

// Listxattr returns the names of the file's extended attributes, each
// ended by NUL.
func (n *File) Listxattr(ctx context.Context) ([]byte, error) {
	return listxattrFrom(n.info()), nil
}

func (n *File) setxattr(ctx context.Context, attr string, data []byte, flags uint32, remove bool) error {
	b, dir, name := n.loc()
	change, e := xattrSet(childName(dir, name), attr, data, flags, remove)
	if e != nil {
		if e == errs.ErrNotSupported {
			n.fsys.log.Debug("extended attribute outside the user namespace not stored", "file", fmtPath(b, childName(dir, name)), "attr", attr)
		}
		return e
	}
	return n.changeInfo(ctx, nil, "setxattr", nil, change)
}

// Getxattr returns the value of the directory's extended attribute attr.
func (n *Dir) Getxattr(ctx context.Context, attr string) ([]byte, error) {
	if _, ok := xattrUserName(attr); !ok {
		return nil, unstoredXattr
	}
	b, prefix := n.loc()
	m, _, _ := n.fsys.marker(ctx, b, prefix, true)
	return getxattrFrom(m.Info(), attr)
}

// Listxattr returns the names of the directory's extended attributes.
func (n *Dir) Listxattr(ctx context.Context) ([]byte, error) {
	b, prefix := n.loc()
	m, _, _ := n.fsys.marker(ctx, b, prefix, true)
	return listxattrFrom(m.Info()), nil
}

func (n *Dir) setxattr(ctx context.Context, attr string, data []byte, flags uint32, remove bool) error {
	if n.isGone() {
		return errs.ErrNotExist // removed or replaced: its prefix is another directory's
	}
	b, prefix := n.loc()
	change, e := xattrSet(prefix+EmptyMarker, attr, data, flags, remove)
	if e != nil {
		return e
	}
	return n.fsys.changeDirInfo(ctx, b, prefix, "setxattr", nil, change)
}
