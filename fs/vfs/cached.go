package vfs

// The persistent read cache (Options.ReadCache, package fs/readcache) sits
// under every read handle's ranged reads (File.Open wraps the fetch
// function); the FUSE adapter opens versions entirely in it with FUSE
// passthrough.

import "sync"

// keptRekey records that version newID, a server-side copy of oldID made
// by this mount (rename, metadata change), has oldID's content; oldID is
// gone.
func (f *FS) keptRekey(oldID, newID string) {
	f.opts.ReadCache.Alias(oldID, newID, true)
	f.copies.add(oldID, newID)
}

// movedVersions remembers, for versions this mount copied (a metadata
// copy, a rename) and may have deleted, the copy that holds the same
// bytes: a handle still reading the old version reads on from the copy
// instead of failing once the old one is gone. Bounded: the oldest are
// forgotten first.
type movedVersions struct {
	mu    sync.Mutex // guards the fields below
	to    map[string]string
	order []string
}

// maxMoved bounds movedVersions.
const maxMoved = 4096

func (m *movedVersions) add(oldID, newID string) {
	if oldID == "" || newID == "" || oldID == newID {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.to == nil {
		m.to = map[string]string{}
	}
	if _, ok := m.to[oldID]; !ok {
		m.order = append(m.order, oldID)
	}
	m.to[oldID] = newID
	if len(m.order) > maxMoved {
		delete(m.to, m.order[0])
		m.order = m.order[1:]
	}
}

// resolve returns the newest copy of version id, if it was copied.
func (m *movedVersions) resolve(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.to[id]
	for i := 0; ok && i < maxMoved; i++ {
		next, more := m.to[cur]
		if !more {
			break
		}
		cur = next
	}
	return cur, ok
}

// keptForget drops version id from the read cache.
func (f *FS) keptForget(id string) {
	f.opts.ReadCache.Forget(id)
}
