package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/b2fs/b2fs/fs/errs"
)

func TestToErrno(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		want   syscall.Errno
		logged bool
	}{
		{"nil", nil, 0, false},
		{"not found", fmt.Errorf("list: %w: 404", ErrNotFound), syscall.ENOENT, false},
		{"unauthorized", fmt.Errorf("download: %w", ErrPermission), syscall.EACCES, true},
		{"cap exceeded", fmt.Errorf("%w: download_cap_exceeded", ErrCapExceeded), syscall.ENOSPC, true},
		{"exists", errs.E(errs.ErrExist, "create bucket", "b", errors.New("duplicate_bucket_name")), syscall.EEXIST, false},
		{"not empty", errs.E(errs.ErrNotEmpty, "rmdir", "b/d/", nil), syscall.ENOTEMPTY, false},
		{"not a directory", errs.E(errs.ErrNotDir, "rename", "", nil), syscall.ENOTDIR, false},
		{"is a directory", errs.E(errs.ErrIsDir, "unlink", "", nil), syscall.EISDIR, false},
		{"not permitted", errs.E(errs.ErrPerm, "link", "", nil), syscall.EPERM, false},
		{"too big", fmt.Errorf("write: %w", errs.ErrTooBig), syscall.EFBIG, false},
		{"no attribute", errs.ErrNoAttr, syscall.ENODATA, false},
		{"range", errs.ErrRange, syscall.ERANGE, false},
		{"not supported", errs.ErrNotSupported, syscall.ENOTSUP, false},
		{"cross device", errs.ErrCrossDevice, syscall.EXDEV, false},
		{"bad handle", errs.ErrBadHandle, syscall.EBADF, false},
		{"staging full", fmt.Errorf("staging cache full: %w", errs.ErrNoSpace), syscall.ENOSPC, true},
		{"I/O error wins over its cause", errs.E(errs.ErrIO, "read", "f", fmt.Errorf("download: %w", ErrNotFound)), syscall.EIO, true},
		{"canceled wins", errs.E(errs.ErrIO, "read", "f", context.Canceled), syscall.EINTR, false},
		{"canceled", fmt.Errorf("read: %w", context.Canceled), syscall.EINTR, false},
		{"name too long", ErrNameTooLong, syscall.ENAMETOOLONG, false},
		{"invalid name", ErrInvalidName, syscall.EINVAL, false},
		{"read-only", ErrReadOnly, syscall.EROFS, false},
		{"errno passes through", fmt.Errorf("x: %w", syscall.ENOTDIR), syscall.ENOTDIR, false},
		{"unexpected", errors.New("connection reset by peer"), syscall.EIO, true},
		{"connection refused", fmt.Errorf("b2_get_upload_url: %w", &net.OpError{Op: "dial", Net: "tcp",
			Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), syscall.EIO, true},
		{"connection reset", fmt.Errorf("upload: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), syscall.EIO, true},
		{"bare network errno", fmt.Errorf("upload: %w", syscall.EHOSTUNREACH), syscall.EIO, true},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), syscall.EIO, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			if got := toErrno(log, "op", tc.err); got != tc.want {
				t.Fatalf("toErrno(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if logged := buf.Len() > 0; logged != tc.logged {
				t.Fatalf("logged=%v want %v: %q", logged, tc.logged, buf.String())
			}
			if tc.logged && !strings.Contains(buf.String(), tc.err.Error()) {
				t.Fatalf("log does not carry the cause: %q", buf.String())
			}
		})
	}
}

func TestReadErrno(t *testing.T) {
	tests := []struct {
		err  error
		want syscall.Errno
	}{
		{fmt.Errorf("read: %w", context.Canceled), syscall.EINTR},
		{fmt.Errorf("download: %w", ErrNotFound), syscall.EIO}, // never ENOENT from read(2)
		{errors.New("unexpected EOF"), syscall.EIO},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if got := readErrno(slog.New(slog.NewTextHandler(&buf, nil)), "read f", tc.err); got != tc.want {
			t.Errorf("readErrno(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.want == syscall.EIO && !strings.Contains(buf.String(), tc.err.Error()) {
			t.Errorf("cause of %v not logged: %q", tc.err, buf.String())
		}
	}
}
