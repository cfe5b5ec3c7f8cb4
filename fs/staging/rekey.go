package staging

import "context"

// Coalescing (write-back): a file that is pending and was never uploaded
// costs nothing in B2 when it is renamed (Rekey) or removed (Detach):
// only its manifest changes.

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
	m.Detach(to)
	m.mu.Lock()
	if m.files[from.mk()] != f {
		m.mu.Unlock()
		return false, nil // unlinked meanwhile
	}
	delete(m.files, from.mk())
	m.files[to.mk()] = f
	f.mu.Lock()
	f.key = to
	f.baseID, f.baseSize, f.baseLargeSHA = base, 0, ""
	f.gen++
	f.mu.Unlock()
	m.mu.Unlock()
	if m.opts.WriteBack {
		return true, f.Commit(ctx)
	}
	f.saveManifest()
	return true, nil
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
