package b2client

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"
)

const (
	defaultPageSize = 1000
	maxPageSize     = 10000
)

func (o *ListOptions) request(bucketID string, versions bool) (map[string]any, error) {
	n := o.PageSize
	if n == 0 {
		n = defaultPageSize
	}
	if n < 0 || n > maxPageSize {
		return nil, fmt.Errorf("%w: page size %d (1..%d)", ErrInvalidArgument, o.PageSize, maxPageSize)
	}
	in := map[string]any{"bucketId": bucketID, "maxFileCount": n}
	if o.Prefix != "" {
		in["prefix"] = o.Prefix
	}
	if o.Delimiter != "" {
		in["delimiter"] = o.Delimiter
	}
	if o.StartName != "" {
		in["startFileName"] = o.StartName
	}
	if versions && o.StartID != "" {
		in["startFileId"] = o.StartID
	}
	return in, nil
}

type wireListPage struct {
	Files        []wireFile `json:"files"`
	NextFileName *string    `json:"nextFileName"`
	NextFileID   *string    `json:"nextFileId"`
}

func (w *wireListPage) page() ListPage {
	p := ListPage{Files: make([]File, 0, len(w.Files)), NextName: str(w.NextFileName), NextID: str(w.NextFileID)}
	for i := range w.Files {
		p.Files = append(p.Files, w.Files[i].file())
	}
	return p
}

// ListFileNames returns one page of b2_list_file_names: the newest visible
// version of each name, and folder entries when Delimiter is set.
func (c *Client) ListFileNames(ctx context.Context, bucketID string, opts ListOptions) (ListPage, error) {
	return c.list(ctx, "b2_list_file_names", bucketID, opts, false)
}

// ListFileVersions returns one page of b2_list_file_versions: every version,
// newest first within a name, including hide markers and unfinished large
// files.
func (c *Client) ListFileVersions(ctx context.Context, bucketID string, opts ListOptions) (ListPage, error) {
	return c.list(ctx, "b2_list_file_versions", bucketID, opts, true)
}

func (c *Client) list(ctx context.Context, api, bucketID string, opts ListOptions, versions bool) (ListPage, error) {
	in, err := opts.request(bucketID, versions)
	if err != nil {
		return ListPage{}, fmt.Errorf("%s: %w", api, err)
	}
	out := listPageBody{max: in["maxFileCount"].(int)}
	if err := c.apiCall(ctx, api, in, &out); err != nil {
		return ListPage{}, fmt.Errorf("list %q: %w", opts.Prefix, err)
	}
	return out.p, nil
}

// listPageBody decodes a listing answer of at most max files with
// decodeListPage.
type listPageBody struct {
	p   ListPage
	max int
}

func (l *listPageBody) decodeBody(b []byte) error {
	// Sized for the page (every file has a fileName; the count can only
	// be too high), so decoding does not grow it step by step.
	n := min(l.max, bytes.Count(b, []byte(`"fileName"`)))
	l.p.Files = make([]File, 0, n)
	return decodeListPage(b, &l.p)
}

// bodyDecoder is an answer that decodes itself from the whole body.
type bodyDecoder interface{ decodeBody([]byte) error }

// Files iterates over b2_list_file_names pages until the listing is complete.
// Iteration stops after the first error (yielded with a zero File) and when
// ctx is done.
func (c *Client) Files(ctx context.Context, bucketID string, opts ListOptions) iter.Seq2[File, error] {
	return c.iterate(ctx, bucketID, opts, false)
}

// FileVersions iterates over b2_list_file_versions pages until the listing is
// complete.
func (c *Client) FileVersions(ctx context.Context, bucketID string, opts ListOptions) iter.Seq2[File, error] {
	return c.iterate(ctx, bucketID, opts, true)
}

func (c *Client) iterate(ctx context.Context, bucketID string, opts ListOptions, versions bool) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		for {
			var p ListPage
			var err error
			if versions {
				p, err = c.ListFileVersions(ctx, bucketID, opts)
			} else {
				p, err = c.ListFileNames(ctx, bucketID, opts)
			}
			if err != nil {
				yield(File{}, err)
				return
			}
			for _, f := range p.Files {
				if !yield(f, nil) {
					return
				}
			}
			if p.NextName == "" {
				return
			}
			if p.NextName == opts.StartName && p.NextID == opts.StartID && len(p.Files) == 0 {
				yield(File{}, fmt.Errorf("list: %w: listing does not advance at %q", ErrUnexpectedResponse, p.NextName))
				return
			}
			opts.StartName, opts.StartID = p.NextName, p.NextID
		}
	}
}

// GetFileInfo returns one file version by ID (b2_get_file_info).
func (c *Client) GetFileInfo(ctx context.Context, fileID string) (*File, error) {
	var out wireFile
	if err := c.apiCall(ctx, "b2_get_file_info", map[string]any{"fileId": fileID}, &out); err != nil {
		return nil, fmt.Errorf("get file info %s: %w", fileID, err)
	}
	f := out.file()
	return &f, nil
}

// HideFile hides name (b2_hide_file) and returns the hide marker. Hiding an
// already hidden name fails with an error for which IsAlreadyHidden is true.
func (c *Client) HideFile(ctx context.Context, bucketID, name string) (*File, error) {
	var out wireFile
	if err := c.apiCall(ctx, "b2_hide_file", map[string]any{"bucketId": bucketID, "fileName": name}, &out); err != nil {
		return nil, fmt.Errorf("hide %q: %w", name, err)
	}
	f := out.file()
	return &f, nil
}

// DeleteFileVersion permanently deletes one version (b2_delete_file_version).
// An unknown version fails with an error for which IsNotFound is true.
func (c *Client) DeleteFileVersion(ctx context.Context, name, fileID string) error {
	if err := c.apiCall(ctx, "b2_delete_file_version", map[string]any{"fileName": name, "fileId": fileID}, nil); err != nil {
		return fmt.Errorf("delete %q version %s: %w", name, fileID, err)
	}
	return nil
}

// Head returns the metadata of the newest visible version of a file by name,
// with a HEAD request on the download URL (Class B, cheaper than a listing).
// A missing or hidden file gives an error for which IsNotFound is true.
func (c *Client) Head(ctx context.Context, bucketName, fileName string) (*File, error) {
	const api = "b2_download_file_by_name"
	var f File
	// A HEAD answer has no body, so a 401 does not say whether the token
	// expired or the key is not allowed: the first 401 is treated as an
	// expired token (re-authorize and retry), a second one as unauthorized.
	tokenRetried := false
	err := c.retry(ctx, api, func(ctx context.Context) error {
		s := c.session()
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.account.DownloadURL+"/file/"+bucketName+"/"+PercentEncode(fileName), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", s.token)
		resp, finish, err := c.send(req, api, nil)
		if err != nil {
			if e := asError(err); e != nil && e.Status == 401 && e.Message == "" && !tokenRetried {
				tokenRetried = true
				return &Error{Status: 401, Code: "expired_auth_token", API: api, Message: "HEAD answered 401 (assumed an expired token)"}
			}
			return err
		}
		drainClose(resp.Body)
		finish(0, nil)
		f, err = fileFromHeaders(resp.Header)
		if err != nil {
			return err
		}
		if f.Size == 0 && resp.ContentLength > 0 {
			f.Size = resp.ContentLength
		}
		return nil
	}, true)
	if err != nil {
		return nil, fmt.Errorf("head %q: %w", fileName, err)
	}
	return &f, nil
}

// fileFromHeaders builds a File from download response headers. Size is left
// to the caller (it depends on status and Content-Range).
func fileFromHeaders(h http.Header) (File, error) {
	f := File{
		ID:          h.Get("X-Bz-File-Id"),
		ContentType: h.Get("Content-Type"),
		SHA1:        h.Get("X-Bz-Content-Sha1"),
		Action:      ActionUpload,
		Info:        map[string]string{},
	}
	if n := h.Get("X-Bz-File-Name"); n != "" {
		name, err := PercentDecode(n)
		if err != nil {
			return f, fmt.Errorf("X-Bz-File-Name: %w", err)
		}
		f.Name = name
	}
	if ts := h.Get("X-Bz-Upload-Timestamp"); ts != "" {
		f.UploadTimestamp, _ = strconv.ParseInt(ts, 10, 64)
	}
	if cl := h.Get("Content-Length"); cl != "" {
		f.Size, _ = strconv.ParseInt(cl, 10, 64)
	}
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-bz-info-") || len(vs) == 0 {
			continue
		}
		v, err := PercentDecode(vs[0])
		if err != nil {
			return f, fmt.Errorf("%s: %w", k, err)
		}
		f.Info[strings.TrimPrefix(lk, "x-bz-info-")] = v
	}
	return f, nil
}
