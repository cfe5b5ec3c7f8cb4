package readahead

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// benchSource serves ranged reads of an in-memory file, optionally after a
// fixed first-byte latency, and counts the fetches.
type benchSource struct {
	data    []byte
	latency time.Duration
	fetches atomic.Int64
}

func newBenchSource(size int, latency time.Duration) *benchSource {
	d := make([]byte, size)
	for i := range d {
		d[i] = byte(i * 7)
	}
	return &benchSource{data: d, latency: latency}
}

func (s *benchSource) fetch(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	s.fetches.Add(1)
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	return io.NopCloser(bytes.NewReader(s.data[off : off+length])), nil
}

// BenchmarkReadaheadSequential reads a whole file front to back in
// kernel-sized requests through a fresh reader per iteration: the copy and
// bookkeeping cost of the readahead path, and (with a first-byte latency)
// how well its parallel window hides latency. Each iteration has its own
// Budget, so segment buffers are only recycled within one file; the
// "shared" cases share one Budget as a mount does, so later files reuse
// earlier files' buffers.
func BenchmarkReadaheadSequential(b *testing.B) {
	const size = 64 << 20
	for _, c := range []struct {
		req     int
		latency time.Duration
		shared  bool
	}{
		{128 << 10, 0, false},
		{1 << 20, 0, false},
		{1 << 20, 2 * time.Millisecond, false},
		{128 << 10, 0, true},
		{1 << 20, 2 * time.Millisecond, true},
	} {
		name := fmt.Sprintf("req=%dKiB/latency=%v", c.req>>10, c.latency)
		if c.shared {
			name += "/shared"
		}
		b.Run(name, func(b *testing.B) {
			src := newBenchSource(size, c.latency)
			shared := NewBudget(256 << 20)
			buf := make([]byte, c.req)
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				budget := shared
				if !c.shared {
					budget = NewBudget(256 << 20)
				}
				r := New(size, src.fetch, ReadOptions{Budget: budget})
				for off := int64(0); off < size; off += int64(c.req) {
					n, err := r.ReadAt(ctx, buf, off)
					if err != nil || n != c.req {
						b.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
					}
				}
				r.close()
			}
			b.ReportMetric(float64(src.fetches.Load())/float64(b.N), "fetches/op")
		})
	}
}

// BenchmarkReadaheadRandom4K makes 4 KiB reads at random offsets of one
// open reader, as fio randread does through the kernel.
func BenchmarkReadaheadRandom4K(b *testing.B) {
	const size = 256 << 20
	src := newBenchSource(size, 0)
	r := New(size, src.fetch, ReadOptions{Budget: NewBudget(256 << 20)})
	defer r.close()
	rnd := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	ctx := context.Background()
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := rnd.Int64N(size/4096) * 4096
		if n, err := r.ReadAt(ctx, buf, off); err != nil || n != len(buf) {
			b.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	b.StopTimer()
	// Bytes fetched per byte asked for: the cost of the alignment of
	// random reads.
	b.ReportMetric(float64(src.fetches.Load())/float64(b.N), "fetches/op")
}

// BenchmarkReadaheadParallelReaders reads the same file with several
// readers at once, sharing one Budget (the global readahead bound).
func BenchmarkReadaheadParallelReaders(b *testing.B) {
	const size = 16 << 20
	src := newBenchSource(size, 0)
	budget := NewBudget(64 << 20)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 1<<20)
		ctx := context.Background()
		for pb.Next() {
			r := New(size, src.fetch, ReadOptions{Budget: budget})
			for off := int64(0); off < size; off += int64(len(buf)) {
				if n, err := r.ReadAt(ctx, buf, off); err != nil || n != len(buf) {
					b.Errorf("ReadAt(%d) = %d, %v", off, n, err)
					r.close()
					return
				}
			}
			r.close()
		}
	})
}
