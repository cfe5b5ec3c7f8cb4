package vfs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/staging"
	"golang.org/x/sync/errgroup"
)

// Deferred metadata of closed files.
//
// chmod, chown, utimes and xattr changes on a file that no handle has open
// are applied to the inode at once (stat shows them) and sent to B2 later,
// as one metadata-replacing copy for all the changes made in the window:
//   - folded into the copy of a rename of the file (no copy of their own);
//   - at fsync of a handle on the file, or of its directory;
//   - WriteOptions.MetadataDelay after the first change;
//   - at unmount (FlushMetadata).
//
// The file's data is never deferred: it reaches B2 at close and fsync.
//
// LOCK ORDER: metaQueue.mu and File.mu are never held together.

// maxMetaAttempts bounds the background attempts of one pending change;
// after that it stays pending (and counted) until fsync, a rename or
// unmount applies it.
const maxMetaAttempts = 5

// metaFlushConcurrency bounds the background metadata copies running at
// once.
const metaFlushConcurrency = 4

// pendingMeta is a metadata change of a closed file not yet in B2. The
// fields are guarded by the File's mu.
type pendingMeta struct {
	base    string            // FileID the change applies to
	size    int64             // its size
	ct      string            // its content type
	info    map[string]string // the complete info of the new version
	orig    map[string]string // the info of base
	modTime time.Time
	changed time.Time // when the change was made (the file's ctime)

	flushing bool          // a copy carrying it is in flight
	done     chan struct{} // closed when that copy ends
	err      error         // its result
	timer    *time.Timer
	attempts int
}

// metaQueue tracks the nodes with pending metadata.
type metaQueue struct {
	mu    sync.Mutex // guards nodes
	nodes map[*File]struct{}
	sem   chan struct{} // bounds background flushes
}

func newMetaQueue() *metaQueue {
	return &metaQueue{nodes: map[*File]struct{}{}, sem: make(chan struct{}, metaFlushConcurrency)}
}

func (q *metaQueue) add(n *File) {
	q.mu.Lock()
	q.nodes[n] = struct{}{}
	q.mu.Unlock()
}

func (q *metaQueue) remove(n *File) {
	q.mu.Lock()
	delete(q.nodes, n)
	q.mu.Unlock()
}

// stopTimers stops the timers of every pending change (at shutdown).
func (q *metaQueue) stopTimers() {
	for _, n := range q.snapshot() {
		n.mu.Lock()
		if p := n.pend; p != nil && p.timer != nil {
			p.timer.Stop()
		}
		n.mu.Unlock()
	}
}

func (q *metaQueue) snapshot() []*File {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*File, 0, len(q.nodes))
	for n := range q.nodes {
		out = append(out, n)
	}
	return out
}

// overlay returns e with the pending metadata of n applied (when it
// describes the version the change applies to).
func (n *File) overlay(e cache.Entry) cache.Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.overlayLocked(e)
}

func (n *File) overlayLocked(e cache.Entry) cache.Entry {
	if p := n.pend; p != nil && e.FileID == p.base && !e.Dir {
		e.SetInfo(p.info)
		if !p.modTime.IsZero() {
			e.ModTime = p.modTime
		}
		e.SetChanged(p.changed)
	}
	return e
}

// pendingOn reports whether n has a pending change of version id.
func (n *File) pendingOn(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pend != nil && n.pend.base == id
}

// hasPending reports whether n has a pending change (perhaps being copied).
func (n *File) hasPending() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pend != nil
}

// deferInfo records info (the complete new info of the version base) as
// pending for n and returns the entry to show.
func (f *FS) deferInfo(n *File, base cache.Entry, info map[string]string) cache.Entry {
	mt := base.ModTime
	if v, ok := info[staging.InfoMtime]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			mt = time.UnixMilli(ms)
		}
	}
	n.mu.Lock()
	p := n.pend
	if p == nil || p.flushing {
		np := &pendingMeta{base: base.FileID, size: base.Size, ct: base.ContentType, orig: n.entryInfoLocked(base)}
		if p != nil {
			// The copy in flight carries the older change; this one
			// follows it (rebased when it lands).
			np.base, np.size, np.ct, np.orig = p.base, p.size, p.ct, p.orig
		}
		p = np
		n.pend = p
		p.timer = time.AfterFunc(f.opts.Write.MetadataDelay, func() { f.flushLater(n, p) })
	}
	p.info, p.modTime, p.changed = info, mt, time.Now()
	e := n.overlayLocked(base)
	n.mu.Unlock()
	f.mq.add(n)
	return e
}

// entryInfoLocked is the info of version base as B2 has it: the entry's
// (no pending change applies to it yet).
func (n *File) entryInfoLocked(base cache.Entry) map[string]string {
	if n.pend == nil {
		return base.Info()
	}
	return n.pend.orig
}

// claimMeta waits for a copy of n's pending metadata in flight and then
// claims the pending change for the caller (nil when there is none). The
// caller must end the claim with releaseMeta.
func (f *FS) claimMeta(ctx context.Context, n *File) (*pendingMeta, error) {
	for {
		n.mu.Lock()
		p := n.pend
		if p == nil {
			n.mu.Unlock()
			return nil, nil
		}
		if !p.flushing {
			p.flushing, p.done, p.err = true, make(chan struct{}), nil
			if p.timer != nil {
				p.timer.Stop()
			}
			n.mu.Unlock()
			return p, nil
		}
		ch := p.done
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// releaseMeta ends a claim. With err nil the change is in B2 as version
// newID (or superseded, newID ""): a change made meanwhile now applies to
// newID. With an error the change stays pending.
func (f *FS) releaseMeta(n *File, p *pendingMeta, newID string, err error) {
	n.mu.Lock()
	p.flushing, p.err = false, err
	close(p.done)
	cleared := false
	if err != nil {
		p.attempts++
	} else if n.pend == p {
		n.pend, cleared = nil, true
	} else if n.pend != nil && newID != "" {
		n.pend.base = newID
	}
	n.mu.Unlock()
	if cleared {
		f.mq.remove(n)
	}
}

// mergeInto applies the pending change to info, the info of a staged file
// that may have changes of its own (made later, so they win): each key the
// pending change set or removed is taken over where info still has the
// value it had before the change.
func (p *pendingMeta) mergeInto(info map[string]string) {
	keys := map[string]bool{}
	for k := range p.info {
		keys[k] = true
	}
	for k := range p.orig {
		keys[k] = true
	}
	for k := range keys {
		if k == staging.InfoMtime || k == staging.InfoLargeFileSHA {
			continue // the staged file keeps its own time; content decides the hash
		}
		nv, nok := p.info[k]
		ov, ook := p.orig[k]
		if nv == ov && nok == ook {
			continue
		}
		if cv, cok := info[k]; cv != ov || cok != ook {
			continue
		}
		if nok {
			info[k] = nv
		} else {
			delete(info, k)
		}
	}
}

// unclaimMeta ends a claim that did nothing: the change stays pending.
func (f *FS) unclaimMeta(n *File, p *pendingMeta) {
	n.mu.Lock()
	p.flushing, p.err = false, nil
	close(p.done)
	if n.pend == p && p.timer != nil {
		p.timer.Reset(f.opts.Write.MetadataDelay)
	}
	n.mu.Unlock()
}

// stagedView is the entry of n's staged file sf, with pending metadata
// shown while sf has no changes of its own.
func (n *File) stagedView(name string, sf *staging.File) cache.Entry {
	e := stagedEntry(name, sf)
	if !sf.Dirty() {
		e = n.overlay(e)
	}
	return e
}

// supersedeMeta forgets n's pending metadata once this mount uploaded
// version id of the file: the upload carried the inode's metadata.
func (f *FS) supersedeMeta(n *File, id string) {
	n.mu.Lock()
	p := n.pend
	drop := p != nil && !p.flushing && p.base != id
	if drop {
		n.pend = nil
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	n.mu.Unlock()
	if drop {
		f.mq.remove(n)
	}
}

// dropMeta forgets n's pending metadata (the file was removed or
// replaced), after any copy of it in flight. sf, when not nil, is the
// file's staged copy, which its open handles keep using: once detached
// (or with changes) it takes the change, so that they show it.
func (f *FS) dropMeta(ctx context.Context, n *File, sf *staging.File) {
	p, err := f.claimMeta(ctx, n)
	if err != nil || p == nil {
		return
	}
	if sf != nil {
		// The file goes: its handles show the change (its staged copy
		// takes it, uploaded only if the copy has changes of its own).
		err := sf.ShowInfo(ctx, p.mergeInto)
		if err == nil && !p.modTime.IsZero() && p.info[staging.InfoMtime] != p.orig[staging.InfoMtime] {
			sf.SetMtime(ctx, p.modTime)
		}
	}
	f.releaseMeta(n, p, "", nil)
}

// flushMeta sends n's pending metadata to B2 (one metadata-replacing
// copy).
func (f *FS) flushMeta(ctx context.Context, n *File) error {
	return f.sendMeta(ctx, n, false)
}

// absorbMeta hands n's pending metadata to its staged file when that has
// changes to upload (free); otherwise the change stays pending.
func (f *FS) absorbMeta(ctx context.Context, n *File) error {
	return f.sendMeta(ctx, n, true)
}

func (f *FS) sendMeta(ctx context.Context, n *File, absorbOnly bool) error {
	p, err := f.claimMeta(ctx, n)
	if err != nil || p == nil {
		return err
	}
	if n.isGone() {
		f.releaseMeta(n, p, "", nil) // unlinked or replaced: nothing of it goes to B2
		return nil
	}
	b, dir, name := n.loc()
	full := childName(dir, name)
	sf := f.staged(b, full)
	if absorbOnly && (sf == nil || !sf.Dirty()) {
		f.unclaimMeta(n, p)
		return nil
	}
	if sf != nil {
		// Opened since: a handle's upload takes the change for free.
		absorbed, err := sf.SetInfo(ctx, func(info map[string]string) error {
			p.mergeInto(info)
			return nil
		})
		if err != nil {
			f.releaseMeta(n, p, "", err)
			return fmt.Errorf("metadata of %s: %w", fmtPath(b, full), err)
		}
		if absorbed {
			f.releaseMeta(n, p, "", nil)
			return nil
		}
		if id, _, _, _ := sf.Uploaded(); id != p.base {
			// A newer upload from this mount replaced the version.
			f.releaseMeta(n, p, "", nil)
			return nil
		}
	}
	var before map[string]string // the staged file's info the copy started from
	if sf != nil {
		before = sf.Info()
	}
	obj, err := f.copyRecorded(ctx, Object{Name: full, FileID: p.base, Size: p.size}, b, full,
		&CopyMeta{ContentType: p.ct, Info: p.info})
	if err != nil {
		f.releaseMeta(n, p, "", err)
		f.log.Warn("metadata change not applied yet; kept pending", "file", fmtPath(b, full), "attempt", p.attempts, "err", err)
		return fmt.Errorf("metadata of %s: %w", fmtPath(b, full), err)
	}
	if obj.Info == nil {
		obj.Info = p.info
	}
	f.keptRekey(p.base, obj.FileID)
	// The copy is published before the claim ends: a change that claims
	// next (or copies at once, changeInfo) starts from the copy, never
	// from the version dropped below.
	ne := entryFromObject(name, obj)
	n.update(ne)
	f.changed(b, dir, name, &ne)
	if sf != nil {
		sf.RebaseCopy(backend.Object{FileID: obj.FileID, Info: obj.Info}, p.base, before)
	}
	f.releaseMeta(n, p, obj.FileID, nil)
	if n.pendingOn(obj.FileID) {
		// A change made while the copy was in flight now applies to it.
		ov := n.overlay(ne)
		n.update(ov)
		f.changed(b, dir, name, &ov)
	}
	// Last: opens from now on read the copy, and a handle still reading
	// the replaced version keeps it until it is released (pins.go).
	n.replacedVersion(p.base, obj.FileID, f.dropVersion(ctx, b, full, p.base))
	return nil
}

// flushLater is the timer of a pending change: it applies it in the
// background, retrying a bounded number of times.
func (f *FS) flushLater(n *File, p *pendingMeta) {
	if !f.track() {
		return // shut down: the change stays pending
	}
	defer f.bg.Done()
	n.mu.Lock()
	current := n.pend == p && !p.flushing
	n.mu.Unlock()
	if !current {
		return
	}
	select {
	case f.mq.sem <- struct{}{}:
	case <-f.life.Done():
		return
	}
	defer func() { <-f.mq.sem }()
	ctx, cancel := context.WithTimeout(f.life, 2*time.Minute)
	defer cancel()
	if err := f.flushMeta(ctx, n); err == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pend != p || p.flushing {
		return
	}
	if f.life.Err() != nil {
		return // shut down: the change stays pending
	}
	if p.attempts >= maxMetaAttempts {
		b, dir, name := n.bucket, n.dir, n.entry.Name
		f.log.Error("metadata change still not in B2; kept pending until fsync, rename or unmount", "file", fmtPath(b, childName(dir, name)), "attempts", p.attempts)
		return
	}
	d := f.opts.Write.MetadataDelay << p.attempts
	d = max(d, time.Second)
	d = min(d, 30*time.Second)
	p.timer = time.AfterFunc(d, func() { f.flushLater(n, p) })
}

// flushMetaWhere applies the pending metadata of every file for which
// match(bucket, dir) holds, a few at a time.
func (f *FS) flushMetaWhere(ctx context.Context, match func(b Bucket, dir string) bool) error {
	var g errgroup.Group
	g.SetLimit(metaFlushConcurrency)
	var mu sync.Mutex
	var errs []error
	for _, n := range f.mq.snapshot() {
		b, dir, _ := n.loc()
		if match != nil && !match(b, dir) {
			continue
		}
		g.Go(func() error {
			if err := f.flushMeta(ctx, n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	f.flushMarkerTidy(ctx, match)
	return errors.Join(errs...)
}

// FlushMetadata applies every pending metadata change (at unmount). Each
// failure is logged with its file and stays pending.
func (f *FS) FlushMetadata(ctx context.Context) error {
	err := f.flushMetaWhere(ctx, nil)
	if err != nil {
		f.log.Error("metadata changes not applied", "pending", f.PendingMetadata(), "err", err)
	}
	return err
}

// PendingMetadata counts the files whose metadata changes are not in B2
// yet.
func (f *FS) PendingMetadata() int {
	c := 0
	for _, n := range f.mq.snapshot() {
		n.mu.Lock()
		if n.pend != nil {
			c++
		}
		n.mu.Unlock()
	}
	return c
}

// foldMeta hands n's pending metadata to its staged file sf once sf has
// changes of its own (a write, a truncation, an O_TRUNC open), and drops
// it from the queue: the upload of sf carries it, and no later copy of
// the older version can override what sf holds. sf was opened from the
// file's view with the pending change applied, and every change made
// while sf had nothing to upload went to the pending change, so its info
// is the file's newest and replaces sf's (the time is sf's: the data
// change is newer than any pending utimes). Without changes in sf, the
// change stays pending.
func (f *FS) foldMeta(ctx context.Context, n *File, sf *staging.File) error {
	n.mu.Lock()
	pending := n.pend != nil
	n.mu.Unlock()
	if !pending || !sf.Dirty() {
		return nil
	}
	p, err := f.claimMeta(ctx, n)
	if err != nil || p == nil {
		return err
	}
	absorbed, err := sf.SetInfo(ctx, func(info map[string]string) error {
		clear(info)
		for k, v := range p.info {
			info[k] = v
		}
		return nil
	})
	switch {
	case err != nil:
		f.releaseMeta(n, p, "", err)
		return err
	case absorbed:
		f.releaseMeta(n, p, "", nil)
	default:
		f.unclaimMeta(n, p)
	}
	return nil
}
