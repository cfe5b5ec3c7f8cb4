package staging

import (
	"context"
	"os"
	"strconv"

	"github.com/b2fs/b2fs/fs/backend"
)

// A name removed while its upload runs (default mode). Detach does not
// wait for an upload of the file in progress: it cancels it, and a version
// the upload still makes (its last call was under way) is deleted when it
// lands (dropLanded). Until then the manifest says StateRemoved, with what
// identifies that version, so that a b2fs killed in between neither
// uploads the file again at the next start nor leaves the version visible:
// recovery deletes it (recoverRemoved).

// markRemoved rewrites the manifest of f, just detached while an upload or
// fill of it runs, as a StateRemoved record of the version that upload
// makes (its size and time, and its large file's ID). A server-side fill
// (FillOnServer) is not identified: after a crash in its last moment its
// version may stay visible.
func (f *File) markRemoved() {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	if f.discarded {
		return // the upload ended and removed the file already
	}
	f.mu.Lock()
	man := &Manifest{
		Version:    manifestVersion,
		ID:         f.id,
		BucketID:   f.key.BucketID,
		BucketName: f.key.BucketName,
		Name:       f.key.Name,
		BaseFileID: f.baseID,
		Size:       f.upSize,
		MtimeMs:    f.upMtime.UnixMilli(),
		State:      StateRemoved,
		Settled:    true,
		UpdatedMs:  f.m.opts.Now().UnixMilli(),
	}
	if f.sess != nil {
		man.LargeFileID = f.sess.id
	}
	f.mu.Unlock()
	if f.manFD == nil {
		fd, err := f.m.fs.OpenFile(f.manPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			f.m.log.Error("record the removal of a staged file being uploaded", "file", man.Name, "err", err)
			return
		}
		f.manFD = fd
		f.m.dirChanged()
	}
	if err := putManifest(f.manFD, man, false); err != nil {
		f.m.log.Error("record the removal of a staged file being uploaded", "file", man.Name, "err", err)
	}
}

// endRemoved ends an upload or fill of f that was detached while it ran:
// the version it made (landed) is deleted, and the file removed (remove:
// no handle holds it) or its manifest emptied (still open: the record of
// the removal has done its work once nothing of the upload is visible).
func (f *File) endRemoved(v backend.Object, landed, remove bool) {
	gone := !landed || f.dropLanded(v)
	if !gone {
		f.mu.Lock()
		f.leftover = v.FileID
		f.mu.Unlock()
	}
	switch {
	case remove:
		f.remove()
	case gone:
		f.dropManifest()
	}
}

// recoverRemoved handles a StateRemoved manifest of an earlier run: when
// B2's current version of the name is the one the interrupted upload made
// (not the base; the large file recorded, or the size and time recorded),
// it is deleted; then the staged copy goes. On a failed check everything
// stays for the next start.
func (m *Manager) recoverRemoved(ctx context.Context, r RecoverResult, man *Manifest, current CurrentFunc) RecoverResult {
	cur, err := current(ctx, r.Key)
	if err != nil {
		r.Outcome, r.Err = RecoveredFailed, err
		m.log.Error("cannot check B2 for the upload of a file removed by an earlier run; kept", "file", r.Key.String(), "manifest", r.Manifest, "err", err)
		return r
	}
	ours := cur != nil && cur.FileID != man.BaseFileID &&
		(cur.FileID == man.LargeFileID || cur.Size == man.Size && cur.Info[InfoMtime] == strconv.FormatInt(man.MtimeMs, 10))
	if ours {
		name := cur.Name
		if name == "" {
			name = r.Key.Name
		}
		if err := m.opts.Remote.DeleteFileVersion(ctx, name, cur.FileID); err != nil {
			r.Outcome, r.Err = RecoveredFailed, err
			m.log.Error("cannot delete the version an upload of an earlier run made after its file was removed; kept", "file", r.Key.String(), "fileId", cur.FileID, "err", err)
			return r
		}
		m.log.Info("deleted the version an upload of an earlier run made after its file was removed", "file", r.Key.String(), "fileId", cur.FileID)
	}
	m.fs.Remove(r.Data)
	m.fs.Remove(r.Manifest)
	r.Outcome = RecoveredRemoved
	return r
}
