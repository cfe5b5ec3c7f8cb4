package readcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultBlockSize is the unit of storage and verification: the alignment
// of random reads, so that they fill whole blocks.
const DefaultBlockSize = 128 << 10

// DefaultMaxSize is the bound used when none is given, before the cap to
// a share of the disk (DefaultSize).
const DefaultMaxSize = 10 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Options configure a Cache.
type Options struct {
	// Dir is the cache directory (created 0700).
	Dir string
	// MaxSize bounds the cached bytes (> 0).
	MaxSize int64
	// BlockSize is the storage unit (default DefaultBlockSize). A cache
	// written with another block size is emptied at Open.
	BlockSize int64
	// SyncInterval is how often written blocks are fsynced and recorded
	// in the index (default 1s).
	SyncInterval time.Duration
	// CloseTimeout bounds how long Close waits for written blocks to reach
	// the disk (default 5s).
	CloseTimeout time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// ErrLocked is returned by Open when another process uses the directory.
var ErrLocked = errors.New("read cache directory in use by another process")

// blockInfo describes one stored block.
type blockInfo struct {
	n        int32  // length in bytes
	crc      uint32 // CRC-32C of the n bytes
	recorded bool   // its record is in the index
	fresh    bool   // written, or read and checked, in this run
}

// file is one cached version.
type file struct {
	id       string
	size     int64
	path     string
	fd       *os.File // read-write; closed when dropped and refs reach 0
	blocks   map[int64]blockInfo
	bytes    int64 // sum of the blocks' n
	el       *list.Element
	recorded bool // its F record is in the index
	dropped  bool
	refs     int
	verified bool           // every block known good in this run (verify.go)
	sha1     string         // whole-file SHA-1 verified (recorded), "" if not
	want     string         // B2's SHA-1 of the version, "" if not known
	stamp    stamp          // the data file's stamp when verified (C record)
	synced   bool           // the data file was fsynced before stamp was taken
	sealing  bool           // queued for the sealer
	skipped  map[int64]bool // blocks not stored (queue full), for the backfiller
	filling  bool           // queued for the backfiller
}

// Cache is the persistent read cache. A nil *Cache is a disabled cache:
// Wrap returns the fetch function unchanged and every other method does
// nothing.
type Cache struct {
	opts  Options
	log   *slog.Logger
	bs    int64
	lock  *os.File
	stats Stats

	flushMu sync.Mutex // serializes index writes; taken before mu
	// createMu serializes putting a data file at a version's path
	// (acquire's create, link's hard link): acquire truncates the path,
	// which would empty a file link has just put there (a staged file of
	// this mount, adopted while a reader downloads the same version).
	// Taken before mu and flushMu.
	createMu sync.Mutex
	idx      *os.File // the index, opened for appending

	mu      sync.Mutex // guards the fields below
	files   map[string]*file
	lru     *list.List // of *file, most recently used first
	used    int64
	max     int64
	queue   []string // records to append (D, X), in order
	pending []pendingBlock
	pendN   int64
	closed  bool

	kick      chan struct{}
	done      chan struct{}
	sealQ     chan *file    // complete versions to verify (verify.go)
	closeBy   atomic.Int64  // when Close stops waiting for the sealer and backfiller (UnixNano), 0 before Close
	slowUntil atomic.Int64  // UnixNano until which storeInline queues (writer.go)
	bfQ       chan backfill // versions with skipped blocks (backfill.go)
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	hold      time.Duration  // tests: how long each queued write waits first
	wq        chan writeReq  // blocks waiting for the writer
	writes    sync.WaitGroup // enqueued blocks not yet written
	syncWr    bool           // write in the caller (tests)
	wg        sync.WaitGroup
	warnedW   atomic.Bool // a write error was logged
	warnedENS atomic.Bool // ENOSPC was logged
}

type pendingBlock struct {
	f   *file
	idx int64
}

// Stats counts cache activity.
type Stats struct {
	HitBytes, MissBytes atomic.Int64
	Corrupt             atomic.Int64 // blocks that failed verification
	Skipped             atomic.Int64 // blocks not stored at once: the writers were behind
	Backfilled          atomic.Int64 // skipped blocks downloaded again and stored
	Evicted             atomic.Int64 // files evicted
	VerifiedBytes       atomic.Int64 // bytes read to verify whole files
	WholeOpens          atomic.Int64 // successful OpenComplete calls
}

// Open opens (creating it if needed) the cache in opts.Dir, replaying and
// compacting its index.
func Open(opts Options) (*Cache, error) {
	if opts.Dir == "" || opts.MaxSize <= 0 {
		return nil, errors.New("readcache: Dir and a positive MaxSize are required")
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("readcache: %w", err)
	}
	os.Chmod(opts.Dir, 0o700)
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("readcache: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("readcache: %s: %w", opts.Dir, ErrLocked)
	}
	c := &Cache{
		opts: opts, log: opts.Logger, bs: opts.BlockSize, lock: lock,
		files: map[string]*file{}, lru: list.New(), max: opts.MaxSize,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		wq: make(chan writeReq, writeQueue), sealQ: make(chan *file, sealQueue),
		bfQ: make(chan backfill, backfillQueue),
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	if err := c.load(); err != nil {
		lock.Close()
		return nil, err
	}
	c.mu.Lock()
	c.evictLocked(nil, 0)
	c.mu.Unlock()
	c.wg.Add(3 + writerCount)
	go c.flusher()
	go c.sealer()
	go c.backfiller()
	for range writerCount {
		go c.writer()
	}
	return c, nil
}

// Close records what is pending and releases the directory.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.closeBy.Store(time.Now().Add(c.opts.CloseTimeout).UnixNano())
	// A backfill download in progress at the deadline is cancelled.
	stopBg := time.AfterFunc(c.opts.CloseTimeout, c.bgCancel)
	defer stopBg.Stop()
	close(c.done)
	c.wg.Wait()
	c.drainWrites()
	c.backfillPending() // blocks skipped during reads, within Close's time
	c.bgCancel()
	// The last flush waits for the data to reach the disk, for at most
	// CloseTimeout: blocks not recorded by then are simply not cached.
	flushed := make(chan error, 1)
	go func() { flushed <- c.flush() }()
	var err error
	select {
	case err = <-flushed:
	case <-time.After(c.opts.CloseTimeout):
		c.log.Warn("read cache: the disk is slow; the last blocks read are not recorded", "waited", c.opts.CloseTimeout)
		return nil // the flush finishes (or not) on its own; the lock goes with the process
	}
	c.sealPending() // versions the last flush completed
	c.restamp()
	c.flushMu.Lock()
	c.idx.Close()
	c.idx = nil
	c.mu.Lock()
	if rerr := c.rewriteLocked(); err == nil {
		err = rerr
	}
	c.mu.Unlock()
	c.flushMu.Unlock()
	c.mu.Lock()
	for _, f := range c.files {
		if f.refs == 0 && f.fd != nil {
			f.fd.Close()
			f.fd = nil
		}
	}
	c.mu.Unlock()
	c.lock.Close()
	c.log.Debug("read cache: closed", "skipped", c.stats.Skipped.Load(), "backfilled", c.stats.Backfilled.Load())
	if n, b := c.stats.Skipped.Load(), c.stats.Backfilled.Load(); n > b {
		c.log.Info("read cache: blocks not cached because the disk was behind", "blocks", n-b)
	}
	return err
}

// Stats returns the cache's counters.
func (c *Cache) Stats() *Stats {
	if c == nil {
		return &Stats{}
	}
	return &c.stats
}

// Used returns the cached bytes and the current bound.
func (c *Cache) Used() (used, max int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.max
}

// BlockSize returns the storage unit.
func (c *Cache) BlockSize() int64 { return c.bs }

func (c *Cache) dataPath(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(c.opts.Dir, "data", hex.EncodeToString(sum[:16]))
}

// blockLen is the length of block i of a file of size bytes.
func (c *Cache) blockLen(size, i int64) int64 { return min(c.bs, size-i*c.bs) }

// acquire returns the file for id with a reference, creating it (and its
// sparse data file) when create is set. size must match a known entry;
// a mismatch (not possible for a B2 file ID) drops the old entry.
func (c *Cache) acquire(id string, size int64, create bool) *file {
	return c.acquireSHA(id, size, "", create)
}

// acquireSHA is acquire noting want, when not "", as the version's SHA-1.
func (c *Cache) acquireSHA(id string, size int64, want string, create bool) *file {
	if create {
		c.createMu.Lock()
		defer c.createMu.Unlock()
	}
	c.mu.Lock()
	f := c.files[id]
	if f != nil && f.size != size {
		c.dropLocked(f)
		f = nil
	}
	if f != nil {
		f.refs++
		c.lru.MoveToFront(f.el)
		if want != "" {
			f.want = want
		}
		c.mu.Unlock()
		return f
	}
	if !create || c.closed || size <= 0 {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	path := c.dataPath(id)
	fd, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = fd.Truncate(size)
		if err != nil {
			fd.Close()
		}
	}
	if err != nil {
		c.writeFailed(err)
		return nil
	}
	return c.insert(&file{id: id, size: size, path: path, fd: fd, want: want, blocks: map[int64]blockInfo{}})
}

// insert adds nf (with one reference) unless id got an entry meanwhile, in
// which case nf is discarded and that entry returned.
func (c *Cache) insert(nf *file) *file {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.files[nf.id]; f != nil && f.size == nf.size {
		nf.fd.Close()
		f.refs++
		c.lru.MoveToFront(f.el)
		return f
	} else if f != nil {
		c.dropLocked(f)
	}
	nf.refs = 1
	nf.el = c.lru.PushFront(nf)
	c.files[nf.id] = nf
	return nf
}

// release drops a reference taken by acquire.
func (c *Cache) release(f *file) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.refs--
	if f.refs == 0 && f.dropped && f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
}

// dropLocked removes f from the cache and its data file from disk.
func (c *Cache) dropLocked(f *file) {
	if f.dropped {
		return
	}
	f.dropped = true
	delete(c.files, f.id)
	c.lru.Remove(f.el)
	c.used -= f.bytes
	if f.recorded {
		c.queue = append(c.queue, "D "+f.id)
	}
	os.Remove(f.path)
	if f.refs == 0 && f.fd != nil {
		f.fd.Close()
		f.fd = nil
	}
}

// evictLocked drops least recently used files other than keep until n
// more bytes fit under the bound; false when they do not fit.
func (c *Cache) evictLocked(keep *file, n int64) bool {
	for c.used+n > c.max {
		el := c.lru.Back()
		for el != nil && el.Value.(*file) == keep {
			el = el.Prev()
		}
		if el == nil {
			return false
		}
		c.dropLocked(el.Value.(*file))
		c.stats.Evicted.Add(1)
	}
	return true
}

// lookup returns block i of f, if stored.
func (c *Cache) lookup(f *file, i int64) (blockInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := f.blocks[i]
	return b, ok && !f.dropped
}

// readBlock reads block i of f into buf and verifies it; on a mismatch the
// block is dropped and false returned.
func (c *Cache) readBlock(f *file, i int64, buf []byte) ([]byte, bool) {
	b, ok := c.lookup(f, i)
	if !ok {
		return nil, false
	}
	p := buf[:b.n]
	n, err := f.fd.ReadAt(p, i*c.bs)
	if n == len(p) && checksum(p) == b.crc {
		if !b.fresh {
			c.mu.Lock()
			if cur, ok := f.blocks[i]; ok && cur == b {
				cur.fresh = true
				f.blocks[i] = cur
			}
			c.mu.Unlock()
		}
		return p, true
	}
	c.stats.Corrupt.Add(1)
	c.log.Warn("read cache: block failed verification; dropped", "file_id", f.id, "block", i, "err", err)
	c.dropBlock(f, i, b)
	return nil, false
}

// dropBlock forgets block i of f if it is still b.
func (c *Cache) dropBlock(f *file, i int64, b blockInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := f.blocks[i]
	if !ok || cur != b || f.dropped {
		return
	}
	delete(f.blocks, i)
	f.bytes -= int64(b.n)
	c.used -= int64(b.n)
	f.verified = false
	f.stamp, f.synced = stamp{}, false
	if b.recorded {
		c.queue = append(c.queue, fmt.Sprintf("X %s %d", f.id, i))
	}
}

// writeFailed handles a failed write to the cache: ENOSPC lowers the bound
// to what is stored now, less an eighth, and evicts down to it.
func (c *Cache) writeFailed(err error) {
	if errors.Is(err, syscall.ENOSPC) {
		c.mu.Lock()
		c.max = max(c.bs, c.used-c.used/8)
		c.evictLocked(nil, 0)
		nm := c.max
		c.mu.Unlock()
		if !c.warnedENS.Swap(true) {
			c.log.Warn("read cache: disk full; bound lowered", "max_bytes", nm)
		}
		return
	}
	if !c.warnedW.Swap(true) {
		c.log.Warn("read cache: write failed; not caching", "err", err)
	}
}

// Shrink empties the cache to free disk space for something more
// important (staged writes); false when it held nothing.
func (c *Cache) Shrink() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	had := len(c.files) > 0
	for _, f := range c.files {
		c.dropLocked(f)
	}
	return had
}

// Forget drops version id.
func (c *Cache) Forget(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.files[id]; f != nil {
		c.dropLocked(f)
	}
}

// Has reports how many bytes of version id are cached.
func (c *Cache) Has(id string) int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.files[id]; f != nil {
		return f.bytes
	}
	return 0
}

// DefaultSize is the bound used when none is configured: DefaultMaxSize,
// or half of the disk space dir could use (free space plus what the cache
// in dir already holds), whichever is less.
func DefaultSize(dir string) int64 {
	var held int64
	if ents, err := os.ReadDir(filepath.Join(dir, "data")); err == nil {
		for _, e := range ents {
			var st syscall.Stat_t
			if syscall.Stat(filepath.Join(dir, "data", e.Name()), &st) == nil {
				held += st.Blocks * 512
			}
		}
	}
	probe := dir
	for {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(probe, &fs); err == nil {
			return min(DefaultMaxSize, (int64(fs.Bavail)*fs.Bsize+held)/2)
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			return DefaultMaxSize
		}
		probe = parent
	}
}
