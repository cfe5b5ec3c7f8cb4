package crash

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

const (
	bucket   = "crash-bucket"
	partSize = 256 << 10 // b2fs --part-size; the upload cutoff is twice that
)

// mode is a b2fs configuration under test.
type mode struct {
	name string
	args []string
}

var (
	modeDefault   = mode{"default", nil}
	modeWriteBack = mode{"writeback", []string{"--write-back=200ms"}}
)

// env is one emulator with a bucket, the b2fs processes started on it, and
// a client to look at what reached B2.
type env struct {
	t        *testing.T
	ts       *b2emu.TestServer
	c        *b2client.Client
	bucketID string
	mode     mode
	dir      string // mount point
	cache    string // cache directory of the crashed mount and its restart
}

func newEnv(t *testing.T, m mode) *env {
	t.Helper()
	testenv.RequireFUSE(t)
	ts := b2emu.NewTestServer(t, b2emu.Options{AbsoluteMinimumPartSize: partSize, RecommendedPartSize: partSize,
		Latency: 3 * time.Millisecond})
	id, err := ts.CreateBucket(bucket, "allPrivate")
	if err != nil {
		t.Fatal(err)
	}
	c, err := b2client.New(context.Background(), b2client.Config{Endpoint: ts.URL, KeyID: ts.KeyID, Key: ts.Key})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ts: ts, c: c, bucketID: id, mode: m, dir: filepath.Join(t.TempDir(), "mnt"), cache: filepath.Join(t.TempDir(), "cache")}
	if err := os.Mkdir(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// proc is one running b2fs.
type proc struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	log    string // log file
	start  int64  // offset of this process's part of the log
	exited chan struct{}
	err    error // valid once exited is closed
}

// start runs b2fs on the bucket at dir with cache directory cache and
// waits until it has mounted and finished starting. Credentials travel in
// the environment. Cleanup stops it (SIGTERM, then SIGKILL and a lazy
// unmount as last resorts).
func (e *env) start(dir, cache string) *proc {
	t := e.t
	t.Helper()
	bin := testenv.Binary(t, "b2fs")
	logPath := filepath.Join(filepath.Dir(e.cache), "b2fs.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	off, _ := lf.Seek(0, io.SeekEnd)
	args := append([]string{"--endpoint", e.ts.URL, "--cache-dir", cache, "--part-size", fmt.Sprint(partSize),
		"--log-level", "debug"}, e.mode.args...)
	args = append(args, bucket, dir)
	fmt.Fprintf(lf, "=== crash test: b2fs %s\n", strings.Join(args, " "))
	p := &proc{t: t, dir: dir, log: logPath, start: off, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // b2fs goes if the test binary dies
	p.cmd.Env = testenv.CredEnv(e.ts.KeyID, e.ts.Key)
	p.cmd.Stdout, p.cmd.Stderr = lf, lf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.cleanup)
	deadline := time.Now().Add(60 * time.Second)
	for !(testenv.IsMounted(dir) && strings.Contains(p.output(), "msg=mounted")) {
		select {
		case <-p.exited:
			t.Fatalf("b2fs exited before mounting (%v):\n%s", p.err, testenv.Tail(p.output(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("b2fs did not mount %s within 60s:\n%s", dir, testenv.Tail(p.output(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// output is this process's part of the log.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b[min(int64(len(b)), p.start):])
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends b2fs with SIGKILL and waits for it; the mount stays behind,
// dead (ENOTCONN), as after a crash.
func (p *proc) kill() {
	if p.alive() {
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// stop unmounts cleanly: SIGTERM, and b2fs must exit 0 once it has
// uploaded what is pending.
func (p *proc) stop() {
	p.t.Helper()
	if !p.alive() {
		p.t.Fatalf("b2fs had exited: %v\n%s", p.err, testenv.Tail(p.output(), 40))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(2 * time.Second)
		p.t.Fatalf("b2fs did not exit within 2m of SIGTERM:\n%s", testenv.Tail(p.output(), 200))
	}
	if p.err != nil {
		p.t.Fatalf("b2fs exited with %v after SIGTERM:\n%s", p.err, testenv.Tail(p.output(), 40))
	}
	if testenv.IsMounted(p.dir) {
		p.t.Fatalf("%s still mounted after b2fs exited", p.dir)
	}
}

func (p *proc) cleanup() {
	if p.alive() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			p.t.Errorf("b2fs did not exit within 30s of SIGTERM")
			p.kill()
		}
	}
	var st syscall.Stat_t
	if testenv.IsMounted(p.dir) || syscall.Stat(p.dir, &st) == syscall.ENOTCONN {
		exec.Command("fusermount3", "-u", "-z", p.dir).Run()
	}
	s := p.output()
	if strings.Contains(s, "panic:") || strings.Contains(s, "DATA RACE") || strings.Contains(s, "fatal error:") {
		p.t.Errorf("b2fs log shows a crash:\n%s", testenv.Tail(s, 100))
	}
}

// settle waits until a restarted b2fs has nothing of the crashed run left
// to upload, so that what it shows is what B2 will hold. It is the one
// place that knows how to wait for B2: with the default mode b2fs uploads
// what an earlier run staged in the background after mounting and logs
// when it is done; with --write-back, b2fs sync returns once everything
// pending is in B2.
func (e *env) settle(p *proc) {
	e.t.Helper()
	if e.mode.name == modeWriteBack.name {
		// Without b2fs sync, the clean unmount that follows drains.
		if hasSync(e.t) {
			e.syncMount(p)
		}
		return
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := p.output()
		if !strings.Contains(s, `msg="staged files of an earlier run"`) || strings.Contains(s, "to_upload=0") ||
			strings.Contains(s, `msg="uploaded the staged files of an earlier run"`) {
			return
		}
		if strings.Contains(s, `msg="uploading staged files of an earlier run"`) {
			e.t.Fatalf("uploading the recovered files failed:\n%s", testenv.Tail(s, 40))
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("recovered files not uploaded within 2m:\n%s", testenv.Tail(s, 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hasSync tells whether b2fs has the sync command.
func hasSync(t *testing.T) bool {
	out, _ := exec.Command(testenv.Binary(t, "b2fs"), "sync", "--help").CombinedOutput()
	return strings.Contains(string(out), "usage: b2fs sync")
}

// syncMount runs b2fs sync on p's mount point: it returns once every change
// pending when it was called is in B2.
func (e *env) syncMount(p *proc) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Binary(e.t, "b2fs"), "sync", p.dir).CombinedOutput()
	if err != nil {
		e.t.Fatalf("b2fs sync %s: %v\n%s\nb2fs log:\n%s", p.dir, err, out, testenv.Tail(p.output(), 40))
	}
}

// ---- what B2 holds ----

func sha1Hex(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

// versions lists every stored version in the bucket (uploads and hide
// markers), newest first per name.
func (e *env) versions() []b2client.File {
	e.t.Helper()
	var out []b2client.File
	for f, err := range e.c.FileVersions(context.Background(), e.bucketID, b2client.ListOptions{PageSize: 10000}) {
		if err != nil {
			e.t.Fatalf("list versions: %v", err)
		}
		out = append(out, f)
	}
	return out
}

// current lists the visible files (latest versions that are uploads) by name.
func (e *env) current() map[string]b2client.File {
	e.t.Helper()
	out := map[string]b2client.File{}
	for f, err := range e.c.Files(context.Background(), e.bucketID, b2client.ListOptions{PageSize: 10000}) {
		if err != nil {
			e.t.Fatalf("list files: %v", err)
		}
		out[f.Name] = f
	}
	return out
}

// content downloads one version by id.
func (e *env) content(f b2client.File) []byte {
	e.t.Helper()
	r, err := e.c.Download(context.Background(), b2client.DownloadRequest{FileID: f.ID})
	if err != nil {
		e.t.Fatalf("download %s (%s): %v", f.Name, f.ID, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		e.t.Fatalf("download %s (%s): %v", f.Name, f.ID, err)
	}
	return b
}

// versionSHA1 is a version's SHA-1, downloaded when B2 does not know it.
func (e *env) versionSHA1(f b2client.File) string {
	if s := f.ContentSHA1(); s != "" {
		return s
	}
	return sha1Hex(e.content(f))
}

// unfinished lists the large files started and neither finished nor
// cancelled.
func (e *env) unfinished() []b2client.File {
	e.t.Helper()
	p, err := e.c.ListUnfinishedLargeFiles(context.Background(), e.bucketID, b2client.UnfinishedOptions{})
	if err != nil {
		e.t.Fatalf("list unfinished large files: %v", err)
	}
	return p.Files
}
