package listing

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// Subtree prefetch. The first time a directory D is listed, b2fs lists D's
// whole subtree without a delimiter (Backend.ListTree), up to a budget of
// pages, and caches a complete listing for D and for every directory below
// it whose names all came back. One call of 10,000 names thus answers
// readdir, lookup and stat (including each subdirectory's .bzEmpty
// metadata) for a whole tree: find, ls -lR and du cost ceil(N/10,000) list
// calls instead of one per directory.
//
// A listing fetched this way is a window of D's names in byte order: the
// first window holds every name of D up to the last name fetched (last).
// A directory X below D is complete in a window when all names starting
// with X lie in it: X starts after the window's start and last does not
// start with X (or the listing reached its end). Directories whose range
// the window cut (D itself and the chain of folders holding last) are
// marked large: they are listed with the delimiter, and no prefetch starts
// at them while the mark is fresh. D also remembers where its window
// stopped, so that listing a directory beyond it continues D's subtree
// listing from there (another window, same budget) instead of starting a
// new one per directory.
//
// Listings built here go to the cache exactly like delimiter listings
// (PutListing, noteMarker), so the write path patches and invalidates them
// the same way, and each expires on its own DirTTL.

// treeBuilder groups the names of one window of a subtree listing by
// directory, as delimiter listings of each directory would return them.
// It needs no network and no kernel.
type treeBuilder struct {
	root  string // prefix of the directory whose subtree is listed
	first bool   // the window starts at the beginning of root's names
	after string // !first: every name of the window sorts after this one

	dirs       map[string][]Object // directory prefix → its objects and folder entries
	lastFolder map[string]string   // last folder entry added per directory (names arrive sorted)
	last       string              // last name added
	cost       int                 // objects and folder entries held
}

func newTreeBuilder(root string, first bool, after string) *treeBuilder {
	t := &treeBuilder{
		root: root, first: first, after: after,
		dirs:       map[string][]Object{},
		lastFolder: map[string]string{},
	}
	if first {
		t.dirs[root] = nil
	}
	return t
}

// add records one object of the listing; objects must arrive sorted by
// name. Names outside root are ignored.
func (t *treeBuilder) add(o Object) {
	if !strings.HasPrefix(o.Name, t.root) || o.Folder {
		return
	}
	t.last = o.Name
	dir, rest := t.root, o.Name[len(t.root):]
	for {
		if _, ok := t.dirs[dir]; !ok {
			t.dirs[dir] = nil
		}
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			t.dirs[dir] = append(t.dirs[dir], o)
			t.cost++
			return
		}
		folder := dir + rest[:i+1]
		if t.lastFolder[dir] != folder {
			t.lastFolder[dir] = folder
			t.dirs[dir] = append(t.dirs[dir], Object{Name: folder, Folder: true})
			t.cost++
		}
		dir, rest = folder, rest[i+1:]
	}
}

// finish sorts the directories seen into those whose listing is complete
// and those the window cut. done says the listing reached the end of root's
// names.
func (t *treeBuilder) finish(done bool) (complete, cut []string) {
	for d := range t.dirs {
		startOK := t.first || t.after < d
		endOK := done || !strings.HasPrefix(t.last, d)
		if startOK && endOK && (done || t.last != "") {
			complete = append(complete, d)
		} else {
			cut = append(cut, d)
		}
	}
	return complete, cut
}

// markerKnown reports whether the window shows whether directory d has a
// .bzEmpty marker: the marker's name lies within the window.
func (t *treeBuilder) markerKnown(d string, done bool) bool {
	name := d + EmptyMarker
	return (t.first || t.after < name) && (done || (t.last != "" && name <= t.last))
}

// treeState is what a prefetch learned about one directory.
type treeState struct {
	expires time.Time
	// large: the directory's subtree did not fit one window; list it with
	// the delimiter.
	large bool
	// after and next: a prefetch of this directory's subtree stopped after
	// the name after; it continues at next, inclusive ("" when it cannot).
	after, next string
}

// maxTreeStates bounds the number of remembered tree states.
const maxTreeStates = 10_000

// treeStates holds tree states with their expiry (the cache's DirTTL).
type treeStates struct {
	mu sync.Mutex // guards m
	m  map[string]treeState
}

func (s *treeStates) get(key string, now time.Time) (treeState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[key]
	if !ok || !now.Before(st.expires) {
		return treeState{}, false
	}
	return st, true
}

func (s *treeStates) put(key string, st treeState, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]treeState{}
	}
	if len(s.m) >= maxTreeStates {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
		if len(s.m) >= maxTreeStates {
			clear(s.m)
		}
	}
	s.m[key] = st
}

// parentPrefix returns the prefix of the directory holding directory
// prefix p (p not ""), e.g. "a/b/" → "a/", "a/" → "".
func parentPrefix(p string) string {
	i := strings.LastIndexByte(p[:len(p)-1], '/')
	return p[:i+1]
}

// prefetch tries to answer the listing of directory prefix of b from a
// subtree listing: continuing an ancestor's cut prefetch when prefix lies
// beyond it, else prefetching prefix's own subtree. It returns the
// directory's entries and true when it got a complete listing, false when
// the caller should list with the delimiter.
//
// When the window was cut inside the directory's own names (a directory of
// more names than the window holds), head is the part of its listing the
// window got, for the delimiter listing to continue from (see windowHead).
func (m *Meta) prefetch(ctx context.Context, b Bucket, prefix string) ([]cache.Entry, bool, *windowHead, error) {
	if m.tree == nil || m.prefetchPages <= 0 {
		return nil, false, nil, nil
	}
	if es, err := m.continueTree(ctx, b, prefix); es != nil || err != nil {
		return es, es != nil, nil, err
	}
	if st, ok := m.states.get(dirKey(b, prefix), m.cache.Options().Now()); ok && st.large {
		return nil, false, nil, nil
	}
	v, err := m.sharedWindow(ctx, b, prefix, true, "", "")
	if err != nil {
		return nil, false, nil, err
	}
	if es, ok := v.dirs[prefix]; ok {
		return es, true, nil, nil
	}
	if es, ok := m.cache.Listing(dirKey(b, prefix)); ok {
		return es, true, nil, nil
	}
	return nil, false, v.head, nil
}

// windowHead is the start of a directory's delimiter listing taken from a
// subtree window that was cut among the directory's own files: entries of
// every name up to last (inclusive, sorted by name), and the directory's
// .bzEmpty marker if it came before last. A delimiter listing that starts
// at next (the window's next page, as B2 paging itself would continue)
// completes it, so the window's pages are not fetched again: a directory
// of 100,000 files costs 10 list calls, not 2 + 10.
type windowHead struct {
	entries    []cache.Entry
	last, next string
	markers    []Object
}

// windowResult is what one subtree window gives: complete listings by
// directory prefix, and the head of the root's listing when it was cut in
// the root's own names.
type windowResult struct {
	dirs map[string][]cache.Entry
	head *windowHead
}

func (m *Meta) sharedWindow(ctx context.Context, b Bucket, root string, first bool, after, start string) (windowResult, error) {
	v, err := m.shared(ctx, "T"+dirKey(b, root)+"\x00"+start, func(ctx context.Context) (any, error) {
		return m.fetchWindow(ctx, b, root, first, after, start)
	})
	if err != nil {
		return windowResult{}, err
	}
	return v.(windowResult), nil
}

// continueTree continues the cut subtree listing of the nearest ancestor of
// directory prefix that stopped before prefix's names, and returns prefix's
// entries when that window holds them all (nil when there is no such
// ancestor or the window did not complete prefix).
func (m *Meta) continueTree(ctx context.Context, b Bucket, prefix string) ([]cache.Entry, error) {
	if m.tree == nil || m.prefetchPages <= 0 || prefix == "" {
		return nil, nil
	}
	now := m.cache.Options().Now()
	for a := parentPrefix(prefix); ; a = parentPrefix(a) {
		if st, ok := m.states.get(dirKey(b, a), now); ok && st.next != "" && st.after < prefix {
			return m.treeWindow(ctx, b, a, false, st.after, st.next, prefix)
		}
		if a == "" {
			return nil, nil
		}
	}
}

// treeWindow lists up to prefetchPages pages of root's subtree starting at
// start (after the name after unless first), caches every complete
// directory listing, records the cut ones, and returns want's entries when
// want's listing is complete (nil otherwise). Concurrent callers share one
// window.
func (m *Meta) treeWindow(ctx context.Context, b Bucket, root string, first bool, after, start, want string) ([]cache.Entry, error) {
	v, err := m.sharedWindow(ctx, b, root, first, after, start)
	if err != nil {
		return nil, err
	}
	if es, ok := v.dirs[want]; ok {
		return es, nil
	}
	// Another caller's window may have completed want already.
	if es, ok := m.cache.Listing(dirKey(b, want)); ok {
		return es, nil
	}
	return nil, nil
}

// fetchWindow does treeWindow's listing; it returns the listings it built,
// by directory prefix, and the head of root's listing when the window was
// cut in root's own names.
func (m *Meta) fetchWindow(ctx context.Context, b Bucket, root string, first bool, after, start string) (windowResult, error) {
	gen := m.mutations.Load()
	co := m.cache.Options()
	if st, ok := m.states.get(dirKey(b, root), co.Now()); !first && (!ok || st.next != start) {
		// An earlier caller continued this listing already.
		return windowResult{}, nil
	}
	limit := int(co.MaxEntries / 2)
	t := newTreeBuilder(root, first, after)
	next, done := start, false
	for pages := 0; pages < m.prefetchPages; pages++ {
		m.log.Debug("list subtree", "bucket", b.Name, "prefix", root, "start", next)
		p, err := m.tree.ListTree(ctx, b, root, next, m.pageSize)
		if err != nil {
			return windowResult{}, err
		}
		for _, o := range p.Objects {
			t.add(o)
		}
		if t.cost > limit {
			// Too big for the cache to hold: list this tree directory by
			// directory.
			// root and the folders holding the last name are marked
			// large.
			m.log.Debug("subtree too large to cache", "bucket", b.Name, "prefix", root)
			now := co.Now()
			for d := range t.dirs {
				if d == root || strings.HasPrefix(t.last, d) {
					m.states.put(dirKey(b, d), treeState{expires: now.Add(co.DirTTL), large: true}, now)
				}
			}
			return windowResult{}, nil
		}
		if p.Next == "" || p.Next == next {
			done = true
			break
		}
		next = p.Next
	}
	complete, cut := t.finish(done)
	out := make(map[string][]cache.Entry, len(complete))
	for _, d := range complete {
		out[d] = buildEntries(m.log, d, t.dirs[d])
	}
	res := windowResult{dirs: out}
	if first && !done && t.last != "" && !strings.Contains(t.last[len(root):], "/") {
		// Cut in root's own files: every name of root up to t.last is in
		// the window.
		h := &windowHead{entries: buildEntries(m.log, root, t.dirs[root]), last: t.last, next: next}
		for _, o := range t.dirs[root] {
			if !o.Folder && o.Name == root+EmptyMarker {
				h.markers = append(h.markers, o)
			}
		}
		res.head = h
	}
	// The check and the caching under streamMu, under which changes
	// made through the filesystem are counted (Changed, Mutated): a
	// change either raced the listing (nothing is cached from it) or
	// comes after its listings are in the cache, which it then patches.
	m.streamMu.Lock()
	if m.mutations.Load() != gen {
		m.streamMu.Unlock()
		// A change raced the listing: cache nothing from it (the
		// requested directory is still answered, as a delimiter listing
		// fetched at the same moment would be).
		return windowResult{dirs: out}, nil
	}
	if h := m.windowChecked; h != nil {
		h()
	}
	for _, d := range complete {
		m.noteMarker(b, d, t.dirs[d])
		m.small.note(dirKey(b, d), len(out[d]))
		m.cache.PutListing(dirKey(b, d), out[d])
	}
	for _, d := range cut {
		if t.markerKnown(d, done) {
			m.noteMarker(b, d, t.dirs[d])
		}
	}
	m.streamMu.Unlock()
	now := co.Now()
	exp := now.Add(co.DirTTL)
	for _, d := range cut {
		st := treeState{expires: exp, large: true}
		if d == root && !done && t.last != "" {
			// The continuation starts at the last name (inclusive)
			// rather than at the page's next name, so that names
			// created between the two since are not skipped.
			st.after, st.next = t.last, t.last
		}
		m.states.put(dirKey(b, d), st, now)
	}
	return res, nil
}
