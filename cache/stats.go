package cache

import "sync/atomic"

// stats counts cache lookups.
type stats struct {
	hits, misses atomic.Int64
}

// Stats returns how many lookups (of listings, entries and negative
// entries) found a fresh item and how many did not, since New.
func (c *Cache) Stats() (hits, misses int64) {
	return c.stats.hits.Load(), c.stats.misses.Load()
}
