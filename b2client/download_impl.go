package b2client

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// reader is the state behind a Reader.
type reader struct {
	c   *Client
	ctx context.Context
	pub *Reader

	fileID string
	body   io.ReadCloser
	finish func(int64, error)
	got    int64 // bytes read from the current body

	pos, end int64 // absolute position of the next byte; end is exclusive

	hash    hash.Hash // non-nil when the whole file is read and a SHA-1 is known
	wantSHA string

	failures int // consecutive failed resumptions without progress
	err      error
	closed   bool
}

type byteRange struct {
	first, last, total int64
}

// parseContentRange parses "bytes a-b/N".
func parseContentRange(s string) (byteRange, bool) {
	var r byteRange
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "bytes ") {
		return r, false
	}
	s = strings.TrimPrefix(s, "bytes ")
	dash := strings.IndexByte(s, '-')
	slash := strings.IndexByte(s, '/')
	if dash <= 0 || slash < dash {
		return r, false
	}
	var err1, err2, err3 error
	r.first, err1 = strconv.ParseInt(s[:dash], 10, 64)
	r.last, err2 = strconv.ParseInt(s[dash+1:slash], 10, 64)
	r.total, err3 = strconv.ParseInt(s[slash+1:], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || r.first < 0 || r.last < r.first || r.total <= r.last {
		return r, false
	}
	return r, true
}

// get issues one download GET for [off, end) (end < 0: to the end) and
// returns the response after checking its status and range. For a 200 to a
// ranged request it discards bytes up to off.
func (c *Client) get(ctx context.Context, s *session, dreq *DownloadRequest, fileID string, off, end int64) (*http.Response, func(int64, error), File, error) {
	api := "b2_download_file_by_name"
	var u string
	if fileID != "" {
		api = "b2_download_file_by_id"
		u = s.account.DownloadURL + "/b2api/" + apiVersion + "/b2_download_file_by_id?fileId=" + PercentEncode(fileID)
	} else {
		u = s.account.DownloadURL + "/file/" + dreq.BucketName + "/" + PercentEncode(dreq.Name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, File{}, err
	}
	req.Header.Set("Authorization", s.token)
	ranged := off > 0 || end >= 0
	if ranged {
		if end >= 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, end-1))
		} else {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
	}
	resp, finish, err := c.send(req, api, nil)
	if err != nil {
		return nil, nil, File{}, err
	}
	fail := func(err error) (*http.Response, func(int64, error), File, error) {
		drainClose(resp.Body)
		finish(0, err)
		return nil, nil, File{}, err
	}
	f, err := fileFromHeaders(resp.Header)
	if err != nil {
		return fail(fmt.Errorf("%s: %w: %w", api, ErrUnexpectedResponse, err))
	}
	switch resp.StatusCode {
	case http.StatusOK:
		// Whole file (B2 answers 200 when the range covers it, or ignores an
		// invalid range).
		f.Size = resp.ContentLength
		if f.Size < 0 {
			return fail(fmt.Errorf("%s: %w: 200 without Content-Length", api, ErrUnexpectedResponse))
		}
		if off > f.Size || (off == f.Size && off > 0) {
			return fail(&Error{Status: 416, Code: "range_not_satisfiable", API: api, Message: fmt.Sprintf("offset %d beyond size %d", off, f.Size)})
		}
		if off > 0 {
			if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
				return fail(fmt.Errorf("%s: skip to offset: %w", api, &transportError{err}))
			}
		}
	case http.StatusPartialContent:
		cr, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			return fail(fmt.Errorf("%s: %w: bad Content-Range %q", api, ErrUnexpectedResponse, resp.Header.Get("Content-Range")))
		}
		wantLast := cr.total - 1
		if end >= 0 {
			wantLast = min(end, cr.total) - 1
		}
		if cr.first != off || cr.last != wantLast {
			return fail(fmt.Errorf("%s: %w: asked for bytes %d-%d, got %d-%d/%d", api, ErrUnexpectedResponse, off, wantLast, cr.first, cr.last, cr.total))
		}
		f.Size = cr.total
	default:
		return fail(fmt.Errorf("%s: %w: status %d", api, ErrUnexpectedResponse, resp.StatusCode))
	}
	return resp, finish, f, nil
}

func (c *Client) download(ctx context.Context, dreq DownloadRequest) (*Reader, error) {
	name := dreq.Name
	if dreq.FileID != "" {
		name = dreq.FileID
	} else if dreq.BucketName == "" || dreq.Name == "" {
		return nil, fmt.Errorf("download: %w: need FileID or BucketName and Name", ErrInvalidArgument)
	}
	if dreq.Offset < 0 {
		return nil, fmt.Errorf("download %q: %w: negative offset", name, ErrInvalidArgument)
	}
	end := int64(-1)
	if dreq.Length > 0 {
		end = dreq.Offset + dreq.Length
	}
	var (
		resp   *http.Response
		finish func(int64, error)
		f      File
	)
	api := "b2_download_file_by_name"
	if dreq.FileID != "" {
		api = "b2_download_file_by_id"
	}
	err := c.retry(ctx, api, func(ctx context.Context) error {
		var err error
		resp, finish, f, err = c.get(ctx, c.session(), &dreq, dreq.FileID, dreq.Offset, end)
		return err
	}, true)
	if err != nil {
		return nil, fmt.Errorf("download %q: %w", name, err)
	}
	if f.ID == "" {
		drainClose(resp.Body)
		finish(0, nil)
		return nil, fmt.Errorf("download %q: %w: no X-Bz-File-Id", name, ErrUnexpectedResponse)
	}
	if end < 0 || end > f.Size {
		end = f.Size
	}
	r := &reader{c: c, ctx: ctx, fileID: f.ID, body: resp.Body, finish: finish, pos: dreq.Offset, end: end}
	if dreq.Offset == 0 && end == f.Size {
		if want := f.ContentSHA1(); want != "" {
			r.hash, r.wantSHA = sha1.New(), strings.ToLower(want)
		}
	}
	r.pub = &Reader{File: f, Offset: dreq.Offset, Length: end - dreq.Offset, impl: r}
	return r.pub, nil
}

func (r *reader) closeBody(err error) {
	if r.body == nil {
		return
	}
	if err == nil && r.end-r.pos > maxDrain {
		// Abandoned early: do not download megabytes just to reuse a
		// connection.
		_ = r.body.Close()
	} else {
		drainClose(r.body)
	}
	r.finish(r.got, err)
	r.body, r.finish, r.got = nil, nil, 0
}

// resume opens a new ranged request from r.pos on the same file ID.
func (r *reader) resume() error {
	c := r.c
	var (
		resp   *http.Response
		finish func(int64, error)
		f      File
	)
	err := c.retry(r.ctx, "b2_download_file_by_id", func(ctx context.Context) error {
		var err error
		resp, finish, f, err = c.get(ctx, c.session(), nil, r.fileID, r.pos, r.end)
		return err
	}, true)
	if err != nil {
		return err
	}
	if f.ID != r.fileID {
		drainClose(resp.Body)
		finish(0, nil)
		return fmt.Errorf("%w: resumed download returned file %s, want %s", ErrUnexpectedResponse, f.ID, r.fileID)
	}
	r.body, r.finish = resp.Body, finish
	return nil
}

// maxDrain is the most a Reader closed early reads and discards so that its
// connection can be reused.
const maxDrain = 64 << 10

var errReaderClosed = errors.New("b2client: read from a closed Reader")

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errReaderClosed
	}
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.pos >= r.end {
			r.closeBody(nil)
			if r.hash != nil {
				if got := hex.EncodeToString(r.hash.Sum(nil)); got != r.wantSHA {
					r.err = fmt.Errorf("download %s: %w: got %s, want %s", r.fileID, ErrChecksumMismatch, got, r.wantSHA)
					return 0, r.err
				}
				r.hash = nil
			}
			r.err = io.EOF
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		if r.body == nil {
			if err := r.resume(); err != nil {
				r.err = fmt.Errorf("download %s: resume at byte %d: %w", r.fileID, r.pos, err)
				return 0, r.err
			}
		}
		buf := p
		if rem := r.end - r.pos; int64(len(buf)) > rem {
			buf = buf[:rem]
		}
		n, err := r.body.Read(buf)
		r.got += int64(n)
		r.pos += int64(n)
		if r.hash != nil && n > 0 {
			r.hash.Write(buf[:n])
		}
		if n > 0 {
			r.failures = 0
		}
		if err == io.EOF {
			if r.pos < r.end {
				err = io.ErrUnexpectedEOF
			} else {
				err = nil
			}
		}
		if err != nil {
			if r.ctx.Err() != nil {
				r.closeBody(err)
				r.err = fmt.Errorf("download %s: %w", r.fileID, ctxErr(r.ctx))
				return n, nil
			}
			// The connection broke (reset, truncated body): resume from
			// r.pos on the next call.
			r.closeBody(err)
			r.failures++
			if r.failures >= r.c.cfg.MaxAttempts {
				r.err = fmt.Errorf("download %s at byte %d: %w", r.fileID, r.pos, &transportError{err})
				return n, nil
			}
			r.c.log.Debug("b2 download interrupted; resuming", "fileId", r.fileID, "pos", r.pos, "err", err)
			if n == 0 {
				if serr := sleepCtx(r.ctx, r.c.backoff(r.failures, nil)); serr != nil {
					r.err = serr
					return 0, serr
				}
				continue
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.closeBody(nil)
	return nil
}
