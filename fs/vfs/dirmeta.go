package vfs

import (
	"context"
	"strconv"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/staging"
)

// This file holds the go-fuse side of POSIX metadata (see posix.go):
// attributes from file info, chmod/chown/utimes, symlinks and extended
// attributes.

// Directory metadata: kept on the directory's .bzEmpty marker, cached
// under markerKey (package listing caches it from complete listings).

// marker returns the .bzEmpty marker of directory prefix: from the cache,
// or (fetch) with one targeted list call. known is false when the answer is
// not cached and fetch is false, or the list call failed.
func (f *FS) marker(ctx context.Context, b Bucket, prefix string, fetch bool) (e cache.Entry, exists, known bool) {
	if sf := f.pendingMarker(b, prefix); sf != nil {
		return stagedEntry(EmptyMarker, sf), true, true
	}
	key := markerKey(b, prefix)
	switch e, r := f.meta.Cache().Lookup(key, EmptyMarker); r {
	case cache.Found:
		return e, true, true
	case cache.NotFound:
		return cache.Entry{}, false, true
	}
	if !fetch || b.ID == "" {
		return cache.Entry{}, false, false
	}
	// A cut subtree listing of an ancestor that continues over this
	// directory answers for its marker too.
	if _, err := f.meta.ContinueTree(ctx, b, prefix); err == nil {
		switch e, r := f.meta.Cache().Lookup(key, EmptyMarker); r {
		case cache.Found:
			return e, true, true
		case cache.NotFound:
			return cache.Entry{}, false, true
		}
	}
	type res struct {
		e  cache.Entry
		ok bool
	}
	v, err, _ := f.markerSF.Do("M"+key, func() (any, error) {
		name := prefix + EmptyMarker
		f.log.Debug("directory metadata lookup", "bucket", b.Name, "marker", name)
		p, err := f.opts.Backend.ListDir(ctx, b, name, "", 1)
		if err != nil {
			return nil, err
		}
		for _, o := range p.Objects {
			if !o.Folder && o.Name == name {
				e := entryFromObject(EmptyMarker, o)
				f.meta.Cache().PutEntry(key, e)
				return res{e, true}, nil
			}
		}
		f.meta.Cache().PutNegative(key, EmptyMarker)
		return res{}, nil
	})
	if err != nil {
		f.log.Debug("directory metadata not available", "dir", fmtPath(b, prefix), "err", err)
		return cache.Entry{}, false, false
	}
	r := v.(res)
	return r.e, r.ok, true
}

// dirMeta applies the metadata of directory prefix (kept on its marker) to
// out. Without fetch and nothing cached, it shortens the attribute timeout
// so that the kernel asks again (Getattr fetches).
func (f *FS) dirMeta(ctx context.Context, b Bucket, prefix string, fetch bool, out *Attr) (known bool) {
	e, ok, known := f.marker(ctx, b, prefix, fetch)
	if ok {
		f.applyMetaEntry(e, out)
		if _, has := e.InfoValue(staging.InfoMtime); has {
			t := e.ModTime
			out.SetTimes(&t, &t, &t)
		}
		setCtime(e, out)
	}
	return known
}

// keepMarkerTimes keeps in memory the times directory prefix shows from
// its marker m, which is about to be removed: a directory's times do not
// change by themselves.
func (f *FS) keepMarkerTimes(b Bucket, prefix string, m cache.Entry) {
	var a Attr
	f.dirAttr(&a)
	if _, has := m.InfoValue(staging.InfoMtime); has {
		a.Mtime = m.ModTime
	}
	setCtime(m, &a)
	f.keepDirTimes(b, prefix, a.Mtime, a.Ctime)
}

// changeDirInfo applies change (and mtime) to the metadata of directory
// prefix: one metadata-replacing copy of its marker, or, for a directory
// that has none (it exists only through the files in it), a new marker.
func (f *FS) changeDirInfo(ctx context.Context, b Bucket, prefix, op string, mtime *time.Time, change infoChange) error {
	if e := f.writable(op, capWrite); e != nil {
		return e
	}
	name := prefix + EmptyMarker
	m, exists, known := f.marker(ctx, b, prefix, true)
	if !known {
		// Ask once more, uncached, so that a failure is reported.
		if _, err := f.opts.Backend.ListDir(ctx, b, name, "", 1); err != nil {
			return f.opErr(op+" "+fmtPath(b, prefix), err)
		}
		m, exists, _ = f.marker(ctx, b, prefix, true)
	}
	info := cloneInfo(m.Info())
	if errno := change(info); errno != nil {
		return errno
	}
	f.dirInodeChanged(b, prefix, mtime)
	if f.markerNotNeeded(info) {
		if done, err := f.dropUnneededMarker(ctx, b, prefix, m, exists); done {
			return f.opErr(op+" "+fmtPath(b, prefix), err)
		}
	}
	if mtime != nil {
		info[staging.InfoMtime] = strconv.FormatInt(mtime.UnixMilli(), 10)
	} else if !exists {
		// A marker made for a chmod, chown or xattr of a directory that
		// had none carries the time the directory shows: those change
		// only its ctime.
		var a Attr
		f.dirAttr(&a)
		f.applyDirTimes(b, prefix, &a)
		info[staging.InfoMtime] = strconv.FormatInt(a.Mtime.UnixMilli(), 10)
	}
	if exists && infoEqual(info, m.Info()) {
		return nil
	}
	if len(info) > maxInfoEntries || infoBytes(name, info) > maxInfoBytes {
		f.log.Error("metadata does not fit B2's file info limits (10 entries, 7000 bytes with the name)", "op", op, "dir", fmtPath(b, prefix), "entries", len(info))
		return errInfoFull
	}
	// psf: the marker uploaded meanwhile but still staged (referenced),
	// whose info was before; it takes the version made below.
	var psf *staging.File
	var before map[string]string
	if f.writeBack() {
		if done, err := f.changePendingMarker(ctx, b, prefix, m, exists, info); done {
			return f.opErr(op+" "+fmtPath(b, prefix), err)
		}
		m, exists, _ = f.marker(ctx, b, prefix, true) // uploaded meanwhile
		if psf = f.pendingMarker(b, prefix); psf != nil {
			before = psf.Info()
		}
	}
	var obj Object
	var err error
	if exists {
		ct := m.ContentType
		if ct == "" {
			ct = dirContentType
		}
		obj, err = f.copyRecorded(ctx, Object{Name: name, FileID: m.FileID, Size: m.Size}, b, name, &CopyMeta{ContentType: ct, Info: info})
	} else {
		obj, err = f.putMarker(ctx, b, name, info)
	}
	if err != nil {
		return f.opErr(op+" "+fmtPath(b, prefix), err)
	}
	if obj.Info == nil {
		obj.Info = info
	}
	if psf != nil && exists {
		// Otherwise the directory would show the staged marker's info
		// and time from before the change while it stays staged.
		psf.RebaseCopy(backend.Object{FileID: obj.FileID, Info: obj.Info}, m.FileID, before)
		if mtime != nil {
			if _, err := psf.SetMtime(ctx, *mtime); err != nil {
				f.log.Warn("staged directory marker keeps its time", "dir", fmtPath(b, prefix), "err", err)
			}
		}
	}
	if exists {
		f.dropVersion(ctx, b, name, m.FileID)
	}
	f.meta.Cache().PutEntry(markerKey(b, prefix), entryFromObject(EmptyMarker, obj))
	return nil
}

// putMarker uploads a directory marker carrying info.
func (f *FS) putMarker(ctx context.Context, b Bucket, name string, info map[string]string) (Object, error) {
	if p, ok := f.opts.Write.Backend.(infoPutter); ok {
		if _, has := info[staging.InfoMtime]; !has {
			info = cloneInfo(info)
			info[staging.InfoMtime] = strconv.FormatInt(time.Now().UnixMilli(), 10)
		}
		return p.PutInfo(ctx, b, name, dirContentType, info, nil)
	}
	return f.opts.Write.Backend.PutEmpty(ctx, b, name)
}

// setDirMeta applies the mode, owner and time changes of a SETATTR to
// directory prefix.
func (f *FS) setDirMeta(ctx context.Context, b Bucket, prefix string, in *SetAttr) error {
	var def Attr
	f.dirAttr(&def)
	change, mt, any := f.setAttrChange(in, def)
	if !any {
		return nil
	}
	return f.changeDirInfo(ctx, b, prefix, "setattr", mt, change)
}

// Symlinks.

// noDirFetchKey marks a context in which child directories' metadata is
// taken from the cache only (READDIRPLUS: listing a directory must not cost
// a call per subdirectory; the kernel asks with Getattr when it needs it).
type noDirFetchKey struct{}

// WithoutDirFetch marks ctx so that directory nodes made under it take
// their metadata from the cache only (READDIRPLUS).
func WithoutDirFetch(ctx context.Context) context.Context {
	return context.WithValue(ctx, noDirFetchKey{}, true)
}

func fetchDirMeta(ctx context.Context) bool { return ctx.Value(noDirFetchKey{}) == nil }

// forgetMarker drops what is cached about the marker of directory prefix
// (after rmdir or a directory rename).
func (f *FS) forgetMarker(b Bucket, prefix string) {
	f.meta.Cache().Invalidate(markerKey(b, prefix), EmptyMarker)
}
