package model

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Target is the filesystem under test, addressed by slash-separated paths
// relative to its root ("" is the root). Every method returns nil or a
// syscall.Errno (errnoOf converts), so results compare with the model's.
// Nothing follows a symbolic link except what POSIX follows (Open, Chmod,
// Truncate); the model keeps every link dangling.
type Target interface {
	Open(path string, flags int, perm uint32) (Handle, error)
	Mkdir(path string, perm uint32) error
	Rmdir(path string) error
	Unlink(path string) error
	Link(oldpath, newpath string) error
	Rename(from, to string, flags uint) error
	Symlink(target, path string) error
	Readlink(path string) (string, error)
	Lstat(path string) (Stat, error)
	ReadDir(path string) ([]DirEntry, error)
	Chmod(path string, perm uint32) error
	Lchown(path string, uid, gid int) error
	// Lutimes sets atime and mtime of path (not following a link).
	Lutimes(path string, mtime time.Time) error
	Truncate(path string, size int64) error
	Lsetxattr(path, name string, value []byte, flags int) error
	Lremovexattr(path, name string) error
	Lgetxattr(path, name string) ([]byte, error)
	Llistxattr(path string) ([]string, error)
	// FsyncPath opens path read-only, fsyncs and closes it (sync FILE,
	// sync DIR).
	FsyncPath(path string) error
}

// Lifecycle is what a target can do beyond system calls. The caller
// closes every Handle before Remount; Crash makes every open Handle dead.
type Lifecycle interface {
	// Remount stops the filesystem cleanly and starts it again.
	Remount() error
	// Crash kills the filesystem without warning (kill -9) and starts it
	// again over the same local state, so that it recovers.
	Crash() error
	// Fault arranges a transient failure of the storage service.
	Fault(f Fault)
	// ClearFaults removes every pending fault.
	ClearFaults()
	// Log returns the tail of the filesystem's log, for failure reports.
	Log() string
}

// Handle is an open file.
type Handle interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Stat() (Stat, error)
	Close() error
}

// Stat holds the attributes b2fs promises.
type Stat struct {
	Type  uint32 // syscall.S_IFREG, S_IFDIR or S_IFLNK
	Perm  uint32 // permission bits, with the sticky bit
	UID   uint32
	GID   uint32
	Size  int64
	Mtime time.Time
	Nlink uint64 // links: 1 for a file at a name, 0 once unlinked or replaced
}

// DirEntry is one name of a directory listing.
type DirEntry struct {
	Name string
	Type uint32 // as in Stat
}

// errnoOf reduces err to its syscall.Errno (nil stays nil). Errors that
// carry no errno are returned as they are: the comparison fails on them.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return errnoOf(pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return errnoOf(le.Err)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return errnoOf(se.Err)
	}
	return err
}

// errName prints an errno by its symbol.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	if e, ok := err.(syscall.Errno); ok {
		if n, ok := errnoNames[e]; ok {
			return n
		}
	}
	return err.Error()
}

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.EEXIST: "EEXIST", syscall.ENOTDIR: "ENOTDIR",
	syscall.EISDIR: "EISDIR", syscall.ENOTEMPTY: "ENOTEMPTY", syscall.EINVAL: "EINVAL",
	syscall.EPERM: "EPERM", syscall.EBADF: "EBADF", syscall.ENODATA: "ENODATA",
	syscall.ENOSPC: "ENOSPC", syscall.EIO: "EIO", syscall.ENOTCONN: "ENOTCONN",
	syscall.EACCES: "EACCES", syscall.EROFS: "EROFS", syscall.EXDEV: "EXDEV",
	syscall.E2BIG: "E2BIG", syscall.ENOTSUP: "ENOTSUP", syscall.ELOOP: "ELOOP",
	syscall.EBUSY: "EBUSY", syscall.ERANGE: "ERANGE",
}
