package vfs

import (
	"context"
	"io"
	"sync"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/readahead"
	"github.com/b2fs/b2fs/fs/readcache"
	"github.com/b2fs/b2fs/fs/staging"
)

// readHandle is a read-only handle of a file that had nothing staged when
// it was opened: it reads a version of B2 (through the read cache), and
// follows the changes made through this mount, as every descriptor of one
// file sees one file: once the file is staged (opened for writing,
// truncated) it reads the staged copy, and once this mount uploaded
// another version of it, that one. A version written by another client
// is not followed (a read in progress would mix two versions); a file
// unlinked or replaced keeps, for the handle, what it had. A handle of the
// versions view (node nil) reads its version only.
//
// LOCK ORDER: readHandle.mu, then the locks of File and package staging.
type readHandle struct {
	fsys *FS
	node *File // nil: a version of the versions view

	// mu guards the fields below; reads hold it shared, a change of what
	// the handle reads holds it alone.
	mu     sync.RWMutex
	path   string
	entry  cache.Entry
	reader *readahead.Reader
	pinned bool          // entry.FileID is pinned (pins.go)
	wrote  uint64        // File.wrote when entry was current
	staged *staging.File // the file's staged copy, read once the file was staged (held)
	// goneSeen: the file was gone (unlinked, replaced) when h last
	// looked; what its writers still write (its staged copy then) was
	// taken if there was one.
	goneSeen bool
}

// setVersion makes h read version e (pinned by the caller when it has a
// file ID and h reads a live file). h.mu is held or h is new.
func (h *readHandle) setVersion(e cache.Entry) {
	b, dir, _ := h.node.loc()
	h.path = fmtPath(b, childName(dir, e.Name))
	fsys, id := h.fsys, e.FileID
	var fetch readahead.FetchFunc = func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		return fsys.opts.Backend.OpenRange(ctx, b, id, off, length)
	}
	fetch = readahead.FetchFunc(fsys.opts.ReadCache.Wrap(id, e.Size, ContentSHA1(e), readcache.FetchFunc(fetch)))
	h.entry, h.pinned = e, e.FileID != ""
	h.reader = readahead.New(e.Size, fetch, fsys.opts.Read)
}

// dropVersion lets go of the version h reads. h.mu is held.
func (h *readHandle) dropVersion() {
	if h.reader != nil {
		h.reader.Close()
		h.reader = nil
	}
	if h.pinned {
		h.fsys.unpinVersion(h.entry.FileID)
		h.pinned = false
	}
}

// version returns the version h reads (its last one once it reads the
// staged copy).
func (h *readHandle) version() cache.Entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.entry
}

// stale reports whether the file h reads was changed through this mount
// under it: it is staged now, or it has a new version. h.mu is held.
func (h *readHandle) stale() bool {
	if h.node == nil || h.staged != nil || h.goneSeen {
		return false
	}
	if h.node.isGone() {
		return true // once: see follow
	}
	return h.node.stagedFile() != nil || h.node.wroteCount() != h.wrote
}

// sameContent reports whether versions a and b hold the same bytes: the
// same version, or a copy of it (a rename, a metadata change: the same
// size and content SHA-1).
func sameContent(a, b cache.Entry) bool {
	if a.FileID == b.FileID {
		return true
	}
	s := ContentSHA1(a)
	return a.Size == b.Size && s != "" && s == ContentSHA1(b)
}

// follow makes h read what the file holds now (see readHandle).
func (h *readHandle) follow() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stale() {
		return nil // another read followed first
	}
	if h.node.isGone() {
		// Its handles still write the staged copy it had, if any; else
		// h keeps what it reads.
		h.goneSeen = true
		if sf := h.node.goneStagedFile(); sf != nil && h.fsys.opts.Write.Staging.Hold(sf) {
			h.dropVersion()
			h.staged = sf
			return nil
		}
		// The last version this mount uploaded before it went, when it
		// can still be read (hidden, not deleted).
		if e := h.node.current(); h.node.wroteCount() != h.wrote && !sameContent(e, h.entry) &&
			e.FileID != "" && h.fsys.pinVersion(e.FileID) {
			h.dropVersion()
			h.setVersion(e)
		}
		return nil
	}
	if sf := h.node.stagedFile(); sf != nil {
		if h.fsys.opts.Write.Staging.Hold(sf) {
			h.dropVersion()
			h.staged = sf
			return nil
		}
		// Let go of just now: the file has a new version.
	}
	wrote := h.node.wroteCount()
	e, err := h.node.pinnedCurrent()
	if err != nil {
		return err
	}
	if sameContent(e, h.entry) {
		if e.FileID != "" {
			h.fsys.unpinVersion(e.FileID)
		}
		h.wrote = wrote
		return nil
	}
	h.dropVersion()
	h.setVersion(e)
	h.wrote = wrote
	return nil
}

// rlockCurrent takes h.mu for reading once the handle reads the file's
// current content (following a newer version first).
func (h *readHandle) rlockCurrent() error {
	h.mu.RLock()
	if h.stale() {
		h.mu.RUnlock()
		if err := h.follow(); err != nil {
			return err
		}
		h.mu.RLock()
	}
	return nil
}

func (h *readHandle) Read(ctx context.Context, p []byte, off int64) (int, error) {
	if err := h.rlockCurrent(); err != nil {
		return 0, err
	}
	defer h.mu.RUnlock()
	if h.staged != nil {
		n, err := h.staged.ReadAt(ctx, p, off)
		if err != nil && err != io.EOF {
			return 0, readFailed("read "+h.staged.Key().String(), err)
		}
		return n, nil
	}
	b, err := h.reader.Read(ctx, p, off)
	if err != nil {
		return 0, readFailed("read "+h.path, err)
	}
	if len(b) > 0 && &b[0] != &p[0] {
		copy(p, b)
	}
	return len(b), nil
}

// ReadVec serves a read of a version from B2 from the readahead buffers
// (see VecReader); a read of a staged copy is not (ok false).
func (h *readHandle) ReadVec(ctx context.Context, off int64, n int) (vec [][]byte, release func(), ok bool, err error) {
	if err := h.rlockCurrent(); err != nil {
		return nil, nil, true, err
	}
	defer h.mu.RUnlock()
	if h.staged != nil {
		return nil, nil, false, nil
	}
	vec, release, err = h.reader.ReadVec(ctx, off, n)
	if err != nil {
		return nil, nil, true, readFailed("read "+h.path, err)
	}
	return vec, release, true, nil
}

func (h *readHandle) Write(ctx context.Context, p []byte, off int64) (int, error) {
	return 0, errs.ErrBadHandle
}

func (h *readHandle) Flush(ctx context.Context) error { return nil }

func (h *readHandle) Release(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropVersion()
	if h.staged != nil {
		h.fsys.opts.Write.Staging.Release(h.staged)
		h.staged = nil
	}
	return nil
}

// Fsync makes the file durable, as through any of its descriptors: once it
// is staged (written through another handle since h was opened), its
// staged copy is uploaded as a staged handle's fsync does; else its content
// is in B2 already and the metadata changes not yet in B2 are sent.
func (h *readHandle) Fsync(ctx context.Context) error {
	if h.node == nil {
		return nil
	}
	if err := h.rlockCurrent(); err != nil {
		return err
	}
	path, sf := h.path, h.staged
	h.mu.RUnlock()
	if sf != nil {
		// Held by h until its Release, which does not come while an
		// fsync through it runs.
		return (&stagedHandle{fsys: h.fsys, node: h.node, f: sf}).sync(ctx, "fsync")
	}
	return h.fsys.opErr("fsync "+path, h.fsys.flushMeta(context.WithoutCancel(ctx), h.node))
}
