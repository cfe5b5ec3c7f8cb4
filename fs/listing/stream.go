package listing

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/cache"
)

// Streamed directory listings. A directory listed with the delimiter is
// fetched page by page by one goroutine per directory (a Stream), shared
// by every reader of that directory. Readers see the entries that are final
// so far (sorted by name) as soon as each page arrives; the fetcher stays at
// most one page ahead of the furthest reader; the complete listing goes to
// the cache at the end.
//
// LOCK ORDER: Meta.streamMu, then Stream.mu. A reader holding s.mu
// releases it before it takes streamMu (restart); a fetcher stops under
// both (stop).

// streamIdle is how long a fetcher waits for a reader to ask for more before
// it stops; a reader that comes back later restarts it where it stopped.
const streamIdle = time.Minute

// idle is the fetchers' idle time (streamIdle unless a test set it).
func (m *Meta) idle() time.Duration {
	if d := time.Duration(m.streamIdle.Load()); d > 0 {
		return d
	}
	return streamIdle
}

// Stream is the listing of one directory being fetched, shared by its
// readers (see OpenStream).
type Stream struct {
	m      *Meta
	b      Bucket
	prefix string
	key    string

	mu       sync.Mutex // guards the fields below
	markers  []Object   // the directory's .bzEmpty marker, when received
	received bool       // a page has been received (markers may be empty)
	start    string     // start name of the next page
	pages    int
	all      []cache.Entry // entries received, sorted by name; only appended to or replaced (see appendPage)
	last     string        // the last B2 name received
	done     bool          // all is the complete listing
	err      error         // the listing failed (done is false)
	running  bool          // a fetcher goroutine is active
	consumed int           // most pages any reader has used
	update   chan struct{} // closed and replaced on every change
	demand   chan struct{} // readers poke the fetcher (cap 1)
	// patches are the changes made through the filesystem while the
	// stream was active (see Meta.Changed), by name; applied counts
	// them and gen0 is the directory's generation when the stream
	// started: a change it missed (made while it was idle, or an
	// Invalidated) keeps its listing out of the cache (noCache).
	patches map[string]*cache.Entry
	applied uint64
	gen0    uint64
	noCache bool
	// genDone is the directory's generation when all became the
	// complete listing (the stream ended, or it was opened on the cached
	// listing): all has every change made before (see Latest).
	genDone uint64
}

// final reports whether the entry called name (of a directory whose
// listing reached the B2 name last) can no longer change: later names sort
// after last, and the folder name+"/" (which would hide a file called
// name) is not among them.
func final(dir, last, name string) bool {
	// dir+name+"/" <= last, without building the string.
	if !strings.HasPrefix(last, dir) {
		return last > dir
	}
	rest := last[len(dir):]
	n := min(len(name), len(rest))
	if c := strings.Compare(name[:n], rest[:n]); c != 0 {
		return c < 0
	}
	if len(rest) <= len(name) {
		return false
	}
	return rest[len(name)] >= '/'
}

// openStream returns the listing stream of directory prefix of b: a
// finished one when the listing is cached, else the shared stream of the
// directory, started if needed.
func (m *Meta) openStream(b Bucket, prefix string) *Stream {
	key := dirKey(b, prefix)
	// Read before the cache: the listing found has every change made
	// before (the change patches the cache after it moves the
	// generation).
	gen := m.gens.slot(key).Load()
	if l, ok := m.cache.Listing(key); ok {
		return &Stream{m: m, b: b, prefix: prefix, key: key, all: l, done: true, genDone: gen, update: make(chan struct{})}
	}
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	s := m.streams[key]
	if s == nil {
		// Checked again under streamMu: a stream that just finished
		// cached its listing before leaving the map.
		gen = m.gens.slot(key).Load()
		if l, ok := m.cache.Listing(key); ok {
			return &Stream{m: m, b: b, prefix: prefix, key: key, all: l, done: true, genDone: gen, update: make(chan struct{})}
		}
		s = &Stream{m: m, b: b, prefix: prefix, key: key, update: make(chan struct{}), demand: make(chan struct{}, 1),
			gen0: m.gens.slot(key).Load()}
		if m.streams == nil {
			m.streams = map[string]*Stream{}
		}
		m.streams[key] = s
	}
	s.mu.Lock()
	s.startLocked()
	s.mu.Unlock()
	return s
}

// startLocked starts the fetcher of s unless it runs, is finished, or the
// filesystem is shut down (then the stream fails). Both m.streamMu and s.mu
// are held.
func (s *Stream) startLocked() {
	if s.running || s.done || s.err != nil {
		return
	}
	if s.m.closed {
		s.err = errShutdown
		s.changed()
		return
	}
	s.running = true
	s.m.fetchers.Add(1)
	go func() {
		defer s.m.fetchers.Done()
		s.run()
	}()
}

// restart starts the fetcher of s again for a reader that wants more
// after it went idle, and makes s findable for sharing again (unless a
// newer stream of the directory took its place). Lock order: streamMu,
// then s.mu.
func (s *Stream) restart() {
	m := s.m
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.done || s.err != nil {
		return
	}
	if m.streams == nil {
		m.streams = map[string]*Stream{}
	}
	if _, ok := m.streams[s.key]; !ok {
		m.streams[s.key] = s
	}
	s.startLocked()
}

// activeStream returns the stream of key in progress, or nil.
func (m *Meta) activeStream(key string) *Stream {
	m.streamMu.Lock()
	defer m.streamMu.Unlock()
	return m.streams[key]
}

// stop ends the fetcher of s: update (may be nil) changes the stream's
// state, the fetcher is marked stopped and s leaves the active streams,
// all under streamMu and s.mu, so that no reader can restart s between
// its fetcher stopping and its leaving the map (which would leave a
// running stream unshared, and a second fetcher listing the directory
// again).
func (s *Stream) stop(update func()) {
	s.m.streamMu.Lock()
	s.mu.Lock()
	if update != nil {
		update()
	}
	s.running = false
	if s.m.streams[s.key] == s {
		delete(s.m.streams, s.key)
	}
	s.changed()
	s.mu.Unlock()
	s.m.streamMu.Unlock()
}

// changed wakes the readers; s.mu is held.
func (s *Stream) changed() {
	close(s.update)
	s.update = make(chan struct{})
}

// wait returns the entries received once more than seen pages have been
// (or the listing is complete or failed), telling the fetcher that a reader
// has used seen pages. Entries are final as told by final(last, name)
// unless done.
func (s *Stream) wait(ctx context.Context, seen int) (all []cache.Entry, last string, pages int, done bool, err error) {
	for {
		s.mu.Lock()
		if seen > s.consumed {
			s.consumed = seen
		}
		if !s.done && s.err == nil && !s.running {
			// The fetcher went idle; a reader wants more: restart it.
			// s.mu is released first (lock order: streamMu, then s.mu).
			s.mu.Unlock()
			s.restart()
			continue
		}
		if s.done || s.err != nil || s.pages > seen {
			all, last, pages, done, err = s.all, s.last, s.pages, s.done, s.err
			s.mu.Unlock()
			s.poke()
			return all, last, pages, done, err
		}
		ch := s.update
		s.mu.Unlock()
		s.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, "", 0, false, ctx.Err()
		}
	}
}

func (s *Stream) poke() {
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
func (s *Stream) lookup(name string) (e cache.Entry, found, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pages == 0 && !s.done || !s.done && !final(s.prefix, s.last, b2Seg(name)) {
		return cache.Entry{}, false, false
	}
	e, found = cache.Find(s.all, name)
	return e, found, true
}

// wanted reports whether the fetcher should fetch the next page now: the
// first two pages at once, then one page ahead of the furthest reader.
// s.mu is held.
func (s *Stream) wanted() bool {
	return s.pages < 2 || s.consumed >= s.pages-1
}

// run is the fetcher: subtree prefetch first (when enabled), else the
// delimiter listing page by page.
func (s *Stream) run() {
	m := s.m
	ctx, cancel := context.WithTimeout(m.life, sharedTimeout)
	defer cancel()
	s.mu.Lock()
	first := s.pages == 0 && !s.received
	s.mu.Unlock()
	if first {
		es, ok, head, err := m.prefetch(ctx, s.b, s.prefix)
		if err != nil {
			s.fail(err)
			return
		}
		if ok {
			s.stop(func() {
				s.all, s.done = applyPatches(es, s.patches), true
				s.genDone = m.gens.slot(s.key).Load()
			})
			return
		}
		if head != nil {
			// The window got this directory's first names: the
			// delimiter listing continues after them (see windowHead).
			s.mu.Lock()
			s.all = append([]cache.Entry(nil), head.entries...)
			s.markers = append(s.markers, head.markers...)
			s.start, s.last = head.next, head.last
			s.received = true
			s.pages++
			s.changed()
			s.mu.Unlock()
		}
	}
	idle := time.NewTimer(m.idle())
	defer idle.Stop()
	for {
		s.mu.Lock()
		if !s.wanted() {
			s.mu.Unlock()
			idle.Reset(m.idle())
			select {
			case <-s.demand:
				continue
			case <-ctx.Done():
				s.fail(ctx.Err())
				return
			case <-idle.C:
				s.stop(nil)
				m.log.Debug("directory listing idle", "bucket", s.b.Name, "prefix", s.prefix)
				if h := m.afterIdle; h != nil {
					h(s)
				}
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
		page := buildEntries(m.log, s.prefix, p.Objects)
		s.mu.Lock()
		page = s.unpatchedLocked(page)
		s.received = true
		for _, o := range p.Objects {
			if !o.Folder && o.Name == s.prefix+EmptyMarker {
				s.markers = append(s.markers, o)
			}
		}
		all := appendPage(m.log, s.prefix, s.all, page, last)
		s.pages++
		if last {
			markers := s.markers
			s.markers = nil
			s.mu.Unlock()
			// Cached before the readers are told, so that the listing
			// is in the cache when any of them returns; under the
			// stream's locks (stop), so that a change made through the
			// filesystem either is in it (Meta.Changed) or patches the
			// cached listing after it.
			s.stop(func() {
				all = applyPatches(all, s.patches) // those made since the page was added
				s.all, s.done = all, true
				s.genDone = m.gens.slot(s.key).Load()
				m.noteMarker(s.b, s.prefix, markers)
				m.small.note(s.key, len(all))
				if !s.noCache && m.gens.slot(s.key).Load()-s.gen0 == s.applied {
					m.cache.PutSortedListing(s.key, all) // all is final: never appended to again
				}
			})
			return
		}
		s.start = p.Next
		if len(p.Objects) > 0 {
			s.last = p.Objects[len(p.Objects)-1].Name
		}
		s.all = all
		s.changed()
		s.mu.Unlock()
	}
}

func (s *Stream) fail(err error) {
	s.stop(func() {
		s.err = err
		s.markers = nil
	})
}
