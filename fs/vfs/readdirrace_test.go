package vfs

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/fstest"
)

// laterPageGate holds the first list call for a directory's second page
// (a call with a start name) until release is closed, after it has read
// the store.
type laterPageGate struct {
	*fstest.Store
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (g *laterPageGate) ListDir(ctx context.Context, b Bucket, prefix, start string, max int) (backend.Page, error) {
	p, err := g.Store.ListDir(ctx, b, prefix, start, max)
	if start != "" {
		hold := false
		g.once.Do(func() { hold = true })
		if hold {
			close(g.held)
			<-g.release
		}
	}
	return p, err
}

// TestReaddirPausedWhileRecoveredUploadLands: a directory read page by
// page whose listing finished while the reader paused between two pages,
// after which a recovered file's upload landed and the file left the
// staging area, still shows the file: the reader used to compare the
// directory's generation with one read at the start of each page, after
// the change, and merged the listing as it was when the fetch ended (which
// predates the upload) with staged files that no longer held the name. So
// a readdir right after a crash could miss a recovered file (model seeds
// from TestModelVFS, TestModelVFSWriteBack, TestModelFUSE under
// B2FS_MODEL_STRICT=1). With a directory cache the listing is taken from
// the cache, which the upload patched; without one (DirTTL 0) the
// directory is listed again.
func TestReaddirPausedWhileRecoveredUploadLands(t *testing.T) {
	for _, ttl := range []time.Duration{time.Minute, 0} {
		t.Run("dirTTL="+ttl.String(), func(t *testing.T) {
			ctx := context.Background()
			st := newStore()
			for _, n := range []string{"0", "00", "1"} {
				st.Put("b1", n, []byte(n), nil)
			}
			g := &laterPageGate{Store: st, held: make(chan struct{}), release: make(chan struct{})}
			fsys, sm := recoveredFSWith(t, st, g, filepath.Join(t.TempDir(), "s"), nil, func(o *Options) {
				o.ListPageSize = 2 // pages [0 00] and [1]
				c, err := cache.New(cache.Options{DirTTL: ttl, AttrTTL: time.Minute, NegativeTTL: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Close)
				o.Cache = c
			})
			root := fsys.Root().(*Dir)
			h := root.Opendir()
			var names []string
			next := func() bool {
				de, err := h.Readdirent(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if de != nil && de.Name != "." && de.Name != ".." {
					names = append(names, de.Name)
				}
				return de != nil
			}
			for len(names) == 0 && next() { // ".", "..", "0": the first page
			}
			<-g.held // the second page is read from B2 (without "a")
			close(g.release)
			// The listing ends (cached unless the TTL is 0) before the
			// reader asks for more.
			h.mu.Lock()
			s := h.cur.stream
			h.mu.Unlock()
			if _, _, _, done, err := s.Wait(ctx, 2); !done || err != nil {
				t.Fatalf("the listing did not end: %v", err)
			}
			if err := sm.Drain(ctx); err != nil { // uploads "a", shows it, lets it go
				t.Fatal(err)
			}
			if sm.Lookup(stagingKey(fsys.opts.Bucket, "a")) != nil {
				t.Fatal("the uploaded file is still staged")
			}
			for next() {
			}
			if len(names) != 4 || names[3] != "a" {
				t.Errorf("readdir: %v, want [0 00 1 a]", names)
			}
			if got := readDir(t, root); len(got) != 4 || got[3] != "a" {
				t.Errorf("readdir after: %v, want [0 00 1 a]", got)
			}
		})
	}
}
