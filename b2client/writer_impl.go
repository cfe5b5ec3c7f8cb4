package b2client

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// writer is the state behind a Writer.
type writer struct {
	c        *Client
	req      UploadRequest
	partSize int64
	conc     int

	ctx    context.Context // cancelled by Abort or a failed part
	cancel context.CancelCauseFunc

	// free holds part buffers not in use; nbufs counts the ones allocated
	// (at most conc+1).
	free  chan []byte
	nbufs int

	cur   []byte // buffer being filled; grows up to partSize
	held  int64  // capacity of all allocated buffers
	total int64

	largeID string
	g       *errgroup.Group
	gctx    context.Context
	nparts  int

	// mu guards shas (written by part workers).
	mu   sync.Mutex
	shas []string

	done   bool
	err    error
	result *File
}

func (c *Client) newWriter(ctx context.Context, req UploadRequest, opts LargeFileOptions) *writer {
	partSize, conc := c.partPlan(0, opts)
	wctx, cancel := context.WithCancelCause(ctx)
	return &writer{
		c: c, req: req, partSize: partSize, conc: conc,
		ctx: wctx, cancel: cancel,
		free: make(chan []byte, conc+1),
	}
}

// getBuf returns an empty part buffer, allocating one while fewer than
// conc+1 exist, else waiting for a worker to give one back.
func (w *writer) getBuf() ([]byte, error) {
	select {
	case b := <-w.free:
		return b[:0], nil
	default:
	}
	if w.nbufs < w.conc+1 {
		w.nbufs++
		n := min(w.partSize, initialBufSize)
		w.account(n)
		return make([]byte, 0, n), nil
	}
	done := w.ctx.Done()
	var gdone <-chan struct{}
	if w.gctx != nil {
		gdone = w.gctx.Done()
	}
	select {
	case b := <-w.free:
		return b[:0], nil
	case <-done:
		return nil, w.failure()
	case <-gdone:
		return nil, w.failure()
	}
}

// initialBufSize is the first capacity of a part buffer; buffers grow by
// doubling up to the part size, so small files never allocate a whole part.
const initialBufSize = 64 << 10

// account records delta bytes of part buffers allocated (or freed).
func (w *writer) account(delta int64) {
	w.held += delta
	n := w.c.partBufBytes.Add(delta)
	for {
		peak := w.c.partBufPeak.Load()
		if n <= peak || w.c.partBufPeak.CompareAndSwap(peak, n) {
			return
		}
	}
}

// failure returns the reason the writer cannot go on.
func (w *writer) failure() error {
	if w.g != nil && w.gctx != nil && w.gctx.Err() != nil {
		// A part failed: its error is the interesting one.
		if err := w.g.Wait(); err != nil {
			return err
		}
	}
	if cause := context.Cause(w.ctx); cause != nil {
		return cause
	}
	return ErrWriterClosed
}

func (w *writer) releaseBuffers() {
	w.account(-w.held)
	w.nbufs = 0
	w.cur = nil
	// Buffers still in free are garbage now.
	for len(w.free) > 0 {
		<-w.free
	}
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		if w.err != nil {
			return 0, w.err
		}
		return 0, ErrWriterClosed
	}
	written := 0
	for len(p) > 0 {
		if err := w.ctx.Err(); err != nil {
			return written, w.fail(w.failure())
		}
		if w.cur == nil {
			b, err := w.getBuf()
			if err != nil {
				return written, w.fail(err)
			}
			w.cur = b
		}
		if int64(len(w.cur)) == w.partSize {
			// The current part is full and more data follows.
			if err := w.flushFull(); err != nil {
				return written, w.fail(err)
			}
			continue
		}
		if len(w.cur) == cap(w.cur) {
			nc := min(w.partSize, 2*int64(cap(w.cur)))
			nb := make([]byte, len(w.cur), nc)
			copy(nb, w.cur)
			w.account(nc - int64(cap(w.cur)))
			w.cur = nb
		}
		n := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+n]
		p = p[n:]
		written += n
		w.total += int64(n)
		if int64(len(w.cur)) == w.partSize && w.largeID != "" {
			// Upload a full part at once; only the first one waits to learn
			// whether more data follows (else it is a simple upload).
			if err := w.flushFull(); err != nil {
				return written, w.fail(err)
			}
		}
	}
	return written, nil
}

// flushFull hands the full current buffer to an upload worker, starting the
// large file first if needed.
func (w *writer) flushFull() error {
	if w.largeID == "" {
		f, err := w.c.startLargeFile(w.ctx, w.req, nil)
		if err != nil {
			return err
		}
		w.largeID = f.ID
		g, gctx := errgroup.WithContext(w.ctx)
		g.SetLimit(w.conc)
		w.g, w.gctx = g, gctx
	}
	buf := w.cur
	w.cur = nil
	w.nparts++
	num := w.nparts
	if w.gctx.Err() != nil {
		w.free <- buf
		return w.failure()
	}
	w.g.Go(func() error {
		defer func() { w.free <- buf }()
		p, err := w.c.uploadPart(w.gctx, w.largeID, num, bytes.NewReader(buf), int64(len(buf)), "")
		if err != nil {
			return err
		}
		w.mu.Lock()
		for len(w.shas) < num {
			w.shas = append(w.shas, "")
		}
		w.shas[num-1] = p.SHA1
		w.mu.Unlock()
		return nil
	})
	return nil
}

// fail ends the writer with err, cancelling the large file.
func (w *writer) fail(err error) error {
	if w.done {
		return w.err
	}
	w.done = true
	w.err = err
	w.cancel(err)
	if w.g != nil {
		_ = w.g.Wait()
	}
	if w.largeID != "" {
		w.c.cleanupLargeFile(w.largeID)
	}
	w.releaseBuffers()
	return err
}

func (w *writer) Close() error {
	if w.done {
		if w.err != nil {
			return w.err
		}
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		return w.fail(fmt.Errorf("upload %q: %w", w.req.Name, w.failure()))
	}
	if w.largeID == "" {
		// Everything fits in one part: a single b2_upload_file.
		buf := w.cur
		f, err := w.c.uploadFile(w.ctx, w.req, bytes.NewReader(buf), int64(len(buf)))
		if err != nil {
			return w.fail(err)
		}
		w.done, w.result = true, f
		w.cancel(ErrWriterClosed)
		w.releaseBuffers()
		return nil
	}
	if len(w.cur) > 0 {
		if err := w.flushFull(); err != nil {
			return w.fail(fmt.Errorf("upload %q: %w", w.req.Name, err))
		}
	}
	if err := w.g.Wait(); err != nil {
		return w.fail(fmt.Errorf("upload %q: %w", w.req.Name, err))
	}
	w.mu.Lock()
	shas := append([]string(nil), w.shas...)
	w.mu.Unlock()
	f, err := w.c.finishLargeFile(w.ctx, w.largeID, shas)
	if err != nil {
		return w.fail(fmt.Errorf("upload %q: %w", w.req.Name, err))
	}
	if f.Size != w.total {
		w.done, w.err = true, fmt.Errorf("upload %q: %w: wrote %d bytes, B2 stored %d", w.req.Name, ErrUnexpectedResponse, w.total, f.Size)
		w.releaseBuffers()
		return w.err
	}
	w.done, w.result = true, f
	w.cancel(ErrWriterClosed)
	w.releaseBuffers()
	return nil
}

func (w *writer) Abort(err error) {
	if err == nil {
		err = ErrWriterClosed
	}
	_ = w.fail(err)
}

func (w *writer) File() *File {
	if w.done && w.err == nil {
		return w.result
	}
	return nil
}
