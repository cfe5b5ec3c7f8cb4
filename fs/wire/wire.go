// Package wire is the one place where b2fs's layers are put together: one
// B2 adapter (package b2backend) serves reads, listings, namespace
// changes, the staging area's uploads and its crash recovery; the staging
// area, the vfs and the FUSE adapter (package fs) stand on it. cmd/b2fs
// (and its --demo, which only points the client at an embedded emulator)
// decides the options from its flags and calls New.
package wire

import (
	"context"
	"errors"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs"
	"github.com/b2fs/b2fs/fs/b2backend"
	"github.com/b2fs/b2fs/fs/staging"
)

// Options are what a mount is made of.
type Options struct {
	// Client talks to B2 (or to an emulator).
	Client *b2client.Client
	// FS configures the filesystem; Backend and Write.Backend are set by
	// New, and Write.Staging when Staging is set.
	FS fs.Options
	// Staging enables the write path (nil: a read-only filesystem); its
	// Remote is set by New.
	Staging *staging.Options
	// PartSize and Concurrency tune server-side copies of large files
	// (renames, metadata changes): files of at least 2×PartSize copy
	// their parts in parallel, Concurrency at a time.
	PartSize    int64
	Concurrency int
}

// Mount is a filesystem with its layers.
type Mount struct {
	FS      *fs.FS
	Staging *staging.Manager // nil on a read-only mount
	Backend *b2backend.Backend
}

// New builds the layers. On error nothing is left open.
func New(o Options) (*Mount, error) {
	if o.Client == nil {
		return nil, errors.New("wire: a B2 client is required")
	}
	be := b2backend.New(o.Client, b2backend.Options{PartSize: o.PartSize, Concurrency: o.Concurrency})
	m := &Mount{Backend: be}
	opts := o.FS
	opts.Backend = be
	if o.Staging != nil {
		so := *o.Staging
		so.Remote = be
		if so.Current == nil {
			so.Current, so.ListCurrent = be.Current, be.ListCurrent
		}
		st, err := staging.New(so)
		if err != nil {
			return nil, err
		}
		m.Staging = st
		opts.Write.Staging, opts.Write.Backend = st, be
	} else {
		opts.Write.Staging, opts.Write.Backend = nil, nil
	}
	f, err := fs.New(opts)
	if err != nil {
		if m.Staging != nil {
			m.Staging.Close(context.Background())
		}
		return nil, err
	}
	m.FS = f
	return m, nil
}

// CloseWrite uploads what is still staged (bounded by ctx); nil on a
// read-only mount. What cannot be uploaded stays staged for the next start.
func (m *Mount) CloseWrite(ctx context.Context) error {
	if m.Staging == nil {
		return nil
	}
	return m.Staging.Close(ctx)
}
