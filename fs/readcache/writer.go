package readcache

import "time"

// Blocks downloaded for a reader are written to the cache by writers
// (writerCount goroutines), so that the disk does not slow reads down: the reader copies
// the block into a queue of at most writeQueue blocks and goes on. When the
// queue is full the reader waits for room at most writeWait; after that the
// block is not cached (Stats.Skipped), so a disk much slower than the
// network costs reads at most writeWait per block.

// kickPending is how many written, unrecorded bytes make the flusher run
// before its interval: each flush fsyncs, which competes with reads for
// the disk, so only a lot of pending data is worth an early one.
const kickPending = 1 << 30

const (
	writeQueue  = 128
	writerCount = 4
	writeWait   = 20 * time.Millisecond
)

type writeReq struct {
	f   *file // holds a reference
	idx int64
	buf []byte // a pooled block buffer
}

// store queues block i of f (data is the whole block) for the writer.
// With owned, data is a pooled block buffer that store takes over (no
// copy); otherwise it is copied.
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
		buf = getBuf(c.bs)
		buf = buf[:copy(buf, data)]
	}
	req := writeReq{f: f, idx: i, buf: buf}
	select {
	case c.wq <- req:
		return
	default:
	}
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case c.wq <- req:
	case <-t.C:
		c.writes.Done()
		c.stats.Skipped.Add(1)
		putBuf(buf)
		c.release(f)
	}
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
	c.mu.Lock()
	c.used -= n
	if err != nil || f.dropped {
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
		}
		return
	}
	if _, ok := f.blocks[i]; !ok {
		f.blocks[i] = blockInfo{n: int32(n), crc: checksum(data), fresh: true}
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
