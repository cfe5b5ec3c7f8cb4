package fs

import (
	"context"
	"sync/atomic"
	"syscall"

	"github.com/b2fs/b2fs/fs/vfs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A READ of a file read from B2 is answered straight from the readahead
// buffers (vfs.VecReader): go-fuse writes the reply with writev from the
// slices (its "withSlice" read results, taken with splice off) and then
// calls Done, which lets the buffers go back to their pool. That saves
// copying every byte read into the request's buffer first.

// readVec reads n bytes at off through vr as a read result that holds the
// buffers until go-fuse has written the reply; ok false when vr cannot
// serve the read so.
func readVec(ctx context.Context, vr vfs.VecReader, n int, off int64, errno func(error) syscall.Errno) (res fuse.ReadResult, st syscall.Errno, ok bool) {
	vec, release, ok, err := vr.ReadVec(ctx, off, n)
	if !ok {
		return nil, 0, false
	}
	if err != nil {
		return nil, errno(err), true
	}
	size := 0
	for _, v := range vec {
		size += len(v)
	}
	if size == 0 {
		// go-fuse writes an empty reply without calling Done.
		release()
		return fuse.ReadResultData(nil), 0, true
	}
	return &vecResult{vec: vec, size: size, release: release}, 0, true
}

// vecResult is a fuse.ReadResult made of buffers that stay valid until
// Done.
type vecResult struct {
	vec     [][]byte
	size    int
	release func()
	done    atomic.Bool
}

func (r *vecResult) Size() int { return r.size }

// Bytes copies the data into buf (go-fuse's fallback when it cannot
// write the slices as they are).
func (r *vecResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	buf = buf[:0]
	for _, v := range r.vec {
		buf = append(buf, v...)
	}
	return buf, fuse.OK
}

// Slices makes go-fuse write the reply with writev from the buffers.
func (r *vecResult) Slices() ([][]byte, fuse.Status) { return r.vec, fuse.OK }

// Done is called once the reply is written (or given up).
func (r *vecResult) Done() {
	if r.done.CompareAndSwap(false, true) {
		r.release()
	}
}
