package service

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// ctlStatus is the part of b2fs status --json the tests read.
type ctlStatus struct {
	PendingFiles  int     `json:"pending_files"`
	PendingBytes  int64   `json:"pending_bytes"`
	Oldest        float64 `json:"oldest_pending_seconds"`
	Uploading     int     `json:"uploading"`
	UploadedBytes int64   `json:"uploaded_bytes"`
	UploadsDone   int64   `json:"uploads_done"`
	UploadErrors  int64   `json:"upload_errors"`
	RecentErrors  []struct {
		Error string `json:"error"`
	} `json:"recent_errors"`
	Calls map[string]int64   `json:"b2_calls"`
	Cost  map[string]float64 `json:"estimated_cost_dollars"`
	Total float64            `json:"estimated_cost_dollars_total"`
}

// b2fsCmd runs the b2fs binary with args (bounded) and returns its
// output and exit status.
func b2fsCmd(t *testing.T, wrap []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := testenv.Binary(t, "b2fs")
	argv := append(append(append([]string{}, wrap...), bin), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%v: %v", argv, err)
		}
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func status(t *testing.T, dir string) ctlStatus {
	t.Helper()
	out, errOut, code := b2fsCmd(t, nil, "status", "--json", dir)
	if code != 0 {
		t.Fatalf("b2fs status: exit %d: %s", code, errOut)
	}
	var s ctlStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("b2fs status --json: %v:\n%s", err, out)
	}
	return s
}

// pendingByFailedUploads writes files while B2 refuses uploads: each close
// fails, and the file stays staged and pending.
func pendingByFailedUploads(t *testing.T, e *env, dir string, files map[string][]byte) {
	t.Helper()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 403, Code: "cap_exceeded", Message: "injected refusal"})
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err == nil {
			t.Fatalf("writing %s succeeded while B2 refuses uploads", name)
		}
	}
	e.ts.ClearFaults()
}

// TestSyncWaitsForPendingUploads: with changes pending (uploads refused
// by B2, kept staged), b2fs status counts them, STATUS= shows them without
// being asked, and b2fs sync returns only once B2 has every file (the
// uploads are held up by the emulator meanwhile); a sync with a shorter
// --timeout gives up with status 1.
func TestSyncWaitsForPendingUploads(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	dir := mkdir(t, "mnt")
	sock, notes := notifySocket(t, dir)
	p := e.start(procOpts{Dir: dir, Env: []string{"NOTIFY_SOCKET=" + sock}})
	files := map[string][]byte{"a.txt": testenv.Pattern(1, 1000), "b.bin": testenv.Pattern(2, 30000)}
	before := status(t, p.dir)
	if before.PendingFiles != 0 || before.PendingBytes != 0 {
		t.Fatalf("pending before any write: %+v", before)
	}
	pendingByFailedUploads(t, e, p.dir, files)

	s := status(t, p.dir)
	if s.PendingFiles != 2 || s.PendingBytes != 31000 || s.Uploading != 0 {
		t.Errorf("status after two refused uploads: %+v, want 2 files, 31000 bytes", s)
	}
	if s.UploadErrors < 2 || len(s.RecentErrors) == 0 || !strings.Contains(s.RecentErrors[len(s.RecentErrors)-1].Error, "cap_exceeded") {
		t.Errorf("status does not show the refusals: %+v", s)
	}
	if s.Calls["C"] == 0 || s.Total <= 0 || s.Cost["A"] != 0 {
		t.Errorf("B2 calls and cost: %+v", s)
	}
	var seen []string
	next(t, notes, "pending files: 2 (30.3 KiB), uploading: 0, oldest ", &seen)
	out, _, code := b2fsCmd(t, nil, "status", p.dir)
	if code != 0 || !strings.Contains(out, "pending:   2 files, 30.3 KiB; oldest change") {
		t.Errorf("b2fs status (text): %d\n%s", code, out)
	}

	// Each upload now takes 2s.
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Action: "stall", Delay: b2emu.Duration(2 * time.Second)})
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "300ms", p.dir); code != 1 || !strings.Contains(errOut, "not every change is in B2 after 300ms") {
		t.Errorf("sync --timeout 300ms: exit %d: %s", code, errOut)
	}
	start := time.Now()
	type result struct {
		errOut string
		code   int
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, code := b2fsCmd(t, nil, "sync", p.dir)
		done <- result{errOut, code}
	}()
	time.Sleep(time.Second)
	select {
	case r := <-done:
		t.Fatalf("sync returned after %v with uploads held up (exit %d: %s)", time.Since(start), r.code, r.errOut)
	default:
	}
	for name := range files {
		if e.remoteSHA1(name) != "" && time.Since(start) < 2*time.Second {
			t.Errorf("%s in B2 before its held-up upload finished", name)
		}
	}
	r := <-done
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("sync: exit %d: %s", r.code, r.errOut)
	}
	for name, data := range files {
		if got := e.remoteSHA1(name); got != sha1Hex(data) {
			t.Errorf("%s after sync: SHA-1 %q, want %s", name, got, sha1Hex(data))
		}
	}
	if took < 2*time.Second {
		t.Errorf("sync returned after %v, before the 2s uploads could finish", took)
	}
	t.Logf("sync took %v", took)
	after := status(t, p.dir)
	if after.PendingFiles != 0 || after.PendingBytes != 0 || after.UploadedBytes < 31000 || after.UploadsDone < 2 {
		t.Errorf("status after sync: %+v", after)
	}
	e.ts.ClearFaults()
}

// TestControlRefusals: b2fs sync and status on a directory that is not a
// b2fs mount, as another user, and after b2fs was killed (a stale socket
// and a dead mount) fail with status 1 and one line; the next b2fs on the
// mount point answers again, and its socket is 0600 in a 0700 directory
// and goes away when it stops.
func TestControlRefusals(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	plain := t.TempDir()
	if _, errOut, code := b2fsCmd(t, nil, "sync", plain); code != 1 || !strings.Contains(errOut, "not a b2fs mount") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("sync on a plain directory: exit %d: %q", code, errOut)
	}
	if _, errOut, code := b2fsCmd(t, nil, "status", "/nonexistent/b2fs"); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("status on a missing path: exit %d: %q", code, errOut)
	}
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--bogus", plain); code != 2 || !strings.Contains(errOut, "unknown flag") {
		t.Errorf("sync --bogus: exit %d: %q", code, errOut)
	}

	p := e.start(procOpts{})
	dev := mountDevOf(t, p.dir)
	sock := "/run/b2fs/mount-" + strings.ReplaceAll(dev, ":", "-") + ".sock"
	// The socket comes a moment after the mount.
	waitFor(t, 10*time.Second, "the control socket "+sock, func() bool { _, err := os.Stat(sock); return err == nil })
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("control socket %s: %v %v", sock, st, err)
	}
	if dst, err := os.Stat("/run/b2fs"); err != nil || dst.Mode().Perm() != 0o700 {
		t.Errorf("/run/b2fs: %v %v", dst, err)
	}
	// Another user: refused with a clear message, before and at the socket.
	nobody := []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"}
	testenv.RequireTool(t, "setpriv")
	for _, op := range []string{"sync", "status"} {
		if _, errOut, code := b2fsCmd(t, nobody, op, p.dir); code != 1 || !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "belongs to uid 0") {
			t.Errorf("%s as nobody: exit %d: %q", op, code, errOut)
		}
	}
	// kill -9: the socket stays, the mount is dead.
	p.cmd.Process.Kill()
	<-p.exited
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("socket of the killed b2fs: %v", err)
	}
	if _, errOut, code := b2fsCmd(t, nil, "status", "--timeout", "10s", p.dir); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("status of a dead mount: exit %d: %q", code, errOut)
	}
	// The next b2fs cleans the stale mount and answers on its own socket.
	p2 := e.start(procOpts{Dir: p.dir})
	if s := status(t, p2.dir); s.PendingFiles != 0 {
		t.Errorf("status of the new mount: %+v", s)
	}
	dev2 := mountDevOf(t, p2.dir)
	sock2 := "/run/b2fs/mount-" + strings.ReplaceAll(dev2, ":", "-") + ".sock"
	if dev2 != dev {
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("stale socket %s still there after the next start: %v", sock, err)
		}
	}
	p2.signal(syscall.SIGTERM)
	if code := p2.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p2.out)
	}
	if _, err := os.Stat(sock2); !os.IsNotExist(err) {
		t.Errorf("socket %s left after the mount stopped: %v", sock2, err)
	}
	if _, errOut, code := b2fsCmd(t, nil, "sync", p2.dir); code != 1 || !strings.Contains(errOut, "not a b2fs mount") {
		t.Errorf("sync after unmount: exit %d: %q", code, errOut)
	}
}

// mountDevOf returns the device (major:minor) of the mount at dir from
// mountinfo.
func mountDevOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dev := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == dir {
			dev = f[2]
		}
	}
	if dev == "" {
		t.Fatalf("%s not in mountinfo", dir)
	}
	return dev
}

// TestDrainExtendsStopTimeout: SIGTERM with uploads pending that B2 takes
// a while to accept: while they make progress b2fs asks systemd for more
// time (EXTEND_TIMEOUT_USEC); what --shutdown-timeout does not allow is
// named in the log, kept, and uploaded by the next start.
func TestDrainExtendsStopTimeout(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	dir := mkdir(t, "mnt")
	cache := mkdir(t, "cache")
	sock, notes := notifySocket(t, dir)
	p := e.start(procOpts{Dir: dir, CacheDir: cache, Env: []string{"NOTIFY_SOCKET=" + sock}, Args: []string{"--shutdown-timeout", "7s"}})
	files := map[string][]byte{}
	for i, n := range []string{"f1.txt", "f2.txt", "f3.txt", "f4.txt", "f5.txt", "f6.txt"} {
		files[n] = testenv.Pattern(uint64(10+i), 5000)
	}
	pendingByFailedUploads(t, e, p.dir, files)
	if s := status(t, p.dir); s.PendingFiles != len(files) {
		t.Fatalf("pending: %+v", s)
	}
	// One upload every 1.5s: about 4 fit in 7s (the interval is 1s).
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Action: "stall", Delay: b2emu.Duration(1500 * time.Millisecond)})
	p.signal(syscall.SIGTERM)
	var seen []string
	n := next(t, notes, "EXTEND_TIMEOUT_USEC=", &seen)
	if !strings.Contains(n.msg, "STATUS=stopping: uploading; pending files: ") {
		t.Errorf("extension without the status: %q", n.msg)
	}
	var usec int64
	for _, l := range strings.Split(n.msg, "\n") {
		if v, ok := strings.CutPrefix(l, "EXTEND_TIMEOUT_USEC="); ok {
			usec = atoi64(v)
		}
	}
	if usec <= 0 || usec > int64(12*time.Second/time.Microsecond) {
		t.Errorf("EXTEND_TIMEOUT_USEC=%d: not within the shutdown timeout", usec)
	}
	code := p.wait(60 * time.Second)
	logs := p.out.String()
	var left []string
	for name := range files {
		if e.remoteSHA1(name) == "" {
			left = append(left, name)
			if !strings.Contains(logs, "not uploaded; kept in the cache directory") || !strings.Contains(logs, "file="+bucket+"/"+name) {
				t.Errorf("%s not in B2 and not named in the log", name)
			}
		}
	}
	if len(left) == 0 || len(left) == len(files) {
		t.Fatalf("%d of %d files left after the drain; want some but not all (exit %d)", len(left), len(files), code)
	}
	if code != 1 {
		t.Errorf("exit %d with %d files left, want 1", code, len(left))
	}
	t.Logf("left after the drain: %v", left)
	e.ts.ClearFaults()
	p2 := e.start(procOpts{Dir: dir, CacheDir: cache})
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "60s", p2.dir); code != 0 {
		t.Fatalf("sync after restart: exit %d: %s", code, errOut)
	}
	for name, data := range files {
		if got := e.remoteSHA1(name); got != sha1Hex(data) {
			t.Errorf("%s after the restart: SHA-1 %q, want %s", name, got, sha1Hex(data))
		}
	}
}

func atoi64(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// TestSyncWriteBack: in --write-back mode close returns before B2 has the
// files; b2fs status counts them, sync -f (syncfs) does not wait for them,
// b2fs sync returns only once the
// (held-up) uploads are done, and a file B2 refuses for good makes sync
// fail with status 1 and the refusal while its data stays pending.
func TestSyncWriteBack(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	p := e.start(procOpts{Args: []string{"--write-back=1h"}})
	files := map[string][]byte{"w1.txt": testenv.Pattern(21, 4000), "w2.txt": testenv.Pattern(22, 6000), "w3.bin": testenv.Pattern(23, 10000)}
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Action: "stall", Delay: b2emu.Duration(1500 * time.Millisecond)})
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := status(t, p.dir)
	if s.PendingFiles != 3 || s.PendingBytes != 20000 || s.Oldest <= 0 {
		t.Errorf("status after three closes in write-back mode: %+v, want 3 files, 20000 bytes", s)
	}
	for name := range files {
		if e.remoteSHA1(name) != "" {
			t.Errorf("%s in B2 before the write-back delay and before sync", name)
		}
	}
	// syncfs(2) does not reach b2fs (the kernel sends FUSE_SYNCFS to
	// virtiofs only): it returns at once and nothing is uploaded.
	testenv.RequireTool(t, "sync")
	if out, err := exec.Command("sync", "-f", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("sync -f: %v %s", err, out)
	}
	if s := status(t, p.dir); s.PendingFiles != 3 {
		t.Errorf("after sync -f: %+v, want the 3 files still pending (if syncfs now reaches b2fs, docs/write-back.md#syncfs is out of date)", s)
	}
	start := time.Now()
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "60s", p.dir); code != 0 {
		t.Fatalf("sync: exit %d: %s", code, errOut)
	}
	took := time.Since(start)
	for name, data := range files {
		if got := e.remoteSHA1(name); got != sha1Hex(data) {
			t.Errorf("%s after sync: SHA-1 %q, want %s", name, got, sha1Hex(data))
		}
	}
	if took < 1500*time.Millisecond {
		t.Errorf("sync returned after %v, before a held-up upload could finish", took)
	}
	if s := status(t, p.dir); s.PendingFiles != 0 || s.UploadsDone < 3 || s.UploadedBytes < 20000 {
		t.Errorf("status after sync: %+v", s)
	}
	t.Logf("sync of 3 held-up uploads took %v", took)

	e.ts.ClearFaults()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Status: 403, Code: "cap_exceeded", Message: "injected refusal"})
	if err := os.WriteFile(filepath.Join(p.dir, "refused.txt"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "60s", p.dir)
	if code != 1 || !strings.Contains(errOut, "refused") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("sync with a refused upload: exit %d: %q", code, errOut)
	}
	s = status(t, p.dir)
	if s.PendingFiles != 1 || s.UploadErrors == 0 || len(s.RecentErrors) == 0 || !strings.Contains(s.RecentErrors[len(s.RecentErrors)-1].Error, "cap_exceeded") {
		t.Errorf("status with a refused upload: %+v", s)
	}
	e.ts.ClearFaults()
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "60s", p.dir); code != 0 {
		t.Fatalf("sync once B2 accepts again: exit %d: %s", code, errOut)
	}
	if e.remoteSHA1("refused.txt") != sha1Hex([]byte("kept")) {
		t.Error("refused.txt not in B2 after the refusal ended and sync")
	}
}

// TestDrainWriteBack: SIGTERM in --write-back mode (one transfer at a time)
// with more pending files
// than --shutdown-timeout allows: EXTEND_TIMEOUT_USEC while they go up,
// the rest named in the log and uploaded by the next start.
func TestDrainWriteBack(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	dir, cache := mkdir(t, "mnt"), mkdir(t, "cache")
	sock, notes := notifySocket(t, dir)
	p := e.start(procOpts{Dir: dir, CacheDir: cache, Env: []string{"NOTIFY_SOCKET=" + sock}, Args: []string{"--write-back=1h", "--transfers", "1", "--shutdown-timeout", "7s"}})
	files := map[string][]byte{}
	for i := 0; i < 6; i++ {
		files["d"+itoa(i)+".txt"] = testenv.Pattern(uint64(30+i), 3000)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.ts.AddFault(b2emu.FaultRule{API: "b2_upload_file", Times: -1, Action: "stall", Delay: b2emu.Duration(1500 * time.Millisecond)})
	p.signal(syscall.SIGTERM)
	var seen []string
	next(t, notes, "EXTEND_TIMEOUT_USEC=", &seen)
	code := p.wait(60 * time.Second)
	logs := p.out.String()
	var left []string
	for name := range files {
		if e.remoteSHA1(name) == "" {
			left = append(left, name)
			if !strings.Contains(logs, "file="+bucket+"/"+name) {
				t.Errorf("%s not in B2 and not named in the log", name)
			}
		}
	}
	if len(left) == 0 || len(left) == len(files) || code != 1 {
		t.Fatalf("%d of %d files left, exit %d; want some but not all, and 1", len(left), len(files), code)
	}
	e.ts.ClearFaults()
	p2 := e.start(procOpts{Dir: dir, CacheDir: cache, Args: []string{"--write-back=1h"}})
	if _, errOut, code := b2fsCmd(t, nil, "sync", "--timeout", "60s", p2.dir); code != 0 {
		t.Fatalf("sync after restart: exit %d: %s", code, errOut)
	}
	for name, data := range files {
		if got := e.remoteSHA1(name); got != sha1Hex(data) {
			t.Errorf("%s after the restart: SHA-1 %q, want %s", name, got, sha1Hex(data))
		}
	}
}
