package b2client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

func TestNewAccount(t *testing.T) {
	e := newEnv(t, envOptions{emu: b2emu.Options{KeyID: "000keyidnotaccount", AccountID: "acct00112233"}})
	a := e.c.Account()
	if a.AccountID != "acct00112233" {
		t.Errorf("AccountID = %q, want the account from the response", a.AccountID)
	}
	if a.APIURL == "" || a.DownloadURL == "" || !strings.HasPrefix(a.APIURL, "http://127.0.0.1") {
		t.Errorf("URLs = %q, %q", a.APIURL, a.DownloadURL)
	}
	if a.AbsoluteMinimumPartSize != testPartSize || a.RecommendedPartSize != 4*testPartSize {
		t.Errorf("part sizes = %d, %d", a.AbsoluteMinimumPartSize, a.RecommendedPartSize)
	}
	if !e.c.HasCapability("writeFiles") || e.c.HasCapability("noSuchCapability") {
		t.Errorf("capabilities = %v", a.Capabilities)
	}
	if a.BucketID != "" || a.NamePrefix != "" || !a.KeyExpiration.IsZero() {
		t.Errorf("master key has restrictions: %+v", a)
	}
}

func TestNewBadCredentials(t *testing.T) {
	ts := b2emu.NewTestServer(t, b2emu.Options{})
	_, err := New(context.Background(), Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: "wrong-secret", MinBackoff: time.Millisecond})
	if !errors.Is(err, ErrCredentialsRejected) || !IsUnauthorized(err) {
		t.Fatalf("New with a bad key: %v, want ErrCredentialsRejected", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("error leaks the key: %v", err)
	}
	if n := ts.Stats().Calls["b2_authorize_account"]; n != 1 {
		t.Fatalf("authorize calls = %d, want 1 (never retried)", n)
	}
}

// failingTransport fails the first n requests whose path contains match with
// a network error, before anything reaches the server.
type failingTransport struct {
	rt    http.RoundTripper
	match string
	n     atomic.Int32
}

func (f *failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, f.match) && f.n.Add(-1) >= 0 {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (injected)")}
	}
	return f.rt.RoundTrip(req)
}

// TestRetryTransient checks that every retryable failure class is recovered
// transparently by a JSON call, an upload and a download.
func TestRetryTransient(t *testing.T) {
	classes := []struct {
		name  string
		fault b2emu.FaultRule
		// network: fail with a client-side network error instead of a fault.
		network bool
		// stall: the fault stalls past the client's header timeout.
		stall bool
	}{
		{name: "408", fault: b2emu.FaultRule{Status: 408}},
		{name: "429", fault: b2emu.FaultRule{Status: 429}},
		{name: "500", fault: b2emu.FaultRule{Status: 500}},
		{name: "502", fault: b2emu.FaultRule{Status: 502}},
		{name: "503", fault: b2emu.FaultRule{Status: 503}},
		{name: "504", fault: b2emu.FaultRule{Status: 504}},
		{name: "reset", fault: b2emu.FaultRule{Action: "reset"}},
		{name: "timeout", fault: b2emu.FaultRule{Action: "stall", Delay: b2emu.Duration(time.Second)}, stall: true},
		{name: "network", network: true},
	}
	ops := []struct {
		api string
		run func(e *env) error
	}{
		{"b2_list_file_names", func(e *env) error {
			p, err := e.c.ListFileNames(context.Background(), e.bucketID, ListOptions{})
			if err == nil && len(p.Files) != 1 {
				err = fmt.Errorf("listed %d files, want 1", len(p.Files))
			}
			return err
		}},
		{"b2_upload_file", func(e *env) error {
			body := randBytes(1000, 7)
			f, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "up"}, bytesReaderAt(body), int64(len(body)))
			if err == nil && f.SHA1 != sha1Hex(body) {
				err = fmt.Errorf("sha1 %s", f.SHA1)
			}
			return err
		}},
		{"b2_upload_part", func(e *env) error {
			// No SHA-1 given: hashed while sent, afresh on every attempt.
			ctx := context.Background()
			start, err := e.c.StartLargeFile(ctx, UploadRequest{BucketID: e.bucketID, Name: "big"})
			if err != nil {
				return err
			}
			body := randBytes(1000, 8)
			p, err := e.c.UploadPart(ctx, start.ID, 1, bytesReaderAt(body), int64(len(body)), "")
			if err == nil && p.SHA1 != sha1Hex(body) {
				err = fmt.Errorf("sha1 %s", p.SHA1)
			}
			return err
		}},
		{"b2_download_file_by_name", func(e *env) error {
			r, err := e.c.Download(context.Background(), DownloadRequest{BucketName: e.bucketName, Name: "seed"})
			if err != nil {
				return err
			}
			defer r.Close()
			b, err := readAll(r)
			if err == nil && string(b) != "seed body" {
				err = fmt.Errorf("body %q", b)
			}
			return err
		}},
	}
	for _, cl := range classes {
		for _, op := range ops {
			t.Run(cl.name+"/"+op.api, func(t *testing.T) {
				var ft *failingTransport
				e := newEnv(t, envOptions{config: func(c *Config) {
					tr := NewTransport()
					if cl.stall {
						tr.ResponseHeaderTimeout = 400 * time.Millisecond
					}
					ft = &failingTransport{rt: tr, match: "/nothing-yet"}
					c.HTTPClient = &http.Client{Transport: ft}
				}})
				e.put("seed", []byte("seed body"))
				e.ts.ResetStats()
				if cl.network {
					match := "/b2api/v3/" + op.api
					if op.api == "b2_upload_file" {
						match = "/b2_upload_file/"
					}
					if op.api == "b2_download_file_by_name" {
						match = "/file/"
					}
					ft.match = match
					ft.n.Store(1)
				} else {
					f := cl.fault
					f.API = op.api
					f.Times = 1
					e.ts.AddFault(f)
				}
				if err := op.run(e); err != nil {
					t.Fatalf("%s after one %s: %v", op.api, cl.name, err)
				}
				want := int64(2)
				if cl.network {
					want = 1 // the failed attempt never reached the server
				}
				n := e.calls(op.api)
				if op.api == "b2_download_file_by_name" {
					// A reset after the headers resumes by file ID.
					n += e.calls("b2_download_file_by_id")
				}
				if n != want && !(cl.stall && n > want) { // a loaded machine may time out twice
					t.Errorf("%s calls = %d, want %d", op.api, n, want)
				}
				if op.api == "b2_upload_file" {
					// The failed upload URL is dropped and a new one fetched.
					if n := e.calls("b2_get_upload_url"); n != 2 && !(cl.stall && n > 2) {
						t.Errorf("b2_get_upload_url calls = %d, want 2", n)
					}
				}
			})
		}
	}
}

// TestRetryAfterHonoured checks that a Retry-After header delays the retry
// by at least its value (this is the one test that sleeps a whole second per
// case).
func TestRetryAfterHonoured(t *testing.T) {
	for _, status := range []int{429, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.ts.AddFault(b2emu.FaultRule{API: "b2_list_buckets", Status: status, RetryAfter: 1, Times: 1})
			start := time.Now()
			if _, err := e.c.ListBuckets(context.Background(), ListBucketsOptions{}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < time.Second {
				t.Fatalf("retried after %v, want ≥ 1s (Retry-After: 1)", d)
			}
			if n := e.calls("b2_list_buckets"); n != 2 {
				t.Fatalf("calls = %d, want 2", n)
			}
		})
	}
}

func TestNonRetryableErrors(t *testing.T) {
	tests := []struct {
		status int
		code   string
		check  func(error) bool
	}{
		{400, "bad_request", func(err error) bool { return !IsNotFound(err) && !IsRetryable(err) }},
		{401, "unauthorized", IsUnauthorized},
		{403, "storage_cap_exceeded", IsStorageCapExceeded},
		{403, "transaction_cap_exceeded", IsCapExceeded},
		{403, "access_denied", IsUnauthorized},
		{404, "not_found", IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			id := e.put("f", []byte("x"))
			e.ts.ResetStats()
			e.ts.AddFault(b2emu.FaultRule{API: "b2_get_file_info", Status: tt.status, Code: tt.code, Times: -1})
			_, err := e.c.GetFileInfo(context.Background(), id)
			var be *Error
			if !errors.As(err, &be) || be.Status != tt.status || be.Code != tt.code || be.API != "b2_get_file_info" {
				t.Fatalf("err = %#v, want *Error %d %s", err, tt.status, tt.code)
			}
			if !tt.check(err) {
				t.Errorf("helper does not classify %v", err)
			}
			if n := e.calls("b2_get_file_info"); n != 1 {
				t.Errorf("calls = %d, want exactly 1", n)
			}
		})
	}
	t.Run("upload sha1 mismatch", func(t *testing.T) {
		// A body that arrives corrupted is sent once more with a new URL,
		// and only once.
		for _, times := range []int{1, 2} {
			e := newEnv(t, envOptions{})
			e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Status: 400, Code: "bad_request", Message: "Sha1 did not match data received", Times: times})
			_, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "x"}, bytesReaderAt([]byte("abc")), 3)
			if times == 1 && err != nil {
				t.Fatalf("one mismatch: %v", err)
			}
			if be := asError(err); times == 2 && (be == nil || be.Status != 400) {
				t.Fatalf("two mismatches: err = %v", err)
			}
			if n := e.calls("b2_upload_file"); n != 2 {
				t.Errorf("%d mismatches: upload calls = %d, want 2", times, n)
			}
		}
	})
	t.Run("upload 400", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Status: 400, Code: "bad_request", Times: -1})
		_, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "x"}, bytesReaderAt([]byte("abc")), 3)
		if be := asError(err); be == nil || be.Status != 400 {
			t.Fatalf("err = %v", err)
		}
		if n := e.calls("b2_upload_file"); n != 1 {
			t.Errorf("upload calls = %d, want 1", n)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		e := newEnv(t, envOptions{config: func(c *Config) { c.MaxAttempts = 3 }})
		e.ts.AddFault(b2emu.FaultRule{API: "b2_list_buckets", Status: 503, Times: -1})
		_, err := e.c.ListBuckets(context.Background(), ListBucketsOptions{})
		if !IsRetryable(err) {
			t.Fatalf("err = %v, want the last 503", err)
		}
		if n := e.calls("b2_list_buckets"); n != 3 {
			t.Errorf("calls = %d, want MaxAttempts=3", n)
		}
	})
}

// TestReauthSingleFlight expires the token under many concurrent callers:
// exactly one re-authorization serves them all.
func TestReauthSingleFlight(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("a", []byte("a"))
	e.ts.ExpireTokens()
	e.ts.ResetStats()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.c.ListFileNames(context.Background(), e.bucketID, ListOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("re-authorizations = %d, want exactly 1", n)
	}
	if g := e.c.session().gen; g != 2 {
		t.Fatalf("session generation = %d, want 2", g)
	}
	// A caller still holding the stale generation gets the new session
	// without another call.
	if _, err := e.c.reauthorize(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n := e.calls("b2_authorize_account"); n != 1 {
		t.Fatalf("re-authorizations after a stale reauthorize = %d, want 1", n)
	}
}

func TestUploadURLReplacedAfterFailure(t *testing.T) {
	for _, f := range []b2emu.FaultRule{
		{Status: 500},
		{Status: 503},
		{Status: 401, Code: "expired_auth_token"},
		{Status: 401, Code: "bad_auth_token"},
		{Status: 400, Code: "auth_token_limit"},
		{Action: "reset", ResetAfterBytes: 100},
	} {
		t.Run(fmt.Sprint(f.Status, f.Code, f.Action), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			f.API = "b2_upload_file"
			f.Times = 1
			f.Skip = 1
			e.ts.AddFault(f)
			body := randBytes(5000, 1)
			for i := 0; i < 3; i++ {
				if _, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: fmt.Sprint("f", i)}, bytesReaderAt(body), int64(len(body))); err != nil {
					t.Fatal(err)
				}
			}
			// Upload 1 fetches a URL and returns it to the pool; upload 2
			// reuses it, fails, drops it and fetches a new one; upload 3
			// reuses that.
			if n := e.calls("b2_get_upload_url"); n != 2 {
				t.Errorf("b2_get_upload_url calls = %d, want 2", n)
			}
			if n := e.calls("b2_upload_file"); n != 4 {
				t.Errorf("b2_upload_file calls = %d, want 4", n)
			}
			if n := e.c.pools.size("b:" + e.bucketID); n != 1 {
				t.Errorf("idle upload URLs = %d, want 1", n)
			}
		})
	}
}

func TestContextCancelStopsBackoff(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Minute }})
	e.ts.AddFault(b2emu.FaultRule{API: "b2_list_buckets", Status: 503, Times: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.c.ListBuckets(ctx, ListBucketsOptions{})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancelled call took %v", d)
	}
}

func TestObserver(t *testing.T) {
	var mu sync.Mutex
	var evs []RequestEvent
	e := newEnv(t, envOptions{config: func(c *Config) {
		c.Observer = func(ev RequestEvent) {
			mu.Lock()
			evs = append(evs, ev)
			mu.Unlock()
		}
	}})
	body := randBytes(3000, 2)
	if _, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: "o"}, bytesReaderAt(body), 3000); err != nil {
		t.Fatal(err)
	}
	got, _ := e.download(DownloadRequest{BucketName: e.bucketName, Name: "o"})
	mustEqualBytes(t, "download", got, body)
	mu.Lock()
	defer mu.Unlock()
	byAPI := map[string]RequestEvent{}
	for _, ev := range evs {
		byAPI[ev.API] = ev
	}
	if ev := byAPI["b2_upload_file"]; ev.Status != 200 || ev.BytesSent != 3000 || ev.BytesReceived == 0 {
		t.Errorf("upload event = %+v", ev)
	}
	if ev := byAPI["b2_download_file_by_name"]; ev.Status != 200 || ev.BytesReceived != 3000 {
		t.Errorf("download event = %+v", ev)
	}
	if ev := byAPI["b2_authorize_account"]; ev.Status != 200 {
		t.Errorf("authorize event = %+v", ev)
	}
}

// TestConnectionReuse checks that sequential calls of every kind reuse one
// keep-alive connection: bodies are drained and closed.
func TestConnectionReuse(t *testing.T) {
	var dials atomic.Int32
	e := newEnv(t, envOptions{config: func(c *Config) {
		tr := NewTransport()
		d := &net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
		c.HTTPClient = &http.Client{Transport: tr}
	}})
	ctx := context.Background()
	body := randBytes(100_000, 40)
	dials.Store(0)
	for i := 0; i < 5; i++ {
		name := fmt.Sprint("reuse", i)
		if _, err := e.c.UploadFile(ctx, UploadRequest{BucketID: e.bucketID, Name: name}, bytesReaderAt(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		got, _ := e.download(DownloadRequest{BucketName: e.bucketName, Name: name})
		mustEqualBytes(t, "download", got, body)
		// A Reader closed a little before its end is drained.
		r, err := e.c.Download(ctx, DownloadRequest{BucketName: e.bucketName, Name: name, Offset: 10, Length: 5000})
		if err != nil {
			t.Fatal(err)
		}
		r.Read(make([]byte, 100))
		r.Close()
		if _, err := e.c.Head(ctx, e.bucketName, name); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Head(ctx, e.bucketName, "missing"); !IsNotFound(err) {
			t.Fatal(err)
		}
		if _, err := e.c.ListFileNames(ctx, e.bucketID, ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.GetFileInfo(ctx, "bad-id"); err == nil {
			t.Fatal("bad id accepted")
		}
	}
	if n := dials.Load(); n > 2 {
		t.Fatalf("%d connections dialled for 35 sequential requests, want ≤ 2 (upload URL host + API host)", n)
	}
}

// TestConcurrentUploadsOwnTheirURL runs many uploads at once: each takes its
// own upload URL (no auth_token_limit collisions, so no upload is repeated)
// and the idle pool stays bounded.
func TestConcurrentUploadsOwnTheirURL(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := randBytes(20_000, uint64(i))
				_, err := e.c.UploadFile(context.Background(), UploadRequest{BucketID: e.bucketID, Name: fmt.Sprint("c/", round, "/", i)}, bytesReaderAt(body), int64(len(body)))
				errs <- err
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.calls("b2_upload_file"); got != 2*n {
		t.Errorf("upload calls = %d, want %d (an upload was repeated: URL shared?)", got, 2*n)
	}
	if got := e.calls("b2_get_upload_url"); got > 2*n-5 {
		t.Errorf("get_upload_url calls = %d: the second round reused no pooled URL", got)
	}
	if got := e.c.pools.size("b:" + e.bucketID); got > 5 {
		t.Errorf("idle URLs = %d, want ≤ 5", got)
	}
}

// TestErrorBodyCutIsRetried: an error answer whose body breaks off (the
// connection reset mid-body) says nothing of what went wrong: it is a
// network failure and retried, never a 400 bad_request. Here the first
// b2_hide_file hides the file and loses its answer; the retry's answer
// (400 already_hidden) breaks off too, and the third attempt reports
// already_hidden.
func TestErrorBodyCutIsRetried(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("f", []byte("x"))
	e.ts.AddFault(b2emu.FaultRule{API: "b2_hide_file", Action: "reset", ResetAfterBytes: 1, Times: 2})
	_, err := e.c.HideFile(context.Background(), e.bucketID, "f")
	if !IsAlreadyHidden(err) {
		t.Fatalf("hide whose answers were cut: %v, want already_hidden", err)
	}
	if n := e.calls("b2_hide_file"); n != 3 {
		t.Errorf("b2_hide_file calls = %d, want 3", n)
	}
}
