package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// TestStreamedReaddir lists a 30,000-name directory with the delimiter (3
// pages of 10,000) over a slow server: the first entries reach the reader
// while later pages are still being fetched, the listing is complete and
// sorted, costs exactly 3 calls, and is cached for the next ls.
func TestStreamedReaddir(t *testing.T) {
	const n = 30000
	const latency = 300 * time.Millisecond
	ts := newServer(t, b2emu.Options{Latency: latency}, "stream-bucket")
	for i := 0; i < n; i++ {
		put(t, ts, "stream-bucket", fmt.Sprintf("big/f-%05d", i), nil, nil)
	}
	m := startMount(t, ts, mountOpts{Source: "stream-bucket", Args: []string{
		"--list-prefetch-pages", "0", "--dir-cache-ttl", "10m", "--attr-cache-ttl", "10m"}})
	sh(t, m.Dir, "stat big >/dev/null")

	ts.ResetStats()
	lists := func() int64 { return ts.Stats().Calls["b2_list_file_names"] }
	start := time.Now()
	d, err := os.Open(filepath.Join(m.Dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first, err := d.ReadDir(1)
	if err != nil || len(first) != 1 {
		t.Fatalf("first entry: %v %v", first, err)
	}
	firstAt, callsAtFirst := time.Since(start), lists()
	// A name received can be looked up while the listing continues.
	if _, err := os.Stat(filepath.Join(m.Dir, "big", first[0].Name())); err != nil {
		t.Fatal(err)
	}
	rest, err := d.ReadDir(-1)
	if err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	total := time.Since(start)
	t.Logf("first entry after %v (%d list calls), %d entries after %v (%d list calls)",
		firstAt, callsAtFirst, 1+len(rest), total, lists())
	if callsAtFirst >= 3 {
		t.Errorf("the first entry arrived after %d list calls, want it before the last page (< 3)", callsAtFirst)
	}
	if firstAt >= total-latency/2 {
		t.Errorf("first entry after %v of %v: not streamed", firstAt, total)
	}
	names := []string{first[0].Name()}
	for _, e := range rest {
		names = append(names, e.Name())
	}
	if len(names) != n || !sort.StringsAreSorted(names) {
		t.Fatalf("%d names (sorted %v), want %d sorted", len(names), sort.StringsAreSorted(names), n)
	}
	for i, name := range names {
		if want := fmt.Sprintf("f-%05d", i); name != want {
			t.Fatalf("entry %d is %q, want %q (missing or duplicate names)", i, name, want)
		}
	}
	if got := lists(); got != (n+9999)/10000 {
		t.Fatalf("listing %d names made %d b2_list_file_names calls, want %d", n, got, (n+9999)/10000)
	}

	// The complete listing is cached: ls -l again costs nothing.
	ts.ResetStats()
	if out := sh(t, m.Dir, "ls -l big | wc -l"); strings.TrimSpace(out) != strconv.Itoa(n+1) {
		t.Fatalf("ls -l big printed %s lines", strings.TrimSpace(out))
	}
	if s := ts.Stats(); totalCalls(s) != 0 {
		t.Fatalf("second ls -l within the TTL made calls: %v", s.Calls)
	}
}
