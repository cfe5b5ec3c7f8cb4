package listing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
)

// benchListBackend answers every listing with one prebuilt page, so a
// benchmark measures the metadata layer, not a fake server.
type benchListBackend struct {
	page  Page
	calls atomic.Int64
}

func (be *benchListBackend) ListBuckets(ctx context.Context) ([]Bucket, error) {
	return []Bucket{{ID: "bid", Name: "bench"}}, nil
}

func (be *benchListBackend) ListDir(ctx context.Context, b Bucket, prefix, start string, max int) (Page, error) {
	be.calls.Add(1)
	return be.page, nil
}

func (be *benchListBackend) OpenRange(ctx context.Context, b Bucket, fileID string, off, length int64) (io.ReadCloser, error) {
	return nil, backend.ErrNotFound
}

func newBenchMeta(b *testing.B, n int) (*Meta, *benchListBackend) {
	b.Helper()
	be := &benchListBackend{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("dir/f%06d.txt", i)
		be.page.Objects = append(be.page.Objects, Object{Name: name, FileID: "4_z" + name, Size: int64(i),
			Uploaded: time.UnixMilli(1_700_000_000_000), Info: map[string]string{"src_last_modified_millis": "1700000000000"}})
	}
	c, err := cache.New(cache.Options{DirTTL: time.Hour, AttrTTL: time.Hour, NegativeTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return &Meta{life: context.Background(), be: be, cache: c, log: slog.New(slog.DiscardHandler), pageSize: 10000}, be
}

// BenchmarkMetaListDirCold turns one listing page of n names into cached
// directory entries (a cold readdir minus the network).
func BenchmarkMetaListDirCold(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m, be := newBenchMeta(b, n)
			bucket := Bucket{ID: "bid", Name: "bench"}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.cache.InvalidateDir(dirKey(bucket, "dir/"))
				es, err := m.listDir(ctx, bucket, "dir/")
				if err != nil || len(es) != n {
					b.Fatalf("listDir: %d entries, %v", len(es), err)
				}
			}
			b.StopTimer()
			if be.calls.Load() != int64(b.N) {
				b.Fatalf("%d list calls for %d cold listings", be.calls.Load(), b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}

// BenchmarkMetaListDirWarm serves a listing from the cache.
func BenchmarkMetaListDirWarm(b *testing.B) {
	m, be := newBenchMeta(b, 10000)
	bucket := Bucket{ID: "bid", Name: "bench"}
	ctx := context.Background()
	if _, err := m.listDir(ctx, bucket, "dir/"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.listDir(ctx, bucket, "dir/"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if be.calls.Load() != 1 {
		b.Fatalf("%d list calls, want 1", be.calls.Load())
	}
}

// BenchmarkMetaLookupListed looks names up in a listed directory (what
// ls -l and find do for every entry after readdir): no backend call.
func BenchmarkMetaLookupListed(b *testing.B) {
	const n = 10000
	m, be := newBenchMeta(b, n)
	bucket := Bucket{ID: "bid", Name: "bench"}
	ctx := context.Background()
	if _, err := m.listDir(ctx, bucket, "dir/"); err != nil {
		b.Fatal(err)
	}
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("f%06d.txt", (i*7919)%n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok, err := m.lookup(ctx, bucket, "dir/", names[i%len(names)]); err != nil || !ok {
				b.Errorf("lookup: %v, %v", ok, err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	if be.calls.Load() != 1 {
		b.Fatalf("%d list calls, want 1", be.calls.Load())
	}
}
