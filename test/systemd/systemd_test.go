// Package systemd runs b2fs the way a user on Debian does, under a real
// systemd: it boots Debian bookworm in a container (debootstrap, then
// systemd-nspawn --boot), installs the b2fs Debian package with dpkg -i,
// runs b2emu as a unit of its own, and drives b2fs@NAME.service (the
// shipped unit, unchanged), an fstab x-systemd.automount line and
// mount -t fuse.b2fs with systemctl, nsenter and ordinary tools.
//
// The container shares the host's network namespace; b2emu listens on
// 127.0.0.1 only and b2fs talks to nothing else. debootstrap reaches only
// the Debian mirror apt already uses; its result is cached (cachedRoot).
package systemd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/b2client"
	"github.com/b2fs/b2fs/test/testenv"
)

const (
	bucket  = "svc-bucket"
	keyID   = "svc-test"
	hello   = "hello from B2\n"
	wdSec   = 5 // WatchdogSec of the b2fs@wd drop-in
	fileLen = 300_000
	// slowChunk is what the writer of the file held open through the stop
	// writes every 0.1s, 30 times.
	slowChunk = 65_536
)

// setup is what the test writes into the container before booting it.
type setup struct {
	deb      string
	port     int
	secret   string
	endpoint string
}

func (s setup) write(t *testing.T, root string) {
	t.Helper()
	put := func(path, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	deb, err := os.ReadFile(s.deb)
	if err != nil {
		t.Fatal(err)
	}
	put("root/b2fs.deb", string(deb), 0o644)

	// b2emu, a unit of its own; its latency comes from /etc/default/b2emu.
	put("etc/default/b2emu", fmt.Sprintf("B2EMU_KEY=%s\nB2EMU_LATENCY=400ms\n", s.secret), 0o600)
	put("etc/systemd/system/b2emu.service", fmt.Sprintf(`[Unit]
Description=B2 emulator for the b2fs service test

[Service]
EnvironmentFile=/etc/default/b2emu
StateDirectory=b2emu
ExecStart=/usr/bin/b2emu --listen 127.0.0.1:%d --key-id %s --bucket %s --data /var/lib/b2emu --latency ${B2EMU_LATENCY}
`, s.port, keyID, bucket), 0o644)

	key := fmt.Sprintf("key_id=%s\nkey=%s\n", keyID, s.secret)
	instance := func(name, options, key string) {
		put("etc/b2fs/"+name+".conf", fmt.Sprintf("B2FS_SOURCE=%s\nB2FS_MOUNTPOINT=/mnt/%s\nB2FS_OPTIONS=--endpoint=%s %s\n", bucket, name, s.endpoint, options), 0o644)
		put("etc/b2fs/"+name+".key", key, 0o600)
		if err := os.MkdirAll(filepath.Join(root, "mnt", name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	instance("slow", "", key)
	instance("a", "", key)
	// A shorter drain than the unit's 5m, through the instance's own
	// options (the last --shutdown-timeout wins), so that a restart with
	// B2 unreachable leaves the files staged within the test's time.
	instance("r", "--shutdown-timeout=8s", key)
	instance("wd", "", key)
	instance("bad", "", fmt.Sprintf("key_id=%s\nkey=wrong-%s\n", keyID, s.secret))
	instance("usage", "--no-such-flag", key)
	// The watchdog check shortens WatchdogSec for one instance with a
	// drop-in, the way an administrator would.
	put("etc/systemd/system/b2fs@wd.service.d/watchdog.conf", fmt.Sprintf("[Service]\nWatchdogSec=%ds\n", wdSec), 0o644)

	// fstab with x-systemd.automount, and a key for mount -t fuse.b2fs.
	put("etc/b2fs/auto.key", key, 0o600)
	put("etc/b2fs/m.key", key, 0o600)
	fstab, _ := os.ReadFile(filepath.Join(root, "etc/fstab"))
	put("etc/fstab", string(fstab)+fmt.Sprintf("%s /mnt/auto fuse.b2fs _netdev,x-systemd.automount,credentials-file=/etc/b2fs/auto.key,endpoint=%s,cache-dir=/var/cache/b2fs-auto 0 0\n", bucket, s.endpoint), 0o644)
	for _, d := range []string{"mnt/auto", "mnt/m"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, c *container, port int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("b2emu on 127.0.0.1:%d", port), func() bool {
		if c.show(t, "b2emu", "ActiveState") == "failed" {
			t.Fatalf("b2emu failed:\n%s", testenv.Tail(c.journal(t, "b2emu"), 10))
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

// remote reads B2 (b2emu) directly from the host.
type remote struct {
	t        *testing.T
	endpoint string
	secret   string
}

func (r remote) client() *b2client.Client {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := b2client.New(ctx, b2client.Config{Endpoint: r.endpoint, KeyID: keyID, Key: r.secret})
	if err != nil {
		r.t.Fatalf("b2 client: %v", err)
	}
	return c
}

func (r remote) put(name, content string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := r.client()
	b, err := c.BucketByName(ctx, bucket)
	if err != nil || b == nil {
		r.t.Fatalf("bucket %s: %v", bucket, err)
	}
	if _, err := c.UploadFile(ctx, b2client.UploadRequest{BucketID: b.ID, Name: name}, strings.NewReader(content), int64(len(content))); err != nil {
		r.t.Fatalf("upload %s: %v", name, err)
	}
}

func (r remote) get(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rd, err := r.client().Download(ctx, b2client.DownloadRequest{BucketName: bucket, Name: name})
	if err != nil {
		return "", err
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	return string(b), err
}

// writerContent is what the writer puts in file i: `yes "file i" | head -c N`.
func writerContent(i int) string {
	line := fmt.Sprintf("file %d\n", i)
	return strings.Repeat(line, fileLen/len(line)+1)[:fileLen]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestServiceUnderSystemd boots systemd and checks, in order: the package
// installs and purges in a chroot (no systemd) and installs in the booted
// system, where postinst reloads systemd; b2fs@NAME becomes active only once its mount answers, with a
// STATUS line; the credential is a 0400 file nobody else can read; stop
// with a writer still writing leaves every closed file complete in B2 and
// waits for a file held open through it;
// restart with staged files (B2 unreachable while stopping) uploads them;
// the watchdog leaves a healthy b2fs alone over twice WatchdogSec and
// restarts a frozen one (dead by SIGABRT, goroutines in the journal); a usage error is not restarted and a rejected key
// stops at the start limit; the fstab automount mounts on first access;
// mount -t fuse.b2fs works and umount ends it.
func TestServiceUnderSystemd(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "systemd-nspawn", "debootstrap", "nsenter", "dpkg-deb", "cp")
	testenv.RequireFUSE(t)
	began := time.Now()
	s := setup{deb: testenv.DebPackage(t), port: freePort(t), secret: randomHex(16)}
	s.endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	c := newContainer(t, func(root string) {
		s.write(t, root)
		// The package installs and purges in a chroot, where no systemd
		// runs (an image build): the maintainer scripts must not fail.
		for _, args := range [][]string{{"dpkg", "-i", "/root/b2fs.deb"}, {"dpkg", "--purge", "b2fs"}} {
			if out, err := exec.Command("chroot", append([]string{root}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("chroot %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "usr/bin/b2fs")); !os.IsNotExist(err) {
			t.Fatalf("b2fs still installed after the purge in the chroot: %v", err)
		}
	})
	rem := remote{t: t, endpoint: s.endpoint, secret: s.secret}
	checksBegan := time.Now()
	defer func() {
		t.Logf("wall time: %v in all, %v of checks after boot", time.Since(began).Round(time.Second), time.Since(checksBegan).Round(time.Second))
	}()
	ctx := context.Background()

	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		start := time.Now()
		ok := t.Run(name, f)
		t.Logf("%s: %v (ok=%v)", name, time.Since(start).Round(100*time.Millisecond), ok)
		if !ok && (name == "install" || name == "b2emu") {
			t.FailNow()
		}
	}

	step("install", func(t *testing.T) {
		reloads := func() int {
			out, _ := c.exec(ctx, "journalctl", "--no-pager", "-o", "cat", "_PID=1")
			return strings.Count(out, "Reloading")
		}
		before := reloads()
		out := c.must(t, "dpkg", "-i", "/root/b2fs.deb")
		t.Logf("dpkg -i:\n%s", testenv.Tail(out, 6))
		// postinst reloaded systemd (it runs here).
		waitFor(t, 10*time.Second, "postinst's daemon-reload", func() bool { return reloads() > before })
		if got := strings.TrimSpace(c.must(t, "readlink", "/sbin/mount.fuse.b2fs")); got != "/usr/bin/b2fs" {
			t.Errorf("/sbin/mount.fuse.b2fs -> %q", got)
		}
		unit, err := os.ReadFile(filepath.Join(c.root, "lib/systemd/system/b2fs@.service"))
		if err != nil {
			t.Fatal(err)
		}
		shipped, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "scripts/systemd/b2fs@.service"))
		if err != nil {
			t.Fatal(err)
		}
		if string(unit) != strings.ReplaceAll(string(shipped), "/usr/local/bin/b2fs", "/usr/bin/b2fs") {
			t.Error("installed unit is not the shipped one")
		}
		if out := c.must(t, "systemctl", "cat", "b2fs@a.service"); !strings.Contains(out, "ExecStart=/usr/bin/b2fs ") {
			t.Errorf("systemctl cat b2fs@a:\n%s", out)
		}
		t.Logf("%s", strings.TrimSpace(c.must(t, "b2fs", "--version")))
	})

	step("b2emu", func(t *testing.T) {
		c.must(t, "systemctl", "start", "b2emu")
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("b2emu's journal:\n%s", testenv.Tail(c.journal(t, "b2emu"), 20))
			}
		})
		waitPort(t, c, s.port)
		rem.put("hello.txt", hello)
	})

	step("active only when the mount answers", func(t *testing.T) {
		// b2emu answers every request 400ms late: the start takes seconds.
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		start := c.command(cctx, "systemctl", "start", "b2fs@slow")
		var startOut bytes.Buffer
		start.Stdout, start.Stderr = &startOut, &startOut
		began := time.Now()
		if err := start.Start(); err != nil {
			t.Fatal(err)
		}
		activating := 0
		var activeAfter time.Duration
		for {
			state := c.show(t, "b2fs@slow", "ActiveState")
			if state == "activating" {
				activating++
			}
			if state == "active" {
				activeAfter = time.Since(began)
				// The moment systemd says active, the mount answers.
				got, err := c.exec(ctx, "cat", "/mnt/slow/hello.txt")
				if err != nil || got != hello {
					t.Fatalf("active, but the mount does not answer: %q %v", got, err)
				}
				break
			}
			if state == "failed" || time.Since(began) > time.Minute {
				t.Fatalf("b2fs@slow %s after %v:\n%s", state, time.Since(began), c.journal(t, "b2fs@slow"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := start.Wait(); err != nil {
			t.Fatalf("systemctl start b2fs@slow: %v\n%s", err, startOut.String())
		}
		t.Logf("active after %v, %d samples activating", activeAfter.Round(time.Millisecond), activating)
		if activating < 3 || activeAfter < 1200*time.Millisecond {
			t.Errorf("the slow start was not observed (activating %d samples, active after %v): the check proves nothing", activating, activeAfter)
		}
		fstype := strings.TrimSpace(c.must(t, "findmnt", "-n", "-o", "FSTYPE", "/mnt/slow"))
		if fstype != "fuse.b2fs" && fstype != "fuse" {
			t.Errorf("/mnt/slow is %q", fstype)
		}
		status := c.show(t, "b2fs@slow", "StatusText")
		t.Logf("STATUS: %s", status)
		if !strings.Contains(status, "serving bucket "+bucket) || !strings.Contains(status, "pending files: 0") {
			t.Errorf("STATUS=%q", status)
		}
		c.must(t, "systemctl", "stop", "b2fs@slow")
		// The rest runs without the latency.
		os.WriteFile(filepath.Join(c.root, "etc/default/b2emu"), []byte(fmt.Sprintf("B2EMU_KEY=%s\nB2EMU_LATENCY=0s\n", s.secret)), 0o600)
		c.must(t, "systemctl", "restart", "b2emu")
		waitPort(t, c, s.port)
	})

	step("credential", func(t *testing.T) {
		c.must(t, "systemctl", "start", "b2fs@a")
		dir := "/run/credentials/b2fs@a.service"
		if got := strings.TrimSpace(c.must(t, "stat", "-c", "%a %U:%G %F", dir+"/b2")); got != "400 root:root regular file" {
			t.Errorf("credential: %q, want mode 400 owned by root", got)
		}
		fs := strings.Fields(c.must(t, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", dir))
		t.Logf("credential directory: %v", fs)
		if len(fs) < 2 || (fs[0] != "ramfs" && fs[0] != "tmpfs") || !strings.HasPrefix(fs[1], "ro") {
			t.Errorf("credential directory is %v, want a read-only ramfs/tmpfs", fs)
		}
		out, err := c.exec(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", dir+"/b2")
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody read the credential: %v %q", err, out)
		}
		pid := c.show(t, "b2fs@a", "MainPID")
		for _, f := range []string{"cmdline", "environ"} {
			if strings.Contains(c.must(t, "cat", "/proc/"+pid+"/"+f), s.secret) {
				t.Errorf("the key is in b2fs's %s", f)
			}
		}
		if strings.Contains(c.journal(t, "b2fs@a"), s.secret) {
			t.Error("the key is in the journal")
		}
	})

	step("network stays on 127.0.0.1", func(t *testing.T) {
		// b2fs@a has talked to B2 (b2emu): its TCP sockets and b2emu's
		// reach 127.0.0.1 only.
		c.must(t, "ls", "/mnt/a")
		for _, unit := range []string{"b2fs@a", "b2emu"} {
			pid, _ := strconv.Atoi(c.show(t, unit, "MainPID"))
			hp := c.hostPID(t, pid)
			peers := tcpPeers(t, hp)
			if len(peers) == 0 {
				t.Errorf("%s has no TCP sockets: the check proves nothing", unit)
			}
			for _, p := range peers {
				if !p.IsLoopback() && !p.IsUnspecified() {
					t.Errorf("%s has a TCP socket to %v", unit, p)
				}
			}
			t.Logf("%s: %d TCP sockets, all on loopback", unit, len(peers))
		}
	})

	step("stop with a writer still writing", func(t *testing.T) {
		script := fmt.Sprintf(`mkdir -p /mnt/a/w || exit 1
: >/root/closed
i=0
while [ $i -lt 5000 ]; do
	i=$((i+1))
	yes "file $i" | head -c %d >/mnt/a/w/f$i || exit 0
	echo $i >>/root/closed
done`, fileLen)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		w := c.command(wctx, "sh", "-c", script)
		var wout bytes.Buffer
		w.Stdout, w.Stderr = &wout, &wout
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.Wait() }()
		closed := func() []string {
			b, _ := os.ReadFile(filepath.Join(c.root, "root/closed"))
			return strings.Fields(string(b))
		}
		waitFor(t, 30*time.Second, "the writer to close 5 files", func() bool { return len(closed()) >= 5 })
		// A second writer holds one file open through the stop and goes
		// on writing it for 3 more seconds: the stop waits for it.
		slow := c.command(wctx, "sh", "-c", fmt.Sprintf(`exec 3>/mnt/a/w/slow || exit 1
touch /root/slow-open
for i in $(seq 1 30); do yes "slow $i" | head -c %d >&3 || exit 1; sleep 0.1; done
exec 3>&-
touch /root/slow-closed`, slowChunk))
		var sout bytes.Buffer
		slow.Stdout, slow.Stderr = &sout, &sout
		if err := slow.Start(); err != nil {
			t.Fatal(err)
		}
		slowDone := make(chan error, 1)
		go func() { slowDone <- slow.Wait() }()
		waitFor(t, 10*time.Second, "the slow writer to open its file", func() bool {
			_, err := os.Stat(filepath.Join(c.root, "root/slow-open"))
			return err == nil
		})
		began := time.Now()
		c.must(t, "systemctl", "stop", "b2fs@a")
		took := time.Since(began)
		t.Logf("systemctl stop took %v with two writers writing", took.Round(time.Millisecond))
		select {
		case err := <-slowDone:
			if err != nil {
				t.Errorf("the writer of the open file failed: %v\n%s", err, sout.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the slow writer still runs 30s after the stop")
		}
		if _, err := os.Stat(filepath.Join(c.root, "root/slow-closed")); err != nil {
			t.Errorf("the open file was not closed cleanly: %v\n%s", err, sout.String())
		}
		if took < 2*time.Second {
			t.Errorf("the stop took %v: it did not wait for the open file", took)
		}
		var wantSlow strings.Builder
		for i := 1; i <= 30; i++ {
			line := fmt.Sprintf("slow %d\n", i)
			wantSlow.WriteString(strings.Repeat(line, slowChunk/len(line)+1)[:slowChunk])
		}
		if got, err := rem.get("w/slow"); err != nil || got != wantSlow.String() {
			t.Errorf("the file open during the stop is not complete in B2: %d bytes, %v", len(got), err)
		}
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the writer still runs 30s after the stop")
		}
		if st := c.show(t, "b2fs@a", "ActiveState"); st != "inactive" {
			t.Errorf("after stop: %s", st)
		}
		if st := c.show(t, "b2fs@a", "ExecMainStatus"); st != "0" {
			t.Errorf("b2fs exited %s after stop:\n%s", st, testenv.Tail(c.journal(t, "b2fs@a"), 20))
		}
		names := closed()
		t.Logf("the writer closed %d files; writer output: %q", len(names), testenv.Tail(wout.String(), 3))
		for _, n := range names {
			i, _ := strconv.Atoi(n)
			got, err := rem.get(fmt.Sprintf("w/f%d", i))
			if err != nil {
				t.Errorf("closed file w/f%d not in B2: %v", i, err)
			} else if got != writerContent(i) {
				t.Errorf("w/f%d in B2: %d bytes, not what was written", i, len(got))
			}
		}
		if _, err := c.exec(ctx, "mountpoint", "-q", "/mnt/a"); err == nil {
			t.Error("/mnt/a still mounted after stop")
		}
	})

	step("restart uploads staged files", func(t *testing.T) {
		c.must(t, "systemctl", "start", "b2fs@r")
		old := c.show(t, "b2fs@r", "MainPID")
		// The listing is cached, so that names can be created while B2
		// is unreachable.
		c.must(t, "ls", "/mnt/r")
		// B2 unreachable: the files stay staged through the stop.
		c.must(t, "systemctl", "stop", "b2emu")
		t.Cleanup(func() {
			c.exec(ctx, "systemctl", "start", "b2emu")
			waitPort(t, c, s.port)
		})
		// Each close tries the upload before it gives up (about 10 s per
		// file with B2 refusing connections): in parallel.
		began := time.Now()
		c.sh(t, "for i in 1 2 3; do (echo staged $i >/mnt/r/s$i) & done; wait; for i in 1 2 3; do test \"$(cat /mnt/r/s$i)\" = \"staged $i\" || exit 1; done")
		t.Logf("wrote 3 files with B2 unreachable in %v", time.Since(began).Round(100*time.Millisecond))
		t.Cleanup(func() {
			if t.Failed() {
				out, _ := c.exec(ctx, "journalctl", "--no-pager", "-o", "short-precise", "-u", "b2fs@r")
				t.Logf("b2fs@r's journal:\n%s", testenv.Tail(out, 40))
			}
		})
		began = time.Now()
		c.must(t, "systemctl", "restart", "--no-block", "b2fs@r")
		// The old b2fs gives up on the uploads after its
		// --shutdown-timeout and exits, keeping the files staged.
		waitFor(t, 40*time.Second, "the old b2fs@r to exit", func() bool { return c.show(t, "b2fs@r", "MainPID") != old })
		stopped := time.Since(began)
		if j := c.journal(t, "b2fs@r"); !strings.Contains(j, "kept in the cache directory and uploaded at the next start") {
			t.Errorf("the stop did not keep the files staged:\n%s", testenv.Tail(j, 10))
		}
		// B2 is back while the new b2fs starts.
		c.must(t, "systemctl", "start", "b2emu")
		waitPort(t, c, s.port)
		waitFor(t, time.Minute, "b2fs@r active", func() bool { return c.show(t, "b2fs@r", "ActiveState") == "active" })
		t.Logf("old b2fs exited after %v, new one active after %v", stopped.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
		for i := 1; i <= 3; i++ {
			want := fmt.Sprintf("staged %d\n", i)
			waitFor(t, 30*time.Second, fmt.Sprintf("s%d in B2", i), func() bool {
				got, err := rem.get(fmt.Sprintf("s%d", i))
				return err == nil && got == want
			})
		}
		c.must(t, "systemctl", "stop", "b2fs@r")
	})

	// Started now (B2 is up), checked after the watchdog: they fail in
	// the background meanwhile.
	c.must(t, "systemctl", "start", "--no-block", "b2fs@bad", "b2fs@usage")

	step("watchdog", func(t *testing.T) {
		c.must(t, "systemctl", "start", "b2fs@wd")
		if got := c.show(t, "b2fs@wd", "WatchdogUSec"); got != fmt.Sprintf("%ds", wdSec) {
			t.Fatalf("WatchdogUSec=%s", got)
		}
		p1 := c.show(t, "b2fs@wd", "MainPID")
		time.Sleep(2*wdSec*time.Second + time.Second)
		if p := c.show(t, "b2fs@wd", "MainPID"); p != p1 || c.show(t, "b2fs@wd", "NRestarts") != "0" || c.show(t, "b2fs@wd", "ActiveState") != "active" {
			t.Fatalf("a healthy b2fs was restarted (pid %s -> %s):\n%s", p1, p, testenv.Tail(c.journal(t, "b2fs@wd"), 20))
		}
		// Frozen: it no longer pings, systemd aborts and restarts it.
		c.must(t, "kill", "-STOP", p1)
		waitFor(t, 60*time.Second, "the watchdog to restart the frozen b2fs", func() bool {
			p := c.show(t, "b2fs@wd", "MainPID")
			return p != p1 && p != "0" && c.show(t, "b2fs@wd", "ActiveState") == "active"
		})
		j := c.journal(t, "b2fs@wd")
		if !strings.Contains(j, "Watchdog timeout") {
			t.Errorf("no watchdog timeout in the journal:\n%s", testenv.Tail(j, 20))
		}
		// GOTRACEBACK=crash: the goroutines are in the journal and b2fs
		// died by the watchdog's SIGABRT (an exit 2 would not restart).
		if !strings.Contains(j, "status=6/ABRT") || !strings.Contains(j, "goroutine ") {
			t.Errorf("the frozen b2fs did not die by SIGABRT with a goroutine dump:\n%s", testenv.Tail(j, 20))
		}
		if n := c.show(t, "b2fs@wd", "NRestarts"); n != "1" {
			t.Errorf("NRestarts=%s", n)
		}
		// The new b2fs detached the stale mount and serves again.
		if got, err := c.exec(ctx, "cat", "/mnt/wd/hello.txt"); err != nil || got != hello {
			t.Errorf("after the watchdog restart: %q %v", got, err)
		}
		c.must(t, "systemctl", "stop", "b2fs@wd")
	})

	step("broken configuration stops", func(t *testing.T) {
		// A usage error (exit 2) is not restarted.
		waitFor(t, 30*time.Second, "b2fs@usage failed", func() bool { return c.show(t, "b2fs@usage", "ActiveState") == "failed" })
		if st, n := c.show(t, "b2fs@usage", "ExecMainStatus"), c.show(t, "b2fs@usage", "NRestarts"); st != "2" || n != "0" {
			t.Errorf("b2fs@usage: exit %s, %s restarts; want 2 and none", st, n)
		}
		// A rejected key fails at once: restarted until the start limit.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("b2fs@bad: NRestarts=%s; journal:\n%s", c.show(t, "b2fs@bad", "NRestarts"), testenv.Tail(c.journal(t, "b2fs@bad"), 30))
			}
		})
		waitFor(t, 90*time.Second, "b2fs@bad to hit the start limit", func() bool {
			return strings.Contains(c.journal(t, "b2fs@bad"), "Start request repeated too quickly")
		})
		n := c.show(t, "b2fs@bad", "NRestarts")
		time.Sleep(11 * time.Second) // > 2 x RestartSec
		if st, n2 := c.show(t, "b2fs@bad", "ActiveState"), c.show(t, "b2fs@bad", "NRestarts"); st != "failed" || n2 != n {
			t.Errorf("after the start limit: %s, restarts %s -> %s", st, n, n2)
		}
		j := c.journal(t, "b2fs@bad")
		if !strings.Contains(j, "rejected the application key") {
			t.Errorf("b2fs@bad's journal lacks the reason:\n%s", testenv.Tail(j, 10))
		}
		if strings.Contains(j, "connection refused") {
			t.Errorf("b2fs@bad could not reach B2: the check is about a rejected key")
		}
		t.Logf("b2fs@bad: %s restarts, then the start limit; stays %s", n, c.show(t, "b2fs@bad", "ActiveState"))
	})

	step("fstab automount", func(t *testing.T) {
		// systemd-fstab-generator turned the fstab line into an automount
		// and a mount unit that runs mount.fuse.b2fs with its options.
		if what := c.show(t, "mnt-auto.mount", "What"); what != bucket {
			t.Errorf("mnt-auto.mount What=%q", what)
		}
		if typ := c.show(t, "mnt-auto.mount", "Type"); typ != "fuse.b2fs" {
			t.Errorf("mnt-auto.mount Type=%q", typ)
		}
		if st := c.show(t, "mnt-auto.mount", "ActiveState"); st != "inactive" {
			t.Errorf("mnt-auto.mount %s before the first access", st)
		}
		if autofs() {
			if st := c.show(t, "mnt-auto.automount", "ActiveState"); st != "active" {
				t.Fatalf("mnt-auto.automount is %s after boot", st)
			}
			// The first access mounts it.
			if got, err := c.exec(ctx, "cat", "/mnt/auto/hello.txt"); err != nil || got != hello {
				t.Fatalf("first access through the automount: %q %v\n%s", got, err, c.journal(t, "mnt-auto.mount"))
			}
		} else {
			// This kernel has no autofs (CONFIG_AUTOFS_FS): systemd
			// reports the automount unsupported. What the automount
			// would start on first access is the mount unit: start it.
			t.Logf("the kernel has no autofs: the first-access trigger cannot run here; starting mnt-auto.mount as the automount would")
			if st := c.show(t, "mnt-auto.automount", "ActiveState"); st == "active" {
				t.Errorf("mnt-auto.automount active without autofs")
			}
			c.must(t, "systemctl", "start", "mnt-auto.mount")
			if got, err := c.exec(ctx, "cat", "/mnt/auto/hello.txt"); err != nil || got != hello {
				t.Fatalf("read through the fstab mount: %q %v\n%s", got, err, c.journal(t, "mnt-auto.mount"))
			}
		}
		if st := c.show(t, "mnt-auto.mount", "ActiveState"); st != "active" {
			t.Errorf("mnt-auto.mount %s after the access", st)
		}
		if fstype := strings.TrimSpace(c.must(t, "findmnt", "-n", "-o", "FSTYPE", "/mnt/auto")); fstype != "fuse.b2fs" {
			t.Errorf("/mnt/auto is %q", fstype)
		}
		c.must(t, "systemctl", "stop", "mnt-auto.mount")
		waitFor(t, 30*time.Second, "the fstab mount's b2fs to exit", func() bool {
			_, err := c.exec(ctx, "pgrep", "-f", "b2fs.*/mnt/auto")
			return err != nil
		})
	})

	step("mount -t fuse.b2fs", func(t *testing.T) {
		c.must(t, "mount", "-t", "fuse.b2fs", bucket, "/mnt/m", "-o",
			"credentials-file=/etc/b2fs/m.key,endpoint="+s.endpoint+",cache-dir=/var/cache/b2fs-m")
		if got := c.must(t, "cat", "/mnt/m/hello.txt"); got != hello {
			t.Errorf("read through mount -t: %q", got)
		}
		c.sh(t, "echo via mount >/mnt/m/via-mount.txt")
		c.must(t, "umount", "/mnt/m")
		waitFor(t, 30*time.Second, "the mount helper's b2fs to exit", func() bool {
			_, err := c.exec(ctx, "pgrep", "-f", "b2fs.*/mnt/m")
			return err != nil
		})
		if got, err := rem.get("via-mount.txt"); err != nil || got != "via mount\n" {
			t.Errorf("via-mount.txt in B2 after umount: %q %v", got, err)
		}
	})
}

// autofs reports whether the kernel can serve automounts.
func autofs() bool {
	b, _ := os.ReadFile("/proc/filesystems")
	return strings.Contains(string(b), "\tautofs\n")
}

// hostPID maps a PID of the container to the host's.
func (c *container) hostPID(t *testing.T, pid int) int {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if l, _ := os.Readlink(d + "/ns/pid"); l != ns {
			continue
		}
		st, err := os.ReadFile(d + "/status")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == "NSpid:" && f[2] == strconv.Itoa(pid) {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	t.Fatalf("no host process for container pid %d", pid)
	return 0
}

// tcpPeers returns the remote addresses of a process's TCP sockets
// (listening sockets have an unspecified peer).
func tcpPeers(t *testing.T, pid int) []net.IP {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var peers []net.IP
	for _, f := range []string{"tcp", "tcp6"} {
		fh, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			hexIP, _, _ := strings.Cut(fields[2], ":")
			peers = append(peers, procIP(hexIP))
		}
		fh.Close()
	}
	return peers
}

// procIP decodes an address of /proc/net/tcp{,6}: 32-bit words in host
// (little-endian) byte order.
func procIP(h string) net.IP {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b)
}
