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

type largeHooksKey struct{}

// LargeCopyHooks are called by CopyFile when a copy is assembled as a
// large file (as httptrace hooks into a request), so that the caller can
// record the large file and cancel it after a crash cuts the copy. An
// error from a hook fails the copy (cancelling the large file if it was
// started).
type LargeCopyHooks struct {
	// Starting is called before b2_start_large_file, with the file info
	// the large file gets.
	Starting func(info map[string]string) error
	// Started is called with the large file's ID before any part is
	// copied.
	Started func(largeFileID string) error
}

// WithLargeCopyHooks returns ctx with h for the copies made with it.
func WithLargeCopyHooks(ctx context.Context, h *LargeCopyHooks) context.Context {
	return context.WithValue(ctx, largeHooksKey{}, h)
}

func largeCopyHooks(ctx context.Context) *LargeCopyHooks {
	h, _ := ctx.Value(largeHooksKey{}).(*LargeCopyHooks)
	if h == nil {
		return &LargeCopyHooks{}
	}
	return h
}
