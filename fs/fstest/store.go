// Package fstest has in-memory fakes of the interfaces the filesystem
// needs from B2, for the tests of every layer: Store is one in-memory
// account that implements backend.Backend, TreeLister, WriteBackend,
// InfoPutter, VersionDeleter and staging.Remote over the same data, with
// B2's listing semantics (names in byte order, "/" roll-ups into folders,
// hidden names left out).
package fstest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// Store is an in-memory B2 account. The zero value is not usable; call
// NewStore.
type Store struct {
	mu      sync.Mutex          // guards the fields below
	buckets map[string]string   // bucket ID -> name
	current map[string]string   // bucket ID + "\x00" + name -> file ID of the visible version
	vers    map[string]*version // file ID -> version
	large   map[string]*upload  // large file ID -> parts
	seq     int
	calls   map[string]int
	now     time.Time
}

type version struct {
	bucketID string
	obj      backend.Object
	data     []byte
}

type upload struct {
	req   staging.UploadRequest
	parts map[int][]byte
}

var (
	_ backend.Backend        = (*Store)(nil)
	_ backend.TreeLister     = (*Store)(nil)
	_ backend.WriteBackend   = (*Store)(nil)
	_ backend.InfoPutter     = (*Store)(nil)
	_ backend.VersionDeleter = (*Store)(nil)
	_ staging.Remote         = (*Store)(nil)
)

// NewStore returns an empty account with the given buckets (ID = name).
func NewStore(buckets ...string) *Store {
	s := &Store{buckets: map[string]string{}, current: map[string]string{}, vers: map[string]*version{},
		large: map[string]*upload{}, calls: map[string]int{}, now: time.UnixMilli(1_700_000_000_000)}
	for _, b := range buckets {
		s.buckets[b] = b
	}
	return s
}

// Calls returns how many times api (a method name, e.g. "ListDir") was
// called.
func (s *Store) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

// AllCalls returns a copy of the call counts by method name.
func (s *Store) AllCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Versions returns the content of every stored version of name in
// bucket (hidden or not), oldest first.
func (s *Store) Versions(bucket, name string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []*version
	for _, v := range s.vers {
		if v.bucketID == bucket && v.obj.Name == name {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].obj.FileID < vs[j].obj.FileID })
	var out [][]byte
	for _, v := range vs {
		out = append(out, append([]byte(nil), v.data...))
	}
	return out
}

func key(bucketID, name string) string { return bucketID + "\x00" + name }

// put stores a new version of name; mu is held.
func (s *Store) putLocked(bucketID, name, ct string, info map[string]string, data []byte) backend.Object {
	s.seq++
	s.now = s.now.Add(time.Millisecond)
	sum := sha1.Sum(data)
	o := backend.Object{Name: name, FileID: fmt.Sprintf("v%06d", s.seq), Size: int64(len(data)), ContentType: ct,
		SHA1: hex.EncodeToString(sum[:]), Uploaded: s.now, Info: cloneInfo(info)}
	s.vers[o.FileID] = &version{bucketID: bucketID, obj: o, data: append([]byte(nil), data...)}
	s.current[key(bucketID, name)] = o.FileID
	return o
}

// Put stores data as the new version of name in bucket (seeding tests).
func (s *Store) Put(bucket, name string, data []byte, info map[string]string) backend.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putLocked(bucket, name, "application/octet-stream", info, data)
}

// Get returns the visible version of name and its content.
func (s *Store) Get(bucket, name string) (backend.Object, []byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.current[key(bucket, name)]
	if !ok {
		return backend.Object{}, nil, false
	}
	v := s.vers[id]
	return v.obj, append([]byte(nil), v.data...), true
}

// Names returns the visible names of bucket, sorted.
func (s *Store) Names(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namesLocked(bucket, "")
}

func (s *Store) namesLocked(bucketID, prefix string) []string {
	var out []string
	for k := range s.current {
		b, n, _ := strings.Cut(k, "\x00")
		if b == bucketID && strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func cloneInfo(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Store) count(api string) {
	s.calls[api]++
}

// ListBuckets implements backend.Backend.
func (s *Store) ListBuckets(ctx context.Context) ([]backend.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ListBuckets")
	var out []backend.Bucket
	for id, n := range s.buckets {
		out = append(out, backend.Bucket{ID: id, Name: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListDir implements backend.Backend.
func (s *Store) ListDir(ctx context.Context, b backend.Bucket, prefix, start string, max int) (backend.Page, error) {
	return s.list(ctx, "ListDir", b, prefix, "/", start, max)
}

// ListTree implements backend.TreeLister.
func (s *Store) ListTree(ctx context.Context, b backend.Bucket, prefix, start string, max int) (backend.Page, error) {
	return s.list(ctx, "ListTree", b, prefix, "", start, max)
}

func (s *Store) list(ctx context.Context, api string, b backend.Bucket, prefix, delim, start string, max int) (backend.Page, error) {
	if err := ctx.Err(); err != nil {
		return backend.Page{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count(api)
	if _, ok := s.buckets[b.ID]; !ok {
		return backend.Page{}, errs.E(errs.ErrNotExist, "list", b.Name, nil)
	}
	names := s.namesLocked(b.ID, prefix)
	var p backend.Page
	for i := 0; i < len(names); i++ {
		n := names[i]
		if delim != "" {
			if j := strings.Index(n[len(prefix):], delim); j >= 0 {
				folder := n[:len(prefix)+j+1]
				if folder < start {
					continue
				}
				if len(p.Objects) == max {
					p.Next = folder
					break
				}
				p.Objects = append(p.Objects, backend.Object{Name: folder, Folder: true})
				for i+1 < len(names) && strings.HasPrefix(names[i+1], folder) {
					i++
				}
				continue
			}
		}
		if n < start {
			continue
		}
		if len(p.Objects) == max {
			p.Next = n
			break
		}
		o := s.vers[s.current[key(b.ID, n)]].obj
		o.Info = cloneInfo(o.Info)
		p.Objects = append(p.Objects, o)
	}
	return p, nil
}

// OpenRange implements backend.Backend.
func (s *Store) OpenRange(ctx context.Context, b backend.Bucket, fileID string, off, length int64) (io.ReadCloser, error) {
	return s.Download(ctx, fileID, off, length)
}

// Download implements staging.Remote.
func (s *Store) Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("Download")
	v, ok := s.vers[fileID]
	if !ok {
		return nil, errs.E(errs.ErrNotExist, "download", fileID, nil)
	}
	if off < 0 || length <= 0 || off+length > int64(len(v.data)) {
		return nil, fmt.Errorf("download %s [%d,+%d) of %d bytes: %w", fileID, off, length, len(v.data), backend.ErrRangeInvalid)
	}
	return io.NopCloser(bytes.NewReader(append([]byte(nil), v.data[off:off+length]...))), nil
}

// AddBucket adds a bucket with ID id called name.
func (s *Store) AddBucket(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[id] = name
}

// PutAt is Put with the upload time set to t.
func (s *Store) PutAt(bucket, name string, data []byte, info map[string]string, t time.Time) backend.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.putLocked(bucket, name, "application/octet-stream", info, data)
	v := s.vers[o.FileID]
	v.obj.Uploaded = t
	return v.obj
}

// NewSeeded returns the fixture of the listing and vfs tests: buckets b1
// (called alpha) and b2 (beta), and in b1 one file per name holding
// "data of NAME".
func NewSeeded(names ...string) *Store {
	s := NewStore()
	s.AddBucket("b1", "alpha")
	s.AddBucket("b2", "beta")
	for _, n := range names {
		s.Put("b1", n, []byte("data of "+n), nil)
	}
	return s
}

// Has reports whether name has a visible version in bucket.
func (s *Store) Has(bucket, name string) bool {
	_, _, ok := s.Get(bucket, name)
	return ok
}
