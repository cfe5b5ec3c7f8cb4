package service

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// freePort returns a 127.0.0.1 address nothing listens on (it was free a
// moment ago).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var authFailRE = regexp.MustCompile(`level=WARN msg="B2 authorization failed; retrying" endpoint=(\S+) attempt=(\d+) err="([^"]|\\")*connection refused`)

// TestStartupUnreachableB2: b2fs started against a closed port logs one
// line per failed attempt naming the endpoint and the error, gives up after
// --startup-timeout with one line on stderr and exit status 1 (which
// systemd's Restart=on-failure restarts, unlike the usage status 2), never
// shows the key, and leaves nothing mounted.
func TestStartupUnreachableB2(t *testing.T) {
	addr := freePort(t)
	url := "http://" + addr
	dir := mkdir(t, "mnt")
	const key = "KSECRETSTARTUPKEY0123456789"
	start := time.Now()
	code, _, errOut := runB2fs(t, []string{"B2_APPLICATION_KEY_ID=acct", "B2_APPLICATION_KEY=" + key},
		"--endpoint", url, "--startup-timeout", "6s", "--cache-dir", mkdir(t, "cache"), "--log-level", "debug", "bucket", dir)
	took := time.Since(start)
	if code != 1 {
		t.Errorf("exit status %d, want 1:\n%s", code, errOut)
	}
	if took < 5*time.Second || took > 20*time.Second {
		t.Errorf("gave up after %v, want about 6s", took)
	}
	if strings.Contains(errOut, key) {
		t.Fatalf("the key appears in the output:\n%s", errOut)
	}
	attempts := 0
	var last string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if g := authFailRE.FindStringSubmatch(l); g != nil {
			attempts++
			if g[1] != url {
				t.Errorf("log line names endpoint %q, want %q", g[1], url)
			}
			if g[2] != itoa(attempts) {
				t.Errorf("attempt %s logged as the %dth", g[2], attempts)
			}
		}
		last = l
	}
	if attempts < 2 {
		t.Errorf("%d failed attempts logged, want at least 2 (one line each):\n%s", attempts, errOut)
	}
	want := "b2fs: cannot reach B2 at " + url + " within --startup-timeout=6s"
	if !strings.HasPrefix(last, want) || !strings.Contains(last, "connection refused") {
		t.Errorf("last line %q, want %q... naming the error", last, want)
	}
	if testenv.IsMounted(dir) {
		t.Errorf("%s is mounted after a failed start", dir)
	}

	// A negative timeout is a usage error.
	code, _, errOut = runB2fs(t, nil, "--startup-timeout", "-1s", "bucket", dir)
	if code != 2 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("--startup-timeout -1s: status %d, stderr %q; want 2 and one line", code, errOut)
	}
}

// TestStartupWaitsForB2: b2fs started before its B2 endpoint is up (b2emu
// starts listening 3 s later) logs the failed attempts, mounts once B2
// answers, and works: a file written through the mount reaches B2.
func TestStartupWaitsForB2(t *testing.T) {
	testenv.RequireFUSE(t)
	addr := freePort(t)
	s, err := b2emu.New(b2emu.Options{Key: "KDELAYEDEMULATORKEY0123456", AbsoluteMinimumPartSize: 1 << 16, RecommendedPartSize: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateBucket(bucket, "allPrivate"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ts: &b2emu.TestServer{Server: s, URL: "http://" + addr, KeyID: "0123456789ab", Key: "KDELAYEDEMULATORKEY0123456"}}
	p := e.start(procOpts{NoWait: true, Args: []string{"--startup-timeout", "60s"}})

	time.Sleep(3 * time.Second)
	select {
	case <-p.exited:
		t.Fatalf("b2fs exited while B2 was unreachable (%v):\n%s", p.err, p.out)
	default:
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	p.waitMounted()

	logs := p.out.String()
	if n := len(authFailRE.FindAllString(logs, -1)); n < 1 {
		t.Errorf("no failed attempt logged before b2emu came up:\n%s", testenv.Tail(logs, 40))
	}
	if !strings.Contains(logs, `msg="B2 authorization succeeded" endpoint=`+e.ts.URL) {
		t.Errorf("success after retries not logged:\n%s", testenv.Tail(logs, 40))
	}
	data := []byte("written after a late start\n")
	if err := os.WriteFile(filepath.Join(p.dir, "late.txt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := e.remoteSHA1("late.txt"); got != sha1Hex(data) {
		t.Errorf("late.txt in B2: sha1 %q, want %q", got, sha1Hex(data))
	}
}

// TestStartupRetriesB2Unavailable: B2 answering 503 to the first two
// authorizations is logged as two retried attempts (with B2's error code)
// and b2fs mounts; a rejected key is not logged as a retry and fails at
// once with exit status 1.
func TestStartupRetriesB2Unavailable(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	e.ts.AddFault(b2emu.FaultRule{API: "b2_authorize_account", Times: 2, Status: 503})
	p := e.start(procOpts{})
	logs := p.out.String()
	re := regexp.MustCompile(`level=WARN msg="B2 authorization failed; retrying" endpoint=` + regexp.QuoteMeta(e.ts.URL) + ` attempt=(\d) err="[^\n]*503[^\n]*service_unavailable`)
	if n := len(re.FindAllString(logs, -1)); n != 2 {
		t.Errorf("%d retried attempts logged, want 2:\n%s", n, testenv.Tail(logs, 30))
	}
	if !strings.Contains(logs, `msg="B2 authorization succeeded" endpoint=`+e.ts.URL+" attempts=3") {
		t.Errorf("success on the third attempt not logged:\n%s", testenv.Tail(logs, 30))
	}

	start := time.Now()
	code, _, errOut := runB2fs(t, testenv.CredEnv(e.ts.KeyID, "KTHEWRONGKEY0123456789"), "--endpoint", e.ts.URL, "--cache-dir", mkdir(t, "c2"), bucket, mkdir(t, "m2"))
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "rejected") || time.Since(start) > 10*time.Second {
		t.Errorf("rejected key: status %d after %v, stderr %q; want 1 at once and one line", code, time.Since(start), errOut)
	}
}
