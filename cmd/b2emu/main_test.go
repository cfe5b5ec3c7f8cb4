package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1000": 1000, "5MB": 5_000_000, "5mb": 5_000_000, "64KiB": 65536, "1MiB": 1 << 20,
		"2GB": 2e9, "1.5KB": 1500, "7B": 7, "3k": 3000,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-5MB", "five", "1XB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// buildBinary builds cmd/b2emu into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "b2emu")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBinary(t *testing.T) {
	bin := buildBinary(t)

	// bad flags: one-line error, exit 2
	for _, args := range [][]string{{"--no-such-flag"}, {"--bandwidth", "fast"}, {"extra-arg"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "B2EMU_KEY=secret")
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%v: err %v output %q", args, err, out)
		}
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "B2EMU_KEY=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "B2EMU_KEY") {
		t.Errorf("missing key: %v %q", err, out)
	}

	data := t.TempDir()
	cmd = exec.Command(bin, "--listen", "127.0.0.1:0", "--key-id", "acct", "--bucket", "test-bucket",
		"--sample", "--data", data, "--min-part-size", "64KiB", "--latency", "1ms")
	cmd.Env = append(os.Environ(), "B2EMU_KEY=topsecret")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "b2emu listening on http://127.0.0.1:") {
		t.Fatalf("first line %q %v", line, err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "b2emu listening on "))

	req, _ := http.NewRequest("GET", base+"/b2api/v1/b2_authorize_account", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("acct:topsecret")))
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var auth map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&auth)
	resp.Body.Close()
	if resp.StatusCode != 200 || auth["absoluteMinimumPartSize"].(float64) != 65536 {
		t.Fatalf("authorize: %d %v", resp.StatusCode, auth)
	}
	// the sample was seeded into the first --bucket
	req, _ = http.NewRequest("GET", base+"/file/test-bucket/README.txt", nil)
	req.Header.Set("Authorization", auth["authorizationToken"].(string))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("sample README: %d", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(data, "journal.jsonl")); err != nil {
		t.Errorf("journal: %v", err)
	}
}
