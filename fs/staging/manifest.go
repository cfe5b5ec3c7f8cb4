package staging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// State is the upload state of a staged file, as recorded in its manifest.
type State string

// States of a staged file.
const (
	// StateClean: the staged content equals the B2 version BaseFileID.
	StateClean State = "clean"
	// StateDirty: the staged content has changes not yet in B2.
	StateDirty State = "dirty"
	// StateUploading: an upload of the staged content is in progress.
	StateUploading State = "uploading"
	// StateFailed: the last upload failed; the staged content is the only
	// copy of the changes.
	StateFailed State = "failed"
	// StateRemoved: the file's name was removed (unlink, or replaced by
	// a rename) while an upload of it was under way, in the default
	// mode: the upload may still make a version, which the running b2fs
	// deletes when it lands and recovery deletes if b2fs died first
	// (removed.go). Nothing is uploaded from such a manifest.
	StateRemoved State = "removed"
)

// Manifest is the sidecar of a staged file, next to the data file as
// <id>.json. It is rewritten in place with one pwrite(2) of the whole JSON
// document followed by a truncate, so a b2fs killed at any point leaves a
// readable manifest (ReadManifest ignores bytes after the document) and
// staging creates no temporary files (creating and deleting inodes is what
// small-file workloads would otherwise spend their time on). Neither the
// manifest nor the data file is fsynced: staging survives a crash of b2fs
// (the kernel keeps the pages), not a crash of the machine; data is durable
// once it is in B2. It carries what a
// crash-recovery step needs to finish the upload: where the file goes, which
// version it was based on, and which byte ranges of the data file are
// authoritative.
type Manifest struct {
	Version    int    `json:"version"`
	ID         string `json:"id"`
	BucketID   string `json:"bucketId"`
	BucketName string `json:"bucketName,omitempty"`
	Name       string `json:"name"`
	// BaseFileID is the B2 version the staged file started from ("" for a
	// new file). Bytes below RemoteEnd that are not in Local are still only
	// in that version.
	BaseFileID string `json:"baseFileId,omitempty"`
	BaseSize   int64  `json:"baseSize"`
	RemoteEnd  int64  `json:"remoteEnd"`
	Local      []span `json:"local,omitempty"`
	Size       int64  `json:"size"`
	MtimeMs    int64  `json:"mtimeMillis"`
	// Info is the extra file info uploaded with the content (POSIX
	// metadata: mode, owner, extended attributes).
	Info  map[string]string `json:"info,omitempty"`
	State State             `json:"state"`
	// Settled says no write has happened since this manifest was saved: a
	// write first saves the manifest with Settled false. Local and Size
	// of an unsettled manifest may be older than the data file.
	Settled bool `json:"settled"`
	// LargeFileID is an unfinished large file holding parts of this upload.
	LargeFileID string `json:"largeFileId,omitempty"`
	// LargeStarting is the src_last_modified_millis of a large file being
	// started whose ID was not recorded yet: a b2fs killed during
	// b2_start_large_file leaves an unfinished large file no manifest
	// names, and recovery cancels the one with this name and this time
	// (cancelStrays).
	LargeStarting string `json:"largeStarting,omitempty"`
	Error         string `json:"error,omitempty"`
	UpdatedMs     int64  `json:"updatedMillis"`
	// Inline is the whole content of a small file with every byte local
	// (write-back mode): the manifest's fsync then makes the content
	// durable too, and the data file is not fsynced. Recover writes it
	// back into the data file (restoreInline).
	Inline []byte `json:"inline,omitempty"`
	// Seq orders the manifests of a name: each write of a manifest takes
	// a number above every earlier one (across runs: Recover starts above
	// the numbers it finds). When a power cut leaves two manifests of one
	// name (a rename over a pending file is recorded under the new name
	// before the replaced file's manifest is emptied), the higher wins.
	Seq uint64 `json:"seq,omitempty"`
	// Landed is a version of Name holding this content that an upload
	// in progress has made (a large file finished, its metadata still to
	// be set by a copy): Recover finding it current uploads nothing.
	Landed string `json:"landed,omitempty"`
	// Rename, when set, makes this pair a rename record, not a staged
	// file (see intent.go).
	Rename *RenameIntent `json:"rename,omitempty"`
	// DirRename, when set, makes this pair a directory rename record
	// (see dirintent.go).
	DirRename *DirRenameIntent `json:"dirRename,omitempty"`
	// CancelLarge, when set, makes this pair the record of a large file
	// that a crash must not leave in B2 (see intent.go): that of a
	// server-side copy in progress, or of a file streamed before its
	// first close. Recover cancels it.
	CancelLarge *LargeRecord `json:"cancelLarge,omitempty"`

	// ContentType is the content type the upload carries ("": from the
	// name's extension).
	ContentType string `json:"contentType,omitempty"`
	// DirMarker: the file is a directory's marker, whose upload waits
	// while the mount is still writing (OpenOptions.DirMarker).
	DirMarker bool `json:"dirMarker,omitempty"`
}

// LargeRecord names a large file of Manifest.Name: by its ID, or, while
// it is being started, by its src_last_modified_millis (Starting).
type LargeRecord struct {
	FileID   string `json:"fileId,omitempty"`
	Starting string `json:"starting,omitempty"`
}

// maxInline is the largest content a manifest carries (Manifest.Inline).
const maxInline = 32 << 10

const manifestVersion = 1

// writeManifestFile writes m to a new file at path.
func writeManifestFile(fsys FileSystem, path string, m *Manifest) error {
	fd, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	defer fd.Close()
	return putManifest(fd, m, false)
}

// ReadManifest reads the manifest at path.
func ReadManifest(path string) (*Manifest, error) { return readManifest(OSFS{}, path) }

func readManifest(fsys FileSystem, path string) (*Manifest, error) {
	b, err := readFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	// The first JSON document is the manifest; what follows it is left
	// over from a longer earlier version (see Manifest).
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return &m, nil
}

// PendingManifests returns the manifests in the staging directory dir whose
// state is not clean: staged data that has not reached B2.
func PendingManifests(dir string) ([]*Manifest, error) {
	ents, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, p := range ents {
		m, err := ReadManifest(p)
		if err != nil {
			return nil, err
		}
		if m.State != StateClean {
			out = append(out, m)
		}
	}
	return out, nil
}

// putManifest rewrites the manifest held open in fd in place, and with
// sync fsyncs it.
func putManifest(fd FSFile, m *Manifest, sync bool) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	b = append(b, '\n')
	if _, err := fd.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := fd.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if sync {
		if err := fd.Sync(); err != nil {
			return fmt.Errorf("fsync manifest: %w", err)
		}
	}
	return nil
}

// saveManifest writes the manifest from the current state; errors are
// logged (the data file is what matters).
func (f *File) saveManifest() {
	if err := f.writeManifest(true, false); err != nil {
		f.m.log.Error("write staging manifest", "file", f.Key().Name, "err", err)
	}
}

// writeManifest writes the manifest; settled records that no write has
// happened since (every write path calls it with false first); sync
// fsyncs it (write-back durability, see durable.go). A detached file
// writes none.
func (f *File) writeManifest(settled, sync bool) error {
	return f.putState(&settled, sync, false)
}

// persistMeta records a metadata change (mode, owner, xattrs, mtime) of
// a pending file: in write-back mode durably, since the operation that
// made it returns next; settledness stays as it is.
func (f *File) persistMeta() { f.persist() }

// persist writes the manifest, in write-back mode durably (what a power
// cut must not lose: a metadata change that returns next, the ID of a
// large file before its parts are sent); settledness stays as it is.
func (f *File) persist() {
	if err := f.putState(nil, f.m.opts.WriteBack, false); err != nil {
		f.m.log.Error("write staging manifest", "file", f.Key().Name, "err", err)
	}
}

// putState writes the manifest; settled nil keeps the file's settledness.
// With syncData it first makes the content durable: in the manifest
// (Inline) when it fits, else by an fsync of the data file.
func (f *File) putState(settledp *bool, sync, syncData bool) error {
	f.manifestMu.Lock()
	defer f.manifestMu.Unlock()
	f.mu.Lock()
	if f.detached {
		f.mu.Unlock()
		return nil
	}
	if settledp != nil {
		f.settled = *settledp
	}
	settled := f.settled
	m := &Manifest{
		Version:    manifestVersion,
		ID:         f.id,
		BucketID:   f.key.BucketID,
		BucketName: f.key.BucketName,
		Name:       f.key.Name,
		BaseFileID: f.baseID,
		BaseSize:   f.baseSize,
		RemoteEnd:  f.remoteEnd,
		Local:      f.local.spans(),
		Size:       f.size,
		MtimeMs:    f.mtime.UnixMilli(),
		Info:       copyInfo(f.info),
		State:      f.state,
		Settled:    settled,
		Error:      f.lastErr,
		UpdatedMs:  f.m.opts.Now().UnixMilli(),
		Landed:     f.landed,
	}
	m.ContentType, m.DirMarker = f.contentType, f.dirMarker
	if f.sess != nil {
		m.LargeFileID = f.sess.id
	} else {
		m.LargeStarting = f.startingMtime
	}
	inline := f.inlineLocked()
	// The data file's bytes are acknowledged content (close, or no handle
	// writes the file) only then; otherwise a durable manifest carries
	// the content the last close made durable (durableInline).
	fresh := settled && (syncData || f.writers == 0)
	f.mu.Unlock()
	m.Seq = f.m.seq.Add(1)
	if f.manFD == nil {
		fd, err := f.m.fs.OpenFile(f.manPath, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("write staging manifest of %s: %w", m.Name, err)
		}
		f.manFD = fd
		f.m.dirChanged()
	}
	// Write-back: once a settled manifest is durable, the first change
	// after it must be durably announced (unsettled) before the data file
	// changes, or a power cut could pair the old manifest with new data.
	sync = sync || (!settled && f.durableSettled && f.m.opts.WriteBack)
	if syncData && !(sync && inline) {
		if err := f.data.Sync(); err != nil {
			return fmt.Errorf("fsync staging file %s: %w", f.dataPath, err)
		}
	}
	switch {
	case sync && inline && fresh:
		// The content goes with the manifest: the data file's bytes are
		// those of the last write, and writes wait for manifestMu (an
		// unsettled manifest is written before the data changes).
		m.Inline = make([]byte, m.Size)
		if _, err := f.data.ReadAt(m.Inline, 0); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("staging manifest of %s: read the content: %w", m.Name, err)
		}
	case sync && inline && f.durableInline != nil:
		// Written since the last close, or open for writing: the
		// content that close made durable, not the bytes of the moment
		// (a metadata change of a file open for writing, persistMeta),
		// which no close acknowledged. Recovery restores it.
		m.Inline = f.durableInline
		m.Size = int64(len(m.Inline))
	}
	if err := putManifest(f.manFD, m, sync); err != nil {
		return fmt.Errorf("staging manifest of %s: %w", m.Name, err)
	}
	if sync {
		f.durableSettled = settled
		if fresh || settled && m.Inline == nil {
			// The content durable now: this one, or none in the
			// manifest (an upload made it clean: it is in B2).
			f.durableInline = m.Inline
		}
	}
	return nil
}

// inlineLocked reports whether a durable manifest of f carries its
// content (Manifest.Inline): write-back mode, pending, small, every byte
// local. Called with mu held.
func (f *File) inlineLocked() bool {
	return f.m.opts.WriteBack && f.state != StateClean && f.remoteEnd == 0 && f.size <= maxInline
}

// restoreInline writes the content a manifest carries into its data file
// (which a power cut may have left with other bytes), durably, before
// recovery reads it.
func restoreInline(fsys FileSystem, man *Manifest, dataPath string) error {
	if man.Inline == nil || int64(len(man.Inline)) != man.Size {
		return nil
	}
	fd, err := fsys.OpenFile(dataPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("restore staged content: %w", err)
	}
	defer fd.Close()
	if _, err := fd.WriteAt(man.Inline, 0); err != nil {
		return fmt.Errorf("restore staged content: %w", err)
	}
	if err := fd.Truncate(man.Size); err != nil {
		return fmt.Errorf("restore staged content: %w", err)
	}
	if err := fd.Sync(); err != nil {
		return fmt.Errorf("restore staged content: %w", err)
	}
	man.Inline = nil
	return nil
}

// sortedKeys returns the keys of a set in ascending order.
func sortedKeys(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
