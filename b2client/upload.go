package b2client

import (
	"context"
	"io"
	"time"
)

// UploadRequest describes a file to upload.
type UploadRequest struct {
	BucketID string
	Name     string
	// ContentType defaults to "b2/x-auto" (B2 picks from the extension).
	ContentType string
	// Info is custom file info; keys are lower-cased and validated (at most
	// 10 entries including src_last_modified_millis, 7000 header bytes).
	Info map[string]string
	// ModTime, when set, is stored as src_last_modified_millis.
	ModTime time.Time
	// SHA1 is the body's SHA-1 in hex when the caller already knows it (saves
	// a read pass; for large files it becomes large_file_sha1).
	SHA1 string
}

// GetUploadURL calls b2_get_upload_url. Most callers want UploadFile, which
// pools upload URLs itself.
func (c *Client) GetUploadURL(ctx context.Context, bucketID string) (*UploadURL, error) {
	return c.getUploadURL(ctx, bucketID)
}

// UploadFile uploads size bytes from body as one file with b2_upload_file.
// The SHA-1 is computed with a first pass over body unless req.SHA1 is set.
// Because body can be re-read, every failure listed in the retry policy is
// retried with a fresh upload URL. size must be at most MaxSmallFileSize.
func (c *Client) UploadFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64) (*File, error) {
	return c.uploadFile(ctx, req, body, size)
}

// UploadStream uploads exactly size bytes read once from body, sending the
// SHA-1 after the data (hex_digits_at_end). A failure before any byte of body
// was consumed is retried; after that the upload fails, since the bytes
// cannot be sent again.
func (c *Client) UploadStream(ctx context.Context, req UploadRequest, body io.Reader, size int64) (*File, error) {
	return c.uploadStream(ctx, req, body, size)
}
