package vfs

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
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/listing"
	"github.com/b2fs/b2fs/fs/readahead"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/versions"
	"golang.org/x/sync/singleflight"
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
	// ReadCache keeps downloaded ranges (and files uploaded from this
	// mount) on local disk across mounts; nil: no read cache.
	ReadCache *readcache.Cache
	// Passthrough opens versions whose content is entirely in ReadCache
	// with FUSE passthrough: the kernel reads the cache file directly
	// (the FUSE adapter does it).
	Passthrough bool
	// Read tunes ranged reads and readahead.
	Read ReadOptions
	// Write enables and tunes the write path (see write.go); its zero
	// value makes the filesystem read-only.
	Write WriteOptions
	// ListPageSize is maxFileCount for directory listings (default and
	// maximum 10000).
	ListPageSize int
	// ListPrefetchPages is the page budget of a subtree prefetch (see
	// package listing): the first listing of a directory lists its whole
	// subtree, up to this many pages, when the Backend is a TreeLister.
	// Zero lists every directory on its own with the delimiter.
	ListPrefetchPages int
	// MaxFileInodes bounds the file inodes the FUSE adapter keeps for the
	// kernel (see fs/inodecap.go); the oldest beyond it are dropped from
	// the kernel's cache. Zero means unbounded.
	MaxFileInodes int
	// VersionsDir names the read-only time-travel directory at the root
	// of each bucket (see view_nodes.go); "" turns it off. It needs a
	// Backend that lists versions (versions.Lister).
	VersionsDir string
}

// FS is a mounted (or mountable) b2fs filesystem.
type FS struct {
	opts Options
	log  *slog.Logger
	meta *listing.Meta
	// markerSF shares the targeted lookups of directory markers.
	markerSF singleflight.Group
	mounted  time.Time
	stopped  atomic.Bool    // set by StopWrites
	mq       *metaQueue     // files with metadata changes not yet in B2
	view     *versions.View // nil: no time-travel view
	reg      registry       // the loaded directories and files
	pins     versionPins    // versions open handles read (pins.go)

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
	opts.Read.Fill()
	opts.Write.fill()
	life, end := context.WithCancel(context.Background())
	f := &FS{
		opts:    opts,
		log:     opts.Logger,
		meta:    metaFor(life, opts),
		mounted: time.Now().Truncate(time.Millisecond), // B2 keeps milliseconds
		mq:      newMetaQueue(),
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
	if st := opts.Write.Staging; st != nil {
		st.SetUploadHook(f.backgroundUploaded)
	}
	return f, nil
}

func metaFor(life context.Context, opts Options) *listing.Meta {
	return listing.New(life, listing.Options{Backend: opts.Backend, Cache: opts.Cache, Logger: opts.Logger,
		PageSize: opts.ListPageSize, PrefetchPages: opts.ListPrefetchPages})
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
		f.meta.Shutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: background work still running: %w", ctx.Err())
	}
}

// Root returns the root directory: the account's (buckets as
// directories) or the mounted bucket's (and prefix).
func (f *FS) Root() Node {
	if f.opts.Bucket.Name == "" {
		return &Account{fsys: f}
	}
	return f.dirNode(f.opts.Bucket, f.opts.Prefix)
}

// Check makes one listing call on the root so that bad credentials, a
// missing bucket or an unreachable endpoint fail before mounting.
func (f *FS) Check(ctx context.Context) error {
	if f.opts.Bucket.Name == "" {
		_, err := f.meta.Buckets(ctx)
		return err
	}
	_, err := f.opts.Backend.ListDir(ctx, f.opts.Bucket, f.opts.Prefix, "", 1)
	return err
}

// fileAttr fills out from a file entry. All file attributes are derived
// here.
func (f *FS) fileAttr(e cache.Entry, out *Attr) {
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
	f.applyMetaEntry(e, out)
	if _, numeric := e.Numeric(); !numeric { // only numbers: no special file
		applySpecial(e.Info(), out)
	}
	setCtime(e, out)
}

// dirAttr fills out for a directory.
func (f *FS) dirAttr(out *Attr) {
	out.Mode = syscall.S_IFDIR | f.opts.DirMode
	out.Size = 4096
	out.Blocks = 8
	out.Blksize = 4096
	out.Nlink = 2
	out.Uid, out.Gid = f.opts.UID, f.opts.GID
	out.SetTimes(&f.mounted, &f.mounted, &f.mounted)
}

func (f *FS) entryAttr(e cache.Entry, out *Attr) {
	if e.Dir {
		f.dirAttr(out)
	} else {
		f.fileAttr(e, out)
	}
}

// statfs reports a practically unbounded filesystem; the longest name is
// the longest B2 segment (names holding characters that the encoding
// replaces have fewer bytes, see childName).
func (f *FS) statfs(out *Statfs) {
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

// Statfs reports a practically unbounded filesystem.
func (f *FS) Statfs() Statfs {
	var s Statfs
	f.statfs(&s)
	return s
}

// Cache returns the metadata cache (its TTLs set the kernel's).
func (f *FS) Cache() *cache.Cache { return f.opts.Cache }

// Logger returns the filesystem's logger.
func (f *FS) Logger() *slog.Logger { return f.log }

// Options returns the options the filesystem runs with (defaults filled).
func (f *FS) Options() Options { return f.opts }

func (f *FS) String() string {
	return fmt.Sprintf("b2fs(%s/%s)", f.opts.Bucket.Name, f.opts.Prefix)
}

// opErr wraps err with the operation that failed.
func (f *FS) opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// readFailed is the error a failed read answers with: an interrupted read
// stays interrupted, every other failure is an I/O error (never a short
// read that looks like EOF, never ENOENT from read(2)).
func readFailed(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return errs.E(errs.ErrIO, op, "", err)
}

// ReadOptions tune ranged reads and readahead (see package readahead).
type ReadOptions = readahead.ReadOptions

// Budget bounds the readahead memory of every handle together.
type Budget = readahead.Budget

// NewBudget returns a readahead memory budget of max bytes.
func NewBudget(max int64) *Budget { return readahead.NewBudget(max) }

// Uninterruptible returns ctx without its cancellation, ended by the
// filesystem's lifetime instead (and by the returned function): for the
// FUSE adapter's namespace changes that are several B2 calls (a rename's
// copy and removal, an unlink's detach and hide), which an interrupted
// caller (a signal; go-fuse cancels the request's context) must not stop
// half-way.
func (f *FS) Uninterruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(f.life, cancel)
	return c, func() {
		stop()
		cancel()
	}
}
