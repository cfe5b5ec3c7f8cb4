package fs

import "syscall"

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
// trips instead of two per file. ENOTSUP is not ENOSYS: the kernel keeps
// sending getxattr for user.* names, which b2fs serves.
const unstoredXattr = syscall.ENOTSUP
