package b2backend

import (
	"context"
	"io"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/staging"
)

func clientRequest(r staging.UploadRequest) b2client.UploadRequest {
	return b2client.UploadRequest{BucketID: r.BucketID, Name: r.Name, ContentType: r.ContentType, Info: r.Info, SHA1: r.SHA1}
}

// Download implements staging.Remote.
func (b *Backend) Download(ctx context.Context, fileID string, off, length int64) (io.ReadCloser, error) {
	r, err := b.c.Download(ctx, b2client.DownloadRequest{FileID: fileID, Offset: off, Length: length})
	if err != nil {
		return nil, classify("download", err)
	}
	return r, nil
}

// UploadFile implements staging.Remote.
func (b *Backend) UploadFile(ctx context.Context, req staging.UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	f, err := b.c.UploadFile(ctx, clientRequest(req), r, size)
	if err != nil {
		return backend.Object{}, classify("upload "+req.Name, err)
	}
	return objectFromFile(f), nil
}

// StartLargeFile implements staging.Remote.
func (b *Backend) StartLargeFile(ctx context.Context, req staging.UploadRequest) (string, error) {
	cr := clientRequest(req)
	cr.SHA1 = ""
	f, err := b.c.StartLargeFile(ctx, cr)
	if err != nil {
		return "", classify("start large file "+req.Name, err)
	}
	return f.ID, nil
}

// UploadPart implements staging.Remote.
func (b *Backend) UploadPart(ctx context.Context, largeFileID string, part int, r io.ReaderAt, size int64, sha1Hex string) (string, error) {
	p, err := b.c.UploadPart(ctx, largeFileID, part, r, size, sha1Hex)
	if err != nil {
		return "", classify("upload part", err)
	}
	return p.SHA1, nil
}

// CopyPart implements staging.Remote.
func (b *Backend) CopyPart(ctx context.Context, srcFileID, largeFileID string, part int, off, length int64) (string, error) {
	p, err := b.c.CopyPart(ctx, srcFileID, largeFileID, part, off, length)
	if err != nil {
		return "", classify("copy part", err)
	}
	return p.SHA1, nil
}

// FinishLargeFile implements staging.Remote.
func (b *Backend) FinishLargeFile(ctx context.Context, largeFileID string, partSHA1s []string) (backend.Object, error) {
	f, err := b.c.FinishLargeFile(ctx, largeFileID, partSHA1s)
	if err != nil {
		return backend.Object{}, classify("finish large file", err)
	}
	return objectFromFile(f), nil
}

// CancelLargeFile implements staging.Remote.
func (b *Backend) CancelLargeFile(ctx context.Context, largeFileID string) error {
	return classify("cancel large file", b.c.CancelLargeFile(ctx, largeFileID))
}

// CopyFileReplaceInfo implements staging.Remote.
func (b *Backend) CopyFileReplaceInfo(ctx context.Context, srcFileID string, size int64, req staging.UploadRequest) (backend.Object, error) {
	f, err := b.c.CopyFile(ctx, b2client.CopyRequest{
		SourceID:        srcFileID,
		SourceSize:      size,
		DestName:        req.Name,
		DestBucketID:    req.BucketID,
		ReplaceMetadata: true,
		ContentType:     req.ContentType,
		Info:            req.Info,
		PartSize:        b.partSize,
		Concurrency:     b.concurrency,
		Threshold:       b.copyThreshold,
	})
	if err != nil {
		return backend.Object{}, classify("copy "+req.Name, err)
	}
	return objectFromFile(f), nil
}

// DeleteFileVersion implements staging.Remote.
func (b *Backend) DeleteFileVersion(ctx context.Context, name, fileID string) error {
	return classify("delete "+name, b.c.DeleteFileVersion(ctx, name, fileID))
}

// Current returns the newest visible version of key's name, nil when the
// name has none (never uploaded, hidden or deleted). It costs one
// b2_list_file_names call (Class C). It is a staging.CurrentFunc for Recover.
func (b *Backend) Current(ctx context.Context, key staging.Key) (*backend.Object, error) {
	page, err := b.c.ListFileNames(ctx, key.BucketID, b2client.ListOptions{Prefix: key.Name, StartName: key.Name, PageSize: 1})
	if err != nil {
		return nil, classify("list "+key.Name, err)
	}
	for i := range page.Files {
		f := &page.Files[i]
		if f.Name == key.Name && f.Action == "upload" {
			v := objectFromFile(f)
			return &v, nil
		}
	}
	return nil, nil
}

// ListCurrent is a staging.ListCurrentFunc: one b2_list_file_names
// (Class C) from start, the newest visible version of each name.
func (b *Backend) ListCurrent(ctx context.Context, bucketID, prefix, start string, max int) (map[string]string, string, bool, error) {
	page, err := b.c.ListFileNames(ctx, bucketID, b2client.ListOptions{Prefix: prefix, StartName: start, PageSize: max})
	if err != nil {
		return nil, "", false, classify("list "+prefix, err)
	}
	ids := make(map[string]string, len(page.Files))
	last := ""
	for i := range page.Files {
		f := &page.Files[i]
		last = f.Name
		if f.Action == "upload" {
			ids[f.Name] = f.ID
		}
	}
	return ids, last, page.NextName != "", nil
}

// ListParts implements staging.PartLister (b2_list_parts, every page).
func (b *Backend) ListParts(ctx context.Context, largeFileID string) ([]staging.Part, error) {
	var out []staging.Part
	start := 0
	for {
		p, err := b.c.ListParts(ctx, largeFileID, start, 1000)
		if err != nil {
			return nil, classify("list parts", err)
		}
		for _, x := range p.Parts {
			out = append(out, staging.Part{Number: x.PartNumber, Size: x.Size, SHA1: x.SHA1})
		}
		if p.NextPartNumber == 0 {
			return out, nil
		}
		start = p.NextPartNumber
	}
}

// ListUnfinished implements staging.UnfinishedLister: the unfinished
// large files named exactly name.
func (b *Backend) ListUnfinished(ctx context.Context, bucketID, name string) ([]staging.Unfinished, error) {
	var out []staging.Unfinished
	opts := b2client.UnfinishedOptions{NamePrefix: name}
	for {
		p, err := b.c.ListUnfinishedLargeFiles(ctx, bucketID, opts)
		if err != nil {
			return nil, classify("list unfinished large files", err)
		}
		for _, f := range p.Files {
			if f.Name == name {
				out = append(out, staging.Unfinished{ID: f.ID, Name: f.Name, Info: f.Info})
			}
		}
		if p.NextID == "" {
			return out, nil
		}
		opts.StartID = p.NextID
	}
}

// RemoveName implements staging.NameRemover: it hides name, or with hard
// deletes every version of it.
func (b *Backend) RemoveName(ctx context.Context, bucketID, bucketName, name string, hard bool) error {
	bk := Bucket{ID: bucketID, Name: bucketName}
	if hard {
		return b.DeleteAll(ctx, bk, name)
	}
	return b.Hide(ctx, bk, name)
}
