package staging

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
)

// benchRemote is a Remote that reads every uploaded byte (as sending it
// would) and stores nothing, so a benchmark measures staging itself: the
// staging file, hashing, part scheduling and manifests.
type benchRemote struct {
	seq   atomic.Int64
	bytes atomic.Int64
	calls atomic.Int64
}

func (r *benchRemote) drain(rd io.ReaderAt, size int64) error {
	r.calls.Add(1)
	n, err := io.Copy(io.Discard, io.NewSectionReader(rd, 0, size))
	r.bytes.Add(n)
	return err
}

func (r *benchRemote) version(req UploadRequest, size int64) backend.Object {
	return backend.Object{FileID: "bench-" + strconv.FormatInt(r.seq.Add(1), 10), Name: req.Name, Size: size,
		ContentType: req.ContentType, Info: req.Info, Uploaded: time.UnixMilli(1_700_000_000_000)}
}

func (r *benchRemote) Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error) {
	return nil, fmt.Errorf("benchRemote: no downloads")
}

func (r *benchRemote) UploadFile(ctx context.Context, req UploadRequest, rd io.ReaderAt, size int64) (backend.Object, error) {
	if err := r.drain(rd, size); err != nil {
		return backend.Object{}, err
	}
	return r.version(req, size), nil
}

func (r *benchRemote) StartLargeFile(ctx context.Context, req UploadRequest) (string, error) {
	r.calls.Add(1)
	return "large-" + strconv.FormatInt(r.seq.Add(1), 10), nil
}

func (r *benchRemote) UploadPart(ctx context.Context, id string, part int, rd io.ReaderAt, size int64, sha1Hex string) (string, error) {
	r.calls.Add(1)
	h := sha1.New() // the hash b2client computes while sending
	n, err := io.Copy(h, io.NewSectionReader(rd, 0, size))
	r.bytes.Add(n)
	return hex.EncodeToString(h.Sum(nil)), err
}

func (r *benchRemote) CopyPart(ctx context.Context, src, id string, part int, off, length int64) (string, error) {
	r.calls.Add(1)
	return "0000000000000000000000000000000000000000", nil
}

func (r *benchRemote) FinishLargeFile(ctx context.Context, id string, shas []string) (backend.Object, error) {
	r.calls.Add(1)
	return backend.Object{FileID: id, SHA1: "none", Uploaded: time.UnixMilli(1_700_000_000_000)}, nil
}

func (r *benchRemote) CancelLargeFile(ctx context.Context, id string) error { return nil }

func (r *benchRemote) CopyFileReplaceInfo(ctx context.Context, src string, size int64, req UploadRequest) (backend.Object, error) {
	r.calls.Add(1)
	return r.version(req, size), nil
}

func (r *benchRemote) DeleteFileVersion(ctx context.Context, name, fileID string) error { return nil }

func newBenchManager(b *testing.B, part int64) (*Manager, *benchRemote) {
	b.Helper()
	rem := &benchRemote{}
	m, err := New(Options{
		Dir:          filepath.Join(b.TempDir(), "staging"),
		Remote:       rem,
		PartSize:     part,
		UploadCutoff: 2 * part,
		Concurrency:  4,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	return m, rem
}

// writeFile creates name, writes size bytes sequentially in chunks of
// chunk bytes, flushes (uploads) and releases it, as cp through the mount
// does.
func writeFile(ctx context.Context, m *Manager, name string, buf []byte, size int64) error {
	f, err := m.Open(ctx, OpenOptions{Key: Key{BucketID: "bid", BucketName: "bench", Name: name}, Truncate: true})
	if err != nil {
		return err
	}
	defer m.Release(f)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(ctx, buf[:n], off); err != nil {
			return err
		}
	}
	return f.Flush(ctx)
}

// BenchmarkStagingSequentialWrite writes a new file through staging and
// uploads it on close: below the cutoff as one upload, above it as a large
// file whose parts stream while the file is written.
func BenchmarkStagingSequentialWrite(b *testing.B) {
	const part = 8 << 20
	for _, c := range []struct {
		name  string
		size  int64
		chunk int
	}{
		{"single-4MiB/write=128KiB", 4 << 20, 128 << 10},
		{"large-64MiB/write=128KiB", 64 << 20, 128 << 10},
		{"large-64MiB/write=1MiB", 64 << 20, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, rem := newBenchManager(b, part)
			buf := make([]byte, c.chunk)
			for i := range buf {
				buf[i] = byte(i * 13)
			}
			ctx := context.Background()
			b.SetBytes(c.size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := writeFile(ctx, m, fmt.Sprintf("big-%d.bin", i), buf, c.size); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got, want := rem.bytes.Load(), c.size*int64(b.N); got < want {
				b.Fatalf("uploaded %d bytes, want at least %d", got, want)
			}
			b.ReportMetric(float64(rem.calls.Load())/float64(b.N), "remote-calls/op")
		})
	}
}

// BenchmarkStagingSmallFiles creates, writes and uploads 4 KiB files one
// after another (cp -r of many small files).
func BenchmarkStagingSmallFiles(b *testing.B) {
	m, rem := newBenchManager(b, 8<<20)
	buf := make([]byte, 4096)
	ctx := context.Background()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := writeFile(ctx, m, fmt.Sprintf("small/f%07d", i), buf, int64(len(buf))); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rem.calls.Load())/float64(b.N), "remote-calls/op")
}
