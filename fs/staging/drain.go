package staging

import (
	"context"
	"errors"
)

// Draining and stopping: what is pending, uploading it without stopping,
// and the stop of a killed process (tests).

// PendingStats returns the number of staged files with changes not yet in
// B2, how many of them are uploading right now, and their total size.
func (m *Manager) PendingStats() (files, uploading int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		f.mu.Lock()
		if f.dirty && !f.detached {
			files++
			bytes += f.size
			if f.state == StateUploading {
				uploading++
			}
		}
		f.mu.Unlock()
	}
	return files, uploading, bytes
}

// Drain uploads every staged file with changes not yet in B2, bounded by
// ctx, without stopping the Manager (unlike Close). Files whose upload
// fails stay staged; the error names them. In write-back mode it is Sync
// (uploads run Transfers at a time).
func (m *Manager) Drain(ctx context.Context) error {
	var err error
	if m.opts.WriteBack {
		err = m.Sync(ctx)
	} else {
		m.mu.Lock()
		var files []*File
		for _, f := range m.files {
			files = append(files, f)
		}
		m.mu.Unlock()
		var errs []error
		for _, f := range files {
			if err := m.drainOne(ctx, f); err != nil {
				errs = append(errs, err)
			}
			if ctx.Err() != nil {
				break
			}
		}
		err = errors.Join(errs...)
	}
	// Uploaded files nobody holds open are no longer needed locally (those
	// whose upload is still to be shown wait for it: see File.showing).
	m.mu.Lock()
	var drop []*File
	for k, f := range m.files {
		f.mu.Lock()
		clean := !f.dirty && !f.showing
		f.mu.Unlock()
		if clean && f.refs == 0 {
			delete(m.files, k)
			drop = append(drop, f)
		}
	}
	m.mu.Unlock()
	for _, f := range drop {
		f.remove()
	}
	return err
}

// drainOne uploads f, one of Drain's files in the default mode, as the
// background uploader of write-back mode uploads (Manager.upload): under
// f's hookMu, so that no metadata change (File.Hold), rename or removal of
// the file lands between the upload and the hook, and with f.showing set,
// so that a reader releasing the file meanwhile does not let it go before
// the hook has shown the new version: the filesystem's listing, fetched
// before the upload, would not have the name at all. The file is let go
// after the hook, unless someone holds it.
func (m *Manager) drainOne(ctx context.Context, f *File) error {
	f.hookMu.Lock()
	f.mu.Lock()
	n0 := f.uploads
	f.showing = true
	f.mu.Unlock()
	err := f.Flush(ctx)
	f.mu.Lock()
	uploaded := f.uploads != n0 && err == nil
	f.mu.Unlock()
	if uploaded {
		m.wb.mu.Lock()
		hook := m.wb.hook
		m.wb.mu.Unlock()
		if hook != nil {
			hook(f.Key(), f)
		}
	}
	f.mu.Lock()
	f.showing = false
	f.mu.Unlock()
	f.hookMu.Unlock()
	m.letGo(f)
	return err
}

// Abandon stops m the way a killed process stops: background uploads are
// cancelled (and waited for), and the instance lock is released, but
// nothing is uploaded, flushed or removed, so a later Manager's Recover
// finds every staged file as a crash leaves it. m must not be used
// afterwards. Tests that simulate a crash in one process use it.
func (m *Manager) Abandon() {
	m.abandoned.Store(true)
	m.cancel()
	m.wb.workers.Wait()
	m.mu.Lock()
	files := make([]*File, 0, len(m.files))
	for _, f := range m.files {
		files = append(files, f)
	}
	m.files = map[mapKey]*File{}
	m.mu.Unlock()
	for _, f := range files {
		f.waitIdle(context.Background())
		// The descriptors a dead process loses.
		f.manifestMu.Lock()
		if f.manFD != nil {
			f.manFD.Close()
			f.manFD = nil
		}
		f.manifestMu.Unlock()
		f.data.Close()
	}
	m.spareMu.Lock()
	for _, sp := range m.spares {
		sp.data.Close()
		sp.man.Close()
	}
	m.spares = nil
	m.spareMu.Unlock()
	m.lock.Close()
}
