package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// rcMount mounts bucket read-only with the read cache in cacheDir.
func rcMount(t *testing.T, ts *b2emu.TestServer, bucket, cacheDir string, args ...string) *mount {
	t.Helper()
	return startMount(t, ts, mountOpts{Source: bucket, Args: append([]string{"--read-only", "--cache-dir", cacheDir}, args...)})
}

func downloads(ts *b2emu.TestServer) int64 {
	s := ts.Stats()
	return s.Calls["b2_download_file_by_id"] + s.Calls["b2_download_file_by_name"]
}

// catSHA1 reads name in dir and returns the SHA-1 of what it read.
func catSHA1(t *testing.T, dir, name string) string {
	t.Helper()
	return strings.Fields(sh(t, dir, "cat "+shq(name)+" | sha1sum"))[0]
}

// waitRecorded waits until the read cache index in cacheDir records at
// least blocks blocks (they are recorded within about a second).
func waitRecorded(t *testing.T, cacheDir string, blocks int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		idx, _ := filepath.Glob(filepath.Join(cacheDir, "readcache", "*", "index"))
		n := 0
		for _, p := range idx {
			b, _ := os.ReadFile(p)
			n += strings.Count(string(b), "\nB ")
		}
		if n >= blocks {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("read cache index records %d blocks after 15s, want %d", n, blocks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill9 stops m as a crash would and cleans up the mount point.
func (m *mount) kill9(t *testing.T) {
	t.Helper()
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
}

func dataFiles(t *testing.T, cacheDir string) []string {
	t.Helper()
	fs, _ := filepath.Glob(filepath.Join(cacheDir, "readcache", "*", "data", "*"))
	return fs
}

// TestReadCacheRemount: a file read once is read again after a restart
// (clean, and kill -9) with no download and the right bytes.
func TestReadCacheRemount(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	body := testenv.Pattern(21, 3<<20+12345)
	put(t, ts, "rcache-bucket", "f.bin", body, nil)
	want := sha1hex(body)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	blocks := (len(body) + 128<<10 - 1) / (128 << 10)

	m := rcMount(t, ts, "rcache-bucket", cacheDir)
	if got := catSHA1(t, m.Dir, "f.bin"); got != want {
		t.Fatalf("first read: sha1 %s, want %s", got, want)
	}
	m.stop(t)

	ts.ResetStats()
	m = rcMount(t, ts, "rcache-bucket", cacheDir)
	if got := catSHA1(t, m.Dir, "f.bin"); got != want {
		t.Fatalf("after a clean restart: sha1 %s, want %s", got, want)
	}
	if n := downloads(ts); n != 0 {
		t.Fatalf("after a clean restart: %d downloads, want 0", n)
	}

	// kill -9 once the blocks are recorded: the cache survives.
	m.kill9(t)
	put(t, ts, "rcache-bucket", "g.bin", body[:2<<20], nil)
	m = rcMount(t, ts, "rcache-bucket", cacheDir)
	if got := catSHA1(t, m.Dir, "g.bin"); got != sha1hex(body[:2<<20]) {
		t.Fatal("g.bin: wrong bytes")
	}
	waitRecorded(t, cacheDir, blocks+16)
	m.kill9(t)
	ts.ResetStats()
	m = rcMount(t, ts, "rcache-bucket", cacheDir)
	if got := catSHA1(t, m.Dir, "f.bin"); got != want {
		t.Fatalf("after kill -9: f.bin sha1 %s, want %s", got, want)
	}
	if got := catSHA1(t, m.Dir, "g.bin"); got != sha1hex(body[:2<<20]) {
		t.Fatal("after kill -9: g.bin: wrong bytes")
	}
	if n := downloads(ts); n != 0 {
		t.Fatalf("after kill -9: %d downloads, want 0", n)
	}
	m.stop(t)
	for _, p := range append(dataFiles(t, cacheDir), filepath.Dir(dataFiles(t, cacheDir)[0])) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); (st.IsDir() && perm != 0o700) || (!st.IsDir() && perm != 0o600) {
			t.Errorf("%s: mode %v", p, perm)
		}
	}
}

// TestReadCacheCorruption: cache files damaged on disk are detected, the
// bad blocks downloaded again, and the right bytes returned.
func TestReadCacheCorruption(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	body := testenv.Pattern(22, 2<<20+77)
	put(t, ts, "rcache-bucket", "f.bin", body, nil)
	want := sha1hex(body)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	for _, passthrough := range []string{"--passthrough=false", "--passthrough=true"} {
		m := rcMount(t, ts, "rcache-bucket", cacheDir, passthrough)
		catSHA1(t, m.Dir, "f.bin")
		m.stop(t)
		files := dataFiles(t, cacheDir)
		if len(files) != 1 {
			t.Fatalf("%d data files, want 1", len(files))
		}
		fd, err := os.OpenFile(files[0], os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		// One byte in block 0, a run over blocks 5 and 6.
		fd.WriteAt([]byte{^body[1000]}, 1000)
		junk := make([]byte, 100000)
		fd.WriteAt(junk, 5*128<<10+100000)
		fd.Close()

		ts.ResetStats()
		m = rcMount(t, ts, "rcache-bucket", cacheDir, passthrough)
		if got := catSHA1(t, m.Dir, "f.bin"); got != want {
			t.Fatalf("%s: corrupted cache served: sha1 %s, want %s", passthrough, got, want)
		}
		if n := downloads(ts); n == 0 {
			t.Fatalf("%s: corrupted blocks were not downloaded again", passthrough)
		}
		if s := ts.Stats(); s.Classes["B"] > 3 {
			t.Errorf("%s: %d class B calls to repair 3 blocks", passthrough, s.Classes["B"])
		}
		if !strings.Contains(m.stderr.String(), "failed verification") {
			t.Errorf("%s: corruption not logged", passthrough)
		}
		m.stop(t)
		ts.ResetStats()
		m = rcMount(t, ts, "rcache-bucket", cacheDir, passthrough)
		if got := catSHA1(t, m.Dir, "f.bin"); got != want || downloads(ts) != 0 {
			t.Fatalf("%s: after the repair: sha1 %s, %d downloads", passthrough, got, downloads(ts))
		}
		m.stop(t)
	}
}

// TestReadCacheBound: a workload larger than --read-cache-size keeps the
// cache within it, most recently read files kept.
func TestReadCacheBound(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	cacheDir := filepath.Join(t.TempDir(), "cache")
	var bodies [][]byte
	for i := range 8 {
		b := testenv.Pattern(uint64(30+i), 1<<20+1000*i)
		bodies = append(bodies, b)
		put(t, ts, "rcache-bucket", fmt.Sprintf("f%d", i), b, nil)
	}
	const bound = 3 << 20
	m := rcMount(t, ts, "rcache-bucket", cacheDir, "--read-cache-size", "3MiB")
	for i, b := range bodies {
		if got := catSHA1(t, m.Dir, fmt.Sprintf("f%d", i)); got != sha1hex(b) {
			t.Fatalf("f%d: wrong bytes", i)
		}
		if du := diskUsage(t, cacheDir); du > bound+256<<10 {
			t.Fatalf("after %d files: %d bytes of cached data on disk, bound %d", i+1, du, bound)
		}
	}
	m.stop(t)
	if du := diskUsage(t, cacheDir); du > bound {
		t.Fatalf("after unmount: %d bytes of cached data, bound %d", du, bound)
	}
	ts.ResetStats()
	m = rcMount(t, ts, "rcache-bucket", cacheDir, "--read-cache-size", "3MiB")
	if got := catSHA1(t, m.Dir, "f7"); got != sha1hex(bodies[7]) || downloads(ts) != 0 {
		t.Fatalf("the most recent file: %d downloads", downloads(ts))
	}
}

func diskUsage(t *testing.T, cacheDir string) int64 {
	var n int64
	for _, p := range dataFiles(t, cacheDir) {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			n += st.Blocks * 512
		}
	}
	return n
}

// TestReadCacheFaults: download faults while reading never evict or
// corrupt cached data.
func TestReadCacheFaults(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	a := testenv.Pattern(41, 2<<20+5)
	b := testenv.Pattern(42, 2<<20+6)
	put(t, ts, "rcache-bucket", "a", a, nil)
	put(t, ts, "rcache-bucket", "b", b, nil)
	put(t, ts, "rcache-bucket", "c", b[:200_000], nil)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m := rcMount(t, ts, "rcache-bucket", cacheDir, "--read-cache-size", "5MiB")
	catSHA1(t, m.Dir, "a")
	before := diskUsage(t, cacheDir)
	// Downloads cut short (b2fs resumes them): b reads right or fails.
	ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_id", Action: "reset", ResetAfterBytes: 200000, Times: -1})
	if out, _, err := shErr(m.Dir, "sha1sum b"); err == nil && !strings.HasPrefix(out, sha1hex(b)) {
		t.Fatalf("b read with downloads cut short: wrong bytes")
	}
	sh(t, m.Dir, "echo 1 > /proc/sys/vm/drop_caches")
	ts.ClearFaults()
	// Every download fails: a (cached) reads right, c fails.
	ts.AddFault(b2emu.FaultRule{API: "b2_download_file_by_id", Status: 500, Times: -1})
	if got := catSHA1(t, m.Dir, "a"); got != sha1hex(a) {
		t.Fatalf("a while every download fails: sha1 %s", got)
	}
	if _, _, err := shErr(m.Dir, "cat c >/dev/null"); err == nil {
		t.Fatal("reading c with every download failing succeeded")
	}
	if got := diskUsage(t, cacheDir); got < before {
		t.Fatalf("failed downloads evicted cached data: %d bytes before, %d after", before, got)
	}
	ts.ClearFaults()
	waitQuiet(t, ts) // reads the kernel sent ahead finish their retries
	m.stop(t)
	ts.ResetStats()
	m = rcMount(t, ts, "rcache-bucket", cacheDir, "--read-cache-size", "5MiB")
	if got := catSHA1(t, m.Dir, "a"); got != sha1hex(a) || downloads(ts) != 0 {
		t.Fatalf("a after the faults: %d downloads", downloads(ts))
	}
	if got := catSHA1(t, m.Dir, "b"); got != sha1hex(b) {
		t.Fatal("b after the faults: wrong bytes")
	}
}

// waitQuiet waits until no download has started for 2s (at most 60s).
func waitQuiet(t *testing.T, ts *b2emu.TestServer) {
	t.Helper()
	last, since := downloads(ts), time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if n := downloads(ts); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 2*time.Second {
			return
		}
	}
	t.Fatal("downloads did not stop within 60s")
}

var metricsAddrRE = regexp.MustCompile(`msg="serving metrics" addr=(http://127\.0\.0\.1:\d+/metrics)`)

// fuseReads scrapes b2fs's count of FUSE READ requests.
func fuseReads(t *testing.T, m *mount) int64 {
	t.Helper()
	return scrapeMetric(t, m, `b2fs_fuse_ops_total{op="read"}`)
}

// scrapeMetric returns the value of the series named (with labels) series.
func scrapeMetric(t *testing.T, m *mount, series string) int64 {
	t.Helper()
	u := metricsAddrRE.FindStringSubmatch(m.stderr.String())
	if u == nil {
		t.Fatalf("no metrics address in the log")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int64(n)
		}
	}
	return 0
}

// passthroughExpected: Linux 6.9+ and root (CAP_SYS_ADMIN).
func passthroughExpected() bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil || os.Geteuid() != 0 {
		return false
	}
	var rel []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var maj, min int
	fmt.Sscanf(string(rel), "%d.%d", &maj, &min)
	return maj > 6 || (maj == 6 && min >= 9)
}

// TestReadCachePassthrough: a fully cached file is read by the kernel from
// the cache file (no READ request reaches b2fs); with --passthrough=false
// (or without kernel support) reads go through b2fs and still work.
func TestReadCachePassthrough(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	body := testenv.Pattern(51, 4<<20+3)
	put(t, ts, "rcache-bucket", "f.bin", body, nil)
	want := sha1hex(body)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m := rcMount(t, ts, "rcache-bucket", cacheDir)
	catSHA1(t, m.Dir, "f.bin")
	m.stop(t)

	for _, pt := range []bool{true, false} {
		ts.ResetStats()
		m := rcMount(t, ts, "rcache-bucket", cacheDir, "--metrics-addr", "127.0.0.1:0", "--log-level", "debug", fmt.Sprintf("--passthrough=%v", pt))
		r0 := fuseReads(t, m)
		if got := catSHA1(t, m.Dir, "f.bin"); got != want {
			t.Fatalf("passthrough=%v: sha1 %s, want %s", pt, got, want)
		}
		// A second reader while the first is open, and a partial read.
		if out := sh(t, m.Dir, "exec 3<f.bin; head -c 1000 f.bin | sha1sum; exec 3<&-"); !strings.HasPrefix(out, sha1hex(body[:1000])) {
			t.Fatalf("passthrough=%v: head: %s", pt, out)
		}
		reads := fuseReads(t, m) - r0
		// The first mount verified the file against its SHA-1 when it was
		// filled and recorded it: no open reads it again to check it.
		if strings.Contains(m.stderr.String(), "verifying a whole file") {
			t.Errorf("passthrough=%v: a file verified in an earlier mount was read again to verify it", pt)
		}
		if downloads(ts) != 0 {
			t.Fatalf("passthrough=%v: %d downloads of a cached file", pt, downloads(ts))
		}
		switch {
		case pt && passthroughExpected():
			if reads != 0 {
				t.Fatalf("passthrough: %d READ requests reached b2fs, want 0", reads)
			}
		case pt:
			if !strings.Contains(m.stderr.String(), "passthrough not in effect") {
				t.Fatalf("no passthrough and no fallback logged")
			}
		default:
			if reads == 0 {
				t.Fatalf("--passthrough=false: no READ requests reached b2fs")
			}
			if n := scrapeMetric(t, m, `b2fs_read_cache_hit_bytes_total`); n < int64(len(body)) {
				t.Fatalf("--passthrough=false: %d bytes served from the read cache, want at least %d", n, len(body))
			}
		}
		m.stop(t)
	}
}

// TestReadCacheRereadUnderLoad: a file read in full while the CPUs are
// busy is cached in full (blocks the writers could not take at once are
// downloaded again in the background), so that after a restart reading
// it makes no class B call, and with passthrough no READ request.
func TestReadCacheRereadUnderLoad(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "rcache-bucket")
	body := testenv.Pattern(61, 48<<20+4321)
	put(t, ts, "rcache-bucket", "big.bin", body, nil)
	want := sha1hex(body)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	m := rcMount(t, ts, "rcache-bucket", cacheDir)
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for range 4 {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for x := 0; ; x++ {
				select {
				case <-stop:
					return
				default:
				}
				for range 100000 {
					x = x*31 + 7
				}
			}
		}()
	}
	got := catSHA1(t, m.Dir, "big.bin")
	close(stop)
	busy.Wait()
	if got != want {
		t.Fatalf("first read: sha1 %s, want %s", got, want)
	}
	m.stop(t)

	ts.ResetStats()
	m = rcMount(t, ts, "rcache-bucket", cacheDir, "--metrics-addr", "127.0.0.1:0")
	r0 := fuseReads(t, m)
	if got := catSHA1(t, m.Dir, "big.bin"); got != want {
		t.Fatalf("after a restart: sha1 %s, want %s", got, want)
	}
	if s := ts.Stats(); s.Classes["B"] != 0 {
		t.Fatalf("after a restart: %d class B calls (%v), want 0", s.Classes["B"], s.Calls)
	}
	if n := fuseReads(t, m) - r0; passthroughExpected() && n != 0 {
		t.Fatalf("after a restart: %d READ requests reached b2fs, want 0 (passthrough)", n)
	}
}
