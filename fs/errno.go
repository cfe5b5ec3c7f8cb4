package fs

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"syscall"

	"github.com/b2fs/b2fs/fs/errs"
)

// errnoKinds maps the error kinds (package errs) to errno values, in the
// order they are tested: ErrIO first, so that an I/O error stays one
// whatever its cause. logged kinds are worth a log line with the cause
// (the operator can act on them); the others are answers, not failures.
var errnoKinds = []struct {
	kind   error
	errno  syscall.Errno
	logged string
}{
	{errs.ErrIO, syscall.EIO, "I/O error"},
	{errs.ErrNoSpace, syscall.ENOSPC, "no space: B2 cap exceeded, staging cache full or file info full"},
	{errs.ErrAccess, syscall.EACCES, "B2 refused the operation (missing capability or restricted key?)"},
	{errs.ErrNotExist, syscall.ENOENT, ""},
	{errs.ErrExist, syscall.EEXIST, ""},
	{errs.ErrNotEmpty, syscall.ENOTEMPTY, ""},
	{errs.ErrNotDir, syscall.ENOTDIR, ""},
	{errs.ErrIsDir, syscall.EISDIR, ""},
	{errs.ErrPerm, syscall.EPERM, ""},
	{errs.ErrReadOnly, syscall.EROFS, ""},
	{errs.ErrNameTooLong, syscall.ENAMETOOLONG, ""},
	{errs.ErrTooBig, syscall.EFBIG, ""},
	{errs.ErrNoAttr, syscall.ENODATA, ""},
	{errs.ErrRange, syscall.ERANGE, ""},
	{errs.ErrInvalid, syscall.EINVAL, ""},
	{errs.ErrNotSupported, syscall.ENOTSUP, ""},
	{errs.ErrCrossDevice, syscall.EXDEV, ""},
	{errs.ErrBadHandle, syscall.EBADF, ""},
	{errs.ErrValueTooBig, syscall.E2BIG, ""},
}

// toErrno is the one place where errors become errno values. A cancelled
// operation is EINTR; an error of a kind of package errs gets that kind's
// errno; anything else (a timeout, a broken connection, a server error) is
// EIO, and its cause is logged.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && !networkError(err, errno) {
		return errno // node code answering with an errno value
	}
	for _, k := range errnoKinds {
		if errors.Is(err, k.kind) {
			if k.logged != "" && log != nil {
				log.Error(k.logged, "op", op, "err", err)
			}
			return k.errno
		}
	}
	if log != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			log.Error("timed out", "op", op, "err", err)
		} else {
			log.Error("I/O error", "op", op, "err", err)
		}
	}
	return syscall.EIO
}

// networkError reports whether err, carrying errno, is a failure to reach
// B2 (a refused or reset connection, an unreachable network, ...): the
// caller gets EIO, not the socket's errno (ECONNREFUSED from creat(2)
// would mean nothing to a program).
func networkError(err error, errno syscall.Errno) bool {
	var oe *net.OpError
	var ue *url.Error
	if errors.As(err, &oe) || errors.As(err, &ue) {
		return true
	}
	switch errno {
	case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.ETIMEDOUT, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.EHOSTDOWN, syscall.ENETUNREACH, syscall.ENETDOWN, syscall.ENETRESET:
		return true
	}
	return false
}

// readError is the error a failed read answers with: an interrupted read
// stays interrupted, every other failure is an I/O error (never a short
// read that looks like EOF, never ENOENT from read(2)).
func readError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return errs.E(errs.ErrIO, "", "", err)
}

// readErrno maps a failed read (see readError).
func readErrno(log *slog.Logger, op string, err error) syscall.Errno {
	return toErrno(log, op, readError(err))
}

// Errno is toErrno for callers outside the adapter: tests that drive
// package vfs directly compare errno values the way a mount shows them,
// with the same log lines.
func Errno(log *slog.Logger, op string, err error) syscall.Errno { return toErrno(log, op, err) }
