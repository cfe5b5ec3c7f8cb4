package b2client

import (
	"context"
	"io"
)

type reader struct{}

func (r *reader) Read(p []byte) (int, error) { return 0, errNotImplemented }
func (r *reader) Close() error               { return nil }

func (c *Client) download(ctx context.Context, req DownloadRequest) (*Reader, error) {
	return nil, errNotImplemented
}

func (c *Client) getUploadURL(ctx context.Context, bucketID string) (*UploadURL, error) {
	return nil, errNotImplemented
}
func (c *Client) uploadFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64) (*File, error) {
	return nil, errNotImplemented
}
func (c *Client) uploadStream(ctx context.Context, req UploadRequest, body io.Reader, size int64) (*File, error) {
	return nil, errNotImplemented
}
func (c *Client) startLargeFile(ctx context.Context, req UploadRequest, extra map[string]string) (*File, error) {
	return nil, errNotImplemented
}
func (c *Client) getUploadPartURL(ctx context.Context, fileID string) (*UploadURL, error) {
	return nil, errNotImplemented
}
func (c *Client) uploadPart(ctx context.Context, fileID string, n int, body io.ReaderAt, size int64, sha string) (*Part, error) {
	return nil, errNotImplemented
}
func (c *Client) finishLargeFile(ctx context.Context, fileID string, shas []string) (*File, error) {
	return nil, errNotImplemented
}
func (c *Client) cancelLargeFile(ctx context.Context, fileID string) error { return errNotImplemented }
func (c *Client) listParts(ctx context.Context, fileID string, start, n int) (PartsPage, error) {
	return PartsPage{}, errNotImplemented
}
func (c *Client) listUnfinished(ctx context.Context, bucketID string, opts UnfinishedOptions) (ListPage, error) {
	return ListPage{}, errNotImplemented
}
func (c *Client) uploadLargeFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64, opts LargeFileOptions) (*File, error) {
	return nil, errNotImplemented
}

type writer struct{}

func (c *Client) newWriter(ctx context.Context, req UploadRequest, opts LargeFileOptions) *writer {
	return &writer{}
}
func (w *writer) Write(p []byte) (int, error) { return 0, errNotImplemented }
func (w *writer) Close() error                { return errNotImplemented }
func (w *writer) Abort(err error)             {}
func (w *writer) File() *File                 { return nil }

func (c *Client) copyFile(ctx context.Context, req CopyRequest) (*File, error) {
	return nil, errNotImplemented
}
func (c *Client) copyPart(ctx context.Context, src, large string, n int, off, length int64) (*Part, error) {
	return nil, errNotImplemented
}
func (c *Client) listGroups(ctx context.Context, admin string, opts ListGroupsOptions) ([]Group, error) {
	return nil, errNotImplemented
}

type uploadPools struct{}

func (p *uploadPools) init(n int) {}
