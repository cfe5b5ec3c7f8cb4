package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// Write benchmarks (not run by scripts/test.sh):
//
//	go test -run '^$' -bench BenchmarkWrite -benchtime 1x ./test/e2e/
//	B2FS_BENCH_SIZE=1GiB go test -run '^$' -bench BenchmarkWriteSequential -benchtime 1x ./test/e2e/
//
// BenchmarkWriteSequential writes one large file through the mount and
// stops the clock when close returns (the data is then durable in B2). It
// reports the ratio to b2client uploading the same bytes from memory
// straight to the same emulator with the same part size and concurrency:
// the limit the mount can approach. BenchmarkWriteSmallFiles copies 1,000
// small files with cp -r.

const benchPart = 16 << 20

func benchSize(b *testing.B) int64 {
	s := os.Getenv("B2FS_BENCH_SIZE")
	if s == "" {
		return 256 << 20
	}
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("bad B2FS_BENCH_SIZE %q", os.Getenv("B2FS_BENCH_SIZE"))
	}
	return n * mult
}

// benchMount runs b2fs on bucket of ts for a benchmark and returns the
// mount point; b.Cleanup unmounts.
func benchMount(b *testing.B, ts *b2emu.TestServer, bucket string, args ...string) string {
	b.Helper()
	testenv.RequireFUSE(b)
	bin := testenv.Binary(b, "b2fs")
	dir := filepath.Join(b.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	a := append([]string{"--endpoint", ts.URL, "--log-level", "warn", "--cache-dir", filepath.Join(b.TempDir(), "cache")}, args...)
	cmd := exec.Command(bin, append(a, bucket, dir)...)
	cmd.Env = testenv.CredEnv(ts.KeyID, ts.Key)
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if testenv.IsMounted(dir) {
			exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !testenv.IsMounted(dir) {
		select {
		case <-exited:
			b.Fatalf("b2fs exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("b2fs did not mount: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return dir
}

func BenchmarkWriteSequential(b *testing.B) {
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("streamed-sha1=%v", !fast), func(b *testing.B) { benchSequential(b, fast) })
	}
}

func benchSequential(b *testing.B, fast bool) {
	size := benchSize(b)
	ts := b2emu.NewTestServer(b, b2emu.Options{})
	if _, err := ts.CreateBucket("bench-bucket", "allPrivate"); err != nil {
		b.Fatal(err)
	}
	bid, _ := ts.BucketID("bench-bucket")
	dir := benchMount(b, ts, "bench-bucket", "--part-size", strconv.Itoa(benchPart), "--upload-concurrency", "4",
		fmt.Sprintf("--streamed-sha1=%v", !fast))
	c, err := b2client.New(context.Background(), b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		b.Fatal(err)
	}
	data := testenv.Pattern(42, int(size))
	const chunk = 1 << 20

	var mountTotal, directTotal time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// through the mount: sequential 1 MiB writes, then close
		start := time.Now()
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("seq-%d.bin", i)))
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < len(data); off += chunk {
			if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		mountTotal += time.Since(start)

		// the limit: b2client straight from memory
		b.StopTimer()
		start = time.Now()
		_, err = c.UploadLargeFile(context.Background(), b2client.UploadRequest{BucketID: bid, Name: fmt.Sprintf("direct-%d.bin", i)},
			bytes.NewReader(data), size, b2client.LargeFileOptions{PartSize: benchPart, Concurrency: 4})
		if err != nil {
			b.Fatal(err)
		}
		directTotal += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/mountTotal.Seconds(), "mount-MiB/s")
	b.ReportMetric(mb/directTotal.Seconds(), "direct-MiB/s")
	b.ReportMetric(mountTotal.Seconds()/directTotal.Seconds(), "mount/direct")
}

func BenchmarkWriteSmallFiles(b *testing.B) {
	testenv.RequireTool(b, "cp")
	ts := b2emu.NewTestServer(b, b2emu.Options{})
	if _, err := ts.CreateBucket("bench-bucket", "allPrivate"); err != nil {
		b.Fatal(err)
	}
	dir := benchMount(b, ts, "bench-bucket")
	src := filepath.Join(b.TempDir(), "small")
	os.Mkdir(src, 0o755)
	for i := 0; i < 1000; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d.txt", i)), testenv.Pattern(uint64(i), 1000+i*3), 0o644)
	}
	c, err := b2client.New(context.Background(), b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		b.Fatal(err)
	}
	bid, _ := ts.BucketID("bench-bucket")
	ents, _ := os.ReadDir(src)
	var mountTotal, directTotal time.Duration
	var classC, uploads int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts.ResetStats()
		start := time.Now()
		out, err := exec.Command("cp", "-r", src, filepath.Join(dir, fmt.Sprintf("copy-%d", i))).CombinedOutput()
		if err != nil {
			b.Fatalf("cp -r: %v %s", err, out)
		}
		mountTotal += time.Since(start)
		st := ts.Stats()
		classC += st.Classes["C"]
		uploads += st.Calls["b2_upload_file"]

		// the limit: the same files uploaded one after the other by b2client
		b.StopTimer()
		start = time.Now()
		for _, e := range ents {
			body, _ := os.ReadFile(filepath.Join(src, e.Name()))
			if _, err := c.UploadFile(context.Background(), b2client.UploadRequest{BucketID: bid, Name: fmt.Sprintf("direct-%d/%s", i, e.Name())},
				bytes.NewReader(body), int64(len(body))); err != nil {
				b.Fatal(err)
			}
		}
		directTotal += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(1000*b.N)/mountTotal.Seconds(), "mount-files/s")
	b.ReportMetric(float64(1000*b.N)/directTotal.Seconds(), "direct-files/s")
	b.ReportMetric(mountTotal.Seconds()/directTotal.Seconds(), "mount/direct")
	b.ReportMetric(float64(classC)/float64(b.N), "classC/op")
	b.ReportMetric(float64(uploads)/float64(b.N), "uploads/op")
}
