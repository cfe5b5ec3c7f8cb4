package b2client

import "context"

// CopyRequest describes a server-side copy.
type CopyRequest struct {
	SourceID string
	// SourceSize is the source file's size; it decides whether the copy goes
	// through b2_copy_file or, above Config.LargeCopyThreshold (5e9 by
	// default), a large file assembled with b2_copy_part.
	SourceSize   int64
	DestName     string
	DestBucketID string // empty: the source's bucket
	// Offset and Length select a byte range of the source; Length 0 copies
	// to the end.
	Offset, Length int64
	// ReplaceMetadata uses ContentType, Info and ModTime instead of the
	// source's metadata.
	ReplaceMetadata bool
	ContentType     string
	Info            map[string]string
	// PartSize and Concurrency drive the large path (see LargeFileOptions).
	PartSize    int64
	Concurrency int
	// Threshold overrides Config.LargeCopyThreshold when > 0.
	Threshold int64
}

// CopyFile copies a file version on the server. The large path copies parts
// in parallel and cancels the large file on failure.
func (c *Client) CopyFile(ctx context.Context, req CopyRequest) (*File, error) {
	return c.copyFile(ctx, req)
}

// CopyPart copies length bytes at offset of sourceID into part partNumber of
// a large file (b2_copy_part).
func (c *Client) CopyPart(ctx context.Context, sourceID, largeFileID string, partNumber int, offset, length int64) (*Part, error) {
	return c.copyPart(ctx, sourceID, largeFileID, partNumber, offset, length)
}

type largeStartedKey struct{}

// WithLargeFileStarted returns a context that makes CopyFile, when the
// copy is assembled as a large file, call fn with the large file's ID
// once it is started and before any part is copied (as httptrace hooks
// into a request): fn records the ID, so that a copy cut by a crash can
// be cancelled later. An error from fn cancels the large file and fails
// the copy.
func WithLargeFileStarted(ctx context.Context, fn func(largeFileID string) error) context.Context {
	return context.WithValue(ctx, largeStartedKey{}, fn)
}

func largeStarted(ctx context.Context) func(string) error {
	fn, _ := ctx.Value(largeStartedKey{}).(func(string) error)
	return fn
}
