package vfs

import (
	"context"
	"sync"
	"time"
)

// Versions being read. A read handle reads one version of a file by its
// file ID, for as long as it is open. b2fs deletes versions of its own
// making once their bytes live on elsewhere or are worth nothing (the
// version a metadata copy replaced, a renamed temporary file's only
// version, an empty version superseded; see ownversions.go): a handle
// still reading one would then fail with EIO. So a version is pinned while
// a handle reads it from B2, and the delete of a pinned version waits until
// the last of those handles is released, which then deletes it. If b2fs
// stops first (a crash, or a lazy unmount with the file still open), the
// version stays stored: an extra stored version, never lost data.
//
// LOCK ORDER: versionPins.mu is taken alone (no other lock is held with
// it, and no call is made under it).

type versionPins struct {
	mu       sync.Mutex
	readers  map[string]int         // open read handles per file ID
	later    map[string]laterDelete // deletes waiting for the readers
	deleting map[string]struct{}    // deletes in flight
}

type laterDelete struct {
	b         Bucket
	name, why string
}

// pinVersion records a handle reading version id from B2; false when the
// version is being deleted (the caller looks for the file's newer view).
func (f *FS) pinVersion(id string) bool {
	p := &f.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.deleting[id]; ok {
		return false
	}
	if p.readers == nil {
		p.readers = map[string]int{}
	}
	p.readers[id]++
	return true
}

// versionRead reports whether a handle reads version id.
func (f *FS) versionRead(id string) bool {
	p := &f.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readers[id] > 0
}

// unpinVersion ends a handle's reading of version id; the last one runs
// the delete that waited for it.
func (f *FS) unpinVersion(id string) {
	p := &f.pins
	p.mu.Lock()
	p.readers[id]--
	if p.readers[id] > 0 {
		p.mu.Unlock()
		return
	}
	delete(p.readers, id)
	d, ok := p.later[id]
	if !ok {
		p.mu.Unlock()
		return
	}
	delete(p.later, id)
	p.mu.Unlock()
	// The release is answered while this runs; it is bounded by the
	// mount's lifetime.
	ctx, cancel := context.WithTimeout(f.life, time.Minute)
	defer cancel()
	f.deleteVersion(ctx, d.b, d.name, id, d.why+", after its last reader")
}

// holdDelete decides a delete of version id: true when a handle reads it
// (the delete waits for it), else the caller deletes it now and calls
// deleteDone after.
func (f *FS) holdDelete(b Bucket, name, id, why string) bool {
	p := &f.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.readers[id] > 0 {
		if p.later == nil {
			p.later = map[string]laterDelete{}
		}
		p.later[id] = laterDelete{b: b, name: name, why: why}
		return true
	}
	if p.deleting == nil {
		p.deleting = map[string]struct{}{}
	}
	p.deleting[id] = struct{}{}
	return false
}

func (f *FS) deleteDone(id string) {
	p := &f.pins
	p.mu.Lock()
	delete(p.deleting, id)
	p.mu.Unlock()
}
