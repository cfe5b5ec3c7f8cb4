package staging

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
)

// B2 limits for large files (b2-api-reference §8.1).
const (
	MaxParts        = 10000
	MaxPartSize     = 5_000_000_000
	MaxSmallFile    = 5_000_000_000
	defaultReadSize = 1 << 20
)

// Options configure a Manager.
type Options struct {
	// Dir is the staging directory. It is created with mode 0700; staged
	// files and manifests are created 0600.
	Dir string
	// Remote is where staged files are uploaded.
	Remote Remote
	// PartSize is the size of every part of a large file but the last.
	// Use ChooseSizes to derive it from the account's limits.
	PartSize int64
	// UploadCutoff: files of at least this size are uploaded as large
	// files (and stream while being written). Must exceed PartSize.
	UploadCutoff int64
	// Concurrency bounds the parts of one file in flight (default 4).
	Concurrency int
	// MaxInflightParts bounds the parts in flight across all files
	// (default 2×Concurrency).
	MaxInflightParts int
	// MaxSize bounds the bytes of staged data; a write beyond it fails
	// with ENOSPC. 0 means no limit other than the disk's.
	MaxSize int64
	// ReadSize is the granularity of on-demand fetches of an existing
	// file's content (default 1 MiB).
	ReadSize int64
	// FastStreamedClose skips the server-side copy that gives a large file
	// uploaded while being written its final metadata: the version keeps
	// the modification time of when streaming started (unless the time was
	// set explicitly) and has no large_file_sha1. Close returns sooner.
	FastStreamedClose bool
	// Keep, when set, receives the content of files uploaded from this
	// mount (see keep.go).
	Keep Keeper
	// OnUpload, when set, is called after every successful upload, with
	// no lock held.
	OnUpload func(Key, backend.Object)
	// WriteBack makes close return once the content is durable on local
	// disk (File.Commit); uploads run in the background WriteBackDelay
	// after a file's last change (default 2s), at most Transfers files
	// at once (default 16). See writeback.go.
	WriteBack      bool
	WriteBackDelay time.Duration
	Transfers      int
	// FS is the file system of Dir (default OSFS); see osfs.go.
	FS FileSystem
	// Current, when set, is asked before a background upload of a file
	// based on an existing version, to log and count conflicts.
	Current CurrentFunc
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ListCurrent, when set with Current, checks the files due for
	// upload together, one listing for many (conflicts.go).
	ListCurrent ListCurrentFunc
}

// Key names a staged file.
type Key struct {
	BucketID   string
	BucketName string // for logs and manifests
	Name       string
}

func (k Key) String() string {
	if k.BucketName != "" {
		return k.BucketName + "/" + k.Name
	}
	return k.BucketID + "/" + k.Name
}

type mapKey struct{ bucketID, name string }

func (k Key) mk() mapKey { return mapKey{k.BucketID, k.Name} }

// Manager owns the staging directory and every staged file.
type Manager struct {
	opts Options
	log  *slog.Logger
	fs   FileSystem
	sem  chan struct{} // global part-upload slots
	used atomic.Int64  // bytes reserved by staged files

	ctx    context.Context // cancelled by Close; background uploads use it
	cancel context.CancelFunc

	// dir is this instance's directory inside opts.Dir, locked (flock)
	// by lock for the Manager's lifetime so that no other b2fs process
	// adopts its files; see Recover.
	dir  string
	lock *os.File

	// spareMu guards spares: staging file pairs of removed files, emptied
	// and kept for reuse, because creating and deleting inodes costs more
	// than anything else staging does for a small file.
	spareMu   sync.Mutex
	spares    []spare
	spareWake chan struct{} // 1-buffered: the pool is low (spares.go)

	// mu guards files. Taken before any File.mu, never while holding one.
	mu    sync.Mutex
	files map[mapKey]*File

	keep Keeper // nil when disabled

	wb        *writeBack  // the upload queue and counters (writeback.go)
	checkMu   sync.Mutex  // serialises conflict checks (conflicts.go; LOCK ORDER in doc.go)
	abandoned atomic.Bool // Abandon was called: Close does nothing
	// dirGen counts changes of the entries of dir; dirSynced is the
	// count the last fsync of dir covered (durable.go).
	dirGen    atomic.Uint64
	dirSyncMu sync.Mutex // guards dirSynced; a leaf
	dirSynced uint64
	// space is closed and replaced when staged bytes are freed.
	spaceMu sync.Mutex // a leaf; guards space
	space   chan struct{}
	// seq numbers manifest writes (Manifest.Seq).
	seq atomic.Uint64
}

// ChooseSizes derives the part size and upload cutoff from the flags (0 =
// default) and the account's absolute minimum and recommended part sizes.
// The part size defaults to the recommended size, is at least the absolute
// minimum and at most 5 GB; the cutoff defaults to twice the part size and
// always exceeds the part size, so a large file has at least two parts.
func ChooseSizes(partFlag, cutoffFlag, absMin, recommended int64) (part, cutoff int64, err error) {
	if partFlag < 0 || cutoffFlag < 0 {
		return 0, 0, errors.New("part size and upload cutoff must not be negative")
	}
	if absMin <= 0 {
		absMin = 5_000_000
	}
	part = partFlag
	if part == 0 {
		part = recommended
	}
	if part < absMin {
		if partFlag != 0 {
			return 0, 0, fmt.Errorf("part size %d is below the account's minimum part size %d", partFlag, absMin)
		}
		part = absMin
	}
	if part > MaxPartSize {
		return 0, 0, fmt.Errorf("part size %d is above B2's maximum of %d", part, int64(MaxPartSize))
	}
	cutoff = cutoffFlag
	if cutoff == 0 {
		cutoff = 2 * part
	}
	if cutoff <= part {
		return 0, 0, fmt.Errorf("upload cutoff %d must exceed the part size %d", cutoff, part)
	}
	if cutoff > MaxSmallFile {
		cutoff = MaxSmallFile
	}
	return part, cutoff, nil
}

// DefaultCacheDir is the cache directory used when none is configured:
// /var/cache/b2fs for root, else $XDG_CACHE_HOME/b2fs (~/.cache/b2fs).
func DefaultCacheDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/b2fs"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "b2fs")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("b2fs-%d", os.Geteuid()))
}

// New creates the staging directory if needed and returns a Manager.
func New(opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("staging: no directory")
	}
	if opts.Remote == nil {
		return nil, errors.New("staging: no remote")
	}
	if opts.PartSize <= 0 || opts.UploadCutoff <= opts.PartSize {
		return nil, fmt.Errorf("staging: bad sizes: part %d, cutoff %d", opts.PartSize, opts.UploadCutoff)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MaxInflightParts <= 0 {
		opts.MaxInflightParts = 2 * opts.Concurrency
	}
	if opts.ReadSize <= 0 {
		opts.ReadSize = defaultReadSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.WriteBackDelay <= 0 {
		opts.WriteBackDelay = DefaultWriteBackDelay
	}
	if opts.Transfers <= 0 {
		opts.Transfers = DefaultTransfers
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("staging: create %s: %w", opts.Dir, err)
	}
	if err := os.Chmod(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("staging: chmod %s: %w", opts.Dir, err)
	}
	dir, lock, err := newInstanceDir(opts.FS, opts.Dir, opts.WriteBack)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		opts:   opts,
		log:    opts.Logger,
		fs:     opts.FS,
		sem:    make(chan struct{}, opts.MaxInflightParts),
		ctx:    ctx,
		cancel: cancel,
		dir:    dir,
		lock:   lock,
		files:  map[mapKey]*File{},
		keep:   opts.Keep,
		wb:     newWriteBack(),
		space:  make(chan struct{}),

		spareWake: make(chan struct{}, 1),
	}
	m.seq.Store(uint64(time.Now().UnixNano()))
	if opts.WriteBack {
		m.wb.workers.Add(1)
		go func() {
			defer m.wb.workers.Done()
			m.prepareSpares()
		}()
		m.wb.workers.Add(1)
		go func() {
			defer m.wb.workers.Done()
			m.run()
		}()
	}
	return m, nil
}

// Dir returns this Manager's own directory (inside Options.Dir), where its
// staged files and manifests are.
func (m *Manager) Dir() string { return m.dir }

// PartSize returns the part size of large files.
func (m *Manager) PartSize() int64 { return m.opts.PartSize }

// Used returns the bytes currently reserved by staged files.
func (m *Manager) Used() int64 { return m.used.Load() }

// reserve accounts for delta more (or, negative, fewer) staged bytes.
func (m *Manager) reserve(delta int64) error {
	for {
		cur := m.used.Load()
		next := cur + delta
		if delta > 0 && m.opts.MaxSize > 0 && next > m.opts.MaxSize {
			return fmt.Errorf("staging cache full (%d of %d bytes used): %w", cur, m.opts.MaxSize, errs.ErrNoSpace)
		}
		if m.used.CompareAndSwap(cur, next) {
			if delta < 0 {
				m.freed()
			}
			return nil
		}
	}
}

// Base describes the B2 version an existing file is opened from.
type Base struct {
	FileID      string
	Size        int64
	Mtime       time.Time
	ContentType string
	// Info is the version's file info; everything but the keys b2fs
	// computes at upload (InfoMtime, InfoLargeFileSHA) is kept by uploads.
	Info map[string]string
}

// OpenOptions say which file to open and how.
type OpenOptions struct {
	Key Key
	// Base is the current B2 version, nil when the file does not exist
	// yet (the file is created: Flush uploads it even if nothing is
	// written).
	Base *Base
	// Truncate discards the content (O_TRUNC).
	Truncate bool
	// Info is the file info of a new file (Base nil), uploaded with it.
	Info map[string]string
	// ContentType is the content type of a new file (Base nil); empty:
	// from the name's extension.
	ContentType string
	// Mtime, when set, is the modification time of a new or truncated
	// file instead of now.
	Mtime time.Time
	// DirMarker: the file is the marker that carries a directory's
	// metadata; its background upload waits while the directory's
	// content is still changing (Manager.held), since a tool copying a
	// tree sets its directories' metadata last.
	DirMarker bool
	// Write: the handle writes; the background uploader leaves the file
	// alone until every writing handle is released (ReleaseWrite), so
	// that no state in the middle of a write goes up.
	Write bool
}

// Open returns the staged file for o.Key, creating it if needed. Every
// handle shares one File; each Open must be paired with a Release.
func (m *Manager) Open(ctx context.Context, o OpenOptions) (*File, error) {
	m.mu.Lock()
	if f := m.files[o.Key.mk()]; f != nil {
		return m.reopenLocked(ctx, f, o)
	}
	f, err := m.newFile(o)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	f.refs = 1
	if o.Write {
		f.writers = 1
	}
	m.files[o.Key.mk()] = f
	m.mu.Unlock()
	f.saveManifest()
	if f.Dirty() {
		m.noteChange(f)
	}
	return f, nil
}

// Hold takes a reference on f, like a read-only Open of its key, if f is
// still in use: the staged file of its key, or one detached (unlinked)
// that handles still hold. Each true result is paired with a Release.
func (m *Manager) Hold(f *File) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f == nil || f.refs <= 0 && m.files[f.key.mk()] != f {
		return false
	}
	f.refs++
	return true
}

// OpenStaged is Open of the file staged for o.Key now, or nil (and no
// error, no reference) when none is. A caller that takes o.Base from its
// view of B2 opens the staged file this way first: a staged file let go
// after its upload between a Lookup and Open would be staged again from a
// base older than that upload.
func (m *Manager) OpenStaged(ctx context.Context, o OpenOptions) (*File, error) {
	m.mu.Lock()
	f := m.files[o.Key.mk()]
	if f == nil {
		m.mu.Unlock()
		return nil, nil
	}
	return m.reopenLocked(ctx, f, o)
}

// reopenLocked takes a reference to f, staged already, for o; m.mu is
// held and is released.
func (m *Manager) reopenLocked(ctx context.Context, f *File, o OpenOptions) (*File, error) {
	f.refs++
	if o.Write {
		f.mu.Lock()
		f.writers++
		f.mu.Unlock()
	}
	m.mu.Unlock()
	if o.Truncate {
		if err := f.Truncate(ctx, 0); err != nil {
			m.release(f, o.Write)
			return nil, err
		}
	}
	return f, nil
}

// Lookup returns the staged file for key, or nil. It does not take a
// reference; the result is for reading attributes.
func (m *Manager) Lookup(key Key) *File {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[key.mk()]
}

func (m *Manager) newFile(o OpenOptions) (*File, error) {
	var rb [12]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return nil, fmt.Errorf("staging: random id: %w", err)
	}
	id := hex.EncodeToString(rb[:])
	sp, pooled := m.takeSpare()
	if pooled {
		id = sp.id
	}
	f := &File{
		m:        m,
		id:       id,
		dataPath: filepath.Join(m.dir, id+".data"),
		manPath:  filepath.Join(m.dir, id+".json"),
		key:      o.Key,
		partGen:  map[int64]uint64{},
		pending:  map[int64]bool{},
		idle:     make(chan struct{}),
	}
	close(f.idle)
	f.bgCtx, f.bgCancel = context.WithCancel(m.ctx)
	var data FSFile
	if pooled {
		data, f.manFD = sp.data, sp.man
	} else {
		var err error
		data, err = m.fs.OpenFile(f.dataPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("staging: create %s: %w", f.dataPath, err)
		}
		m.dirChanged()
	}
	f.data = data
	now := m.now()
	if o.Base == nil || o.Truncate {
		// A change (creation, truncation) even if nothing is written:
		// Sync waits for its upload (upGen stays below gen until then).
		f.gen = 1
	}
	switch {
	case o.Base == nil:
		f.info = extraInfo(o.Info)
		f.contentType = o.ContentType
		f.hash = sha1.New()
		f.dirty = true
		f.mtime = now
		f.changed = now
		f.dirtySince = now
		f.state = StateDirty
	case o.Truncate:
		f.info = extraInfo(o.Base.Info)
		f.hash = sha1.New()
		f.baseID = o.Base.FileID
		f.contentType = o.Base.ContentType
		f.dirty = true
		f.mtime = now
		f.changed = now
		f.dirtySince = now
		f.state = StateDirty
	default:
		o.Mtime = time.Time{} // the base's
		if o.Base.Size == 0 {
			// Empty (a truncation uploaded before the open, as the
			// kernel makes open with O_TRUNC): a sequential writer's
			// running SHA-1 starts here too.
			f.hash = sha1.New()
		}
		f.info = extraInfo(o.Base.Info)
		f.baseLargeSHA = o.Base.Info[InfoLargeFileSHA]
		f.baseID = o.Base.FileID
		f.baseSize = o.Base.Size
		f.contentType = o.Base.ContentType
		f.size = o.Base.Size
		f.remoteEnd = o.Base.Size
		f.mtime = o.Base.Mtime.Truncate(time.Millisecond)
		f.state = StateClean
		// A sparse file: nothing is held until written or fetched.
		if err := data.Truncate(f.size); err != nil {
			f.discardFiles()
			return nil, fmt.Errorf("staging: size %s: %w", f.dataPath, err)
		}
	}
	if !o.Mtime.IsZero() {
		f.mtime, f.mtimeSet = o.Mtime.Truncate(time.Millisecond), true
	}
	f.dirMarker = o.DirMarker
	return f, nil
}

// Release drops one reference taken by Open. When the last reference goes
// and the file has no changes that are not in B2, the staged data and its
// manifest are removed. Dirty or failed files stay staged (see Pending).
func (m *Manager) Release(f *File) { m.release(f, false) }

// ReleaseWrite is Release for a handle opened with OpenOptions.Write.
func (m *Manager) ReleaseWrite(f *File) { m.release(f, true) }

func (m *Manager) release(f *File, write bool) {
	if write {
		f.mu.Lock()
		f.writers--
		again := f.writers == 0 && f.dirty && !f.detached
		f.mu.Unlock()
		if again {
			m.noteChange(f)
		}
	}
	m.mu.Lock()
	f.refs--
	if f.refs > 0 {
		m.mu.Unlock()
		return
	}
	f.mu.Lock()
	drop := f.detached || (!f.dirty && !f.showing)
	// Content entirely local and equal to version baseID: kept for reads.
	keep := !f.detached && !f.dirty && len(f.local.gaps(0, f.remoteEnd)) == 0 && f.baseID != "" && f.sess == nil && f.state != StateFailed
	id, size := f.baseID, f.size
	f.mu.Unlock()
	if drop && m.files[f.key.mk()] == f {
		delete(m.files, f.key.mk())
	}
	m.mu.Unlock()
	if drop {
		if keep && m.keep != nil && m.keep.Adopt(id, size, f.dataPath) {
			f.keptOut.Store(true)
		}
		f.remove()
		return
	}
	// Kept with changes not in B2: the manifest describes the content as
	// the last handle left it.
	f.saveManifest()
}

// Close uploads every dirty staged file (bounded by ctx), then stops
// background work. Files that still fail stay staged on disk with a
// "failed" manifest; their names are logged and returned in the error.
func (m *Manager) Close(ctx context.Context) error {
	if m.abandoned.Load() {
		return nil
	}
	m.mu.Lock()
	var files []*File
	for _, f := range m.files {
		files = append(files, f)
	}
	m.mu.Unlock()
	err := m.Drain(ctx)
	m.cancel()
	m.wb.workers.Wait()
	for _, f := range files {
		f.waitIdle(context.Background())
	}
	m.dropSpares()
	os.RemoveAll(filepath.Join(m.dir, keptDirName))
	// An empty instance directory goes; one with staged data stays for
	// the next run's Recover.
	if ents, rerr := m.fs.ReadDir(m.dir); rerr == nil && len(ents) == 1 && ents[0].Name() == lockName {
		m.fs.Remove(filepath.Join(m.dir, lockName))
		m.fs.Remove(m.dir)
	}
	m.lock.Close()
	return err
}

// now is the clock at B2's precision: modification times are stored as
// src_last_modified_millis, so staged files use milliseconds too and a
// file's mtime does not change when it is uploaded.
func (m *Manager) now() time.Time { return m.opts.Now().Truncate(time.Millisecond) }
