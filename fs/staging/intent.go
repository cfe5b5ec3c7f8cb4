package staging

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// Rename records (write-back mode). A rename of a name that has a version
// in B2 takes two B2 calls: a server-side copy to the new name, then the
// removal (hide) of the old one. A power cut between them would leave
// both names. So before the copy the rename is recorded in a prepared
// pair (see spares.go) whose manifest carries it (Manifest.Rename),
// fsynced: one fsync. Recover finishes a recorded rename whose source
// name still shows the version it recorded (copy again, then remove the
// source): the result is the state after the rename. Once the source is
// removed the record is obsolete (the source no longer shows that
// version), so a finished rename only empties it, with no fsync; a
// failed one empties it durably, so that it is not redone.

// RenameIntent is a rename done in B2, recorded before its first call.
type RenameIntent struct {
	BucketID   string `json:"bucketId"`
	BucketName string `json:"bucketName,omitempty"`
	From       string `json:"from"`
	// SrcFileID is the version of From the copy copies.
	SrcFileID string `json:"srcFileId"`
	To        string `json:"to"`
	// ContentType and Info replace the source's metadata in the copy
	// when Info is set (metadata changes riding on the rename).
	ContentType string            `json:"contentType,omitempty"`
	Info        map[string]string `json:"info,omitempty"`
	// Hard: the source is removed by deleting its versions, not hidden.
	Hard bool `json:"hard,omitempty"`
}

// Copy records. A server-side copy of a large version (the copy that
// gives a file streamed while written its final metadata, a chmod of a
// large file) is assembled in B2 as a large file. Once B2 has started it,
// and before any part is copied, its ID is recorded the same way (durably
// in write-back mode); a copy cut by a crash leaves the record, and
// Recover cancels the large file (a copy that had finished refuses the
// cancel, which is ignored).

// RecordCopies returns ctx for server-side copies to key: a large file a
// copy made with it starts is recorded before it is started (its name and
// time, as for uploads: Manifest.LargeStarting) and again, with its ID,
// before its parts are copied (see above). done clears the records; call
// it when the copies have returned.
func (m *Manager) RecordCopies(ctx context.Context, key Key) (_ context.Context, done func()) {
	var mu sync.Mutex
	var recs []*Intent
	var cur *Intent // the record of the copy between its hooks
	rec := func(id string, info map[string]string) error {
		man := &Manifest{BucketID: key.BucketID, BucketName: key.BucketName, Name: key.Name,
			CancelLarge: &LargeRecord{FileID: id, Starting: info[InfoMtime]}}
		mu.Lock()
		defer mu.Unlock()
		if cur != nil && id != "" {
			return cur.rewrite(man)
		}
		in, err := m.record(man)
		if err != nil {
			return err
		}
		cur = in
		recs = append(recs, in)
		return nil
	}
	var starting map[string]string
	ctx = b2client.WithLargeCopyHooks(ctx, &b2client.LargeCopyHooks{
		Starting: func(info map[string]string) error {
			starting = info
			return rec("", info)
		},
		Started: func(id string) error { return rec(id, starting) },
	})
	return ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, in := range recs {
			in.End(true)
		}
		recs, cur = nil, nil
	}
}

// recordLarge records the large file id that f's upload has just
// started, before any part is sent: in its manifest, durably in
// write-back mode once the file was closed (committed). Before that the
// manifest is not made durable (recovery would upload the file, whose
// data file a power cut leaves with other bytes than written): the ID
// goes into a record apart, which Recover cancels, and which the file's
// first durable manifest (Commit) or its removal makes obsolete.
func (f *File) recordLarge(id string) {
	f.mu.Lock()
	apart := f.m.opts.WriteBack && !f.committed
	f.mu.Unlock()
	if !apart {
		f.persist()
		return
	}
	f.saveManifest()
	k := f.Key()
	rec, err := f.m.record(&Manifest{BucketID: k.BucketID, BucketName: k.BucketName, Name: k.Name, CancelLarge: &LargeRecord{FileID: id}})
	if err != nil {
		f.m.log.Warn("record a large file started for a file being written; a power cut now may leave it in B2", "file", f.Key().String(), "err", err)
		return
	}
	f.mu.Lock()
	old := f.largeRec
	f.largeRec = rec
	f.mu.Unlock()
	old.End(true)
}

// endLargeRec ends the record recordLarge kept apart, if any.
func (f *File) endLargeRec() {
	f.mu.Lock()
	rec := f.largeRec
	f.largeRec = nil
	f.mu.Unlock()
	rec.End(true)
}

// NameRemover is implemented by Remotes that can remove a name: hide it,
// or with hard delete every version of it. Recover needs it to finish a
// recorded rename.
type NameRemover interface {
	RemoveName(ctx context.Context, bucketID, bucketName, name string, hard bool) error
}

// Intent is a recorded rename in progress.
type Intent struct {
	m  *Manager
	sp spare
}

// BeginRename records r durably before the rename's first B2 call. It
// returns nil (nothing to end) outside write-back mode.
func (m *Manager) BeginRename(r RenameIntent) (*Intent, error) {
	if !m.opts.WriteBack {
		return nil, nil
	}
	in, err := m.record(&Manifest{BucketID: r.BucketID, BucketName: r.BucketName, Name: r.To, Rename: &r})
	if err != nil {
		return nil, fmt.Errorf("record rename of %s: %w", r.From, err)
	}
	return in, nil
}

// record writes man (a record, not a staged file) into a pair, in
// write-back mode durably (the pair's entries too).
func (m *Manager) record(man *Manifest) (*Intent, error) {
	if m.abandoned.Load() {
		return nil, errors.New("staging: stopped") // the process is dead
	}
	sp, pooled := m.takeSpare()
	if !pooled {
		var err error
		if sp, err = m.createPair(); err != nil {
			return nil, err
		}
		m.dirChanged()
	}
	man.Version, man.ID, man.State, man.Settled = manifestVersion, sp.id, StateDirty, true
	man.UpdatedMs, man.Seq = m.opts.Now().UnixMilli(), m.seq.Add(1)
	err := putManifest(sp.man, man, m.opts.WriteBack)
	if err == nil && m.opts.WriteBack {
		err = m.syncDir()
	}
	if err != nil {
		m.removePair(sp)
		return nil, err
	}
	return &Intent{m: m, sp: sp}, nil
}

// rewrite replaces the record (durably in write-back mode).
func (i *Intent) rewrite(man *Manifest) error {
	man.Version, man.ID, man.State, man.Settled = manifestVersion, i.sp.id, StateDirty, true
	man.UpdatedMs, man.Seq = i.m.opts.Now().UnixMilli(), i.m.seq.Add(1)
	return putManifest(i.sp.man, man, i.m.opts.WriteBack)
}

// End empties the record: done says the source was removed (the record
// is then obsolete and needs no fsync); otherwise the emptying is made
// durable, so that recovery does not redo a rename that failed.
func (i *Intent) End(done bool) {
	if i == nil || i.m.abandoned.Load() {
		return // the process is dead: the record stays as it is
	}
	err := i.sp.man.Truncate(0)
	if err == nil && !done {
		err = i.sp.man.Sync()
	}
	if err != nil {
		i.m.log.Error("clear a journal record", "err", err)
		i.m.removePair(i.sp)
		return
	}
	if !i.m.putSpare(i.sp) {
		i.m.removePair(i.sp)
	}
}

// replayRename finishes a recorded rename whose source still shows the
// recorded version. An error keeps the record for the next start.
func (m *Manager) replayRename(ctx context.Context, r *RenameIntent, current CurrentFunc) error {
	from := Key{BucketID: r.BucketID, BucketName: r.BucketName, Name: r.From}
	cur, err := current(ctx, from)
	if err != nil {
		return err
	}
	if cur == nil || cur.FileID != r.SrcFileID {
		return nil // finished (or the name changed since): nothing to do
	}
	rm, ok := m.opts.Remote.(NameRemover)
	if !ok {
		return fmt.Errorf("cannot remove %s", from)
	}
	ct, info := cur.ContentType, cur.Info
	if r.Info != nil {
		ct, info = r.ContentType, r.Info
	}
	if _, err := m.opts.Remote.CopyFileReplaceInfo(ctx, cur.FileID, cur.Size, UploadRequest{BucketID: r.BucketID, Name: r.To, ContentType: ct, Info: info}); err != nil {
		return err
	}
	if err := rm.RemoveName(ctx, r.BucketID, r.BucketName, r.From, r.Hard); err != nil {
		return err
	}
	m.log.Info("finished a rename cut by the stop of an earlier run", "from", from.String(), "to", r.To)
	return nil
}

// journalEntry is one manifest found by prepareJournal.
type journalEntry struct {
	dir, path string
	man       *Manifest
}

// prepareJournal is the first step of Recover, over the instance
// directories dirs: it makes this run's manifest numbers (Manifest.Seq)
// higher than any found, finishes recorded renames of files and
// directories (in the order they were recorded; a directory's re-keys
// the manifests of the staged files it moved, dirintent.go), and of
// several manifests of one name keeps the newest (highest Seq):
// the older ones are of files a rename replaced, whose manifests a power
// cut kept (their unfinished large files are cancelled).
func (m *Manager) prepareJournal(ctx context.Context, dirs []string, current CurrentFunc) {
	var all []journalEntry
	for _, dir := range dirs {
		paths, err := globJSON(m.fs, dir)
		if err != nil {
			continue
		}
		for _, p := range paths {
			if st, err := m.fs.Stat(p); err != nil || st.Size() == 0 {
				continue
			}
			man, err := readManifest(m.fs, p)
			if err != nil || man.ID == "" || m.registered(man.ID) {
				continue
			}
			all = append(all, journalEntry{dir, p, man})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].man.Seq < all[j].man.Seq })
	if n := len(all); n > 0 {
		for s := m.seq.Load(); all[n-1].man.Seq > s; s = m.seq.Load() {
			m.seq.CompareAndSwap(s, all[n-1].man.Seq)
		}
	}
	newest := map[mapKey]int{} // the newest manifest of each name, by index in all
	has := func(k mapKey, i int) bool { j, ok := newest[k]; return ok && j == i }
	keep := func(i int) {
		k := mapKey{all[i].man.BucketID, all[i].man.Name}
		if j, ok := newest[k]; ok && j != i {
			if all[j].man.Seq > all[i].man.Seq {
				i, j = j, i
			}
			m.dropReplaced(ctx, all[j])
			all[j].path = ""
		}
		newest[k] = i
	}
	for i := range all {
		e := all[i]
		if e.path == "" {
			continue // removed by a directory rename's replay
		}
		if r := e.man.CancelLarge; r != nil {
			if id := r.FileID; id != "" {
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				err := m.opts.Remote.CancelLargeFile(cctx, id)
				cancel()
				m.log.Info("cancelled a large file recorded by an earlier run", "file", e.man.BucketName+"/"+e.man.Name, "fileId", id, "err", err)
			}
			m.cancelStrays(ctx, &Manifest{BucketID: e.man.BucketID, BucketName: e.man.BucketName, Name: e.man.Name, LargeFileID: r.FileID, LargeStarting: r.Starting})
			m.removeRecord(e.path)
			continue
		}
		if r := e.man.Rename; r != nil {
			if err := m.replayRename(ctx, r, current); err != nil {
				m.log.Error("cannot finish a rename cut by the stop of an earlier run; kept for the next start",
					"from", r.BucketName+"/"+r.From, "to", r.To, "err", err)
				continue
			}
			m.removeRecord(e.path)
			continue
		}
		if r := e.man.DirRename; r != nil {
			moved, dropped, err := m.replayDirRename(ctx, all, i, current)
			// Entries seen before the record change names, or go.
			for _, j := range dropped {
				if k := (mapKey{all[j].man.BucketID, all[j].man.Name}); has(k, j) {
					delete(newest, k)
				}
			}
			for _, mv := range moved {
				if k := (mapKey{all[mv.idx].man.BucketID, mv.oldName}); has(k, mv.idx) {
					delete(newest, k)
					keep(mv.idx)
				}
			}
			if err != nil {
				m.log.Error("cannot finish a directory rename cut by the stop of an earlier run; kept for the next start",
					"from", r.BucketName+"/"+r.From, "to", r.To, "err", err)
				continue
			}
			m.removeRecord(e.path)
			continue
		}
		if e.man.State == StateRemoved {
			continue // a removal record (removed.go), not a file
		}
		keep(i)
	}
}

// removeRecord removes the pair of a record that recovery is done with.
func (m *Manager) removeRecord(path string) {
	m.fs.Remove(path)
	m.fs.Remove(strings.TrimSuffix(path, ".json") + ".data")
}

// dropReplaced removes the manifest (and its data) of a file that a newer
// manifest of its name replaced.
func (m *Manager) dropReplaced(ctx context.Context, e journalEntry) {
	man := e.man
	if man.LargeFileID != "" {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		m.opts.Remote.CancelLargeFile(cctx, man.LargeFileID)
		cancel()
	}
	m.cancelStrays(ctx, man)
	m.fs.Remove(filepath.Join(e.dir, man.ID+".data"))
	m.fs.Remove(e.path)
	m.log.Debug("dropped a staged file that a rename replaced", "file", man.BucketName+"/"+man.Name, "manifest", e.path)
}
