package staging

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// File is one staged file, shared by every handle open on it.
type File struct {
	m        *Manager
	id       string
	dataPath string
	manPath  string

	bgCtx    context.Context // background part uploads; cancelled on remove
	bgCancel context.CancelFunc

	// flushMu serialises uploads of this file; held across network calls.
	flushMu sync.Mutex
	// manifestMu orders manifest writes (each writes a fresh snapshot)
	// and guards manFD, the manifest held open (nil until the first save).
	manifestMu sync.Mutex
	manFD      *os.File

	// mu guards the fields below. Never held across a network call.
	mu   sync.Mutex
	refs int // guarded by Manager.mu, not mu
	key  Key
	data *os.File
	// size is the file's length; the data file always has this length.
	size     int64
	reserved int64 // bytes reserved in the Manager for this file
	// local holds the ranges whose bytes in the data file are the file's
	// content. INVARIANT: remoteEnd <= size; bytes at or past remoteEnd
	// are local (written, or zeros from a truncate that extended the file);
	// bytes below remoteEnd not in local are only in version baseID.
	local       rangeSet
	remoteEnd   int64
	baseID      string
	baseSize    int64
	baseGen     uint64 // bumped whenever baseID changes
	contentType string
	mtime       time.Time
	mtimeSet    bool // mtime set explicitly (SetMtime) since the last write
	// info is the extra file info (POSIX metadata, see SetInfo) every
	// upload of this file carries; never nil after newFile.
	info map[string]string
	// baseLargeSHA is the large_file_sha1 of version baseID, if any.
	baseLargeSHA string
	// fixup is the info the last uploaded version should get (see
	// TakeMetaFixup).
	fixup map[string]string
	// deferMeta: the upload in progress leaves the fix-up to the caller
	// (FlushDeferMeta).
	deferMeta bool
	dirty     bool // content or mtime differ from baseID
	state     State
	lastErr   string
	detached  bool
	// upCancel cancels the upload or server-side fill in progress (nil
	// when none runs): Detach calls it. removeAfter: the file was
	// detached without references while it ran; the upload removes it
	// when it ends.
	upCancel    context.CancelFunc
	removeAfter bool
	// gate is non-nil while Flush uploads; writers wait for it to close.
	gate chan struct{}
	// settled: no write since the last manifest was saved (see
	// Manifest.Settled). A write that finds it set saves an unsettled
	// manifest before touching the data file.
	settled bool

	// gen numbers changes; partGen[k] is the gen of the last change that
	// touched part k (0-based); pending holds parts changed since they were
	// last scheduled for streaming.
	gen     uint64
	partGen map[int64]uint64
	pending map[int64]bool

	// hash is the running SHA-1 of [0, hashOff) while the content has
	// only been written sequentially from offset 0 (nil otherwise), so a
	// sequential writer's upload needs no extra pass over the data.
	hash    hash.Hash
	hashOff int64

	sess     *session // open large file, nil if none
	starting bool     // a background StartLargeFile is running
	startErr error
	bgActive int           // background goroutines running
	idle     chan struct{} // closed when bgActive == 0

	// keptOut: the data file is linked into the read cache (keep.go).
	keptOut atomic.Bool
}

// session is a large file being uploaded.
type session struct {
	id       string
	mtimeMs  int64 // src_last_modified_millis recorded at start
	sha1     string
	streamed bool // started before Flush, with provisional file info
	parts    map[int64]*partUp
	inflight int
	err      error // first background upload failure; stops streaming
}

type partUp struct {
	uploading bool
	done      bool
	gen       uint64 // partGen of the uploaded content
	size      int64
	sha1      string
}

// Key returns the file's current key.
func (f *File) Key() Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.key
}

// Attr returns the file's size and modification time.
func (f *File) Attr() (size int64, mtime time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size, f.mtime
}

// Dirty reports whether the file has changes that are not in B2.
func (f *File) Dirty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dirty
}

// State returns the upload state and the last upload error, if any.
func (f *File) State() (State, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.lastErr
}

// Uploaded describes the B2 version the staged content is based on: after
// a successful Flush, the version it uploaded.
func (f *File) Uploaded() (fileID string, size int64, mtime time.Time, contentType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.baseID, f.size, f.mtime, f.contentType
}

// TakeMetaFixup returns, once, the complete file info the version the
// last flush uploaded should have but does not (a large file streamed
// while being written), or nil. The
// caller applies it with a metadata-replacing copy. Only FlushDeferMeta
// leaves a fix-up.
func (f *File) TakeMetaFixup() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	fx := f.fixup
	f.fixup = nil
	return fx
}

// BaseFileID returns the B2 version the staged content is based on.
func (f *File) BaseFileID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.baseID
}

// DataPath returns the path of the staged data (for tests and recovery).
func (f *File) DataPath() string { return f.dataPath }

// ManifestPath returns the path of the manifest.
func (f *File) ManifestPath() string { return f.manPath }

// lockMutable locks mu and waits until no Flush is uploading.
func (f *File) lockMutable(ctx context.Context) error {
	f.mu.Lock()
	for f.gate != nil {
		g := f.gate
		f.mu.Unlock()
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
		f.mu.Lock()
	}
	return nil
}

// lockMutableUnsettled is lockMutable for a change to the data file: the
// manifest on disk says "unsettled" before mu is returned held.
func (f *File) lockMutableUnsettled(ctx context.Context) error {
	for {
		if err := f.lockMutable(ctx); err != nil {
			return err
		}
		// A detached file saves no manifest (it is never recovered), so
		// it would stay settled forever.
		if !f.settled || f.detached {
			return nil
		}
		f.mu.Unlock()
		f.writeManifest(false)
	}
}

func (f *File) partSize() int64 { return f.m.opts.PartSize }

// touchLocked records a change to [off, end). Called with mu held.
func (f *File) touchLocked(off, end int64) {
	f.gen++
	if end <= off {
		end = off + 1
	}
	ps := f.partSize()
	for k := off / ps; k <= (end-1)/ps; k++ {
		f.partGen[k] = f.gen
		f.pending[k] = true
	}
	if !f.dirty {
		f.dirty = true
	}
	f.state = StateDirty
}

// hashWriteLocked extends the running SHA-1 with a write of p at off, or
// drops it when the write is not sequential.
func (f *File) hashWriteLocked(p []byte, off int64) {
	switch {
	case f.hash == nil:
	case off == f.hashOff:
		f.hash.Write(p)
		f.hashOff += int64(len(p))
	default:
		f.hash = nil
	}
}

// wholeSHA1 returns the SHA-1 of the first size bytes when the running
// hash covers exactly them.
func (f *File) wholeSHA1(size int64) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hash == nil || f.hashOff != size {
		return "", false
	}
	return hex.EncodeToString(f.hash.Sum(nil)), true
}

// reserveLocked accounts for n more bytes held in the data file (n may be
// negative). Growth beyond Options.MaxSize fails with ENOSPC unless force.
// Called with mu held.
func (f *File) reserveLocked(n int64, force bool) error {
	if n == 0 {
		return nil
	}
	if force || n < 0 {
		f.m.used.Add(n)
	} else if err := f.m.reserve(n); err != nil {
		return err
	}
	f.reserved += n
	return nil
}

// heldLocked returns the bytes the data file really holds: local ranges
// below remoteEnd and everything from remoteEnd to the end (holes of a
// sparse file that are still only in B2 take no space). Called with mu
// held.
func (f *File) heldLocked() int64 {
	return f.local.coveredLen(0, f.remoteEnd) + f.size - f.remoteEnd
}

// WriteAt writes p at off. It fails with ENOSPC when the staging
// directory is full (or over MaxSize) and EFBIG past B2's size limit.
func (f *File) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	n, err := f.write(ctx, p, off, false)
	if f.retryAfterSpace(err) && n < len(p) {
		m, err := f.write(ctx, p[n:], off+int64(n), false)
		return n + m, err
	}
	return n, err
}

// Append writes p at the end of the file (O_APPEND).
func (f *File) Append(ctx context.Context, p []byte) (int, error) {
	n, err := f.write(ctx, p, 0, true)
	if f.retryAfterSpace(err) && n < len(p) {
		m, err := f.write(ctx, p[n:], 0, true)
		return n + m, err
	}
	return n, err
}

// retryAfterSpace reports whether err is a full disk and the read cache
// gave its space back (staged data always comes first).
func (f *File) retryAfterSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) && f.m.keep != nil && f.m.keep.Shrink()
}

func (f *File) write(ctx context.Context, p []byte, off int64, appending bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return 0, err
	}
	if appending {
		off = f.size
	}
	end := off + int64(len(p))
	if end > MaxParts*f.partSize() {
		f.mu.Unlock()
		return 0, fmt.Errorf("write past %d bytes (%d parts of %d): %w", MaxParts*f.partSize(), MaxParts, f.partSize(), syscall.EFBIG)
	}
	wasDirty := f.dirty
	// New bytes held: gaps below remoteEnd this write fills, and growth.
	var grow int64
	if off < f.remoteEnd {
		for _, g := range f.local.gaps(off, min(end, f.remoteEnd)) {
			grow += g.End - g.Off
		}
	}
	if end > f.size {
		grow += end - f.size
	}
	if err := f.reserveLocked(grow, false); err != nil {
		f.mu.Unlock()
		return 0, err
	}
	n, werr := f.data.WriteAt(p, off)
	if n > 0 {
		f.hashWriteLocked(p[:n], off)
		f.local.add(off, off+int64(n))
		if off+int64(n) > f.size {
			f.size = off + int64(n)
		}
		f.touchLocked(off, off+int64(n))
		f.mtime = f.m.now()
		f.mtimeSet = false
	}
	f.mu.Unlock()
	if !wasDirty {
		f.saveManifest()
	}
	f.kick()
	if werr != nil {
		return n, fmt.Errorf("write staging file %s: %w", f.dataPath, werr)
	}
	return n, nil
}

// Truncate sets the file's size.
func (f *File) Truncate(ctx context.Context, size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	if size > MaxParts*f.partSize() {
		return syscall.EFBIG
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return err
	}
	old := f.size
	if size > old {
		if err := f.reserveLocked(size-old, false); err != nil {
			f.mu.Unlock()
			return err
		}
	}
	if err := f.data.Truncate(size); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("truncate staging file %s: %w", f.dataPath, err)
	}
	if size < old {
		if f.hash != nil && size < f.hashOff {
			f.hash = nil
		}
		f.local.clip(size)
		if f.remoteEnd > size {
			f.remoteEnd = size
		}
	}
	f.size = size
	if size < old {
		f.reserveLocked(f.heldLocked()-f.reserved, true)
	}
	if size != old {
		f.touchLocked(min(old, size), max(old, size))
		f.mtime = f.m.now()
	}
	f.mu.Unlock()
	f.saveManifest()
	f.kick()
	return nil
}

// SetMtime sets the modification time. If the file has pending changes the
// new time is uploaded with them and absorbed is true; otherwise the caller
// must change the time of the B2 version itself (a metadata-replacing copy)
// and then call Rebase.
func (f *File) SetMtime(ctx context.Context, t time.Time) (absorbed bool, err error) {
	if err := f.lockMutable(ctx); err != nil {
		return false, err
	}
	f.mtime = t.Truncate(time.Millisecond)
	f.mtimeSet = true
	// An unlinked file never reaches B2 again: nothing left to do.
	absorbed = f.dirty || f.detached
	f.mu.Unlock()
	return absorbed, nil
}

// Rebase records that version v (same content) now backs the file, e.g.
// after a metadata-replacing copy.
func (f *File) Rebase(v Version) {
	f.mu.Lock()
	if !f.dirty {
		f.baseID = v.FileID
		f.baseGen++
	}
	if v.Info != nil {
		f.info = extraInfo(v.Info)
		f.baseLargeSHA = v.Info[InfoLargeFileSHA]
	}
	f.mu.Unlock()
	f.saveManifest()
}

// ReadAt reads from the staged content, fetching ranges that are still only
// in B2.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	for attempt := 0; attempt < 8; attempt++ {
		f.mu.Lock()
		if off >= f.size {
			f.mu.Unlock()
			return 0, io.EOF
		}
		n := min(int64(len(p)), f.size-off)
		re := min(off+n, f.remoteEnd)
		var gaps []span
		if re > off {
			gaps = f.local.gaps(off, re)
		}
		if len(gaps) == 0 {
			got, err := f.data.ReadAt(p[:n], off)
			f.mu.Unlock()
			if err == io.EOF && int64(got) == n {
				err = nil
			}
			if err != nil {
				return got, fmt.Errorf("read staging file %s: %w", f.dataPath, err)
			}
			if int64(got) < int64(len(p)) {
				return got, io.EOF
			}
			return got, nil
		}
		baseID, baseGen, remoteEnd := f.baseID, f.baseGen, f.remoteEnd
		f.mu.Unlock()
		rs := f.m.opts.ReadSize
		for _, g := range gaps {
			a := g.Off / rs * rs
			b := min((g.End+rs-1)/rs*rs, remoteEnd)
			if err := f.fetch(ctx, baseID, baseGen, a, b); err != nil {
				return 0, err
			}
		}
	}
	return 0, fmt.Errorf("read %s: content kept changing: %w", f.key, syscall.EIO)
}

// fetch downloads [a, b) of version baseID and stores the bytes that are
// still missing locally. Data for a base that changed meanwhile is dropped.
func (f *File) fetch(ctx context.Context, baseID string, baseGen uint64, a, b int64) error {
	const chunk = 4 << 20
	if baseID == "" {
		return fmt.Errorf("fetch %s: no base version: %w", f.key, syscall.EIO)
	}
	for a < b {
		n := min(b-a, chunk)
		rc, err := f.m.opts.Remote.Download(ctx, baseID, a, n)
		if err != nil {
			return fmt.Errorf("fetch %s [%d,%d): %w", f.key, a, a+n, err)
		}
		buf := make([]byte, n)
		_, err = io.ReadFull(rc, buf)
		rc.Close()
		if err != nil {
			return fmt.Errorf("fetch %s [%d,%d): %w", f.key, a, a+n, err)
		}
		f.mu.Lock()
		if f.baseGen == baseGen {
			for _, g := range f.local.gaps(a, min(a+n, f.remoteEnd)) {
				if _, err := f.data.WriteAt(buf[g.Off-a:g.End-a], g.Off); err != nil {
					f.mu.Unlock()
					return fmt.Errorf("fetch %s: write staging file: %w", f.key, err)
				}
				f.local.add(g.Off, g.End)
				// Fetched bytes count, but never fail a read or an upload.
				f.reserveLocked(g.End-g.Off, true)
			}
		}
		f.mu.Unlock()
		a += n
	}
	return nil
}

// fill makes [a, b) local, fetching what is only in B2.
func (f *File) fill(ctx context.Context, a, b int64) error {
	f.mu.Lock()
	re := min(b, f.remoteEnd)
	var gaps []span
	if re > a {
		gaps = f.local.gaps(a, re)
	}
	baseID, baseGen := f.baseID, f.baseGen
	f.mu.Unlock()
	for _, g := range gaps {
		if err := f.fetch(ctx, baseID, baseGen, g.Off, g.End); err != nil {
			return err
		}
	}
	return nil
}

// Sync is Flush: when it returns nil the content is in B2.
func (f *File) Sync(ctx context.Context) error { return f.Flush(ctx) }

// Flush uploads the file if it has changes that are not in B2. When it
// returns nil the content is in B2. On failure the staged data stays and
// the manifest says "failed"; a later Flush retries.
func (f *File) Flush(ctx context.Context) error {
	return f.flush(ctx, false)
}

// FlushDeferMeta is Flush, except that a large file streamed while being
// written does not get its final metadata (exact time, whole-file SHA-1)
// here: Flush returns once its data is in B2, and TakeMetaFixup hands the
// info the version should get to the caller, which applies it later with
// one metadata-replacing copy.
func (f *File) FlushDeferMeta(ctx context.Context) error {
	return f.flush(ctx, true)
}

func (f *File) flush(ctx context.Context, deferMeta bool) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	if f.detached || !f.dirty {
		f.mu.Unlock()
		return nil
	}
	f.gate = make(chan struct{})
	f.state = StateUploading
	key := f.key
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.upCancel = cancel
	f.mu.Unlock()
	f.saveManifest()

	start := f.m.opts.Now()
	f.mu.Lock()
	f.fixup, f.deferMeta = nil, deferMeta
	f.mu.Unlock()
	v, err := f.upload(uctx, ctx)

	f.mu.Lock()
	f.upCancel = nil
	if f.detached {
		// Unlinked or replaced while uploading: nothing of this upload
		// may stay visible.
		close(f.gate)
		f.gate = nil
		f.state = StateClean
		remove := f.removeAfter
		f.mu.Unlock()
		if err == nil {
			f.dropLanded(v)
		}
		if remove {
			f.remove()
		}
		f.m.log.Debug("upload of a removed file ended", "file", key.String(), "err", err)
		return nil
	}
	if err == nil {
		mtimeInfo := v.Info[InfoMtime]
		if f.fixup != nil {
			mtimeInfo = f.fixup[InfoMtime] // the time the version will get
		}
		f.dirty = false
		f.state = StateClean
		f.lastErr = ""
		f.baseID = v.FileID
		f.baseSize = v.Size
		f.baseGen++
		f.contentType = v.ContentType
		f.baseLargeSHA = v.Info[InfoLargeFileSHA]
		f.remoteEnd = f.size
		f.mtimeSet = false
		f.reserveLocked(f.heldLocked()-f.reserved, true)
		if ms, err := strconv.ParseInt(mtimeInfo, 10, 64); err == nil {
			f.mtime = time.UnixMilli(ms)
		}
		f.partGen = map[int64]uint64{}
		f.pending = map[int64]bool{}
	} else {
		f.state = StateFailed
		f.lastErr = err.Error()
	}
	close(f.gate)
	f.gate = nil
	size := f.size
	f.mu.Unlock()
	f.saveManifest()
	if err != nil {
		f.m.log.Error("upload failed; staged data kept", "file", key.String(), "size", size, "staged", f.dataPath, "err", err)
		return fmt.Errorf("upload %s: %w", key, err)
	}
	f.m.log.Debug("uploaded", "file", key.String(), "size", v.Size, "fileId", v.FileID, "took", f.m.opts.Now().Sub(start))
	if cb := f.m.opts.OnUpload; cb != nil {
		cb(key, v)
	}
	return nil
}

// dropLanded deletes version v, which an upload or copy made for this file
// after it was detached (unlinked or replaced): the name must not show it.
func (f *File) dropLanded(v Version) {
	ctx, cancel := context.WithTimeout(f.m.ctx, time.Minute)
	defer cancel()
	name := v.Name
	if name == "" {
		name = f.Key().Name
	}
	if err := f.m.opts.Remote.DeleteFileVersion(ctx, name, v.FileID); err != nil {
		f.m.log.Error("a version uploaded for a removed file could not be deleted; it stays visible", "file", name, "fileId", v.FileID, "err", err)
		return
	}
	f.m.log.Debug("deleted the version an upload made after its file was removed", "file", name, "fileId", v.FileID)
}

// waitIdle waits until no background goroutine of f runs.
func (f *File) waitIdle(ctx context.Context) error {
	for {
		f.mu.Lock()
		ch := f.idle
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
			done := f.bgActive == 0
			f.mu.Unlock()
			if done {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// goBg runs fn in a background goroutine. Called with mu held.
func (f *File) goBg(fn func()) {
	if f.bgActive == 0 {
		f.idle = make(chan struct{})
	}
	f.bgActive++
	go func() {
		defer func() {
			f.mu.Lock()
			f.bgActive--
			if f.bgActive == 0 {
				close(f.idle)
			}
			f.mu.Unlock()
		}()
		fn()
	}()
}

// remove deletes the staged data and manifest. The file must have no
// references.
func (f *File) remove() {
	f.bgCancel()
	f.waitIdle(context.Background())
	f.mu.Lock()
	f.detached = true
	sess := f.sess
	f.sess = nil
	reserved := f.reserved
	f.reserved = 0
	f.mu.Unlock()
	f.m.reserve(-reserved)
	if sess != nil {
		f.cancelLarge(sess.id)
	}
	f.discardFiles()
}

// dropManifest empties the manifest of a detached file that is still
// open: recovery removes an empty manifest and its data file, and a
// detached file writes no manifest again (writeManifest).
func (f *File) dropManifest() {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	if f.manFD != nil {
		if err := f.manFD.Truncate(0); err != nil {
			f.m.log.Error("empty the manifest of an unlinked staged file", "file", f.key.Name, "err", err)
		}
	}
}

// discardFiles empties the data file and manifest for reuse (see
// Manager.spares), or deletes them.
func (f *File) discardFiles() {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	// A data file linked into the read cache must not be emptied.
	if f.manFD != nil && !f.keptOut.Load() && f.manFD.Truncate(0) == nil && f.data.Truncate(0) == nil &&
		f.m.putSpare(spare{id: f.id, data: f.data, man: f.manFD}) {
		f.manFD = nil
		return
	}
	if f.manFD != nil {
		f.manFD.Close()
		f.manFD = nil
	}
	f.data.Close()
	os.Remove(f.dataPath)
	os.Remove(f.manPath)
}

// cancelLarge abandons an unfinished large file, logging failures.
func (f *File) cancelLarge(id string) {
	ctx, cancel := context.WithTimeout(f.m.ctx, time.Minute)
	defer cancel()
	if err := f.m.opts.Remote.CancelLargeFile(ctx, id); err != nil {
		f.m.log.Warn("cancel unfinished large file", "fileId", id, "err", err)
	}
}

// saveManifest writes the manifest from the current state; errors are
// logged (the data file is what matters).
func (f *File) saveManifest() { f.writeManifest(true) }

// writeManifest writes the manifest; settled records that no write has
// happened since (every write path calls it with false first).
func (f *File) writeManifest(settled bool) {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	f.mu.Lock()
	if f.detached {
		f.mu.Unlock()
		return
	}
	f.settled = settled
	m := &Manifest{
		Version:    manifestVersion,
		ID:         f.id,
		BucketID:   f.key.BucketID,
		BucketName: f.key.BucketName,
		Name:       f.key.Name,
		BaseFileID: f.baseID,
		BaseSize:   f.baseSize,
		RemoteEnd:  f.remoteEnd,
		Local:      f.local.spans(),
		Size:       f.size,
		MtimeMs:    f.mtime.UnixMilli(),
		Info:       copyInfo(f.info),
		State:      f.state,
		Settled:    settled,
		Error:      f.lastErr,
		UpdatedMs:  f.m.opts.Now().UnixMilli(),
	}
	if f.sess != nil {
		m.LargeFileID = f.sess.id
	}
	f.mu.Unlock()
	if f.manFD == nil {
		fd, err := os.OpenFile(f.manPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			f.m.log.Error("write staging manifest", "file", m.Name, "err", err)
			return
		}
		f.manFD = fd
	}
	if err := putManifest(f.manFD, m); err != nil {
		f.m.log.Error("write staging manifest", "file", m.Name, "err", err)
	}
}

// sortedKeys returns the keys of a set in ascending order.
func sortedKeys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

var errChanged = errors.New("content changed during upload")

// FillOnServer gives an empty file (new, or truncated to zero, nothing
// written) its content without sending any: copy makes the version on the
// server (a server-side copy into this file's name) and the staged file
// becomes a clean, sparse placeholder of it. It holds flushMu across copy,
// so no upload of this file can land on top of or under the copy. It
// returns false, doing nothing, when the file is not empty. A write that
// races with the copy leaves the file dirty: the next Flush replaces the
// copy with the written content.
func (f *File) FillOnServer(ctx context.Context, copy func(context.Context) (Version, error)) (bool, error) {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	empty := f.size == 0 && f.remoteEnd == 0 && !f.detached
	if empty {
		f.upCancel = func() {} // Detach must not remove the file under the copy
	}
	f.mu.Unlock()
	if !empty {
		return false, nil
	}
	v, err := copy(ctx)
	f.mu.Lock()
	f.upCancel = nil
	if f.detached {
		remove := f.removeAfter
		f.mu.Unlock()
		if err == nil {
			f.dropLanded(v)
		}
		if remove {
			f.remove()
		}
		return false, err
	}
	f.mu.Unlock()
	if err != nil {
		return false, err
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return false, err
	}
	if f.size != 0 || f.remoteEnd != 0 || f.detached {
		f.dirty = true
		f.mu.Unlock()
		return true, nil
	}
	if err := f.data.Truncate(v.Size); err != nil {
		f.dirty = true
		f.mu.Unlock()
		return false, fmt.Errorf("size staging file %s: %w", f.dataPath, err)
	}
	f.size, f.remoteEnd = v.Size, v.Size
	f.baseID, f.baseSize = v.FileID, v.Size
	f.baseGen++
	f.contentType = v.ContentType
	f.baseLargeSHA = v.Info[InfoLargeFileSHA]
	if ms, err := strconv.ParseInt(v.Info[InfoMtime], 10, 64); err == nil {
		f.mtime = time.UnixMilli(ms)
	}
	if v.Info != nil {
		f.info = extraInfo(v.Info)
	}
	f.local = rangeSet{}
	f.hash = nil
	f.partGen = map[int64]uint64{}
	f.pending = map[int64]bool{}
	f.dirty, f.state, f.mtimeSet = false, StateClean, false
	f.mu.Unlock()
	f.saveManifest()
	return true, nil
}
