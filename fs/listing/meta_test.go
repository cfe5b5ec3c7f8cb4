package listing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
)

// memBackend is an in-memory Backend with B2's listing semantics.
type memBackend struct {
	mu    sync.Mutex
	files map[string][]byte
	calls map[string]int
}

func newMemBackend(names ...string) *memBackend {
	m := &memBackend{files: map[string][]byte{}, calls: map[string]int{}}
	for _, n := range names {
		m.files[n] = []byte("data of " + n)
	}
	return m
}

func (m *memBackend) count(api string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[api]
}

func (m *memBackend) ListBuckets(ctx context.Context) ([]Bucket, error) {
	m.mu.Lock()
	m.calls["list_buckets"]++
	m.mu.Unlock()
	return []Bucket{{ID: "b1", Name: "alpha"}, {ID: "b2", Name: "beta"}}, nil
}

func (m *memBackend) ListDir(ctx context.Context, b Bucket, prefix, start string, max int) (Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["list"]++
	names := make([]string, 0, len(m.files))
	for n := range m.files {
		if strings.HasPrefix(n, prefix) && n >= start {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var p Page
	for i := 0; i < len(names); i++ {
		n := names[i]
		if len(p.Objects) == max {
			p.Next = n
			break
		}
		if j := strings.Index(n[len(prefix):], "/"); j >= 0 {
			folder := n[:len(prefix)+j+1]
			p.Objects = append(p.Objects, Object{Name: folder, Folder: true})
			for i+1 < len(names) && strings.HasPrefix(names[i+1], folder) {
				i++
			}
			continue
		}
		p.Objects = append(p.Objects, Object{Name: n, FileID: "id-" + n, Size: int64(len(m.files[n])), Uploaded: time.UnixMilli(1000)})
	}
	return p, nil
}

func (m *memBackend) OpenRange(ctx context.Context, b Bucket, fileID string, off, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["download"]++
	d, ok := m.files[strings.TrimPrefix(fileID, "id-")]
	if !ok {
		return nil, fmt.Errorf("download %s: %w", fileID, backend.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(d[off : off+length])), nil
}

func newMeta(t *testing.T, be Backend, pageSize int) *Meta {
	t.Helper()
	c, err := cache.New(cache.Options{DirTTL: time.Minute, AttrTTL: time.Minute, NegativeTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &Meta{life: context.Background(), be: be, cache: c, pageSize: pageSize, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestListDirPagesAndCaches(t *testing.T) {
	var names []string
	for i := 0; i < 250; i++ {
		names = append(names, fmt.Sprintf("d/f%04d", i))
	}
	names = append(names, "d/sub/x", "d/sub/y", "d/empty/.bzEmpty", "top")
	be := newMemBackend(names...)
	m := newMeta(t, be, 100)
	b := Bucket{ID: "b1", Name: "alpha"}
	es, err := m.listDir(context.Background(), b, "d/")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 252 || es[0].Name != "empty" || !es[0].Dir || es[251].Name != "sub" {
		t.Fatalf("got %d entries, first %+v", len(es), es[0])
	}
	if got := be.count("list"); got != 3 {
		t.Fatalf("%d list calls for 252 entries with page size 100, want 3", got)
	}
	if _, err := m.listDir(context.Background(), b, "d/"); err != nil || be.count("list") != 3 {
		t.Fatalf("second listing not served from cache: %v, %d calls", err, be.count("list"))
	}
	// Lookups in a listed directory, positive and negative, cost nothing.
	for _, n := range []string{"f0007", "sub", "nope", ".bzEmpty"} {
		if _, _, err := m.lookup(context.Background(), b, "d/", n); err != nil {
			t.Fatal(err)
		}
	}
	if be.count("list") != 3 {
		t.Fatalf("lookups in a listed directory made calls: %d", be.count("list"))
	}
	// An empty folder made of a marker lists as empty.
	es, err = m.listDir(context.Background(), b, "d/empty/")
	if err != nil || len(es) != 0 {
		t.Fatalf("empty folder: %v %v", es, err)
	}
}

func TestLookupTargeted(t *testing.T) {
	names := []string{"p/a", "p/a/inner", "p/ab", "p/c/.bzEmpty"}
	for i := 0; i < 150; i++ { // push "p/a/" beyond the first page
		names = append(names, fmt.Sprintf("p/a.%03d", i))
	}
	be := newMemBackend(names...)
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	tests := []struct {
		name      string
		found     bool
		dir       bool
		wantCalls int
	}{
		{"ab", true, false, 1},
		{"c", true, true, 1},
		{"zz", false, false, 1},
		{"a", true, true, 2}, // file and folder clash, folder beyond page one
		{"a.007", true, false, 1},
	}
	for _, tc := range tests {
		before := be.count("list")
		e, ok, err := m.lookup(context.Background(), b, "p/", tc.name)
		if err != nil || ok != tc.found || e.Dir != tc.dir {
			t.Errorf("lookup(%q) = %+v %v %v", tc.name, e, ok, err)
		}
		if got := be.count("list") - before; got != tc.wantCalls {
			t.Errorf("lookup(%q) made %d calls, want %d", tc.name, got, tc.wantCalls)
		}
		before = be.count("list")
		if _, ok2, _ := m.lookup(context.Background(), b, "p/", tc.name); ok2 != ok || be.count("list") != before {
			t.Errorf("repeated lookup(%q) not cached", tc.name)
		}
	}
	if _, _, err := m.lookup(context.Background(), b, "p/", strings.Repeat("x", 1100)); err != errs.ErrNameTooLong {
		t.Errorf("long name: %v", err)
	}
}

func TestBucketsCached(t *testing.T) {
	be := newMemBackend()
	m := newMeta(t, be, 1000)
	for i := 0; i < 3; i++ {
		es, err := m.buckets(context.Background())
		if err != nil || len(es) != 2 || es[0].Name != "alpha" || es[1].FileID != "b2" {
			t.Fatalf("buckets = %+v, %v", es, err)
		}
	}
	if be.count("list_buckets") != 1 {
		t.Fatalf("%d bucket listings", be.count("list_buckets"))
	}
}

// blockingBackend holds ListDir until released.
type blockingBackend struct {
	*memBackend
	release chan struct{}
}

func (b *blockingBackend) ListDir(ctx context.Context, bk Bucket, prefix, start string, max int) (Page, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return Page{}, ctx.Err()
	}
	return b.memBackend.ListDir(ctx, bk, prefix, start, max)
}

func TestSharedListingSurvivesOneCallerCancel(t *testing.T) {
	be := &blockingBackend{memBackend: newMemBackend("d/a", "d/b"), release: make(chan struct{})}
	m := newMeta(t, be, 1000)
	b := Bucket{ID: "b1", Name: "alpha"}
	ctx1, cancel1 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { _, err := m.listDir(ctx1, b, "d/"); errs <- err }()
	var got []cache.Entry
	go func() {
		var err error
		got, err = m.listDir(context.Background(), b, "d/")
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	close(be.release)
	if err := <-errs; err != nil || len(got) != 2 {
		t.Fatalf("other caller: %v %v", got, err)
	}
	if be.count("list") != 1 {
		t.Fatalf("%d list calls, want 1 shared", be.count("list"))
	}
}
