package b2client

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// env is a b2emu test server, a bucket and a client authorized against it.
type env struct {
	t          testing.TB
	ts         *b2emu.TestServer
	c          *Client
	bucketID   string
	bucketName string
	rec        *recorder
}

type envOptions struct {
	emu    b2emu.Options
	config func(*Config)
}

// testPartSize is the emulator's absolute minimum part size in tests.
const testPartSize = 1 << 16

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.emu.AbsoluteMinimumPartSize == 0 {
		o.emu.AbsoluteMinimumPartSize = testPartSize
	}
	if o.emu.RecommendedPartSize == 0 {
		o.emu.RecommendedPartSize = 4 * testPartSize
	}
	ts := b2emu.NewTestServer(t, o.emu)
	e := &env{t: t, ts: ts, bucketName: "test-bucket-" + strings.ToLower(randName(8))}
	id, err := ts.CreateBucket(e.bucketName, "allPrivate")
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	e.bucketID = id
	e.rec = &recorder{}
	cfg := Config{
		Endpoint:   ts.URL,
		KeyID:      ts.KeyID,
		Key:        ts.Key,
		MinBackoff: time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
		HTTPClient: &http.Client{Transport: &recordingTransport{rt: NewTransport(), rec: e.rec}},
	}
	if o.config != nil {
		o.config(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.c = c
	ts.ResetStats()
	return e
}

func (e *env) calls(api string) int64 { return e.ts.Stats().Calls[api] }

// put stores a file directly in the emulator and returns its ID.
func (e *env) put(name string, body []byte) string {
	e.t.Helper()
	id, err := e.ts.PutFile(e.bucketName, name, body, nil)
	if err != nil {
		e.t.Fatalf("PutFile %q: %v", name, err)
	}
	return id
}

// download reads a whole download and checks nothing else.
func (e *env) download(req DownloadRequest) ([]byte, *Reader) {
	e.t.Helper()
	r, err := e.c.Download(context.Background(), req)
	if err != nil {
		e.t.Fatalf("Download(%+v): %v", req, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("read download %+v: %v", req, err)
	}
	return b, r
}

// recorder keeps the requests a client sent (method, path, Range header).
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path, rangeHdr string
}

func (r *recorder) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.Header.Get("Range")})
}

func (r *recorder) matching(substr string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, q := range r.reqs {
		if strings.Contains(q.path, substr) {
			out = append(out, q)
		}
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

type recordingTransport struct {
	rt  http.RoundTripper
	rec *recorder
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.rec.add(req)
	return t.rt.RoundTrip(req)
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randName(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.N(len(letters))]
	}
	return string(b)
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func mustEqualBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes (sha1 %s), want %d bytes (sha1 %s)", what, len(got), sha1Hex(got), len(want), sha1Hex(want))
	}
}

// unfinished returns the bucket's unfinished large files.
func (e *env) unfinished() []File {
	e.t.Helper()
	p, err := e.c.ListUnfinishedLargeFiles(context.Background(), e.bucketID, UnfinishedOptions{})
	if err != nil {
		e.t.Fatalf("list unfinished: %v", err)
	}
	return p.Files
}

func bytesReaderAt(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func envEmuPartSizes(min int64) b2emu.Options {
	return b2emu.Options{AbsoluteMinimumPartSize: min, RecommendedPartSize: min}
}
