package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// TestNewVersionReplacesCachedPages: the kernel keeps a file's pages across
// opens while its B2 version is unchanged, and drops them once a listing
// shows a new version, even one of the same size.
func TestNewVersionReplacesCachedPages(t *testing.T) {
	ts := newServer(t, b2emu.Options{}, "version-bucket")
	put(t, ts, "version-bucket", "dir/v.txt", []byte("version one\n"), nil)
	m := startMount(t, ts, mountOpts{Source: "version-bucket", Args: []string{
		"--dir-cache-ttl", "1s", "--attr-cache-ttl", "1s", "--negative-cache-ttl", "1s"}})
	if c := sh(t, m.Dir, "cat dir/v.txt"); c != "version one\n" {
		t.Fatalf("cat = %q", c)
	}
	// Within the TTL a second read is served from the kernel's cache.
	ts.ResetStats()
	if c := sh(t, m.Dir, "cat dir/v.txt"); c != "version one\n" {
		t.Fatalf("cat = %q", c)
	}
	if n := ts.Stats().Calls["b2_download_file_by_id"]; n != 0 {
		t.Errorf("re-reading an unchanged file downloaded it %d times", n)
	}
	put(t, ts, "version-bucket", "dir/v.txt", []byte("version two\n"), nil) // same size
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := sh(t, m.Dir, "cat dir/v.txt")
		if c == "version two\n" {
			break
		}
		if c != "version one\n" {
			t.Fatalf("cat = %q: neither version", c)
		}
		if time.Now().After(deadline) {
			t.Fatal("the new version never showed (stale page cache?)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := sh(t, m.Dir, "ls dir"); strings.TrimSpace(out) != "v.txt" {
		t.Fatalf("ls = %q", out)
	}
}
