package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/b2fs/b2fs/b2client"
)

// B2Backend implements Backend over a *b2client.Client.
type B2Backend struct {
	c *b2client.Client
}

// NewB2Backend adapts c.
func NewB2Backend(c *b2client.Client) *B2Backend { return &B2Backend{c: c} }

var _ Backend = (*B2Backend)(nil)

// classify wraps a client error with the filesystem's sentinel for its kind.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case b2client.IsNotFound(err):
		return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
	case b2client.IsUnauthorized(err):
		return fmt.Errorf("%s: %w: %w", op, ErrPermission, err)
	case b2client.IsCapExceeded(err):
		return fmt.Errorf("%s: %w: %w", op, ErrCapExceeded, err)
	case b2client.IsRangeNotSatisfiable(err):
		return fmt.Errorf("%s: %w: %w", op, ErrRangeInvalid, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ListBuckets lists the buckets the key may see: only its own bucket for a
// bucket-restricted key.
func (b *B2Backend) ListBuckets(ctx context.Context) ([]Bucket, error) {
	opts := b2client.ListBucketsOptions{}
	if acct := b.c.Account(); acct.BucketID != "" {
		opts.ID = acct.BucketID
	}
	bs, err := b.c.ListBuckets(ctx, opts)
	if err != nil {
		return nil, classify("list buckets", err)
	}
	out := make([]Bucket, 0, len(bs))
	for _, x := range bs {
		out = append(out, Bucket{ID: x.ID, Name: x.Name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ListDir lists one page of names under prefix with delimiter "/".
func (b *B2Backend) ListDir(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error) {
	return b.list(ctx, bucket, prefix, "/", startName, max)
}

var _ TreeLister = (*B2Backend)(nil)

// ListTree lists one page of every name under prefix (no delimiter).
func (b *B2Backend) ListTree(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error) {
	return b.list(ctx, bucket, prefix, "", startName, max)
}

func (b *B2Backend) list(ctx context.Context, bucket Bucket, prefix, delim, startName string, max int) (Page, error) {
	p, err := b.c.ListFileNames(ctx, bucket.ID, b2client.ListOptions{
		Prefix: prefix, Delimiter: delim, StartName: startName, PageSize: max,
	})
	if err != nil {
		return Page{}, classify("list "+bucket.Name+"/"+prefix, err)
	}
	out := Page{Next: p.NextName, Objects: make([]Object, 0, len(p.Files))}
	for _, f := range p.Files {
		switch f.Action {
		case b2client.ActionFolder:
			out.Objects = append(out.Objects, Object{Name: f.Name, Folder: true})
		case b2client.ActionUpload, "":
			out.Objects = append(out.Objects, Object{
				Name:        f.Name,
				FileID:      f.ID,
				Size:        f.Size,
				ContentType: f.ContentType,
				SHA1:        f.SHA1,
				Uploaded:    time.UnixMilli(f.UploadTimestamp),
				Info:        f.Info,
			})
		}
	}
	return out, nil
}

// OpenRange downloads a byte range of one file version by its ID.
func (b *B2Backend) OpenRange(ctx context.Context, bucket Bucket, fileID string, off, length int64) (io.ReadCloser, error) {
	r, err := b.c.Download(ctx, b2client.DownloadRequest{FileID: fileID, Offset: off, Length: length})
	if err != nil {
		return nil, classify("download", err)
	}
	return r, nil
}
