package staging

import (
	"context"
	"hash"
	"sync"
	"sync/atomic"
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

	// hookMu is held by the background uploader (and by Drain, which
	// uploads the files recovered after a crash) from before an upload of
	// this file until the filesystem has been shown its result (the
	// upload hook); Detach, Rekey and Rename wait for it, so that a late
	// hook never shows the file under a name it no longer has.
	hookMu sync.Mutex
	// flushMu serialises uploads of this file; held across network calls.
	flushMu sync.Mutex
	// manifestMu orders manifest writes (each writes a fresh snapshot)
	// and guards manFD, the manifest held open (nil until the first save).
	manifestMu sync.Mutex
	manFD      FSFile
	// discarded: the data file and manifest were removed or given to
	// the pool of spares (guarded by manifestMu); nothing writes them
	// again.
	discarded bool
	// durableSettled: the last manifest fsynced was settled (guarded by
	// manifestMu).
	durableSettled bool
	// durableInline is the content (Manifest.Inline) of the last settled
	// manifest fsynced, nil when it had none (guarded by manifestMu): an
	// unsettled manifest made durable later carries it, not the data
	// file's bytes of the moment, which no close acknowledged.
	durableInline []byte

	// mu guards the fields below. Never held across a network call.
	mu sync.Mutex
	// committed: a close (Commit) made a manifest of the file durable.
	// Before that, the large file a write streams to is recorded apart
	// (largeRec, see intent.go), not by a durable manifest: recovery
	// would upload the manifest's file, whose content after a power cut
	// is not what was written.
	committed bool
	largeRec  *Intent
	// landed is the version an upload in progress has made already (its
	// metadata still to be set by a copy); "" otherwise.
	landed string
	refs   int // guarded by Manager.mu, not mu
	// writers counts the handles open for writing (OpenOptions.Write).
	writers int
	key     Key
	data    FSFile
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
	dirMarker   bool // OpenOptions.DirMarker; set at creation, then read-only
	mtime       time.Time
	mtimeSet    bool // mtime set explicitly (SetMtime) since the last write
	// changed is when the content or metadata last changed through this
	// file (its ctime); zero while an opened version is unchanged.
	changed time.Time
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
	// dirtySince is when the file last became dirty (Stats).
	dirtySince time.Time
	// upGen is the gen of the last change that reached B2: the gen when
	// the last successful upload began (Sync).
	upGen uint64
	// uploads counts the successful uploads of the file.
	uploads  uint64
	state    State
	lastErr  string
	detached bool
	// unlinked: detached by Detach (its name was removed or replaced),
	// not merely let go after its upload.
	unlinked bool
	// upCancel cancels the upload or server-side fill in progress (nil
	// when none runs): Detach calls it. removeAfter: the file was
	// detached without references while it ran; the upload removes it
	// when it ends.
	upCancel    context.CancelFunc
	removeAfter bool
	// leftover is a version an upload or fill made after the file was
	// detached and that could not be deleted (dropLanded failed): Detach
	// returns it in write-back mode, so that the caller's removal of the
	// name covers it.
	leftover string
	// upSize and upMtime are the size and time of the version the upload
	// or fill in progress makes (see markRemoved).
	upSize  int64
	upMtime time.Time
	// showing: a background upload of the file runs and its result is
	// not shown yet (the upload hook): a release of the last reference
	// leaves the file to letGo then, so that the hook still finds it
	// under its name and the filesystem learns the version it made.
	showing bool
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
	// startingMtime is the src_last_modified_millis of a StartLargeFile
	// in flight whose file ID is not known yet (manifest LargeStarting).
	startingMtime string
	startErr      error
	bgActive      int           // background goroutines running
	idle          chan struct{} // closed when bgActive == 0

	// keptOut: the data file is linked into the read cache (keep.go).
	keptOut atomic.Bool
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

// Writing reports whether a handle has the file open for writing
// (OpenOptions.Write): its close commits (write-back) or uploads it.
func (f *File) Writing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writers > 0
}

// State returns the upload state and the last upload error, if any.
func (f *File) State() (State, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.lastErr
}

// Changed returns when the file's content or metadata last changed through
// b2fs (its ctime), or the zero time if it has not since it was opened.
func (f *File) Changed() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
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

func (f *File) partSize() int64 { return f.m.opts.PartSize }

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
	f.endLargeRec()
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
	f.mu.Lock()
	unlinked := f.unlinked && f.m.opts.WriteBack
	f.mu.Unlock()
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	if unlinked && f.manFD != nil && f.manFD.Truncate(0) == nil {
		// An unlink's durable drop (dropManifestDurably) may not have
		// run yet: an upload that ends meanwhile removes the file first.
		// Emptied durably here, or a power cut brings the file back.
		if err := f.manFD.Sync(); err != nil {
			f.m.log.Error("fsync the manifest of an unlinked staged file", "file", f.key.Name, "err", err)
		}
	}
	f.discarded = true
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
	f.m.fs.Remove(f.dataPath)
	f.m.fs.Remove(f.manPath)
	// No dirChanged: a removal needs no directory fsync (spares.go).
}

// cancelLarge abandons an unfinished large file, logging failures.
func (f *File) cancelLarge(id string) {
	ctx, cancel := context.WithTimeout(f.m.ctx, time.Minute)
	defer cancel()
	if err := f.m.opts.Remote.CancelLargeFile(ctx, id); err != nil {
		f.m.log.Warn("cancel unfinished large file", "fileId", id, "err", err)
	}
}
