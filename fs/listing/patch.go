package listing

import (
	"sort"
	"sync/atomic"

	"github.com/b2fs/b2fs/cache"
)

// Changes made through the filesystem while a listing of their directory
// is being fetched. The pages a listing fetched before a change show B2
// as it was; the change must still show in what the listing gives its
// readers and in what it caches, or a name can vanish: a file written
// in write-back mode is shown from the staging area until its upload
// lands, and from B2 after, so a listing fetched before the upload and
// read (or cached) after it would not have the file at all.
//
//   - Meta.Changed records a change in the directory's listing being
//     fetched (Stream.patches): applied to its entries now and to every
//     page it receives later, and so to the listing it caches;
//   - every change bumps the directory's generation (DirGen) twice:
//     before the cache is patched (Changed), so that a lookup that raced
//     it caches nothing, and after (Settled), so that a reader that read
//     the generation and then the cache in between reads again; a reader
//     that merges its listing with other state (the files being written)
//     can tell that the directory changed in between and read the listing
//     again (Latest). The generation moves under streamMu, as a stream
//     ends: a stream either holds a change or ended before it.

// dirGenSlots is the number of directory generations kept: directories
// share a slot by hash, and a shared slot only makes a lookup skip
// caching (or a reader read again) needlessly.
const dirGenSlots = 4096

// dirGens are the generations of the directories, by slot.
type dirGens struct {
	slots [dirGenSlots]atomic.Uint64
}

func (g *dirGens) slot(key string) *atomic.Uint64 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &g.slots[h%dirGenSlots]
}

// DirGen returns the generation of directory prefix of b: it changes with
// every change made through the filesystem in the directory (Changed,
// Invalidated).
func (m *Meta) DirGen(b Bucket, prefix string) uint64 {
	return m.gens.slot(dirKey(b, prefix)).Load()
}

// Changed records a change made through the filesystem to name in
// directory prefix of b: e is the new entry, nil when the name is gone.
// The directory's listing being fetched, if any, shows it from now on
// (see above). The caller patches the cache after this call: a listing
// that finished before it is in the cache by then.
func (m *Meta) Changed(b Bucket, prefix, name string, e *cache.Entry) {
	key := dirKey(b, prefix)
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	m.bumpLocked(key)
	s := m.streams[key]
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.patches == nil {
		s.patches = map[string]*cache.Entry{}
	}
	var pe *cache.Entry
	if e != nil {
		c := *e
		pe = &c
	}
	s.patches[name] = pe
	s.applied++
	s.all = applyPatches(s.all, map[string]*cache.Entry{name: pe})
	s.changed()
}

// Settled records that the change Changed (or Invalidated) announced for
// directory prefix of b is in the cache now (the caller patched or
// invalidated the directory's listing and entry): the generation moves
// again, so that a reader that read it after Changed and the cache before
// the patch finds it moved and reads again (Latest). A listing being
// fetched counts it as applied: the change is in it already.
func (m *Meta) Settled(b Bucket, prefix string) {
	key := dirKey(b, prefix)
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	m.bumpLocked(key)
	if s := m.streams[key]; s != nil {
		s.mu.Lock()
		s.applied++
		s.mu.Unlock()
	}
}

// Invalidated records that the filesystem changed directory prefix of b
// in ways Changed does not describe (a directory rename moved its
// entries): its listing being fetched is not cached.
func (m *Meta) Invalidated(b Bucket, prefix string) {
	key := dirKey(b, prefix)
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	m.bumpLocked(key)
	if s := m.streams[key]; s != nil {
		s.mu.Lock()
		s.noCache = true
		s.mu.Unlock()
	}
}

// bumpLocked moves the generation of directory key and the mutation
// count; streamMu is held, so that a stream that ends (stop, under
// streamMu) either has the change recorded in it and counted (applied), or
// ended before the generation moved: a listing is never left with a
// change it neither holds nor knows it missed.
func (m *Meta) bumpLocked(key string) {
	m.mutations.Add(1) // see fetchWindow
	m.gens.slot(key).Add(1)
}

// Latest returns the stream's entries as they are now, given all, the
// entries an earlier Wait returned, for a reader that found the
// directory's generation (DirGen) moved since it opened the stream:
//   - while the stream is fetching: its own entries, with the changes made
//     since (Changed); done is false;
//   - once it ended: its complete listing when the directory has not
//     changed since, else the directory's cached listing (changes made
//     after the stream ended patch it); done is true;
//   - ok is false when neither holds the changes: the stream ended without
//     caching its listing (a change it missed, no directory cache), or
//     went idle (changes made meanwhile are not in it), or fails. The
//     reader must list the directory again (a new OpenStream).
func (s *Stream) Latest(all []cache.Entry) (latest []cache.Entry, done, ok bool) {
	m := s.m
	m.streamMu.Lock()
	s.mu.Lock()
	shared := m.streams[s.key] == s
	cur, fin, running, failed, genDone := s.all, s.done, s.running, s.err != nil, s.genDone
	s.mu.Unlock()
	gen := m.gens.slot(s.key).Load()
	m.streamMu.Unlock()
	switch {
	case failed:
		return all, false, false
	case running && shared:
		return cur, false, true
	case !fin:
		return all, false, false
	case gen == genDone:
		return cur, true, true
	}
	if l, ok := m.cache.Listing(s.key); ok {
		return l, true, true
	}
	return all, false, false
}

// unpatchedLocked returns page without the names changed through the
// filesystem since the stream started: s.all has them as they are now.
// s.mu is held.
func (s *Stream) unpatchedLocked(page []cache.Entry) []cache.Entry {
	if len(s.patches) == 0 {
		return page
	}
	out := page[:0:0]
	for _, e := range page {
		if _, ok := s.patches[e.Name]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// applyPatches returns all (sorted by name) with the changes of patches:
// every entry of a changed name is replaced by its new entry, or removed.
// all itself is never modified (readers share it); the result is a new
// slice when anything changed.
func applyPatches(all []cache.Entry, patches map[string]*cache.Entry) []cache.Entry {
	if len(patches) == 0 {
		return all
	}
	out := make([]cache.Entry, 0, len(all)+len(patches))
	for _, e := range all {
		if _, ok := patches[e.Name]; !ok {
			out = append(out, e)
		}
	}
	for _, e := range patches {
		if e != nil {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
