package staging

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
)

// Uploads: Flush and Sync, and the server-side fill of an empty file.

// Sync is Flush: when it returns nil the content is in B2.
func (f *File) Sync(ctx context.Context) error { return f.Flush(ctx) }

// Flush uploads the file if it has changes that are not in B2. When it
// returns nil the content is in B2. On failure the staged data stays and
// the manifest says "failed"; a later Flush retries.
func (f *File) Flush(ctx context.Context) error {
	return f.flush(ctx, false)
}

// FlushDeferMeta is Flush, except that a large file streamed while being
// written does not get its final metadata (exact time, whole-file SHA-1)
// here: Flush returns once its data is in B2, and TakeMetaFixup hands the
// info the version should get to the caller, which applies it later with
// one metadata-replacing copy.
func (f *File) FlushDeferMeta(ctx context.Context) error {
	return f.flush(ctx, true)
}

func (f *File) flush(ctx context.Context, deferMeta bool) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	if f.detached || !f.dirty {
		f.mu.Unlock()
		return nil
	}
	f.gate = make(chan struct{})
	f.state = StateUploading
	key, startGen := f.key, f.gen
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.upCancel = cancel
	f.mu.Unlock()
	f.saveManifest()

	start := f.m.opts.Now()
	f.mu.Lock()
	f.fixup, f.deferMeta = nil, deferMeta
	f.mu.Unlock()
	v, err := f.upload(uctx, ctx)

	f.mu.Lock()
	f.upCancel = nil
	f.landed = ""
	if f.detached {
		// Unlinked or replaced while uploading: nothing of this upload
		// may stay visible.
		close(f.gate)
		f.gate = nil
		f.state = StateClean
		remove := f.removeAfter
		f.mu.Unlock()
		f.endRemoved(v, err == nil, remove)
		f.m.log.Debug("upload of a removed file ended", "file", key.String(), "err", err)
		return nil
	}
	if err == nil {
		mtimeInfo := v.Info[InfoMtime]
		if f.fixup != nil {
			mtimeInfo = f.fixup[InfoMtime] // the time the version will get
		}
		f.dirty = false
		f.upGen = startGen
		f.uploads++
		f.state = StateClean
		f.lastErr = ""
		f.baseID = v.FileID
		f.baseSize = v.Size
		f.baseGen++
		f.contentType = v.ContentType
		f.baseLargeSHA = v.Info[InfoLargeFileSHA]
		f.remoteEnd = f.size
		f.mtimeSet = false
		f.reserveLocked(f.heldLocked()-f.reserved, true)
		if ms, err := strconv.ParseInt(mtimeInfo, 10, 64); err == nil {
			f.mtime = time.UnixMilli(ms)
		}
		f.partGen = map[int64]uint64{}
		f.pending = map[int64]bool{}
	} else {
		f.state = StateFailed
		f.lastErr = err.Error()
	}
	close(f.gate)
	f.gate = nil
	size := f.size
	f.mu.Unlock()
	f.m.noteUpload(key, size, err)
	if err == nil && f.m.opts.WriteBack {
		// Recorded durably, so that a crash does not upload it again.
		if merr := f.writeManifest(true, true); merr != nil {
			f.m.log.Warn("record an upload in the staging manifest", "err", merr)
		}
	} else {
		f.saveManifest()
	}
	if err != nil {
		f.m.log.Error("upload failed; staged data kept", "file", key.String(), "size", size, "staged", f.dataPath, "err", err)
		return fmt.Errorf("upload %s: %w", key, err)
	}
	f.endLargeRec() // the upload finished its large file
	f.m.log.Debug("uploaded", "file", key.String(), "size", v.Size, "fileId", v.FileID, "took", f.m.opts.Now().Sub(start))
	if cb := f.m.opts.OnUpload; cb != nil {
		cb(key, v)
	}
	return nil
}

// dropLanded deletes version v, which an upload or copy made for this file
// after it was detached (unlinked or replaced): the name must not show it.
func (f *File) dropLanded(v backend.Object) bool {
	ctx, cancel := context.WithTimeout(f.m.ctx, time.Minute)
	defer cancel()
	name := v.Name
	if name == "" {
		name = f.Key().Name
	}
	if err := f.m.opts.Remote.DeleteFileVersion(ctx, name, v.FileID); err != nil {
		f.m.log.Error("a version uploaded for a removed file could not be deleted; it stays visible", "file", name, "fileId", v.FileID, "err", err)
		return false
	}
	f.m.log.Debug("deleted the version an upload made after its file was removed", "file", name, "fileId", v.FileID)
	return true
}

var errChanged = errors.New("content changed during upload")

// FillOnServer gives an empty file (new, or truncated to zero, nothing
// written) its content without sending any: copy makes the version on the
// server (a server-side copy into this file's name) and the staged file
// becomes a clean, sparse placeholder of it. It holds flushMu across copy,
// so no upload of this file can land on top of or under the copy. It
// returns false, doing nothing, when the file is not empty. A write that
// races with the copy leaves the file dirty: the next Flush replaces the
// copy with the written content.
func (f *File) FillOnServer(ctx context.Context, copy func(context.Context) (backend.Object, error)) (bool, error) {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	empty := f.size == 0 && f.remoteEnd == 0 && !f.detached
	if empty {
		f.upCancel = func() {} // Detach must not remove the file under the copy
		// What the copy makes is not known here: the empty file's size
		// and time, which its version never has (see markRemoved).
		f.upSize, f.upMtime = 0, f.mtime
	}
	// The copy carries the metadata of now: a chmod, xattr or utimes that
	// comes while it runs is not in it.
	info0, mtime0 := copyInfo(f.info), f.mtime
	f.mu.Unlock()
	if !empty {
		return false, nil
	}
	v, err := copy(ctx)
	f.mu.Lock()
	f.upCancel = nil
	f.landed = ""
	if f.detached {
		remove := f.removeAfter
		f.mu.Unlock()
		f.endRemoved(v, err == nil, remove)
		return false, err
	}
	f.mu.Unlock()
	if err != nil {
		return false, err
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return false, err
	}
	if f.size != 0 || f.remoteEnd != 0 || f.detached {
		f.dirty = true
		f.mu.Unlock()
		return true, nil
	}
	if err := f.data.Truncate(v.Size); err != nil {
		f.dirty = true
		f.mu.Unlock()
		return false, fmt.Errorf("size staging file %s: %w", f.dataPath, err)
	}
	f.size, f.remoteEnd = v.Size, v.Size
	f.baseID, f.baseSize = v.FileID, v.Size
	f.baseGen++
	f.contentType = v.ContentType
	f.baseLargeSHA = v.Info[InfoLargeFileSHA]
	// Metadata changed during the copy stays, and the file stays dirty:
	// the next Flush uploads it with that metadata (its bytes come from the
	// copy).
	metaChanged := !maps.Equal(f.info, info0) || !f.mtime.Equal(mtime0)
	if !metaChanged {
		if ms, err := strconv.ParseInt(v.Info[InfoMtime], 10, 64); err == nil {
			f.mtime = time.UnixMilli(ms)
		}
		if v.Info != nil {
			f.info = extraInfo(v.Info)
		}
	}
	f.local = rangeSet{}
	f.hash = nil
	f.partGen = map[int64]uint64{}
	f.pending = map[int64]bool{}
	f.dirty, f.state, f.mtimeSet = metaChanged, StateClean, f.mtimeSet && metaChanged
	if metaChanged {
		f.state = StateDirty
	}
	f.mu.Unlock()
	f.saveManifest()
	return true, nil
}
