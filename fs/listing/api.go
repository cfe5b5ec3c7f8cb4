package listing

import (
	"context"
	"log/slog"

	"github.com/b2fs/b2fs/cache"
)

// Options configure a Meta.
type Options struct {
	Backend Backend
	Cache   *cache.Cache
	Logger  *slog.Logger
	// PageSize is the number of names one list call asks for.
	PageSize int
	// PrefetchPages is the page budget of one subtree prefetch window
	// (0 disables prefetch; so does a Backend that is no TreeLister).
	PrefetchPages int
}

// New returns the listing engine of a filesystem whose lifetime is life:
// cancelling life ends every listing fetcher and shared listing (then call
// Shutdown).
func New(life context.Context, o Options) *Meta {
	m := &Meta{life: life, be: o.Backend, cache: o.Cache, log: o.Logger, pageSize: o.PageSize}
	if tl, ok := o.Backend.(TreeLister); ok && o.PrefetchPages > 0 {
		m.tree, m.prefetchPages = tl, o.PrefetchPages
	}
	return m
}

// Cache is the metadata cache the listings are kept in; changes made
// through the filesystem patch and invalidate it directly.
func (m *Meta) Cache() *cache.Cache { return m.cache }

// Mutated records a change made through the filesystem: a subtree listing
// that raced it is not cached.
func (m *Meta) Mutated() {
	m.streamMu.Lock() // see fetchWindow
	m.mutations.Add(1)
	m.streamMu.Unlock()
}

// Shutdown stops new listing fetchers and waits for the running ones,
// which end once the lifetime given to New is cancelled (cancel it first).
func (m *Meta) Shutdown() { m.shutdown() }

// ListDir returns the complete listing of directory prefix of b, sorted by
// name, from the cache or from the directory's shared listing stream.
func (m *Meta) ListDir(ctx context.Context, b Bucket, prefix string) ([]cache.Entry, error) {
	return m.listDir(ctx, b, prefix)
}

// Lookup finds name in directory prefix of b: from the cache, a listing
// being streamed, or one targeted list call. It fails with
// errs.ErrNameTooLong when the name's B2 name could not exist.
func (m *Meta) Lookup(ctx context.Context, b Bucket, prefix, name string) (cache.Entry, bool, error) {
	return m.lookup(ctx, b, prefix, name)
}

// Buckets returns the account's buckets as directory entries whose FileID
// holds the bucket ID, cached under BucketsKey.
func (m *Meta) Buckets(ctx context.Context) ([]cache.Entry, error) { return m.buckets(ctx) }

// ContinueTree continues the cut subtree prefetch of the nearest ancestor
// of directory prefix that stopped before prefix's names, caching what it
// lists (the directory's marker among it); it returns prefix's entries
// when that window completed them, else nil.
func (m *Meta) ContinueTree(ctx context.Context, b Bucket, prefix string) ([]cache.Entry, error) {
	return m.continueTree(ctx, b, prefix)
}

// OpenStream returns the listing stream of directory prefix of b: a
// finished one when the listing is cached, else the directory's shared
// stream, started if needed.
func (m *Meta) OpenStream(b Bucket, prefix string) *Stream { return m.openStream(b, prefix) }

// Wait returns the entries received once more than seen pages have been
// (or the listing is complete or failed). Entries are final as told by
// Final(prefix, last, name) unless done.
func (s *Stream) Wait(ctx context.Context, seen int) (all []cache.Entry, last string, pages int, done bool, err error) {
	return s.wait(ctx, seen)
}

// Final reports whether the entry whose B2 segment is seg, in the
// directory prefix whose listing reached the B2 name last, can no longer
// change (see Stream.Wait).
func Final(prefix, last, seg string) bool { return final(prefix, last, seg) }

// BucketsKey is the cache directory key of the account root (see Buckets).
const BucketsKey = bucketsKey
