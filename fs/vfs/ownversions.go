package vfs

import "context"

// Versions this mount created. b2fs's own bookkeeping (metadata copies,
// renames, a shell's create-then-write pattern) must not leave extra
// stored versions behind: B2 bills every stored byte. A File that this
// mount created at a name B2 did not have remembers the versions it made
// there; a version is deleted only when its bytes live on elsewhere (a
// copy) or it is empty.

// ownVersions is what a File created by this mount remembers (nil for
// the others: a listing loads many files, few of them created here).
type ownVersions struct {
	created bool
	ids     []string
	empty   map[string]bool // the empty ones among ids
}

// noteOwnVersion records id (of size bytes) as a version this mount
// created for n.
func (n *File) noteOwnVersion(id string, size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.own
	if o == nil || !o.created || id == "" {
		return
	}
	if l := len(o.ids); l > 0 && o.ids[l-1] == id {
		return
	}
	o.ids = append(o.ids, id)
	if size == 0 {
		if o.empty == nil {
			o.empty = map[string]bool{}
		}
		o.empty[id] = true
	}
}

// ownEmptyVersion reports whether this mount created version id of n,
// empty.
func (n *File) ownEmptyVersion(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.own != nil && n.own.empty[id]
}

// replaceOwnVersion records that version old (deleted) was replaced by a
// copy, newID.
func (n *File) replaceOwnVersion(old, newID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.own == nil {
		return
	}
	for i, id := range n.own.ids {
		if id == old {
			n.own.ids[i] = newID
		}
	}
}

// forgetOwnVersion drops id (deleted) from n's versions.
func (n *File) forgetOwnVersion(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.own
	if o == nil {
		return
	}
	out := o.ids[:0]
	for _, x := range o.ids {
		if x != id {
			out = append(out, x)
		}
	}
	o.ids = out
	delete(o.empty, id)
}

// ownsVersion reports whether this mount created version id of n.
func (n *File) ownsVersion(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.own == nil {
		return false
	}
	for _, x := range n.own.ids {
		if x == id {
			return true
		}
	}
	return false
}

// onlyOwnVersion reports whether id is the one version the name of n has,
// created by this mount.
func (n *File) onlyOwnVersion(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.own
	return o != nil && o.created && len(o.ids) == 1 && o.ids[0] == id
}

// setCreated marks n as created by this mount at a free name, with the
// versions ids (a rename's copy).
func (n *File) setCreated(created bool, ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.own = nil
	if created || len(ids) > 0 {
		n.own = &ownVersions{created: created, ids: append([]string(nil), ids...)}
	}
}

// deleteVersion deletes exactly version id of name; false when the
// backend cannot or the call failed (logged). A version an open handle
// reads is deleted when the last such handle is released (pins.go).
func (f *FS) deleteVersion(ctx context.Context, b Bucket, name, id, why string) bool {
	vd, ok := f.opts.Write.Backend.(versionDeleter)
	if !ok || id == "" {
		return false
	}
	if f.holdDelete(b, name, id, why) {
		f.log.Debug("version still read; deleted after its last reader", "file", fmtPath(b, name), "fileId", id, "why", why)
		return true
	}
	defer f.deleteDone(id)
	if err := vd.DeleteVersion(ctx, b, name, id); err != nil {
		f.log.Warn("deleting a superseded version failed; it stays stored", "file", fmtPath(b, name), "fileId", id, "why", why, "err", err)
		return false
	}
	return true
}
