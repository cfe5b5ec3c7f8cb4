package b2client

import (
	"context"
	"io"
)

// DownloadRequest names what to download: by BucketName and Name (newest
// visible version) or by FileID (one exact version), and which bytes.
type DownloadRequest struct {
	BucketName string
	Name       string
	FileID     string // takes precedence over BucketName/Name
	// Offset is the first byte; Length the number of bytes, <= 0 meaning to
	// the end of the file.
	Offset int64
	Length int64
}

// Reader streams a download. File describes the version being read (ID,
// Name, whole-file Size, SHA1, ContentType, UploadTimestamp, Info). A
// connection that breaks mid-body is resumed from the last byte received
// with a new ranged request on the same file ID (bounded by MaxAttempts).
// Whole-file reads verify the SHA-1 when one is known and fail the final Read
// with ErrChecksumMismatch otherwise. Close must be called.
type Reader struct {
	File File
	// Offset and Length are the byte range this Reader delivers.
	Offset, Length int64

	impl *reader
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) { return r.impl.Read(p) }

// Close releases the connection.
func (r *Reader) Close() error { return r.impl.Close() }

var _ io.ReadCloser = (*Reader)(nil)

// Download opens a ranged download. A range starting at or after the end of
// the file fails with an error for which IsRangeNotSatisfiable is true; a
// missing file with IsNotFound.
func (c *Client) Download(ctx context.Context, req DownloadRequest) (*Reader, error) {
	return c.download(ctx, req)
}
