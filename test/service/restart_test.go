package service

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestKill9Restart: b2fs is killed with SIGKILL while a file it could not
// upload is staged. Started again on the same mount point and cache
// directory, it detaches the stale mount ("transport endpoint is not
// connected"), mounts, and uploads the staged file; a staged file whose
// name changed in B2 meanwhile is kept and reported, not uploaded.
func TestKill9Restart(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	if _, err := e.ts.PutFile(bucket, "theirs.txt", []byte("original"), nil); err != nil {
		t.Fatal(err)
	}
	cache := mkdir(t, "cache")
	p1 := e.start(procOpts{CacheDir: cache})
	dir := p1.dir
	for _, api := range []string{"b2_upload_file", "b2_upload_part"} {
		e.ts.AddFault(b2emu.FaultRule{API: api, Times: -1, Status: 400, Code: "bad_request", Message: "injected permanent failure"})
	}
	small := testenv.Pattern(1, 3000)
	if err := os.WriteFile(filepath.Join(dir, "staged.bin"), small, 0o644); err == nil {
		t.Fatal("writing with every upload failing succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "theirs.txt"), []byte("mine"), 0o644); err == nil {
		t.Fatal("writing with every upload failing succeeded")
	}
	manifests, _ := filepath.Glob(filepath.Join(cache, "staging", "*", "*", "*.json"))
	if len(manifests) != 2 {
		t.Fatalf("staged manifests after failed uploads: %v", manifests)
	}
	p1.signal(syscall.SIGKILL)
	p1.wait(10 * time.Second)
	if errno := statErrno(dir); errno != syscall.ENOTCONN {
		t.Fatalf("stat of the mount point after SIGKILL: %v, want ENOTCONN", errno)
	}
	e.ts.ClearFaults()
	// Someone else changes theirs.txt while b2fs is down.
	if _, err := e.ts.PutFile(bucket, "theirs.txt", []byte("their newer version"), nil); err != nil {
		t.Fatal(err)
	}

	p2 := e.start(procOpts{Dir: dir, CacheDir: cache})
	out := p2.out.String()
	if !strings.Contains(out, "stale mount") {
		t.Errorf("no log of the stale mount:\n%s", out)
	}
	waitFor(t, 30*time.Second, "staged.bin to reach B2", func() bool { return e.remoteSHA1("staged.bin") == sha1Hex(small) })
	got, err := os.ReadFile(filepath.Join(dir, "staged.bin"))
	if err != nil || sha1Hex(got) != sha1Hex(small) {
		t.Fatalf("staged.bin through the new mount: %d bytes, %v", len(got), err)
	}
	if e.remoteSHA1("theirs.txt") != sha1Hex([]byte("their newer version")) {
		t.Error("the newer remote version of theirs.txt was overwritten")
	}
	if !strings.Contains(p2.out.String(), "the name changed in B2 since it was staged") {
		t.Errorf("the conflict is not logged:\n%s", p2.out)
	}
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p2.out)
	}
	// The conflicting copy is still in the cache directory; the uploaded
	// one is gone.
	left, _ := filepath.Glob(filepath.Join(cache, "staging", "*", "*", "*.data"))
	if len(left) != 1 {
		t.Fatalf("staged data left: %v (want only the conflict)", left)
	}
	if b, _ := os.ReadFile(left[0]); string(b) != "mine" {
		t.Errorf("kept conflict copy holds %q", b)
	}
}

// TestAlreadyMounted: a second b2fs on a live mount point refuses to
// stack on it and leaves the first one working.
func TestAlreadyMounted(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	p1 := e.start(procOpts{})
	p2 := e.start(procOpts{Dir: p1.dir, NoWait: true})
	if code := p2.wait(30 * time.Second); code != 1 || !strings.Contains(p2.out.String(), "already a mount point") {
		t.Fatalf("second b2fs: status %d:\n%s", code, p2.out)
	}
	if err := os.WriteFile(filepath.Join(p1.dir, "still.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatalf("the first mount broke: %v", err)
	}
}
