package vfs

import (
	"context"
	"io"
	"sync"
	"syscall"

	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// openStaged opens a handle on the staged copy of the file, staging it
// first: every open for writing, and every open while the file is staged.
func (n *File) openStaged(ctx context.Context, flags uint32) (Handle, error) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write || flags&syscall.O_TRUNC != 0 {
		if e := n.fsys.writable("open for writing", capWrite); e != nil {
			return nil, e
		}
	}
	b, dir, name := n.loc()
	st := n.fsys.opts.Write.Staging
	if st == nil {
		return nil, errs.ErrReadOnly
	}
	o := staging.OpenOptions{Key: stagingKey(b, childName(dir, name)), Truncate: flags&syscall.O_TRUNC != 0, Write: write}
	// The staged file first: the view's version is older than its
	// content (see staging.Manager.OpenStaged).
	sf, err := st.OpenStaged(ctx, o)
	if err == nil && sf == nil {
		if e := n.current(); e.FileID != "" {
			o.Base = &staging.Base{FileID: e.FileID, Size: e.Size, Mtime: e.ModTime, ContentType: e.ContentType, Info: e.Info()}
		}
		sf, err = st.Open(ctx, o)
	}
	if err != nil {
		return nil, n.fsys.opErr("open "+fmtPath(b, childName(dir, name)), err)
	}
	// An O_TRUNC open is a data change: a pending metadata change goes
	// with its upload (see foldMeta).
	if err := n.fsys.foldMeta(context.WithoutCancel(ctx), n, sf); err != nil {
		if write {
			st.ReleaseWrite(sf)
		} else {
			st.Release(sf)
		}
		return nil, n.fsys.opErr("open "+fmtPath(b, childName(dir, name)), err)
	}
	return &stagedHandle{fsys: n.fsys, node: n, f: sf, write: write, append: flags&syscall.O_APPEND != 0}, nil
}

// afterUpload records the version sf uploaded for node n.
func (f *FS) afterUpload(n *File, sf *staging.File) {
	b, dir, name := n.loc()
	e := stagedEntry(name, sf)
	n.noteOwnVersion(e.FileID, e.Size)
	f.supersedeMeta(n, e.FileID)
	n.update(e)
	n.mu.Lock()
	n.wrote++
	n.mu.Unlock()
	f.changed(b, dir, name, &e)
	if fx := sf.TakeMetaFixup(); fx != nil {
		// A large file streamed while being written: its final time and
		// whole-file SHA-1 go up as deferred metadata (one copy, folded
		// with any later chmod, utimes or rename of the file). The copy
		// may land at once (no --metadata-delay) and replace the version,
		// so the entry is not published again after it: the file's view
		// lays the pending change over it (File.current).
		f.deferInfo(n, e, fx)
	}
}

// stagedHandle is an open staged file.
type stagedHandle struct {
	fsys   *FS
	node   *File
	f      *staging.File
	write  bool
	append bool
	// emptyUp is the empty version of a new file this handle uploaded at
	// its last flush (see sync).
	emptyMu sync.Mutex // guards emptyUp
	emptyUp string
}

func (h *stagedHandle) Read(ctx context.Context, dest []byte, off int64) (int, error) {
	n, err := h.f.ReadAt(ctx, dest, off)
	if err != nil && err != io.EOF {
		return 0, readFailed("read "+h.f.Key().String(), err)
	}
	return n, nil
}

func (h *stagedHandle) Write(ctx context.Context, data []byte, off int64) (int, error) {
	if !h.write {
		return 0, errs.ErrBadHandle
	}
	var n int
	var err error
	if h.append {
		n, err = h.f.Append(ctx, data)
	} else {
		n, err = h.f.WriteAt(ctx, data, off)
	}
	if err != nil {
		return n, h.fsys.opErr("write "+h.f.Key().String(), err)
	}
	// The staged file has changes now: a pending metadata change goes
	// with its upload (see foldMeta).
	if err := h.fsys.foldMeta(context.WithoutCancel(ctx), h.node, h.f); err != nil {
		return n, h.fsys.opErr("write "+h.f.Key().String(), err)
	}
	return n, nil
}

// Flush uploads: the kernel ignores Release's result, so close(2) reports
// upload errors through Flush. The upload is not cancelled when the
// closing process is interrupted.
func (h *stagedHandle) Flush(ctx context.Context) error {
	if !h.write {
		return nil
	}
	if h.fsys.writeBack() {
		return h.commit(ctx)
	}
	return h.sync(ctx, "close")
}

func (h *stagedHandle) Fsync(ctx context.Context) error {
	return h.sync(ctx, "fsync")
}

func (h *stagedHandle) sync(ctx context.Context, op string) error {
	// Metadata changes not yet in B2 go up with the data, for free.
	if err := h.fsys.absorbMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.opErr(op+" "+h.f.Key().String(), err)
	}
	before, _, _, _ := h.f.Uploaded()
	// A streamed large file's final metadata is deferred (afterUpload).
	if err := h.f.FlushDeferMeta(context.WithoutCancel(ctx)); err != nil {
		return h.fsys.opErr(op+" "+h.f.Key().String(), err)
	}
	if after, _, _, _ := h.f.Uploaded(); after != before {
		h.fsys.afterUpload(h.node, h.f)
		// An empty version this mount uploaded moments ago (the first
		// close of "echo x > f", whose shell closes a duplicate of the
		// descriptor first) holds nothing worth keeping.
		h.emptyMu.Lock()
		prevEmpty := h.emptyUp
		h.emptyUp = ""
		if h.node.ownEmptyVersion(after) {
			h.emptyUp = after
		}
		h.emptyMu.Unlock()
		if before != "" && before == prevEmpty && h.node.ownEmptyVersion(before) {
			b, dir, name := h.node.loc()
			if h.fsys.deleteVersion(context.WithoutCancel(ctx), b, childName(dir, name), before, "empty, superseded") {
				h.node.forgetOwnVersion(before)
			}
		}
	}
	if op == "fsync" {
		if err := h.fsys.flushMeta(context.WithoutCancel(ctx), h.node); err != nil {
			return h.fsys.opErr(op+" "+h.f.Key().String(), err)
		}
	}
	return nil
}

func (h *stagedHandle) Release(ctx context.Context) error {
	if h.write {
		h.fsys.opts.Write.Staging.ReleaseWrite(h.f)
	} else {
		h.fsys.opts.Write.Staging.Release(h.f)
	}
	return nil
}
