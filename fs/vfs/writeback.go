package vfs

import (
	"context"
	"strings"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// Write-back (staging.Options.WriteBack): close returns once the file is
// durable in the staging directory; the staging Manager uploads it later,
// in the background. Here:
//   - close commits instead of uploading (stagedHandle.Flush);
//   - fsync of a file or directory waits for the uploads of what is
//     pending under it;
//   - a rename of a pending file this mount created and never uploaded
//     only re-keys it locally (renamePending); an unlink of one only
//     drops it (Unlink: staging.Detach, and no B2 call since the name
//     has no version in B2);
//   - the uploads the Manager makes are shown (backgroundUploaded).

// writeBack reports whether the filesystem runs in write-back mode.
func (f *FS) writeBack() bool {
	st := f.opts.Write.Staging
	return st != nil && st.WriteBack()
}

// Sync returns when every change pending at the time of the call is in
// B2: the files waiting for upload (write-back) and the deferred metadata
// changes of closed files.
func (f *FS) Sync(ctx context.Context) error {
	f.settlePendingMarkers(ctx, nil)
	if st := f.opts.Write.Staging; st != nil {
		if err := st.Sync(ctx); err != nil {
			return err
		}
	}
	return f.FlushMetadata(ctx)
}

// backgroundUploaded shows the version the Manager uploaded for k.
func (f *FS) backgroundUploaded(k staging.Key, sf *staging.File) {
	b := Bucket{ID: k.BucketID, Name: k.BucketName}
	f.showDirs(b, k.Name)
	if d, ok := markerDir(k.Name); ok {
		f.markerUploaded(b, d, sf)
		return
	}
	i := strings.LastIndexByte(k.Name, '/')
	dir, seg := k.Name[:i+1], k.Name[i+1:]
	name, ok := localName(seg)
	if !ok || f.opts.Write.Staging.Lookup(k) != sf {
		return // renamed or removed since (which waited for this)
	}
	if n := f.loadedFile(b, dir, name); n != nil && n.stagedFile() == sf {
		f.afterUpload(n, sf)
		return
	}
	e := stagedEntry(name, sf)
	f.changed(b, dir, name, &e)
}

// commit is close in write-back mode: pending metadata rides with the
// data, which is made durable locally; the upload follows later.
func (h *stagedHandle) commit(ctx context.Context) error {
	if err := h.fsys.absorbMeta(context.WithoutCancel(ctx), h.node); err != nil {
		return h.fsys.opErr("close "+h.f.Key().String(), err)
	}
	return h.fsys.opErr("close "+h.f.Key().String(), h.f.Commit(context.WithoutCancel(ctx)))
}

// syncPending waits, in write-back mode, for the uploads of the pending
// files of b whose names start with prefix.
func (f *FS) syncPending(ctx context.Context, b Bucket, prefix string) error {
	if !f.writeBack() {
		return nil
	}
	f.settlePendingMarkers(ctx, func(db Bucket, dir string) bool { return db.ID == b.ID && strings.HasPrefix(dir, prefix) })
	return f.opts.Write.Staging.SyncUnder(ctx, b.ID, prefix)
}

// renamePending renames a pending file that was never uploaded (sf) with
// no B2 call other than, when the source name has a version in B2 (the
// file was opened with O_TRUNC over it), hiding that version. The file
// becomes a pending new version of the target. It returns false when the
// file does not qualify (the caller renames in B2).
func (n *Dir) renamePending(ctx context.Context, name string, e cache.Entry, sf *staging.File, dst *Dir, newName string, te cache.Entry, replaces bool) (bool, error) {
	if !n.fsys.writeBack() || sf == nil || !sf.Coalescible() {
		return false, nil
	}
	sb, sp := n.loc()
	db, dp := dst.loc()
	fn := n.fsys.loadedFile(sb, sp, name)
	if fn != nil {
		fn.mu.Lock()
		pend := fn.pend != nil
		fn.mu.Unlock()
		if pend {
			return false, nil
		}
	}
	src := childName(sp, name)
	if e.FileID != "" {
		// The source name's version in B2 goes, as with any rename.
		if err := n.fsys.remove(ctx, sb, src); err != nil {
			return true, n.fsys.opErr("rename: remove source "+fmtPath(sb, src), err)
		}
	}
	base := ""
	if replaces {
		base = te.FileID
	}
	ok, err := n.fsys.opts.Write.Staging.Rekey(context.WithoutCancel(ctx), stagingKey(sb, src), stagingKey(db, childName(dp, newName)), base)
	if !ok {
		return false, nil
	}
	if err != nil {
		return true, n.fsys.opErr("rename "+fmtPath(sb, src), err)
	}
	ne := stagedEntry(newName, sf)
	if fn != nil {
		n.fsys.moved(fn, sb, sp, name, db, dp, newName)
		fn.setCreated(!replaces)
		fn.update(ne)
	} else {
		n.fsys.removed(db, dp, newName) // replaced
	}
	n.fsys.changed(sb, sp, name, nil)
	n.fsys.changed(db, dp, newName, &ne)
	n.fsys.entriesChanged(sb, sp)
	n.fsys.entriesChanged(db, dp)
	return true, nil
}

// unlinkPending is unlink in write-back mode. The name's version in B2,
// if any, is removed first, and only then is the pending file dropped, so
// that a crash in between leaves the name as it was before (the pending
// file is uploaded at the next start), never its older B2 version. u.sf
// was taken before the lookup (see unlinkDone).
func (n *Dir) unlinkPending(ctx context.Context, name string, u unlinking) error {
	b, prefix := n.loc()
	full := childName(prefix, name)
	e, ok, err := n.fsys.lookup(ctx, b, prefix, name)
	if err != nil {
		return n.fsys.opErr("unlink "+fmtPath(b, full), err)
	}
	if ok && e.Dir {
		return errs.ErrIsDir
	}
	if !ok && u.sf == nil {
		return errs.ErrNotExist
	}
	if ok && e.FileID != "" {
		if err := n.removeShown(ctx, full, e.FileID, u); err != nil {
			return err
		}
		u.removed = e.FileID
	}
	u.had, u.base = n.fsys.opts.Write.Staging.DetachVersion(stagingKey(b, full))
	return n.unlinkDone(ctx, name, u)
}

// settleTarget uploads, in write-back mode, the pending file at a name a
// rename in B2 is about to replace: were it only dropped after the
// server-side copy, a crash in between would upload it at the next start
// over the renamed file; were it dropped before, a failed copy would lose
// it.
func (f *FS) settleTarget(ctx context.Context, b Bucket, name string) error {
	if !f.writeBack() {
		return nil
	}
	if sf := f.staged(b, name); sf != nil && sf.Dirty() {
		if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
			return f.opErr("rename: upload the file it replaces, "+fmtPath(b, name), err)
		}
	}
	return nil
}

// beginRename records, in write-back mode, a rename about to be done in
// B2 (staging.BeginRename); nil when not recorded.
func (f *FS) beginRename(r staging.RenameIntent) (*staging.Intent, error) {
	if !f.writeBack() || r.From == "" {
		return nil, nil
	}
	return f.opts.Write.Staging.BeginRename(r)
}
