package staging

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/fs/errs"
)

// Write-back (Options.WriteBack): close returns once the staged content
// and its manifest are durable on local disk (File.Commit), and an
// uploader in the background sends each pending file to B2
// Options.WriteBackDelay after its last change, at most Options.Transfers
// files at once. A failed upload is retried with capped, jittered back-off
// for as long as the Manager runs; its data is never dropped. Sync waits
// for what is pending; Stats reports it.
//
// LOCK ORDER: writeBack.mu is a leaf: no other lock is taken while it is
// held (it is itself taken with no File.mu held).

// Defaults of the write-back options.
const (
	DefaultWriteBackDelay = 2 * time.Second
	DefaultTransfers      = 16
	// maxBackoff caps the wait between attempts of a failing upload.
	maxBackoff = 5 * time.Minute
	// urgentBackoff caps it while someone waits for the file (Sync).
	urgentBackoff = 5 * time.Second
	// recentErrors bounds the errors Stats reports.
	recentErrors = 32
)

// UploadError is a failed upload, as Stats reports it.
type UploadError struct {
	Time time.Time
	Name string // bucket/name
	Err  string
}

// WriteBackStats describe the uploads of a Manager (in either mode).
type WriteBackStats struct {
	// PendingFiles and PendingBytes: staged files with changes not yet
	// in B2, and their size.
	PendingFiles int
	PendingBytes int64
	// OldestPending is when the oldest pending change was made (zero
	// when nothing is pending).
	OldestPending time.Time
	// Uploading counts the files being uploaded now.
	Uploading int
	// Cumulative since the Manager started.
	UploadedBytes int64
	UploadsDone   int64
	// Conflicts counts uploads of files whose name got a version from
	// another writer after the file's base (both versions stay in B2).
	Conflicts int64
	// Retries counts failed uploads that were scheduled again.
	Retries int64
	// RecentErrors are the last failed uploads, oldest first.
	RecentErrors []UploadError
}

// writeBack is the Manager's upload queue and its counters.
type writeBack struct {
	mu       sync.Mutex // leaf, see LOCK ORDER above; guards the fields up to errs
	queue    map[*File]*wbItem
	inflight int
	progress chan struct{} // closed and replaced when an upload ends
	errs     []UploadError // ring of recentErrors, oldest first
	hook     func(Key, *File)

	wake    chan struct{} // 1-buffered: the queue changed
	workers sync.WaitGroup

	uploadedBytes, uploadsDone, conflicts, retries atomic.Int64
}

// wbItem is a file in the upload queue.
type wbItem struct {
	due         time.Time
	attempts    int
	running     bool
	seq, ran    uint64 // noteChange calls; seq when the running upload began
	urgent      bool   // a Sync waits for it: short back-off
	lastErr     error  // the last attempt's error
	permanent   bool   // lastErr is a refusal retrying will not cure soon
	checkedBase string // the base whose conflict check was made
}

func newWriteBack() *writeBack {
	return &writeBack{queue: map[*File]*wbItem{}, progress: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// WriteBack reports whether close returns before the upload (see
// Options.WriteBack).
func (m *Manager) WriteBack() bool { return m.opts.WriteBack }

// SetUploadHook sets the function called after each upload the background
// uploader made, and each upload of Drain (files recovered after a crash),
// with no lock held, before the file is let go, so that the filesystem can
// show the new version.
func (m *Manager) SetUploadHook(fn func(Key, *File)) {
	m.wb.mu.Lock()
	m.wb.hook = fn
	m.wb.mu.Unlock()
}

func (wb *writeBack) poke() {
	select {
	case wb.wake <- struct{}{}:
	default:
	}
}

// broadcastLocked wakes the waiters of Sync. Called with mu held.
func (wb *writeBack) broadcastLocked() {
	close(wb.progress)
	wb.progress = make(chan struct{})
}

// noteChange schedules f's upload WriteBackDelay after now (its last
// change).
func (m *Manager) noteChange(f *File) {
	if !m.opts.WriteBack {
		return
	}
	due := m.opts.Now().Add(m.opts.WriteBackDelay)
	wb := m.wb
	wb.mu.Lock()
	it := wb.queue[f]
	if it == nil {
		it = &wbItem{due: due}
		wb.queue[f] = it
	} else if !it.urgent && (it.attempts == 0 || due.After(it.due)) {
		it.due = due
	}
	it.seq++
	wb.mu.Unlock()
	wb.poke()
}

// run is the uploader: it starts the uploads that are due, at most
// Transfers at once, until the Manager closes.
func (m *Manager) run() {
	wb := m.wb
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := m.opts.Now()
		var next time.Time
		var start []*File
		wb.mu.Lock()
		for f, it := range wb.queue {
			if it.running {
				continue
			}
			if it.due.After(now) {
				if next.IsZero() || it.due.Before(next) {
					next = it.due
				}
				continue
			}
			if wb.inflight < m.opts.Transfers {
				it.running, it.ran = true, it.seq
				wb.inflight++
				start = append(start, f)
			}
		}
		wb.mu.Unlock()
		for _, f := range start {
			wb.workers.Add(1)
			go m.upload(f)
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(now), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-wb.wake:
		case <-timer.C:
		case <-m.ctx.Done():
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// upload is one background upload of f.
func (m *Manager) upload(f *File) {
	wb := m.wb
	defer wb.workers.Done()
	f.hookMu.Lock()
	hookHeld := true
	defer func() {
		if hookHeld {
			f.hookMu.Unlock()
		}
	}()
	wb.mu.Lock()
	urgent := wb.queue[f].urgent
	wb.mu.Unlock()
	f.mu.Lock()
	key, base, n0, pending := f.key, f.baseID, f.uploads, f.dirty && !f.detached
	// A file being written waits for its last writer's release (which
	// schedules it again), unless someone waits for it (Sync).
	writing := f.writers > 0 && !urgent
	f.showing = true
	f.mu.Unlock()
	// A directory's marker waits while the directory's content changes.
	holding := pending && !writing && !urgent && m.held(f)
	var err error
	if pending && !writing && !holding {
		m.checkConflict(f, key, base)
		err = f.flush(m.ctx, false)
	}
	f.mu.Lock()
	uploaded := f.uploads != n0 && err == nil
	f.mu.Unlock()
	if uploaded {
		// Shown before the file counts as done for Sync (running).
		wb.mu.Lock()
		hook := wb.hook
		wb.mu.Unlock()
		if hook != nil {
			hook(key, f)
		}
	}
	f.mu.Lock()
	f.showing = false
	f.mu.Unlock()
	f.hookMu.Unlock()
	hookHeld = false
	// Also when a release left the file to this upload (showing).
	m.letGo(f)
	f.mu.Lock()
	gone, dirty := f.detached, f.dirty
	f.mu.Unlock()

	wb.mu.Lock()
	it := wb.queue[f]
	it.running = false
	wb.inflight--
	// A file skipped as being written stays queued, due now, when a Sync
	// made it urgent meanwhile: dropped, it would leave that Sync waiting
	// for an upload nothing starts.
	switch {
	case gone || (err == nil && (!dirty || writing && !it.urgent)) && it.seq == it.ran:
		delete(wb.queue, f)
	case err == nil && (writing || holding):
		it.due = m.opts.Now()
		if !it.urgent {
			it.due = it.due.Add(m.opts.WriteBackDelay)
		}
	case err != nil && m.ctx.Err() == nil:
		it.attempts++
		it.lastErr = err
		it.permanent = permanentErr(err)
		it.due = m.opts.Now().Add(backoff(it.attempts, it.urgent))
		wb.retries.Add(1)
	}
	wb.broadcastLocked()
	wb.mu.Unlock()
	wb.poke()
}

// maxHold bounds how long a held file (OpenOptions.DirMarker) waits after its
// first pending change.
const maxHold = time.Minute

// held reports whether the upload of f, opened with OpenOptions.DirMarker,
// waits: another pending file of the bucket changed less than
// WriteBackDelay ago (a tree being copied, whose tool sets its
// directories' metadata last, possibly the top one first), or the marker
// of a directory above f's is still pending; for at most maxHold after f
// became pending. A Sync does not wait for it.
func (m *Manager) held(f *File) bool {
	if !f.dirMarker {
		return false
	}
	now := m.opts.Now()
	f.mu.Lock()
	key, since := f.key, f.dirtySince
	f.mu.Unlock()
	if now.Sub(since) >= maxHold {
		return false
	}
	dir := key.Name[:strings.LastIndexByte(key.Name, '/')+1]
	recent := now.Add(-m.opts.WriteBackDelay)
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, g := range m.files {
		if g == f || k.bucketID != key.BucketID {
			continue
		}
		var above bool
		if g.dirMarker {
			gdir := k.name[:strings.LastIndexByte(k.name, '/')+1]
			above = len(gdir) < len(dir) && strings.HasPrefix(dir, gdir)
		}
		g.mu.Lock()
		pending := g.dirty && !g.detached
		busy := pending && (above || g.changed.After(recent))
		g.mu.Unlock()
		if busy {
			return true
		}
	}
	return false
}

// permanentErr reports whether err is a refusal retrying will not cure
// soon (the key lacks a capability, or a cap is exceeded).
func permanentErr(err error) bool {
	return errors.Is(err, errs.ErrAccess) || errors.Is(err, errs.ErrNoSpace) || errors.Is(err, errs.ErrReadOnly)
}

// backoff is the wait before attempt n+1: exponential from one second,
// capped, with ±25% jitter.
func backoff(n int, urgent bool) time.Duration {
	limit := maxBackoff
	if urgent {
		limit = urgentBackoff
	}
	d := time.Second << min(n-1, 20)
	d = min(d, limit)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// checkConflict logs and counts when B2's current version of f's name is
// no longer the version f is based on (another writer). The upload goes
// ahead: B2 keeps both versions. One lookup per base.
func (m *Manager) checkConflict(f *File, key Key, base string) {
	if m.opts.Current == nil || base == "" {
		return
	}
	wb := m.wb
	if m.opts.ListCurrent != nil {
		// One check at a time: the next finds its file checked by the
		// batch of the one before.
		m.checkMu.Lock()
		defer m.checkMu.Unlock()
	}
	wb.mu.Lock()
	it := wb.queue[f]
	done := it == nil || it.checkedBase == base
	wb.mu.Unlock()
	if done || m.opts.ListCurrent != nil && m.checkBatch(f, key, base) {
		return
	}
	wb.mu.Lock()
	if it := wb.queue[f]; it != nil {
		it.checkedBase = base
	}
	wb.mu.Unlock()
	cur, err := m.opts.Current(m.ctx, key)
	if err != nil || cur == nil || cur.FileID == base {
		return
	}
	m.conflict(key, base, cur.FileID)
}

// noteUpload records the outcome of an upload (both modes).
func (m *Manager) noteUpload(key Key, size int64, err error) {
	if err == nil {
		m.wb.uploadedBytes.Add(size)
		m.wb.uploadsDone.Add(1)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	wb := m.wb
	wb.mu.Lock()
	if len(wb.errs) >= recentErrors {
		wb.errs = append(wb.errs[:0], wb.errs[1:]...)
	}
	wb.errs = append(wb.errs, UploadError{Time: m.opts.Now(), Name: key.String(), Err: err.Error()})
	wb.mu.Unlock()
}

// Stats returns the pending uploads and the upload counters.
func (m *Manager) Stats() WriteBackStats {
	var s WriteBackStats
	m.mu.Lock()
	for _, f := range m.files {
		f.mu.Lock()
		if f.dirty && !f.detached {
			s.PendingFiles++
			s.PendingBytes += f.size
			if s.OldestPending.IsZero() || f.dirtySince.Before(s.OldestPending) {
				s.OldestPending = f.dirtySince
			}
			if f.state == StateUploading {
				s.Uploading++
			}
		}
		f.mu.Unlock()
	}
	m.mu.Unlock()
	wb := m.wb
	s.UploadedBytes = wb.uploadedBytes.Load()
	s.UploadsDone = wb.uploadsDone.Load()
	s.Conflicts = wb.conflicts.Load()
	s.Retries = wb.retries.Load()
	wb.mu.Lock()
	s.RecentErrors = append([]UploadError(nil), wb.errs...)
	wb.mu.Unlock()
	return s
}

// Sync returns when every change pending at the time of the call is in
// B2 (or the file was removed since), or with an error when ctx ends
// first or an upload was refused for good (the file stays pending).
func (m *Manager) Sync(ctx context.Context) error {
	return m.syncWhere(ctx, func(Key) bool { return true })
}

// SyncUnder is Sync for the files of bucketID whose names start with
// prefix (fsync of a directory).
func (m *Manager) SyncUnder(ctx context.Context, bucketID, prefix string) error {
	return m.syncWhere(ctx, func(k Key) bool {
		return k.BucketID == bucketID && len(k.Name) >= len(prefix) && k.Name[:len(prefix)] == prefix
	})
}

// SyncFile is Sync for one file.
func (m *Manager) SyncFile(ctx context.Context, f *File) error {
	return m.syncFiles(ctx, []*File{f})
}

func (m *Manager) syncWhere(ctx context.Context, match func(Key) bool) error {
	m.mu.Lock()
	var fs []*File
	for k, f := range m.files {
		if match(Key{BucketID: k.bucketID, Name: k.name}) {
			fs = append(fs, f)
		}
	}
	m.mu.Unlock()
	return m.syncFiles(ctx, fs)
}

type syncTarget struct {
	f   *File
	gen uint64
}

func (m *Manager) syncFiles(ctx context.Context, fs []*File) error {
	var ts []syncTarget
	for _, f := range fs {
		f.mu.Lock()
		pending, gen := f.dirty && !f.detached, f.gen
		f.mu.Unlock()
		if !pending && m.opts.WriteBack {
			// An upload that has made the file clean but is not shown
			// yet (running, see upload) counts: Sync returns once the
			// filesystem shows the new version.
			m.wb.mu.Lock()
			it := m.wb.queue[f]
			pending = it != nil && it.running
			m.wb.mu.Unlock()
		}
		if pending {
			ts = append(ts, syncTarget{f, gen})
		}
	}
	if len(ts) == 0 {
		return nil
	}
	if !m.opts.WriteBack {
		var all []error
		for _, t := range ts {
			if err := t.f.Flush(ctx); err != nil {
				all = append(all, err)
			}
			if ctx.Err() != nil {
				break
			}
		}
		return errors.Join(all...)
	}
	wb := m.wb
	now := m.opts.Now()
	wb.mu.Lock()
	for _, t := range ts {
		it := wb.queue[t.f]
		if it == nil {
			it = &wbItem{}
			wb.queue[t.f] = it
		}
		it.due, it.urgent, it.permanent = now, true, false
	}
	wb.mu.Unlock()
	wb.poke()
	defer func() {
		wb.mu.Lock()
		for _, t := range ts {
			if it := wb.queue[t.f]; it != nil {
				it.urgent = false
			}
		}
		wb.mu.Unlock()
	}()
	for {
		wb.mu.Lock()
		ch := wb.progress
		wb.mu.Unlock()
		// The file's state first, then whether its upload is still
		// being shown (running): see upload.
		done := make([]bool, len(ts))
		keys := make([]Key, len(ts))
		for i, t := range ts {
			t.f.mu.Lock()
			done[i] = t.f.detached || !t.f.dirty || t.f.upGen >= t.gen
			keys[i] = t.f.key
			t.f.mu.Unlock()
		}
		var refused []error
		left := ts[:0]
		wb.mu.Lock()
		for i, t := range ts {
			it := wb.queue[t.f]
			if done[i] && (it == nil || !it.running) {
				continue
			}
			left = append(left, t)
			if it != nil && it.permanent && !it.running {
				refused = append(refused, fmt.Errorf("%s: %w", keys[i], it.lastErr))
			}
		}
		wb.mu.Unlock()
		ts = left
		if len(ts) == 0 {
			return nil
		}
		if len(refused) > 0 {
			return fmt.Errorf("sync: %d files refused by B2 (kept, retried in the background): %w", len(refused), errors.Join(refused...))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sync: %d files not yet in B2: %w", len(ts), ctx.Err())
		case <-m.ctx.Done():
			return fmt.Errorf("sync: %d files not yet in B2: the staging area is closed", len(ts))
		}
	}
}

// letGo removes f from the Manager once it is uploaded and no handle has
// it open (what Release does for the last handle).
func (m *Manager) letGo(f *File) {
	m.mu.Lock()
	if f.refs > 0 || m.files[f.key.mk()] != f {
		m.mu.Unlock()
		return
	}
	f.mu.Lock()
	clean := !f.dirty && !f.detached
	f.mu.Unlock()
	if !clean {
		m.mu.Unlock()
		return
	}
	f.refs++
	m.mu.Unlock()
	m.Release(f)
}
