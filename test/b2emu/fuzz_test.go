package b2emu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestDecoding feeds JSON bodies, query strings and percent-encoded
// headers through the handler: it must never panic, and every non-2xx
// answer must be B2's error JSON with status equal to the HTTP status.
// "BUCKET" in a body or query is replaced by the fuzz bucket's id.
func FuzzRequestDecoding(f *testing.F) {
	f.Add(uint8(0), "b2_list_file_names", []byte(`{"bucketId":"BUCKET","prefix":"a/","delimiter":"/"}`), "", "", "")
	f.Add(uint8(0), "b2_list_file_versions", []byte(`{"bucketId":"BUCKET","startFileName":"a","startFileId":"x!"}`), "", "", "")
	f.Add(uint8(0), "b2_list_buckets", []byte(``), "accountId=0123456789ab&bucketTypes=[\"all\"]", "", "")
	f.Add(uint8(1), "", []byte("hello"), "", "a+b%2Bc.txt", "caf%C3%A9")
	f.Add(uint8(1), "", []byte("x"), "", "%zz", "%")
	f.Add(uint8(2), "", []byte{}, "b2ContentDisposition=inline", "seed.txt", "bytes=-1")
	s := NewTestServer(f, Options{})
	c := login(f, s)
	bid := c.createBucket("fuzz-bucket", "allPrivate")
	if _, err := s.PutFile("fuzz-bucket", "seed.txt", []byte("0123456789"), nil); err != nil {
		f.Fatal(err)
	}
	up := c.uploadURL(bid)
	upURL, _ := url.Parse(up.url)
	token := c.token

	f.Fuzz(func(t *testing.T, kind uint8, api string, body []byte, query, name, info string) {
		body = bytes.ReplaceAll(body, []byte("BUCKET"), []byte(bid))
		query = strings.ReplaceAll(query, "BUCKET", bid)
		var r *http.Request
		switch kind % 3 {
		case 0:
			if strings.HasPrefix(api, "b2_upload") || strings.Contains(api, "/") {
				return
			}
			u := &url.URL{Path: "/b2api/v3/" + api, RawQuery: query}
			method := http.MethodPost
			if len(body) == 0 {
				method = http.MethodGet
			}
			r = httptest.NewRequest(method, "http://127.0.0.1/", bytes.NewReader(body))
			r.URL = u
			r.RequestURI = u.RequestURI()
			r.Header.Set("Authorization", token)
		case 1:
			r = httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", bytes.NewReader(body))
			r.URL = &url.URL{Path: upURL.Path}
			r.Header.Set("Authorization", up.token)
			r.Header.Set("X-Bz-File-Name", name)
			r.Header.Set("X-Bz-Info-Fuzz", info)
			r.Header.Set("Content-Type", "b2/x-auto")
			r.Header.Set("X-Bz-Content-Sha1", sha1hex(body))
			if !validHeaderValue(name) || !validHeaderValue(info) {
				return
			}
		case 2:
			u, err := url.ParseRequestURI("/file/fuzz-bucket/" + name + "?" + query)
			if err != nil {
				return
			}
			r = httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			r.URL = u
			r.Header.Set("Authorization", token)
			r.Header.Set("Range", info)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if n := s.panics.Load(); n != 0 {
			t.Fatalf("handler panicked (%d)", n)
		}
		if w.Code >= 200 && w.Code < 300 {
			return
		}
		var e struct {
			Status  *int    `json:"status"`
			Code    *string `json:"code"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Status == nil || e.Code == nil || e.Message == nil {
			t.Fatalf("status %d: not a B2 error body: %q (%v)", w.Code, w.Body.Bytes(), err)
		}
		if *e.Status != w.Code || *e.Code == "" {
			t.Fatalf("status %d: error body %q", w.Code, w.Body.Bytes())
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json;charset=UTF-8" {
			t.Fatalf("error Content-Type %q", ct)
		}
	})
}

// validHeaderValue reports whether net/http could carry v as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
