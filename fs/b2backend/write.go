package b2backend

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/errs"
)

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
func (b *Backend) PutEmpty(ctx context.Context, bucket Bucket, name string) (Object, error) {
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
func (b *Backend) Hide(ctx context.Context, bucket Bucket, name string) error {
	_, err := b.c.HideFile(ctx, bucket.ID, name)
	if err != nil && !b2client.IsNotFound(err) && !b2client.IsAlreadyHidden(err) {
		return classify("hide "+bucket.Name+"/"+name, err)
	}
	return nil
}

// DeleteAll implements WriteBackend.
func (b *Backend) DeleteAll(ctx context.Context, bucket Bucket, name string) error {
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
func (b *Backend) Copy(ctx context.Context, src Object, dst Bucket, dstName string, meta *CopyMeta) (Object, error) {
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
func (b *Backend) ListAll(ctx context.Context, bucket Bucket, prefix string, limit int) ([]Object, error) {
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
func (b *Backend) CreateBucket(ctx context.Context, name string) (Bucket, error) {
	bk, err := b.c.CreateBucket(ctx, name, "allPrivate", nil)
	if err != nil {
		if b2client.IsDuplicateBucketName(err) {
			return Bucket{}, errs.E(errs.ErrExist, "create bucket", name, err)
		}
		return Bucket{}, classify("create bucket "+name, err)
	}
	return Bucket{ID: bk.ID, Name: bk.Name}, nil
}

// DeleteBucket implements WriteBackend.
func (b *Backend) DeleteBucket(ctx context.Context, bucket Bucket) error {
	if err := b.c.DeleteBucket(ctx, bucket.ID); err != nil {
		if b2client.IsBucketNotEmpty(err) {
			return errs.E(errs.ErrNotEmpty, "delete bucket", bucket.Name, err)
		}
		return classify("delete bucket "+bucket.Name, err)
	}
	return nil
}

// PutInfo implements infoPutter.
func (b *Backend) PutInfo(ctx context.Context, bucket Bucket, name, contentType string, info map[string]string, body []byte) (Object, error) {
	f, err := b.c.UploadFile(ctx, b2client.UploadRequest{
		BucketID: bucket.ID, Name: name, ContentType: contentType, Info: info,
	}, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return Object{}, classify("create "+bucket.Name+"/"+name, err)
	}
	return objectFromFile(f), nil
}

// DeleteVersion implements versionDeleter.
func (b *Backend) DeleteVersion(ctx context.Context, bucket Bucket, name, fileID string) error {
	if err := b.c.DeleteFileVersion(ctx, name, fileID); err != nil && !b2client.IsNotFound(err) {
		return classify("delete "+bucket.Name+"/"+name, err)
	}
	return nil
}
