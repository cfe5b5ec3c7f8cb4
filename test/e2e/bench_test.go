package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
)

// BenchmarkSequentialRead reads one large file sequentially through the
// mount and compares with a single-stream ranged download of the same bytes
// by b2client from the same emulator (direct-MB/s), and with 8 MiB ranged
// downloads 8 at a time (direct8-MB/s, the same parallelism as b2fs's
// readahead without FUSE). With a per-connection bandwidth cap,
// parallel readahead should beat the single stream by a wide margin.
//
//	go test -run '^$' -bench SequentialRead -benchtime 2x ./test/e2e
//	B2FS_BENCH_SIZE=1GiB go test -run '^$' -bench SequentialRead -benchtime 1x ./test/e2e
func BenchmarkSequentialRead(b *testing.B) {
	size := benchSize(b)
	for _, bc := range []struct {
		name      string
		bandwidth int64
	}{
		{"unlimited", 0},
		{"20MBps-per-connection", 20_000_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := newServer(b, b2emu.Options{AbsoluteMinimumPartSize: 5 << 20, RecommendedPartSize: 16 << 20, Bandwidth: bc.bandwidth}, "bench-bucket")
			uploadGenerated(b, ts, "bench-bucket", "seq.bin", 7, size, 16<<20, 8)
			args := []string{"--log-level", "warn"}
			// B2FS_BENCH_ARGS adds b2fs flags, e.g. "--read-chunk-size 4MiB".
			args = append(args, strings.Fields(os.Getenv("B2FS_BENCH_ARGS"))...)
			if p := os.Getenv("B2FS_BENCH_CPUPROFILE"); p != "" {
				args = append(args, "--cpu-profile", p+"."+bc.name)
			}
			m := startMount(b, ts, mountOpts{Source: "bench-bucket", Args: args})
			path := filepath.Join(m.Dir, "seq.bin")
			ctx := context.Background()
			c, err := b2client.New(ctx, b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
			if err != nil {
				b.Fatal(err)
			}
			var mountTime, directTime, parallelTime time.Duration
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dropCaches(b)
				b.StartTimer()
				start := time.Now()
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
				f.Close()
				if err != nil || n != size {
					b.Fatalf("read through mount: %d bytes, %v", n, err)
				}
				mountTime += time.Since(start)

				b.StopTimer()
				start = time.Now()
				r, err := c.Download(ctx, b2client.DownloadRequest{BucketName: "bench-bucket", Name: "seq.bin", Offset: 1, Length: size - 1})
				if err != nil {
					b.Fatal(err)
				}
				n, err = io.CopyBuffer(io.Discard, r, make([]byte, 1<<20))
				r.Close()
				if err != nil || n != size-1 {
					b.Fatalf("direct download: %d bytes, %v", n, err)
				}
				directTime += time.Since(start)

				start = time.Now()
				if err := parallelDownload(ctx, c, "bench-bucket", "seq.bin", size, 8<<20, 8); err != nil {
					b.Fatal(err)
				}
				parallelTime += time.Since(start)
				b.StartTimer()
			}
			b.StopTimer()
			mountMBps := float64(size) * float64(b.N) / mountTime.Seconds() / 1e6
			directMBps := float64(size-1) * float64(b.N) / directTime.Seconds() / 1e6
			b.ReportMetric(mountMBps, "mount-MB/s")
			b.ReportMetric(directMBps, "direct-MB/s")
			parallelMBps := float64(size) * float64(b.N) / parallelTime.Seconds() / 1e6
			b.ReportMetric(mountMBps/directMBps, "mount/direct")
			b.ReportMetric(parallelMBps, "direct8-MB/s")
			b.ReportMetric(mountMBps/parallelMBps, "mount/direct8")
		})
	}
}

// parallelDownload reads size bytes of name as chunk-sized ranged downloads,
// workers at a time (what b2fs's readahead does, without FUSE).
func parallelDownload(ctx context.Context, c *b2client.Client, bucket, name string, size, chunk int64, workers int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		g.Go(func() error {
			r, err := c.Download(ctx, b2client.DownloadRequest{BucketName: bucket, Name: name, Offset: off, Length: n})
			if err != nil {
				return err
			}
			defer r.Close()
			got, err := io.Copy(io.Discard, r)
			if err == nil && got != n {
				err = fmt.Errorf("range at %d: %d of %d bytes", off, got, n)
			}
			return err
		})
	}
	return g.Wait()
}

// dropCaches empties the kernel page cache so reads reach b2fs.
func dropCaches(tb testing.TB) {
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0o200); err != nil {
		tb.Fatalf("drop caches: %v", err)
	}
}
