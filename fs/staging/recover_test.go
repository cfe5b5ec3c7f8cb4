package staging

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/b2emu"
)

// crashedManager is a second Manager on e's staging directory that is
// abandoned without Close, the way a killed process leaves it (call crash
// once it is done).
func (e *env) crashedManager() *Manager {
	e.t.Helper()
	m, err := New(Options{
		Dir: filepath.Dir(e.m.Dir()), Remote: e.remote, PartSize: testPart, UploadCutoff: testCutoff,
		Concurrency: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// crash makes m stop as if its process died: its instance lock is
// released, nothing is flushed or removed.
func crash(m *Manager) {
	m.cancel()
	m.mu.Lock()
	m.files = map[mapKey]*File{}
	m.mu.Unlock()
	m.lock.Close()
}

// stageFailed writes data into name (from base when non-nil, at off) with
// every upload failing, so the staged copy stays with a "failed" manifest.
func (e *env) stageFailed(m *Manager, name string, base *Base, data []byte, off int64) {
	e.t.Helper()
	ctx := context.Background()
	for _, api := range []string{"b2_upload_file", "b2_upload_part", "b2_copy_part"} {
		e.emu.AddFault(b2emu.FaultRule{API: api, Times: -1, Status: 400, Code: "bad_request"})
	}
	defer e.emu.ClearFaults()
	f, err := m.Open(ctx, OpenOptions{Key: e.key(name), Base: base})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.WriteAt(ctx, data, off); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Flush(ctx); err == nil {
		e.t.Fatal("upload succeeded despite the injected faults")
	}
	if st, _ := f.State(); st != StateFailed {
		e.t.Fatalf("state %s after a failed upload", st)
	}
	// The process dies here: no Release, no Close.
}

func TestRecover(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	rnd := rand.New(rand.NewSource(5))
	crashed := e.crashedManager()

	small := randBytes(rnd, 1000)
	e.stageFailed(crashed, "new-small.txt", nil, small, 0)

	large := randBytes(rnd, 3*testPart+17)
	e.stageFailed(crashed, "dir/new-large.bin", nil, large, 0)

	baseBody := randBytes(rnd, 3*testPart)
	base := e.put("patched.bin", baseBody)
	patch := []byte("PATCHED IN THE MIDDLE")
	e.stageFailed(crashed, "patched.bin", base, patch, testPart+5)
	wantPatched := append([]byte(nil), baseBody...)
	copy(wantPatched[testPart+5:], patch)

	e.put("conflict.txt", []byte("version one"))
	v1, _ := e.remoteContent("conflict.txt")
	e.stageFailed(crashed, "conflict.txt", &Base{FileID: v1.ID, Size: v1.Size}, []byte("mine"), 0)
	e.put("conflict.txt", []byte("someone else's newer version"))

	e.stageFailed(crashed, "done.txt", nil, []byte("same bytes"), 0)
	e.put("done.txt", []byte("same bytes")) // the upload landed, the manifest did not learn it

	e.stageFailed(crashed, "deleted-new.txt", nil, []byte("x"), 0)
	e.put("deleted-new.txt", []byte("other")) // a new name taken by someone else

	// A fresh run on the same directory.
	crash(crashed)
	res, err := e.m.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]RecoverResult{}
	for _, r := range res {
		got[r.Key.Name] = r
	}
	want := map[string]Outcome{
		"new-small.txt":     RecoveredPending,
		"dir/new-large.bin": RecoveredPending,
		"patched.bin":       RecoveredPending,
		"conflict.txt":      RecoveredConflict,
		"done.txt":          RecoveredAlreadyInB2,
		"deleted-new.txt":   RecoveredConflict,
	}
	for name, o := range want {
		r, ok := got[name]
		if !ok || r.Outcome != o {
			t.Errorf("%s: got %+v, want %s", name, r, o)
		}
	}
	if len(res) != len(want) {
		t.Errorf("%d results, want %d: %+v", len(res), len(want), res)
	}
	if n, _, _ := e.m.PendingStats(); n != 3 {
		t.Errorf("%d files pending after recovery, want 3", n)
	}
	if err := e.m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	e.checkRemote("new-small.txt", small)
	e.checkRemote("dir/new-large.bin", large)
	e.checkRemote("patched.bin", wantPatched)
	e.checkRemote("conflict.txt", []byte("someone else's newer version"))

	// The conflict keeps its staged copy; the others are gone.
	c := got["conflict.txt"]
	if b, err := os.ReadFile(c.Data); err != nil || !bytes.Equal(b, []byte("mineion one")) {
		t.Errorf("conflict's staged copy: %q, %v", b, err)
	}
	if _, err := os.Stat(c.Manifest); err != nil {
		t.Errorf("conflict's manifest: %v", err)
	}
	for _, name := range []string{"new-small.txt", "dir/new-large.bin", "patched.bin", "done.txt"} {
		if st, err := os.Stat(got[name].Data); !os.IsNotExist(err) && (err != nil || st.Size() != 0) {
			t.Errorf("%s: staged data still there (%v)", name, err)
		}
	}
	if n, _, _ := e.m.PendingStats(); n != 0 {
		t.Errorf("%d files pending after Drain", n)
	}
	all, _ := filepath.Glob(filepath.Join(filepath.Dir(e.m.Dir()), "*", "*.json"))
	var left []string
	for _, p := range all {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 { // empty ones are pooled for reuse
			left = append(left, p)
		}
	}
	if len(left) != 2 {
		t.Errorf("manifests left: %v (want the two conflicts)", left)
	}
	// Recovering again changes nothing and reports the conflicts again.
	res, _ = e.m.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
	if len(res) != 2 || res[0].Outcome != RecoveredConflict || res[1].Outcome != RecoveredConflict {
		t.Errorf("second recovery: %+v", res)
	}
}

// TestRecoverFailureStaysPending: an upload that fails after recovery
// leaves the file pending in the Manager; Close then uploads it.
func TestRecoverFailureStaysPending(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	crashed := e.crashedManager()
	e.stageFailed(crashed, "later.txt", nil, []byte("later"), 0)
	crash(crashed)
	res, err := e.m.Recover(ctx, e.remote.Remote.(*B2Remote).Current)
	if err != nil || len(res) != 1 || res[0].Outcome != RecoveredPending {
		t.Fatalf("recover: %+v, %v", res, err)
	}
	e.emu.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 400, Code: "bad_request"})
	if err := e.m.Drain(ctx); err == nil || !strings.Contains(err.Error(), "later.txt") {
		t.Fatalf("Drain with failing uploads: %v", err)
	}
	if n, _, b := e.m.PendingStats(); n != 1 || b != 5 {
		t.Fatalf("pending %d files %d bytes, want 1 and 5", n, b)
	}
	if p := e.m.Pending(); len(p) != 1 || p[0].Name != "later.txt" {
		t.Fatalf("Pending() = %v", p)
	}
	e.emu.ClearFaults()
	if err := e.m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	e.checkRemote("later.txt", []byte("later"))
}

// TestDrainShowsUploads: Drain calls the upload hook for each recovered
// file it uploads, before it lets the file go, so that the filesystem
// shows the new version (its listings do not have it yet).
func TestDrainShowsUploads(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	crashed := e.crashedManager()
	e.stageFailed(crashed, "r.txt", nil, []byte("recovered"), 0)
	crash(crashed)
	if res, err := e.m.Recover(ctx, e.remote.Remote.(*B2Remote).Current); err != nil || len(res) != 1 || res[0].Outcome != RecoveredPending {
		t.Fatalf("recover: %+v, %v", res, err)
	}
	var shown []string
	e.m.SetUploadHook(func(k Key, f *File) {
		if e.m.Lookup(k) != f {
			t.Error("the hook ran after the file was let go")
		}
		if id, size, _, _ := f.Uploaded(); id == "" || size != 9 {
			t.Errorf("hook: version %q of %d bytes", id, size)
		}
		shown = append(shown, k.Name)
	})
	if err := e.m.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0] != "r.txt" {
		t.Errorf("hook saw %v, want r.txt", shown)
	}
	if e.m.Lookup(e.key("r.txt")) != nil {
		t.Error("the uploaded file is still staged")
	}
}
