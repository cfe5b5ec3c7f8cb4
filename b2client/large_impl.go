package b2client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

const (
	defaultConcurrency = 4
	maxParts           = 10000
	// cleanupTimeout bounds b2_cancel_large_file after a failure; it runs on
	// a fresh context because the caller's may already be cancelled.
	cleanupTimeout = 30 * time.Second
)

func (c *Client) startLargeFile(ctx context.Context, req UploadRequest, extra map[string]string) (*File, error) {
	if err := ValidateFileName(req.Name); err != nil {
		return nil, fmt.Errorf("start large file: %w", err)
	}
	if req.BucketID == "" {
		return nil, fmt.Errorf("start large file %q: %w: bucket ID is required", req.Name, ErrInvalidArgument)
	}
	if req.SHA1 != "" && !isHexSHA1(req.SHA1) {
		return nil, fmt.Errorf("start large file %q: %w: SHA1 %q is not 40 hex digits", req.Name, ErrInvalidArgument, req.SHA1)
	}
	if req.SHA1 != "" {
		if extra == nil {
			extra = map[string]string{}
		}
		extra[InfoLargeFileSHA1] = strings.ToLower(req.SHA1)
	}
	info, err := buildInfo(req.Name, req.Info, req.ModTime, extra)
	if err != nil {
		return nil, fmt.Errorf("start large file %q: %w", req.Name, err)
	}
	in := map[string]any{
		"bucketId":    req.BucketID,
		"fileName":    req.Name,
		"contentType": req.contentType(),
		"fileInfo":    info,
	}
	var out wireFile
	if err := c.apiCall(ctx, "b2_start_large_file", in, &out); err != nil {
		return nil, fmt.Errorf("start large file %q: %w", req.Name, err)
	}
	f := out.file()
	if f.ID == "" {
		return nil, fmt.Errorf("start large file %q: %w: no fileId", req.Name, ErrUnexpectedResponse)
	}
	return &f, nil
}

func (c *Client) finishLargeFile(ctx context.Context, fileID string, shas []string) (*File, error) {
	const api = "b2_finish_large_file"
	if shas == nil {
		shas = []string{}
	}
	var out wireFile
	ambiguous := false
	err := c.retry(ctx, api, func(ctx context.Context) error {
		s := c.session()
		err := c.postJSON(ctx, s, api, map[string]any{"fileId": fileID, "partSha1Array": shas}, &out)
		if err != nil && IsRetryable(err) {
			// The finish may have happened even though we saw no answer.
			ambiguous = true
		}
		return err
	}, true)
	if err != nil && ambiguous && !isCtxDone(err) {
		f, ierr := c.GetFileInfo(ctx, fileID)
		if ierr == nil && f.Action == ActionUpload {
			c.log.Debug("b2 finish failed but the file is finished", "fileId", fileID, "err", err)
			c.pools.drop("f:" + fileID)
			return f, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("finish large file %s: %w", fileID, err)
	}
	c.pools.drop("f:" + fileID)
	f := out.file()
	return &f, nil
}

func isCtxDone(err error) bool {
	return errors.Is(err, errCtxDone)
}

func (c *Client) cancelLargeFile(ctx context.Context, fileID string) error {
	c.pools.drop("f:" + fileID)
	if err := c.apiCall(ctx, "b2_cancel_large_file", map[string]any{"fileId": fileID}, nil); err != nil {
		return fmt.Errorf("cancel large file %s: %w", fileID, err)
	}
	return nil
}

// cleanupLargeFile cancels fileID on a fresh context after a failure.
func (c *Client) cleanupLargeFile(fileID string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := c.cancelLargeFile(ctx, fileID); err != nil {
		c.log.Warn("b2 could not cancel unfinished large file", "fileId", fileID, "err", err)
	}
}

func (c *Client) listParts(ctx context.Context, fileID string, start, n int) (PartsPage, error) {
	if start <= 0 {
		start = 1
	}
	if n <= 0 {
		n = 1000
	}
	var out struct {
		Parts          []wirePart `json:"parts"`
		NextPartNumber *int       `json:"nextPartNumber"`
	}
	in := map[string]any{"fileId": fileID, "startPartNumber": start, "maxPartCount": n}
	if err := c.apiCall(ctx, "b2_list_parts", in, &out); err != nil {
		return PartsPage{}, fmt.Errorf("list parts of %s: %w", fileID, err)
	}
	p := PartsPage{Parts: make([]Part, 0, len(out.Parts))}
	for i := range out.Parts {
		p.Parts = append(p.Parts, out.Parts[i].part())
	}
	if out.NextPartNumber != nil {
		p.NextPartNumber = *out.NextPartNumber
	}
	return p, nil
}

func (c *Client) listUnfinished(ctx context.Context, bucketID string, opts UnfinishedOptions) (ListPage, error) {
	n := opts.PageSize
	if n <= 0 || n > 100 {
		n = 100
	}
	in := map[string]any{"bucketId": bucketID, "maxFileCount": n}
	if opts.NamePrefix != "" {
		in["namePrefix"] = opts.NamePrefix
	}
	if opts.StartID != "" {
		in["startFileId"] = opts.StartID
	}
	var out wireListPage
	if err := c.apiCall(ctx, "b2_list_unfinished_large_files", in, &out); err != nil {
		return ListPage{}, fmt.Errorf("list unfinished large files: %w", err)
	}
	p := out.page()
	// Only the ID continues this listing.
	p.NextName = ""
	return p, nil
}

// partPlan picks the part size for size bytes: opts.PartSize or the
// recommended size, at least the absolute minimum, and large enough that
// there are at most 10,000 parts.
func (c *Client) partPlan(size int64, opts LargeFileOptions) (partSize int64, conc int) {
	acct := c.Account()
	partSize = opts.PartSize
	if partSize <= 0 {
		partSize = acct.RecommendedPartSize
	}
	partSize = max(partSize, acct.AbsoluteMinimumPartSize)
	if size > 0 && (size+partSize-1)/partSize > maxParts {
		partSize = (size + maxParts - 1) / maxParts
	}
	partSize = min(partSize, MaxSmallFileSize)
	conc = opts.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	return partSize, conc
}

// sendParts fills the started large file fileID of length bytes in parts of
// partSize, at most conc at once: part sends part num (from 1) covering
// [off, off+n) and returns its SHA-1. It then finishes the file; on any
// failure it cancels the unfinished file.
func (c *Client) sendParts(ctx context.Context, fileID string, length, partSize int64, conc int, part func(ctx context.Context, num int, off, n int64) (string, error)) (*File, error) {
	nparts := int((length + partSize - 1) / partSize)
	shas := make([]string, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := 0; i < nparts; i++ {
		if gctx.Err() != nil {
			break
		}
		off := int64(i) * partSize
		n := min(partSize, length-off)
		g.Go(func() error {
			sum, err := part(gctx, i+1, off, n)
			if err != nil {
				return err
			}
			shas[i] = sum
			return nil
		})
	}
	err := g.Wait()
	if err == nil && ctx.Err() != nil {
		err = ctxErr(ctx)
	}
	if err != nil {
		c.cleanupLargeFile(fileID)
		return nil, err
	}
	f, err := c.finishLargeFile(ctx, fileID, shas)
	if err != nil {
		c.cleanupLargeFile(fileID)
		return nil, err
	}
	return f, nil
}

func (c *Client) uploadLargeFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64, opts LargeFileOptions) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("upload %q: %w: negative size", req.Name, ErrInvalidArgument)
	}
	partSize, conc := c.partPlan(size, opts)
	if size <= partSize {
		return c.uploadFile(ctx, req, body, size)
	}
	if req.SHA1 == "" {
		sum, err := sha1Of(body, 0, size)
		if err != nil {
			return nil, fmt.Errorf("upload %q: %w", req.Name, err)
		}
		req.SHA1 = sum
	}
	start, err := c.startLargeFile(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	f, err := c.sendParts(ctx, start.ID, size, partSize, conc, func(ctx context.Context, num int, off, n int64) (string, error) {
		p, err := c.uploadPart(ctx, start.ID, num, io.NewSectionReader(body, off, n), n, "")
		if err != nil {
			return "", err
		}
		return p.SHA1, nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload %q: %w", req.Name, err)
	}
	if f.Size != size {
		return f, fmt.Errorf("upload %q: %w: sent %d bytes, B2 stored %d", req.Name, ErrUnexpectedResponse, size, f.Size)
	}
	return f, nil
}

func (c *Client) cancelUnfinished(ctx context.Context, bucketID, prefix string, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan).UnixMilli()
	var stale []string
	opts := UnfinishedOptions{NamePrefix: prefix}
	for page := 0; ; page++ {
		p, err := c.listUnfinished(ctx, bucketID, opts)
		if err != nil {
			return 0, err
		}
		for _, f := range p.Files {
			if f.UploadTimestamp <= cutoff && strings.HasPrefix(f.Name, prefix) {
				stale = append(stale, f.ID)
			}
		}
		if p.NextID == "" || p.NextID == opts.StartID || page > 10000 {
			break
		}
		opts.StartID = p.NextID
	}
	n := 0
	for _, id := range stale {
		if err := c.cancelLargeFile(ctx, id); err != nil && !IsNotFound(err) {
			return n, err
		}
		n++
	}
	return n, nil
}
