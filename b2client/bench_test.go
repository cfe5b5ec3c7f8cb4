package b2client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDownloadRanged reads 1 MiB ranges of an 8 MiB file from b2emu.
func BenchmarkDownloadRanged(b *testing.B) {
	e := newEnv(b, envOptions{})
	const size, chunk = 8 << 20, 1 << 20
	body := randBytes(size, 20)
	e.put("bench", body)
	buf := make([]byte, 64<<10)
	ctx := context.Background()
	b.SetBytes(chunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i%(size/chunk)) * chunk
		r, err := e.c.Download(ctx, DownloadRequest{BucketName: e.bucketName, Name: "bench", Offset: off, Length: chunk})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, r, buf)
		r.Close()
		if err != nil || n != chunk {
			b.Fatalf("read %d, %v", n, err)
		}
	}
}

// BenchmarkUpload uploads 4 MiB files to b2emu: single b2_upload_file, and
// as large files with 1 MiB parts (UploadLargeFile and Writer).
func BenchmarkUpload(b *testing.B) {
	const size = 4 << 20
	body := randBytes(size, 21)
	ctx := context.Background()
	run := func(b *testing.B, up func(e *env, name string) error) {
		e := newEnv(b, envOptions{})
		b.SetBytes(size)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := up(e, fmt.Sprint("bench-", i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("single", func(b *testing.B) {
		run(b, func(e *env, name string) error {
			_, err := e.c.UploadFile(ctx, UploadRequest{BucketID: e.bucketID, Name: name}, bytes.NewReader(body), size)
			return err
		})
	})
	b.Run("large", func(b *testing.B) {
		run(b, func(e *env, name string) error {
			_, err := e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: name}, bytes.NewReader(body), size, LargeFileOptions{PartSize: 1 << 20, Concurrency: 4})
			return err
		})
	})
	b.Run("writer", func(b *testing.B) {
		run(b, func(e *env, name string) error {
			w := e.c.NewWriter(ctx, UploadRequest{BucketID: e.bucketID, Name: name}, LargeFileOptions{PartSize: 1 << 20, Concurrency: 4})
			if _, err := io.Copy(w, bytes.NewReader(body)); err != nil {
				w.Abort(err)
				return err
			}
			return w.Close()
		})
	})
}

// heapSampler records the peak HeapInuse while running.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak atomic.Uint64
	base uint64
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapSampler{stop: make(chan struct{}), base: ms.HeapInuse}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// growth returns the peak heap growth over the baseline.
func (h *heapSampler) growth() int64 {
	close(h.stop)
	h.wg.Wait()
	return int64(h.peak.Load()) - int64(h.base)
}

// TestLargeUploadBoundedMemory checks that large uploads hold about
// Concurrency × PartSize bytes, not the whole file: the Writer's part
// buffers (exact counter) and the heap growth (sampled) of both the Writer
// and UploadLargeFile.
func TestLargeUploadBoundedMemory(t *testing.T) {
	const (
		conc     = 2
		partSize = 1 << 20
		size     = 24 << 20
		slack    = 8 << 20 // HTTP buffers, emulator, test bookkeeping
	)
	e := newEnv(t, envOptions{emu: envEmuPartSizes(partSize)})
	ctx := context.Background()
	limit := int64((conc+2)*partSize + slack)

	t.Run("writer", func(t *testing.T) {
		e.c.partBufPeak.Store(0)
		src := &patternReader{n: size}
		h := startHeapSampler()
		w := e.c.NewWriter(ctx, UploadRequest{BucketID: e.bucketID, Name: "mem-writer"}, LargeFileOptions{PartSize: partSize, Concurrency: conc})
		if _, err := io.CopyBuffer(w, src, make([]byte, 32<<10)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		growth := h.growth()
		if peak := e.c.partBufPeak.Load(); peak > (conc+1)*partSize || peak < partSize {
			t.Errorf("part buffers peaked at %d bytes, want ≤ (C+1)×P = %d", peak, (conc+1)*partSize)
		}
		if growth > limit {
			t.Errorf("heap grew by %d bytes for a %d-byte upload, want < %d", growth, size, limit)
		}
		t.Logf("writer: part buffers peak %d, heap growth %d (file %d)", e.c.partBufPeak.Load(), growth, size)
		if f := w.File(); f == nil || f.Size != size {
			t.Fatalf("file %+v", f)
		}
	})
	t.Run("UploadLargeFile", func(t *testing.T) {
		src := &patternReaderAt{n: size}
		h := startHeapSampler()
		f, err := e.c.UploadLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "mem-large"}, src, size, LargeFileOptions{PartSize: partSize, Concurrency: conc})
		if err != nil {
			t.Fatal(err)
		}
		growth := h.growth()
		if growth > limit {
			t.Errorf("heap grew by %d bytes for a %d-byte upload, want < %d", growth, size, limit)
		}
		t.Logf("UploadLargeFile: heap growth %d (file %d)", growth, size)
		if f.Size != size {
			t.Fatalf("file %+v", f)
		}
	})
}

// patternReader yields n bytes of a cheap pattern without holding them.
type patternReader struct{ off, n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) * 31 >> 3)
	}
	p.off += int64(len(b))
	return len(b), nil
}

type patternReaderAt struct{ n int64 }

func (p *patternReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.n {
		return 0, io.EOF
	}
	m := min(int64(len(b)), p.n-off)
	for i := int64(0); i < m; i++ {
		b[i] = byte((off + i) * 31 >> 3)
	}
	if m < int64(len(b)) {
		return int(m), io.EOF
	}
	return int(m), nil
}
