package listing

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/cache"
	"golang.org/x/sync/singleflight"
)

// Meta answers metadata questions (directory listings, lookups, the bucket
// list) from the cache, falling back to as few list calls as possible. It
// knows nothing of the kernel.
type Meta struct {
	be       Backend
	cache    *cache.Cache
	log      *slog.Logger
	pageSize int
	sf       singleflight.Group

	// tree lists whole subtrees (nil: the backend cannot); prefetchPages
	// is the page budget of one subtree window (0 disables prefetch).
	tree          TreeLister
	prefetchPages int
	states        treeStates
	// mutations counts changes made through the filesystem, under
	// streamMu; a subtree listing that raced one is not cached.
	mutations atomic.Uint64
	// gens are the directories' generations (patch.go).
	gens dirGens

	// life is the filesystem's lifetime: cancelled at shutdown, it ends
	// every listing fetcher and shared listing.
	life context.Context
	// fetchers counts the listing fetchers running (see Stream).
	fetchers sync.WaitGroup
	// streamIdle overrides streamIdle (tests); afterIdle, when set, is
	// called by a fetcher that went idle, after it stopped (tests).
	streamIdle atomic.Int64 // a time.Duration; 0: streamIdle
	afterIdle  func(*Stream)
	// windowChecked, when set, is called by fetchWindow once it found
	// that no change raced its listing, just before it caches it (tests).
	windowChecked func()

	// streamMu guards streams, the directory listings being fetched, by
	// directory key, and closed (no fetcher starts once it is set). A
	// change made through the filesystem is counted (mutations) under
	// it, and a subtree window checks the count and caches its listings
	// under it (fetchWindow).
	// LOCK ORDER: streamMu, then Stream.mu, then the cache's locks.
	streamMu sync.Mutex
	streams  map[string]*Stream
	closed   bool

	// small: the directories last listed complete with few names
	// (smalldirs.go).
	small smallDirs
}

// errShutdown fails the listings asked for after the filesystem shut down.
var errShutdown = errors.New("the filesystem is shutting down")

// shutdown stops new fetchers and waits for the running ones, which end
// once life is cancelled (the caller cancels it first).
func (m *Meta) shutdown() {
	m.streamMu.Lock()
	m.closed = true
	m.streamMu.Unlock()
	m.fetchers.Wait()
}

// bucketsKey is the cache directory key of the account root.
const bucketsKey = "\x00buckets"

func dirKey(b Bucket, prefix string) string { return b.Name + "\x00" + prefix }

// listDir returns the complete listing of the directory prefix of bucket
// b, sorted by name, from the cache or from the directory's listing stream
// (shared with concurrent readers; see Stream).
func (m *Meta) listDir(ctx context.Context, b Bucket, prefix string) ([]cache.Entry, error) {
	if l, ok := m.cache.Listing(dirKey(b, prefix)); ok {
		return l, nil
	}
	s := m.openStream(b, prefix)
	seen := 0
	for {
		all, _, pages, done, err := s.wait(ctx, seen)
		if err != nil {
			return nil, err
		}
		if done {
			return all, nil
		}
		seen = pages
	}
}

// lookup finds name in directory prefix of bucket b: from the cache (the
// directory's listing, or an earlier lookup), else with one targeted list
// call (prefix+name, delimiter "/"). It never asks for file info.
func (m *Meta) lookup(ctx context.Context, b Bucket, prefix, name string) (cache.Entry, bool, error) {
	if err := checkName(prefix, name); err != nil {
		return cache.Entry{}, false, err
	}
	key := dirKey(b, prefix)
	if e, r := m.cache.Lookup(key, name); r != cache.Unknown {
		return e, r == cache.Found, nil
	}
	// A listing being streamed answers names in the part received.
	if s := m.activeStream(key); s != nil {
		if e, found, ok := s.lookup(name); ok {
			return e, found, nil
		}
	}
	v, err := m.shared(ctx, "E"+key+"\x00"+name, func(ctx context.Context) (any, error) {
		var r res
		var err error
		// A change that races the answer's put leaves the name uncached
		// (see lookupOnce): ask again, a few times at most.
		for attempt := 0; attempt < 3; attempt++ {
			var raced bool
			if r, raced, err = m.lookupOnce(ctx, b, prefix, name); err != nil || !raced {
				break
			}
		}
		return r, err
	})
	if err != nil {
		return cache.Entry{}, false, err
	}
	r := v.(res)
	return r.e, r.ok, nil
}

// res is a lookup's answer.
type res struct {
	e  cache.Entry
	ok bool
}

// lookupOnce is one try of lookup's shared call; raced reports that a
// change made through the filesystem raced the put of the answer, which
// was then forgotten.
func (m *Meta) lookupOnce(ctx context.Context, b Bucket, prefix, name string) (_ res, raced bool, _ error) {
	key := dirKey(b, prefix)
	if e, r := m.cache.Lookup(key, name); r != cache.Unknown {
		return res{e, r == cache.Found}, false, nil
	}
	if e, found, ok, err := m.relistLookup(ctx, b, prefix, name); err != nil || ok {
		return res{e, found}, false, err
	}
	gen := m.gens.slot(key)
	g0 := gen.Load()
	full := childName(prefix, name)
	m.log.Debug("lookup by listing", "bucket", b.Name, "prefix", full)
	p, err := m.be.ListDir(ctx, b, full, "", 100)
	if err != nil {
		return res{}, false, err
	}
	objs := p.Objects
	folder := full + "/"
	// The folder sorts after names that continue with a byte below
	// '/'; if the page stopped before reaching it, ask for it directly.
	if p.Next != "" && !passed(objs, folder) {
		q, err := m.be.ListDir(ctx, b, folder, "", 1)
		if err != nil {
			return res{}, false, err
		}
		if len(q.Objects) > 0 || q.Next != "" {
			objs = append(objs, Object{Name: folder, Folder: true})
		}
	}
	e, ok := resolveLookup(m.log, prefix, name, objs)
	if gen.Load() != g0 {
		// A change made through the filesystem raced the list call
		// (see Changed): what it recorded in the cache is newer.
		if ce, r := m.cache.Lookup(key, name); r != cache.Unknown {
			return res{ce, r == cache.Found}, false, nil
		}
		return res{e, ok}, false, nil
	}
	if ok {
		m.cache.PutEntry(key, e)
	} else {
		m.cache.PutNegative(key, name)
	}
	if gen.Load() != g0 {
		// A change raced the put: the answer just cached may have
		// overwritten what the change recorded. Forget the name and
		// ask again.
		m.cache.Invalidate(key, name)
		m.log.Debug("lookup raced a change; asking again", "bucket", b.Name, "name", full)
		return res{e, ok}, true, nil
	}
	return res{e, ok}, false, nil
}

// passed reports whether a sorted page reached name (or went beyond it).
func passed(objs []Object, name string) bool {
	return len(objs) > 0 && strings.Compare(objs[len(objs)-1].Name, name) >= 0
}

// buckets returns the account's buckets (as directory entries whose FileID
// holds the bucket ID), cached like a directory listing.
func (m *Meta) buckets(ctx context.Context) ([]cache.Entry, error) {
	if l, ok := m.cache.Listing(bucketsKey); ok {
		return l, nil
	}
	v, err := m.shared(ctx, "B", func(ctx context.Context) (any, error) {
		bs, err := m.be.ListBuckets(ctx)
		if err != nil {
			return nil, err
		}
		es := make([]cache.Entry, 0, len(bs))
		for _, b := range bs {
			es = append(es, cache.Entry{Name: b.Name, Dir: true, FileID: b.ID})
		}
		m.cache.PutListing(bucketsKey, es)
		l, ok := m.cache.Listing(bucketsKey)
		if !ok { // caching disabled: return what we have, sorted
			l = buildSortedCopy(es)
		}
		return l, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]cache.Entry), nil
}

func buildSortedCopy(es []cache.Entry) []cache.Entry {
	out := append([]cache.Entry(nil), es...)
	sortEntries(out)
	return out
}

// sharedTimeout bounds one shared listing, whoever waits for it.
const sharedTimeout = 10 * time.Minute

// shared runs fn once for all concurrent callers with the same key. fn gets
// a context that no single caller can cancel (bounded by sharedTimeout and
// the filesystem's lifetime), so
// an interrupted ls does not fail the others waiting for the same listing;
// each caller still returns as soon as its own context is done.
func (m *Meta) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := m.sf.DoChan(key, func() (any, error) {
		sctx, cancel := context.WithTimeout(m.life, sharedTimeout)
		defer cancel()
		return fn(sctx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// DirKey is the metadata cache key of directory prefix of b (its listing).
func DirKey(b Bucket, prefix string) string { return dirKey(b, prefix) }
