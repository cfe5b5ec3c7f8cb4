package service

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// runB2fs runs the binary to completion.
func runB2fs(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t, "b2fs"), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func TestVersionHelpAndUsageErrors(t *testing.T) {
	code, out, errOut := runB2fs(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "b2fs ") || strings.Count(out, "\n") != 1 || errOut != "" {
		t.Errorf("--version: status %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runB2fs(t, nil, "--help")
	if code != 0 {
		t.Errorf("--help: status %d", code)
	}
	for _, want := range []string{
		"usage: b2fs [flags] [BUCKET[/PREFIX]] MOUNTPOINT", "examples:", "fstab:",
		"B2 account:", "mount:", "metadata cache:", "reading:", "writing:", "service:", "logging:",
		"--credentials-file", "--shutdown-timeout", "--metrics-addr", "--log-format", "--daemon", "--version",
		"-o OPTIONS", "x-systemd.*", "comment=*", "Exit status",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 200 {
			t.Errorf("--help line longer than 200 columns: %q", l)
		}
	}
	for _, args := range [][]string{
		{"--no-such-flag", "/mnt"},
		{"-o", "no_such_option", "b", "/mnt"},
		{"--log-format", "xml", "b", "/mnt"},
		{"--shutdown-timeout", "0s", "b", "/mnt"},
		{"a", "b", "c"},
		{},
	} {
		code, out, errOut := runB2fs(t, nil, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "b2fs: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: status %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errOut)
		}
	}
}

// TestLogsNeverShowTheKey: runs that fail in several ways (key rejected,
// failing uploads, missing bucket) log at debug level, and neither their
// output nor their command line contains the application key. Failed
// operations are logged with the path and B2's error code.
func TestLogsNeverShowTheKey(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	creds := e.credsFile(t)

	// Rejected key.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("key_id="+e.ts.KeyID+"\nkey=KTHISISTHEWRONGSECRETKEY0123\n"), 0o600)
	code, _, errOut := runB2fs(t, nil, "--endpoint", e.ts.URL, "--credentials-file", bad, "--log-level", "debug", bucket, mkdir(t, "m1"))
	if code != 1 || strings.Contains(errOut, "KTHISISTHEWRONGSECRETKEY0123") || !strings.Contains(errOut, "rejected") {
		t.Errorf("rejected key: status %d, stderr %q", code, errOut)
	}
	// Missing bucket.
	code, _, errOut = runB2fs(t, nil, "--endpoint", e.ts.URL, "--credentials-file", creds, "--log-level", "debug", "missing-bucket", mkdir(t, "m2"))
	if code != 1 || strings.Contains(errOut, e.ts.Key) {
		t.Errorf("missing bucket: status %d, stderr %q", code, errOut)
	}

	// A mount whose uploads fail, with an expired token on the way.
	p := e.start(procOpts{Args: []string{"--credentials-file", creds, "--debug-fuse"}, Env: []string{"B2_APPLICATION_KEY_ID=", "B2_APPLICATION_KEY="}})
	cl, _ := os.ReadFile("/proc/" + itoa(p.cmd.Process.Pid) + "/cmdline")
	if bytes.Contains(cl, []byte(e.ts.Key)) {
		t.Error("the key is on b2fs's command line")
	}
	e.ts.ExpireTokens()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 403, Code: "cap_exceeded", Message: "injected"})
	if err := os.WriteFile(filepath.Join(p.dir, "fails.txt"), []byte("data"), 0o644); err == nil {
		t.Error("write with failing uploads succeeded")
	}
	if _, err := os.ReadDir(filepath.Join(p.dir, "nothing-here")); err == nil {
		t.Error("listing a missing directory succeeded")
	}
	e.ts.ClearFaults()
	p.signal(syscall.SIGTERM)
	p.wait(30 * time.Second)
	logs := p.out.String()
	if strings.Contains(logs, e.ts.Key) {
		t.Fatalf("the key appears in the log:\n%s", logs)
	}
	var found bool
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "fails.txt") && strings.Contains(l, "b2_code=cap_exceeded") {
			found = true
		}
	}
	if !found {
		t.Errorf("no error line naming fails.txt and b2_code=cap_exceeded:\n%s", testenv.Tail(logs, 40))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
