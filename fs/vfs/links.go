package vfs

import "github.com/b2fs/b2fs/fs/errs"

// linkRefused answers link(2): EPERM, logged at debug level only. B2 has
// no hard links (an object has exactly one name, and a copy would not
// share later changes), and callers expect the refusal: git tries link()
// for every object it writes and falls back to rename, so a warning here
// would be one line per object (docs/posix.md).
func (f *FS) linkRefused(b Bucket, name string) error {
	f.log.Debug("hard link refused (EPERM): B2 has no hard links", "file", fmtPath(b, name))
	return errs.ErrPerm
}
