package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/semaphore"
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

// Budget is a global bound on readahead memory, shared by all handles.
// Readahead only takes memory it can get without waiting; data a reader
// asked for is always fetched (it is bounded by the kernel's request size
// and concurrency).
type Budget struct {
	sem *semaphore.Weighted
}

// NewBudget returns a Budget of n bytes.
func NewBudget(n int64) *Budget { return &Budget{sem: semaphore.NewWeighted(n)} }

func (b *Budget) tryAcquire(n int64) bool { return b == nil || b.sem.TryAcquire(n) }
func (b *Budget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}

// fetchFunc streams length bytes starting at off.
type fetchFunc func(ctx context.Context, off, length int64) (io.ReadCloser, error)

// fillStep is how many bytes a fetch reads before waking waiters.
const fillStep = 256 << 10

// segment is a byte range being downloaded or downloaded.
type segment struct {
	off int64
	buf []byte
	seq bool // fetched for a sequential reader (readahead)

	mu      sync.Mutex // guards the fields below
	filled  int
	err     error
	done    bool
	dropped bool
	counted int64         // bytes taken from the Budget, returned once done and dropped
	wake    chan struct{} // closed and replaced whenever filled, err or done change
}

func (s *segment) end() int64 { return s.off + int64(len(s.buf)) }

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

func (s *segment) progress(n int, err error, done bool, b *Budget) {
	s.mu.Lock()
	s.filled += n
	if err != nil && s.err == nil {
		s.err = err
	}
	var release int64
	if done {
		s.done = true
		if s.dropped {
			release, s.counted = s.counted, 0
		}
	}
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
	b.release(release)
}

func (s *segment) drop(b *Budget) {
	s.mu.Lock()
	s.dropped = true
	var release int64
	if s.done {
		release, s.counted = s.counted, 0
	}
	s.mu.Unlock()
	b.release(release)
}

func (s *segment) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

// rangeReader serves reads of one file version. Sequential readers get a
// readahead window that doubles from InitialWindow up to MaxWindow, fetched
// as ChunkSize pieces in parallel; random readers fetch only the
// RandomAlign-aligned range they asked for.
type rangeReader struct {
	opts   ReadOptions
	size   int64
	fetch  fetchFunc
	ctx    context.Context // canceled by close; parent of every fetch
	cancel context.CancelFunc

	mu     sync.Mutex // guards the fields below; never held while waiting or fetching
	segs   []*segment // sorted by off, not overlapping
	hiEnd  int64      // furthest end of the sequential run, -1 before the first read
	inSeq  bool       // the last read was sequential
	window int64
	closed bool
}

func newRangeReader(size int64, fetch fetchFunc, opts ReadOptions) *rangeReader {
	opts.fill()
	ctx, cancel := context.WithCancel(context.Background())
	return &rangeReader{opts: opts, size: size, fetch: fetch, ctx: ctx, cancel: cancel,
		hiEnd: -1, window: opts.InitialWindow}
}

// ReadAt reads len(p) bytes at off, fewer only at the end of the file. It
// never returns a short count with a nil error before EOF.
func (r *rangeReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	b, err := r.read(ctx, p, off)
	if err != nil {
		return 0, err
	}
	if len(b) > 0 && &b[0] != &p[0] {
		copy(p, b)
	}
	return len(b), nil
}

// read returns the len(p) bytes at off (fewer only at the end of the file).
// When they lie in one downloaded segment the result is that segment's
// memory, without a copy (segments are never reused, so the slice stays
// valid); otherwise they are copied into p.
func (r *rangeReader) read(ctx context.Context, p []byte, off int64) ([]byte, error) {
	if off < 0 {
		return nil, fmt.Errorf("read at %d: negative offset", off)
	}
	if off >= r.size || len(p) == 0 {
		return nil, nil
	}
	end := min(r.size, off+int64(len(p)))
	need, err := r.plan(off, end)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, s := range need {
		from := max(off, s.off)
		to := min(end, s.end())
		if err := s.wait(ctx, int(to-s.off)); err != nil {
			if s.failed() {
				r.forget(s)
			}
			return nil, fmt.Errorf("read %d bytes at %d: %w", end-off, off, err)
		}
		if len(need) == 1 {
			return s.buf[from-s.off : to-s.off], nil
		}
		n += copy(p[from-off:], s.buf[from-s.off:to-s.off])
	}
	if int64(n) != end-off {
		return nil, fmt.Errorf("read at %d: internal error: %d of %d bytes planned", off, n, end-off)
	}
	return p[:n], nil
}

// keepBehind is how far behind the furthest sequential read segments are
// kept: the kernel sends several reads at once and they may arrive out of
// order.
const keepBehind = 8 << 20

// sequential reports whether a read at off continues the sequential run:
// it starts the file, continues a random read exactly, or (during a run)
// falls in data fetched ahead or lies near the furthest read so far.
func (r *rangeReader) sequential(off int64) bool {
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
func (r *rangeReader) plan(off, end int64) ([]*segment, error) {
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
			need = append(need, s)
		}
	}
	return need, nil
}

// coveredFrom returns the end of the contiguous run of segments starting at
// or before off (off itself when off is not covered).
func (r *rangeReader) coveredFrom(off int64) int64 {
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
func (r *rangeReader) fill(from, to, demandEnd int64, seq bool) {
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
		var counted int64
		if r.opts.Budget.tryAcquire(n) {
			counted = n
		} else {
			if pos >= demandEnd {
				break // readahead over budget: skip
			}
			a := r.opts.RandomAlign
			n = min(n, (demandEnd-pos+a-1)/a*a)
		}
		s := &segment{off: pos, buf: make([]byte, n), seq: seq, counted: counted, wake: make(chan struct{})}
		added = append(added, s)
		r.insert(s)
		pos += n
	}
	for _, s := range added {
		go r.run(s)
	}
}

func (r *rangeReader) insert(s *segment) {
	i := 0
	for i < len(r.segs) && r.segs[i].off < s.off {
		i++
	}
	r.segs = append(r.segs, nil)
	copy(r.segs[i+1:], r.segs[i:])
	r.segs[i] = s
}

// run downloads one segment.
func (r *rangeReader) run(s *segment) {
	body, err := r.fetch(r.ctx, s.off, int64(len(s.buf)))
	if err != nil {
		s.progress(0, err, true, r.opts.Budget)
		return
	}
	defer body.Close()
	filled := 0
	for filled < len(s.buf) {
		step := min(len(s.buf), filled+fillStep)
		n, err := io.ReadFull(body, s.buf[filled:step])
		filled += n
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("download of %d bytes at %d ended after %d bytes: %w", len(s.buf), s.off, filled, io.ErrUnexpectedEOF)
			}
			s.progress(n, err, true, r.opts.Budget)
			return
		}
		s.progress(n, nil, filled == len(s.buf), r.opts.Budget)
	}
}

// dropBefore drops segments that end before keep, and segments outside
// the Budget (fetched only because a reader asked for them) that end before
// off.
func (r *rangeReader) dropBefore(off, keep int64) {
	keep = min(off, keep)
	out := r.segs[:0]
	for _, s := range r.segs {
		s.mu.Lock()
		uncounted := s.counted == 0
		s.mu.Unlock()
		if s.end() <= keep || (uncounted && s.end() <= off) {
			s.drop(r.opts.Budget)
			continue
		}
		out = append(out, s)
	}
	clear(r.segs[len(out):])
	r.segs = out
}

func (r *rangeReader) dropOutside(off, end int64) {
	keep := r.segs[:0]
	for _, s := range r.segs {
		if s.end() <= off || s.off >= end {
			s.drop(r.opts.Budget)
			continue
		}
		keep = append(keep, s)
	}
	clear(r.segs[len(keep):])
	r.segs = keep
}

// forget removes a failed segment so that the next read fetches again.
func (r *rangeReader) forget(s *segment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.segs {
		if x == s {
			r.segs = append(r.segs[:i], r.segs[i+1:]...)
			s.drop(r.opts.Budget)
			return
		}
	}
}

// close cancels outstanding fetches and releases the handle's memory.
func (r *rangeReader) close() {
	r.mu.Lock()
	r.closed = true
	segs := r.segs
	r.segs = nil
	r.mu.Unlock()
	r.cancel()
	for _, s := range segs {
		s.drop(r.opts.Budget)
	}
}

// buffered returns the bytes held by the handle's segments (for tests).
func (r *rangeReader) buffered() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, s := range r.segs {
		n += int64(len(s.buf))
	}
	return n
}
