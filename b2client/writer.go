package b2client

import (
	"context"
	"io"
)

// Writer uploads a stream of unknown length. Bytes are gathered in part
// buffers; as soon as a part is full it is uploaded in the background while
// the caller keeps writing, so producing and uploading overlap. At most
// Concurrency parts are in flight and Concurrency+1 part buffers exist, so
// memory stays bounded by (Concurrency+1) × PartSize.
//
// A stream that fits in one part is uploaded with a single b2_upload_file at
// Close. Longer streams become a large file. Because the whole-file SHA-1 is
// only known at the end, large files written through a Writer carry no
// large_file_sha1 unless UploadRequest.SHA1 was given (each part is still
// verified with its own SHA-1).
//
// A Writer can produce at most 10,000 parts, so PartSize bounds the size of
// what it can upload (10,000 × PartSize).
//
// Close returns once the file is finished in B2; File then describes it. On
// any failure, or when the context is cancelled, the large file is cancelled
// in B2. Abort gives up explicitly. A Writer is not safe for concurrent use.
type Writer struct {
	impl *writer
}

var _ io.WriteCloser = (*Writer)(nil)

// NewWriter returns a Writer uploading to req. Nothing is sent until the first
// part is full or Close is called.
func (c *Client) NewWriter(ctx context.Context, req UploadRequest, opts LargeFileOptions) *Writer {
	return &Writer{impl: c.newWriter(ctx, req, opts)}
}

// Write buffers p, uploading parts as they fill.
func (w *Writer) Write(p []byte) (int, error) { return w.impl.Write(p) }

// Close uploads what is left, finishes the file and waits for it.
func (w *Writer) Close() error { return w.impl.Close() }

// Abort stops the upload, cancels the large file (if one was started) and
// makes later calls fail with err (ErrWriterClosed when nil).
func (w *Writer) Abort(err error) { w.impl.Abort(err) }

// File returns the uploaded file after a successful Close, else nil.
func (w *Writer) File() *File { return w.impl.File() }
