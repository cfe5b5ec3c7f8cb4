package vfs

import (
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// Change times (ctime) and directory times.
//
// A file's ctime is the upload time of its current version (B2's
// uploadTimestamp, in every listing): every change b2fs makes to a file
// (write, truncate, chmod, chown, utimes, xattrs, rename) makes a new
// version, by upload or server-side copy, so the version's upload time is
// the time of the last change, and it survives a remount for free. A
// metadata change not yet copied (see metaflush.go) shows its own time
// until the copy lands. The ctime is never earlier than the mtime.
//
// A directory's mtime and ctime move when an entry is created, removed or
// renamed in it, and its ctime when its mode, owner, times or extended
// attributes change. Those times are kept in memory for the mount
// (dirTimes): entry changes cost no B2 call. Times set explicitly
// (utimes) also go to the directory's marker, as do mode and owner, and
// the marker's upload time is the directory's ctime after a remount.

// maxDirTimes bounds the directories whose times are remembered; past it
// the oldest are forgotten (they show the times stored on their markers).
const maxDirTimes = 50000

// dirStamp is what the mount remembers of one directory's times.
type dirStamp struct {
	mtime, ctime time.Time // zero: not changed during this mount
	seq          uint64    // order of the last change, for eviction
}

// dirTimes remembers directory times set during this mount, by dirKey.
// mu guards the fields below; it is a leaf lock (nothing else is taken
// while holding it).
type dirTimes struct {
	mu  sync.Mutex
	m   map[string]dirStamp
	seq uint64
}

func (d *dirTimes) update(key string, fn func(*dirStamp)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = make(map[string]dirStamp)
	}
	s := d.m[key]
	fn(&s)
	d.seq++
	s.seq = d.seq
	d.m[key] = s
	if len(d.m) > maxDirTimes {
		d.evictLocked()
	}
}

// evictLocked forgets the least recently changed quarter of the entries.
func (d *dirTimes) evictLocked() {
	cut := d.seq - uint64(maxDirTimes*3/4)
	for k, s := range d.m {
		if s.seq <= cut {
			delete(d.m, k)
		}
	}
}

func (d *dirTimes) get(key string) (dirStamp, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.m[key]
	return s, ok
}

// entriesChanged records that an entry of directory prefix was created,
// removed or renamed: its mtime and ctime are now.
func (f *FS) entriesChanged(b Bucket, prefix string) {
	now := dirNow()
	f.dtimes.update(dirKey(b, prefix), func(s *dirStamp) { s.mtime, s.ctime = now, now })
	f.scheduleMarkerTidy(b, prefix)
}

// dirInodeChanged records a change to directory prefix itself (mode,
// owner, xattrs; mtime when set): its ctime is now.
func (f *FS) dirInodeChanged(b Bucket, prefix string, mtime *time.Time) {
	now := dirNow()
	f.dtimes.update(dirKey(b, prefix), func(s *dirStamp) {
		s.ctime = now
		if mtime != nil {
			s.mtime = mtime.Truncate(time.Millisecond)
		}
	})
}

// dirNow is the time of a directory change: in milliseconds, as B2 keeps
// times (a marker stores them so), so that a directory shows the same
// time before and after a remount.
func dirNow() time.Time { return time.Now().Truncate(time.Millisecond) }

// keepDirTimes remembers times t (mtime) and c (ctime) of directory
// prefix, read from its marker, unless the mount changed them already: a
// marker about to be removed no longer shows them, and a directory's
// times do not change by themselves.
func (f *FS) keepDirTimes(b Bucket, prefix string, t, c time.Time) {
	f.dtimes.update(dirKey(b, prefix), func(s *dirStamp) {
		if s.mtime.IsZero() {
			s.mtime = t
		}
		if s.ctime.IsZero() {
			s.ctime = c
		}
	})
}

// dirRemoved forgets the times of directory prefix and everything below
// it (rmdir, or the source of a directory rename).
func (f *FS) dirRemoved(b Bucket, prefix string) {
	f.cancelMarkerTidy(b, prefix)
	key := dirKey(b, prefix)
	f.dtimes.mu.Lock()
	defer f.dtimes.mu.Unlock()
	for k := range f.dtimes.m {
		if strings.HasPrefix(k, key) {
			delete(f.dtimes.m, k)
		}
	}
}

// dirRenamed moves the times of directory from (and below) to to; the
// renamed directory's ctime is now.
func (f *FS) dirRenamed(sb Bucket, from string, db Bucket, to string) {
	f.cancelMarkerTidy(sb, from)
	src, dst := dirKey(sb, from), dirKey(db, to)
	f.dtimes.mu.Lock()
	moved := map[string]dirStamp{}
	for k, s := range f.dtimes.m {
		if strings.HasPrefix(k, src) {
			moved[dst+k[len(src):]] = s
			delete(f.dtimes.m, k)
		}
	}
	for k := range f.dtimes.m {
		if strings.HasPrefix(k, dst) {
			delete(f.dtimes.m, k)
		}
	}
	for k, s := range moved {
		f.dtimes.m[k] = s
	}
	f.dtimes.mu.Unlock()
	f.dirInodeChanged(db, to, nil)
}

// applyDirTimes overrides out's times for directory prefix with those
// changed during this mount.
func (f *FS) applyDirTimes(b Bucket, prefix string, out *Attr) {
	s, ok := f.dtimes.get(dirKey(b, prefix))
	if !ok {
		return
	}
	if !s.mtime.IsZero() {
		out.Mtime = s.mtime
	}
	if !s.ctime.IsZero() {
		out.Ctime = s.ctime
	}
}

// setCtime sets out's ctime for entry e: its version's upload time (or a
// pending change's time), never before its mtime.
func setCtime(e cache.Entry, out *Attr) {
	c := e.Changed()
	if c.Before(out.Mtime) {
		c = out.Mtime
	}
	out.Ctime = c
}
