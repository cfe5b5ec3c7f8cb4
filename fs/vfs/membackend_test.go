package vfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
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
		return nil, fmt.Errorf("download %s: %w", fileID, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(d[off : off+length])), nil
}
