package staging

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestKeptCacheLRU(t *testing.T) {
	dir := t.TempDir()
	c := newKeptCache(dir, 10)
	src := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(id string) (string, bool) {
		fd, _, ok := c.open(id)
		if !ok {
			return "", false
		}
		defer fd.Close()
		b, err := io.ReadAll(fd)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), true
	}
	for _, tc := range []struct{ id, body string }{{"a", "aaaa"}, {"b", "bbbb"}} {
		if !c.add(tc.id, src(tc.id+".src", tc.body), int64(len(tc.body))) {
			t.Fatalf("add %s refused", tc.id)
		}
	}
	if got, ok := read("a"); !ok || got != "aaaa" { // a is now the most recent
		t.Fatalf("a = %q, %v", got, ok)
	}
	if !c.add("c", src("c.src", "cccc"), 4) { // 12 > 10: b (least recent) goes
		t.Fatal("add c refused")
	}
	if _, ok := read("b"); ok {
		t.Fatal("b still cached after eviction")
	}
	for _, id := range []string{"a", "c"} {
		if _, ok := read(id); !ok {
			t.Fatalf("%s evicted", id)
		}
	}
	if c.add("huge", src("h.src", "01234567890"), 11) {
		t.Fatal("an entry larger than the bound was kept")
	}
	c.rekey("a", "a2")
	if _, ok := read("a"); ok {
		t.Fatal("a still cached after rekey")
	}
	if got, ok := read("a2"); !ok || got != "aaaa" {
		t.Fatalf("a2 = %q, %v", got, ok)
	}
	c.forget("a2")
	if _, ok := read("a2"); ok {
		t.Fatal("a2 cached after forget")
	}
	if !c.clear() {
		t.Fatal("clear of a non-empty cache reported nothing removed")
	}
	if _, ok := read("c"); ok || c.clear() {
		t.Fatal("c cached after clear")
	}
	if newKeptCache(dir, 0) != nil {
		t.Fatal("KeepSize 0 must disable the cache")
	}
	var off *keptCache
	if off.add("x", src("x.src", "x"), 1) {
		t.Fatal("disabled cache kept a file")
	}
	if _, _, ok := off.open("x"); ok {
		t.Fatal("disabled cache opened a file")
	}
}
