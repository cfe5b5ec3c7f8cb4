package b2client

import (
	"context"
	"io"
	"time"
)

// LargeFileOptions tunes multi-part uploads and copies.
type LargeFileOptions struct {
	// PartSize defaults to Account().RecommendedPartSize and is raised to at
	// least AbsoluteMinimumPartSize.
	PartSize int64
	// Concurrency is the number of parts in flight; default 4.
	Concurrency int
}

// StartLargeFile calls b2_start_large_file; the returned File has action
// "start" and the large file's ID.
func (c *Client) StartLargeFile(ctx context.Context, req UploadRequest) (*File, error) {
	return c.startLargeFile(ctx, req, nil)
}

// GetUploadPartURL calls b2_get_upload_part_url. Most callers want UploadPart,
// which pools part URLs per large file.
func (c *Client) GetUploadPartURL(ctx context.Context, fileID string) (*UploadURL, error) {
	return c.getUploadPartURL(ctx, fileID)
}

// UploadPart uploads part partNumber (1-based) of a large file from size
// bytes of body, retried on its own with a fresh part URL after a failure.
// sha1Hex may be empty: the part's SHA-1 is then computed while it is sent
// (hex_digits_at_end, one pass over body per attempt) and returned in
// Part.SHA1.
func (c *Client) UploadPart(ctx context.Context, fileID string, partNumber int, body io.ReaderAt, size int64, sha1Hex string) (*Part, error) {
	return c.uploadPart(ctx, fileID, partNumber, body, size, sha1Hex)
}

// FinishLargeFile calls b2_finish_large_file with the parts' SHA-1s in part
// order. If the call times out or fails with a 5xx and a check with
// b2_get_file_info shows the file finished, that is success.
func (c *Client) FinishLargeFile(ctx context.Context, fileID string, partSHA1s []string) (*File, error) {
	return c.finishLargeFile(ctx, fileID, partSHA1s)
}

// CancelLargeFile calls b2_cancel_large_file, deleting the uploaded parts.
func (c *Client) CancelLargeFile(ctx context.Context, fileID string) error {
	return c.cancelLargeFile(ctx, fileID)
}

// ListParts returns one page of b2_list_parts starting at startPart (1 when
// 0); pageSize 0 means 1000.
func (c *Client) ListParts(ctx context.Context, fileID string, startPart, pageSize int) (PartsPage, error) {
	return c.listParts(ctx, fileID, startPart, pageSize)
}

// ListUnfinishedLargeFiles returns one page of unfinished large files
// (action "start"), oldest first; NextID in the page continues it.
func (c *Client) ListUnfinishedLargeFiles(ctx context.Context, bucketID string, opts UnfinishedOptions) (ListPage, error) {
	return c.listUnfinished(ctx, bucketID, opts)
}

// UploadLargeFile uploads size bytes of body as a large file: start, parts in
// parallel (Concurrency workers, each part SHA-1'd and retried on its own),
// finish. The whole-file SHA-1 is computed with a first pass (unless
// req.SHA1 is set) and stored as large_file_sha1. Parts are read straight
// from body, so memory stays small whatever the part size. A body that fits
// in one part is uploaded with UploadFile instead. On failure or
// cancellation the large file is cancelled in B2.
func (c *Client) UploadLargeFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64, opts LargeFileOptions) (*File, error) {
	return c.uploadLargeFile(ctx, req, body, size, opts)
}

// CancelUnfinishedLargeFiles cancels the bucket's unfinished large files
// whose names start with namePrefix and that were started more than
// olderThan ago (leftovers of interrupted uploads, billed until cancelled).
// It returns how many it cancelled.
func (c *Client) CancelUnfinishedLargeFiles(ctx context.Context, bucketID, namePrefix string, olderThan time.Duration) (int, error) {
	return c.cancelUnfinished(ctx, bucketID, namePrefix, olderThan)
}
