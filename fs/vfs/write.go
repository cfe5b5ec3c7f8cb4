package vfs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// WriteOptions enable and tune the write path. With a nil Staging the
// filesystem is read-only: every change fails with EROFS.
type WriteOptions struct {
	// Staging stages files open for writing and uploads them on close and
	// fsync.
	Staging *staging.Manager
	// Backend performs the other changes (hide, delete, copy, buckets).
	Backend WriteBackend
	// HardDelete makes unlink (and the removal of a rename's source)
	// delete every version instead of hiding the name.
	HardDelete bool
	// MaxRenameFiles bounds the files a directory rename copies; a larger
	// directory fails with EXDEV, so mv(1) falls back to copying (default
	// 10000).
	MaxRenameFiles int
	// RenameConcurrency bounds the server-side copies and deletions of a
	// directory rename running at once (default 8).
	RenameConcurrency int
	// Capabilities are the key's capabilities; nil means all. An operation
	// needing one the key lacks fails with EACCES and a log line naming it.
	Capabilities []string
	// MetadataDelay defers mode, owner, time and xattr changes of closed
	// files: they reach B2 at a rename or fsync of the file, at unmount,
	// or this long after the first change, whichever comes first (see
	// metaflush.go). Zero applies each change at once.
	MetadataDelay time.Duration

	// KeepDirMarkers keeps every directory's .bzEmpty marker (with its
	// metadata) once it has entries; by default a marker stays only while
	// the directory is empty or has mode, owner or extended attributes
	// other than the defaults (see markers.go).
	KeepDirMarkers bool

	cacheMu *sync.Mutex
}

func (o *WriteOptions) fill() {
	o.cacheMu = &sync.Mutex{}
	if o.MaxRenameFiles <= 0 {
		o.MaxRenameFiles = 10000
	}
	if o.RenameConcurrency <= 0 {
		o.RenameConcurrency = 8
	}
}

// Capability names the write path checks.
const (
	capWrite         = b2client.CapWriteFiles
	capDelete        = b2client.CapDeleteFiles
	capList          = b2client.CapListFiles
	capWriteBuckets  = b2client.CapWriteBuckets
	capDeleteBuckets = b2client.CapDeleteBuckets
)

// writable checks that changes are possible and that the key has caps.
func (f *FS) writable(op string, caps ...string) error {
	w := &f.opts.Write
	if w.Staging == nil || w.Backend == nil || f.stopped.Load() {
		return errs.ErrReadOnly
	}
	if w.Capabilities == nil {
		return nil
	}
	for _, c := range caps {
		found := false
		for _, have := range w.Capabilities {
			if have == c {
				found = true
				break
			}
		}
		if !found {
			f.log.Error("the application key lacks a capability", "op", op, "capability", c)
			return errs.ErrAccess
		}
	}
	return nil
}

// removeCaps are the capabilities removing a name needs.
func (f *FS) removeCaps() []string {
	if f.opts.Write.HardDelete {
		return []string{capDelete, capList}
	}
	return []string{capWrite}
}

// checkNewName validates a name a change creates (see validNewName).
func checkNewName(prefix, name string) error { return validNewName(prefix, name) }

// stagingKey is the key of name in bucket b.
func stagingKey(b Bucket, name string) staging.Key {
	return staging.Key{BucketID: b.ID, BucketName: b.Name, Name: name}
}

// staged returns the staged file for name in b, or nil.
func (f *FS) staged(b Bucket, name string) *staging.File {
	if f.opts.Write.Staging == nil {
		return nil
	}
	return f.opts.Write.Staging.Lookup(stagingKey(b, name))
}

// stagedEntry describes a staged file as a directory entry.
func stagedEntry(name string, sf *staging.File) cache.Entry {
	id, size, mtime, ct := sf.Uploaded()
	e := cache.Entry{Name: name, Size: size, ModTime: mtime, FileID: id, ContentType: ct}
	e.SetInfo(sf.VersionInfo())
	e.SetChanged(sf.Changed())
	return e
}

// withStaged merges the staged files of directory prefix into a listing
// (files created but not yet uploaded, and sizes of files being written).
func (f *FS) withStaged(b Bucket, prefix string, es []cache.Entry) []cache.Entry {
	if f.opts.Write.Staging == nil {
		return es
	}
	sfs := f.opts.Write.Staging.Under(b.ID, prefix, true)
	if len(sfs) == 0 && !f.writeBack() {
		return es
	}
	out := append([]cache.Entry(nil), es...)
	for _, sf := range sfs {
		seg := sf.Key().Name[len(prefix):]
		if seg == "" || seg == EmptyMarker {
			continue
		}
		name, ok := localName(seg)
		if !ok {
			continue
		}
		e := stagedEntry(name, sf)
		if i, ok := findIndex(out, name); ok {
			if !out[i].Dir {
				out[i] = e
			}
			continue
		}
		out = append(out, e)
	}
	out = f.pendingDirs(b, prefix, out)
	if len(sfs) == 0 && len(out) == len(es) {
		return es // nothing merged in
	}
	sortEntries(out)
	return out
}

func findIndex(es []cache.Entry, name string) (int, bool) {
	for i := range es {
		if es[i].Name == name {
			return i, true
		}
	}
	return 0, false
}

// patchLimit is the largest cached listing changed updates in place;
// bigger ones are dropped and listed again when needed.
const patchLimit = 2000

// changed records a change to name in directory prefix of b: e is the new
// entry, nil when the name is gone. A cached listing of the directory is
// updated in place (so creating many files in one directory does not cost a
// list call each), the single-entry cache gets e or a negative entry, and
// a listing of the directory being fetched keeps the change (so that a file
// whose background upload lands during the listing never goes missing).
// cacheMu serialises these read-modify-write updates.
func (f *FS) changed(b Bucket, prefix, name string, e *cache.Entry) {
	key := dirKey(b, prefix)
	c := f.meta.Cache()
	// First the listing being fetched, then the cache (see
	// listing.Meta.Changed).
	f.meta.Changed(b, prefix, name, e)
	defer f.meta.Settled(b, prefix) // after the cache, see listing.Meta.Settled
	f.opts.Write.cacheMu.Lock()
	defer f.opts.Write.cacheMu.Unlock()
	if l, ok := c.Listing(key); ok && len(l) < patchLimit {
		nl := make([]cache.Entry, 0, len(l)+1)
		for _, x := range l {
			if x.Name != name {
				nl = append(nl, x)
			}
		}
		if e != nil {
			nl = append(nl, *e)
		}
		c.PutListing(key, nl)
	} else if ok {
		c.InvalidateDir(key)
	}
	if e != nil {
		c.PutEntry(key, *e)
	} else {
		c.PutNegative(key, name)
	}
}

// invalidateDir forgets the cached listing of directory prefix of b, and
// keeps the one being fetched out of the cache (a change Changed cannot
// describe, such as a directory rename).
func (f *FS) invalidateDir(b Bucket, prefix string) {
	f.meta.Invalidated(b, prefix)
	f.meta.Cache().InvalidateDir(dirKey(b, prefix))
	f.meta.Settled(b, prefix)
}

// mtimeInfo returns info with src_last_modified_millis set to t.
func mtimeInfo(info map[string]string, t time.Time) map[string]string {
	out := make(map[string]string, len(info)+1)
	for k, v := range info {
		out[k] = v
	}
	out[staging.InfoMtime] = strconv.FormatInt(t.UnixMilli(), 10)
	return out
}

// remove deletes name from b the configured way (hide or delete all
// versions).
func (f *FS) remove(ctx context.Context, b Bucket, name string) error {
	if f.opts.Write.HardDelete {
		return f.opts.Write.Backend.DeleteAll(ctx, b, name)
	}
	return f.opts.Write.Backend.Hide(ctx, b, name)
}

// copyRecorded is Backend.Copy, with the large file a copy of a large
// version starts recorded in the staging directory before its parts are
// copied (staging.RecordCopies): a crash during the copy then leaves
// nothing in B2 after the next start.
func (f *FS) copyRecorded(ctx context.Context, src Object, dst Bucket, name string, meta *CopyMeta) (Object, error) {
	if st := f.opts.Write.Staging; st != nil {
		var done func()
		ctx, done = st.RecordCopies(ctx, stagingKey(dst, name))
		defer done()
	}
	return f.opts.Write.Backend.Copy(ctx, src, dst, name, meta)
}

func fmtPath(b Bucket, name string) string { return fmt.Sprintf("%s/%s", b.Name, name) }
