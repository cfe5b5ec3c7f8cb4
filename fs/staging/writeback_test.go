package staging_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2fs/b2fs/fs/backend"
	"github.com/b2fs/b2fs/fs/errs"
	"github.com/b2fs/b2fs/fs/fstest"
	"github.com/b2fs/b2fs/fs/staging"
)

// faultyRemote is a Store whose uploads fail while fail returns an
// error, and which records how many run at once.
type faultyRemote struct {
	*fstest.Store
	mu      sync.Mutex
	fail    func() error
	delay   time.Duration
	running atomic.Int32
	peak    atomic.Int32
}

func (r *faultyRemote) UploadFile(ctx context.Context, req staging.UploadRequest, body io.ReaderAt, size int64) (backend.Object, error) {
	n := r.running.Add(1)
	defer r.running.Add(-1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(); err != nil {
			return backend.Object{}, err
		}
	}
	return r.Store.UploadFile(ctx, req, body, size)
}

func (r *faultyRemote) setFail(fn func() error) {
	r.mu.Lock()
	r.fail = fn
	r.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func wbManager(t *testing.T, r staging.Remote, o staging.Options) *staging.Manager {
	t.Helper()
	o.Dir = filepath.Join(t.TempDir(), "s")
	o.Remote = r
	o.PartSize, o.UploadCutoff = 1<<16, 1<<17
	o.WriteBack = true
	o.Logger = quiet
	m, err := staging.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	return m
}

func key(name string) staging.Key { return staging.Key{BucketID: "b1", BucketName: "b1", Name: name} }

// stage writes a new file and closes it (commit) without releasing it
// for the uploader's sake: the handle is released at once.
func stage(t *testing.T, m *staging.Manager, name string, data []byte) *staging.File {
	t.Helper()
	ctx := context.Background()
	f, err := m.Open(ctx, staging.OpenOptions{Key: key(name), Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, data, 0); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m.ReleaseWrite(f)
	return f
}

// TestWriteBackTransfersBound: many pending files go up in parallel, never
// more than Transfers at once.
func TestWriteBackTransfersBound(t *testing.T) {
	r := &faultyRemote{Store: fstest.NewStore("b1"), delay: 30 * time.Millisecond}
	m := wbManager(t, r, staging.Options{WriteBackDelay: time.Millisecond, Transfers: 4})
	start := time.Now()
	for i := 0; i < 24; i++ {
		stage(t, m, fmt.Sprintf("f%02d", i), []byte("x"))
	}
	if err := m.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if p := r.peak.Load(); p != 4 {
		t.Fatalf("peak concurrent uploads %d, want 4", p)
	}
	if got := len(r.Names("b1")); got != 24 {
		t.Fatalf("%d files in B2", got)
	}
	// 24 uploads of 30ms, 4 at a time: about 180ms, far from 720ms.
	if took > 600*time.Millisecond {
		t.Logf("took %v (a loaded machine?)", took)
	}
	if s := m.Stats(); s.UploadsDone != 24 || s.PendingFiles != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestWriteBackRetriesUntilUploaded: a failing upload is retried with
// back-off and never dropped; the failures are counted and reported.
func TestWriteBackRetriesUntilUploaded(t *testing.T) {
	r := &faultyRemote{Store: fstest.NewStore("b1")}
	var n atomic.Int32
	r.setFail(func() error {
		if n.Add(1) <= 2 {
			return fmt.Errorf("503 service unavailable: %w", errs.ErrIO)
		}
		return nil
	})
	m := wbManager(t, r, staging.Options{WriteBackDelay: time.Millisecond})
	stage(t, m, "a", []byte("data"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := r.Get("b1", "a"); !ok || string(data) != "data" {
		t.Fatalf("B2 has %q %v", data, ok)
	}
	s := m.Stats()
	if s.Retries != 2 || len(s.RecentErrors) != 2 || s.RecentErrors[0].Name != "b1/a" || !strings.Contains(s.RecentErrors[0].Err, "503") {
		t.Fatalf("stats %+v", s)
	}
}

// TestWriteBackRefusalKept: a permanent refusal (the key may not write)
// fails Sync with the file named, keeps the file pending and its data
// staged; once B2 accepts, it goes up.
func TestWriteBackRefusalKept(t *testing.T) {
	r := &faultyRemote{Store: fstest.NewStore("b1")}
	r.setFail(func() error { return fmt.Errorf("unauthorized: %w", errs.ErrAccess) })
	m := wbManager(t, r, staging.Options{WriteBackDelay: time.Millisecond})
	stage(t, m, "a", []byte("keep me"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := m.Sync(ctx)
	if err == nil || !errors.Is(err, errs.ErrAccess) || !strings.Contains(err.Error(), "b1/a") {
		t.Fatalf("Sync: %v", err)
	}
	if s := m.Stats(); s.PendingFiles != 1 || s.PendingBytes != 7 {
		t.Fatalf("stats after refusal %+v", s)
	}
	r.setFail(nil)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, data, ok := r.Get("b1", "a"); !ok || string(data) != "keep me" {
		t.Fatalf("B2 has %q %v", data, ok)
	}
}

// TestWriteBackBackpressure: with the staging area full of pending
// files, a writer waits for uploads to free space instead of failing with
// ENOSPC; a single file bigger than the bound still fails.
func TestWriteBackBackpressure(t *testing.T) {
	r := &faultyRemote{Store: fstest.NewStore("b1"), delay: 50 * time.Millisecond}
	m := wbManager(t, r, staging.Options{WriteBackDelay: time.Hour, MaxSize: 1000})
	stage(t, m, "a", make([]byte, 600))
	stage(t, m, "b", make([]byte, 300))
	// 900 of 1000 bytes pending for an hour: this write needs a's space.
	stage(t, m, "c", make([]byte, 500))
	if got := len(r.Names("b1")); got == 0 {
		t.Fatal("nothing was uploaded to make room")
	}
	ctx := context.Background()
	g, err := m.Open(ctx, staging.OpenOptions{Key: key("huge"), Write: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.ReleaseWrite(g)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(ctx, make([]byte, 2000), 0); !errors.Is(err, errs.ErrNoSpace) {
		t.Fatalf("a write beyond the bound with nothing to upload: %v", err)
	}
}

// finishFails is a Store whose large files cannot be finished.
type finishFails struct{ *fstest.Store }

func (r finishFails) FinishLargeFile(ctx context.Context, id string, shas []string) (backend.Object, error) {
	return backend.Object{}, fmt.Errorf("connection reset: %w", errs.ErrIO)
}

// TestWriteBackResumesLargeFile: a large file whose upload was cut after
// its parts went up (the process then killed) is finished at the next
// start without sending its parts again.
func TestWriteBackResumesLargeFile(t *testing.T) {
	ctx := context.Background()
	st := fstest.NewStore("b1")
	dir := filepath.Join(t.TempDir(), "s")
	opts := staging.Options{Dir: dir, PartSize: 1 << 16, UploadCutoff: 1 << 17, WriteBack: true, WriteBackDelay: time.Hour, Logger: quiet}
	o1 := opts
	o1.Remote = finishFails{st}
	m1, err := staging.New(o1)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<16+1234)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f := stage(t, m1, "big", data)
	if err := f.Flush(ctx); err == nil {
		t.Fatal("the upload was not cut")
	}
	if n := st.Calls("UploadPart"); n != 5 {
		t.Fatalf("%d parts sent before the cut", n)
	}
	m1.Abandon() // kill -9

	o2 := opts
	o2.Remote = st
	m2, err := staging.New(o2)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	if _, err := m2.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, got, ok := st.Get("b1", "big"); !ok || string(got) != string(data) {
		t.Fatalf("B2 has %d bytes %v", len(got), ok)
	}
	if n := st.Calls("UploadPart"); n != 5 {
		t.Fatalf("%d parts sent in all, want the 5 of the first run (calls %v)", n, st.AllCalls())
	}
	if n := st.Calls("ListParts"); n != 1 {
		t.Fatalf("%d ListParts calls", n)
	}
	if n := st.Calls("CancelLargeFile"); n != 0 {
		t.Fatalf("the large file was cancelled (%d)", n)
	}
}

// TestWriteBackReleaseDuringUploadShown: a reader that lets go of a
// pending file while its background upload runs (cat, git hashing the
// file) must not drop the file from the Manager before the upload hook
// has shown the new version: the filesystem would find no staged file,
// keep showing the version before the upload, and the next append would
// build on it (a lost write).
func TestWriteBackReleaseDuringUploadShown(t *testing.T) {
	r := &faultyRemote{Store: fstest.NewStore("b1")}
	m := wbManager(t, r, staging.Options{WriteBackDelay: time.Millisecond})
	released := make(chan struct{})
	found := make(chan bool, 1)
	m.SetUploadHook(func(k staging.Key, f *staging.File) {
		<-released
		found <- m.Lookup(k) == f
	})
	ctx := context.Background()
	reader, err := m.Open(ctx, staging.OpenOptions{Key: key("a")})
	if err != nil {
		t.Fatal(err)
	}
	f := stage(t, m, "a", []byte("data"))
	if reader != f {
		t.Fatal("the reader and the writer have different staged files")
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Dirty() { // uploaded; the hook waits for the release
		if time.Now().After(deadline) {
			t.Fatal("the background upload did not end")
		}
		time.Sleep(time.Millisecond)
	}
	m.Release(reader) // the last handle goes before the upload is shown
	close(released)
	select {
	case ok := <-found:
		if !ok {
			t.Fatal("the upload hook did not find the uploaded file under its name (let go before shown)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no upload hook")
	}
	for m.Lookup(key("a")) != nil { // let go once shown
		if time.Now().After(deadline) {
			t.Fatal("the uploaded file stays in the Manager after it was shown")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriteBackMetaOfOpenFileKeepsLaterWrites: a metadata change of a
// small file open for writing, made between two writes, records the
// change durably without taking the bytes of the moment for the content:
// after a kill -9 the file has every byte written (the data file is
// intact), not the bytes it had at the chmod (the model found a file of
// 39 bytes recovered with the 2 it had when it was chmodded).
func TestWriteBackMetaOfOpenFileKeepsLaterWrites(t *testing.T) {
	ctx := context.Background()
	st := fstest.NewStore("b1")
	dir := filepath.Join(t.TempDir(), "s")
	opts := staging.Options{Dir: dir, Remote: st, PartSize: 1 << 16, UploadCutoff: 1 << 17, Logger: quiet,
		WriteBack: true, WriteBackDelay: time.Hour}
	m1, err := staging.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m1.Open(ctx, staging.OpenOptions{Key: key("a"), Write: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, []byte("ab"), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.SetInfo(ctx, func(info map[string]string) error { info["b2fs-mode"] = "776"; return nil }); !ok || err != nil {
		t.Fatalf("SetInfo: %v %v", ok, err)
	}
	rest := strings.Repeat("c", 38)
	if _, err := f.WriteAt(ctx, []byte(rest), 1); err != nil {
		t.Fatal(err)
	}
	m1.Abandon() // kill -9: the data file keeps what was written
	opts.WriteBackDelay = time.Millisecond
	m2, err := staging.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	if _, err := m2.Recover(ctx, st.Current); err != nil {
		t.Fatal(err)
	}
	if err := m2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	o, got, ok := st.Get("b1", "a")
	if !ok || string(got) != "a"+rest {
		t.Errorf("B2 has %q (%v), want the 39 bytes written", got, ok)
	}
	if o.Info["b2fs-mode"] != "776" {
		t.Errorf("B2 has info %v, want the mode change", o.Info)
	}
}
