package readcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// FetchFunc streams length bytes of one file version starting at off.
type FetchFunc func(ctx context.Context, off, length int64) (io.ReadCloser, error)

// Wrap returns fetch for version id of size bytes with the cache in front:
// blocks in the cache are read from disk and verified, the others are
// downloaded through fetch (from the start of their block, so that whole
// blocks can be stored) and stored as they stream past. A failed download
// fails the read and changes nothing in the cache. sha1 is B2's SHA-1 of
// the version (content SHA-1 or large_file_sha1; anything else is
// ignored): once the version is cached in full, it is checked against it.
func (c *Cache) Wrap(id string, size int64, sha1 string, fetch FetchFunc) FetchFunc {
	if c == nil || id == "" || size <= 0 {
		return fetch
	}
	want := ValidSHA1(sha1)
	return func(ctx context.Context, off, length int64) (io.ReadCloser, error) {
		if off < 0 || length <= 0 || off+length > size {
			return fetch(ctx, off, length)
		}
		f := c.acquireSHA(id, size, want, true)
		if f == nil {
			return fetch(ctx, off, length)
		}
		s := &stream{c: c, f: f, ctx: ctx, fetch: fetch, pos: off, end: off + length, buf: getBuf(c.bs)}
		return s, nil
	}
}

var bufPool sync.Map // block size -> *sync.Pool

func getBuf(bs int64) []byte {
	p, _ := bufPool.LoadOrStore(bs, &sync.Pool{New: func() any { b := make([]byte, bs); return &b }})
	return *p.(*sync.Pool).Get().(*[]byte)
}

func putBuf(b []byte) {
	if p, ok := bufPool.Load(int64(cap(b))); ok {
		b = b[:cap(b)]
		p.(*sync.Pool).Put(&b)
	}
}

// stream serves [pos,end) of one version: runs of cached blocks from disk,
// gaps from downloads.
type stream struct {
	c     *Cache
	f     *file
	ctx   context.Context
	fetch FetchFunc
	pos   int64 // next byte to return
	end   int64
	buf   []byte // one block: a verified cached block, or a block being downloaded
	ready []byte // unread verified bytes of buf, ending at the block's end or s.end

	// Download state: body streams [dlPos,dlEnd); buf[:fill] holds the bytes
	// of block dlBlock received so far.
	body    io.ReadCloser
	dlPos   int64
	dlEnd   int64
	dlBlock int64
	fill    int
	closed  bool
	// A downloaded block in buf to hand to the cache (store) once its
	// ready bytes are consumed: hoBlock, hoLen; hoLen 0 for none.
	hoBlock int64
	hoLen   int
}

// handoff gives a completed block in buf to the cache and takes a fresh
// buffer.
func (s *stream) handoff() {
	if s.hoLen == 0 {
		return
	}
	s.c.store(s.f, s.hoBlock, s.buf[:s.hoLen], true)
	s.buf = getBuf(s.c.bs)
	s.hoLen = 0
}

func (s *stream) Read(p []byte) (int, error) {
	for {
		if s.closed {
			return 0, errors.New("read on a closed cache stream")
		}
		if len(s.ready) > 0 {
			n := copy(p, s.ready)
			s.ready = s.ready[n:]
			s.pos += int64(n)
			return n, nil
		}
		s.handoff()
		if s.pos >= s.end {
			return 0, io.EOF
		}
		if s.body != nil {
			if n, ok, err := s.direct(p); ok {
				return n, err
			}
			if err := s.download(); err != nil {
				return 0, err
			}
			continue
		}
		bs := s.c.bs
		i := s.pos / bs
		if b, ok := s.c.readBlock(s.f, i, s.buf); ok {
			to := min(int64(len(b)), s.end-i*bs)
			s.ready = b[s.pos-i*bs : to]
			s.c.stats.HitBytes.Add(int64(len(s.ready)))
			continue
		}
		if err := s.startDownload(i); err != nil {
			return 0, err
		}
	}
}

// startDownload opens a download from the start of block i to the first
// cached block after it, or to the block boundary at or after s.end.
func (s *stream) startDownload(i int64) error {
	bs := s.c.bs
	last := (s.end - 1) / bs
	j := i + 1
	for j <= last {
		if _, ok := s.c.lookup(s.f, j); ok {
			break
		}
		j++
	}
	from, to := i*bs, min(j*bs, s.f.size)
	body, err := s.fetch(s.ctx, from, to-from)
	if err != nil {
		return err
	}
	s.body, s.dlPos, s.dlEnd, s.dlBlock, s.fill = body, from, to, i, 0
	return nil
}

// direct downloads the current block straight into p when p takes all of
// it and the caller wants all of it (no copy through buf), and stores it
// from there. ok is false when the block does not qualify.
func (s *stream) direct(p []byte) (n int, ok bool, err error) {
	start := s.dlBlock * s.c.bs
	blen := s.c.blockLen(s.f.size, s.dlBlock)
	if s.fill != 0 || s.pos != start || int64(len(p)) < blen || start+blen > s.end {
		return 0, false, nil
	}
	k, err := io.ReadFull(s.body, p[:blen])
	s.dlPos += int64(k)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("download of block %d ended after %d of %d bytes: %w", s.dlBlock, k, blen, io.ErrUnexpectedEOF)
		}
		s.closeBody()
		return 0, true, err
	}
	s.c.stats.MissBytes.Add(blen)
	s.c.storeInline(s.f, s.dlBlock, p[:blen])
	s.dlBlock++
	s.pos += blen
	if s.dlPos >= s.dlEnd {
		s.closeBody()
	}
	return int(blen), true, nil
}

// download receives more of the current block of the download (at most up
// to its end), stores the block when complete and makes the received bytes
// at or after pos ready.
func (s *stream) download() error {
	start := s.dlBlock * s.c.bs
	blen := int(s.c.blockLen(s.f.size, s.dlBlock))
	n, err := io.ReadAtLeast(s.body, s.buf[s.fill:blen], 1)
	s.fill += n
	s.dlPos += int64(n)
	if s.fill == blen {
		s.hoBlock, s.hoLen = s.dlBlock, blen
		s.c.stats.MissBytes.Add(int64(blen))
	} else if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("download of block %d ended after %d of %d bytes: %w", s.dlBlock, s.fill, blen, io.ErrUnexpectedEOF)
		}
		s.closeBody()
		return err
	}
	// The caller's bytes: buf[:fill] from pos to end. Read returns them
	// before buf is filled again.
	if off, to := s.pos-start, min(int64(s.fill), s.end-start); s.pos < s.end && off < to {
		s.ready = s.buf[off:to]
	}
	if s.fill == blen {
		s.dlBlock++
		s.fill = 0
		if s.dlPos >= s.dlEnd {
			s.closeBody()
		}
	}
	return nil
}

func (s *stream) closeBody() {
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
}

// Close ends the stream. A download that only lacks the rest of the last
// block (past what the caller asked for) is drained, so that block is
// stored too.
func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.ready = nil
	s.handoff()
	if s.body != nil && s.pos >= s.end && s.ctx.Err() == nil {
		for s.body != nil && s.fill > 0 && s.download() == nil {
			s.ready = nil
			s.handoff()
		}
	}
	s.closeBody()
	s.closed = true
	s.ready = nil
	putBuf(s.buf)
	s.buf = nil
	s.c.queueBackfill(s.f, s.fetch)
	s.c.release(s.f)
	return nil
}
