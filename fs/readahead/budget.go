package readahead

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// The readahead memory budget and the free list of segment buffers it
// holds.

// Budget is a global bound on readahead memory, shared by all handles.
// Readahead only takes memory it can get without waiting; data a reader
// asked for is always fetched (it is bounded by the kernel's request size
// and concurrency).
//
// Segment buffers are recycled through the Budget: a buffer whose segment
// was consumed or dropped goes to a free list and keeps its share of the
// budget while idle, so the budget bounds live and idle buffers together.
// Acquiring memory the budget cannot give evicts idle buffers first.
type Budget struct {
	sem  *semaphore.Weighted
	bufs bufPool
}

// NewBudget returns a Budget of n bytes.
func NewBudget(n int64) *Budget {
	b := &Budget{sem: semaphore.NewWeighted(n)}
	b.bufs.sem = b.sem
	return b
}

// tryAcquire takes n bytes without waiting, evicting idle buffers if that
// makes room.
func (b *Budget) tryAcquire(n int64) bool {
	return b == nil || b.bufs.tryAcquire(n)
}

// Buffer classes are powers of two from minBufClass to maxBufClass bytes;
// larger buffers are not recycled.
const (
	minBufShift = 16 // 64 KiB
	numBufClass = 11 // up to 64 MiB
)

// bufClass returns the class of a buffer of n bytes and its capacity, or
// -1 when n is beyond the largest class.
func bufClass(n int64) (int, int64) {
	for c := 0; c < numBufClass; c++ {
		if size := int64(1) << (minBufShift + c); size >= n {
			return c, size
		}
	}
	return -1, n
}

// bufPool is a free list of segment buffers by size class. With a
// semaphore (a Budget) idle buffers keep the budget bytes they were taken
// with; without one, idle bytes are capped at idleMax.
//
// Lock order: Reader.mu before segment.mu and bufPool.mu; a segment's
// and the pool's locks are never held together (a released buffer is put
// back after segment.mu is unlocked).
type bufPool struct {
	sem     *semaphore.Weighted // nil: no global budget
	idleMax int64               // cap on idle bytes when sem is nil

	mu   sync.Mutex // guards the fields below; never held while waiting
	free [numBufClass][][]byte
	idle int64

	allocs atomic.Int64 // buffers allocated (for tests and benchmarks)
}

// tryAcquire takes n budget bytes, evicting idle buffers (largest first)
// until they fit or none are left.
func (p *bufPool) tryAcquire(n int64) bool {
	if p.sem == nil {
		return true
	}
	if p.sem.TryAcquire(n) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := numBufClass - 1; c >= 0; c-- {
		for len(p.free[c]) > 0 {
			if p.sem.TryAcquire(n) {
				return true
			}
			p.popLocked(c)
			size := int64(1) << (minBufShift + c)
			p.idle -= size
			p.sem.Release(size)
		}
	}
	return p.sem.TryAcquire(n)
}

func (p *bufPool) popLocked(c int) []byte {
	l := p.free[c]
	b := l[len(l)-1]
	l[len(l)-1] = nil
	p.free[c] = l[:len(l)-1]
	return b
}

// get returns a buffer of n bytes. counted is the budget held by it (its
// capacity), or 0 when the budget had no room: then the buffer is handed
// out only if demand is set (bytes a reader asked for) and ok is false
// otherwise.
func (p *bufPool) get(n int64, demand bool) (buf []byte, counted int64, ok bool) {
	c, size := bufClass(n)
	if c >= 0 {
		p.mu.Lock()
		if len(p.free[c]) > 0 {
			b := p.popLocked(c)
			p.idle -= size
			p.mu.Unlock()
			return b[:n], size, true
		}
		p.mu.Unlock()
	}
	if p.tryAcquire(size) {
		p.allocs.Add(1)
		return make([]byte, n, size), size, true
	}
	if !demand {
		return nil, 0, false
	}
	p.allocs.Add(1)
	return make([]byte, n), 0, true
}

// put takes back a buffer that nothing references any more, with the
// budget bytes it holds.
func (p *bufPool) put(b []byte, counted int64) {
	c, size := bufClass(int64(cap(b)))
	if c < 0 || size != int64(cap(b)) {
		if p.sem != nil && counted > 0 {
			p.sem.Release(counted)
		}
		return
	}
	if counted == 0 && p.sem != nil {
		// A buffer fetched over budget is kept only if the budget now
		// has room for it.
		if !p.sem.TryAcquire(size) {
			return
		}
		counted = size
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sem == nil && p.idle+size > p.idleMax {
		return
	}
	p.free[c] = append(p.free[c], b[:cap(b)])
	p.idle += size
}

// idleBytes returns the bytes held by idle buffers (for tests).
func (p *bufPool) idleBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.idle
}
