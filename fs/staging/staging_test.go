package staging

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/test/b2emu"
)

const (
	testPart   = 1 << 16 // the emulator's minimum part size in these tests
	testCutoff = 2 * testPart
)

// env is one emulator, one client and one Manager.
type env struct {
	t        *testing.T
	emu      *b2emu.TestServer
	c        *b2client.Client
	m        *Manager
	bucket   string
	bucketID string
	// downloaded counts body bytes received by downloads.
	downloaded atomic.Int64
	remote     *countingRemote
}

type envOptions struct {
	fast     bool
	maxSize  int64
	readSize int64
	inflight int
	fs       FileSystem // default OSFS
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, bucket: "stage-bucket"}
	e.emu = b2emu.NewTestServer(t, b2emu.Options{AbsoluteMinimumPartSize: testPart, RecommendedPartSize: testPart})
	id, err := e.emu.CreateBucket(e.bucket, "allPrivate")
	if err != nil {
		t.Fatal(err)
	}
	e.bucketID = id
	ctx := context.Background()
	e.c, err = b2client.New(ctx, b2client.Config{
		Endpoint: e.emu.URL, KeyID: e.emu.KeyID, Key: e.emu.Key,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Observer: func(ev b2client.RequestEvent) {
			if ev.API == "b2_download_file_by_id" || ev.API == "b2_download_file_by_name" {
				e.downloaded.Add(ev.BytesReceived)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.remote = &countingRemote{Remote: &B2Remote{C: e.c}}
	if o.readSize == 0 {
		o.readSize = 1 << 14
	}
	e.m, err = New(Options{
		Dir:               filepath.Join(t.TempDir(), "staging"),
		Remote:            e.remote,
		PartSize:          testPart,
		UploadCutoff:      testCutoff,
		Concurrency:       3,
		MaxInflightParts:  o.inflight,
		MaxSize:           o.maxSize,
		FastStreamedClose: o.fast,
		ReadSize:          o.readSize,
		FS:                o.fs,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close(context.Background()) })
	return e
}

func (e *env) key(name string) Key {
	return Key{BucketID: e.bucketID, BucketName: e.bucket, Name: name}
}

// put stores name with body in the emulator and returns its Base.
func (e *env) put(name string, body []byte) *Base {
	e.t.Helper()
	id, err := e.emu.PutFile(e.bucket, name, body, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &Base{FileID: id, Size: int64(len(body)), Mtime: time.Now()}
}

// remoteContent downloads the current version of name.
func (e *env) remoteContent(name string) (b2client.File, []byte) {
	e.t.Helper()
	r, err := e.c.Download(context.Background(), b2client.DownloadRequest{BucketName: e.bucket, Name: name})
	if err != nil {
		e.t.Fatalf("download %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("download %s: %v", name, err)
	}
	return r.File, b
}

func sum(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

func (e *env) checkRemote(name string, want []byte) b2client.File {
	e.t.Helper()
	f, got := e.remoteContent(name)
	if sum(got) != sum(want) {
		e.t.Fatalf("%s: remote content differs: %d bytes sha %s, want %d bytes sha %s", name, len(got), sum(got), len(want), sum(want))
	}
	return f
}

// countingRemote counts calls and the peak of concurrent part uploads.
type countingRemote struct {
	Remote
	mu          sync.Mutex
	parts       int
	peakParts   int
	curParts    int
	partCalls   atomic.Int64
	copyParts   atomic.Int64
	uploadFiles atomic.Int64
}

func (c *countingRemote) UploadPart(ctx context.Context, id string, part int, r io.ReaderAt, size int64, sha string) (string, error) {
	c.mu.Lock()
	c.curParts++
	c.peakParts = max(c.peakParts, c.curParts)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.curParts--; c.mu.Unlock() }()
	c.partCalls.Add(1)
	return c.Remote.UploadPart(ctx, id, part, r, size, sha)
}

func (c *countingRemote) CopyPart(ctx context.Context, src, id string, part int, off, n int64) (string, error) {
	c.copyParts.Add(1)
	return c.Remote.CopyPart(ctx, src, id, part, off, n)
}

func (c *countingRemote) UploadFile(ctx context.Context, req UploadRequest, r io.ReaderAt, size int64) (backend.Object, error) {
	c.uploadFiles.Add(1)
	return c.Remote.UploadFile(ctx, req, r, size)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// model applies writes and truncates to a plain byte slice.
type model struct{ b []byte }

func (m *model) write(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p)
}

func (m *model) truncate(n int64) {
	if n <= int64(len(m.b)) {
		m.b = m.b[:n]
		return
	}
	m.b = append(m.b, make([]byte, n-int64(len(m.b)))...)
}

func TestRandomWritesThenUpload(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int64 // file grows to about this size
		ops     int
	}{
		{"small", 20_000, 40},
		{"large several parts", 5*testPart + 123, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			rng := rand.New(rand.NewSource(int64(len(tc.name))))
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key("dir/file.bin")})
			if err != nil {
				t.Fatal(err)
			}
			var want model
			for i := 0; i < tc.ops; i++ {
				off := rng.Int63n(tc.maxSize)
				n := 1 + rng.Intn(9000)
				if i%10 == 9 {
					sz := rng.Int63n(tc.maxSize)
					if err := f.Truncate(ctx, sz); err != nil {
						t.Fatal(err)
					}
					want.truncate(sz)
					continue
				}
				p := randBytes(rng, n)
				if _, err := f.WriteAt(ctx, p, off); err != nil {
					t.Fatal(err)
				}
				want.write(p, off)
				// the handle reads its own writes
				got := make([]byte, n)
				if k, err := f.ReadAt(ctx, got, off); k != n || (err != nil && err != io.EOF) {
					t.Fatalf("read back: %d %v", k, err)
				}
				if !bytes.Equal(got, p) {
					t.Fatalf("read back differs at %d", off)
				}
			}
			// make sure the final size reaches the intended path
			p := randBytes(rng, 100)
			if _, err := f.WriteAt(ctx, p, tc.maxSize); err != nil {
				t.Fatal(err)
			}
			want.write(p, tc.maxSize)
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			v := e.checkRemote("dir/file.bin", want.b)
			if got := v.Info[InfoMtime]; got == "" {
				t.Errorf("no %s in %v", InfoMtime, v.Info)
			}
			if int64(len(want.b)) >= testCutoff {
				if v.Info[InfoLargeFileSHA] != sum(want.b) {
					t.Errorf("large_file_sha1 = %q, want %s", v.Info[InfoLargeFileSHA], sum(want.b))
				}
			}
			if st, _ := f.State(); st != StateClean {
				t.Errorf("state %s after flush", st)
			}
			e.m.Release(f)
			assertNoStaged(t, e.m)
		})
	}
}

func assertNoStaged(t *testing.T, m *Manager) {
	t.Helper()
	ents, err := os.ReadDir(m.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ents {
		// the lock, and emptied files kept for reuse, are not staged data
		if info, err := d.Info(); d.Name() != lockName && (err != nil || info.Size() != 0) {
			names = append(names, d.Name())
		}
	}
	if len(names) != 0 {
		t.Fatalf("staging dir not empty after release: %v", names)
	}
	if m.Used() != 0 {
		t.Fatalf("Used() = %d after release", m.Used())
	}
}

func TestLazyFetchOnlyNeededRanges(t *testing.T) {
	e := newEnv(t, envOptions{readSize: 4096})
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	orig := randBytes(rng, 100_000) // below the cutoff: a simple upload
	base := e.put("lazy.bin", orig)

	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("lazy.bin"), Base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	if e.downloaded.Load() != 0 {
		t.Fatalf("open downloaded %d bytes", e.downloaded.Load())
	}
	// Overwrite a range: nothing is fetched.
	patch := bytes.Repeat([]byte("P"), 5000)
	if _, err := f.WriteAt(ctx, patch, 50_000); err != nil {
		t.Fatal(err)
	}
	if d := e.downloaded.Load(); d != 0 {
		t.Fatalf("write fetched %d bytes", d)
	}
	// Reading the written range fetches nothing.
	buf := make([]byte, 5000)
	if _, err := f.ReadAt(ctx, buf, 50_000); err != nil || !bytes.Equal(buf, patch) {
		t.Fatalf("read own write: %v", err)
	}
	if d := e.downloaded.Load(); d != 0 {
		t.Fatalf("reading written bytes fetched %d bytes", d)
	}
	// Reading 10 bytes elsewhere fetches one read-size block.
	small := make([]byte, 10)
	if _, err := f.ReadAt(ctx, small, 10_000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(small, orig[10_000:10_010]) {
		t.Fatal("read of remote range returned wrong bytes")
	}
	if d := e.downloaded.Load(); d == 0 || d > 4096 {
		t.Fatalf("10-byte read fetched %d bytes, want 1..4096", d)
	}
	// Flush fills the rest: exactly the bytes that are not local.
	before := e.downloaded.Load()
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fetched := e.downloaded.Load() - before
	want := append([]byte(nil), orig...)
	copy(want[50_000:], patch)
	e.checkRemote("lazy.bin", want)
	if wantFetch := int64(100_000 - 5000 - 4096); fetched != wantFetch {
		t.Errorf("flush fetched %d bytes, want %d (everything not yet local)", fetched, wantFetch)
	}
}

func TestOverwriteLargeCopiesUntouchedParts(t *testing.T) {
	e := newEnv(t, envOptions{readSize: 4096})
	ctx := context.Background()
	rng := rand.New(rand.NewSource(8))
	orig := randBytes(rng, 6*testPart+500)
	base := e.put("big.bin", orig)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("big.bin"), Base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	// dd conv=notrunc style: 100 bytes inside part 3 (0-based 2).
	patch := bytes.Repeat([]byte{0xAB}, 100)
	off := int64(2*testPart + 1000)
	if _, err := f.WriteAt(ctx, patch, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fetched := e.downloaded.Load()
	want := append([]byte(nil), orig...)
	copy(want[off:], patch)
	e.checkRemote("big.bin", want)
	if got := e.remote.copyParts.Load(); got != 6 {
		t.Errorf("copy_part calls = %d, want 6 (every untouched part)", got)
	}
	if got := e.remote.partCalls.Load(); got != 1 {
		t.Errorf("upload_part calls = %d, want 1 (the patched part)", got)
	}
	if d := fetched; d != testPart-100 {
		t.Errorf("fetched %d bytes, want %d (the rest of the patched part)", d, testPart-100)
	}
}

func TestTruncateAndAppend(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	orig := []byte("0123456789abcdefghij")
	base := e.put("t.txt", orig)

	// Shrink then grow: the regrown bytes are zeros, not the old content.
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("t.txt"), Base: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(ctx, 12); err != nil {
		t.Fatal(err)
	}
	// append (O_APPEND writes at the current size)
	size, _ := f.Attr()
	if _, err := f.WriteAt(ctx, []byte("END"), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("01234"), make([]byte, 7)...)
	want = append(want, "END"...)
	e.checkRemote("t.txt", want)
	e.m.Release(f)

	// O_TRUNC: nothing is fetched, content replaced.
	v, _ := e.remoteContent("t.txt")
	e.downloaded.Store(0)
	f, err = e.m.Open(ctx, OpenOptions{Key: e.key("t.txt"), Base: &Base{FileID: v.ID, Size: v.Size}, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := e.downloaded.Load(); d != 0 {
		t.Errorf("O_TRUNC rewrite fetched %d bytes", d)
	}
	e.m.Release(f)
	e.checkRemote("t.txt", []byte("new"))

	// Creating an empty file uploads a 0-byte file.
	f, err = e.m.Open(ctx, OpenOptions{Key: e.key("empty")})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Release(f)
	e.checkRemote("empty", nil)
}

// TestStreamingPartsBeforeFlush writes a big file sequentially and checks
// that parts reach B2 while the writer is still writing.
func TestStreamingPartsBeforeFlush(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	rng := rand.New(rand.NewSource(9))
	data := randBytes(rng, 8*testPart+777)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("stream.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	const chunk = 8192
	for off := 0; off < 6*testPart; off += chunk {
		if _, err := f.WriteAt(ctx, data[off:off+chunk], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	// Without any Flush, parts must arrive in B2.
	deadline := time.Now().Add(10 * time.Second)
	for e.emu.Stats().Calls["b2_upload_part"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no streaming part uploads before close: stats %v", e.emu.Stats().Calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e.emu.Stats().Calls["b2_start_large_file"] != 1 {
		t.Fatalf("start_large_file calls: %v", e.emu.Stats().Calls)
	}
	before := e.emu.Stats().Calls["b2_upload_part"]
	// Rewrite a byte in part 1, which has most likely been uploaded.
	data[10] ^= 0xff
	if _, err := f.WriteAt(ctx, data[6*testPart:], 6*testPart); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, data[10:11], 10); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	v := e.checkRemote("stream.bin", data)
	if v.Info[InfoLargeFileSHA] != sum(data) {
		t.Errorf("large_file_sha1 %q, want %s", v.Info[InfoLargeFileSHA], sum(data))
	}
	_, mt := f.Attr()
	if v.Info[InfoMtime] != strconv.FormatInt(mt.UnixMilli(), 10) {
		t.Errorf("src_last_modified_millis %q, want %d", v.Info[InfoMtime], mt.UnixMilli())
	}
	parts := e.emu.Stats().Calls["b2_upload_part"]
	t.Logf("upload_part calls: %d before the tail, %d in all, for 9 parts", before, parts)
	if parts > 9+4 {
		t.Errorf("%d upload_part calls for 9 parts", parts)
	}
	// One version is visible (the intermediate one is deleted).
	n := 0
	for fv, err := range e.c.FileVersions(ctx, e.bucketID, b2client.ListOptions{Prefix: "stream.bin"}) {
		if err != nil {
			t.Fatal(err)
		}
		if fv.Action == b2client.ActionUpload {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d versions of stream.bin, want 1", n)
	}
}

func TestUploadFaultsRecovered(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		fault  *b2emu.FaultRule
		expire bool
	}{
		{"upload_part 503", 5 * testPart, &b2emu.FaultRule{API: "b2_upload_part", Skip: 1, Times: 2, Status: 503}, false},
		{"upload_part reset", 5 * testPart, &b2emu.FaultRule{API: "b2_upload_part", Skip: 2, Times: 1, Action: "reset", ResetAfterBytes: 1000}, false},
		{"upload_file 500", 30_000, &b2emu.FaultRule{API: "b2_upload_file", Times: 2, Status: 500}, false},
		{"get_upload_url 503", 30_000, &b2emu.FaultRule{API: "b2_get_upload_url", Times: 2, Status: 503}, false},
		{"get_upload_part_url 503", 4 * testPart, &b2emu.FaultRule{API: "b2_get_upload_part_url", Times: 2, Status: 503}, false},
		{"upload_file reset", 30_000, &b2emu.FaultRule{API: "b2_upload_file", Times: 1, Action: "reset", ResetAfterBytes: 100}, false},
		{"finish 503", 4 * testPart, &b2emu.FaultRule{API: "b2_finish_large_file", Times: 1, Status: 503}, false},
		{"expired token small", 30_000, nil, true},
		{"expired token large", 4 * testPart, nil, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			data := randBytes(rand.New(rand.NewSource(int64(i))), tc.size)
			name := "fault/" + strconv.Itoa(i)
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key(name)})
			if err != nil {
				t.Fatal(err)
			}
			defer e.m.Release(f)
			if tc.fault != nil {
				e.emu.AddFault(*tc.fault)
			}
			half := len(data) / 2
			if _, err := f.WriteAt(ctx, data[:half], 0); err != nil {
				t.Fatal(err)
			}
			if tc.expire {
				e.emu.ExpireTokens()
			}
			if _, err := f.WriteAt(ctx, data[half:], int64(half)); err != nil {
				t.Fatal(err)
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatalf("flush: %v", err)
			}
			e.checkRemote(name, data)
		})
	}
}

func TestPermanentFailureKeepsStagedData(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  string
		size int
	}{
		{"small", "b2_upload_file", 10_000},
		{"large", "b2_upload_part", 3 * testPart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			data := randBytes(rand.New(rand.NewSource(3)), tc.size)
			e.emu.AddFault(b2emu.FaultRule{API: tc.api, Times: -1, Status: 500})
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key("doomed.bin")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(ctx, data, 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Flush(ctx); err == nil {
				t.Fatal("flush succeeded against a permanently failing server")
			}
			e.m.Release(f)
			// Staged data and manifest stay, and say what happened.
			got, err := os.ReadFile(f.DataPath())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("staged data after failure: %v (len %d)", err, len(got))
			}
			man, err := ReadManifest(f.ManifestPath())
			if err != nil {
				t.Fatal(err)
			}
			if man.State != StateFailed || man.Name != "doomed.bin" || man.Size != int64(len(data)) || man.Error == "" {
				t.Fatalf("manifest %+v", man)
			}
			pend, err := PendingManifests(e.m.Dir())
			if err != nil || len(pend) != 1 {
				t.Fatalf("PendingManifests = %v, %v", pend, err)
			}
			if p := e.m.Pending(); len(p) != 1 || p[0].Name != "doomed.bin" {
				t.Fatalf("Pending() = %v", p)
			}
			for _, p := range []string{e.m.Dir(), f.DataPath(), f.ManifestPath()} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				want := os.FileMode(0o600)
				if st.IsDir() {
					want = 0o700
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
				}
			}
			// The server recovers; reopening finds the staged data and a flush
			// delivers it.
			e.emu.ClearFaults()
			f2, err := e.m.Open(ctx, OpenOptions{Key: e.key("doomed.bin")})
			if err != nil {
				t.Fatal(err)
			}
			if f2 != f {
				t.Fatal("reopen did not find the pending staged file")
			}
			if err := f2.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			e.m.Release(f2)
			e.checkRemote("doomed.bin", data)
			assertNoStaged(t, e.m)
		})
	}
}

func TestCacheFullGivesENOSPC(t *testing.T) {
	e := newEnv(t, envOptions{maxSize: 50_000})
	ctx := context.Background()
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("a")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	if _, err := f.WriteAt(ctx, make([]byte, 40_000), 0); err != nil {
		t.Fatal(err)
	}
	g, err := e.m.Open(ctx, OpenOptions{Key: e.key("b")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(g)
	_, err = g.WriteAt(ctx, make([]byte, 20_000), 0)
	if !errors.Is(err, errs.ErrNoSpace) {
		t.Fatalf("write beyond the cache limit: %v, want ENOSPC", err)
	}
	if err := f.Truncate(ctx, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(ctx, make([]byte, 20_000), 0); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	if err := g.Truncate(ctx, 100_000); !errors.Is(err, errs.ErrNoSpace) {
		t.Fatalf("truncate beyond the limit: %v", err)
	}
}

// TestCacheLimitCountsHeldBytes: an existing file much larger than the
// cache limit can be opened and appended to; only the bytes staged count.
func TestCacheLimitCountsHeldBytes(t *testing.T) {
	e := newEnv(t, envOptions{maxSize: 50_000})
	ctx := context.Background()
	orig := randBytes(rand.New(rand.NewSource(14)), 200_000)
	base := e.put("big.log", orig)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("big.log"), Base: base})
	if err != nil {
		t.Fatalf("open a file larger than the cache limit: %v", err)
	}
	defer e.m.Release(f)
	if u := e.m.Used(); u != 0 {
		t.Fatalf("Used() = %d after opening, want 0", u)
	}
	line := []byte("one more line\n")
	if _, err := f.Append(ctx, line); err != nil {
		t.Fatalf("append: %v", err)
	}
	if u := e.m.Used(); u != int64(len(line)) {
		t.Fatalf("Used() = %d after the append, want %d", u, len(line))
	}
	if _, err := f.WriteAt(ctx, make([]byte, 60_000), 1000); !errors.Is(err, errs.ErrNoSpace) {
		t.Fatalf("a write beyond the limit: %v, want ENOSPC", err)
	}
	if err := f.Truncate(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if u := e.m.Used(); u != 0 {
		t.Fatalf("Used() = %d after truncating below the written bytes, want 0", u)
	}
}

func TestTwoHandlesAndDetach(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a, err := e.m.Open(ctx, OpenOptions{Key: e.key("shared")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.m.Open(ctx, OpenOptions{Key: e.key("shared")})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two opens of one name gave two staged files")
	}
	a.WriteAt(ctx, []byte("hello "), 0)
	b.WriteAt(ctx, []byte("world"), 6)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Release(a)
	if err := b.Flush(ctx); err != nil { // nothing new: no second upload
		t.Fatal(err)
	}
	if n := e.remote.uploadFiles.Load(); n != 1 {
		t.Errorf("%d uploads, want 1", n)
	}
	e.checkRemote("shared", []byte("hello world"))
	e.m.Release(b)

	// An unlinked file being written is never uploaded.
	c, _ := e.m.Open(ctx, OpenOptions{Key: e.key("gone")})
	c.WriteAt(ctx, []byte("x"), 0)
	if !e.m.Detach(e.key("gone")) {
		t.Fatal("Detach found nothing")
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.m.Release(c)
	if _, err := e.c.Head(ctx, e.bucket, "gone"); !b2client.IsNotFound(err) {
		t.Fatalf("detached file reached B2: %v", err)
	}
	assertNoStaged(t, e.m)
}

// TestManyWritersBoundedParts runs several streaming writers at once and
// checks the global bound on parts in flight.
func TestManyWritersBoundedParts(t *testing.T) {
	e := newEnv(t, envOptions{inflight: 2})
	ctx := context.Background()
	const files = 6
	var wg sync.WaitGroup
	datas := make([][]byte, files)
	errs := make(chan error, files)
	for i := 0; i < files; i++ {
		datas[i] = randBytes(rand.New(rand.NewSource(int64(100+i))), 6*testPart+i)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key("many/" + strconv.Itoa(i))})
			if err != nil {
				errs <- err
				return
			}
			defer e.m.Release(f)
			for off := 0; off < len(datas[i]); off += 16384 {
				end := min(off+16384, len(datas[i]))
				if _, err := f.WriteAt(ctx, datas[i][off:end], int64(off)); err != nil {
					errs <- err
					return
				}
			}
			errs <- f.Flush(ctx)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < files; i++ {
		e.checkRemote("many/"+strconv.Itoa(i), datas[i])
	}
	e.remote.mu.Lock()
	peak := e.remote.peakParts
	e.remote.mu.Unlock()
	if peak > 2 || peak < 1 {
		t.Errorf("peak concurrent part uploads %d, want 1..2", peak)
	}
	assertNoStaged(t, e.m)
}

func TestChooseSizes(t *testing.T) {
	tests := []struct {
		part, cutoff, absMin, rec int64
		wantPart, wantCutoff      int64
		wantErr                   bool
	}{
		{0, 0, 5_000_000, 100_000_000, 100_000_000, 200_000_000, false},
		{16 << 20, 0, 5_000_000, 100_000_000, 16 << 20, 32 << 20, false},
		{1 << 20, 0, 5_000_000, 100_000_000, 0, 0, true},
		{0, 0, 5_000_000, 1_000_000, 5_000_000, 10_000_000, false},
		{8 << 20, 8 << 20, 5_000_000, 100_000_000, 0, 0, true},
		{8 << 20, 9 << 20, 5_000_000, 100_000_000, 8 << 20, 9 << 20, false},
	}
	for _, tc := range tests {
		p, c, err := ChooseSizes(tc.part, tc.cutoff, tc.absMin, tc.rec)
		if (err != nil) != tc.wantErr || p != tc.wantPart || c != tc.wantCutoff {
			t.Errorf("ChooseSizes(%d,%d,%d,%d) = %d,%d,%v", tc.part, tc.cutoff, tc.absMin, tc.rec, p, c, err)
		}
	}
}

// TestFastStreamedClose: without the metadata copy a streamed file keeps
// the start time and no large_file_sha1, unless its time was set
// explicitly; with it (the default, TestStreamingPartsBeforeFlush) the
// metadata is exact.
func TestFastStreamedClose(t *testing.T) {
	for _, setTime := range []bool{false, true} {
		t.Run(fmt.Sprintf("settime=%v", setTime), func(t *testing.T) {
			e := newEnv(t, envOptions{fast: true})
			ctx := context.Background()
			data := randBytes(rand.New(rand.NewSource(11)), 6*testPart+5)
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key("fast.bin")})
			if err != nil {
				t.Fatal(err)
			}
			defer e.m.Release(f)
			for off := 0; off < len(data); off += 8192 {
				if _, err := f.WriteAt(ctx, data[off:min(off+8192, len(data))], int64(off)); err != nil {
					t.Fatal(err)
				}
				if off == 3*testPart {
					waitFor(t, func() bool { return e.emu.Stats().Calls["b2_upload_part"] > 0 })
				}
			}
			want := time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
			if setTime {
				if _, err := f.SetMtime(ctx, want); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			v := e.checkRemote("fast.bin", data)
			copies := e.emu.Stats().Calls["b2_copy_file"]
			_, mt := f.Attr()
			if got := v.Info[InfoMtime]; got != strconv.FormatInt(mt.UnixMilli(), 10) {
				t.Errorf("B2 mtime %s, local view %v", got, mt)
			}
			if setTime {
				if copies != 1 || !mt.Equal(want) || v.Info[InfoLargeFileSHA] != sum(data) {
					t.Errorf("explicit time: copies %d, mtime %v, sha %q", copies, mt, v.Info[InfoLargeFileSHA])
				}
			} else if copies != 0 || v.Info[InfoLargeFileSHA] != "" {
				t.Errorf("fast close made %d copies, sha %q", copies, v.Info[InfoLargeFileSHA])
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMemoryBounded streams a file much larger than the parts in flight
// and checks that the heap does not grow with the file: parts are read
// from the staging file, never buffered whole.
func TestMemoryBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	const size = 48 << 20
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("mem.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	buf := make([]byte, 256<<10)
	h := sha1.New()
	for off := int64(0); off < size; off += int64(len(buf)) {
		buf[0], buf[1] = byte(off>>18), byte(off>>26)
		h.Write(buf)
		if _, err := f.WriteAt(ctx, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	growth := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %d KiB while streaming %d MiB", growth>>10, size>>20)
	if growth > 24<<20 {
		t.Errorf("heap grew by %d MiB streaming a %d MiB file", growth>>20, size>>20)
	}
	v, err := e.c.Head(ctx, e.bucket, "mem.bin")
	if err != nil || v.Size != size || v.Info[InfoLargeFileSHA] != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("uploaded %+v %v", v, err)
	}
}

// TestAppendAfterUploadCopiesParts: appending to a large file that is
// already in B2 sends only the changed tail; the rest is copied on the
// server, and the whole-file SHA-1 is still recorded (the data is local).
func TestAppendAfterUploadCopiesParts(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	data := randBytes(rand.New(rand.NewSource(12)), 5*testPart+100)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("log.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	if _, err := f.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	parts, copies := e.remote.partCalls.Load(), e.remote.copyParts.Load()
	fileCopies := e.emu.Stats().Calls["b2_copy_file"]
	more := []byte("appended line\n")
	if _, err := f.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	data = append(data, more...)
	v := e.checkRemote("log.bin", data)
	if got := e.remote.copyParts.Load() - copies; got != 5 {
		t.Errorf("copy_part calls for the append: %d, want 5", got)
	}
	if got := e.remote.partCalls.Load() - parts; got != 1 {
		t.Errorf("upload_part calls for the append: %d, want 1", got)
	}
	if v.Info[InfoLargeFileSHA] != sum(data) {
		t.Errorf("large_file_sha1 %q, want %s", v.Info[InfoLargeFileSHA], sum(data))
	}
	if c := e.emu.Stats().Calls["b2_copy_file"] - fileCopies; c != 0 {
		t.Errorf("%d whole-file copies for an append", c)
	}
}

// TestRecoverAdoptsDeadInstance: staged files of a b2fs that died while
// they were being written (the manifests are older than the data) are
// adopted by the next Manager on the same directory with all their bytes
// and uploaded; a partially overwritten file whose new bytes cannot be told
// from those still only in B2 is left in place.
func TestRecoverAdoptsDeadInstance(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	rng := rand.New(rand.NewSource(13))
	newData, truncData, failData := randBytes(rng, 3*testPart+5), randBytes(rng, 5000), randBytes(rng, 7000)
	orig := randBytes(rng, 20_000)
	base := e.put("partial.bin", orig)
	base2 := e.put("rewritten.txt", []byte("old content"))

	a, _ := e.m.Open(ctx, OpenOptions{Key: e.key("crashed/new.bin")})
	a.WriteAt(ctx, newData, 0)
	b, _ := e.m.Open(ctx, OpenOptions{Key: e.key("rewritten.txt"), Base: base2, Truncate: true})
	b.WriteAt(ctx, truncData, 0)
	c, _ := e.m.Open(ctx, OpenOptions{Key: e.key("partial.bin"), Base: base})
	c.WriteAt(ctx, []byte("patch"), 100)
	c.WriteAt(ctx, []byte("more"), 5000) // the manifest does not know this one
	base3 := e.put("patched-once.bin", orig)
	p, _ := e.m.Open(ctx, OpenOptions{Key: e.key("patched-once.bin"), Base: base3})
	p.WriteAt(ctx, []byte("patch"), 100) // the manifest recorded it: settled
	e.emu.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 400, Code: "bad_request"})
	d, _ := e.m.Open(ctx, OpenOptions{Key: e.key("failed.txt")})
	d.WriteAt(ctx, failData, 0)
	if err := d.Flush(ctx); err == nil {
		t.Fatal("flush against a failing server succeeded")
	}
	e.m.Release(d)
	e.emu.ClearFaults()
	oldDir := e.m.Dir()
	crash(e.m)

	m2, err := New(Options{Dir: filepath.Dir(oldDir), Remote: e.remote, PartSize: testPart, UploadCutoff: testCutoff,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m2.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Key.Name+":"+string(r.Outcome))
	}
	sort.Strings(names)
	if got := strings.Join(names, ","); got != "crashed/new.bin:pending,failed.txt:pending,partial.bin:stale,patched-once.bin:pending,rewritten.txt:pending" {
		t.Fatalf("recovered %v", got)
	}
	// An adopted file is visible with its staged content until uploaded.
	if f := m2.Lookup(e.key("failed.txt")); f == nil {
		t.Error("adopted file not staged in the new manager")
	}
	if err := m2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	patched := append([]byte(nil), orig...)
	copy(patched[100:], "patch")
	e.checkRemote("patched-once.bin", patched)
	e.checkRemote("crashed/new.bin", newData)
	e.checkRemote("rewritten.txt", truncData)
	e.checkRemote("failed.txt", failData)
	e.checkRemote("partial.bin", orig) // not reconstructible: untouched in B2
	left, _ := filepath.Glob(filepath.Join(oldDir, "*.data"))
	if len(left) != 1 {
		t.Fatalf("left in the dead instance's directory: %v", left)
	}
	if _, err := os.Stat(m2.Dir()); !os.IsNotExist(err) {
		t.Errorf("the new instance's directory should be gone after a clean close: %v", err)
	}
}

// TestDetachWaitsForUpload: unlinking a file whose upload is under way
// waits for it, so a hide marker lands on top of the upload (a close racing
// with rm never resurrects the file).
// TestDetachDoesNotWaitForUpload: removing a file whose upload is under
// way returns at once (rm must not block for a whole upload); the version
// the upload still makes is deleted when it lands, so the name stays gone.
func TestDetachDoesNotWaitForUpload(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("racy")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	f.WriteAt(ctx, []byte("data"), 0)
	e.emu.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: 1, Action: "stall", Delay: b2emu.Duration(2 * time.Second)})
	done := make(chan error, 1)
	go func() { done <- f.Flush(ctx) }()
	waitFor(t, func() bool { st, _ := f.State(); return st == StateUploading })
	start := time.Now()
	e.m.Detach(e.key("racy"))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Detach waited %v for the upload in progress", d)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Flush of a removed file: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Flush did not return")
	}
	if _, err := e.c.Head(ctx, e.bucket, "racy"); !b2client.IsNotFound(err) {
		t.Fatalf("after unlink the file is visible: %v", err)
	}
}

// TestDetachCancelsLargeUpload: removing a large file while its parts
// upload cancels the upload (Flush returns without waiting for the parts)
// and no version appears.
func TestDetachCancelsLargeUpload(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, bytes.Repeat([]byte("x"), 3*testPart+5), 0); err != nil {
		t.Fatal(err)
	}
	e.emu.AddFault(b2emu.FaultRule{API: "b2_upload_part", Action: "stall", Delay: b2emu.Duration(4 * time.Second)})
	done := make(chan error, 1)
	go func() { done <- f.Flush(ctx) }()
	waitFor(t, func() bool { st, _ := f.State(); return st == StateUploading })
	time.Sleep(100 * time.Millisecond) // parts in flight
	start := time.Now()
	e.m.Detach(e.key("big"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Flush of a removed file: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Flush kept uploading the parts of a removed file")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the upload ended %v after Detach", d)
	}
	e.m.Release(f)
	if _, err := e.c.Head(ctx, e.bucket, "big"); !b2client.IsNotFound(err) {
		t.Fatalf("a removed large file became visible: %v", err)
	}
}

// TestConcurrentWritersFlushes hammers one staged file from several
// goroutines (writes, truncates, reads and flushes, with streaming part
// uploads running underneath) and checks that what ends in B2 is exactly
// what the file holds locally.
func TestConcurrentWritersFlushes(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) { hammer(t, existing) })
	}
}

func hammer(t *testing.T, existing bool) {
	e := newEnv(t, envOptions{readSize: 4096})
	ctx := context.Background()
	var base *Base
	if existing {
		base = e.put("hammer.bin", randBytes(rand.New(rand.NewSource(99)), 6*testPart+3))
	}
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("hammer.bin"), Base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	const maxSize = 8 * testPart
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(100 + g)))
			for i := 0; i < 80; i++ {
				switch op := rng.Intn(20); {
				case op < 12:
					off := rng.Int63n(maxSize)
					if _, err := f.WriteAt(ctx, randBytes(rng, 1+rng.Intn(3*testPart/2)), off); err != nil {
						errs <- err
						return
					}
				case op < 14:
					if err := f.Truncate(ctx, rng.Int63n(maxSize)); err != nil {
						errs <- err
						return
					}
				case op < 18:
					buf := make([]byte, 1+rng.Intn(testPart))
					if _, err := f.ReadAt(ctx, buf, rng.Int63n(maxSize)); err != nil && err != io.EOF {
						errs <- err
						return
					}
				default:
					if err := f.Flush(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	size, _ := f.Attr()
	local := make([]byte, size)
	if n, err := f.ReadAt(ctx, local, 0); int64(n) != size || (err != nil && err != io.EOF) {
		t.Fatalf("read back %d of %d: %v", n, size, err)
	}
	e.checkRemote("hammer.bin", local)
}

// TestFlushDeferMeta: FlushDeferMeta of a streamed large file makes no
// copy; TakeMetaFixup hands over, once, the info the version should get,
// while the local view already has the final time.
func TestFlushDeferMeta(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	data := randBytes(rand.New(rand.NewSource(12)), 6*testPart+5)
	f, err := e.m.Open(ctx, OpenOptions{Key: e.key("deferred.bin")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.m.Release(f)
	for off := 0; off < len(data); off += 8192 {
		if _, err := f.WriteAt(ctx, data[off:min(off+8192, len(data))], int64(off)); err != nil {
			t.Fatal(err)
		}
		if off == 3*testPart {
			waitFor(t, func() bool { return e.emu.Stats().Calls["b2_upload_part"] > 0 })
		}
	}
	want := time.Date(2021, 1, 2, 3, 4, 5, 7_000_000, time.UTC)
	if _, err := f.SetMtime(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := f.FlushDeferMeta(ctx); err != nil {
		t.Fatal(err)
	}
	v := e.checkRemote("deferred.bin", data)
	if c := e.emu.Stats().Calls; c["b2_copy_file"]+c["b2_copy_part"] != 0 {
		t.Fatalf("FlushDeferMeta copied: %v", c)
	}
	if v.Info[InfoLargeFileSHA] != "" {
		t.Fatalf("streamed version already has large_file_sha1: %v", v.Info)
	}
	if _, mt := f.Attr(); !mt.Equal(want) {
		t.Errorf("local mtime %v, want %v", mt, want)
	}
	fx := f.TakeMetaFixup()
	if fx[InfoLargeFileSHA] != sum(data) || fx[InfoMtime] != strconv.FormatInt(want.UnixMilli(), 10) {
		t.Fatalf("fix-up %v", fx)
	}
	if f.TakeMetaFixup() != nil {
		t.Fatal("fix-up handed over twice")
	}
}

// TestStreamedMetaChangeDurableAtClose: a mode (or owner, xattr) change
// made while a large file streamed is in B2 when the close returns, with
// FlushDeferMeta (the final time and SHA-1 stay deferred) and with
// FastStreamedClose: the version was started with the info from before the
// change, and a crash before the deferred copy would lose it.
func TestStreamedMetaChangeDurableAtClose(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			e := newEnv(t, envOptions{fast: fast})
			ctx := context.Background()
			data := randBytes(rand.New(rand.NewSource(13)), 6*testPart+5)
			f, err := e.m.Open(ctx, OpenOptions{Key: e.key("chmod.bin"), Info: map[string]string{"b2fs-mode": "644"}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.m.Release(f)
			for off := 0; off < len(data); off += 8192 {
				if _, err := f.WriteAt(ctx, data[off:min(off+8192, len(data))], int64(off)); err != nil {
					t.Fatal(err)
				}
				if off == 3*testPart {
					waitFor(t, func() bool { return e.emu.Stats().Calls["b2_upload_part"] > 0 })
					if ok, err := f.SetInfo(ctx, func(info map[string]string) error {
						info["b2fs-mode"] = "600"
						return nil
					}); !ok || err != nil {
						t.Fatalf("SetInfo while streaming: %v %v", ok, err)
					}
				}
			}
			flush := f.FlushDeferMeta
			if fast {
				flush = f.Flush
			}
			if err := flush(ctx); err != nil {
				t.Fatal(err)
			}
			v := e.checkRemote("chmod.bin", data)
			if v.Info["b2fs-mode"] != "600" {
				t.Fatalf("B2 has mode %q after close, want the change made while streaming (600)", v.Info["b2fs-mode"])
			}
			if fx := f.TakeMetaFixup(); fx != nil {
				t.Fatalf("a fix-up is left after the copy made at close: %v", fx)
			}
		})
	}
}
