package vfs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/staging"
)

// Directory markers only where they are needed.
//
// A B2 "folder" exists while some name starts with its prefix; a
// directory's .bzEmpty marker keeps an empty directory in existence and
// carries the directory's mode, owner, times and extended attributes. Other
// tools (rclone, the B2 CLI, the web UI) list markers as files, so b2fs
// keeps one only where it is needed: while the directory is empty, or when
// its mode, owner or extended attributes differ from the mount's defaults.
// A directory's times alone do not keep a marker: they are kept in memory
// for the mount (ctime.go) and on the marker when there is one.
//
// Markers are tidied after the fact, per directory whose entries changed,
// once the changes settle (markerSettle, debounced; a directory being
// filled is checked once at the end):
//   - it has entries in B2 and a marker with default metadata: the marker
//     is removed (one hide or delete, Class A);
//   - it is empty and has no marker (its last entry went away): a marker is
//     written (one upload, Class A), or the directory would vanish.
//
// Deciding costs no call when the directory's listing and marker are cached
// (they are after the operations that change entries), else one list call.
// rmdir and renaming the directory cancel the check; fsync of the directory,
// renaming it and unmounting run it at once (flushMetaWhere).
// WriteOptions.KeepDirMarkers turns all this off (every directory keeps its
// marker, as mkdir wrote it).

// markerSettle is the least time between a directory's last entry change
// and its marker check; markerMaxWait bounds the wait for a directory that
// keeps changing.
const (
	markerSettle  = time.Second
	markerMaxWait = 30 * time.Second
)

// markerTidy is a directory waiting for its marker check.
type markerTidy struct {
	b           Bucket
	prefix      string
	first, last time.Time // first and latest change since the last check
	timer       *time.Timer
}

// markerQueue holds the directories waiting for their marker check, by
// dirKey. mu guards m; it is a leaf lock, never held across a B2 call.
type markerQueue struct {
	mu sync.Mutex
	m  map[string]*markerTidy
}

// scheduleMarkerTidy (re)starts the settle timer of directory prefix.
func (f *FS) scheduleMarkerTidy(b Bucket, prefix string) {
	if f.opts.Write.KeepDirMarkers || prefix == f.opts.Prefix || f.opts.Write.Staging == nil {
		return
	}
	d := max(f.opts.Write.MetadataDelay, markerSettle)
	key := dirKey(b, prefix)
	q := &f.markers
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = make(map[string]*markerTidy)
	}
	now := time.Now()
	if t := q.m[key]; t != nil {
		t.last = now // the timer, when it fires, waits for the rest
		return
	}
	t := &markerTidy{b: b, prefix: prefix, first: now, last: now}
	q.m[key] = t
	t.timer = time.AfterFunc(d, func() { f.runMarkerTidy(key, t, d) })
}

// take removes the pending check of key if it is still t and has settled
// (d since its last change, or markerMaxWait since its first); otherwise
// it re-arms t's timer for the rest of the wait.
func (q *markerQueue) take(key string, t *markerTidy, d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m[key] != t {
		return false
	}
	if rest := d - time.Since(t.last); rest > 0 && time.Since(t.first) < markerMaxWait {
		t.timer.Reset(rest)
		return false
	}
	delete(q.m, key)
	return true
}

func (f *FS) runMarkerTidy(key string, t *markerTidy, d time.Duration) {
	if !f.track() {
		return // shut down (FlushMetadata ran the pending checks)
	}
	defer f.bg.Done()
	if f.stopped.Load() || !f.markers.take(key, t, d) {
		return
	}
	ctx, cancel := context.WithTimeout(f.life, 2*time.Minute)
	defer cancel()
	if again := f.tidyMarker(ctx, t.b, t.prefix); again {
		f.scheduleMarkerTidy(t.b, t.prefix)
	}
}

// cancelMarkerTidy drops the pending checks of directory prefix and every
// directory below it (rmdir, or the source of a directory rename).
func (f *FS) cancelMarkerTidy(b Bucket, prefix string) {
	key := dirKey(b, prefix)
	q := &f.markers
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, t := range q.m {
		if strings.HasPrefix(k, key) {
			t.timer.Stop()
			delete(q.m, k)
		}
	}
}

// flushMarkerTidy runs at once the pending checks of the directories for
// which match holds (nil: all).
func (f *FS) flushMarkerTidy(ctx context.Context, match func(b Bucket, dir string) bool) {
	q := &f.markers
	q.mu.Lock()
	var run []*markerTidy
	for k, t := range q.m {
		if match == nil || match(t.b, t.prefix) {
			t.timer.Stop()
			delete(q.m, k)
			run = append(run, t)
		}
	}
	q.mu.Unlock()
	for _, t := range run {
		f.tidyMarker(ctx, t.b, t.prefix)
	}
}

// PendingMarkerChecks counts the directories waiting for their marker
// check.
func (f *FS) PendingMarkerChecks() int {
	f.markers.mu.Lock()
	defer f.markers.mu.Unlock()
	return len(f.markers.m)
}

// defaultDirInfo reports whether a marker's info holds nothing but what a
// directory without a marker shows anyway: the default mode and owner, and
// times.
func (f *FS) defaultDirInfo(info map[string]string) bool {
	for k, v := range info {
		switch k {
		case staging.InfoMtime:
		case InfoMode:
			if m, err := strconv.ParseUint(v, 8, 32); err != nil || uint32(m) != f.opts.DirMode&0o7777 {
				return false
			}
		case InfoUID:
			if v != strconv.FormatUint(uint64(f.opts.UID), 10) {
				return false
			}
		case InfoGID:
			if v != strconv.FormatUint(uint64(f.opts.GID), 10) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// markerNotNeeded reports whether a directory that has no marker (it exists
// through its entries) needs none for metadata info.
func (f *FS) markerNotNeeded(info map[string]string) bool {
	return !f.opts.Write.KeepDirMarkers && f.defaultDirInfo(info)
}

// dropUnneededMarker handles a change that leaves directory prefix with
// default metadata (changeDirInfo): without a marker nothing is written
// (its times stay in memory); with one, in a directory whose cached listing
// shows entries, the marker is removed rather than rewritten (one hide
// instead of a copy and a delete). done is false when the caller should
// write the marker as usual (a marker check follows).
func (f *FS) dropUnneededMarker(ctx context.Context, b Bucket, prefix string, m cache.Entry, exists bool) (done bool, err error) {
	if !exists {
		return true, nil
	}
	if f.pendingMarker(b, prefix) != nil {
		return f.dropPendingMarker(ctx, b, prefix, m)
	}
	if !f.hasEntriesCached(b, prefix) {
		f.scheduleMarkerTidy(b, prefix)
		return false, nil
	}
	f.keepMarkerTimes(b, prefix, m)
	if err := f.remove(ctx, b, prefix+EmptyMarker); err != nil {
		return true, fmt.Errorf("remove the marker: %w", err)
	}
	f.meta.Cache().PutNegative(markerKey(b, prefix), EmptyMarker)
	f.log.Debug("directory marker removed: the directory has entries and default metadata", "dir", fmtPath(b, prefix))
	return true, nil
}

// markersMoved records the markers a directory rename copied from the
// tree from to the tree to (objs and their copies, dirs every directory
// moved): the moved directories show their metadata at once, without a
// call, also in a listing of their new parent (READDIRPLUS, which does not
// fetch a marker it does not know).
func (f *FS) markersMoved(db Bucket, from, to string, objs, copies []Object, dirs map[string]bool) {
	moved := make(map[string]Object)
	for i, o := range objs {
		if d, ok := strings.CutSuffix(o.Name, EmptyMarker); ok && (d == "" || strings.HasSuffix(d, "/")) && i < len(copies) {
			c := copies[i]
			if c.Info == nil {
				c.Info = o.Info
			}
			moved[d] = c
		}
	}
	for d := range dirs {
		key := markerKey(db, to+d[len(from):])
		if c, ok := moved[d]; ok {
			f.meta.Cache().PutEntry(key, entryFromObject(EmptyMarker, c))
		} else {
			f.meta.Cache().PutNegative(key, EmptyMarker)
		}
	}
}

// hasEntriesCached reports whether the cached listing of directory prefix
// shows entries stored in B2 (false when it is not cached).
func (f *FS) hasEntriesCached(b Bucket, prefix string) bool {
	l, ok := f.meta.Cache().Listing(dirKey(b, prefix))
	if !ok {
		return false
	}
	for _, e := range l {
		if e.Dir || e.FileID != "" {
			return true
		}
	}
	return false
}

// dirContents tells whether directory prefix has entries in B2 (inB2),
// and whether files not yet uploaded are in it (staged): from the cached
// listing when there is one, else with one list call.
func (f *FS) dirContents(ctx context.Context, b Bucket, prefix string) (inB2, staged bool, err error) {
	staged = f.hasPendingEntries(b, prefix)
	if l, ok := f.meta.Cache().Listing(dirKey(b, prefix)); ok {
		for _, e := range l {
			if e.Dir || e.FileID != "" {
				return true, staged, nil
			}
		}
		return false, staged, nil
	}
	p, err := f.opts.Backend.ListDir(ctx, b, prefix, "", 3)
	if err != nil {
		return false, staged, err
	}
	for _, o := range p.Objects {
		if o.Name != prefix+EmptyMarker {
			return true, staged, nil
		}
	}
	return p.Next != "", staged, nil
}

// tidyMarker applies the marker rule to directory prefix; again reports
// that it could not decide yet (files still being uploaded).
func (f *FS) tidyMarker(ctx context.Context, b Bucket, prefix string) (again bool) {
	inB2, staged, err := f.dirContents(ctx, b, prefix)
	if err != nil {
		f.log.Warn("directory marker check failed; the marker stays as it is", "dir", fmtPath(b, prefix), "err", err)
		return false
	}
	m, exists, known := f.marker(ctx, b, prefix, true)
	if !known {
		f.log.Warn("directory marker check: marker state unknown; left as it is", "dir", fmtPath(b, prefix))
		return false
	}
	name := prefix + EmptyMarker
	if f.pendingMarker(b, prefix) != nil {
		// Kept while needed; else dropped, never uploaded.
		if (inB2 || staged) && f.defaultDirInfo(m.Info()) {
			if err := f.detachPendingMarker(ctx, b, prefix, m); err != nil {
				f.log.Warn("removing a directory marker no longer needed failed; it stays", "dir", fmtPath(b, prefix), "err", err)
			}
		}
		return false
	}
	switch {
	case inB2 && exists && f.defaultDirInfo(m.Info()):
		f.keepMarkerTimes(b, prefix, m)
		if err := f.remove(ctx, b, name); err != nil {
			f.log.Warn("removing a directory marker no longer needed failed; it stays", "dir", fmtPath(b, prefix), "err", err)
			return false
		}
		f.meta.Cache().PutNegative(markerKey(b, prefix), EmptyMarker)
		f.log.Debug("directory marker removed: the directory has entries and default metadata", "dir", fmtPath(b, prefix))
	case !inB2 && staged:
		return true // decided once the files are uploaded
	case !inB2 && !exists:
		info := map[string]string{}
		setOwnerMode(info, f.opts.DirMode, f.opts.UID, f.opts.GID)
		mt := time.Now()
		if s, ok := f.dtimes.get(dirKey(b, prefix)); ok && !s.mtime.IsZero() {
			mt = s.mtime
		}
		info[staging.InfoMtime] = strconv.FormatInt(mt.UnixMilli(), 10)
		if f.writeBack() {
			if _, err := f.stageMarker(ctx, b, prefix, "", info, mt); err != nil {
				f.log.Error("writing the marker of a directory that became empty failed; it may vanish from B2", "dir", fmtPath(b, prefix), "err", err)
			}
			return false
		}
		obj, err := f.putMarker(ctx, b, name, info)
		if err != nil {
			f.log.Error("writing the marker of a directory that became empty failed; it may vanish from B2", "dir", fmtPath(b, prefix), "err", err)
			return false
		}
		if obj.Info == nil {
			obj.Info = info
		}
		f.meta.Cache().PutEntry(markerKey(b, prefix), entryFromObject(EmptyMarker, obj))
		f.log.Debug("directory marker written: the directory became empty", "dir", fmtPath(b, prefix))
	}
	return false
}
