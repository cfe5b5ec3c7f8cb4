package readahead

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ReadOptions tune how file handles fetch data.
type ReadOptions struct {
	// InitialWindow is the readahead of a reader that just started reading
	// sequentially. Default 1 MiB.
	InitialWindow int64
	// MaxWindow caps the readahead window of one handle (it doubles on
	// sequential reads up to this). Default 64 MiB.
	MaxWindow int64
	// ChunkSize is the largest single ranged download; a window is fetched
	// as several chunks in parallel. Default 8 MiB.
	ChunkSize int64
	// RandomAlign is the alignment of the ranges a random reader fetches.
	// Default 128 KiB.
	RandomAlign int64
	// Budget bounds the readahead memory of all handles together; nil means
	// no global bound.
	Budget *Budget
}

func (o *ReadOptions) fill() {
	if o.InitialWindow <= 0 {
		o.InitialWindow = 1 << 20
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 64 << 20
	}
	if o.MaxWindow < o.InitialWindow {
		o.MaxWindow = o.InitialWindow
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 8 << 20
	}
	if o.RandomAlign <= 0 {
		o.RandomAlign = 128 << 10
	}
}

// FetchFunc streams length bytes starting at off.
type FetchFunc func(ctx context.Context, off, length int64) (io.ReadCloser, error)

// fillStep is how many bytes a fetch reads before waking waiters.
const fillStep = 256 << 10

// segment is a byte range being downloaded or downloaded. Its buffer
// comes from the handle's bufPool and goes back once the segment is done
// (no fetch writes to it), dropped (no new read finds it) and unpinned (no
// read copies from it).
type segment struct {
	off  int64
	size int64
	buf  []byte // valid until released; only the fetch writes to it
	seq  bool   // fetched for a sequential reader (readahead)

	mu       sync.Mutex // guards the fields below
	filled   int
	err      error
	done     bool
	dropped  bool
	pins     int           // reads copying from buf
	counted  int64         // bytes taken from the Budget, returned with buf
	released bool          // buf went back to the pool
	wake     chan struct{} // closed and replaced whenever filled, err or done change
}

func (s *segment) end() int64 { return s.off + s.size }

// wait blocks until the segment holds its first n bytes or failed.
func (s *segment) wait(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.filled >= n {
			s.mu.Unlock()
			return nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		ch := s.wake
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// releaseLocked hands the buffer back once nothing can touch it. It
// returns the buffer and its budget for pool.put, called after s.mu is
// released.
func (s *segment) releaseLocked() ([]byte, int64, bool) {
	if s.released || !s.done || !s.dropped || s.pins > 0 {
		return nil, 0, false
	}
	s.released = true
	b, c := s.buf, s.counted
	s.buf, s.counted = nil, 0
	return b, c, true
}

func (s *segment) progress(n int, err error, done bool, p *bufPool) {
	s.mu.Lock()
	s.filled += n
	if err != nil && s.err == nil {
		s.err = err
	}
	if done {
		s.done = true
	}
	b, c, ok := s.releaseLocked()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	if ok {
		p.put(b, c)
	}
}

func (s *segment) drop(p *bufPool) {
	s.mu.Lock()
	s.dropped = true
	b, c, ok := s.releaseLocked()
	s.mu.Unlock()
	if ok {
		p.put(b, c)
	}
}

// pin keeps the buffer from going back to the pool; the caller holds the
// reader's lock, so the segment is not dropped yet.
func (s *segment) pin() {
	s.mu.Lock()
	s.pins++
	s.mu.Unlock()
}

func (s *segment) unpin(p *bufPool) {
	s.mu.Lock()
	s.pins--
	b, c, ok := s.releaseLocked()
	s.mu.Unlock()
	if ok {
		p.put(b, c)
	}
}

func (s *segment) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

// Reader serves reads of one file version. Sequential readers get a
// readahead window that doubles from InitialWindow up to MaxWindow, fetched
// as ChunkSize pieces in parallel; random readers fetch only the
// RandomAlign-aligned range they asked for.
type Reader struct {
	opts   ReadOptions
	size   int64
	fetch  FetchFunc
	pool   *bufPool        // the Budget's, or the handle's own without one
	ctx    context.Context // canceled by close; parent of every fetch
	cancel context.CancelFunc

	mu     sync.Mutex // guards the fields below; never held while waiting or fetching
	segs   []*segment // sorted by off, not overlapping
	hiEnd  int64      // furthest end of the sequential run, -1 before the first read
	inSeq  bool       // the last read was sequential
	window int64
	closed bool
}

func New(size int64, fetch FetchFunc, opts ReadOptions) *Reader {
	opts.fill()
	ctx, cancel := context.WithCancel(context.Background())
	pool := &bufPool{idleMax: opts.MaxWindow + opts.ChunkSize}
	if opts.Budget != nil {
		pool = &opts.Budget.bufs
	}
	return &Reader{opts: opts, size: size, fetch: fetch, pool: pool, ctx: ctx, cancel: cancel,
		hiEnd: -1, window: opts.InitialWindow}
}

// ReadAt reads len(p) bytes at off, fewer only at the end of the file. It
// never returns a short count with a nil error before EOF.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	b, err := r.read(ctx, p, off)
	return len(b), err
}

// read copies the len(p) bytes at off (fewer only at the end of the file)
// into p and returns them. The result is always p's memory, never a
// segment's: segment buffers are recycled as soon as the segment is
// consumed (ReadVec hands them out instead, pinned until released).
func (r *Reader) read(ctx context.Context, p []byte, off int64) ([]byte, error) {
	need, end, err := r.acquire(ctx, off, len(p))
	if err != nil || len(need) == 0 {
		return nil, err
	}
	defer r.unpinAll(need)
	n := 0
	for _, s := range need {
		from, to := max(off, s.off), min(end, s.end())
		n += copy(p[from-off:], s.buf[from-s.off:to-s.off])
	}
	if int64(n) != end-off {
		return nil, fmt.Errorf("read at %d: internal error: %d of %d bytes planned", off, n, end-off)
	}
	return p[:n], nil
}

// ReadVec returns the n bytes at off (fewer only at the end of the file)
// as slices of the reader's own buffers, without copying them. The
// buffers stay pinned (not recycled, still counted in the Budget) until
// release is called, which must happen exactly once, also after Close.
func (r *Reader) ReadVec(ctx context.Context, off int64, n int) (vec [][]byte, release func(), err error) {
	need, end, err := r.acquire(ctx, off, n)
	if err != nil || len(need) == 0 {
		return nil, func() {}, err
	}
	vec = make([][]byte, 0, len(need))
	for _, s := range need {
		from, to := max(off, s.off), min(end, s.end())
		vec = append(vec, s.buf[from-s.off:to-s.off])
	}
	var once sync.Once
	return vec, func() { once.Do(func() { r.unpinAll(need) }) }, nil
}

// acquire plans a read of n bytes at off, waits until the segments
// covering it hold them and returns those segments pinned (the caller
// unpins them) and the end of the range, clipped to the file's size.
func (r *Reader) acquire(ctx context.Context, off int64, n int) ([]*segment, int64, error) {
	if off < 0 {
		return nil, 0, fmt.Errorf("read at %d: negative offset", off)
	}
	if off >= r.size || n <= 0 {
		return nil, off, nil
	}
	end := min(r.size, off+int64(n))
	need, err := r.plan(off, end)
	if err != nil {
		return nil, 0, err
	}
	for _, s := range need {
		if err := s.wait(ctx, int(min(end, s.end())-s.off)); err != nil {
			if s.failed() {
				r.forget(s)
			}
			r.unpinAll(need)
			return nil, 0, fmt.Errorf("read %d bytes at %d: %w", end-off, off, err)
		}
	}
	return need, end, nil
}

func (r *Reader) unpinAll(segs []*segment) {
	for _, s := range segs {
		s.unpin(r.pool)
	}
}

// keepBehind is how far behind the furthest sequential read segments are
// kept: the kernel sends several reads at once and they may arrive out of
// order.
const keepBehind = 8 << 20

// sequential reports whether a read at off continues the sequential run:
// it starts the file, continues a random read exactly, or (during a run)
// falls in data fetched ahead or lies near the furthest read so far.
func (r *Reader) sequential(off int64) bool {
	if r.hiEnd < 0 {
		return off == 0
	}
	if !r.inSeq {
		// After a random read only a read that continues it exactly
		// starts a sequential run.
		return off == r.hiEnd
	}
	for _, s := range r.segs {
		if s.seq && s.off <= off && off < s.end() {
			return true
		}
	}
	return off >= r.hiEnd-keepBehind && off <= r.hiEnd+max(keepBehind, r.window)
}

// plan updates the window, drops segments no longer useful, starts the
// fetches needed for [off,end) plus readahead, and returns the segments
// covering [off,end) in order.
func (r *Reader) plan(off, end int64) ([]*segment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("read on a closed handle")
	}
	seq := r.sequential(off)
	r.inSeq = seq
	var from, to int64
	if seq {
		r.hiEnd = max(r.hiEnd, end)
		r.dropBefore(off, r.hiEnd-keepBehind)
		from = off
		ahead := r.hiEnd
		to = min(r.size, ahead+r.window)
		// Refill only when less than half the window is left ahead, so
		// that fetches are large.
		if r.coveredFrom(off) >= min(r.size, ahead+r.window/2) {
			to = end
		} else if r.window < r.opts.MaxWindow {
			r.window = min(2*r.window, r.opts.MaxWindow)
		}
	} else {
		r.hiEnd = end
		r.window = r.opts.InitialWindow
		r.dropOutside(off, end)
		a := r.opts.RandomAlign
		from = off / a * a
		to = min(r.size, (end+a-1)/a*a)
	}
	r.fill(from, to, end, seq)
	var need []*segment
	for _, s := range r.segs {
		if s.end() > off && s.off < end {
			s.pin()
			need = append(need, s)
		}
	}
	return need, nil
}

// coveredFrom returns the end of the contiguous run of segments starting at
// or before off (off itself when off is not covered).
func (r *Reader) coveredFrom(off int64) int64 {
	pos := off
	for _, s := range r.segs {
		if s.off <= pos && s.end() > pos {
			pos = s.end()
		}
	}
	return pos
}

// fill starts fetches for the gaps in [from,to). Bytes below demandEnd were
// asked for and are always fetched; bytes beyond are readahead and only
// fetched while the Budget allows.
func (r *Reader) fill(from, to, demandEnd int64, seq bool) {
	pos := from
	var added []*segment
	for pos < to {
		// Skip existing coverage.
		covered := false
		next := to
		for _, s := range r.segs {
			if s.off <= pos && s.end() > pos {
				pos = s.end()
				covered = true
				break
			}
			if s.off > pos && s.off < next {
				next = s.off
			}
		}
		if covered {
			continue
		}
		n := min(next-pos, r.opts.ChunkSize)
		buf, counted, ok := r.pool.get(n, false)
		if !ok {
			if pos >= demandEnd {
				break // readahead over budget: skip
			}
			a := r.opts.RandomAlign
			n = min(n, (demandEnd-pos+a-1)/a*a)
			buf, counted, _ = r.pool.get(n, true)
		}
		s := &segment{off: pos, size: n, buf: buf, seq: seq, counted: counted, wake: make(chan struct{})}
		added = append(added, s)
		r.insert(s)
		pos += n
	}
	for _, s := range added {
		go r.run(s)
	}
}

func (r *Reader) insert(s *segment) {
	i := 0
	for i < len(r.segs) && r.segs[i].off < s.off {
		i++
	}
	r.segs = append(r.segs, nil)
	copy(r.segs[i+1:], r.segs[i:])
	r.segs[i] = s
}

// run downloads one segment. It is the only writer of the buffer and
// must not touch it after reporting the segment done, when the buffer may
// go back to the pool.
func (r *Reader) run(s *segment) {
	buf := s.buf
	body, err := r.fetch(r.ctx, s.off, int64(len(buf)))
	if err != nil {
		s.progress(0, err, true, r.pool)
		return
	}
	defer body.Close()
	filled := 0
	for filled < len(buf) {
		step := min(len(buf), filled+fillStep)
		n, err := io.ReadFull(body, buf[filled:step])
		filled += n
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("download of %d bytes at %d ended after %d bytes: %w", len(buf), s.off, filled, io.ErrUnexpectedEOF)
			}
			s.progress(n, err, true, r.pool)
			return
		}
		s.progress(n, nil, filled == len(buf), r.pool)
	}
}

// dropBefore drops segments that end before keep, and segments outside
// the Budget (fetched only because a reader asked for them) that end before
// off.
func (r *Reader) dropBefore(off, keep int64) {
	keep = min(off, keep)
	out := r.segs[:0]
	for _, s := range r.segs {
		s.mu.Lock()
		uncounted := s.counted == 0
		s.mu.Unlock()
		if s.end() <= keep || (uncounted && s.end() <= off) {
			s.drop(r.pool)
			continue
		}
		out = append(out, s)
	}
	clear(r.segs[len(out):])
	r.segs = out
}

func (r *Reader) dropOutside(off, end int64) {
	keep := r.segs[:0]
	for _, s := range r.segs {
		if s.end() <= off || s.off >= end {
			s.drop(r.pool)
			continue
		}
		keep = append(keep, s)
	}
	clear(r.segs[len(keep):])
	r.segs = keep
}

// forget removes a failed segment so that the next read fetches again.
func (r *Reader) forget(s *segment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.segs {
		if x == s {
			r.segs = append(r.segs[:i], r.segs[i+1:]...)
			s.drop(r.pool)
			return
		}
	}
}

// close cancels outstanding fetches and releases the handle's memory.
func (r *Reader) close() {
	r.mu.Lock()
	r.closed = true
	segs := r.segs
	r.segs = nil
	r.mu.Unlock()
	r.cancel()
	for _, s := range segs {
		s.drop(r.pool)
	}
}

// buffered returns the bytes held by the handle's segments (for tests).
func (r *Reader) buffered() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, s := range r.segs {
		n += s.size
	}
	return n
}

// Read reads len(p) bytes at off (fewer only at the end of the file) and
// returns them: p, or a segment's buffer, which the caller must not keep.
func (r *Reader) Read(ctx context.Context, p []byte, off int64) ([]byte, error) {
	return r.read(ctx, p, off)
}

// Close ends the reader: its fetches are cancelled and its buffers
// returned.
func (r *Reader) Close() { r.close() }

// Fill sets the defaults of the options left zero.
func (o *ReadOptions) Fill() { o.fill() }
