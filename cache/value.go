package cache

// Values: results derived from listings that are not directory entries
// (such as the version listings of the time-travel view) share the cache's
// bound and DirTTL.

func valueKey(key string) string { return "V\x00" + key }

// PutValue caches v under key for DirTTL. cost is the number of entries v
// holds (at least 1), counted against MaxEntries. v must not be modified
// after it is stored.
func (c *Cache) PutValue(key string, v any, cost int64) {
	if cost < 1 {
		cost = 1
	}
	c.set(valueKey(key), &item{value: v}, cost, c.opts.DirTTL)
}

// Value returns the value cached under key.
func (c *Cache) Value(key string) (any, bool) {
	it, ok := c.get(valueKey(key))
	if !ok || it.value == nil {
		return nil, false
	}
	return it.value, true
}
