package readcache

import (
	"crypto/sha1"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sha1Of(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

// openFull opens id with OpenComplete and checks its content.
func openFull(t *testing.T, c *Cache, id string, want []byte, sha string) bool {
	t.Helper()
	fd, ok := c.OpenComplete(id, int64(len(want)), sha)
	if !ok {
		return false
	}
	defer fd.Close()
	got, err := io.ReadAll(fd)
	if err != nil || string(got) != string(want) {
		t.Fatalf("OpenComplete(%s): %d bytes (%v), wrong content", id, len(got), err)
	}
	return true
}

// TestVerifiedMarker: a version filled and verified in one run is handed
// out by OpenComplete in the next without reading it again; a data file
// changed between runs (even with its mtime put back) is read and checked
// in full, the bad block dropped and downloaded again.
func TestVerifiedMarker(t *testing.T) {
	for _, withSHA := range []bool{false, true} {
		dir := t.TempDir()
		o := newOrigin()
		data := o.add("id", 5, 200_000)
		sha := ""
		if withSHA {
			sha = sha1Of(data)
		}
		c := openCache(t, dir, 1<<20)
		mustRead(t, c.Wrap("id", 200_000, sha, o.fetch("id")), data, 0, 200_000)
		c.Close()
		idx, _ := os.ReadFile(c.opts.Dir + "/index")
		if !strings.Contains(string(idx), "\nC id ") || withSHA != strings.Contains(string(idx), "\nS id "+sha) {
			t.Fatalf("sha=%v: index after the fill:\n%s", withSHA, idx)
		}

		c = openCache(t, dir, 1<<20)
		if !openFull(t, c, "id", data, sha) {
			t.Fatalf("sha=%v: OpenComplete of a verified version failed", withSHA)
		}
		if n := c.Stats().VerifiedBytes.Load(); n != 0 {
			t.Fatalf("sha=%v: OpenComplete read %d bytes of a version verified in an earlier run", withSHA, n)
		}
		c.Close()

		// One byte changed, the mtime put back: the ctime tells.
		p := c.dataPath("id")
		st, _ := os.Stat(p)
		garble(t, p, 150_000, 1)
		os.Chtimes(p, st.ModTime(), st.ModTime())
		c = openCache(t, dir, 1<<20)
		if openFull(t, c, "id", data, sha) {
			t.Fatalf("sha=%v: OpenComplete served a data file changed since it was verified", withSHA)
		}
		if c.Stats().Corrupt.Load() != 1 || c.Stats().VerifiedBytes.Load() == 0 {
			t.Fatalf("sha=%v: corrupt %d, verified %d bytes", withSHA, c.Stats().Corrupt.Load(), c.Stats().VerifiedBytes.Load())
		}
		calls := o.calls.Load()
		mustRead(t, c.Wrap("id", 200_000, sha, o.fetch("id")), data, 0, 200_000)
		if got := o.calls.Load() - calls; got != 1 || c.Has("id") != 200_000 {
			t.Fatalf("sha=%v: %d downloads to repair one block, %d bytes cached", withSHA, got, c.Has("id"))
		}
		if !openFull(t, c, "id", data, sha) {
			t.Fatalf("sha=%v: OpenComplete after the repair failed", withSHA)
		}
		c.Close()
	}
}

// TestFillCheckedAgainstSHA1: a version filled from downloads that do not
// match B2's SHA-1 is dropped, not handed out.
func TestFillCheckedAgainstSHA1(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	data := o.add("id", 6, 100_000)
	c := openCache(t, dir, 1<<20)
	wrong := sha1Of(append([]byte("x"), data...))
	mustRead(t, c.Wrap("id", 100_000, wrong, o.fetch("id")), data, 0, 100_000)
	// The sealer checks the file once its blocks are recorded.
	deadline := time.Now().Add(10 * time.Second)
	for c.Has("id") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a fill that does not match its SHA-1 was kept")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := c.OpenComplete("id", 100_000, wrong); ok {
		t.Fatal("OpenComplete served a fill that does not match its SHA-1")
	}
}

// TestAliasNoDoubleCount: a version aliased under a new file ID (a
// server-side copy) is counted once against the bound, and makes no room
// it does not need.
func TestAliasNoDoubleCount(t *testing.T) {
	dir := t.TempDir()
	o := newOrigin()
	b := o.add("b", 7, 70_000)
	a := o.add("a", 8, 70_000)
	c := openCache(t, dir, 150_000)
	mustRead(t, c.Wrap("b", 70_000, "", o.fetch("b")), b, 0, 70_000) // least recently used
	mustRead(t, c.Wrap("a", 70_000, "", o.fetch("a")), a, 0, 70_000)
	c.Alias("a", "a2")
	if used, _ := c.Used(); used != 140_000 {
		t.Fatalf("after the alias: %d bytes counted, want 140000", used)
	}
	if c.Has("b") != 70_000 || c.Has("a2") != 70_000 || c.Has("a") != 0 {
		t.Fatalf("after the alias: b %d, a2 %d, a %d bytes", c.Has("b"), c.Has("a2"), c.Has("a"))
	}
	if du := diskUsage(t, filepath.Join(dir, "data")); du > 140_000+2*4096 || du < 140_000 {
		t.Fatalf("%d bytes on disk", du)
	}
	c.Close()
	c = openCache(t, dir, 150_000)
	calls := o.calls.Load()
	mustRead(t, c.Wrap("a2", 70_000, "", o.fetch("a")), a, 0, 70_000)
	mustRead(t, c.Wrap("b", 70_000, "", o.fetch("b")), b, 0, 70_000)
	if o.calls.Load() != calls {
		t.Fatalf("%d downloads after a restart", o.calls.Load()-calls)
	}
	if used, _ := c.Used(); used != 140_000 {
		t.Fatalf("after a restart: %d bytes counted, want 140000", used)
	}
}
