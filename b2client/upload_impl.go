package b2client

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const defaultContentType = "b2/x-auto"

func (c *Client) getUploadURL(ctx context.Context, bucketID string) (*UploadURL, error) {
	var out wireUploadURL
	if err := c.apiCall(ctx, "b2_get_upload_url", map[string]any{"bucketId": bucketID}, &out); err != nil {
		return nil, fmt.Errorf("get upload URL: %w", err)
	}
	if out.UploadURL == "" || out.AuthorizationToken == "" {
		return nil, fmt.Errorf("get upload URL: %w: empty uploadUrl or token", ErrUnexpectedResponse)
	}
	return &UploadURL{URL: out.UploadURL, Token: out.AuthorizationToken, BucketID: bucketID}, nil
}

func (c *Client) getUploadPartURL(ctx context.Context, fileID string) (*UploadURL, error) {
	var out wireUploadURL
	if err := c.apiCall(ctx, "b2_get_upload_part_url", map[string]any{"fileId": fileID}, &out); err != nil {
		return nil, fmt.Errorf("get upload part URL: %w", err)
	}
	if out.UploadURL == "" || out.AuthorizationToken == "" {
		return nil, fmt.Errorf("get upload part URL: %w: empty uploadUrl or token", ErrUnexpectedResponse)
	}
	return &UploadURL{URL: out.UploadURL, Token: out.AuthorizationToken, FileID: fileID}, nil
}

// uploadSpec is one upload (file or part) for c.upload.
type uploadSpec struct {
	api      string
	poolKey  string
	fetchURL func(ctx context.Context) (*UploadURL, error)
	header   http.Header
	length   int64 // exact Content-Length
	// body returns a fresh body for an attempt; canRetry reports whether a
	// failed attempt may be repeated (false once an unrewindable body was
	// consumed).
	body     func() io.Reader
	canRetry func() bool
	out      any
}

// uploadRetryable reports whether a failed upload should be retried with a
// new upload URL, and whether to back off first.
func uploadRetryable(err error) (retry, wait bool) {
	if e := asError(err); e != nil {
		switch {
		case e.Status == 401:
			return true, false
		case e.Status == 400 && e.Code == "auth_token_limit":
			return true, false
		case retryableStatus(e.Status):
			return true, true
		}
		return false, false
	}
	if isNetworkError(err) {
		return true, true
	}
	return false, false
}

// isSHA1Mismatch reports whether B2 refused an upload because the body did
// not match its SHA-1. B2 answers with the generic code bad_request, so this
// is one of the few places that reads the message.
func isSHA1Mismatch(err error) bool {
	e := asError(err)
	return e != nil && e.Status == 400 && e.Code == "bad_request" &&
		strings.Contains(strings.ToLower(e.Message), "sha1 did not match")
}

// upload performs an upload with a pooled upload URL. Any failure drops the
// URL; retryable failures are repeated with another URL.
func (c *Client) upload(ctx context.Context, s *uploadSpec) error {
	var err error
	sha1Retried := false
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return ctxErr(ctx)
		}
		u := c.pools.get(s.poolKey)
		if u == nil {
			if u, err = s.fetchURL(ctx); err != nil {
				return err
			}
		}
		err = c.uploadOnce(ctx, u, s)
		if err == nil {
			c.pools.put(s.poolKey, u)
			return nil
		}
		// The URL is dropped: never reuse an upload token after a failure.
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %v)", ctxErr(ctx), err)
		}
		retry, wait := uploadRetryable(err)
		if !retry && !sha1Retried && isSHA1Mismatch(err) {
			// Bytes corrupted on the way: send them once more.
			retry, sha1Retried = true, true
		}
		if !retry || attempt >= c.cfg.MaxAttempts || !s.canRetry() {
			return err
		}
		c.log.Debug("b2 upload failed; retrying with a new upload URL", "api", s.api, "attempt", attempt, "err", err)
		if wait {
			if serr := sleepCtx(ctx, c.backoff(attempt, err)); serr != nil {
				return fmt.Errorf("%w (after: %v)", serr, err)
			}
		}
	}
}

func (c *Client) uploadOnce(ctx context.Context, u *UploadURL, s *uploadSpec) error {
	var body io.Reader = http.NoBody
	cr := &countingReader{r: http.NoBody}
	if s.length > 0 {
		cr.r = s.body()
		body = cr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL, body)
	if err != nil {
		return fmt.Errorf("%s: %w", s.api, err)
	}
	req.ContentLength = s.length
	for k, v := range s.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", u.Token)
	resp, finish, err := c.send(req, s.api, func() int64 { return cr.n.Load() })
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	drainClose(resp.Body)
	if err != nil {
		err = fmt.Errorf("%s: read response: %w", s.api, &transportError{err})
		finish(int64(len(data)), err)
		return err
	}
	finish(int64(len(data)), nil)
	if err := json.Unmarshal(data, s.out); err != nil {
		return fmt.Errorf("%s: decode response: %w: %v", s.api, ErrUnexpectedResponse, err)
	}
	return nil
}

// sha1Of hashes size bytes of r from offset off.
func sha1Of(r io.ReaderAt, off, size int64) (string, error) {
	h := sha1.New()
	n, err := io.Copy(h, io.NewSectionReader(r, off, size))
	if err != nil {
		return "", fmt.Errorf("read source: %w", err)
	}
	if n != size {
		return "", fmt.Errorf("read source: %w: got %d of %d bytes", io.ErrUnexpectedEOF, n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (req *UploadRequest) contentType() string {
	if req.ContentType == "" {
		return defaultContentType
	}
	return req.ContentType
}

// uploadHeaders validates req and returns the b2_upload_file headers except
// Authorization and X-Bz-Content-Sha1.
func (req *UploadRequest) uploadHeaders() (http.Header, error) {
	if err := ValidateFileName(req.Name); err != nil {
		return nil, err
	}
	if req.BucketID == "" {
		return nil, fmt.Errorf("%w: bucket ID is required", ErrInvalidArgument)
	}
	if req.SHA1 != "" && !isHexSHA1(req.SHA1) {
		return nil, fmt.Errorf("%w: SHA1 %q is not 40 hex digits", ErrInvalidArgument, req.SHA1)
	}
	info, err := buildInfo(req.Name, req.Info, req.ModTime, nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("X-Bz-File-Name", PercentEncode(req.Name))
	h.Set("Content-Type", req.contentType())
	for k, v := range info {
		h.Set("X-Bz-Info-"+k, PercentEncode(v))
	}
	return h, nil
}

// smallUploadHeaders checks that size fits one b2_upload_file call and
// returns uploadHeaders, with errors naming the upload.
func (req *UploadRequest) smallUploadHeaders(size int64) (http.Header, error) {
	if size < 0 || size > MaxSmallFileSize {
		return nil, fmt.Errorf("upload %q: %w: size %d (0..%d)", req.Name, ErrInvalidArgument, size, int64(MaxSmallFileSize))
	}
	h, err := req.uploadHeaders()
	if err != nil {
		return nil, fmt.Errorf("upload %q: %w", req.Name, err)
	}
	return h, nil
}

func (c *Client) uploadFile(ctx context.Context, req UploadRequest, body io.ReaderAt, size int64) (*File, error) {
	h, err := req.smallUploadHeaders(size)
	if err != nil {
		return nil, err
	}
	sum := strings.ToLower(req.SHA1)
	if sum == "" {
		if sum, err = sha1Of(body, 0, size); err != nil {
			return nil, fmt.Errorf("upload %q: %w", req.Name, err)
		}
	}
	h.Set("X-Bz-Content-Sha1", sum)
	var out wireFile
	err = c.upload(ctx, &uploadSpec{
		api:      "b2_upload_file",
		poolKey:  "b:" + req.BucketID,
		fetchURL: func(ctx context.Context) (*UploadURL, error) { return c.getUploadURL(ctx, req.BucketID) },
		header:   h,
		length:   size,
		body:     func() io.Reader { return io.NewSectionReader(body, 0, size) },
		canRetry: func() bool { return true },
		out:      &out,
	})
	if err != nil {
		return nil, fmt.Errorf("upload %q: %w", req.Name, err)
	}
	f := out.file()
	if got := strings.TrimPrefix(f.SHA1, "unverified:"); !strings.EqualFold(got, sum) {
		return &f, fmt.Errorf("upload %q: %w: sent %s, B2 stored %s", req.Name, ErrChecksumMismatch, sum, f.SHA1)
	}
	if f.Size != size {
		return &f, fmt.Errorf("upload %q: %w: sent %d bytes, B2 stored %d", req.Name, ErrUnexpectedResponse, size, f.Size)
	}
	return &f, nil
}

// hexTrailer yields the hex SHA-1 of h once read.
type hexTrailer struct {
	h   hash.Hash
	buf []byte
}

func (t *hexTrailer) Read(p []byte) (int, error) {
	if t.buf == nil {
		t.buf = []byte(hex.EncodeToString(t.h.Sum(nil)))
	}
	if len(t.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.buf)
	t.buf = t.buf[n:]
	return n, nil
}

// exactReader fails if r ends before n bytes.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF && e.n > 0 {
		return n, fmt.Errorf("source ended %d bytes early: %w", e.n, io.ErrUnexpectedEOF)
	}
	if e.n == 0 && err == nil {
		return n, nil
	}
	return n, err
}

func (c *Client) uploadStream(ctx context.Context, req UploadRequest, body io.Reader, size int64) (*File, error) {
	h, err := req.smallUploadHeaders(size)
	if err != nil {
		return nil, err
	}
	h.Set("X-Bz-Content-Sha1", "hex_digits_at_end")
	sha := sha1.New()
	src := &countingReader{r: &exactReader{r: body, n: size}}
	var out wireFile
	err = c.upload(ctx, &uploadSpec{
		api:      "b2_upload_file",
		poolKey:  "b:" + req.BucketID,
		fetchURL: func(ctx context.Context) (*UploadURL, error) { return c.getUploadURL(ctx, req.BucketID) },
		header:   h,
		length:   size + 40,
		body: func() io.Reader {
			return io.MultiReader(io.TeeReader(src, sha), &hexTrailer{h: sha})
		},
		canRetry: func() bool { return src.n.Load() == 0 },
		out:      &out,
	})
	if err != nil {
		if src.n.Load() > 0 && !errors.Is(err, errCtxDone) {
			err = fmt.Errorf("%w (not retried: %d bytes of the stream were already consumed)", err, src.n.Load())
		}
		return nil, fmt.Errorf("upload %q: %w", req.Name, err)
	}
	f := out.file()
	sum := hex.EncodeToString(sha.Sum(nil))
	if !strings.EqualFold(strings.TrimPrefix(f.SHA1, "unverified:"), sum) {
		return &f, fmt.Errorf("upload %q: %w: sent %s, B2 stored %s", req.Name, ErrChecksumMismatch, sum, f.SHA1)
	}
	if req.SHA1 != "" && !strings.EqualFold(req.SHA1, sum) {
		return &f, fmt.Errorf("upload %q: %w: caller said %s, stream hashed to %s", req.Name, ErrChecksumMismatch, req.SHA1, sum)
	}
	return &f, nil
}

func (c *Client) uploadPart(ctx context.Context, fileID string, n int, body io.ReaderAt, size int64, sum string) (*Part, error) {
	if n < 1 || n > 10000 {
		return nil, fmt.Errorf("upload part %d: %w: part number must be 1..10000", n, ErrInvalidArgument)
	}
	if size <= 0 || size > MaxSmallFileSize {
		return nil, fmt.Errorf("upload part %d: %w: size %d", n, ErrInvalidArgument, size)
	}
	h := http.Header{}
	h.Set("X-Bz-Part-Number", strconv.Itoa(n))
	// Without the caller's SHA-1 it is computed while the part is sent
	// (each attempt reads body once), not with a pass of its own first.
	var sha hash.Hash
	length := size
	if sum == "" {
		h.Set("X-Bz-Content-Sha1", "hex_digits_at_end")
		length += 40
	} else {
		h.Set("X-Bz-Content-Sha1", sum)
	}
	var out wirePart
	err := c.upload(ctx, &uploadSpec{
		api:      "b2_upload_part",
		poolKey:  "f:" + fileID,
		fetchURL: func(ctx context.Context) (*UploadURL, error) { return c.getUploadPartURL(ctx, fileID) },
		header:   h,
		length:   length,
		body: func() io.Reader {
			r := io.NewSectionReader(body, 0, size)
			if sum != "" {
				return r
			}
			sha = sha1.New()
			return io.MultiReader(&exactReader{r: io.TeeReader(r, sha), n: size}, &hexTrailer{h: sha})
		},
		canRetry: func() bool { return true },
		out:      &out,
	})
	if err != nil {
		return nil, fmt.Errorf("upload part %d: %w", n, err)
	}
	if sum == "" {
		sum = hex.EncodeToString(sha.Sum(nil))
	}
	p := out.part()
	if !strings.EqualFold(p.SHA1, sum) {
		return &p, fmt.Errorf("upload part %d: %w: sent %s, B2 stored %s", n, ErrChecksumMismatch, sum, p.SHA1)
	}
	p.SHA1 = strings.ToLower(sum)
	return &p, nil
}
