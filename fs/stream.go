package fs

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// Streamed directory listings. A directory listed with the delimiter is
// fetched page by page by one goroutine per directory (a dirStream), shared
// by every reader of that directory. Readers see the entries that are final
// so far (sorted by name) as soon as each page arrives; the fetcher stays at
// most one page ahead of the furthest reader; the complete listing goes to
// the cache at the end. Lock order: meta.streamMu before dirStream.mu.

// streamIdle is how long a fetcher waits for a reader to ask for more before
// it stops; a reader that comes back later restarts it where it stopped.
const streamIdle = time.Minute

// dirStream is the listing of one directory being fetched.
type dirStream struct {
	m      *meta
	b      Bucket
	prefix string
	key    string

	mu       sync.Mutex // guards the fields below
	objs     []Object   // every object received so far
	start    string     // start name of the next page
	pages    int
	marks    []int         // len(safe) after each page
	safe     []cache.Entry // final entries so far, sorted; replaced, never modified
	bound    string        // entries named >= bound may still change (unless done)
	done     bool          // safe is the complete listing
	err      error         // the listing failed (done is false)
	running  bool          // a fetcher goroutine is active
	consumed int           // most entries of safe any reader has used
	update   chan struct{} // closed and replaced on every change
	demand   chan struct{} // readers poke the fetcher (cap 1)
}

// openStream returns the listing stream of directory prefix of b: a
// finished one when the listing is cached, else the shared stream of the
// directory, started if needed.
func (m *meta) openStream(b Bucket, prefix string) *dirStream {
	key := dirKey(b, prefix)
	if l, ok := m.cache.Listing(key); ok {
		return &dirStream{m: m, b: b, prefix: prefix, key: key, safe: l, done: true, update: make(chan struct{})}
	}
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	s := m.streams[key]
	if s == nil {
		// Checked again under streamMu: a stream that just finished
		// cached its listing before leaving the map.
		if l, ok := m.cache.Listing(key); ok {
			return &dirStream{m: m, b: b, prefix: prefix, key: key, safe: l, done: true, update: make(chan struct{})}
		}
		s = &dirStream{m: m, b: b, prefix: prefix, key: key, update: make(chan struct{}), demand: make(chan struct{}, 1)}
		if m.streams == nil {
			m.streams = map[string]*dirStream{}
		}
		m.streams[key] = s
	}
	s.mu.Lock()
	if !s.running && !s.done && s.err == nil {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
	return s
}

// activeStream returns the stream of key in progress, or nil.
func (m *meta) activeStream(key string) *dirStream {
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	return m.streams[key]
}

// leave removes s from the active streams (called by its fetcher when it
// stops for good or goes idle).
func (s *dirStream) leave() {
	s.m.streamMu.Lock()
	if s.m.streams[s.key] == s {
		delete(s.m.streams, s.key)
	}
	s.m.streamMu.Unlock()
}

// changed wakes the readers; s.mu is held.
func (s *dirStream) changed() {
	close(s.update)
	s.update = make(chan struct{})
}

// wait returns the final entries once there are more than seen of them (or
// the listing is complete or failed), telling the fetcher that a reader has
// used seen entries. bound is the name from which entries may still come
// (meaningless when done).
func (s *dirStream) wait(ctx context.Context, seen int) (safe []cache.Entry, bound string, done bool, err error) {
	for {
		s.mu.Lock()
		if seen > s.consumed {
			s.consumed = seen
		}
		if !s.done && s.err == nil && !s.running {
			// The fetcher went idle; a reader wants more: restart it
			// (and make it findable for sharing again).
			s.running = true
			s.m.streamMu.Lock()
			if s.m.streams == nil {
				s.m.streams = map[string]*dirStream{}
			}
			if _, ok := s.m.streams[s.key]; !ok {
				s.m.streams[s.key] = s
			}
			s.m.streamMu.Unlock()
			go s.run()
		}
		if s.done || s.err != nil || len(s.safe) > seen {
			safe, bound, done, err = s.safe, s.bound, s.done, s.err
			s.mu.Unlock()
			s.poke()
			return safe, bound, done, err
		}
		ch := s.update
		s.mu.Unlock()
		s.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, "", false, ctx.Err()
		}
	}
}

func (s *dirStream) poke() {
	if s.demand == nil {
		return
	}
	select {
	case s.demand <- struct{}{}:
	default:
	}
}

// lookup answers name from the part of the listing received so far: ok is
// false when the name may still come in a later page.
func (s *dirStream) lookup(name string) (e cache.Entry, found, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.safe == nil || (!s.done && name >= s.bound) {
		return cache.Entry{}, false, false
	}
	e, found = cache.Find(s.safe, name)
	return e, found, true
}

// wanted reports whether the fetcher should fetch the next page now: the
// first two pages at once, then one page ahead of the furthest reader.
// s.mu is held.
func (s *dirStream) wanted() bool {
	return s.pages < 2 || s.consumed >= s.marks[s.pages-2]
}

// run is the fetcher: subtree prefetch first (when enabled), else the
// delimiter listing page by page.
func (s *dirStream) run() {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	m := s.m
	s.mu.Lock()
	first := s.pages == 0 && s.objs == nil
	s.mu.Unlock()
	if first {
		es, ok, err := m.prefetch(ctx, s.b, s.prefix)
		if err != nil {
			s.fail(err)
			return
		}
		if ok {
			s.mu.Lock()
			s.safe, s.done, s.running = es, true, false
			s.changed()
			s.mu.Unlock()
			s.leave()
			return
		}
	}
	idle := time.NewTimer(streamIdle)
	defer idle.Stop()
	for {
		s.mu.Lock()
		if !s.wanted() {
			s.mu.Unlock()
			idle.Reset(streamIdle)
			select {
			case <-s.demand:
				continue
			case <-idle.C:
				s.mu.Lock()
				s.running = false
				s.mu.Unlock()
				s.leave()
				m.log.Debug("directory listing idle", "bucket", s.b.Name, "prefix", s.prefix, "pages", s.pages)
				return
			}
		}
		start, pages := s.start, s.pages
		s.mu.Unlock()
		// Bounded: every page advances start (B2 guarantees progress);
		// the page count is capped as a last resort against a broken
		// server.
		if pages > 1_000_000 {
			s.fail(errPaging)
			return
		}
		m.log.Debug("list directory", "bucket", s.b.Name, "prefix", s.prefix, "start", start)
		p, err := m.be.ListDir(ctx, s.b, s.prefix, start, m.pageSize)
		if err != nil {
			s.fail(err)
			return
		}
		last := p.Next == "" || p.Next == start
		s.mu.Lock()
		s.objs = append(s.objs, p.Objects...)
		all := buildEntries(m.log, s.prefix, s.objs)
		s.pages++
		if last {
			objs := s.objs
			s.objs = nil
			s.mu.Unlock()
			// Cached before the readers are told, so that the listing
			// is in the cache when any of them returns.
			m.noteMarker(s.b, s.prefix, objs)
			m.cache.PutListing(s.key, all)
			s.mu.Lock()
			s.safe, s.done, s.running = all, true, false
			s.marks = append(s.marks, len(all))
			s.changed()
			s.mu.Unlock()
			s.leave()
			return
		}
		s.start = p.Next
		if len(p.Objects) > 0 {
			s.bound = streamBound(s.prefix, p.Objects[len(p.Objects)-1].Name)
		}
		n := sort.Search(len(all), func(i int) bool { return all[i].Name >= s.bound })
		s.safe = all[:n:n]
		s.marks = append(s.marks, n)
		s.changed()
		s.mu.Unlock()
	}
}

func (s *dirStream) fail(err error) {
	s.mu.Lock()
	s.err, s.running = err, false
	s.objs = nil
	s.changed()
	s.mu.Unlock()
	s.leave()
}

// streamBound returns the smallest entry name that objects after last (a
// B2 name in directory dir, listed in byte order) can still produce or
// change: last's own entry name (a folder "x/" hides a file "x" listed
// before it), or a shorter prefix t of it when the byte after t sorts
// before '/' (the folder t+"/" sorts after last while t sorts before).
func streamBound(dir, last string) string {
	rel := last
	if len(rel) >= len(dir) {
		rel = rel[len(dir):]
	}
	for i := 1; i < len(rel); i++ {
		if rel[i] < '/' {
			return rel[:i]
		}
	}
	if len(rel) > 0 && rel[len(rel)-1] == '/' {
		rel = rel[:len(rel)-1]
	}
	return rel
}

// streamStep advances a reader of directory prefix of b: it waits for
// entries of the listing beyond those c has used, merges in the staged
// files (withStaged, as for a complete listing) up to the part of the
// listing that is final, and appends to c's entries those that sort after
// the last one returned, so that entries already returned never move.
func (f *FS) streamStep(ctx context.Context, b Bucket, prefix string, c dirCursor) (dirCursor, error) {
	if c.stream == nil {
		c.stream = f.meta.openStream(b, prefix)
	}
	safe, bound, done, err := c.stream.wait(ctx, c.seen)
	if err != nil {
		return c, err
	}
	c.seen = len(safe)
	merged := f.withStaged(b, prefix, safe)
	from := 0
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1].Name
		from = sort.Search(len(merged), func(i int) bool { return merged[i].Name > last })
	}
	to := len(merged)
	if !done {
		to = sort.Search(len(merged), func(i int) bool { return merged[i].Name >= bound })
	}
	if from < to {
		if len(c.entries) == 0 && done {
			c.entries = merged // the whole listing: shared, never modified
		} else {
			c.entries = append(c.entries[:len(c.entries):len(c.entries)], merged[from:to]...)
		}
	}
	c.done = done
	return c, nil
}
