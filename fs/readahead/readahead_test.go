package readahead

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeRemote serves ranges of data and records each request.
type fakeRemote struct {
	data  []byte
	delay time.Duration

	mu       sync.Mutex
	reqs     [][2]int64 // off, length
	inflight int
	maxIn    int
	failNext int   // fail this many requests
	shortAt  int64 // when > 0, bodies stop after this many bytes
}

func (f *fakeRemote) fetch(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, [2]int64{off, length})
	if f.failNext > 0 {
		f.failNext--
		f.mu.Unlock()
		return nil, errors.New("503 service unavailable")
	}
	f.inflight++
	f.maxIn = max(f.maxIn, f.inflight)
	short := f.shortAt
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if off+length > int64(len(f.data)) {
		return nil, fmt.Errorf("range %d+%d beyond %d", off, length, len(f.data))
	}
	b := f.data[off : off+length]
	if short > 0 && int64(len(b)) > short {
		b = b[:short]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeRemote) requests() [][2]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][2]int64(nil), f.reqs...)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestSequentialWindowGrows(t *testing.T) {
	const size = 40 << 20
	remote := &fakeRemote{data: pattern(size), delay: 5 * time.Millisecond}
	opts := ReadOptions{InitialWindow: 1 << 20, MaxWindow: 16 << 20, ChunkSize: 4 << 20, Budget: NewBudget(64 << 20)}
	r := New(size, remote.fetch, opts)
	defer r.close()
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	var maxBuffered int64
	for off := int64(0); off < size; off += int64(len(buf)) {
		n, err := r.ReadAt(context.Background(), buf, off)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
		maxBuffered = max(maxBuffered, r.buffered())
	}
	if !bytes.Equal(got.Bytes(), remote.data) {
		t.Fatal("sequential read returned wrong bytes")
	}
	reqs := remote.requests()
	if reqs[0][0] != 0 || reqs[0][1] > opts.InitialWindow+int64(len(buf)) {
		t.Errorf("first request %v larger than the initial window", reqs[0])
	}
	var largest int64
	for _, q := range reqs {
		largest = max(largest, q[1])
		if q[1] > opts.ChunkSize {
			t.Errorf("request %v larger than a chunk", q)
		}
	}
	if largest != opts.ChunkSize {
		t.Errorf("window never grew to full chunks: largest request %d", largest)
	}
	if n := len(reqs); n > 2*size/int(opts.ChunkSize)+8 {
		t.Errorf("%d requests for %d bytes: chunks too small", n, size)
	}
	if remote.maxIn < 2 {
		t.Errorf("readahead never ran chunks in parallel (max in flight %d)", remote.maxIn)
	}
	if limit := opts.MaxWindow + opts.ChunkSize + keepBehind; maxBuffered > limit {
		t.Errorf("handle buffered %d bytes, bound %d", maxBuffered, limit)
	}
	// Each byte fetched once.
	var total int64
	for _, q := range reqs {
		total += q[1]
	}
	if total != size {
		t.Errorf("fetched %d bytes for a %d-byte file", total, size)
	}
}

func TestRandomReadsFetchOnlyWhatIsAsked(t *testing.T) {
	const size = 50 << 20
	remote := &fakeRemote{data: pattern(size)}
	r := New(size, remote.fetch, ReadOptions{RandomAlign: 128 << 10})
	defer r.close()
	offsets := []int64{30 << 20, 5<<20 + 77, 45<<20 + 128<<10 - 10, 1 << 20, 20 << 20}
	for _, off := range offsets {
		buf := make([]byte, 4096)
		n, err := r.ReadAt(context.Background(), buf, off)
		if err != nil || n != len(buf) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
		if !bytes.Equal(buf, remote.data[off:off+4096]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	// Reading again inside a block fetched for a random read is still
	// random: no readahead.
	buf := make([]byte, 4096)
	if _, err := r.ReadAt(context.Background(), buf, 20<<20+8192); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, q := range remote.requests() {
		if q[0]%(128<<10) != 0 {
			t.Errorf("request %v not aligned", q)
		}
		total += q[1]
	}
	// One aligned block per read, two for the read crossing a boundary.
	if want := int64(len(offsets)+1) * 128 << 10; total != want {
		t.Errorf("random reads fetched %d bytes, want %d (%v)", total, want, remote.requests())
	}
}

func TestReadaheadRespectsGlobalBudget(t *testing.T) {
	const size = 64 << 20
	budget := NewBudget(4 << 20)
	opts := ReadOptions{InitialWindow: 1 << 20, MaxWindow: 32 << 20, ChunkSize: 2 << 20, Budget: budget}
	remote := &fakeRemote{data: pattern(size)}
	var readers []*Reader
	for i := 0; i < 3; i++ {
		readers = append(readers, New(size, remote.fetch, opts))
	}
	buf := make([]byte, 128<<10)
	for off := int64(0); off < 16<<20; off += int64(len(buf)) {
		for _, r := range readers {
			n, err := r.ReadAt(context.Background(), buf, off)
			if err != nil || n != len(buf) || !bytes.Equal(buf, remote.data[off:off+int64(n)]) {
				t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
			}
		}
		var held int64
		for _, r := range readers {
			held += r.buffered()
		}
		// Budgeted readahead plus at most one aligned demand block per reader.
		if limit := int64(4<<20) + 3*(2<<20); held > limit {
			t.Fatalf("readers hold %d bytes at %d; bound %d", held, off, limit)
		}
	}
	for _, r := range readers {
		r.close()
	}
	// Everything goes back to the budget once fetches finish.
	deadline := time.Now().Add(5 * time.Second)
	for !budget.tryAcquire(4 << 20) {
		if time.Now().After(deadline) {
			t.Fatal("budget not returned after close")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadErrorsAreNotShortReads(t *testing.T) {
	const size = 1 << 20
	remote := &fakeRemote{data: pattern(size), failNext: 1}
	r := New(size, remote.fetch, ReadOptions{})
	defer r.close()
	buf := make([]byte, 64<<10)
	if n, err := r.ReadAt(context.Background(), buf, 0); err == nil {
		t.Fatalf("failed fetch returned %d bytes and no error", n)
	}
	n, err := r.ReadAt(context.Background(), buf, 0)
	if err != nil || n != len(buf) || !bytes.Equal(buf, remote.data[:n]) {
		t.Fatalf("retry after failure: %d, %v", n, err)
	}

	short := &fakeRemote{data: pattern(size), shortAt: 1000}
	r2 := New(size, short.fetch, ReadOptions{})
	defer r2.close()
	if n, err := r2.ReadAt(context.Background(), buf, 0); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: %d, %v; want ErrUnexpectedEOF", n, err)
	}
}

func TestReadAtEOF(t *testing.T) {
	remote := &fakeRemote{data: pattern(1000)}
	r := New(1000, remote.fetch, ReadOptions{})
	defer r.close()
	buf := make([]byte, 300)
	n, err := r.ReadAt(context.Background(), buf, 900)
	if err != nil || n != 100 || !bytes.Equal(buf[:n], remote.data[900:]) {
		t.Fatalf("read across EOF = %d, %v", n, err)
	}
	if n, err := r.ReadAt(context.Background(), buf, 1000); n != 0 || err != nil {
		t.Fatalf("read at EOF = %d, %v", n, err)
	}
	empty := &fakeRemote{}
	r0 := New(0, empty.fetch, ReadOptions{})
	defer r0.close()
	if n, err := r0.ReadAt(context.Background(), buf, 0); n != 0 || err != nil || len(empty.requests()) != 0 {
		t.Fatalf("empty file: %d, %v, %d requests", n, err, len(empty.requests()))
	}
}

func TestReadCanceled(t *testing.T) {
	remote := &fakeRemote{data: pattern(1 << 20), delay: time.Hour}
	r := New(1<<20, remote.fetch, ReadOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.ReadAt(ctx, make([]byte, 10), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled read: %v", err)
	}
	r.close() // cancels the stalled fetch
}

// waitIdle waits until the pool holds want idle bytes (fetches finish in
// the background after a segment is dropped).
func waitIdle(t *testing.T, p *bufPool, want func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		idle := p.idleBytes()
		if want(idle) {
			return idle
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool holds %d idle bytes", idle)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSequentialReadRecyclesBuffers(t *testing.T) {
	const size = 48 << 20
	const budgetBytes = 16 << 20
	for _, tc := range []struct {
		name   string
		budget *Budget
	}{
		{"budget", NewBudget(budgetBytes)},
		{"no-budget", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := ReadOptions{InitialWindow: 512 << 10, MaxWindow: 4 << 20, ChunkSize: 512 << 10, Budget: tc.budget}
			remote := &fakeRemote{data: pattern(size)}
			r := New(size, remote.fetch, opts)
			buf := make([]byte, 256<<10)
			for off := int64(0); off < size; off += int64(len(buf)) {
				n, err := r.ReadAt(context.Background(), buf, off)
				if err != nil || n != len(buf) || !bytes.Equal(buf, remote.data[off:off+int64(n)]) {
					t.Fatalf("ReadAt(%d) = %d, %v (or wrong bytes)", off, n, err)
				}
			}
			r.close()
			// Over 96 chunks of 512 KiB pass through the reader; a window
			// of 4 MiB plus what is kept behind (keepBehind, 8 MiB) needs
			// about 26 buffers live at once, plus a few while the window
			// grows or while dropped fetches finish. Without recycling it
			// would be one buffer per fetch.
			allocs := r.pool.allocs.Load()
			t.Logf("%d fetches, %d buffers allocated", len(remote.requests()), allocs)
			if segs := int64(len(remote.requests())); segs < size/opts.ChunkSize {
				t.Fatalf("only %d fetches for %d bytes", segs, size)
			}
			if allocs > 40 {
				t.Fatalf("%d buffers allocated for %d MiB read in %d KiB chunks; want at most 40", allocs, size>>20, opts.ChunkSize>>10)
			}
			if tc.budget == nil {
				// Without a budget the idle pool is capped per handle.
				waitIdle(t, r.pool, func(n int64) bool { return n > 0 })
				if idle := r.pool.idleBytes(); idle > opts.MaxWindow+opts.ChunkSize {
					t.Fatalf("idle pool %d bytes; cap %d", idle, opts.MaxWindow+opts.ChunkSize)
				}
				return
			}
			// Idle buffers hold budget, but a request for the whole
			// budget evicts them.
			waitIdle(t, r.pool, func(n int64) bool { return n > 0 })
			if !tc.budget.tryAcquire(budgetBytes) {
				t.Fatal("idle buffers not evicted for a full-budget request")
			}
			if idle := r.pool.idleBytes(); idle != 0 {
				t.Fatalf("pool still holds %d idle bytes after eviction", idle)
			}
		})
	}
}

func TestJumpsAndReleaseReturnBuffers(t *testing.T) {
	const size = 64 << 20
	budget := NewBudget(32 << 20)
	opts := ReadOptions{InitialWindow: 1 << 20, MaxWindow: 8 << 20, ChunkSize: 1 << 20, Budget: budget}
	remote := &fakeRemote{data: pattern(size)}
	r := New(size, remote.fetch, opts)
	ctx := context.Background()
	buf := make([]byte, 128<<10)
	read := func(off int64) {
		t.Helper()
		n, err := r.ReadAt(ctx, buf, off)
		if err != nil || n != len(buf) || !bytes.Equal(buf, remote.data[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d) = %d, %v (or wrong bytes)", off, n, err)
		}
	}
	// A sequential run builds a window of readahead segments.
	for off := int64(0); off < 4<<20; off += int64(len(buf)) {
		read(off)
	}
	if r.buffered() < 4<<20 {
		t.Fatalf("only %d bytes buffered after a sequential run", r.buffered())
	}
	// A random jump drops the window: its buffers go to the pool.
	read(40 << 20)
	idle := waitIdle(t, r.pool, func(n int64) bool { return n >= 4<<20 })
	allocs := r.pool.allocs.Load()
	// A new sequential run from the jump reuses them.
	for off := int64(40 << 20); off < 44<<20; off += int64(len(buf)) {
		read(off)
	}
	if got := r.pool.allocs.Load() - allocs; got > 4 {
		t.Fatalf("%d new buffers for a run after a jump with %d idle bytes pooled", got, idle)
	}
	before := r.pool.idleBytes()
	held := r.buffered()
	r.close()
	// Release returns every buffer once the fetches end.
	waitIdle(t, r.pool, func(n int64) bool { return n >= before+held })
	if r.buffered() != 0 {
		t.Fatalf("closed reader holds %d bytes", r.buffered())
	}
	// Budget plus idle buffers never exceed the budget: once the cancelled
	// fetches have ended, everything can be taken back. (A fetch of a
	// segment dropped by the jump may still hold its buffer for a moment,
	// so poll rather than check once.)
	deadline := time.Now().Add(5 * time.Second)
	for !budget.tryAcquire(32 << 20) {
		if time.Now().After(deadline) {
			t.Fatalf("budget not whole after close (%d idle bytes)", r.pool.idleBytes())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentReadsWithRecycling reads one handle from several
// goroutines with sequential runs and jumps, so that segments are dropped
// and their buffers reused while other reads copy from them; under -race
// and by content it checks that no buffer is reused while referenced.
func TestConcurrentReadsWithRecycling(t *testing.T) {
	const size = 16 << 20
	opts := ReadOptions{InitialWindow: 256 << 10, MaxWindow: 2 << 20, ChunkSize: 256 << 10, Budget: NewBudget(4 << 20)}
	remote := &fakeRemote{data: pattern(size)}
	r := New(size, remote.fetch, opts)
	defer r.close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			off := int64(g) * (size / 4)
			for i := 0; i < 200; i++ {
				if i%37 == 0 {
					off = int64((g*7919+i*104729)%(size/len(buf))) * int64(len(buf))
				}
				if off+int64(len(buf)) > size {
					off = 0
				}
				n, err := r.ReadAt(context.Background(), buf, off)
				if err != nil || n != len(buf) || !bytes.Equal(buf, remote.data[off:off+int64(n)]) {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d) = %d, %v (or wrong bytes)", g, off, n, err)
					return
				}
				off += int64(n)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
