package staging

import (
	"context"
	"io"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
)

// B2Remote implements Remote with a b2client.Client for the tests of this
// package (b2fs itself uses package b2backend, which imports staging).
type B2Remote struct {
	C *b2client.Client
	// PartSize and Concurrency drive copies of large files.
	PartSize    int64
	Concurrency int
	// CopyThreshold: copies of larger files are assembled from parts
	// copied in parallel (b2_copy_part) instead of one b2_copy_file; 0
	// means the client's default (5 GB).
	CopyThreshold int64
}

var _ Remote = (*B2Remote)(nil)

func version(f *b2client.File) backend.Object {
	return backend.Object{
		FileID:      f.ID,
		Name:        f.Name,
		Size:        f.Size,
		ContentType: f.ContentType,
		SHA1:        f.SHA1,
		Info:        f.Info,
		Uploaded:    time.UnixMilli(f.UploadTimestamp),
	}
}

func clientRequest(r UploadRequest) b2client.UploadRequest {
	return b2client.UploadRequest{BucketID: r.BucketID, Name: r.Name, ContentType: r.ContentType, Info: r.Info, SHA1: r.SHA1}
}

// Download implements Remote.
func (b *B2Remote) Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error) {
	return b.C.Download(ctx, b2client.DownloadRequest{FileID: fileID, Offset: off, Length: length})
}

// UploadFile implements Remote.
func (b *B2Remote) UploadFile(ctx context.Context, req UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	f, err := b.C.UploadFile(ctx, clientRequest(req), r, size)
	if err != nil {
		return backend.Object{}, err
	}
	return version(f), nil
}

// StartLargeFile implements Remote.
func (b *B2Remote) StartLargeFile(ctx context.Context, req UploadRequest) (string, error) {
	cr := clientRequest(req)
	cr.SHA1 = ""
	f, err := b.C.StartLargeFile(ctx, cr)
	if err != nil {
		return "", err
	}
	return f.ID, nil
}

// UploadPart implements Remote.
func (b *B2Remote) UploadPart(ctx context.Context, largeFileID string, part int, r io.ReaderAt, size int64, sha1Hex string) (string, error) {
	p, err := b.C.UploadPart(ctx, largeFileID, part, r, size, sha1Hex)
	if err != nil {
		return "", err
	}
	return p.SHA1, nil
}

// CopyPart implements Remote.
func (b *B2Remote) CopyPart(ctx context.Context, srcFileID, largeFileID string, part int, off, length int64) (string, error) {
	p, err := b.C.CopyPart(ctx, srcFileID, largeFileID, part, off, length)
	if err != nil {
		return "", err
	}
	return p.SHA1, nil
}

// FinishLargeFile implements Remote.
func (b *B2Remote) FinishLargeFile(ctx context.Context, largeFileID string, partSHA1s []string) (backend.Object, error) {
	f, err := b.C.FinishLargeFile(ctx, largeFileID, partSHA1s)
	if err != nil {
		return backend.Object{}, err
	}
	return version(f), nil
}

// CancelLargeFile implements Remote.
func (b *B2Remote) CancelLargeFile(ctx context.Context, largeFileID string) error {
	return b.C.CancelLargeFile(ctx, largeFileID)
}

// CopyFileReplaceInfo implements Remote.
func (b *B2Remote) CopyFileReplaceInfo(ctx context.Context, srcFileID string, size int64, req UploadRequest) (backend.Object, error) {
	f, err := b.C.CopyFile(ctx, b2client.CopyRequest{
		SourceID:        srcFileID,
		SourceSize:      size,
		DestName:        req.Name,
		DestBucketID:    req.BucketID,
		ReplaceMetadata: true,
		ContentType:     req.ContentType,
		Info:            req.Info,
		PartSize:        b.PartSize,
		Concurrency:     b.Concurrency,
		Threshold:       b.CopyThreshold,
	})
	if err != nil {
		return backend.Object{}, err
	}
	return version(f), nil
}

// DeleteFileVersion implements Remote.
func (b *B2Remote) DeleteFileVersion(ctx context.Context, name, fileID string) error {
	return b.C.DeleteFileVersion(ctx, name, fileID)
}

// Current returns the newest visible version of key's name, nil when the
// name has none (never uploaded, hidden or deleted). It costs one
// b2_list_file_names call (Class C). It is a CurrentFunc for Recover.
func (b *B2Remote) Current(ctx context.Context, key Key) (*backend.Object, error) {
	page, err := b.C.ListFileNames(ctx, key.BucketID, b2client.ListOptions{Prefix: key.Name, StartName: key.Name, PageSize: 1})
	if err != nil {
		return nil, err
	}
	for i := range page.Files {
		f := &page.Files[i]
		if f.Name == key.Name && f.Action == "upload" {
			v := version(f)
			return &v, nil
		}
	}
	return nil, nil
}
