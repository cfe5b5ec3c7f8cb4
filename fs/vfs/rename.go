package vfs

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
	"golang.org/x/sync/errgroup"
)

// RenameNoReplace is renameat2(2)'s RENAME_NOREPLACE flag.
const RenameNoReplace = 0x1

// Rename renames name to newName in dst (a *Dir; the account root
// refuses with ErrPerm). flags are renameat2(2)'s: RenameNoReplace is
// honoured, the others (RENAME_EXCHANGE, RENAME_WHITEOUT) are ErrInvalid.
func (n *Dir) Rename(ctx context.Context, name string, newParent Node, newName string, flags uint32) error {
	if d, ok := newParent.(*Dir); n.isGone() || ok && d.isGone() {
		return errs.ErrNotExist // removed or replaced
	}
	if flags&^uint32(RenameNoReplace) != 0 {
		return errs.ErrInvalid // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	dst, ok := newParent.(*Dir)
	switch {
	case ok && n.fsys.isViewName(dst, newName), n.fsys.isViewName(n, name):
		return errs.ErrReadOnly // onto or of the versions view
	case !ok:
		return errs.ErrPerm // into the account root: buckets are made with mkdir
	}
	caps := append([]string{capWrite}, n.fsys.removeCaps()...)
	if e := n.fsys.writable("rename", caps...); e != nil {
		return e
	}
	sb, sp := n.loc()
	db, dp := dst.loc()
	if e := checkNewName(dp, newName); e != nil {
		return e
	}
	sf := n.fsys.staged(sb, childName(sp, name))
	e, ok, err := n.fsys.lookup(ctx, sb, sp, name)
	if err != nil {
		return n.fsys.opErr("rename "+fmtPath(sb, childName(sp, name)), err)
	}
	if !ok && sf == nil {
		return errs.ErrNotExist
	}
	te, tok, err := n.fsys.lookup(ctx, db, dp, newName)
	if err != nil {
		return n.fsys.opErr("rename "+fmtPath(db, childName(dp, newName)), err)
	}
	tok = tok || n.fsys.staged(db, childName(dp, newName)) != nil
	if tok && flags&RenameNoReplace != 0 {
		return errs.ErrExist
	}
	if ok && e.Dir {
		if tok && !te.Dir {
			return errs.ErrNotDir
		}
		// A directory replaced keeps, for its open handles, the
		// attributes it had.
		var td *Dir
		var last Attr
		if tok {
			if td = n.fsys.loadedDir(db, childDir(dp, newName)); td != nil {
				last = td.Attr(ctx, false)
			}
		}
		if err := n.renameDir(ctx, name, dst, newName); err != nil {
			return err
		}
		if td != nil {
			n.fsys.dirGone(td, last)
		}
		return nil
	}
	if tok && te.Dir {
		return errs.ErrIsDir
	}
	if newName == EmptyMarker {
		return errs.ErrInvalid // reserved for directory markers
	}
	tn := n.fsys.loadedFile(db, dp, newName)
	if tn != nil && (!tok || tn == n.fsys.loadedFile(sb, sp, name)) {
		tn = nil // nothing replaced, or a rename onto itself
	}
	var last cache.Entry
	var lastSF *staging.File
	if tn != nil {
		last, lastSF = tn.lastEntry(), tn.stagedFile() // what its open handles show once it is gone
		n.fsys.dropMeta(ctx, tn, lastSF)               // the file is being replaced
		tn.setReplacing(true, lastSF)                  // until setGone: its name shows the source
	}
	pending, err := n.renamePending(ctx, name, e, sf, dst, newName, te, tok)
	if !pending {
		if err = n.fsys.settleTarget(ctx, db, childName(dp, newName)); err == nil {
			err = n.renameFile(ctx, name, e, sf, dst, newName, tok)
		}
	}
	if err != nil {
		if tn != nil {
			tn.setReplacing(false, nil)
		}
		return err
	}
	if tn != nil {
		tn.setGone(last, lastSF)
	}
	return nil
}

// renameFile copies the file on the server, then removes the source. A
// file being written is uploaded first.
func (n *Dir) renameFile(ctx context.Context, name string, e cache.Entry, sf *staging.File, dst *Dir, newName string, replaces bool) error {
	tok := replaces
	sb, sp := n.loc()
	db, dp := dst.loc()
	src := Object{Name: childName(sp, name), FileID: e.FileID, Size: e.Size}
	if sf != nil {
		before, _, _, _ := sf.Uploaded()
		if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
			return n.fsys.opErr("rename: upload "+fmtPath(sb, childName(sp, name)), err)
		}
		id, size, _, _ := sf.Uploaded()
		if id != before {
			n.fsys.log.Debug("uploaded before rename", "file", fmtPath(sb, childName(sp, name)))
		}
		src.FileID, src.Size = id, size
	}
	if src.FileID == "" {
		return errs.ErrNotExist
	}
	// Metadata changes not yet in B2 ride on the rename's copy.
	fn := n.fsys.loadedFile(sb, sp, name)
	var pm *pendingMeta
	var meta *CopyMeta
	if fn != nil {
		p, err := n.fsys.claimMeta(ctx, fn)
		if err != nil {
			return n.fsys.opErr("rename "+fmtPath(sb, src.Name), err)
		}
		// A metadata copy that was in flight made a new version and drops
		// the one taken above: the rename copies the version current now.
		if sf != nil {
			if id, size, _, _ := sf.Uploaded(); id != "" {
				src.FileID, src.Size = id, size
			}
		} else if ce := fn.current(); ce.FileID != "" {
			src.FileID, src.Size = ce.FileID, ce.Size
		}
		if p != nil && p.base != src.FileID {
			n.fsys.releaseMeta(fn, p, "", nil) // superseded by a newer version
		} else if p != nil {
			pm, meta = p, &CopyMeta{ContentType: p.ct, Info: p.info}
		}
	}
	var before map[string]string // the staged file's info the copy starts from
	if sf != nil {
		before = sf.Info()
	}
	// Write-back: recorded first, so that a power cut between the copy
	// and the removal of the source is finished at the next start.
	rec := staging.RenameIntent{BucketID: sb.ID, BucketName: sb.Name, From: src.Name, SrcFileID: src.FileID,
		To: childName(dp, newName), Hard: n.fsys.opts.Write.HardDelete}
	if sb.ID != db.ID {
		rec = staging.RenameIntent{} // across buckets: not recorded
	} else if meta != nil {
		rec.ContentType, rec.Info = meta.ContentType, meta.Info
	}
	intent, err := n.fsys.beginRename(rec)
	if err != nil {
		if pm != nil {
			n.fsys.releaseMeta(fn, pm, "", err)
		}
		return n.fsys.opErr("rename "+fmtPath(sb, src.Name), err)
	}
	done := false
	defer func() { intent.End(done) }()
	obj, err := n.fsys.copyRecorded(ctx, src, db, childName(dp, newName), meta)
	if pm != nil {
		n.fsys.releaseMeta(fn, pm, obj.FileID, err)
	}
	if err != nil {
		return n.fsys.opErr("rename "+fmtPath(sb, src.Name), err)
	}
	if meta != nil && obj.Info == nil {
		obj.Info = meta.Info
	}
	n.fsys.keptRekey(src.FileID, obj.FileID)
	if sf != nil && obj.Info != nil {
		// The staged file reads what it has only in B2 from the copy (the
		// source goes next), and takes the metadata the copy carried.
		sf.RebaseCopy(backend.Object{FileID: obj.FileID, Info: obj.Info}, src.FileID, before)
	}
	// The source's only version, made by this mount (a temporary file of
	// rsync or an editor), lives on in the copy: delete it rather than
	// leave it stored behind a hide marker.
	// A version a handle still reads is hidden now and deleted after its
	// last reader (pins.go).
	own := fn != nil && fn.onlyOwnVersion(src.FileID)
	read := own && n.fsys.versionRead(src.FileID)
	if own && !read && n.fsys.deleteVersion(ctx, sb, src.Name, src.FileID, "renamed") {
		n.fsys.log.Debug("rename: deleted the source's only version", "file", fmtPath(sb, src.Name))
	} else if err := n.fsys.remove(ctx, sb, src.Name); err != nil {
		return n.fsys.opErr("rename: remove source "+fmtPath(sb, src.Name), err)
	} else if read {
		n.fsys.deleteVersion(ctx, sb, src.Name, src.FileID, "renamed")
	}
	done = true
	n.fsys.opts.Write.Staging.Rename(stagingKey(sb, src.Name), stagingKey(db, childName(dp, newName)), &backend.Object{FileID: obj.FileID})
	if sf != nil && pm != nil {
		// The pending change rode on the copy: the file's open staged
		// copy takes it too, or its handles and its name show the
		// metadata from before.
		sf.Rebase(backend.Object{FileID: obj.FileID, Info: obj.Info})
	}
	ne := entryFromObject(newName, obj)
	if fn != nil {
		n.fsys.moved(fn, sb, sp, name, db, dp, newName)
		fn.setCreated(!tok, obj.FileID)
		fn.update(ne)
		ne = fn.overlay(ne)
	} else {
		n.fsys.removed(db, dp, newName) // replaced
	}
	n.fsys.changed(sb, sp, name, nil)
	n.fsys.changed(db, dp, newName, &ne)
	n.fsys.entriesChanged(sb, sp)
	n.fsys.entriesChanged(db, dp)
	return nil
}

// renameDir moves every file under the directory: server-side copies, then
// removal of the sources, with bounded concurrency. Directories with more
// than MaxRenameFiles files fail with EXDEV (mv then copies file by file).
func (n *Dir) renameDir(ctx context.Context, name string, dst *Dir, newName string) error {
	w := &n.fsys.opts.Write
	sb, sp := n.loc()
	db, dp := dst.loc()
	from, to := childDir(sp, name), childDir(dp, newName)
	if sb.ID == db.ID && strings.HasPrefix(to, from) {
		return errs.ErrInvalid
	}
	// The target, if it exists, must be an empty directory.
	p, err := n.fsys.opts.Backend.ListDir(ctx, db, to, "", 2)
	if err != nil {
		return n.fsys.opErr("rename "+fmtPath(db, to), err)
	}
	for _, o := range p.Objects {
		if o.Name != to+EmptyMarker {
			return errs.ErrNotEmpty
		}
	}
	if p.Next != "" || n.fsys.hasPendingEntries(db, to) {
		return errs.ErrNotEmpty
	}
	// Files being written inside go up first, and metadata changes not
	// yet in B2 with them (the copies keep each file's info).
	if err := n.fsys.flushMetaWhere(ctx, func(b Bucket, dir string) bool {
		return b.ID == sb.ID && strings.HasPrefix(dir, from)
	}); err != nil {
		return n.fsys.opErr("rename "+fmtPath(sb, from), err)
	}
	// The target's pending marker goes with the target; pending markers
	// under the source move as the files do.
	w.Staging.Detach(stagingKey(db, to+EmptyMarker))
	// In write-back mode no background upload of a file inside may land
	// while the directory moves (under its old name, after the listing of
	// what is copied): each staged file is held until it has its new name.
	held := map[*staging.File]func(){}
	defer func() {
		for _, release := range held {
			release()
		}
	}()
	if n.fsys.writeBack() {
		for _, sf := range w.Staging.Under(sb.ID, from, false) {
			held[sf] = sf.Hold()
		}
	}
	for _, sf := range w.Staging.Under(sb.ID, from, false) {
		if n.fsys.writeBack() && sf.Coalescible() {
			continue // moves with the directory, below
		}
		if err := sf.Flush(context.WithoutCancel(ctx)); err != nil {
			return n.fsys.opErr("rename: upload "+sf.Key().String(), err)
		}
	}
	objs, err := w.Backend.ListAll(ctx, sb, from, w.MaxRenameFiles)
	if err != nil {
		return n.fsys.opErr("rename "+fmtPath(sb, from), err)
	}
	if len(objs) > w.MaxRenameFiles {
		n.fsys.log.Error("directory too big to rename on the server; raise --max-rename-files", "dir", fmtPath(sb, from), "limit", w.MaxRenameFiles)
		return errs.ErrCrossDevice
	}
	big := len(objs) >= 1000
	if big {
		n.fsys.log.Info("renaming directory", "from", fmtPath(sb, from), "to", fmtPath(db, to), "files", len(objs))
	}
	copies := make([]Object, len(objs))
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.RenameConcurrency)
	for i, o := range objs {
		g.Go(func() error {
			c, err := n.fsys.copyRecorded(gctx, o, db, to+o.Name[len(from):], nil)
			if err != nil {
				return err
			}
			copies[i] = c
			if d := done.Add(1); big && d%1000 == 0 {
				n.fsys.log.Info("renaming directory: copied", "from", fmtPath(sb, from), "done", d, "of", len(objs))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		n.fsys.log.Error("directory rename failed while copying; the source is unchanged", "from", fmtPath(sb, from), "copied", done.Load(), "of", len(objs))
		return n.fsys.opErr("rename "+fmtPath(sb, from), err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(w.RenameConcurrency)
	for _, o := range objs {
		g.Go(func() error { return n.fsys.remove(gctx, sb, o.Name) })
	}
	if err := g.Wait(); err != nil {
		n.fsys.log.Error("directory rename: copied, but removing the source failed", "from", fmtPath(sb, from), "err", err)
		return n.fsys.opErr("rename "+fmtPath(sb, from), err)
	}
	if big {
		n.fsys.log.Info("renamed directory", "from", fmtPath(sb, from), "to", fmtPath(db, to), "files", len(objs))
	}
	// Open files follow their names.
	byName := make(map[string]Object, len(objs))
	for i, o := range objs {
		byName[o.Name] = copies[i]
	}
	for _, sf := range w.Staging.Under(sb.ID, from, false) {
		old := sf.Key().Name
		var v *backend.Object
		if c, ok := byName[old]; ok {
			v = &backend.Object{FileID: c.FileID}
		}
		if held[sf] != nil {
			w.Staging.RenameHeld(stagingKey(sb, old), stagingKey(db, to+old[len(from):]), v, sf)
		} else {
			w.Staging.Rename(stagingKey(sb, old), stagingKey(db, to+old[len(from):]), v)
		}
	}
	// Loaded nodes below the directory get their new names.
	n.fsys.relocate(sb, from, db, to)
	// Cached listings of both trees are stale.
	dirs := map[string]bool{from: true}
	for _, o := range objs {
		for i := len(from); i < len(o.Name); i++ {
			if o.Name[i] == '/' {
				dirs[o.Name[:i+1]] = true
			}
		}
	}
	for d := range dirs {
		n.fsys.invalidateDir(sb, d)
		n.fsys.invalidateDir(db, to+d[len(from):])
		n.fsys.forgetMarker(sb, d)
		n.fsys.forgetMarker(db, to+d[len(from):])
	}
	n.fsys.markersMoved(db, from, to, objs, copies, dirs)
	n.fsys.changed(sb, sp, name, nil)
	ne := cache.Entry{Name: newName, Dir: true}
	n.fsys.changed(db, dp, newName, &ne)
	n.fsys.entriesChanged(sb, sp)
	n.fsys.entriesChanged(db, dp)
	n.fsys.dirRenamed(sb, from, db, to)
	return nil
}
