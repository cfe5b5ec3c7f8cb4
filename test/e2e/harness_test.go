package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// logFile is a subprocess's log file.
type logFile struct{ f *os.File }

func (l *logFile) String() string {
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

// mount is a running b2fs subprocess and its mount point.
type mount struct {
	Dir    string
	cmd    *exec.Cmd
	stderr *logFile
	exited chan struct{}
	err    error // valid once exited is closed
}

// mountOpts configure startMount.
type mountOpts struct {
	Source string   // BUCKET[/PREFIX], "" for the account
	Args   []string // extra flags
	KeyID  string   // default: the server's master key
	Key    string
	Demo   bool // run b2fs --demo (ts is nil)
}

// startMount runs b2fs against ts and waits until the mount is live. The
// mount is torn down in t.Cleanup: SIGTERM, bounded wait, lazy unmount and
// kill as last resorts.
func startMount(t testing.TB, ts *b2emu.TestServer, o mountOpts) *mount {
	t.Helper()
	testenv.RequireFUSE(t)
	bin := testenv.Binary(t, "b2fs")
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var args []string
	var keyID, key string
	if o.Demo {
		args = append([]string{"--demo", "--log-level", "debug"}, o.Args...)
	} else {
		args = append([]string{"--endpoint", ts.URL, "--log-level", "debug"}, o.Args...)
		keyID, key = ts.KeyID, ts.Key
	}
	if !o.Demo && !slices.Contains(o.Args, "--cache-dir") {
		// Staged files and the persistent read cache of a test stay in
		// the test's directory.
		args = append(args, "--cache-dir", filepath.Join(t.TempDir(), "cache"))
	}
	if o.Source != "" {
		args = append(args, o.Source)
	}
	args = append(args, dir)
	if o.KeyID != "" {
		keyID, key = o.KeyID, o.Key
	}
	lf, err := os.CreateTemp(t.TempDir(), "b2fs-log-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	m := &mount{Dir: dir, stderr: &logFile{f: lf}, exited: make(chan struct{})}
	m.cmd = exec.Command(bin, args...)
	// b2fs unmounts and exits if the test binary dies (a -timeout panic
	// runs no cleanup).
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	m.cmd.Env = testenv.CredEnv(keyID, key)
	// A file, not a pipe: b2fs writes its log directly, so a line logged
	// before a system call returns is readable as soon as it returns.
	m.cmd.Stderr = lf
	m.cmd.Stdout = lf
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.err = m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() { m.stop(t) })

	// Mounted is not enough: b2fs finishes starting (and logs "mounted")
	// only once the mount answers; a SIGTERM before that aborts the start.
	// (Benchmarks log only warnings: for them mounted has to do.)
	quiet := false
	for i, a := range o.Args {
		if a == "--log-level" && i+1 < len(o.Args) && o.Args[i+1] != "debug" && o.Args[i+1] != "info" {
			quiet = true
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !testenv.IsMounted(dir) || !(quiet || strings.Contains(m.stderr.String(), "msg=mounted")) {
		select {
		case <-m.exited:
			t.Fatalf("b2fs exited before mounting (%v):\n%s", m.err, m.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("b2fs did not mount %s within 30s:\n%s", dir, m.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m
}

// stop unmounts with SIGTERM and checks that b2fs exited 0.
func (m *mount) stop(t testing.TB) {
	t.Helper()
	select {
	case <-m.exited:
	default:
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
			if m.err != nil {
				t.Errorf("b2fs exited with %v after SIGTERM:\n%s", m.err, m.stderr)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("b2fs did not exit within 15s of SIGTERM:\n%s", m.stderr)
			m.dumpGoroutines(t)
		}
	}
	if testenv.IsMounted(m.Dir) {
		t.Errorf("%s still mounted after b2fs stopped", m.Dir)
		exec.Command("fusermount3", "-u", "-z", m.Dir).Run()
	}
	select {
	case <-m.exited:
	default:
		m.cmd.Process.Kill()
		<-m.exited
	}
	if s := m.stderr.String(); strings.Contains(s, "panic:") || strings.Contains(s, "goroutine ") || strings.Contains(s, "DATA RACE") {
		t.Errorf("b2fs log shows a crash:\n%s", s)
	}
	if t.Failed() {
		t.Logf("b2fs log:\n%s", testenv.Tail(m.stderr.String(), 60))
	}
}

// dumpGoroutines asks a hung b2fs for its goroutine stacks (SIGQUIT makes
// the Go runtime print them and exit) and logs them, so that a hang in a
// test run can be diagnosed from its output.
func (m *mount) dumpGoroutines(t testing.TB) {
	t.Helper()
	before := len(m.stderr.String())
	m.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
	}
	if s := m.stderr.String(); len(s) > before {
		t.Logf("b2fs goroutines after SIGQUIT:\n%s", testenv.Tail(s[before:], 2000))
	}
}

// sh runs a shell command (bounded) and returns its stdout; it fails the
// test on a non-zero exit.
func sh(t testing.TB, dir, script string) string {
	t.Helper()
	out, errOut, err := shErr(dir, script)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", script, err, testenv.Tail(out, 20), errOut)
	}
	return out
}

func shErr(dir, script string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// newServer starts b2emu with a bucket.
func newServer(t testing.TB, opts b2emu.Options, buckets ...string) *b2emu.TestServer {
	t.Helper()
	ts := b2emu.NewTestServer(t, opts)
	for _, b := range buckets {
		if _, err := ts.CreateBucket(b, "allPrivate"); err != nil {
			t.Fatal(err)
		}
	}
	return ts
}

func put(t testing.TB, ts *b2emu.TestServer, bucket, name string, body []byte, info map[string]string) {
	t.Helper()
	if _, err := ts.PutFile(bucket, name, body, info); err != nil {
		t.Fatalf("seed %s/%s: %v", bucket, name, err)
	}
}
