package b2client

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func (c *Client) copyPart(ctx context.Context, src, large string, n int, off, length int64) (*Part, error) {
	if n < 1 || n > maxParts || off < 0 || length <= 0 {
		return nil, fmt.Errorf("copy part %d: %w: part number or range", n, ErrInvalidArgument)
	}
	in := map[string]any{
		"sourceFileId": src,
		"largeFileId":  large,
		"partNumber":   n,
		"range":        fmt.Sprintf("bytes=%d-%d", off, off+length-1),
	}
	var out wirePart
	if err := c.apiCall(ctx, "b2_copy_part", in, &out); err != nil {
		return nil, fmt.Errorf("copy part %d: %w", n, err)
	}
	p := out.part()
	if p.Size != length {
		return &p, fmt.Errorf("copy part %d: %w: asked for %d bytes, got %d", n, ErrUnexpectedResponse, length, p.Size)
	}
	return &p, nil
}

func (c *Client) copyFile(ctx context.Context, req CopyRequest) (*File, error) {
	if req.SourceID == "" || req.Offset < 0 || req.Length < 0 {
		return nil, fmt.Errorf("copy: %w: source ID and a valid range are required", ErrInvalidArgument)
	}
	if err := ValidateFileName(req.DestName); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	length := req.Length
	if length == 0 && req.SourceSize > 0 {
		length = req.SourceSize - req.Offset
	}
	threshold := req.Threshold
	if threshold <= 0 {
		threshold = c.cfg.LargeCopyThreshold
	}
	if length > threshold {
		return c.copyLarge(ctx, req, length)
	}
	in := map[string]any{
		"sourceFileId": req.SourceID,
		"fileName":     req.DestName,
	}
	if req.DestBucketID != "" {
		in["destinationBucketId"] = req.DestBucketID
	}
	if req.Offset > 0 || req.Length > 0 {
		if length <= 0 {
			return nil, fmt.Errorf("copy %q: %w: a range from an offset needs SourceSize or Length", req.DestName, ErrInvalidArgument)
		}
		in["range"] = fmt.Sprintf("bytes=%d-%d", req.Offset, req.Offset+length-1)
	}
	if req.ReplaceMetadata {
		info, err := buildInfo(req.DestName, req.Info, time.Time{}, nil)
		if err != nil {
			return nil, fmt.Errorf("copy %q: %w", req.DestName, err)
		}
		ct := req.ContentType
		if ct == "" {
			ct = defaultContentType
		}
		in["metadataDirective"] = "REPLACE"
		in["contentType"] = ct
		in["fileInfo"] = info
	} else {
		in["metadataDirective"] = "COPY"
	}
	var out wireFile
	if err := c.apiCall(ctx, "b2_copy_file", in, &out); err != nil {
		if e := asError(err); e != nil && e.Code == "source_too_large" && req.SourceSize <= 0 {
			// The caller did not know the size: look it up and copy in parts.
			src, ierr := c.GetFileInfo(ctx, req.SourceID)
			if ierr != nil {
				return nil, fmt.Errorf("copy to %q: %w (size lookup: %w)", req.DestName, err, ierr)
			}
			req.SourceSize = src.Size
			if req.Length == 0 {
				length = src.Size - req.Offset
			}
			return c.copyLarge(ctx, req, length)
		}
		return nil, fmt.Errorf("copy to %q: %w", req.DestName, err)
	}
	f := out.file()
	return &f, nil
}

// copyLarge assembles the copy as a large file from b2_copy_part calls made
// in parallel.
func (c *Client) copyLarge(ctx context.Context, req CopyRequest, length int64) (*File, error) {
	partSize, conc := c.partPlan(length, LargeFileOptions{PartSize: req.PartSize, Concurrency: req.Concurrency})
	ureq := UploadRequest{Name: req.DestName, BucketID: req.DestBucketID, ContentType: req.ContentType, Info: req.Info}
	if !req.ReplaceMetadata || ureq.BucketID == "" {
		src, err := c.GetFileInfo(ctx, req.SourceID)
		if err != nil {
			return nil, fmt.Errorf("copy to %q: %w", req.DestName, err)
		}
		if ureq.BucketID == "" {
			ureq.BucketID = src.BucketID
		}
		if !req.ReplaceMetadata {
			ureq.ContentType, ureq.Info = src.ContentType, src.Info
			if req.Offset != 0 || length != src.Size {
				// A range has a different whole-file SHA-1.
				info := make(map[string]string, len(src.Info))
				for k, v := range src.Info {
					if k != InfoLargeFileSHA1 {
						info[k] = v
					}
				}
				ureq.Info = info
			} else if sum := src.ContentSHA1(); sum != "" && src.Info[InfoLargeFileSHA1] == "" {
				ureq.SHA1 = sum
			}
		}
	}
	hooks := largeCopyHooks(ctx)
	if hooks.Starting != nil {
		if err := hooks.Starting(ureq.Info); err != nil {
			return nil, fmt.Errorf("copy to %q: %w", req.DestName, err)
		}
	}
	start, err := c.startLargeFile(ctx, ureq, nil)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if hooks.Started != nil {
		if err := hooks.Started(start.ID); err != nil {
			c.CancelLargeFile(context.WithoutCancel(ctx), start.ID)
			return nil, fmt.Errorf("copy to %q: %w", req.DestName, err)
		}
	}
	f, err := c.sendParts(ctx, start.ID, length, partSize, conc, func(ctx context.Context, num int, off, n int64) (string, error) {
		p, err := c.copyPart(ctx, req.SourceID, start.ID, num, req.Offset+off, n)
		if err != nil {
			return "", err
		}
		return strings.ToLower(p.SHA1), nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy to %q: %w", req.DestName, err)
	}
	return f, nil
}
