package staging

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
)

// Layout of the staging directory (Options.Dir):
//
//	<Dir>/<instance>/.lock        flock(2)ed by the running Manager
//	<Dir>/<instance>/<id>.data    staged content (sparse)
//	<Dir>/<instance>/<id>.json    its manifest
//
// Every Manager works in an instance directory of its own, so several
// mounts can share a cache directory. An instance directory whose lock is
// free belongs to a b2fs that is gone (stopped with uploads failing, or
// crashed); Recover looks at its staged files.

const lockName = ".lock"

// newInstanceDir creates and locks a fresh instance directory in base;
// with durable, its entry is fsynced.
func newInstanceDir(fsys FileSystem, base string, durable bool) (string, *os.File, error) {
	var rb [6]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return "", nil, fmt.Errorf("staging: random id: %w", err)
	}
	dir := filepath.Join(base, time.Now().UTC().Format("20060102T150405")+"-"+hex.EncodeToString(rb[:]))
	if err := fsys.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("staging: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		fsys.Remove(dir)
		return "", nil, err
	}
	if durable {
		if err := fsys.SyncDir(base); err != nil {
			lock.Close()
			return "", nil, fmt.Errorf("staging: %w", err)
		}
	}
	return dir, lock, nil
}

// lockDir takes the instance lock of dir without waiting; it fails while
// another Manager holds it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("staging: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("staging: lock %s: %w", dir, err)
	}
	return f, nil
}

// Outcome says what Recover did with one staged file left by an earlier run.
type Outcome string

// Outcomes of Recover.
const (
	// RecoveredPending: B2 still has the version the file was staged
	// from; the file is pending in the Manager again and the next Drain,
	// Flush or Close uploads it.
	RecoveredPending Outcome = "pending"
	// RecoveredAlreadyInB2: B2's current version already has the staged
	// content (the earlier run stopped after the upload, before recording
	// it); the staged copy was removed.
	RecoveredAlreadyInB2 Outcome = "already-in-b2"
	// RecoveredConflict: the name changed in B2 since the file was staged
	// (another writer, or it was deleted). The staged copy is kept, not
	// uploaded, so a newer version is never overwritten silently.
	RecoveredConflict Outcome = "conflict"
	// RecoveredStale: the earlier run stopped while the file was being
	// written, and part of it was still only in B2: which staged bytes are
	// new cannot be told from the manifest. The staged copy is kept, not
	// uploaded.
	RecoveredStale Outcome = "stale"
	// RecoveredFailed: the check failed (B2 unreachable, unreadable
	// manifest, missing data); the staged copy is kept on disk for the next
	// start.
	RecoveredFailed Outcome = "failed"
	// RecoveredClean: a manifest of content already in B2 (left by a
	// crash); removed.
	RecoveredClean Outcome = "clean"
	// RecoveredRemoved: the file's name was removed while it uploaded
	// (StateRemoved); the version that upload made, if B2 shows it, was
	// deleted, and the staged copy removed.
	RecoveredRemoved Outcome = "removed"
)

// CurrentFunc returns B2's current (newest visible) version of key's name,
// or nil when the name has no visible version.
type CurrentFunc func(ctx context.Context, key Key) (*backend.Object, error)

// RecoverResult reports what happened to one staged file.
type RecoverResult struct {
	Key      Key
	Manifest string // path of the manifest
	Data     string // path of the staged data
	Size     int64
	Outcome  Outcome
	// Remote is B2's current version when it differs from the base
	// (conflicts).
	Remote *backend.Object
	Err    error
}

// Recover finds the staged files that earlier runs left behind (a crash,
// or a stop that could not upload everything): those in instance
// directories no running Manager holds, and in the top of the staging
// directory (older layout). For each, one at a time, bounded by ctx:
//
//   - when B2's current version of the name is still the version the file
//     was staged from (or, for a new file, the name is still free), the
//     file moves into this Manager and becomes pending again (visible to
//     the filesystem as a staged file); Drain uploads it;
//   - when B2's current version already holds the staged content (same
//     size and SHA-1), the staged copy is removed;
//   - when the name changed in B2, or the staged content cannot be
//     reconstructed (see RecoveredStale), the staged copy is kept where it
//     is and reported, never uploaded.
//
// An unfinished large file recorded in a manifest is cancelled first.
// Recover costs one b2_list_file_names call per staged file; it must run
// before the filesystem serves requests.
func (m *Manager) Recover(ctx context.Context, current CurrentFunc) ([]RecoverResult, error) {
	ents, err := m.fs.ReadDir(m.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	dirs := []string{m.opts.Dir}
	var locks []*os.File
	defer func() {
		for _, l := range locks {
			// A dead instance directory that is now empty goes.
			d := filepath.Dir(l.Name())
			if ents, err := m.fs.ReadDir(d); err == nil && len(ents) == 1 && ents[0].Name() == lockName {
				m.fs.Remove(l.Name())
				m.fs.Remove(d)
			}
			l.Close()
		}
	}()
	for _, e := range ents {
		dir := filepath.Join(m.opts.Dir, e.Name())
		if !e.IsDir() || dir == m.dir {
			continue
		}
		lock, err := lockDir(dir)
		if err != nil {
			continue // a live instance
		}
		// A dead instance's read cache holds nothing to upload.
		os.RemoveAll(filepath.Join(dir, keptDirName))
		locks = append(locks, lock)
		dirs = append(dirs, dir)
	}
	m.prepareJournal(ctx, dirs, current)
	var out []RecoverResult
	for _, dir := range dirs {
		paths, err := globJSON(m.fs, dir)
		if err != nil {
			return out, fmt.Errorf("recover: %w", err)
		}
		sort.Strings(paths)
		for _, p := range paths {
			if st, err := m.fs.Stat(p); err == nil && st.Size() == 0 {
				// An unused pair from a pool of reusable files.
				m.fs.Remove(p)
				m.fs.Remove(strings.TrimSuffix(p, ".json") + ".data")
				continue
			}
			man, err := readManifest(m.fs, p)
			if err != nil || man.ID == "" {
				if err == nil {
					err = errors.New("manifest without an id")
				}
				m.log.Error("unreadable staging manifest; left in place", "manifest", p, "err", err)
				out = append(out, RecoverResult{Manifest: p, Outcome: RecoveredFailed, Err: err})
				continue
			}
			if m.registered(man.ID) || man.isRecord() {
				continue // a rename record left for the next start
			}
			out = append(out, m.recoverOne(ctx, dir, p, man, current))
			if ctx.Err() != nil {
				return out, nil
			}
		}
	}
	return out, nil
}

// registered reports whether a live File uses the staging id.
func (m *Manager) registered(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.files {
		if f.id == id {
			return true
		}
	}
	return false
}

func (m *Manager) recoverOne(ctx context.Context, dir, manPath string, man *Manifest, current CurrentFunc) RecoverResult {
	key := Key{BucketID: man.BucketID, BucketName: man.BucketName, Name: man.Name}
	dataPath := filepath.Join(dir, man.ID+".data")
	r := RecoverResult{Key: key, Manifest: manPath, Data: dataPath, Size: man.Size}
	resumable := m.opts.WriteBack && man.LargeFileID != "" && man.State != StateClean
	if _, ok := m.opts.Remote.(PartLister); !ok {
		resumable = false
	}
	resumed := false
	if resumable {
		// Kept only if the file is adopted and its parts listed.
		defer func() {
			if !resumed {
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				m.opts.Remote.CancelLargeFile(cctx, man.LargeFileID)
			}
		}()
	}
	if man.LargeFileID != "" && !resumable {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := m.opts.Remote.CancelLargeFile(cctx, man.LargeFileID); err != nil {
			m.log.Debug("cancel unfinished large file of an earlier run", "file", key.String(), "fileId", man.LargeFileID, "err", err)
		}
		cancel()
	}
	m.cancelStrays(ctx, man)
	if man.State == StateRemoved {
		return m.recoverRemoved(ctx, r, man, current)
	}
	// Clean: the content is in B2. Unsettled, it was being changed
	// again, but in write-back mode a change is acknowledged only with a
	// durable dirty manifest: the data file may hold unfinished changes
	// (or, after a power cut, bytes older than B2's).
	if man.State == StateClean && (man.Settled || m.opts.WriteBack) {
		m.fs.Remove(dataPath)
		m.fs.Remove(manPath)
		r.Outcome = RecoveredClean
		return r
	}
	if err := restoreInline(m.fs, man, dataPath); err != nil {
		r.Outcome, r.Err = RecoveredFailed, err
		m.log.Error("cannot restore the content of a staged file of an earlier run; manifest left in place", "file", key.String(), "manifest", manPath, "err", err)
		return r
	}
	st, err := m.fs.Stat(dataPath)
	if err != nil {
		r.Outcome, r.Err = RecoveredFailed, fmt.Errorf("staged data missing: %w", err)
		m.log.Error("staged data of an earlier run is missing; manifest left in place", "file", key.String(), "manifest", manPath, "err", err)
		return r
	}
	// Which bytes are the content? When every byte is local the data file
	// is the content, whatever the manifest last recorded. Otherwise only a
	// settled manifest (no write since it was saved) says which ranges are
	// new and which are still only in B2.
	allLocal := man.BaseFileID == "" || man.RemoteEnd == 0 || localSet(man).covers(0, man.RemoteEnd)
	switch {
	case allLocal && !man.Settled:
		man.Size, man.RemoteEnd, man.Local = st.Size(), 0, []span{{0, st.Size()}}
	case allLocal:
		man.RemoteEnd, man.Local = 0, []span{{0, man.Size}}
	case !man.Settled:
		r.Outcome = RecoveredStale
		m.log.Error("staged changes of an earlier run cannot be reconstructed (the file was being written and part of it is only in B2); the staged copy is kept, not uploaded",
			"file", key.String(), "staged", dataPath, "manifest", manPath)
		return r
	}
	r.Size = man.Size
	if man.State == StateClean {
		// Settled and clean, but the data file grew: new writes.
		man.State = StateDirty
	}
	cur, err := current(ctx, key)
	if err != nil {
		r.Outcome, r.Err = RecoveredFailed, fmt.Errorf("look up current version: %w", err)
		m.log.Error("cannot check B2 for a staged file of an earlier run; kept", "file", key.String(), "staged", dataPath, "err", err)
		return r
	}
	unchanged := (cur == nil && man.BaseFileID == "") || (cur != nil && cur.FileID == man.BaseFileID)
	if !unchanged {
		if cur != nil && (cur.FileID == man.Landed || sameContent(m.fs, man, dataPath, cur)) {
			m.fs.Remove(dataPath)
			m.fs.Remove(manPath)
			r.Outcome = RecoveredAlreadyInB2
			m.log.Info("staged file of an earlier run is already in B2", "file", key.String(), "fileId", cur.FileID)
			return r
		}
		remote := "deleted"
		if cur != nil {
			remote = cur.FileID
		}
		if m.opts.WriteBack {
			// Uploaded anyway: B2 keeps the other version too.
			if f, ok, err := m.adopt(ctx, man, dataPath, manPath, resumable); err == nil {
				resumed = ok
				m.wb.conflicts.Add(1)
				m.log.Warn("conflict: the name changed in B2 since the file was staged by an earlier run; uploading anyway, both versions stay in B2",
					"file", key.String(), "base_file_id", man.BaseFileID, "b2_current", remote)
				r.Data, r.Manifest = f.dataPath, f.manPath
				r.Outcome, r.Remote = RecoveredPending, cur
				return r
			}
		}
		r.Outcome, r.Remote = RecoveredConflict, cur
		m.log.Warn("not uploading a staged file of an earlier run: the name changed in B2 since it was staged; the staged copy is kept",
			"file", key.String(), "staged", dataPath, "manifest", manPath, "base_file_id", man.BaseFileID, "b2_current", remote)
		return r
	}
	f, ok, err := m.adopt(ctx, man, dataPath, manPath, resumable)
	resumed = ok
	if err != nil {
		r.Outcome, r.Err = RecoveredFailed, err
		m.log.Error("cannot reopen a staged file of an earlier run; kept", "file", key.String(), "staged", dataPath, "err", err)
		return r
	}
	r.Data, r.Manifest = f.dataPath, f.manPath
	r.Outcome = RecoveredPending
	m.log.Info("staged file of an earlier run will be uploaded", "file", key.String(), "size", man.Size, "staged", f.dataPath)
	return r
}

func localSet(man *Manifest) *rangeSet {
	var r rangeSet
	for _, s := range man.Local {
		r.add(s.Off, s.End)
	}
	return &r
}

// sameContent reports whether the staged content (wholly local) and its
// metadata (file info and time: all a directory marker carries) equal v.
func sameContent(fsys FileSystem, man *Manifest, dataPath string, v *backend.Object) bool {
	if v.Size != man.Size || !sameInfo(v.Info, man) {
		return false
	}
	want := v.SHA1
	if len(want) != 40 {
		want = v.Info[InfoLargeFileSHA]
	}
	if len(want) != 40 {
		return false
	}
	if man.RemoteEnd > 0 && !localSet(man).covers(0, man.RemoteEnd) {
		return false
	}
	fh, err := fsys.OpenFile(dataPath, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	defer fh.Close()
	h := sha1.New()
	if n, err := io.Copy(h, io.NewSectionReader(fh, 0, man.Size)); err != nil || n != man.Size {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == want
}

// sameInfo reports whether version info vi carries the manifest's info
// and (when it has one) time.
func sameInfo(vi map[string]string, man *Manifest) bool {
	if t, ok := vi[InfoMtime]; ok && t != strconv.FormatInt(man.MtimeMs, 10) {
		return false
	}
	ve, me := extraInfo(vi), extraInfo(man.Info)
	if len(ve) != len(me) {
		return false
	}
	for k, v := range me {
		if w, ok := ve[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// adopt moves a staged file of an earlier run into this Manager's
// directory and registers it as a dirty File with no handles.
func (m *Manager) adopt(ctx context.Context, man *Manifest, dataPath, manPath string, resume bool) (*File, bool, error) {
	key := Key{BucketID: man.BucketID, BucketName: man.BucketName, Name: man.Name}
	if man.Size < 0 || man.RemoteEnd < 0 || man.RemoteEnd > man.Size {
		return nil, false, errors.New("manifest has inconsistent sizes")
	}
	if man.RemoteEnd > 0 && man.BaseFileID == "" {
		return nil, false, errors.New("manifest needs a base version it does not name")
	}
	m.mu.Lock()
	taken := m.files[key.mk()] != nil
	m.mu.Unlock()
	if taken {
		return nil, false, fmt.Errorf("%s is already staged by this run", key)
	}
	newData := filepath.Join(m.dir, man.ID+".data")
	newMan := filepath.Join(m.dir, man.ID+".json")
	if err := m.fs.Rename(dataPath, newData); err != nil {
		return nil, false, fmt.Errorf("move %s: %w", dataPath, err)
	}
	// The manifest is rewritten in the new place (and in write-back
	// mode made durable there, with the directory) before the old one
	// goes: a crash in between leaves both, and recovery then finds the
	// old manifest without its data and leaves it alone.
	undo := func() { m.fs.Rename(newData, dataPath) }
	data, err := m.fs.OpenFile(newData, os.O_RDWR, 0)
	if err != nil {
		undo()
		return nil, false, fmt.Errorf("open %s: %w", newData, err)
	}
	if err := data.Truncate(man.Size); err != nil {
		data.Close()
		undo()
		return nil, false, fmt.Errorf("size %s: %w", newData, err)
	}
	if err := m.reserve(man.Size); err != nil {
		data.Close()
		undo()
		return nil, false, err
	}
	f := &File{
		m:          m,
		id:         man.ID,
		dataPath:   newData,
		manPath:    newMan,
		key:        key,
		data:       data,
		size:       man.Size,
		reserved:   man.Size,
		remoteEnd:  man.RemoteEnd,
		baseID:     man.BaseFileID,
		baseSize:   man.BaseSize,
		mtime:      time.UnixMilli(man.MtimeMs),
		info:       extraInfo(man.Info),
		dirty:      true,
		state:      StateDirty,
		gen:        1, // pending, even with no bytes (see newFile)
		partGen:    map[int64]uint64{},
		pending:    map[int64]bool{},
		idle:       make(chan struct{}),
		dirtySince: time.Now(),
	}
	close(f.idle)
	f.contentType, f.dirMarker = man.ContentType, man.DirMarker
	// Every part holding local bytes counts as changed (so it is uploaded,
	// never copied from the base); bytes past remoteEnd are local by the
	// File invariant.
	for _, s := range man.Local {
		if s.Off >= 0 && s.End <= man.Size && s.Off < s.End {
			f.local.add(s.Off, s.End)
			f.touchLocked(s.Off, s.End)
		}
	}
	if man.Size > man.RemoteEnd {
		f.touchLocked(man.RemoteEnd, man.Size)
	}
	f.pending = map[int64]bool{}
	f.state = StateDirty
	f.bgCtx, f.bgCancel = context.WithCancel(m.ctx)
	// A cut large-file upload goes on where it stopped (before the
	// uploader can see the file).
	resumed := false
	if resume {
		if err := f.resume(ctx, man.LargeFileID); err != nil {
			m.log.Debug("a cut large-file upload cannot be resumed; starting again", "file", key.String(), "fileId", man.LargeFileID, "err", err)
		} else {
			resumed = true
		}
	}
	m.mu.Lock()
	if old := m.files[key.mk()]; old != nil {
		m.mu.Unlock()
		m.reserve(-man.Size)
		data.Close()
		undo()
		return nil, false, fmt.Errorf("%s is already staged by this run", key)
	}
	m.files[key.mk()] = f
	m.mu.Unlock()
	m.dirChanged()
	if m.opts.WriteBack {
		if err := f.Commit(m.ctx); err != nil {
			m.log.Error("fsync a staged file of an earlier run", "file", key.String(), "err", err)
		}
		m.hurry()
	} else {
		f.saveManifest()
	}
	m.fs.Remove(manPath)
	if m.opts.WriteBack {
		m.fs.SyncDir(filepath.Dir(manPath))
	}
	return f, resumed, nil
}
