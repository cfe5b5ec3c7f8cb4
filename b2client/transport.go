package b2client

// The HTTP layer under every API call: sending, observing, reading
// bodies and decoding JSON answers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// countingReader counts bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(int64(n))
	return n, err
}

func (c *Client) observe(ev RequestEvent) {
	if c.cfg.Observer != nil {
		c.cfg.Observer(ev)
	}
}

// send performs one HTTP request with the User-Agent set. On an HTTP error
// status it reads the body, closes it and returns a *Error. On success the
// caller owns resp.Body and must call done with the bytes read (for the
// Observer).
func (c *Client) send(req *http.Request, api string, sent func() int64) (*http.Response, func(received int64, err error), error) {
	req.Header.Set("User-Agent", c.ua)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		var s int64
		if sent != nil {
			s = sent()
		}
		c.observe(RequestEvent{API: api, Duration: time.Since(start), BytesSent: s, Err: err})
		if req.Context().Err() != nil {
			return nil, nil, fmt.Errorf("%s: %w", api, ctxErr(req.Context()))
		}
		return nil, nil, fmt.Errorf("%s: %w", api, &transportError{err})
	}
	finish := func(received int64, err error) {
		var s int64
		if sent != nil {
			s = sent()
		} else if req.ContentLength > 0 {
			s = req.ContentLength
		}
		c.observe(RequestEvent{API: api, Status: resp.StatusCode, Duration: time.Since(start), BytesSent: s, BytesReceived: received, Err: err})
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode, API: api}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		drainClose(resp.Body)
		var we wireError
		if rerr == nil && len(body) > 0 && json.Unmarshal(body, &we) == nil && we.Code != "" {
			e.Code, e.Message = we.Code, we.Message
		} else {
			e.Code = defaultCode(resp.StatusCode)
			if req.Method != http.MethodHead {
				e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
			}
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if secs, perr := strconv.Atoi(strings.TrimSpace(ra)); perr == nil && secs >= 0 {
				e.RetryAfter = time.Duration(secs) * time.Second
			} else if t, perr := http.ParseTime(ra); perr == nil {
				e.RetryAfter = max(0, time.Until(t))
			}
		}
		finish(int64(len(body)), e)
		return nil, nil, e
	}
	return resp, finish, nil
}

func defaultCode(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 401:
		return "unauthorized"
	case 403:
		return "access_denied"
	case 404:
		return "not_found"
	case 408:
		return "request_timeout"
	case 416:
		return "range_not_satisfiable"
	case 429:
		return "too_many_requests"
	case 503:
		return "service_unavailable"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "http_" + strconv.Itoa(status)
}

// drainClose reads a little of what is left so the connection can be reused,
// then closes the body.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 256<<10))
	_ = body.Close()
}

// doJSON sends req and decodes a JSON success body into out (which may be
// nil).
// readBody reads a whole response body into a buffer sized from its
// Content-Length when the server sent one (a listing page of 10,000 names
// is several MB: io.ReadAll's doubling would allocate about twice that).
// readBody reads a JSON answer into buf (reset first).
func readBody(resp *http.Response, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	if n := resp.ContentLength; n > 0 && n <= 64<<20 {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(resp.Body)
	return buf.Bytes(), err
}

// maxPooledBody bounds the buffer kept for reuse.
const maxPooledBody = 16 << 20

func (c *Client) doJSON(req *http.Request, api string, out any) error {
	resp, finish, err := c.send(req, api, nil)
	if err != nil {
		return err
	}
	buf := c.spareBody.Swap(nil)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledBody {
			c.spareBody.CompareAndSwap(nil, buf)
		}
	}()
	body, err := readBody(resp, buf)
	drainClose(resp.Body)
	if err != nil {
		err = fmt.Errorf("%s: read response: %w", api, &transportError{err})
		finish(int64(len(body)), err)
		return err
	}
	finish(int64(len(body)), nil)
	if out == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if d, ok := out.(bodyDecoder); ok {
		if err := d.decodeBody(body); err != nil {
			return fmt.Errorf("%s: decode response: %w: %v", api, ErrUnexpectedResponse, err)
		}
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decode response: %w: %v", api, ErrUnexpectedResponse, err)
	}
	return nil
}

// apiCall POSTs a JSON request to <apiUrl>/b2api/v3/<api> with the account
// token, with retries and shared re-authorization.
func (c *Client) apiCall(ctx context.Context, api string, in, out any) error {
	return c.apiCallURL(ctx, api, func(a *Account) string { return a.APIURL }, in, out)
}

func (c *Client) apiCallURL(ctx context.Context, api string, base func(*Account) string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", api, err)
	}
	return c.retry(ctx, api, func(ctx context.Context) error {
		s := c.session()
		return c.postRaw(ctx, s, base(&s.account), api, body, out)
	}, true)
}

// postJSON makes one attempt of a JSON call on the API URL with session s.
func (c *Client) postJSON(ctx context.Context, s *session, api string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", api, err)
	}
	return c.postRaw(ctx, s, s.account.APIURL, api, body, out)
}

func (c *Client) postRaw(ctx context.Context, s *session, base, api string, body []byte, out any) error {
	if base == "" {
		return fmt.Errorf("%s: %w: no URL for this API in the authorization", api, ErrInvalidArgument)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/b2api/"+apiVersion+"/"+api, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", s.token)
	req.Header.Set("Content-Type", "application/json")
	return c.doJSON(req, api, out)
}
