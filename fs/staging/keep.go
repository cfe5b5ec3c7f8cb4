package staging

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
)

// The read cache: the content of a file uploaded from this mount stays in
// <instance>/kept/, keyed by the B2 file ID it was uploaded as, so that
// reading the file back needs no download. Only clean files whose content
// is entirely local are kept (never a partial overwrite of a file whose
// other bytes are only in B2). The cache is bounded in bytes
// (Options.KeepSize), evicts the least recently used entry, is removed at
// Close and, for instances that died, by Recover. It never holds anything
// to upload.

const keptDirName = "kept"

type keptEntry struct {
	id   string
	path string
	size int64
}

// keptCache is the LRU of kept files.
type keptCache struct {
	dir string
	max int64

	mu   sync.Mutex // guards the fields below
	used int64
	lru  *list.List // of *keptEntry, most recent first
	byID map[string]*list.Element
}

func newKeptCache(instDir string, max int64) *keptCache {
	if max <= 0 {
		return nil
	}
	return &keptCache{dir: filepath.Join(instDir, keptDirName), max: max, lru: list.New(), byID: map[string]*list.Element{}}
}

func (c *keptCache) path(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:16])+".data")
}

// add links dataPath (the uploaded content of version id, size bytes)
// into the cache; false when it is not kept.
func (c *keptCache) add(id, dataPath string, size int64) bool {
	if c == nil || id == "" || size > c.max {
		return false
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return false
	}
	p := c.path(id)
	os.Remove(p)
	if err := os.Link(dataPath, p); err != nil {
		return false
	}
	c.mu.Lock()
	if el, ok := c.byID[id]; ok {
		c.used -= el.Value.(*keptEntry).size
		c.lru.Remove(el)
	}
	c.byID[id] = c.lru.PushFront(&keptEntry{id: id, path: p, size: size})
	c.used += size
	var evict []string
	for c.used > c.max && c.lru.Len() > 1 {
		el := c.lru.Back()
		e := el.Value.(*keptEntry)
		c.lru.Remove(el)
		delete(c.byID, e.id)
		c.used -= e.size
		evict = append(evict, e.path)
	}
	c.mu.Unlock()
	for _, p := range evict {
		os.Remove(p)
	}
	return true
}

// open returns the kept content of version id, opened for reading.
func (c *keptCache) open(id string) (*os.File, int64, bool) {
	if c == nil || id == "" {
		return nil, 0, false
	}
	c.mu.Lock()
	el, ok := c.byID[id]
	if !ok {
		c.mu.Unlock()
		return nil, 0, false
	}
	c.lru.MoveToFront(el)
	e := *el.Value.(*keptEntry)
	c.mu.Unlock()
	fd, err := os.Open(e.path)
	if err != nil {
		c.forget(id)
		return nil, 0, false
	}
	if st, err := fd.Stat(); err != nil || st.Size() != e.size {
		fd.Close()
		c.forget(id)
		return nil, 0, false
	}
	return fd, e.size, true
}

// forget drops version id.
func (c *keptCache) forget(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	el, ok := c.byID[id]
	if ok {
		c.lru.Remove(el)
		delete(c.byID, id)
		c.used -= el.Value.(*keptEntry).size
	}
	c.mu.Unlock()
	if ok {
		os.Remove(el.Value.(*keptEntry).path)
	}
}

// rekey records that version newID has the content of oldID (a
// server-side copy).
func (c *keptCache) rekey(oldID, newID string) {
	if c == nil || oldID == newID {
		return
	}
	c.mu.Lock()
	el, ok := c.byID[oldID]
	if !ok {
		c.mu.Unlock()
		return
	}
	e := el.Value.(*keptEntry)
	c.mu.Unlock()
	c.add(newID, e.path, e.size)
	c.forget(oldID)
}

// clear empties the cache; false when it held nothing.
func (c *keptCache) clear() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	var paths []string
	for el := c.lru.Front(); el != nil; el = el.Next() {
		paths = append(paths, el.Value.(*keptEntry).path)
	}
	c.lru.Init()
	c.byID = map[string]*list.Element{}
	c.used = 0
	c.mu.Unlock()
	for _, p := range paths {
		os.Remove(p)
	}
	return len(paths) > 0
}

// KeptOpen opens the locally kept content of B2 version fileID (uploaded
// from this mount), if the read cache has it. The caller closes it.
func (m *Manager) KeptOpen(fileID string) (*os.File, int64, bool) { return m.kept.open(fileID) }

// KeptRekey records that version newID (a server-side copy: rename or
// metadata change) has the same content as oldID.
func (m *Manager) KeptRekey(oldID, newID string) { m.kept.rekey(oldID, newID) }

// KeptForget drops version fileID from the read cache.
func (m *Manager) KeptForget(fileID string) { m.kept.forget(fileID) }
