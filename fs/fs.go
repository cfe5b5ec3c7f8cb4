package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/versions"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure a filesystem.
type Options struct {
	// Backend serves the B2 calls.
	Backend Backend
	// Cache is the metadata cache; its TTLs also become the kernel's entry,
	// attribute and negative timeouts.
	Cache *cache.Cache
	// Logger receives the filesystem's logs; nil discards them.
	Logger *slog.Logger
	// Bucket is the bucket mounted as the root, with Prefix (a "folder"
	// inside it) as the root directory. An empty Bucket.Name mounts the
	// account: the root lists the buckets as directories.
	Bucket Bucket
	Prefix string
	// UID and GID own every file and directory without stored metadata
	// (b2fs-uid, b2fs-gid); DirMode and FileMode are their permission bits
	// (default 0755 and 0644).
	UID, GID          uint32
	DirMode, FileMode uint32
	// Read tunes ranged reads and readahead.
	Read ReadOptions
	// Write enables and tunes the write path (see write.go); its zero
	// value makes the filesystem read-only.
	Write WriteOptions
	// ReadCache keeps downloaded ranges (and files uploaded from this
	// mount) on local disk across mounts; nil: no read cache.
	ReadCache *readcache.Cache
	// Passthrough opens versions whose content is entirely in ReadCache
	// with FUSE passthrough: the kernel reads the cache file directly.
	Passthrough bool
	// ListPageSize is maxFileCount for directory listings (default and
	// maximum 10000).
	ListPageSize int
	// ListPrefetchPages is the page budget of a subtree prefetch (see
	// prefetch.go): the first listing of a directory lists its whole
	// subtree, up to this many pages, when the Backend is a TreeLister.
	// Zero lists every directory on its own with the delimiter.
	ListPrefetchPages int
	// MaxFileInodes bounds the file inodes b2fs keeps for the kernel
	// (see inodecap.go); the oldest beyond it are dropped from the
	// kernel's cache. Zero means unbounded.
	MaxFileInodes int
	// VersionsDir names the read-only time-travel directory at the root
	// of each bucket (see view_nodes.go); "" turns it off. It needs a
	// Backend that lists versions (versions.Lister).
	VersionsDir string
}

// FS is a mounted (or mountable) b2fs filesystem.
type FS struct {
	opts    Options
	log     *slog.Logger
	meta    *meta
	mounted time.Time
	stopped atomic.Bool    // set by StopWrites
	mq      *metaQueue     // files with metadata changes not yet in B2
	view    *versions.View // nil: no time-travel view
	inodes  *inodeCap      // bounds the file inodes held for the kernel

	// life is the filesystem's lifetime, cancelled by Shutdown: listing
	// fetchers and deferred-metadata flushes run under it.
	life    context.Context
	endLife context.CancelFunc
	// lifeMu guards closed; bg counts the background work started under
	// it (Add only while closed is false).
	lifeMu  sync.Mutex
	closed  bool
	bg      sync.WaitGroup
	dtimes  dirTimes    // directory times changed during this mount
	markers markerQueue // directories waiting for their marker check

	passWarned atomic.Bool // the passthrough fallback was logged
}

// New checks opts and returns a filesystem.
func New(opts Options) (*FS, error) {
	if opts.Backend == nil || opts.Cache == nil {
		return nil, errors.New("fs: Backend and Cache are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.DirMode == 0 {
		opts.DirMode = 0o755
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o644
	}
	if opts.ListPageSize <= 0 || opts.ListPageSize > 10000 {
		opts.ListPageSize = 10000
	}
	opts.Prefix = normPrefix(opts.Prefix)
	opts.Read.fill()
	opts.Write.fill()
	life, end := context.WithCancel(context.Background())
	f := &FS{
		opts:    opts,
		log:     opts.Logger,
		meta:    metaFor(life, opts),
		mounted: time.Now(),
		mq:      newMetaQueue(),
		inodes:  newInodeCap(opts.MaxFileInodes),
		life:    life,
		endLife: end,
	}
	if opts.VersionsDir != "" {
		if err := CheckVersionsDir(opts.VersionsDir); err != nil {
			end()
			return nil, fmt.Errorf("fs: %w", err)
		}
		l, ok := opts.Backend.(versions.Lister)
		if !ok {
			end()
			return nil, errors.New("fs: the backend cannot list file versions (VersionsDir)")
		}
		v, err := versions.New(versions.Options{Lister: l, Cache: opts.Cache, PageSize: opts.ListPageSize})
		if err != nil {
			end()
			return nil, err
		}
		f.view = v
	}
	return f, nil
}

func metaFor(life context.Context, opts Options) *meta {
	m := &meta{life: life, be: opts.Backend, cache: opts.Cache, log: opts.Logger, pageSize: opts.ListPageSize}
	if tl, ok := opts.Backend.(TreeLister); ok && opts.ListPrefetchPages > 0 {
		m.tree, m.prefetchPages = tl, opts.ListPrefetchPages
	}
	return m
}

// track registers background work; false once the filesystem is shut
// down (the work must not start). The caller calls f.bg.Done when done.
func (f *FS) track() bool {
	f.lifeMu.Lock()
	defer f.lifeMu.Unlock()
	if f.closed {
		return false
	}
	f.bg.Add(1)
	return true
}

// Shutdown ends the filesystem's lifetime, after it is unmounted (and
// after FlushMetadata, which it does not replace): listing fetchers stop,
// deferred-metadata timers are stopped (changes still pending stay
// counted by PendingMetadata), and Shutdown returns once nothing the
// filesystem started runs any more, or when ctx is done.
func (f *FS) Shutdown(ctx context.Context) error {
	f.lifeMu.Lock()
	f.closed = true
	f.lifeMu.Unlock()
	f.endLife()
	f.mq.stopTimers()
	done := make(chan struct{})
	go func() {
		f.bg.Wait()
		f.meta.shutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: background work still running: %w", ctx.Err())
	}
}

// Root returns the root node to mount.
func (f *FS) Root() fusefs.InodeEmbedder {
	if f.opts.Bucket.Name == "" {
		return &accountNode{fsys: f}
	}
	return &dirNode{fsys: f, bucket: f.opts.Bucket, prefix: f.opts.Prefix}
}

// Check makes one listing call on the root so that bad credentials, a
// missing bucket or an unreachable endpoint fail before mounting.
func (f *FS) Check(ctx context.Context) error {
	if f.opts.Bucket.Name == "" {
		_, err := f.meta.buckets(ctx)
		return err
	}
	_, err := f.opts.Backend.ListDir(ctx, f.opts.Bucket, f.opts.Prefix, "", 1)
	return err
}

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
	co := f.opts.Cache.Options()
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

// errno maps err through toErrno, logging unexpected causes.
func (f *FS) errno(op string, err error) syscall.Errno { return toErrno(f.log, op, err) }

// fileAttr fills out from a file entry. All file attributes are derived
// here.
func (f *FS) fileAttr(e cache.Entry, out *fuse.Attr) {
	out.Mode = syscall.S_IFREG | f.opts.FileMode
	out.Size = uint64(e.Size)
	out.Blocks = (uint64(e.Size) + 511) / 512
	out.Blksize = 1 << 20
	out.Nlink = 1
	out.Uid, out.Gid = f.opts.UID, f.opts.GID
	t := e.ModTime
	if t.IsZero() {
		t = f.mounted
	}
	out.SetTimes(&t, &t, &t)
	f.applyMeta(e.Info, out)
	applySpecial(e.Info, out)
	setCtime(e, out)
}

// dirAttr fills out for a directory.
func (f *FS) dirAttr(out *fuse.Attr) {
	out.Mode = syscall.S_IFDIR | f.opts.DirMode
	out.Size = 4096
	out.Blocks = 8
	out.Blksize = 4096
	out.Nlink = 2
	out.Uid, out.Gid = f.opts.UID, f.opts.GID
	out.SetTimes(&f.mounted, &f.mounted, &f.mounted)
}

func (f *FS) entryAttr(e cache.Entry, out *fuse.Attr) {
	if e.Dir {
		f.dirAttr(out)
	} else {
		f.fileAttr(e, out)
	}
}

// statfs reports a practically unbounded filesystem; the longest name is
// the longest B2 segment (names holding characters that the encoding
// replaces have fewer bytes, see childName).
func (f *FS) statfs(out *fuse.StatfsOut) {
	const bsize = 4096
	out.Bsize = bsize
	out.Frsize = bsize
	out.Blocks = (1 << 50) / bsize // 1 PiB
	out.Bfree = out.Blocks
	out.Bavail = out.Blocks
	out.Files = 1 << 40
	out.Ffree = 1 << 40
	out.NameLen = maxSegment
}

func (f *FS) String() string {
	return fmt.Sprintf("b2fs(%s/%s)", f.opts.Bucket.Name, f.opts.Prefix)
}
