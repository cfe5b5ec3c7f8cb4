package b2client

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the b2client version sent in the default User-Agent.
const Version = "0.1.0"

// DefaultEndpoint is the B2 realm used for b2_authorize_account.
const DefaultEndpoint = "https://api.backblazeb2.com"

// apiVersion is the B2 Native API version used for every call.
const apiVersion = "v3"

// MaxSmallFileSize is the largest body b2_upload_file and b2_copy_file accept.
const MaxSmallFileSize = 5_000_000_000

// RequestEvent describes one HTTP request made by the client.
type RequestEvent struct {
	// API is the B2 call name, e.g. "b2_list_file_names",
	// "b2_download_file_by_name" or "b2_upload_part".
	API string
	// Status is the HTTP status, 0 when the request failed at the network
	// level.
	Status int
	// Duration runs from sending the request until the response body was
	// fully read or closed.
	Duration time.Duration
	// BytesSent counts request body bytes; BytesReceived response body bytes.
	BytesSent, BytesReceived int64
	// Err is the transport or B2 error, nil on success.
	Err error
}

// Observer is told about every HTTP request once it is complete (for
// downloads: once the body has been read to the end or closed). It must be
// fast and safe for concurrent use.
type Observer func(RequestEvent)

// Config configures a Client. Only KeyID and Key are required.
type Config struct {
	// Endpoint is the authorize URL base; default DefaultEndpoint.
	Endpoint string
	// KeyID and Key are the application key credentials. They are never
	// logged or included in errors.
	KeyID, Key string
	// HTTPClient overrides the tuned default client. Its Timeout must be 0
	// (whole-body timeouts break large transfers).
	HTTPClient *http.Client
	// UserAgent defaults to "b2fs/<Version> (go; linux)".
	UserAgent string
	// MaxAttempts bounds the attempts of one call (including uploads with a
	// fresh upload URL per attempt and download resumptions); default 5.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential back-off between
	// attempts; defaults 1s and 64s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives debug logs of retries and re-authorizations; default
	// discards.
	Logger *slog.Logger
	// Observer, if set, is called once per HTTP request.
	Observer Observer
	// LargeCopyThreshold is the source size above which CopyFile uses
	// b2_start_large_file + b2_copy_part; default MaxSmallFileSize.
	LargeCopyThreshold int64
	// UploadURLPoolSize is how many idle upload URLs are kept per bucket and
	// per large file; default 5.
	UploadURLPoolSize int
}

// session is one authorization. Immutable once published.
type session struct {
	gen     uint64
	token   string
	account Account
	at      time.Time // when the token was issued
}

// tokenRefreshAge is the age after which a token is renewed before use: B2
// tokens live at most 24 hours.
const tokenRefreshAge = 23 * time.Hour

// Client is a B2 Native API client. It is safe for concurrent use.
//
// LOCK ORDER: authMu and poolMu are never held together, and no lock is held
// across a network call.
type Client struct {
	cfg Config
	hc  *http.Client
	log *slog.Logger
	ua  string

	// authMu guards sess and flight.
	authMu sync.Mutex
	sess   *session
	flight *authFlight

	pools uploadPools

	// partBufBytes counts bytes currently held in Writer part buffers;
	// partBufPeak is its high-water mark (tests read them).
	partBufBytes atomic.Int64
	partBufPeak  atomic.Int64

	// refreshAge is tokenRefreshAge (tests shorten it).
	refreshAge time.Duration

	// spareBody is a buffer for reading JSON answers into, kept between
	// calls (a listing page of 10,000 names is about 5 MB, and decoding
	// copies what it keeps); a call finding none makes its own. Not a
	// sync.Pool: the collector empties those, and a big listing runs it
	// every few pages.
	spareBody atomic.Pointer[bytes.Buffer]
}

// authFlight is a re-authorization in progress, shared by every caller that
// failed with the same stale token generation.
type authFlight struct {
	done chan struct{}
	sess *session
	err  error
}

// NewTransport returns the tuned transport used when Config.HTTPClient is nil:
// keep-alive, many idle connections per host (uploads and downloads run in
// parallel), timeouts on connect, TLS and response headers but none on
// bodies.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 3 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}

// New authorizes with b2_authorize_account (v3) and returns a ready client.
// Rejected credentials (any 401) fail at once with an error wrapping
// ErrCredentialsRejected; transient failures are retried.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.KeyID == "" || cfg.Key == "" {
		return nil, fmt.Errorf("%w: key ID and key are required", ErrInvalidArgument)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 64 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.LargeCopyThreshold <= 0 {
		cfg.LargeCopyThreshold = MaxSmallFileSize
	}
	if cfg.UploadURLPoolSize <= 0 {
		cfg.UploadURLPoolSize = 5
	}
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, log: cfg.Logger, ua: cfg.UserAgent}
	if c.hc == nil {
		c.hc = &http.Client{Transport: NewTransport()}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ua == "" {
		c.ua = "b2fs/" + Version + " (go; linux)"
	}
	c.pools.init(cfg.UploadURLPoolSize)
	c.refreshAge = tokenRefreshAge
	s, err := c.authorize(ctx, 1)
	if err != nil {
		return nil, err
	}
	c.sess = s
	return c, nil
}

// Account returns the current session's account description.
func (c *Client) Account() Account {
	return c.session().account
}

// HasCapability reports whether the key has the named capability.
func (c *Client) HasCapability(name string) bool {
	for _, cp := range c.session().account.Capabilities {
		if cp == name {
			return true
		}
	}
	return false
}

// RequireCapabilities returns an error naming every capability the key
// lacks, so a caller can refuse early with a clear message.
func (c *Client) RequireCapabilities(names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.HasCapability(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingCapability, strings.Join(missing, ", "))
	}
	return nil
}

func (c *Client) session() *session {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.sess
}

// reauthorize replaces the session whose generation is stale. All callers
// that saw generation stale share one b2_authorize_account; a caller that
// arrives after the new session exists gets it without any call.
func (c *Client) reauthorize(ctx context.Context, stale uint64) (*session, error) {
	c.authMu.Lock()
	if c.sess.gen > stale {
		s := c.sess
		c.authMu.Unlock()
		return s, nil
	}
	f := c.flight
	if f == nil {
		f = &authFlight{done: make(chan struct{})}
		c.flight = f
		gen := c.sess.gen + 1
		go func() {
			// Detached from any one caller's context so that a caller giving
			// up does not fail the others; bounded by its own timeout.
			actx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := c.authorize(actx, gen)
			c.authMu.Lock()
			if err == nil {
				c.sess = s
			}
			c.flight = nil
			f.sess, f.err = s, err
			c.authMu.Unlock()
			close(f.done)
		}()
	}
	c.authMu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.sess, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	}
}

func ctxErr(ctx context.Context) error {
	return fmt.Errorf("%w: %w", errCtxDone, context.Cause(ctx))
}

// authorize calls b2_authorize_account, retrying transient failures but never
// a 401.
func (c *Client) authorize(ctx context.Context, gen uint64) (*session, error) {
	const api = "b2_authorize_account"
	var resp authorizeResponse
	err := c.retry(ctx, api, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.Endpoint+"/b2api/"+apiVersion+"/"+api, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.cfg.KeyID+":"+c.cfg.Key)))
		return c.doJSON(req, api, &resp)
	}, false)
	if err != nil {
		if e := asError(err); e != nil && e.Status == 401 {
			return nil, fmt.Errorf("authorize: %w (%s: %s)", ErrCredentialsRejected, e.Code, e.Message)
		}
		return nil, fmt.Errorf("authorize: %w", err)
	}
	sa := resp.APIInfo.StorageAPI
	if resp.Token == "" || sa.APIURL == "" || sa.DownloadURL == "" {
		return nil, fmt.Errorf("authorize: %w: response lacks token, apiUrl or downloadUrl", ErrUnexpectedResponse)
	}
	acct := Account{
		AccountID:               resp.AccountID,
		APIURL:                  strings.TrimRight(sa.APIURL, "/"),
		DownloadURL:             strings.TrimRight(sa.DownloadURL, "/"),
		S3APIURL:                sa.S3APIURL,
		RecommendedPartSize:     sa.RecommendedPartSize,
		AbsoluteMinimumPartSize: sa.AbsoluteMinimumPartSize,
		Capabilities:            sa.Capabilities,
		BucketID:                str(sa.BucketID),
		BucketName:              str(sa.BucketName),
		NamePrefix:              str(sa.NamePrefix),
	}
	if acct.AbsoluteMinimumPartSize <= 0 {
		acct.AbsoluteMinimumPartSize = 5_000_000
	}
	if acct.RecommendedPartSize < acct.AbsoluteMinimumPartSize {
		acct.RecommendedPartSize = max(acct.AbsoluteMinimumPartSize, 100_000_000)
	}
	if resp.APIInfo.GroupsAPI != nil {
		acct.GroupsAPIURL = strings.TrimRight(resp.APIInfo.GroupsAPI.GroupsAPIURL, "/")
	}
	if resp.KeyExpiration != nil && *resp.KeyExpiration > 0 {
		acct.KeyExpiration = time.UnixMilli(*resp.KeyExpiration)
	}
	c.log.Debug("b2 authorized", "generation", gen, "apiUrl", acct.APIURL)
	return &session{gen: gen, token: resp.Token, account: acct, at: time.Now()}, nil
}

// backoff returns the wait before attempt+1.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.cfg.MinBackoff << min(attempt-1, 30)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	// Jitter: uniformly in [d/2, d].
	d = d/2 + rand.N(d/2+1)
	if e := asError(err); e != nil && e.RetryAfter > d {
		d = e.RetryAfter
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	}
}

// retry runs fn until it succeeds, fails permanently, or MaxAttempts is
// reached. Retryable: 408/429/5xx and network errors. With reauth, a 401
// bad/expired token re-authorizes (shared) and retries without back-off; fn
// reads the token through c.session at each attempt.
func (c *Client) retry(ctx context.Context, api string, fn func(ctx context.Context) error, reauth bool) error {
	var err error
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return ctxErr(ctx)
		}
		var gen uint64
		if reauth {
			s := c.session()
			gen = s.gen
			if time.Since(s.at) > c.refreshAge {
				// Renew an old token before it expires (shared, like any
				// re-authorization); on failure the old one is still tried.
				if ns, err := c.reauthorize(ctx, s.gen); err == nil {
					gen = ns.gen
				}
			}
		}
		err = fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (after: %v)", ctxErr(ctx), err)
		}
		if attempt >= c.cfg.MaxAttempts {
			return err
		}
		switch {
		case reauth && isTokenError(err):
			c.log.Debug("b2 token rejected; re-authorizing", "api", api, "err", err)
			if _, aerr := c.reauthorize(ctx, gen); aerr != nil {
				return fmt.Errorf("%w (re-authorize: %w)", err, aerr)
			}
			continue
		case IsRetryable(err):
		default:
			return err
		}
		d := c.backoff(attempt, err)
		c.log.Debug("b2 retry", "api", api, "attempt", attempt, "wait", d, "err", err)
		if serr := sleepCtx(ctx, d); serr != nil {
			return fmt.Errorf("%w (after: %v)", serr, err)
		}
	}
}
