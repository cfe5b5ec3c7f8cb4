package staging

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
)

// Directory rename records (write-back mode). A directory rename in B2
// copies every object under the old prefix to the new one, removes the
// sources, and then gives the staged files under the old prefix their
// new names (Rename, each made durable). A power cut in the middle would
// leave both names in B2, and pending files (a directory's pending
// marker among them) that go up under the old names at the next start.
// So before its first copy the rename is recorded in a pair
// (Manifest.DirRename), fsynced, with the objects it copies and the
// staged files it moves. Recover finishes a record it finds
// (prepareJournal, in the order of Manifest.Seq):
//
//   - each recorded object whose name still shows the recorded version is
//     copied to its new name (unless the new name shows that content with
//     that metadata already) and its old name removed;
//   - each staged file's manifest under the old prefix that the record
//     lists takes the new name, based on the version the new name shows
//     now (so that the copy is not taken for another writer's change),
//     with a new Seq, fsynced; a newer one not listed (a file made at the
//     old name after the rename) stays;
//   - other manifests of the run that renamed (in the record's instance
//     directory) older than the record (a lower Seq) under either prefix
//     go: under the new one, the pending marker of the empty directory the
//     rename replaced; under the old one, none that is pending (every
//     staged file under the old prefix is listed), but one a power cut
//     brought back (its content is in B2, and moved by the copies).
//
// The record is emptied only once every staged file it moves has its new
// name durably, and unlike that of a file rename the emptying is made
// durable too: a record that a power cut brought back after later
// operations would move a file listed in it that was moved back under
// the old prefix since.

// DirRenameIntent is a directory rename done in B2, recorded before its
// first call.
type DirRenameIntent struct {
	BucketID   string `json:"bucketId"`
	BucketName string `json:"bucketName,omitempty"`
	// From and To are the old and the new prefix, each ending in "/".
	From string `json:"from"`
	To   string `json:"to"`
	// Hard: the sources are removed by deleting their versions, not
	// hidden.
	Hard bool `json:"hard,omitempty"`
	// Objects are the versions under From the rename copies.
	Objects []RenamedObject `json:"objects,omitempty"`
	// Staged are the IDs of the staged files under From it moves.
	Staged []string `json:"staged,omitempty"`
}

// RenamedObject is one version a directory rename copies.
type RenamedObject struct {
	Name   string `json:"name"`
	FileID string `json:"fileId"`
}

// DirIntent is a recorded directory rename in progress.
type DirIntent struct{ in *Intent }

// BeginDirRename records r, with staged (the staged files under r.From)
// as its Staged, durably before the rename's first B2 call. It returns
// nil (nothing to end) outside write-back mode.
func (m *Manager) BeginDirRename(r DirRenameIntent, staged []*File) (*DirIntent, error) {
	if !m.opts.WriteBack {
		return nil, nil
	}
	for _, f := range staged {
		r.Staged = append(r.Staged, f.id)
	}
	in, err := m.record(&Manifest{BucketID: r.BucketID, BucketName: r.BucketName, Name: r.To, DirRename: &r})
	if err != nil {
		return nil, fmt.Errorf("record rename of %s: %w", r.From, err)
	}
	return &DirIntent{in}, nil
}

// End empties the record durably: call it when the rename failed, or
// when every staged file it moved has its new name durably.
func (d *DirIntent) End() {
	if d != nil {
		d.in.End(false)
	}
}

// isRecord reports whether man is a record (intent.go, dirintent.go),
// not a staged file.
func (man *Manifest) isRecord() bool {
	return man.Rename != nil || man.DirRename != nil || man.CancelLarge != nil
}

// movedEntry is a journal entry a directory rename record re-keyed.
type movedEntry struct {
	idx     int    // in the entries given to replayDirRename
	oldName string // its name before
}

// replayDirRename finishes the directory rename recorded by all[at] (see
// above). It returns the entries whose manifests it re-keyed (now under
// their new names) and those it removed (marked with an empty path), also
// when it fails midway; an error keeps the record for the next start.
func (m *Manager) replayDirRename(ctx context.Context, all []journalEntry, at int, current CurrentFunc) (moved []movedEntry, dropped []int, err error) {
	rec := all[at].man
	r := rec.DirRename
	rm, ok := m.opts.Remote.(NameRemover)
	if !ok {
		return nil, nil, fmt.Errorf("cannot remove names in %s", r.BucketName)
	}
	key := func(name string) Key { return Key{BucketID: r.BucketID, BucketName: r.BucketName, Name: name} }
	copied := map[string]bool{} // recorded objects by old name
	finished := 0
	for _, o := range r.Objects {
		if !strings.HasPrefix(o.Name, r.From) {
			continue
		}
		copied[o.Name] = true
		cur, err := current(ctx, key(o.Name))
		if err != nil {
			return nil, nil, err
		}
		if cur == nil || cur.FileID != o.FileID {
			continue // moved already (or changed since)
		}
		to := r.To + o.Name[len(r.From):]
		tcur, err := current(ctx, key(to))
		if err != nil {
			return nil, nil, err
		}
		if tcur == nil || tcur.Size != cur.Size || len(cur.SHA1) != 40 || tcur.SHA1 != cur.SHA1 ||
			tcur.ContentType != cur.ContentType || !maps.Equal(tcur.Info, cur.Info) {
			req := UploadRequest{BucketID: r.BucketID, Name: to, ContentType: cur.ContentType, Info: cur.Info}
			if _, err := m.opts.Remote.CopyFileReplaceInfo(ctx, cur.FileID, cur.Size, req); err != nil {
				return nil, nil, err
			}
		}
		if err := rm.RemoveName(ctx, r.BucketID, r.BucketName, o.Name, r.Hard); err != nil {
			return nil, nil, err
		}
		finished++
	}
	listed := map[string]bool{}
	for _, id := range r.Staged {
		listed[id] = true
	}
	dirs := map[string]bool{} // of the removed manifests
	for j := range all {
		e := all[j]
		if j == at || e.path == "" || e.man.isRecord() || e.man.State == StateRemoved || e.man.BucketID != r.BucketID {
			continue
		}
		switch {
		case strings.HasPrefix(e.man.Name, r.From) && listed[e.man.ID]:
			old := e.man.Name
			to := r.To + old[len(r.From):]
			cur, err := current(ctx, key(to))
			if err != nil {
				return moved, dropped, err
			}
			man := *e.man
			man.Name, man.Seq = to, m.seq.Add(1)
			if man.RemoteEnd == 0 || copied[old] {
				// Every byte is local (the base only tells conflicts),
				// or the base was copied to the new name.
				man.BaseFileID, man.BaseSize = "", 0
				if cur != nil {
					man.BaseFileID, man.BaseSize = cur.FileID, cur.Size
				}
			}
			if err := m.rewriteManifest(e.path, &man); err != nil {
				return moved, dropped, err
			}
			*e.man = man
			moved = append(moved, movedEntry{j, old})
		case e.man.Seq < rec.Seq && e.dir == all[at].dir && (strings.HasPrefix(e.man.Name, r.To) || strings.HasPrefix(e.man.Name, r.From)):
			// Of the run that renamed (a staged copy an earlier run
			// kept, in its own directory, stays).
			m.dropReplaced(ctx, e)
			all[j].path = ""
			dropped = append(dropped, j)
			dirs[e.dir] = true
		}
	}
	// The removals are durable before the record goes.
	for dir := range dirs {
		if err := m.fs.SyncDir(dir); err != nil {
			return moved, dropped, err
		}
	}
	m.log.Info("finished a directory rename cut by the stop of an earlier run", "from", r.BucketName+"/"+r.From, "to", r.To,
		"objects", finished, "staged", len(moved))
	return moved, dropped, nil
}

// rewriteManifest writes man over the manifest at path, fsynced.
func (m *Manager) rewriteManifest(path string, man *Manifest) error {
	fd, err := m.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("rewrite manifest: %w", err)
	}
	defer fd.Close()
	return putManifest(fd, man, true)
}
