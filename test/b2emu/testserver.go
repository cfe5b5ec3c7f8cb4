package b2emu

import (
	"net/http/httptest"
	"testing"
)

// TestServer is a Server behind an httptest server on 127.0.0.1.
type TestServer struct {
	*Server
	URL        string // http://127.0.0.1:port
	KeyID, Key string // master key credentials
}

// NewTestServer starts a Server with httptest; t.Cleanup closes both. An
// empty Key becomes "K" plus random characters; KeyID defaults to the
// account id.
func NewTestServer(t testing.TB, opts Options) *TestServer {
	t.Helper()
	if opts.Key == "" {
		opts.Key = "K" + randAlnum(30)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("b2emu.New: %v", err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("b2emu close: %v", err)
		}
	})
	return &TestServer{Server: s, URL: hs.URL, KeyID: s.opts.KeyID, Key: s.opts.Key}
}
