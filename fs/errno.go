package fs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
)

// toErrno is the one place where errors become errno values. Anything not
// recognised is EIO, and its cause is logged.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, ErrPermission):
		return syscall.EACCES
	case errors.Is(err, ErrCapExceeded):
		return syscall.ENOSPC
	case errors.Is(err, ErrNameTooLong):
		return syscall.ENAMETOOLONG
	case errors.Is(err, ErrInvalidName):
		return syscall.EINVAL
	case errors.Is(err, ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	if log != nil {
		log.Error("I/O error", "op", op, "err", err)
	}
	return syscall.EIO
}

// readErrno maps a failed read: an interrupted read is EINTR, every other
// failure EIO with its cause logged (never a short read that looks like EOF,
// never ENOENT from read(2)).
func readErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	if log != nil {
		log.Error("read failed", "op", op, "err", err)
	}
	return syscall.EIO
}
