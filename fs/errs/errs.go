// Package errs is b2fs's one error vocabulary. The layers below the FUSE
// adapter (vfs, listing, readahead, staging, the B2 adapter) return Go
// errors that wrap one of the kinds below (test with errors.Is); the FUSE
// adapter alone turns them into errno values (fs/fuse.Errno), and an error
// of no kind there is an I/O error whose cause is logged.
//
// A cancelled context (context.Canceled) is its own kind: the caller was
// interrupted (EINTR).
package errs

import (
	"errors"
	"fmt"
)

// The kinds of errors. Each names the errno the adapter answers with.
var (
	ErrNotExist     = errors.New("no such file or directory")   // ENOENT
	ErrExist        = errors.New("file exists")                 // EEXIST
	ErrNotEmpty     = errors.New("directory not empty")         // ENOTEMPTY
	ErrNotDir       = errors.New("not a directory")             // ENOTDIR
	ErrIsDir        = errors.New("is a directory")              // EISDIR
	ErrPerm         = errors.New("operation not permitted")     // EPERM
	ErrAccess       = errors.New("permission denied")           // EACCES
	ErrReadOnly     = errors.New("read-only file system")       // EROFS
	ErrNameTooLong  = errors.New("file name too long")          // ENAMETOOLONG
	ErrNoSpace      = errors.New("no space left")               // ENOSPC
	ErrTooBig       = errors.New("file too large")              // EFBIG
	ErrNoAttr       = errors.New("no such attribute")           // ENODATA
	ErrRange        = errors.New("result too large for buffer") // ERANGE
	ErrInvalid      = errors.New("invalid argument")            // EINVAL
	ErrNotSupported = errors.New("operation not supported")     // ENOTSUP
	ErrCrossDevice  = errors.New("cross-device link")           // EXDEV
	ErrBadHandle    = errors.New("bad file descriptor")         // EBADF
	ErrValueTooBig  = errors.New("value too large")             // E2BIG
	// ErrIO is an I/O error that must stay one whatever its cause: a
	// failed read is EIO even when B2 answered "not found".
	ErrIO = errors.New("input/output error") // EIO
)

// Error is an error of a kind, with the operation and path it concerns and
// its cause (both optional).
type Error struct {
	Kind error  // one of the Err* values
	Op   string // "rename", "unlink", ...
	Path string // bucket/name, when known
	Err  error  // the cause, or nil
}

func (e *Error) Error() string {
	s := e.Op
	if e.Path != "" {
		if s != "" {
			s += " "
		}
		s += e.Path
	}
	if s != "" {
		s += ": "
	}
	s += e.Kind.Error()
	if e.Err != nil && e.Err != e.Kind {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is finds both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// E returns an error of kind for op on path, wrapping cause (may be nil).
func E(kind error, op, path string, cause error) error {
	return &Error{Kind: kind, Op: op, Path: path, Err: cause}
}

// Wrapf wraps cause with a message and kind: errors.Is finds both.
func Wrapf(kind, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause == nil {
		return fmt.Errorf("%s: %w", msg, kind)
	}
	return fmt.Errorf("%s: %w: %w", msg, kind, cause)
}

// Is reports whether err is of kind (errors.Is, for brevity).
func Is(err, kind error) bool { return errors.Is(err, kind) }
