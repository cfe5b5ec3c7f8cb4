package fs

import (
	"context"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/vfs"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The filesystem's configuration and values, defined in package vfs.
type (
	Options      = vfs.Options
	ReadOptions  = vfs.ReadOptions
	WriteOptions = vfs.WriteOptions
	Budget       = vfs.Budget
	Backend      = vfs.Backend
	TreeLister   = vfs.TreeLister
	WriteBackend = vfs.WriteBackend
	Bucket       = vfs.Bucket
	Object       = vfs.Object
	Page         = vfs.Page
	CopyMeta     = vfs.CopyMeta
)

// Errors a Backend wraps (see package backend).
var (
	ErrNotFound     = vfs.ErrNotFound
	ErrPermission   = vfs.ErrPermission
	ErrCapExceeded  = vfs.ErrCapExceeded
	ErrNameTooLong  = vfs.ErrNameTooLong
	ErrInvalidName  = vfs.ErrInvalidName
	ErrReadOnly     = vfs.ErrReadOnly
	ErrRangeInvalid = vfs.ErrRangeInvalid
)

// CheckVersionsDir validates a name for Options.VersionsDir (see vfs).
func CheckVersionsDir(name string) error { return vfs.CheckVersionsDir(name) }

// NewBudget returns a readahead memory budget of max bytes (see vfs).
func NewBudget(max int64) *Budget { return vfs.NewBudget(max) }

// FS is a b2fs filesystem served through go-fuse: the vfs below, with
// every error made an errno value here (toErrno).
type FS struct {
	*vfs.FS
	log    *slog.Logger
	inodes *inodeCap // bounds the file inodes held for the kernel (inodecap.go)

	passWarned atomic.Bool // the passthrough fallback was logged
	// gen numbers the inodes made for vfs nodes (StableAttr.Gen): st_ino
	// is the vfs node's (stable across forgets, and so reused), and go-fuse
	// takes a new inode with the StableAttr of a live one for that one;
	// the generation keeps each new inode its own, as when go-fuse
	// numbered them.
	gen atomic.Uint64
	rel releases // RELEASE requests in progress (releaseorder.go)
}

// New checks opts and returns a filesystem.
func New(opts Options) (*FS, error) {
	v, err := vfs.New(opts)
	if err != nil {
		return nil, err
	}
	f := &FS{FS: v, log: v.Logger(), inodes: newInodeCap(opts.MaxFileInodes)}
	f.rel.byReq = map[<-chan struct{}][]func(){}
	return f, nil
}

// Root returns the root node to mount.
func (f *FS) Root() fusefs.InodeEmbedder {
	switch r := f.FS.Root().(type) {
	case *vfs.Account:
		return &accountNode{fsys: f, a: r}
	case *vfs.Dir:
		return &dirNode{fsys: f, d: r}
	}
	panic("vfs root of an unknown kind")
}

// errno maps err through toErrno, logging unexpected causes.
func (f *FS) errno(op string, err error) syscall.Errno { return toErrno(f.log, op, err) }

// MaxRequest is the largest FUSE read or write request b2fs asks the kernel
// for.
const MaxRequest = 1 << 20

// MountConfig is what the kernel mount needs besides the filesystem.
type MountConfig struct {
	// FsName is shown as the source in /proc/mounts ("b2fs:bucket").
	FsName     string
	AllowOther bool
	// ReadOnly mounts read-only in the kernel.
	ReadOnly bool
	// Debug logs every FUSE request.
	Debug bool
	// NoDefaultPermissions turns off the kernel's permission checks
	// against each file's mode and owner (default_permissions, on by
	// default).
	NoDefaultPermissions bool
	// NoXattrs answers every extended-attribute request with ENOTSUP at
	// the kernel, which then stops asking: ls -l costs two getxattr round
	// trips per file otherwise.
	NoXattrs bool
}

// FuseOptions returns the go-fuse options: kernel timeouts from the cache's
// TTLs, 1 MiB requests and readahead.
func (f *FS) FuseOptions(mc MountConfig) *fusefs.Options {
	co := f.Cache().Options()
	entry, attr, neg := co.AttrTTL, co.AttrTTL, co.NegativeTTL
	o := &fusefs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NegativeTimeout: &neg,
		// Attributes carry each file's own mode and owner (uid 0 and
		// mode 000 included); go-fuse must not substitute defaults.
		NullPermissions: true,
	}
	o.MountOptions = fuse.MountOptions{
		FsName:        mc.FsName,
		Name:          "b2fs",
		AllowOther:    mc.AllowOther,
		MaxWrite:      MaxRequest,
		MaxReadAhead:  MaxRequest,
		MaxBackground: 64,
		// Replies to 1 MiB reads of staged files do not fit a default
		// (1 MiB) pipe, so splicing them always fails and falls back to
		// a copy after logging; copy at once instead.
		DisableSplice: true,
		DisableXAttrs: mc.NoXattrs,
		Debug:         mc.Debug,
	}
	if mc.ReadOnly {
		o.MountOptions.Options = append(o.MountOptions.Options, "ro")
	}
	if !mc.NoDefaultPermissions {
		o.MountOptions.Options = append(o.MountOptions.Options, "default_permissions")
	}
	return o
}

// fillAttr copies vfs attributes into a FUSE reply.
func fillAttr(a vfs.Attr, out *fuse.Attr) {
	out.Mode = a.Mode
	out.Size = a.Size
	out.Blocks = a.Blocks
	out.Blksize = a.Blksize
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.Uid, a.Gid
	out.Rdev = a.Rdev
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

// fillEntry fills a LOOKUP reply; attributes the vfs was unsure of are not
// kept by the kernel (it asks again with GETATTR).
func fillEntry(a vfs.Attr, out *fuse.EntryOut) {
	fillAttr(a, &out.Attr)
	if a.Unsure {
		out.SetAttrTimeout(time.Nanosecond)
	}
}

func fillStatfs(s vfs.Statfs, out *fuse.StatfsOut) {
	out.Bsize, out.Frsize = s.Bsize, s.Frsize
	out.Blocks, out.Bfree, out.Bavail = s.Blocks, s.Bfree, s.Bavail
	out.Files, out.Ffree = s.Files, s.Ffree
	out.NameLen = s.NameLen
}

// toSetAttr converts a SETATTR request.
func toSetAttr(in *fuse.SetAttrIn) *vfs.SetAttr {
	var s vfs.SetAttr
	if m, ok := in.GetMode(); ok {
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		s.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		s.GID = &g
	}
	if sz, ok := in.GetSize(); ok {
		s.Size = &sz
	}
	if t, ok := in.GetMTime(); ok {
		s.Mtime = &t
	}
	return &s
}

// withCaller passes the requesting process's uid and gid to the vfs (new
// files and directories are theirs).
func withCaller(ctx context.Context) context.Context {
	if c, ok := fuse.FromContext(ctx); ok {
		return vfs.WithCaller(ctx, c.Uid, c.Gid)
	}
	return ctx
}

// copyXattr implements the size-query contract of getxattr/listxattr.
func copyXattr(dest, val []byte) (uint32, syscall.Errno) {
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}
