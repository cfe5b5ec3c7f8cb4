package service

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
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

const bucket = "svc-bucket"

// env is one emulator with a bucket.
type env struct {
	t  *testing.T
	ts *b2emu.TestServer
}

func newEnv(t *testing.T, opts b2emu.Options) *env {
	t.Helper()
	testenv.RequireFUSE(t)
	if opts.AbsoluteMinimumPartSize == 0 {
		opts.AbsoluteMinimumPartSize = 1 << 16
		opts.RecommendedPartSize = 1 << 16
	}
	ts := b2emu.NewTestServer(t, opts)
	if _, err := ts.CreateBucket(bucket, "allPrivate"); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ts: ts}
}

// proc is a running b2fs.
type proc struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	out    *testenv.SyncBuffer
	exited chan struct{}
	err    error // valid once exited is closed
}

// procOpts configure start.
type procOpts struct {
	Dir      string   // mount point (default: a new one)
	CacheDir string   // default: a new one
	Args     []string // extra flags
	Env      []string // extra environment
	NoWait   bool     // do not wait for the mount
	Wrap     []string // run b2fs through this command (e.g. setpriv ...)
}

// start runs b2fs on e's bucket. Credentials go in the environment, never
// on the command line. Cleanup stops it (SIGTERM, then lazy unmount and
// SIGKILL as last resorts).
func (e *env) start(o procOpts) *proc {
	t := e.t
	t.Helper()
	bin := testenv.Binary(t, "b2fs")
	if o.Dir == "" {
		o.Dir = mkdir(t, "mnt")
	}
	if o.CacheDir == "" {
		o.CacheDir = mkdir(t, "cache")
	}
	args := append([]string{"--endpoint", e.ts.URL, "--cache-dir", o.CacheDir, "--part-size", "65536", "--log-level", "debug"}, o.Args...)
	args = append(args, bucket, o.Dir)
	p := &proc{t: t, dir: o.Dir, out: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	if len(o.Wrap) > 0 {
		p.cmd = exec.Command(o.Wrap[0], append(append(o.Wrap[1:], bin), args...)...)
	} else {
		p.cmd = exec.Command(bin, args...)
	}
	p.cmd.Env = append(testenv.CredEnv(e.ts.KeyID, e.ts.Key), o.Env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.cleanup)
	if !o.NoWait {
		p.waitMounted()
	}
	return p
}

func (p *proc) waitMounted() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !(testenv.IsMounted(p.dir) && statErrno(p.dir) == 0 && isFUSE(p.dir)) {
		select {
		case <-p.exited:
			p.t.Fatalf("b2fs exited before mounting (%v):\n%s", p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("b2fs did not mount %s within 30s:\n%s", p.dir, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for b2fs to exit and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("b2fs did not exit within %v:\n%s", timeout, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal: %v", err)
	}
}

func (p *proc) cleanup() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			p.t.Errorf("b2fs did not exit within 20s of SIGTERM")
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	if testenv.IsMounted(p.dir) || statErrno(p.dir) == syscall.ENOTCONN {
		exec.Command("fusermount3", "-u", "-z", p.dir).Run()
	}
	s := p.out.String()
	if strings.Contains(s, "panic:") || strings.Contains(s, "DATA RACE") {
		p.t.Errorf("b2fs log shows a crash:\n%s", s)
	}
	if p.t.Failed() {
		p.t.Logf("b2fs log:\n%s", testenv.Tail(s, 80))
	}
}

func mkdir(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func statErrno(dir string) syscall.Errno {
	var st syscall.Stat_t
	err := syscall.Stat(dir, &st)
	if err == nil {
		// stat may be answered from cached attributes; statfs always
		// reaches the daemon.
		var sfs syscall.Statfs_t
		err = syscall.Statfs(dir, &sfs)
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return 0
}

// isFUSE reports whether statfs of dir says FUSE.
func isFUSE(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == 0x65735546
}

// client is a b2client on e's emulator (for checking what reached B2).
func (e *env) client() *b2client.Client {
	e.t.Helper()
	c, err := b2client.New(context.Background(), b2client.Config{Endpoint: e.ts.URL, KeyID: e.ts.KeyID, Key: e.ts.Key})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// remoteSHA1 downloads name from B2 and returns its SHA-1, or "" when it
// does not exist.
func (e *env) remoteSHA1(name string) string {
	e.t.Helper()
	r, err := e.client().Download(context.Background(), b2client.DownloadRequest{BucketName: bucket, Name: name})
	if err != nil {
		if b2client.IsNotFound(err) {
			return ""
		}
		e.t.Fatalf("download %s: %v", name, err)
	}
	defer r.Close()
	h := sha1.New()
	if _, err := io.Copy(h, r); err != nil {
		e.t.Fatalf("download %s: %v", name, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha1Hex(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

// sh runs a bounded shell command and returns stdout, stderr and the error.
func sh(script string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
