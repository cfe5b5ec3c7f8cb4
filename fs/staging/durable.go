package staging

import (
	"context"
	"errors"
	"time"

	"github.com/b2fs/b2fs/fs/errs"
)

// Local durability (write-back mode). A change is acknowledged only once
// what recovery needs to redo it survives a power cut:
//
//   - close (Commit): the data file is fsynced, then the manifest is
//     rewritten settled and fsynced (a small pending file's content goes
//     into the manifest instead: Manifest.Inline, one fsync), then the
//     instance directory is
//     fsynced if entries were created, renamed or removed in it since its
//     last fsync (one fsync covers every concurrent commit: group commit);
//   - rename of a pending file (Rekey): Commit under the new name;
//   - unlink of a pending file (Detach): its manifest is emptied and
//     fsynced (an empty manifest is an unused pair to recovery).
//
// In the default mode nothing is fsynced: data is durable once in B2,
// when close returns.

// Commit makes the staged content durable on local disk (see above) and,
// in write-back mode, schedules its upload WriteBackDelay from now. It
// does not wait for an upload in progress.
func (f *File) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	detached, dirty := f.detached, f.dirty
	f.committed = true
	f.mu.Unlock()
	if detached {
		return nil
	}
	// A small file's content goes into the manifest (one fsync).
	settled := true
	if err := f.putState(&settled, true, true); err != nil {
		return err
	}
	f.endLargeRec() // the manifest names the large file now
	if err := f.m.syncDir(); err != nil {
		return err
	}
	if dirty {
		f.m.noteChange(f)
	}
	return nil
}

// dirChanged records a change of the instance directory's entries.
func (m *Manager) dirChanged() { m.dirGen.Add(1) }

// syncDir fsyncs the instance directory if its entries changed since the
// last fsync that covered them.
func (m *Manager) syncDir() error {
	want := m.dirGen.Load()
	m.dirSyncMu.Lock()
	defer m.dirSyncMu.Unlock()
	if m.dirSynced >= want {
		return nil
	}
	g := m.dirGen.Load()
	if err := m.fs.SyncDir(m.dir); err != nil {
		return err
	}
	m.dirSynced = g
	return nil
}

// dropManifestDurably empties the manifest of a detached file and, in
// write-back mode, fsyncs it, so that a crash cannot bring the file back.
func (f *File) dropManifestDurably() {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	if f.manFD == nil {
		return
	}
	if err := f.manFD.Truncate(0); err != nil {
		f.m.log.Error("empty the manifest of an unlinked staged file", "file", f.key.Name, "err", err)
		return
	}
	if f.m.opts.WriteBack {
		if err := f.manFD.Sync(); err != nil {
			f.m.log.Error("fsync the manifest of an unlinked staged file", "file", f.key.Name, "err", err)
		}
	}
}

// freed wakes writers waiting for staging space.
func (m *Manager) freed() {
	m.spaceMu.Lock()
	close(m.space)
	m.space = make(chan struct{})
	m.spaceMu.Unlock()
}

// waitSpace is backpressure (write-back mode with a size bound): when a
// write of f found the staging area full and uploads of other files can
// free space, it hurries them and waits until some space is freed (true),
// or ctx ends. False when nothing can free space: the write fails with
// ENOSPC.
func (m *Manager) waitSpace(ctx context.Context, f *File) (bool, error) {
	if !m.opts.WriteBack || m.opts.MaxSize <= 0 {
		return false, nil
	}
	m.spaceMu.Lock()
	ch := m.space
	m.spaceMu.Unlock()
	if !m.drainable(f) {
		if !m.uploading() {
			return false, nil
		}
		// An upload in flight holds a reference on its file while it
		// lets it go (letGo): look again once space is freed or shortly.
		t := time.NewTimer(20 * time.Millisecond)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		return true, nil
	}
	m.hurry()
	select {
	case <-ch:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// drainable reports whether a file other than f is staged with no handle
// open: its upload (or, uploaded, its removal, which follows) frees its
// space.
func (m *Manager) drainable(f *File) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, g := range m.files {
		if g != f && g.refs == 0 {
			return true
		}
	}
	return false
}

// uploading reports whether a background upload is running.
func (m *Manager) uploading() bool {
	m.wb.mu.Lock()
	defer m.wb.mu.Unlock()
	return m.wb.inflight > 0
}

// hurry makes every queued upload that is not backing off due now.
func (m *Manager) hurry() {
	now := m.opts.Now()
	m.wb.mu.Lock()
	for _, it := range m.wb.queue {
		if it.attempts == 0 && it.due.After(now) {
			it.due = now
		}
	}
	m.wb.mu.Unlock()
	m.wb.poke()
}

// writeWaiting is write with backpressure: a write that finds the staging
// area full first lets the read cache give space back, then (write-back)
// waits for uploads to free some.
func (f *File) writeWaiting(ctx context.Context, p []byte, off int64, appending bool) (int, error) {
	n, err := f.write(ctx, p, off, appending)
	shrunk := false
	for errors.Is(err, errs.ErrNoSpace) && n < len(p) {
		if !shrunk && f.retryAfterSpace(err) {
			shrunk = true
		} else if ok, werr := f.m.waitSpace(ctx, f); werr != nil {
			return n, werr
		} else if !ok {
			return n, err
		}
		var m int
		m, err = f.write(ctx, p[n:], off+int64(n), appending)
		n += m
	}
	return n, err
}
