package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestBadInput runs b2fs with bad input: each case must fail with one clear
// line on stderr, the documented exit status, no crash, and nothing mounted.
func TestBadInput(t *testing.T) {
	testenv.RequireFUSE(t)
	bin := testenv.Binary(t, "b2fs")
	ts := newServer(t, b2emu.Options{}, "real-bucket")
	put(t, ts, "real-bucket", "f", []byte("x"), nil)
	base := t.TempDir()
	empty := func() string {
		d, err := os.MkdirTemp(base, "mnt")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	full := empty()
	os.WriteFile(filepath.Join(full, "occupied"), nil, 0o644)
	aFile := filepath.Join(base, "a-file")
	os.WriteFile(aFile, nil, 0o644)
	loose := filepath.Join(base, "creds")
	os.WriteFile(loose, []byte("key_id="+ts.KeyID+"\nkey="+ts.Key+"\n"), 0o644)
	os.Chmod(loose, 0o644)

	good := testenv.CredEnv(ts.KeyID, ts.Key)
	tests := []struct {
		name   string
		args   []string
		env    []string
		status int
		msg    string
	}{
		{"missing bucket", []string{"--endpoint", ts.URL, "no-such-bucket", empty()}, good, 1, `bucket "no-such-bucket" not found`},
		{"bad credentials", []string{"--endpoint", ts.URL, "real-bucket", empty()}, testenv.CredEnv(ts.KeyID, "wrong-key-value"), 1, "rejected"},
		{"no credentials", []string{"--endpoint", ts.URL, "real-bucket", empty()}, []string{"PATH=" + os.Getenv("PATH")}, 1, "no credentials"},
		{"loose credentials file", []string{"--endpoint", ts.URL, "--credentials-file", loose, "real-bucket", empty()}, []string{"PATH=" + os.Getenv("PATH")}, 1, "readable by group or others"},
		// Each failed attempt is a WARN line (TestStartupUnreachableB2);
		// at level error only the final line remains.
		{"unreachable endpoint", []string{"--endpoint", "http://127.0.0.1:1", "--startup-timeout", "2s", "--log-level", "error", "real-bucket", empty()}, good, 1, "cannot reach B2 at http://127.0.0.1:1 within --startup-timeout=2s"},
		{"missing mount point", []string{"--endpoint", ts.URL, "real-bucket", filepath.Join(base, "nope")}, good, 1, "does not exist"},
		{"mount point not empty", []string{"--endpoint", ts.URL, "real-bucket", full}, good, 1, "not empty"},
		{"mount point is a file", []string{"--endpoint", ts.URL, "real-bucket", aFile}, good, 1, "not a directory"},
		{"unknown flag", []string{"--frobnicate", "real-bucket", empty()}, good, 2, "unknown flag"},
		{"unknown -o option", []string{"-o", "frobnicate", "real-bucket", empty()}, good, 2, "unknown mount option"},
		{"no mount point", []string{}, good, 2, "MOUNTPOINT"},
		{"bad duration", []string{"--dir-cache-ttl", "soon", "real-bucket", empty()}, good, 2, "dir-cache-ttl"},
		{"bad --dir-markers", []string{"--endpoint", ts.URL, "--dir-markers", "some", "real-bucket", empty()}, good, 2, "--dir-markers must be needed or all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runEnv(tc.env, append([]string{bin}, tc.args...)...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.status {
				t.Fatalf("exit: %v, want status %d\nstderr: %s", err, tc.status, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "b2fs: ") || !strings.Contains(lines[0], tc.msg) {
				t.Fatalf("stderr %q, want one line containing %q", errOut, tc.msg)
			}
			if strings.Contains(errOut+out, ts.Key) || strings.Contains(errOut, "wrong-key-value") {
				t.Fatalf("output leaks the key: %s", errOut)
			}
			if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
				t.Fatalf("crash: %s", errOut)
			}
			if n := len(tc.args); n > 0 && testenv.IsMounted(tc.args[n-1]) {
				exec.Command("fusermount3", "-u", "-z", tc.args[n-1]).Run()
				t.Fatalf("%s left mounted", tc.args[n-1])
			}
		})
	}
}
