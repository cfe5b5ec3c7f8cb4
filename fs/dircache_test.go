package fs

import (
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func TestKernelDirCacheFlags(t *testing.T) {
	now := time.Unix(1000, 0)
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const cached = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	var k kernelDirCache
	steps := []struct {
		what string
		do   func()
		want uint32
	}{
		{"never listed: uncached", func() {}, 0},
		{"listed, kernel cache empty: fill it", func() { c.PutListing("d", []cache.Entry{{Name: "a"}}) }, cached},
		{"same listing: keep it", func() {}, cached},
		{"same listing again", func() {}, cached},
		{"a new listing: drop the kernel's", func() { c.PutListing("d", []cache.Entry{{Name: "a"}, {Name: "b"}}) }, 0},
		{"kernel cache dropped: fill it from the new listing", func() {}, cached},
		{"kept", func() {}, cached},
		{"listing expired: drop", func() { now = now.Add(2 * time.Minute) }, 0},
		{"still not listed", func() {}, 0},
		{"listed again: fill", func() { c.PutListing("d", nil) }, cached},
		{"invalidated: drop", func() { c.InvalidateDir("d") }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := k.openFlags(c, "d"); got != s.want {
			t.Fatalf("%s: flags %#x, want %#x", s.what, got, s.want)
		}
	}
}
