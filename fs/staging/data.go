package staging

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
)

// The staged content: writes, truncation and reads, with the ranges still
// only in B2 fetched on demand (see rangeSet).

// lockMutable locks mu and waits until no Flush is uploading.
func (f *File) lockMutable(ctx context.Context) error {
	f.mu.Lock()
	for f.gate != nil {
		g := f.gate
		f.mu.Unlock()
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
		f.mu.Lock()
	}
	return nil
}

// lockMutableUnsettled is lockMutable for a change to the data file: the
// manifest on disk says "unsettled" before mu is returned held.
func (f *File) lockMutableUnsettled(ctx context.Context) error {
	for {
		if err := f.lockMutable(ctx); err != nil {
			return err
		}
		// A detached file saves no manifest (it is never recovered), so
		// it would stay settled forever.
		if !f.settled || f.detached {
			return nil
		}
		f.mu.Unlock()
		if err := f.writeManifest(false, false); err != nil {
			f.m.log.Error("write staging manifest", "err", err)
		}
	}
}

// touchLocked records a change to [off, end). Called with mu held.
func (f *File) touchLocked(off, end int64) {
	f.gen++
	if end <= off {
		end = off + 1
	}
	ps := f.partSize()
	for k := off / ps; k <= (end-1)/ps; k++ {
		f.partGen[k] = f.gen
		f.pending[k] = true
	}
	if !f.dirty {
		f.dirty = true
		f.dirtySince = f.m.opts.Now()
	}
	f.state = StateDirty
}

// hashWriteLocked extends the running SHA-1 with a write of p at off, or
// drops it when the write is not sequential.
func (f *File) hashWriteLocked(p []byte, off int64) {
	switch {
	case f.hash == nil:
	case off == f.hashOff:
		f.hash.Write(p)
		f.hashOff += int64(len(p))
	default:
		f.hash = nil
	}
}

// wholeSHA1 returns the SHA-1 of the first size bytes when the running
// hash covers exactly them.
func (f *File) wholeSHA1(size int64) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hash == nil || f.hashOff != size {
		return "", false
	}
	return hex.EncodeToString(f.hash.Sum(nil)), true
}

// reserveLocked accounts for n more bytes held in the data file (n may be
// negative). Growth beyond Options.MaxSize fails with ENOSPC unless force.
// Called with mu held.
func (f *File) reserveLocked(n int64, force bool) error {
	if n == 0 {
		return nil
	}
	if force || n < 0 {
		f.m.used.Add(n)
		if n < 0 {
			f.m.freed()
		}
	} else if err := f.m.reserve(n); err != nil {
		return err
	}
	f.reserved += n
	return nil
}

// heldLocked returns the bytes the data file really holds: local ranges
// below remoteEnd and everything from remoteEnd to the end (holes of a
// sparse file that are still only in B2 take no space). Called with mu
// held.
func (f *File) heldLocked() int64 {
	return f.local.coveredLen(0, f.remoteEnd) + f.size - f.remoteEnd
}

// WriteAt writes p at off. It fails with ENOSPC when the staging
// directory is full (or over MaxSize) and EFBIG past B2's size limit.
func (f *File) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errs.ErrInvalid
	}
	return f.writeWaiting(ctx, p, off, false)
}

// Append writes p at the end of the file (O_APPEND).
func (f *File) Append(ctx context.Context, p []byte) (int, error) {
	return f.writeWaiting(ctx, p, 0, true)
}

// retryAfterSpace reports whether err is a full disk and the read cache
// gave its space back (staged data always comes first).
func (f *File) retryAfterSpace(err error) bool {
	return errors.Is(err, errs.ErrNoSpace) && f.m.keep != nil && f.m.keep.Shrink()
}

func (f *File) write(ctx context.Context, p []byte, off int64, appending bool) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return 0, err
	}
	if appending {
		off = f.size
	}
	end := off + int64(len(p))
	if end > MaxParts*f.partSize() {
		f.mu.Unlock()
		return 0, fmt.Errorf("write past %d bytes (%d parts of %d): %w", MaxParts*f.partSize(), MaxParts, f.partSize(), errs.ErrTooBig)
	}
	wasDirty := f.dirty
	// New bytes held: gaps below remoteEnd this write fills, and growth.
	var grow int64
	if off < f.remoteEnd {
		for _, g := range f.local.gaps(off, min(end, f.remoteEnd)) {
			grow += g.End - g.Off
		}
	}
	if end > f.size {
		grow += end - f.size
	}
	if err := f.reserveLocked(grow, false); err != nil {
		f.mu.Unlock()
		return 0, err
	}
	n, werr := f.data.WriteAt(p, off)
	if n > 0 {
		f.hashWriteLocked(p[:n], off)
		f.local.add(off, off+int64(n))
		if off+int64(n) > f.size {
			f.size = off + int64(n)
		}
		f.touchLocked(off, off+int64(n))
		f.mtime = f.m.now()
		f.changed = f.mtime
		f.mtimeSet = false
	}
	f.mu.Unlock()
	if !wasDirty {
		f.saveManifest()
	}
	f.kick()
	if werr != nil {
		return n, fmt.Errorf("write staging file %s: %w", f.dataPath, werr)
	}
	return n, nil
}

// Truncate sets the file's size.
func (f *File) Truncate(ctx context.Context, size int64) error {
	if size < 0 {
		return errs.ErrInvalid
	}
	if size > MaxParts*f.partSize() {
		return errs.ErrTooBig
	}
	if err := f.lockMutableUnsettled(ctx); err != nil {
		return err
	}
	old := f.size
	if size > old {
		if err := f.reserveLocked(size-old, false); err != nil {
			f.mu.Unlock()
			return err
		}
	}
	if err := f.data.Truncate(size); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("truncate staging file %s: %w", f.dataPath, err)
	}
	if size < old {
		if f.hash != nil && size < f.hashOff {
			f.hash = nil
		}
		f.local.clip(size)
		if f.remoteEnd > size {
			f.remoteEnd = size
		}
	}
	f.size = size
	if size < old {
		f.reserveLocked(f.heldLocked()-f.reserved, true)
	}
	if size != old {
		f.touchLocked(min(old, size), max(old, size))
		f.mtime = f.m.now()
		f.changed = f.mtime
	}
	f.mu.Unlock()
	f.saveManifest()
	f.kick()
	return nil
}

// SetMtime sets the modification time. If the file has pending changes the
// new time is uploaded with them and absorbed is true; otherwise the caller
// must change the time of the B2 version itself (a metadata-replacing copy)
// and then call Rebase.
func (f *File) SetMtime(ctx context.Context, t time.Time) (absorbed bool, err error) {
	if err := f.lockMutable(ctx); err != nil {
		return false, err
	}
	f.mtime = t.Truncate(time.Millisecond)
	f.mtimeSet = true
	f.changed = f.m.now()
	// An unlinked file never reaches B2 again: nothing left to do. One
	// let go after its upload absorbs nothing: the caller changes the
	// uploaded version.
	absorbed = f.dirty || f.unlinked
	if f.dirty {
		f.gen++
	}
	f.mu.Unlock()
	if absorbed {
		f.persistMeta()
		f.m.noteChange(f)
	}
	return absorbed, nil
}

// Rebase records that version v (same content) now backs the file, e.g.
// after a metadata-replacing copy.
func (f *File) Rebase(v backend.Object) {
	f.mu.Lock()
	if !f.dirty {
		f.baseID = v.FileID
		f.baseGen++
	}
	if v.Info != nil {
		f.info = extraInfo(v.Info)
		f.baseLargeSHA = v.Info[InfoLargeFileSHA]
	}
	f.mu.Unlock()
	f.saveManifest()
}

// RebaseCopy records that version v, a metadata-replacing copy of version
// from made with the file info before (Info when the copy started), now
// backs the file in place of from: the bytes still only in B2 are read from
// v (from may be deleted next), also when the file has changes of its own.
// A change of the info made through the file while the copy ran (SetInfo
// of a file with changes to upload) is kept on top of v's info, so that the
// next upload carries it. When the file's base is no longer from (an upload
// of it landed meanwhile, with its own info), nothing changes.
func (f *File) RebaseCopy(v backend.Object, from string, before map[string]string) {
	f.mu.Lock()
	if f.baseID != from || from == "" {
		f.mu.Unlock()
		return
	}
	f.baseID = v.FileID
	f.baseGen++
	if v.Info != nil {
		info := extraInfo(v.Info)
		keepChanges(info, extraInfo(before), f.info)
		f.info = info
		f.baseLargeSHA = v.Info[InfoLargeFileSHA]
	}
	f.mu.Unlock()
	f.saveManifest()
}

// keepChanges applies to info every key whose value (or presence) differs
// between before and now.
func keepChanges(info, before, now map[string]string) {
	for k, v := range now {
		if bv, ok := before[k]; !ok || bv != v {
			info[k] = v
		}
	}
	for k := range before {
		if _, ok := now[k]; !ok {
			delete(info, k)
		}
	}
}

// ReadAt reads from the staged content, fetching ranges that are still only
// in B2.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errs.ErrInvalid
	}
	for attempt := 0; attempt < 8; attempt++ {
		f.mu.Lock()
		if off >= f.size {
			f.mu.Unlock()
			return 0, io.EOF
		}
		n := min(int64(len(p)), f.size-off)
		re := min(off+n, f.remoteEnd)
		var gaps []span
		if re > off {
			gaps = f.local.gaps(off, re)
		}
		if len(gaps) == 0 {
			got, err := f.data.ReadAt(p[:n], off)
			f.mu.Unlock()
			if err == io.EOF && int64(got) == n {
				err = nil
			}
			if err != nil {
				return got, fmt.Errorf("read staging file %s: %w", f.dataPath, err)
			}
			if int64(got) < int64(len(p)) {
				return got, io.EOF
			}
			return got, nil
		}
		baseID, baseGen, remoteEnd := f.baseID, f.baseGen, f.remoteEnd
		f.mu.Unlock()
		rs := f.m.opts.ReadSize
		for _, g := range gaps {
			a := g.Off / rs * rs
			b := min((g.End+rs-1)/rs*rs, remoteEnd)
			if err := f.fetch(ctx, baseID, baseGen, a, b); err != nil {
				return 0, err
			}
		}
	}
	return 0, fmt.Errorf("read %s: content kept changing: %w", f.key, errs.ErrIO)
}

// fetch downloads [a, b) of version baseID (or reads it from the read
// cache, readKept) and stores the bytes that are still missing locally.
// Data for a base that changed meanwhile is dropped, and so is a failure
// to read it (a metadata copy rebases the file, then deletes the version
// it replaced): the caller fetches the gaps again, from the new base.
func (f *File) fetch(ctx context.Context, baseID string, baseGen uint64, a, b int64) error {
	const chunk = 4 << 20
	if baseID == "" {
		return fmt.Errorf("fetch %s: no base version: %w", f.key, errs.ErrIO)
	}
	f.mu.Lock()
	baseSize := f.baseSize
	f.mu.Unlock()
	for a < b {
		n := min(b-a, chunk)
		buf := make([]byte, n)
		if !f.m.readKept(baseID, baseSize, buf, a) {
			rc, err := f.m.opts.Remote.Download(ctx, baseID, a, n)
			if err == nil {
				_, err = io.ReadFull(rc, buf)
				rc.Close()
			}
			if err != nil {
				if f.baseMoved(baseGen) {
					return nil
				}
				return fmt.Errorf("fetch %s [%d,%d): %w", f.key, a, a+n, err)
			}
		}
		f.mu.Lock()
		if f.baseGen == baseGen {
			for _, g := range f.local.gaps(a, min(a+n, f.remoteEnd)) {
				if _, err := f.data.WriteAt(buf[g.Off-a:g.End-a], g.Off); err != nil {
					f.mu.Unlock()
					return fmt.Errorf("fetch %s: write staging file: %w", f.key, err)
				}
				f.local.add(g.Off, g.End)
				// Fetched bytes count, but never fail a read or an upload.
				f.reserveLocked(g.End-g.Off, true)
			}
		}
		f.mu.Unlock()
		a += n
	}
	return nil
}

// fill makes [a, b) local, fetching what is only in B2.
func (f *File) fill(ctx context.Context, a, b int64) error {
	for attempt := 0; attempt < 8; attempt++ {
		f.mu.Lock()
		re := min(b, f.remoteEnd)
		var gaps []span
		if re > a {
			gaps = f.local.gaps(a, re)
		}
		baseID, baseGen := f.baseID, f.baseGen
		f.mu.Unlock()
		if len(gaps) == 0 {
			return nil
		}
		for _, g := range gaps {
			if err := f.fetch(ctx, baseID, baseGen, g.Off, g.End); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("fill %s: its version in B2 kept changing: %w", f.key, errs.ErrIO)
}

// baseMoved reports whether the file's base changed since generation gen.
func (f *File) baseMoved(gen uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.baseGen != gen
}
