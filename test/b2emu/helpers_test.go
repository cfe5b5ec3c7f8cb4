package b2emu

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// client is a minimal B2 client for the tests.
type client struct {
	t         testing.TB
	ts        *TestServer
	base      string
	token     string
	accountID string
	version   int
	hc        *http.Client
}

func newServer(t testing.TB, opts Options) *TestServer {
	t.Helper()
	if opts.AbsoluteMinimumPartSize == 0 {
		opts.AbsoluteMinimumPartSize = 1 << 10
	}
	return NewTestServer(t, opts)
}

// login authorizes with the master key using v3 and returns a client.
func login(t testing.TB, ts *TestServer) *client {
	t.Helper()
	return loginKey(t, ts, ts.KeyID, ts.Key, 3)
}

func loginKey(t testing.TB, ts *TestServer, id, key string, version int) *client {
	t.Helper()
	c := &client{t: t, ts: ts, base: ts.URL, version: version, hc: &http.Client{Timeout: 30 * time.Second}}
	st, m := c.authorize(id, key, version)
	if st != 200 {
		t.Fatalf("authorize: %d %v", st, m)
	}
	c.token = m["authorizationToken"].(string)
	c.accountID = m["accountId"].(string)
	return c
}

func (c *client) authorize(id, key string, version int) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/b2api/v"+string(rune('0'+version))+"/b2_authorize_account", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+key)))
	return c.do(req)
}

func (c *client) do(req *http.Request) (int, map[string]any) {
	c.t.Helper()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: status %d, body not JSON: %q", req.Method, req.URL, resp.StatusCode, b)
		}
	}
	if resp.StatusCode >= 400 && req.Method != "HEAD" {
		checkErrBody(c.t, resp, m)
	}
	return resp.StatusCode, m
}

// checkErrBody asserts B2's error structure.
func checkErrBody(t testing.TB, resp *http.Response, m map[string]any) {
	t.Helper()
	if st, _ := m["status"].(float64); int(st) != resp.StatusCode {
		t.Errorf("error body status %v != HTTP %d (%v)", m["status"], resp.StatusCode, m)
	}
	if code, _ := m["code"].(string); code == "" {
		t.Errorf("error body without code: %v", m)
	}
	if _, ok := m["message"].(string); !ok {
		t.Errorf("error body without message: %v", m)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
		t.Errorf("error Content-Type %q", ct)
	}
}

// call POSTs JSON to the API with the client's version.
func (c *client) call(api string, body any) (int, map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", c.base+"/b2api/v"+string(rune('0'+c.version))+"/"+api, bytes.NewReader(b))
	req.Header.Set("Authorization", c.token)
	return c.do(req)
}

// get calls the API with GET and a raw query string.
func (c *client) get(api, query string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.base+"/b2api/v"+string(rune('0'+c.version))+"/"+api+"?"+query, nil)
	req.Header.Set("Authorization", c.token)
	return c.do(req)
}

func (c *client) must(api string, body any) map[string]any {
	c.t.Helper()
	st, m := c.call(api, body)
	if st != 200 {
		c.t.Fatalf("%s %v: %d %v", api, body, st, m)
	}
	return m
}

// wantErr asserts an error status and code.
func (c *client) wantErr(api string, body any, status int, code string) map[string]any {
	c.t.Helper()
	st, m := c.call(api, body)
	if st != status || m["code"] != code {
		c.t.Fatalf("%s %v: got %d %v, want %d %s", api, body, st, m, status, code)
	}
	return m
}

func (c *client) createBucket(name, typ string) string {
	c.t.Helper()
	m := c.must("b2_create_bucket", map[string]any{"accountId": c.accountID, "bucketName": name, "bucketType": typ})
	return m["bucketId"].(string)
}

type uploadURL struct{ url, token string }

func (c *client) uploadURL(bucketID string) uploadURL {
	c.t.Helper()
	m := c.must("b2_get_upload_url", map[string]any{"bucketId": bucketID})
	return uploadURL{m["uploadUrl"].(string), m["authorizationToken"].(string)}
}

func sha1hex(b []byte) string { h := sha1.Sum(b); return hex.EncodeToString(h[:]) }

// uploadRaw uploads with full control of the headers (encodedName is sent as is).
func (c *client) uploadRaw(u uploadURL, encodedName string, body []byte, hdr map[string]string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest("POST", u.url, bytes.NewReader(body))
	req.Header.Set("Authorization", u.token)
	req.Header.Set("X-Bz-File-Name", encodedName)
	req.Header.Set("Content-Type", "b2/x-auto")
	req.Header.Set("X-Bz-Content-Sha1", sha1hex(body))
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return c.do(req)
}

// upload stores body under name (percent-encoded safely) and returns the file object.
func (c *client) upload(bucketID, name string, body []byte) map[string]any {
	c.t.Helper()
	st, m := c.uploadRaw(c.uploadURL(bucketID), percentEncode(name), body, nil)
	if st != 200 {
		c.t.Fatalf("upload %q: %d %v", name, st, m)
	}
	return m
}

// download GETs a path (relative to the base) with the client's token.
func (c *client) download(method, path string, hdr map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, nil)
	if c.token != "" {
		req.Header.Set("Authorization", c.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read %s: %v", path, err)
	}
	if resp.StatusCode >= 400 && method != "HEAD" {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: %d non-JSON error %q", method, path, resp.StatusCode, b)
		}
		checkErrBody(c.t, resp, m)
	}
	return resp, b
}

// names lists with list_file_names and returns "action:name" strings.
func listed(m map[string]any) []string {
	var out []string
	for _, f := range m["files"].([]any) {
		fm := f.(map[string]any)
		out = append(out, fm["action"].(string)+":"+fm["fileName"].(string))
	}
	return out
}

func eq(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
