package readcache

import "time"

// Blocks downloaded for a reader are written to the cache off the read's
// path, and never make a reader wait for the disk:
//
//   - A whole block the stream downloads straight into the caller's buffer
//     is written right there (one pwrite, no copy) while the disk keeps up
//     (the last such write took less than slowWrite); otherwise it is
//     copied into the queue of the writers (writerCount goroutines, at most
//     writeQueue blocks).
//   - A block downloaded into the stream's own buffer is handed to the
//     queue as it is (no copy).
//   - When the queue is full the block is not stored (Stats.Skipped) but
//     remembered: once the stream is closed, the backfiller downloads the
//     skipped blocks again and stores them, when the writers are idle
//     (backfill.go). So a file read in full is cached in full, however
//     busy the machine was during the read.

// kickPending is how many written, unrecorded bytes make the flusher run
// before its interval: each flush fsyncs, which competes with reads for
// the disk, so only a lot of pending data is worth an early one.
const kickPending = 1 << 30

const (
	writeQueue  = 128
	writerCount = 4
	// slowWrite: a write in the reader's path that takes longer sends the
	// next blocks to the queue for slowFor. A write into the page cache
	// takes well under a millisecond; one that takes this long was held up
	// by the kernel (dirty-page throttling: the disk is behind), not just
	// preempted on a busy machine.
	slowWrite = 100 * time.Millisecond
	slowFor   = time.Second
)

type writeReq struct {
	f   *file // holds a reference
	idx int64
	buf []byte // a pooled block buffer
}

// storeInline stores block i of f from data (the whole block, in the
// caller's buffer): written right away while the disk keeps up, else
// queued like store.
func (c *Cache) storeInline(f *file, i int64, data []byte) {
	if c.syncWr || time.Now().UnixNano() < c.slowUntil.Load() || !c.want(f, i, data, true) {
		c.store(f, i, data, false)
		return
	}
	t0 := time.Now()
	c.writeBlock(f, i, data)
	if d := time.Since(t0); d > slowWrite {
		c.slowUntil.Store(time.Now().Add(slowFor).UnixNano())
		c.log.Debug("read cache: a write took long; queueing for a while", "took", d)
	}
}

// want reports whether block i (data) of f is one to store (with open,
// only while the cache is not being closed).
func (c *Cache) want(f *file, i int64, data []byte, open bool) bool {
	if int64(len(data)) != c.blockLen(f.size, i) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := f.blocks[i]
	return !ok && !f.dropped && !(open && c.closed)
}

// store queues block i of f (data is the whole block) for the writers.
// With owned, data is a pooled block buffer that store takes over (no
// copy); otherwise it is copied, when the queue has room.
func (c *Cache) store(f *file, i int64, data []byte, owned bool) {
	drop := func() {
		if owned {
			putBuf(data)
		}
	}
	if int64(len(data)) != c.blockLen(f.size, i) {
		drop()
		return
	}
	c.mu.Lock()
	if _, ok := f.blocks[i]; ok || f.dropped || c.closed {
		c.mu.Unlock()
		drop()
		return
	}
	f.refs++
	c.writes.Add(1) // before Close can see closed
	c.mu.Unlock()
	if c.syncWr {
		c.writeBlock(f, i, data)
		c.release(f)
		c.writes.Done()
		drop()
		return
	}
	buf := data
	if !owned {
		if len(c.wq) == cap(c.wq) {
			c.skip(f, i)
			return
		}
		buf = getBuf(c.bs)
		buf = buf[:copy(buf, data)]
	}
	select {
	case c.wq <- writeReq{f: f, idx: i, buf: buf}:
	default:
		putBuf(buf)
		c.skip(f, i)
	}
}

// skip records that block i of f (holding a reference and a writes count)
// was not queued, for the backfiller.
func (c *Cache) skip(f *file, i int64) {
	c.stats.Skipped.Add(1)
	c.mu.Lock()
	if f.skipped == nil {
		f.skipped = map[int64]bool{}
	}
	f.skipped[i] = true
	c.mu.Unlock()
	c.writes.Done()
	c.release(f)
}

// writer writes queued blocks until Close, then what is still queued.
func (c *Cache) writer() {
	defer c.wg.Done()
	for {
		select {
		case r := <-c.wq:
			c.write(r)
		case <-c.done:
			for {
				select {
				case r := <-c.wq:
					c.write(r)
				default:
					return
				}
			}
		}
	}
}

// drainWrites writes what store queued after the writer stopped (Close).
func (c *Cache) drainWrites() {
	idle := make(chan struct{})
	go func() { c.writes.Wait(); close(idle) }()
	for {
		select {
		case r := <-c.wq:
			c.write(r)
		case <-idle:
			return
		}
	}
}

func (c *Cache) write(r writeReq) {
	if c.hold > 0 {
		time.Sleep(c.hold)
	}
	c.writeBlock(r.f, r.idx, r.buf)
	putBuf(r.buf)
	c.release(r.f)
	c.writes.Done()
}

// writeBlock writes block i of f (data is the whole block) and registers
// it. Errors only mean the block is not cached.
func (c *Cache) writeBlock(f *file, i int64, data []byte) {
	n := int64(len(data))
	if n != c.blockLen(f.size, i) {
		return
	}
	c.mu.Lock()
	if _, ok := f.blocks[i]; ok || f.dropped {
		c.mu.Unlock()
		return
	}
	if !c.evictLocked(f, n) {
		c.mu.Unlock()
		return
	}
	c.used += n // reserved
	c.mu.Unlock()
	_, err := f.fd.WriteAt(data, i*c.bs)
	crc := checksum(data) // outside c.mu
	c.mu.Lock()
	c.used -= n
	if err != nil || f.dropped {
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
		}
		return
	}
	delete(f.skipped, i)
	if _, ok := f.blocks[i]; !ok {
		f.blocks[i] = blockInfo{n: int32(n), crc: crc, fresh: true}
		f.bytes += n
		c.used += n
		c.pending = append(c.pending, pendingBlock{f: f, idx: i})
		c.pendN += n
	}
	kick := c.pendN >= kickPending
	c.mu.Unlock()
	if kick {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}
