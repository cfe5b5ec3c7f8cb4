package fstest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
)

// PutEmpty implements backend.WriteBackend.
func (s *Store) PutEmpty(ctx context.Context, b backend.Bucket, name string) (backend.Object, error) {
	return s.PutInfo(ctx, b, name, "application/x-directory", nil, nil)
}

// PutInfo implements backend.InfoPutter.
func (s *Store) PutInfo(ctx context.Context, b backend.Bucket, name, ct string, info map[string]string, body []byte) (backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("PutInfo")
	return s.putLocked(b.ID, name, ct, info, body), nil
}

// Hide implements backend.WriteBackend.
func (s *Store) Hide(ctx context.Context, b backend.Bucket, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("Hide")
	delete(s.current, key(b.ID, name))
	return nil
}

// DeleteAll implements backend.WriteBackend.
func (s *Store) DeleteAll(ctx context.Context, b backend.Bucket, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("DeleteAll")
	delete(s.current, key(b.ID, name))
	for id, v := range s.vers {
		if v.bucketID == b.ID && v.obj.Name == name {
			delete(s.vers, id)
		}
	}
	return nil
}

// DeleteVersion implements backend.VersionDeleter.
func (s *Store) DeleteVersion(ctx context.Context, b backend.Bucket, name, fileID string) error {
	return s.DeleteFileVersion(ctx, name, fileID)
}

// DeleteFileVersion implements staging.Remote. Deleting the visible
// version leaves the name without one (older versions are not kept).
func (s *Store) DeleteFileVersion(ctx context.Context, name, fileID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("DeleteFileVersion")
	v, ok := s.vers[fileID]
	if !ok {
		return nil
	}
	delete(s.vers, fileID)
	if s.current[key(v.bucketID, name)] == fileID {
		delete(s.current, key(v.bucketID, name))
	}
	return nil
}

// Copy implements backend.WriteBackend.
func (s *Store) Copy(ctx context.Context, src backend.Object, dst backend.Bucket, name string, meta *backend.CopyMeta) (backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("Copy")
	v, ok := s.vers[src.FileID]
	if !ok {
		return backend.Object{}, errs.E(errs.ErrNotExist, "copy", src.Name, nil)
	}
	ct, info := v.obj.ContentType, v.obj.Info
	if meta != nil {
		ct, info = meta.ContentType, meta.Info
	}
	return s.putLocked(dst.ID, name, ct, info, v.data), nil
}

// ListAll implements backend.WriteBackend.
func (s *Store) ListAll(ctx context.Context, b backend.Bucket, prefix string, limit int) ([]backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ListAll")
	var out []backend.Object
	for _, n := range s.namesLocked(b.ID, prefix) {
		out = append(out, s.vers[s.current[key(b.ID, n)]].obj)
		if len(out) > limit {
			break
		}
	}
	return out, nil
}

// CreateBucket implements backend.WriteBackend.
func (s *Store) CreateBucket(ctx context.Context, name string) (backend.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("CreateBucket")
	if _, ok := s.buckets[name]; ok {
		return backend.Bucket{}, errs.E(errs.ErrExist, "create bucket", name, nil)
	}
	s.buckets[name] = name
	return backend.Bucket{ID: name, Name: name}, nil
}

// DeleteBucket implements backend.WriteBackend.
func (s *Store) DeleteBucket(ctx context.Context, b backend.Bucket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("DeleteBucket")
	if len(s.namesLocked(b.ID, "")) > 0 {
		return errs.E(errs.ErrNotEmpty, "delete bucket", b.Name, nil)
	}
	delete(s.buckets, b.ID)
	return nil
}

func (s *Store) version(o backend.Object) backend.Object {
	return backend.Object{FileID: o.FileID, Name: o.Name, Size: o.Size, ContentType: o.ContentType, SHA1: o.SHA1,
		Info: cloneInfo(o.Info), Uploaded: o.Uploaded}
}

// UploadFile implements staging.Remote.
func (s *Store) UploadFile(ctx context.Context, req staging.UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && err != io.EOF {
		return backend.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("UploadFile")
	return s.version(s.putLocked(req.BucketID, req.Name, req.ContentType, req.Info, data)), nil
}

// StartLargeFile implements staging.Remote.
func (s *Store) StartLargeFile(ctx context.Context, req staging.UploadRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("StartLargeFile")
	s.seq++
	id := fmt.Sprintf("L%06d", s.seq)
	s.large[id] = &upload{req: req, parts: map[int][]byte{}}
	return id, nil
}

// UploadPart implements staging.Remote.
func (s *Store) UploadPart(ctx context.Context, id string, part int, r io.ReaderAt, size int64, sha1Hex string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	data := make([]byte, size)
	if _, err := r.ReadAt(data, 0); err != nil && err != io.EOF {
		return "", err
	}
	sum := sha1.Sum(data)
	got := hex.EncodeToString(sum[:])
	if sha1Hex != "" && sha1Hex != got {
		return "", fmt.Errorf("upload part %d: SHA-1 %s sent for content %s", part, sha1Hex, got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("UploadPart")
	u, ok := s.large[id]
	if !ok {
		return "", errs.E(errs.ErrNotExist, "upload part", id, nil)
	}
	u.parts[part] = data
	return got, nil
}

// CopyPart implements staging.Remote.
func (s *Store) CopyPart(ctx context.Context, src, id string, part int, off, length int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("CopyPart")
	u, ok := s.large[id]
	v, vok := s.vers[src]
	if !ok || !vok || off+length > int64(len(v.data)) {
		return "", errs.E(errs.ErrNotExist, "copy part", id, nil)
	}
	u.parts[part] = append([]byte(nil), v.data[off:off+length]...)
	return "", nil
}

// FinishLargeFile implements staging.Remote.
func (s *Store) FinishLargeFile(ctx context.Context, id string, shas []string) (backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("FinishLargeFile")
	u, ok := s.large[id]
	if !ok {
		return backend.Object{}, errs.E(errs.ErrNotExist, "finish large file", id, nil)
	}
	var data []byte
	for i := 1; i <= len(shas); i++ {
		p, ok := u.parts[i]
		if !ok {
			return backend.Object{}, fmt.Errorf("finish large file %s: part %d missing: %w", id, i, errs.ErrInvalid)
		}
		data = append(data, p...)
	}
	delete(s.large, id)
	return s.version(s.putLocked(u.req.BucketID, u.req.Name, u.req.ContentType, u.req.Info, data)), nil
}

// CancelLargeFile implements staging.Remote.
func (s *Store) CancelLargeFile(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("CancelLargeFile")
	delete(s.large, id)
	return nil
}

// CopyFileReplaceInfo implements staging.Remote.
func (s *Store) CopyFileReplaceInfo(ctx context.Context, src string, size int64, req staging.UploadRequest) (backend.Object, error) {
	if err := ctx.Err(); err != nil {
		return backend.Object{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("CopyFileReplaceInfo")
	v, ok := s.vers[src]
	if !ok {
		return backend.Object{}, errs.E(errs.ErrNotExist, "copy", src, nil)
	}
	return s.version(s.putLocked(req.BucketID, req.Name, req.ContentType, req.Info, v.data)), nil
}

// Current returns the visible version of key's name (a staging.CurrentFunc).
func (s *Store) Current(ctx context.Context, k staging.Key) (*backend.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("Current")
	id, ok := s.current[key(k.BucketID, k.Name)]
	if !ok || strings.HasSuffix(k.Name, "/") {
		return nil, nil
	}
	v := s.version(s.vers[id].obj)
	return &v, nil
}

// ListCurrent lists the visible versions of the names of bucketID under
// prefix from start on, at most max (a staging.ListCurrentFunc).
func (s *Store) ListCurrent(ctx context.Context, bucketID, prefix, start string, max int) (map[string]string, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ListCurrent")
	ids := map[string]string{}
	last := ""
	for _, n := range s.namesLocked(bucketID, prefix) {
		if n < start {
			continue
		}
		if len(ids) == max {
			return ids, last, true, nil
		}
		ids[n], last = s.current[key(bucketID, n)], n
	}
	return ids, last, false, nil
}

// ListParts implements staging.PartLister.
func (s *Store) ListParts(ctx context.Context, id string) ([]staging.Part, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ListParts")
	u, ok := s.large[id]
	if !ok {
		return nil, errs.E(errs.ErrNotExist, "list parts", id, nil)
	}
	var out []staging.Part
	for n, data := range u.parts {
		sum := sha1.Sum(data)
		out = append(out, staging.Part{Number: n, Size: int64(len(data)), SHA1: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// ListUnfinished implements staging.UnfinishedLister.
func (s *Store) ListUnfinished(ctx context.Context, bucketID, name string) ([]staging.Unfinished, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ListUnfinished")
	var out []staging.Unfinished
	for id, u := range s.large {
		if u.req.BucketID == bucketID && u.req.Name == name {
			out = append(out, staging.Unfinished{ID: id, Name: name, Info: u.req.Info})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Unfinished lists the IDs of the large files started and neither
// finished nor cancelled.
func (s *Store) Unfinished() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.large {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// RemoveName implements staging.NameRemover.
func (s *Store) RemoveName(ctx context.Context, bucketID, bucketName, name string, hard bool) error {
	b := backend.Bucket{ID: bucketID, Name: bucketName}
	if hard {
		return s.DeleteAll(ctx, b, name)
	}
	return s.Hide(ctx, b, name)
}
