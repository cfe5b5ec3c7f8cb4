package vfs

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// Pending directory markers (write-back mode). A directory's .bzEmpty
// marker is held in the staging directory like a pending file (a staged
// file of size 0 under the marker's name, whose manifest carries the
// directory's info and time, docs/write-back.md): mkdir makes it pending,
// and later changes of the directory's mode, owner, times and extended
// attributes change the pending marker (its manifest, fsynced) instead of
// copying a marker in B2. Its upload (staging.OpenOptions.DirMarker) waits
// while the mount is still writing, so that a tool
// copying a tree, which sets every directory's metadata last, changes it
// before it goes up. Then:
//   - rmdir of a directory whose marker was never uploaded drops it: no
//     B2 call;
//   - a directory rename carries it (as any pending file);
//   - a marker whose directory has entries and whose info went back to
//     the defaults is dropped (the marker rule, markers.go), before it is
//     ever uploaded;
//   - a directory whose marker is pending or dropped exists in listings
//     and lookups through the pending names under it (lookup,
//     withStaged), also after its parent's listing is fetched again.

// pendingMarker returns the staged marker of directory prefix (write-back
// mode), or nil.
func (f *FS) pendingMarker(b Bucket, prefix string) *staging.File {
	if !f.writeBack() {
		return nil
	}
	return f.staged(b, prefix+EmptyMarker)
}

// markerDir reports whether the B2 name is a directory marker, and
// returns the directory's prefix.
func markerDir(name string) (string, bool) {
	d, ok := strings.CutSuffix(name, EmptyMarker)
	return d, ok && (d == "" || strings.HasSuffix(d, "/"))
}

// stageMarker makes the marker of directory prefix pending with info and
// mtime: durable in the staging directory when it returns, uploaded
// later. base is the marker version in B2 it replaces ("" for none).
func (f *FS) stageMarker(ctx context.Context, b Bucket, prefix, base string, info map[string]string, mtime time.Time) (*staging.File, error) {
	st := f.opts.Write.Staging
	o := staging.OpenOptions{Key: stagingKey(b, prefix+EmptyMarker), ContentType: dirContentType, Info: info, Mtime: mtime, DirMarker: true}
	if base != "" {
		o.Base = &staging.Base{FileID: base, ContentType: dirContentType, Info: info}
		o.Truncate = true
	}
	sf, err := st.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer st.Release(sf)
	return sf, sf.Commit(context.WithoutCancel(ctx))
}

// markerInfoSet, when set (by tests), runs when changePendingMarker has
// given a pending marker its new info and not yet its time.
var markerInfoSet func()

// changePendingMarker is changeDirInfo's last step in write-back mode: the
// pending marker takes info (which carries the time), or a new pending
// marker replaces the one in B2 (m, when exists) or makes one. done is
// false when the marker was uploaded meanwhile: the caller changes it in
// B2.
func (f *FS) changePendingMarker(ctx context.Context, b Bucket, prefix string, m cache.Entry, exists bool, info map[string]string) (done bool, err error) {
	mt := time.Now()
	if v, ok := info[staging.InfoMtime]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			mt = time.UnixMilli(ms)
		}
	}
	if sf := f.pendingMarker(b, prefix); sf != nil {
		absorbed, err := sf.SetInfo(ctx, func(i map[string]string) error {
			clear(i)
			maps.Copy(i, info)
			return nil
		})
		if err != nil {
			return true, err
		}
		if absorbed {
			if markerInfoSet != nil {
				markerInfoSet()
			}
			// Its upload may have landed since, with the info but not
			// the time.
			if absorbed, err = sf.SetMtime(ctx, mt); err != nil {
				return true, err
			}
		}
		if !absorbed {
			// Uploaded meanwhile: once the upload is shown (the cached
			// marker is that version), the caller changes it in B2.
			sf.Hold()()
			return false, nil
		}
		return true, nil
	}
	base := ""
	if exists {
		base = m.FileID
	}
	_, err = f.stageMarker(ctx, b, prefix, base, info, mt)
	return true, err
}

// hasPendingEntries reports whether pending names other than its own
// marker are under directory prefix.
func (f *FS) hasPendingEntries(b Bucket, prefix string) bool {
	st := f.opts.Write.Staging
	return st != nil && st.HasUnder(b.ID, prefix, prefix+EmptyMarker)
}

// dropPendingMarker drops the pending marker of directory prefix, whose
// info is the default, when the directory has entries (in B2, as its
// cached listing shows, or pending): nothing of it reaches B2, and its
// times stay in memory. A B2 version it was to replace is removed. done
// is false when there is no pending marker or the directory may be empty.
func (f *FS) dropPendingMarker(ctx context.Context, b Bucket, prefix string, m cache.Entry) (done bool, err error) {
	if f.pendingMarker(b, prefix) == nil {
		return false, nil
	}
	if !f.hasEntriesCached(b, prefix) && !f.hasPendingEntries(b, prefix) {
		f.scheduleMarkerTidy(b, prefix) // decided with a listing
		return false, nil
	}
	return true, f.detachPendingMarker(ctx, b, prefix, m)
}

// detachPendingMarker drops the pending marker m of directory prefix,
// which has entries (see dropPendingMarker).
func (f *FS) detachPendingMarker(ctx context.Context, b Bucket, prefix string, m cache.Entry) error {
	f.keepMarkerTimes(b, prefix, m)
	name := prefix + EmptyMarker
	if had, base := f.opts.Write.Staging.DetachVersion(stagingKey(b, name)); had && base != "" {
		if err := f.remove(ctx, b, name); err != nil {
			return err
		}
	}
	f.meta.Cache().PutNegative(markerKey(b, prefix), EmptyMarker)
	f.log.Debug("pending directory marker dropped: the directory has entries and default metadata", "dir", fmtPath(b, prefix))
	return nil
}

// settlePendingMarkers runs at once the marker checks of the directories
// with a pending marker for which match holds, so that a marker no
// longer needed is dropped before a sync uploads it.
func (f *FS) settlePendingMarkers(ctx context.Context, match func(b Bucket, dir string) bool) {
	if !f.writeBack() {
		return
	}
	f.flushMarkerTidy(ctx, func(b Bucket, dir string) bool {
		return (match == nil || match(b, dir)) && f.pendingMarker(b, dir) != nil
	})
}

// markerUploaded shows the marker version the Manager uploaded for
// directory prefix.
func (f *FS) markerUploaded(b Bucket, prefix string, sf *staging.File) {
	if f.opts.Write.Staging.Lookup(stagingKey(b, prefix+EmptyMarker)) != sf {
		return // removed or moved since
	}
	f.meta.Cache().PutEntry(markerKey(b, prefix), stagedEntry(EmptyMarker, sf))
}

// lookup is listing.Meta.Lookup, with, in write-back mode, the
// directories that exist only through the pending names under them.
func (f *FS) lookup(ctx context.Context, b Bucket, prefix, name string) (cache.Entry, bool, error) {
	wb := f.writeBack()
	var g0 uint64
	if wb {
		g0 = f.meta.DirGen(b, prefix)
	}
	e, ok, err := f.meta.Lookup(ctx, b, prefix, name)
	if err != nil || ok || !wb {
		return e, ok, err
	}
	if f.opts.Write.Staging.HasUnder(b.ID, childDir(prefix, name), "") {
		return cache.Entry{Name: name, Dir: true}, true, nil
	}
	// The last pending name under it may have been uploaded and let go
	// after B2 was asked and before the staging check: its upload showed
	// the directory in the cache (showDirs).
	if f.meta.DirGen(b, prefix) != g0 {
		switch ce, r := f.meta.Cache().Lookup(dirKey(b, prefix), name); r {
		case cache.Found:
			return ce, true, nil
		case cache.Unknown:
			return f.meta.Lookup(ctx, b, prefix, name) // in B2 by now
		}
	}
	return e, ok, nil
}

// pendingDirs adds to es (sorted by withStaged's caller) the
// subdirectories of prefix that exist only through pending names.
func (f *FS) pendingDirs(b Bucket, prefix string, es []cache.Entry) []cache.Entry {
	if !f.writeBack() {
		return es
	}
	for _, sf := range f.opts.Write.Staging.Under(b.ID, prefix, false) {
		rest := sf.Key().Name[len(prefix):]
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			continue
		}
		name, ok := localName(rest[:i])
		if !ok {
			continue
		}
		if _, found := findIndex(es, name); !found {
			es = append(es, cache.Entry{Name: name, Dir: true})
		}
	}
	return es
}

// rmdirPending removes directory dir when its marker is pending and was
// never uploaded, and its cached listing shows it empty: nothing is in
// B2, so nothing is asked of it. done is false when the caller must look
// in B2.
func (n *Dir) rmdirPending(ctx context.Context, dir string) (done bool, err error) {
	b, _ := n.loc()
	sf := n.fsys.pendingMarker(b, dir)
	if sf == nil || sf.BaseFileID() != "" || !sf.Coalescible() {
		return false, nil
	}
	l, ok := n.fsys.meta.Cache().Listing(dirKey(b, dir))
	if !ok {
		return false, nil
	}
	if len(l) > 0 {
		return true, errs.ErrNotEmpty
	}
	had, base := n.fsys.opts.Write.Staging.DetachVersion(stagingKey(b, dir+EmptyMarker))
	if !had {
		return false, nil // uploaded and let go meanwhile: in B2
	}
	if base != "" {
		// Uploaded meanwhile: B2 shows that version.
		if err := n.fsys.remove(ctx, b, dir+EmptyMarker); err != nil {
			return true, n.fsys.opErr("rmdir "+fmtPath(b, dir), err)
		}
	}
	return true, nil
}

// showDirs makes the listings above the B2 name just uploaded show the
// directories on its path: one that existed only through pending names
// (its marker pending or dropped) is in B2 now, and a listing fetched
// from B2 before the upload (cached, or still being fetched) would lose
// it once nothing under it is pending. It goes up to the first directory
// whose cached listing has the name.
func (f *FS) showDirs(b Bucket, name string) {
	c := f.meta.Cache()
	d := name[:strings.LastIndexByte(name, '/')+1]
	for d != "" && d != f.opts.Prefix {
		parent := d[:strings.LastIndexByte(d[:len(d)-1], '/')+1]
		local, ok := localName(d[len(parent) : len(d)-1])
		if !ok {
			return
		}
		if l, cached := c.Listing(dirKey(b, parent)); cached {
			if _, found := findIndex(l, local); found {
				return
			}
		}
		// Also when the listing is not cached: one being fetched
		// keeps the change (see changed).
		e := cache.Entry{Name: local, Dir: true}
		f.changed(b, parent, local, &e)
		d = parent
	}
}
