package vfs

import (
	"context"
	"sync"
	"syscall"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/listing"
)

// DirHandle streams a directory listing (sorted by name when complete at
// the start, else in B2's order as pages arrive; see FS.streamStep) and
// answers READDIRPLUS lookups from the entries received. The listing is
// fetched on the first read, not at open: opening a directory (fchdir,
// O_DIRECTORY opens by find and du) costs nothing. list is called again
// whenever the reader has used every entry received so far, until it
// reports the listing complete.
type DirHandle struct {
	list  func(ctx context.Context, c dirCursor) (dirCursor, error)
	fsync func(ctx context.Context) error // nil: nothing to do

	mu  sync.Mutex // guards the fields below
	cur dirCursor
	gen uint64 // bumped by a rewind
	pos uint64 // 0 ".", 1 "..", 2+i cur.entries[i]
}

// DirEntry is one entry of a directory read.
type DirEntry struct {
	Name string
	Mode uint32 // file type bits (syscall.S_IFDIR, S_IFREG, S_IFLNK)
	Off  uint64 // the offset of the entry after this one
}

// dirCursor is a reader's progress through one listing.
type dirCursor struct {
	entries []cache.Entry   // returned so far, in order; only appended to
	byName  []cache.Entry   // the entries known, sorted by name (for lookups)
	done    bool            // entries is the complete listing
	stream  *listing.Stream // the listing being read (nil: not started)
	seen    int             // pages of the stream used
	started bool            // lastKey is set
	lastKey string          // b2Key of the last entry returned
	gen     uint64          // the directory's generation that the entries reflect (listing.Meta.DirGen)
}

// listAll is a DirHandle list function for a listing got in one piece.
func listAll(get func(ctx context.Context) ([]cache.Entry, error)) func(context.Context, dirCursor) (dirCursor, error) {
	return func(ctx context.Context, c dirCursor) (dirCursor, error) {
		es, err := get(ctx)
		if err != nil {
			return c, err
		}
		return dirCursor{entries: es, byName: es, done: true}, nil
	}
}

// Opendir opens the directory for reading.
func (n *Dir) Opendir() *DirHandle {
	b, prefix := n.loc()
	return &DirHandle{
		list: func(ctx context.Context, c dirCursor) (dirCursor, error) {
			c, err := n.fsys.streamStep(ctx, b, prefix, c)
			return c, n.fsys.opErr("list "+fmtPath(b, prefix), err)
		},
		fsync: n.Fsync,
	}
}

// Opendir opens the account root for reading: one entry per bucket.
func (n *Account) Opendir() *DirHandle {
	return &DirHandle{list: listAll(n.Buckets)}
}

// more makes entry p-2 available (or the listing complete). It is called
// with mu held and releases it around the listing, which may go to the
// network.
func (h *DirHandle) more(ctx context.Context, p uint64) error {
	for !h.cur.done && p-2 >= uint64(len(h.cur.entries)) {
		c, gen := h.cur, h.gen
		h.mu.Unlock()
		c, err := h.list(ctx, c)
		h.mu.Lock()
		if err != nil {
			return err
		}
		if h.gen == gen {
			h.cur = c
		}
	}
	return nil
}

// Readdirent returns the next entry, nil at the end.
func (h *DirHandle) Readdirent(ctx context.Context) (*DirEntry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pos
	if p >= 2 {
		if err := h.more(ctx, p); err != nil {
			return nil, err
		}
	}
	var de DirEntry
	switch {
	case p == 0:
		de = DirEntry{Name: ".", Mode: syscall.S_IFDIR}
	case p == 1:
		de = DirEntry{Name: "..", Mode: syscall.S_IFDIR}
	case p-2 < uint64(len(h.cur.entries)):
		e := h.cur.entries[p-2]
		de = DirEntry{Name: e.Name, Mode: entryType(e)}
	default:
		return nil, nil
	}
	h.pos++
	de.Off = h.pos
	return &de, nil
}

// Seekdir moves to offset off (an Off of an entry returned); 0 rewinds to
// a fresh (or freshly cached) listing.
func (h *DirHandle) Seekdir(off uint64) {
	h.mu.Lock()
	h.pos = off
	if off == 0 {
		h.cur = dirCursor{}
		h.gen++
	}
	h.mu.Unlock()
}

// Entry returns the entry called name among those received.
func (h *DirHandle) Entry(name string) (cache.Entry, bool) {
	h.mu.Lock()
	es := h.cur.byName
	h.mu.Unlock()
	return cache.Find(es, name)
}

// Fsync of a directory: see Dir.Fsync.
func (h *DirHandle) Fsync(ctx context.Context) error {
	if h.fsync == nil {
		return nil
	}
	return h.fsync(context.WithoutCancel(ctx))
}

// NewListHandle returns a handle reading a listing got in one piece from
// get (directories of the versions view).
func NewListHandle(get func(ctx context.Context) ([]cache.Entry, error)) *DirHandle {
	return &DirHandle{list: listAll(get)}
}
