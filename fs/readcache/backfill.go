package readcache

import (
	"io"
	"sort"
	"time"
)

// The backfiller downloads again the blocks that were not stored because
// the writers were behind (writer.go), one version at a time, while the
// writers are idle, and stores them itself: a file read in full while the
// machine was too busy to write it out is cached in full shortly after,
// at the cost of downloading those blocks twice. Close gives it what is
// left of its time (Options.CloseTimeout). A failed download stores
// nothing, drops nothing, and is not retried.

// backfillQueue bounds the versions waiting for the backfiller; one that
// does not fit keeps its gaps until a later read.
const backfillQueue = 16

// backfillRun is the most blocks one backfill download fetches.
const backfillRun = 64

type backfill struct {
	f     *file // holds a reference
	fetch FetchFunc
}

// queueBackfill hands f to the backfiller when it has skipped blocks.
func (c *Cache) queueBackfill(f *file, fetch FetchFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(f.skipped) == 0 || f.filling || f.dropped || c.closed {
		return
	}
	f.refs++
	f.filling = true
	select {
	case c.bfQ <- backfill{f: f, fetch: fetch}:
	default:
		f.refs--
		f.filling = false
	}
}

func (c *Cache) backfiller() {
	defer c.wg.Done()
	for {
		select {
		case b := <-c.bfQ:
			c.fill(b)
		case <-c.done:
			return
		}
	}
}

// backfillPending fills what is still queued (Close).
func (c *Cache) backfillPending() {
	for {
		select {
		case b := <-c.bfQ:
			c.fill(b)
		default:
			return
		}
	}
}

// fill stores the skipped blocks of b.f, a run of them per download.
func (c *Cache) fill(b backfill) {
	f := b.f
	defer func() {
		c.mu.Lock()
		f.filling = false
		c.mu.Unlock()
		c.release(f)
	}()
	buf := getBuf(c.bs)
	defer putBuf(buf)
	for !c.stopping() && c.bgCtx.Err() == nil {
		// The writers first: their queue holds blocks already downloaded.
		if len(c.wq) > 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		from, n := c.nextRun(f)
		if n == 0 {
			return
		}
		body, err := b.fetch(c.bgCtx, from*c.bs, min(f.size, (from+n)*c.bs)-from*c.bs)
		if err != nil {
			c.log.Debug("read cache: backfill download failed", "file_id", f.id, "err", err)
			return
		}
		for i := from; i < from+n; i++ {
			p := buf[:c.blockLen(f.size, i)]
			if _, err := io.ReadFull(body, p); err != nil {
				body.Close()
				c.log.Debug("read cache: backfill download failed", "file_id", f.id, "err", err)
				return
			}
			if c.want(f, i, p, false) {
				c.writeBlock(f, i, p)
				c.stats.Backfilled.Add(1)
			}
		}
		body.Close()
	}
}

// nextRun takes the first run of consecutive skipped blocks of f (at most
// backfillRun) off its skipped set.
func (c *Cache) nextRun(f *file) (from, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.dropped {
		return 0, 0
	}
	idx := make([]int64, 0, len(f.skipped))
	for i := range f.skipped {
		if _, ok := f.blocks[i]; ok {
			delete(f.skipped, i)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return 0, 0
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	from = idx[0]
	for n = 1; n < int64(len(idx)) && n < backfillRun && idx[n] == from+n; n++ {
	}
	for i := from; i < from+n; i++ {
		delete(f.skipped, i)
	}
	return from, n
}
