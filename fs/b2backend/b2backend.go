// Package b2backend is b2fs's one adapter to B2: Backend implements every
// interface the filesystem has for B2 (backend.Backend, TreeLister,
// WriteBackend, InfoPutter, VersionDeleter, versions.Lister and
// staging.Remote) over a *b2client.Client, and classifies b2client's
// errors once, into the kinds of package errs.
package b2backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/staging"
	"github.com/b2fs/b2fs/fs/versions"
)

type (
	Bucket   = backend.Bucket
	Object   = backend.Object
	Page     = backend.Page
	CopyMeta = backend.CopyMeta
)

// Backend adapts a *b2client.Client to the filesystem.
type Backend struct {
	c *b2client.Client
	// copyThreshold, partSize and concurrency: copies of files larger than
	// copyThreshold are assembled from parts copied in parallel.
	copyThreshold, partSize int64
	concurrency             int
}

// Options tune a Backend.
type Options struct {
	// PartSize: copies (renames, metadata changes, large files) of files
	// of at least 2×PartSize copy their parts in parallel, Concurrency at
	// a time; 0 leaves every copy to one b2_copy_file up to 5 GB.
	PartSize    int64
	Concurrency int
}

// New adapts c.
func New(c *b2client.Client, o Options) *Backend {
	b := &Backend{c: c, partSize: o.PartSize, concurrency: o.Concurrency}
	if o.PartSize > 0 {
		b.copyThreshold = 2 * o.PartSize
	}
	return b
}

var (
	_ backend.Backend        = (*Backend)(nil)
	_ backend.TreeLister     = (*Backend)(nil)
	_ backend.WriteBackend   = (*Backend)(nil)
	_ backend.InfoPutter     = (*Backend)(nil)
	_ backend.VersionDeleter = (*Backend)(nil)
	_ versions.Lister        = (*Backend)(nil)
	_ staging.Remote         = (*Backend)(nil)
)

// classify wraps a b2client error with the kind (package errs) it is, for
// op; the client's error stays in the chain. nil stays nil.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case b2client.IsNotFound(err):
		return errs.E(errs.ErrNotExist, op, "", err)
	case b2client.IsUnauthorized(err):
		return errs.E(errs.ErrAccess, op, "", err)
	case b2client.IsStorageCapExceeded(err) || b2client.IsCapExceeded(err):
		return errs.E(errs.ErrNoSpace, op, "", err)
	case b2client.IsRangeNotSatisfiable(err):
		return fmt.Errorf("%s: %w: %w", op, backend.ErrRangeInvalid, err)
	case b2client.IsDuplicateBucketName(err):
		return errs.E(errs.ErrExist, op, "", err)
	case b2client.IsBucketNotEmpty(err):
		return errs.E(errs.ErrNotEmpty, op, "", err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ListBuckets lists the buckets the key may see: only its own bucket for a
// bucket-restricted key.
func (b *Backend) ListBuckets(ctx context.Context) ([]Bucket, error) {
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
func (b *Backend) ListDir(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error) {
	return b.list(ctx, bucket, prefix, "/", startName, max)
}

// ListTree lists one page of every name under prefix (no delimiter).
func (b *Backend) ListTree(ctx context.Context, bucket Bucket, prefix, startName string, max int) (Page, error) {
	return b.list(ctx, bucket, prefix, "", startName, max)
}

func (b *Backend) list(ctx context.Context, bucket Bucket, prefix, delim, startName string, max int) (Page, error) {
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
func (b *Backend) OpenRange(ctx context.Context, bucket Bucket, fileID string, off, length int64) (io.ReadCloser, error) {
	r, err := b.c.Download(ctx, b2client.DownloadRequest{FileID: fileID, Offset: off, Length: length})
	if err != nil {
		return nil, classify("download", err)
	}
	return r, nil
}
