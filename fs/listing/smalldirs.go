package listing

import (
	"context"
	"sort"
	"sync"

	"github.com/b2fs/b2fs/cache"
)

// Small directories. A lookup of a name the cache cannot answer costs one
// list call. In a directory whose cached listing expired that is one call
// per new name: a tool that creates many files (rsync's temporary names,
// a build) in a directory for longer than --dir-cache-ttl pays a call for
// each. B2 bills a list call by the thousand names it returns, so listing
// a directory of at most smallDirNames names costs the same one
// transaction as looking up one name in it, and answers the lookups that
// follow for another TTL. So a lookup in a directory last listed complete
// with at most smallDirNames names lists it again whole; other
// directories (never listed, or big) keep the targeted lookup.
const smallDirNames = 1000

// maxSmallDirs bounds the directories remembered as small; when full, the
// set starts over (a forgotten directory only falls back to the targeted
// lookup).
const maxSmallDirs = 16384

// smallDirs is the set of directory keys last listed complete with at
// most smallDirNames names.
type smallDirs struct {
	mu   sync.Mutex // guards keys; a leaf lock
	keys map[string]struct{}
}

// note records the size of a complete listing of directory key.
func (s *smallDirs) note(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > smallDirNames {
		delete(s.keys, key)
		return
	}
	if s.keys == nil || len(s.keys) >= maxSmallDirs {
		s.keys = make(map[string]struct{})
	}
	s.keys[key] = struct{}{}
}

// has reports whether directory key was last listed small.
func (s *smallDirs) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok
}

// relistLookup answers a lookup of name in directory prefix, last listed
// small, by listing the directory again (shared with any reader). ok is
// false when the directory is not known small (or has grown): the caller
// looks the name up on its own.
func (m *Meta) relistLookup(ctx context.Context, b Bucket, prefix, name string) (e cache.Entry, found, ok bool, err error) {
	key := dirKey(b, prefix)
	if !m.small.has(key) {
		return cache.Entry{}, false, false, nil
	}
	m.log.Debug("lookup by listing the small directory again", "bucket", b.Name, "prefix", prefix, "name", name)
	all, err := m.listDir(ctx, b, prefix)
	if err != nil {
		return cache.Entry{}, false, false, err
	}
	if len(all) > smallDirNames {
		return cache.Entry{}, false, false, nil
	}
	// A change made through the filesystem since the listing is in the
	// cache (patched into the listing or kept apart); ask it first.
	if ce, r := m.cache.Lookup(key, name); r != cache.Unknown {
		return ce, r == cache.Found, true, nil
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].Name >= name })
	if i < len(all) && all[i].Name == name {
		return all[i], true, true, nil
	}
	return cache.Entry{}, false, true, nil
}

// Created records that directory prefix of b was just made: its listing
// is empty (lookups of the names about to be created in it need no list
// call), and it is small.
func (m *Meta) Created(b Bucket, prefix string) {
	key := dirKey(b, prefix)
	m.cache.PutListing(key, nil)
	m.small.note(key, 0)
}
