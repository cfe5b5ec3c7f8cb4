package fs

import (
	"sync"

	"github.com/b2fs/b2fs/cache"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// kernelDirCache decides, at each opendir of one directory, whether the
// kernel may serve the directory's entries from its own cache
// (FOPEN_CACHE_DIR, kept across opens with FOPEN_KEEP_CACHE). A cached
// readdir costs no FUSE round trip at all, which makes a warm ls -l of
// 10,000 names about three times faster than reading them through
// READDIRPLUS again.
//
// The kernel drops its cached entries by itself when the directory changes
// through the mount (create, unlink, rename, mkdir bump the directory's
// version), but it knows nothing of changes in B2: the listing b2fs caches
// is the authority, for as long as its TTL. So the kernel may keep its
// cache exactly while b2fs's cached listing of the directory is the one
// the kernel's cache was filled from:
//
//   - no valid listing cached (never listed, expired, invalidated): the
//     open is uncached, and opening without FOPEN_KEEP_CACHE makes the
//     kernel drop what it held; the reads list as usual.
//   - a listing cached and the kernel's cache known to be empty: the open
//     is cached, the kernel fills its cache from this listing (a listing
//     replaced during the fill only makes the next open drop it again).
//   - a listing cached and the kernel's cache filled from it (same
//     cache.ListingID): cached.
//   - a listing cached, but a different one: uncached (the kernel drops its
//     stale entries), after which the kernel's cache is empty again.
//
// So what ls shows is never older than what an uncached readdir would show.
type kernelDirCache struct {
	mu sync.Mutex // guards the fields below
	// filled: the kernel may hold cached entries, from listing id.
	filled bool
	id     uint64
}

// openFlags returns the FOPEN_* flags of an opendir of the directory whose
// listing has cache key key.
func (k *kernelDirCache) openFlags(c *cache.Cache, key string) uint32 {
	id, ok := c.ListingID(key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if !ok || (k.filled && k.id != id) {
		k.filled = false
		return 0
	}
	k.filled, k.id = true, id
	return fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
}
