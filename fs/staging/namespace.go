package staging

import (
	"context"
	"strings"

	"github.com/b2fs/b2fs/fs/backend"
)

// Namespace changes of staged files: Detach (unlink, replace), Rename
// (after a rename in B2) and Rekey. Coalescing (write-back): a file that
// is pending and was never uploaded costs nothing in B2 when it is
// renamed (Rekey) or removed (Detach): only its manifest changes.

// Rekey gives the pending file of from, which was created by this mount
// and never uploaded (it is based on no B2 version), the name to, with no
// B2 call: it becomes the next version of to, based on base (the version
// to has in B2 now, "" if none). A staged file at to is detached first.
// It returns false, doing nothing, when from is not such a file (the
// caller then renames in B2). In write-back mode the new name is durable
// (Commit) when it returns. It waits for an upload of the file in
// progress (after which the file is no longer "never uploaded").
func (m *Manager) Rekey(ctx context.Context, from, to Key, base string) (bool, error) {
	if from.mk() == to.mk() {
		return false, nil
	}
	m.mu.Lock()
	f := m.files[from.mk()]
	m.mu.Unlock()
	if f == nil {
		return false, nil
	}
	f.hookMu.Lock() // no upload of f runs or is being shown while it moves
	defer f.hookMu.Unlock()
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	if !f.neverUploaded() {
		return false, nil
	}
	m.mu.Lock()
	if m.files[from.mk()] != f {
		m.mu.Unlock()
		return false, nil // unlinked meanwhile
	}
	old := m.takeLocked(to, f)
	delete(m.files, from.mk())
	m.files[to.mk()] = f
	f.mu.Lock()
	f.key = to
	f.baseID, f.baseSize, f.baseLargeSHA = base, 0, ""
	f.gen++
	f.mu.Unlock()
	m.mu.Unlock()
	old.fence()
	var err error
	if m.opts.WriteBack {
		err = f.Commit(ctx)
	} else {
		f.saveManifest()
	}
	// Only now is the replaced file's manifest emptied: until then a
	// power cut leaves both manifests of to, and recovery keeps the
	// newer (Manifest.Seq), never the replaced content without the new.
	if old != nil {
		m.detachTaken(old)
	}
	return true, err
}

// neverUploaded reports whether f is pending, based on no B2 version (a
// file this mount created, or a renamed one: then base is the version
// it replaces, and nothing of it is in B2 yet) and has no large file
// started.
func (f *File) neverUploaded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.detached && f.dirty && f.uploads == 0 && f.remoteEnd == 0 && f.sess == nil && !f.starting
}

// Coalescible reports whether Rekey would move the file with no B2 call.
func (f *File) Coalescible() bool { return f.neverUploaded() }

// Detach is called when key is unlinked or replaced: its staged file, if
// any, is never uploaded again and is removed once its last handle is
// released. It does not wait for an upload of the file in progress: the
// upload is cancelled, and a version it still makes (its last call was
// under way) is deleted when it lands, so that nothing of it stays visible
// over the caller's hide or delete. (A background upload, which holds
// hookMu, is waited for once cancelled, and its hook with it.) It returns
// whether a staged file existed.
func (m *Manager) Detach(key Key) bool {
	had, _ := m.DetachVersion(key)
	return had
}

// DetachVersion is Detach that also returns the B2 version the staged
// file was based on when it went (its own upload, when it had one; in
// write-back mode also one its cancelled upload made and could not
// delete): a caller removing the name must remove that version too, even
// if its view of the name is older than the upload.
func (m *Manager) DetachVersion(key Key) (bool, string) {
	m.mu.Lock()
	f := m.files[key.mk()]
	if f == nil {
		m.mu.Unlock()
		return false, ""
	}
	delete(m.files, key.mk())
	return true, m.detachLocked(f)
}

// taken is a staged file removed from the map whose detaching is still
// to come (detachTaken).
type taken struct{ f *File }

// takeLocked removes the staged file of key (if any, and not keep) from
// the map, for detachTaken to detach once the record that replaces it is
// durable. Called with m.mu held.
func (m *Manager) takeLocked(key Key, keep *File) *taken {
	f := m.files[key.mk()]
	if f == nil || f == keep {
		return nil
	}
	delete(m.files, key.mk())
	f.mu.Lock()
	f.detached = true // no manifest is written for it again
	f.unlinked = true
	f.mu.Unlock()
	return &taken{f}
}

// fence waits for a manifest write of the taken file in progress, so that
// none ends after the record that replaces it (later ones see it
// detached and write nothing).
func (t *taken) fence() {
	if t != nil {
		t.f.manifestMu.Lock()
		t.f.manifestMu.Unlock()
	}
}

// detachTaken detaches a file takeLocked took.
func (m *Manager) detachTaken(t *taken) {
	m.mu.Lock()
	m.detachLocked(t.f)
}

// detachLocked detaches f, already out of the map (see DetachVersion),
// and returns the version it was based on. Called with m.mu held; it
// releases it.
func (m *Manager) detachLocked(f *File) string {
	refs := f.refs
	f.mu.Lock()
	f.detached = true
	f.unlinked = true
	base := f.baseID
	cancel := f.upCancel
	if cancel != nil && refs == 0 {
		f.removeAfter = true // the upload removes the file when it ends
	}
	f.mu.Unlock()
	m.mu.Unlock()
	if m.opts.WriteBack {
		// Durably gone before unlink returns (see durable.go).
		f.dropManifestDurably()
	}
	if cancel != nil {
		if !m.opts.WriteBack {
			// Not waited for: a crash before it ends must neither
			// upload the file again nor leave what it made visible.
			f.markRemoved()
		}
		cancel()
		if m.opts.WriteBack {
			// Wait for the cancelled upload to end (and to delete what
			// it still made): the removal must not depend on a step
			// that a crash right after unlink returns would skip. A
			// version it made and could not delete is the caller's to
			// remove.
			f.flushMu.Lock()
			f.flushMu.Unlock()
			f.mu.Lock()
			if f.leftover != "" {
				base = f.leftover
			}
			f.mu.Unlock()
		}
	}
	// A background upload (write-back, or Drain's of a recovered file)
	// that ended just before is shown first: its hook, shown after the
	// caller's removal, would bring the name back.
	f.hookMu.Lock()
	f.hookMu.Unlock()
	if cancel != nil {
	} else if refs == 0 {
		f.remove()
	} else {
		// Still open: a crash before the last handle is released must
		// not bring the file back under its old name.
		f.dropManifest()
	}
	return base
}

// Rename moves the staged file of from (if any) to the name of to, which
// must have been uploaded (Flush) before the server-side copy. A staged
// file at to is detached first. v is the version now stored under to.
// In write-back mode the new name is durable when it returns without an
// error.
func (m *Manager) Rename(from, to Key, v *backend.Object) error { return m.rename(from, to, v, nil) }

// RenameHeld is Rename of held, a file the caller holds (File.Hold) since
// before it listed what it copies: a directory rename, so that no
// background upload of a file inside lands under its old name meanwhile.
func (m *Manager) RenameHeld(from, to Key, v *backend.Object, held *File) error {
	return m.rename(from, to, v, held)
}

func (m *Manager) rename(from, to Key, v *backend.Object, held *File) error {
	m.mu.Lock()
	f := m.files[from.mk()]
	m.mu.Unlock()
	if f == nil {
		m.Detach(to)
		return nil
	}
	if f != held {
		// A background upload that ended just before is shown first
		// (under the old name), and none starts while the file moves.
		f.hookMu.Lock()
		defer f.hookMu.Unlock()
	}
	m.mu.Lock()
	if m.files[from.mk()] != f {
		m.mu.Unlock()
		m.Detach(to)
		return nil
	}
	old := m.takeLocked(to, f)
	delete(m.files, from.mk())
	m.files[to.mk()] = f
	f.mu.Lock()
	f.key = to
	// The copy replaces the base (whose bytes it has) unless the staged
	// content still needs bytes of the old one.
	if v != nil && (!f.dirty || f.remoteEnd == 0) {
		f.baseID = v.FileID
	}
	f.mu.Unlock()
	m.mu.Unlock()
	old.fence()
	var err error
	if m.opts.WriteBack {
		if err = f.Commit(m.ctx); err != nil {
			m.log.Error("record the new name of a staged file", "file", to.String(), "err", err)
		}
	} else {
		f.saveManifest()
	}
	if old != nil { // after the new record, as in Rekey
		m.detachTaken(old)
	}
	return err
}

// Hold waits until a background upload of f in progress has ended and
// the filesystem has been shown its result (the upload hook), and keeps
// the next one from starting until release is called: a metadata change
// that finds f with nothing to upload changes f's uploaded version with a
// server-side copy, and an upload landing in the middle of it would make
// the copy replace a version older than the upload, or show that older
// version over the copy; a directory rename holds the files inside until
// they have their new names (RenameHeld). The caller must not Detach,
// Rekey or Rename f (other than with RenameHeld) before release.
func (f *File) Hold() (release func()) {
	f.hookMu.Lock()
	return f.hookMu.Unlock
}

// HasUnder reports whether a staged file of bucketID other than except
// has a name starting with prefix.
func (m *Manager) HasUnder(bucketID, prefix, except string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.files {
		if k.bucketID == bucketID && k.name != except && strings.HasPrefix(k.name, prefix) {
			return true
		}
	}
	return false
}
