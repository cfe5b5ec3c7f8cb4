package cache

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Entry is what b2fs knows about one name inside a directory.
type Entry struct {
	// Name is the base name inside its directory (no slashes).
	Name string
	// Size is the file's length in bytes (0 for directories).
	Size int64
	// ModTime is the file's modification time: src_last_modified_millis when
	// the uploader set it, else the upload timestamp.
	ModTime time.Time
	// FileID identifies the B2 file version this entry describes (empty for
	// directories).
	FileID string
	// ContentType and SHA1 are as B2 reports them (SHA1 may be "none" or
	// "unverified:<hex>").
	ContentType string
	SHA1        string
	// changed is the upload time of the version (B2's uploadTimestamp),
	// in ns since the epoch, 0 when unknown: see Changed.
	changed int64
	// The file's B2 fileInfo metadata (see SetInfo and Info): infoMap,
	// or, when it is nil and infoHas is not zero, the numeric keys named
	// by infoHas.
	infoMap                    map[string]string
	infoMtime                  int64
	infoMode, infoUID, infoGID uint32
	infoHas                    uint8
	// Dir reports a directory (a B2 folder or a .bzEmpty marker).
	Dir bool
}

// Options configure a Cache.
type Options struct {
	// MaxEntries bounds the number of cached entries (listings count one
	// per name they hold, plus one). Zero means 200,000.
	MaxEntries int64
	// DirTTL is how long a directory listing stays valid.
	DirTTL time.Duration
	// AttrTTL is how long a single positive entry stays valid.
	AttrTTL time.Duration
	// NegativeTTL is how long a "does not exist" answer stays valid.
	NegativeTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxEntries is the cost bound used when Options.MaxEntries is zero.
const DefaultMaxEntries = 200_000

// Cache is a bounded metadata cache with per-item expiry. It is safe for
// concurrent use.
type Cache struct {
	opts  Options
	rc    *ristretto.Cache[string, *item]
	stats stats
	// lastID numbers stored listings (see ListingID).
	lastID atomic.Uint64
}

// item is one cached value: a listing (entries sorted by name), a single
// entry, or a negative entry.
type item struct {
	expires  time.Time
	listing  []Entry // non-nil for listings (may be empty, see isList)
	isList   bool
	id       uint64 // listings: unique per PutListing
	entry    Entry
	negative bool
	value    any // set by PutValue
}

// New creates a Cache.
func New(opts Options) (*Cache, error) {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// ristretto suggests ten counters per item the cache holds when full;
	// a listing is one item of many entries, so there are far fewer items
	// than MaxEntries (whose tenfold cost 9 MB of counters).
	counters := opts.MaxEntries * 2
	if counters < 1000 {
		counters = 1000
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, *item]{
		NumCounters:        counters,
		MaxCost:            opts.MaxEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create metadata cache: %w", err)
	}
	return &Cache{opts: opts, rc: rc}, nil
}

// Close releases the cache's background goroutines.
func (c *Cache) Close() { c.rc.Close() }

// Options returns the options the cache runs with (defaults filled in).
func (c *Cache) Options() Options { return c.opts }

func listKey(dir string) string        { return "L\x00" + dir }
func entryKey(dir, name string) string { return "E\x00" + dir + "\x00" + name }

// set stores it and waits until ristretto applied the write, so that a Get
// right after sees it. Writes happen once per listing or lookup, so the wait
// is cheap compared with the network call that produced the data.
func (c *Cache) set(key string, it *item, cost int64, ttl time.Duration) {
	if ttl <= 0 {
		c.rc.Del(key)
		c.rc.Wait()
		return
	}
	it.expires = c.opts.Now().Add(ttl)
	// ristretto also expires the item (in real time, with slack) so that
	// stale items do not occupy the cost budget until evicted.
	c.rc.SetWithTTL(key, it, cost, ttl+time.Minute)
	c.rc.Wait()
}

func (c *Cache) get(key string) (*item, bool) {
	it, ok := c.rc.Get(key)
	if !ok || !c.opts.Now().Before(it.expires) {
		c.stats.misses.Add(1)
		return nil, false
	}
	c.stats.hits.Add(1)
	return it, true
}

// PutListing caches the complete listing of dir. Entries are copied and
// sorted by name; duplicate names must already be resolved by the caller.
func (c *Cache) PutListing(dir string, entries []Entry) {
	l := make([]Entry, len(entries))
	copy(l, entries)
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	c.set(listKey(dir), &item{listing: l, isList: true, id: c.lastID.Add(1)}, int64(len(l))+1, c.opts.DirTTL)
}

// PutSortedListing is PutListing of entries that are already sorted by
// name, each name once: they are kept as they are, without a copy (a
// listing of 100,000 names is 15 MB), so the caller must not modify them
// afterwards. Entries that are not sorted are copied and sorted.
func (c *Cache) PutSortedListing(dir string, entries []Entry) {
	for i := 1; i < len(entries); i++ {
		if entries[i-1].Name >= entries[i].Name {
			c.PutListing(dir, entries)
			return
		}
	}
	l := entries[:len(entries):len(entries)] // an append never writes into it
	if l == nil {
		l = []Entry{}
	}
	c.set(listKey(dir), &item{listing: l, isList: true, id: c.lastID.Add(1)}, int64(len(l))+1, c.opts.DirTTL)
}

// ListingID identifies the cached listing of dir: every PutListing stores
// a listing with a new ID, so an unchanged ID means the names are the same
// ones. ok is false when no valid listing of dir is cached.
func (c *Cache) ListingID(dir string) (id uint64, ok bool) {
	it, ok := c.get(listKey(dir))
	if !ok || !it.isList {
		return 0, false
	}
	return it.id, true
}

// Listing returns the cached listing of dir, sorted by name. The returned
// slice is shared: do not modify it.
func (c *Cache) Listing(dir string) ([]Entry, bool) {
	it, ok := c.get(listKey(dir))
	if !ok || !it.isList {
		return nil, false
	}
	return it.listing, true
}

// PutEntry caches one positive entry of dir for AttrTTL.
func (c *Cache) PutEntry(dir string, e Entry) {
	c.set(entryKey(dir, e.Name), &item{entry: e}, 1, c.opts.AttrTTL)
}

// PutNegative records for NegativeTTL that name does not exist in dir.
func (c *Cache) PutNegative(dir, name string) {
	c.set(entryKey(dir, name), &item{negative: true}, 1, c.opts.NegativeTTL)
}

// Result says what the cache knows about a name.
type Result int

const (
	// Unknown means the cache cannot answer: ask B2.
	Unknown Result = iota
	// Found means the entry exists (see the returned Entry).
	Found
	// NotFound means the name is known not to exist.
	NotFound
)

func (r Result) String() string {
	switch r {
	case Found:
		return "found"
	case NotFound:
		return "not-found"
	}
	return "unknown"
}

// Lookup answers whether name exists in dir: from dir's cached listing when
// there is one (a name missing from a complete listing does not exist), else
// from a single cached entry or negative entry.
func (c *Cache) Lookup(dir, name string) (Entry, Result) {
	if l, ok := c.Listing(dir); ok {
		if e, ok := Find(l, name); ok {
			return e, Found
		}
		return Entry{}, NotFound
	}
	it, ok := c.get(entryKey(dir, name))
	if !ok {
		return Entry{}, Unknown
	}
	if it.negative {
		return Entry{}, NotFound
	}
	return it.entry, Found
}

// Find searches a listing sorted by name.
func Find(l []Entry, name string) (Entry, bool) {
	i := sort.Search(len(l), func(i int) bool { return l[i].Name >= name })
	if i < len(l) && l[i].Name == name {
		return l[i], true
	}
	return Entry{}, false
}

// Invalidate forgets what the cache knows about name in dir, including dir's
// listing (which names it).
func (c *Cache) Invalidate(dir, name string) {
	c.rc.Del(entryKey(dir, name))
	c.rc.Del(listKey(dir))
	c.rc.Wait()
}

// InvalidateDir forgets dir's listing.
func (c *Cache) InvalidateDir(dir string) {
	c.rc.Del(listKey(dir))
	c.rc.Wait()
}

// Clear forgets everything.
func (c *Cache) Clear() { c.rc.Clear() }

// Cost returns the total cost of the items currently held (for tests and
// metrics).
func (c *Cache) Cost() int64 { return c.rc.MaxCost() - c.rc.RemainingCost() }
