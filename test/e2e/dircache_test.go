package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// freeAddr returns a free 127.0.0.1 port for --metrics-addr.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fuseOps reads b2fs_fuse_ops_total{op=...} from b2fs's metrics endpoint.
func fuseOps(t *testing.T, addr string, ops ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for _, op := range ops {
			if v, ok := strings.CutPrefix(sc.Text(), `b2fs_fuse_ops_total{op="`+op+`"} `); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				sum += f
			}
		}
	}
	return sum
}

// TestKernelDirCache: while b2fs's listing of a directory is valid, a warm
// ls is answered from the kernel's own cache of the directory (no readdir
// reaches b2fs); changes through the mount show at once, and changes made
// in B2 show once the listing expires, as without the kernel's cache.
func TestKernelDirCache(t *testing.T) {
	ts := newServer(t, b2emu.Options{AbsoluteMinimumPartSize: wPart, RecommendedPartSize: wPart}, "dc-bucket")
	var want []string
	for i := 0; i < 300; i++ {
		name := fmt.Sprintf("f%03d", i)
		put(t, ts, "dc-bucket", "d/"+name, []byte("x"), nil)
		want = append(want, name)
	}
	ls := func(dir string) []string { return strings.Fields(sh(t, dir, "ls -1 d")) }

	t.Run("cached", func(t *testing.T) {
		addr := freeAddr(t)
		w := mountWrite(t, ts, "dc-bucket", "--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m", "--metrics-addr", addr)
		for i := 0; i < 2; i++ { // listed, then read into the kernel's cache
			if got := ls(w.m.Dir); !slices.Equal(got, want) {
				t.Fatalf("ls %d: %d names, want %d", i, len(got), len(want))
			}
		}
		before := fuseOps(t, addr, "readdir", "readdirplus")
		ts.ResetStats()
		if got := ls(w.m.Dir); !slices.Equal(got, want) {
			t.Fatalf("warm ls: %d names, want %d", len(got), len(want))
		}
		if n := fuseOps(t, addr, "readdir", "readdirplus") - before; n != 0 {
			t.Errorf("warm ls sent %v readdir requests to b2fs, want 0 (kernel cache)", n)
		}
		if s := ts.Stats(); totalCalls(s) != 0 {
			t.Errorf("warm ls made calls: %v", s.Calls)
		}
		// ls -l asks the kernel for two extended attributes of every file;
		// b2fs answers those outside the user namespace "not supported",
		// after which ls stops asking this mount.
		xa := fuseOps(t, addr, "getxattr")
		sh(t, w.m.Dir, "ls -l d >/dev/null")
		if n := fuseOps(t, addr, "getxattr") - xa; n > 4 {
			t.Errorf("ls -l of %d files sent %v getxattr requests, want a few, not one per file", len(want), n)
		}
		// Changes through the mount show at once.
		sh(t, w.m.Dir, "echo new > d/new && rm d/f000 && mv d/f001 d/g001")
		got := ls(w.m.Dir)
		exp := append([]string{}, want[2:]...)
		exp = append(exp, "g001", "new")
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Fatalf("ls after changes through the mount: %v..., want %v...", head(got), head(exp))
		}
		if got2 := ls(w.m.Dir); !slices.Equal(got2, exp) {
			t.Fatalf("second ls after changes: %v", head(got2))
		}
	})

	t.Run("expires", func(t *testing.T) {
		m := startMount(t, ts, mountOpts{Source: "dc-bucket", Args: []string{
			"--dir-cache-ttl", "1s", "--attr-cache-ttl", "1s", "--negative-cache-ttl", "1s"}})
		before := len(ls(m.Dir))
		ls(m.Dir) // kernel cache filled, if the listing is still valid
		put(t, ts, "dc-bucket", "d/remote", []byte("r"), nil)
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := ls(m.Dir)
			if slices.Contains(got, "remote") {
				if len(got) != before+1 {
					t.Fatalf("%d names after the remote upload, want %d", len(got), before+1)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a file uploaded to B2 never showed in ls (stale kernel directory cache?)")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestFileInodeCap: beyond --max-file-inodes the kernel is told to forget
// the oldest file inodes, so stat-ing more names than the cap, twice,
// looks the names up again the second time (answered from the metadata
// cache, no B2 call) with the same answers; without a cap it looks
// nothing up again.
func TestFileInodeCap(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "cap-bucket")
	const n = 300
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("d/f%03d", i)
		put(t, ts, "cap-bucket", name, []byte(strings.Repeat("x", i)), nil)
		names = append(names, name)
	}
	statAll := "stat -c '%n %s' " + strings.Join(names, " ")
	for _, tc := range []struct {
		cap        string
		minLookups float64
		maxLookups float64
	}{
		// Drops are sent in the background while names are looked up,
		// so how many the second pass finds gone varies; far more than
		// none, at most all.
		{"100", 50, n},
		// Without a cap nothing is dropped by b2fs; the kernel may still
		// let a few dentries go under memory pressure.
		{"0", 0, 30},
	} {
		t.Run("cap="+tc.cap, func(t *testing.T) {
			addr := freeAddr(t)
			m := startMount(t, ts, mountOpts{Source: "cap-bucket", Args: []string{"--max-file-inodes", tc.cap,
				"--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m", "--metrics-addr", addr}})
			sh(t, m.Dir, "ls d >/dev/null") // one listing, so lookups need no call
			first := sh(t, m.Dir, statAll)
			time.Sleep(time.Second) // the kernel is told in the background
			before := fuseOps(t, addr, "lookup")
			ts.ResetStats()
			second := sh(t, m.Dir, statAll)
			lookups := fuseOps(t, addr, "lookup") - before
			if first != second || strings.Count(second, "\n") != n || !strings.Contains(second, "d/f299 299\n") {
				t.Fatalf("second stat pass differs or is wrong:\n%v\nfirst:\n%v", head(strings.Split(second, "\n")), head(strings.Split(first, "\n")))
			}
			if lookups < tc.minLookups || lookups > tc.maxLookups {
				t.Errorf("second stat pass made %v lookups, want %v to %v", lookups, tc.minLookups, tc.maxLookups)
			}
			if s := ts.Stats(); totalCalls(s) != 0 {
				t.Errorf("second stat pass made B2 calls: %v", s.Calls)
			}
		})
	}
}
