package fs

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// WriteBackend is what the write path needs from B2 besides uploads of
// staged files (see package staging).
type WriteBackend interface {
	// PutEmpty uploads a zero-length file (directory markers).
	PutEmpty(ctx context.Context, bucket Bucket, name string) (Object, error)
	// Hide hides name (B2's soft delete); a name that is already gone is
	// not an error.
	Hide(ctx context.Context, bucket Bucket, name string) error
	// DeleteAll deletes every version of name, hide markers included.
	DeleteAll(ctx context.Context, bucket Bucket, name string) error
	// Copy copies the version src.FileID (src.Size bytes) to dstName in
	// dst. With meta non-nil the copy gets meta's content type and info
	// instead of the source's.
	Copy(ctx context.Context, src Object, dst Bucket, dstName string, meta *CopyMeta) (Object, error)
	// ListAll lists every visible file whose name starts with prefix (no
	// delimiter), at most limit+1 of them, sorted by name.
	ListAll(ctx context.Context, bucket Bucket, prefix string, limit int) ([]Object, error)
	// CreateBucket creates a private bucket.
	CreateBucket(ctx context.Context, name string) (Bucket, error)
	// DeleteBucket deletes an empty bucket.
	DeleteBucket(ctx context.Context, bucket Bucket) error
}

// CopyMeta is the metadata a metadata-replacing copy sets.
type CopyMeta struct {
	ContentType string
	Info        map[string]string
}

// B2WriteBackend implements WriteBackend over a *b2client.Client.
type B2WriteBackend struct {
	c *b2client.Client
	// copyThreshold, partSize and concurrency: copies of files larger than
	// copyThreshold are assembled from parts copied in parallel.
	copyThreshold, partSize int64
	concurrency             int
}

// NewB2WriteBackend adapts c. Copies (renames, metadata changes) of files
// of at least 2×partSize copy their parts in parallel, concurrency at a
// time; partSize 0 leaves every copy to one b2_copy_file up to 5 GB.
func NewB2WriteBackend(c *b2client.Client, partSize int64, concurrency int) *B2WriteBackend {
	b := &B2WriteBackend{c: c, partSize: partSize, concurrency: concurrency}
	if partSize > 0 {
		b.copyThreshold = 2 * partSize
	}
	return b
}

var _ WriteBackend = (*B2WriteBackend)(nil)

func objectFromFile(f *b2client.File) Object {
	return Object{
		Name:        f.Name,
		FileID:      f.ID,
		Size:        f.Size,
		ContentType: f.ContentType,
		SHA1:        f.SHA1,
		Uploaded:    time.UnixMilli(f.UploadTimestamp),
		Info:        f.Info,
	}
}

// PutEmpty implements WriteBackend.
func (b *B2WriteBackend) PutEmpty(ctx context.Context, bucket Bucket, name string) (Object, error) {
	f, err := b.c.UploadFile(ctx, b2client.UploadRequest{
		BucketID: bucket.ID, Name: name, ContentType: "application/x-directory",
		ModTime: time.Now(),
	}, bytes.NewReader(nil), 0)
	if err != nil {
		return Object{}, classify("create "+bucket.Name+"/"+name, err)
	}
	return objectFromFile(f), nil
}

// Hide implements WriteBackend.
func (b *B2WriteBackend) Hide(ctx context.Context, bucket Bucket, name string) error {
	_, err := b.c.HideFile(ctx, bucket.ID, name)
	if err != nil && !b2client.IsNotFound(err) && !b2client.IsAlreadyHidden(err) {
		return classify("hide "+bucket.Name+"/"+name, err)
	}
	return nil
}

// DeleteAll implements WriteBackend.
func (b *B2WriteBackend) DeleteAll(ctx context.Context, bucket Bucket, name string) error {
	// Collect first, then delete: deleting while paging would move the
	// listing under our feet.
	type ver struct{ name, id string }
	var vs []ver
	for f, err := range b.c.FileVersions(ctx, bucket.ID, b2client.ListOptions{Prefix: name, PageSize: 1000}) {
		if err != nil {
			return classify("list versions of "+bucket.Name+"/"+name, err)
		}
		if f.Name != name {
			if f.Name > name {
				break
			}
			continue
		}
		vs = append(vs, ver{f.Name, f.ID})
		if len(vs) > 100_000 {
			return fmt.Errorf("delete %s/%s: more than 100000 versions", bucket.Name, name)
		}
	}
	for _, v := range vs {
		if err := b.c.DeleteFileVersion(ctx, v.name, v.id); err != nil && !b2client.IsNotFound(err) {
			return classify("delete "+bucket.Name+"/"+name, err)
		}
	}
	return nil
}

// Copy implements WriteBackend.
func (b *B2WriteBackend) Copy(ctx context.Context, src Object, dst Bucket, dstName string, meta *CopyMeta) (Object, error) {
	req := b2client.CopyRequest{SourceID: src.FileID, SourceSize: src.Size, DestName: dstName, DestBucketID: dst.ID,
		Threshold: b.copyThreshold, PartSize: b.partSize, Concurrency: b.concurrency}
	if meta != nil {
		req.ReplaceMetadata = true
		req.ContentType = meta.ContentType
		if req.ContentType == "" {
			req.ContentType = "application/octet-stream"
		}
		req.Info = meta.Info
	}
	f, err := b.c.CopyFile(ctx, req)
	if err != nil {
		return Object{}, classify("copy "+src.Name+" to "+dst.Name+"/"+dstName, err)
	}
	o := objectFromFile(f)
	if o.Size == 0 && src.Size != 0 {
		o.Size = src.Size
	}
	return o, nil
}

// ListAll implements WriteBackend.
func (b *B2WriteBackend) ListAll(ctx context.Context, bucket Bucket, prefix string, limit int) ([]Object, error) {
	var out []Object
	for f, err := range b.c.Files(ctx, bucket.ID, b2client.ListOptions{Prefix: prefix, PageSize: 1000}) {
		if err != nil {
			return nil, classify("list "+bucket.Name+"/"+prefix, err)
		}
		if !strings.HasPrefix(f.Name, prefix) || f.Action != b2client.ActionUpload && f.Action != "" {
			continue
		}
		out = append(out, objectFromFile(&f))
		if len(out) > limit {
			break
		}
	}
	return out, nil
}

// CreateBucket implements WriteBackend.
func (b *B2WriteBackend) CreateBucket(ctx context.Context, name string) (Bucket, error) {
	bk, err := b.c.CreateBucket(ctx, name, "allPrivate", nil)
	if err != nil {
		if b2client.IsDuplicateBucketName(err) {
			return Bucket{}, fmt.Errorf("create bucket %s: %w", name, errExists)
		}
		return Bucket{}, classify("create bucket "+name, err)
	}
	return Bucket{ID: bk.ID, Name: bk.Name}, nil
}

// DeleteBucket implements WriteBackend.
func (b *B2WriteBackend) DeleteBucket(ctx context.Context, bucket Bucket) error {
	if err := b.c.DeleteBucket(ctx, bucket.ID); err != nil {
		if b2client.IsBucketNotEmpty(err) {
			return fmt.Errorf("delete bucket %s: %w", bucket.Name, errNotEmpty)
		}
		return classify("delete bucket "+bucket.Name, err)
	}
	return nil
}
