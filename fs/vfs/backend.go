package vfs

import "github.com/b2fs/b2fs/fs/backend"

// The backend interfaces and values, defined in package backend.
type (
	Backend        = backend.Backend
	TreeLister     = backend.TreeLister
	WriteBackend   = backend.WriteBackend
	Bucket         = backend.Bucket
	Object         = backend.Object
	Page           = backend.Page
	CopyMeta       = backend.CopyMeta
	infoPutter     = backend.InfoPutter
	versionDeleter = backend.VersionDeleter
)

// Errors a Backend wraps (see package backend).
var (
	ErrNotFound     = backend.ErrNotFound
	ErrPermission   = backend.ErrPermission
	ErrCapExceeded  = backend.ErrCapExceeded
	ErrNameTooLong  = backend.ErrNameTooLong
	ErrInvalidName  = backend.ErrInvalidName
	ErrReadOnly     = backend.ErrReadOnly
	ErrRangeInvalid = backend.ErrRangeInvalid
)
