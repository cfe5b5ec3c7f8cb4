package service

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// notification is one sd_notify datagram and what the mount looked like
// the moment it arrived.
type notification struct {
	msg     string
	mounted bool // mountinfo lists the mount point and statfs says FUSE
}

// notifySocket listens like systemd does for Type=notify services.
func notifySocket(t *testing.T, mountpoint string) (string, <-chan notification) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan notification, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(ch)
				return
			}
			msg := string(buf[:n])
			ch <- notification{msg: msg, mounted: testenv.IsMounted(mountpoint) && isFUSE(mountpoint)}
		}
	}()
	return path, ch
}

// next returns the first notification containing want.
func next(t *testing.T, ch <-chan notification, want string, seen *[]string) notification {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case n, ok := <-ch:
			if !ok {
				t.Fatalf("notify socket closed before %q; got %q", want, *seen)
			}
			*seen = append(*seen, n.msg)
			if strings.Contains(n.msg, want) {
				return n
			}
		case <-timeout:
			t.Fatalf("no %q notification within 30s; got %q", want, *seen)
		}
	}
}

// TestNotifyReadyAndStopping: b2fs sends READY=1 only once the mount
// answers stat, with a STATUS line, and STOPPING=1 on SIGTERM; it then
// exits 0 and leaves nothing mounted.
func TestNotifyReadyAndStopping(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	if _, err := e.ts.PutFile(bucket, "hello.txt", []byte("hi"), nil); err != nil {
		t.Fatal(err)
	}
	dir := mkdir(t, "mnt")
	sock, ch := notifySocket(t, dir)
	testenv.Binary(t, "b2fs") // build first: time only the start
	started := time.Now()
	p := e.start(procOpts{Dir: dir, Env: []string{"NOTIFY_SOCKET=" + sock}, NoWait: true})
	var seen []string
	ready := next(t, ch, "READY=1", &seen)
	t.Logf("start to READY=1: %v", time.Since(started))
	if !ready.mounted {
		t.Fatalf("READY=1 arrived before %s was a live FUSE mount", dir)
	}
	if !strings.Contains(ready.msg, "STATUS=serving bucket "+bucket) || !strings.Contains(ready.msg, "pending files: 0 (0 B), uploading: 0; metadata changes pending: 0") {
		t.Errorf("READY message %q lacks the status line", ready.msg)
	}
	for _, m := range seen[:len(seen)-1] {
		if strings.Contains(m, "READY=1") {
			t.Fatalf("more than one READY: %q", seen)
		}
	}
	if _, _, err := sh("cat " + dir + "/hello.txt"); err != nil {
		t.Fatalf("mount not usable after READY: %v", err)
	}
	stopAt := time.Now()
	p.signal(syscall.SIGTERM)
	stop := next(t, ch, "STOPPING=1", &seen)
	if !strings.Contains(stop.msg, "STATUS=stopping") {
		t.Errorf("STOPPING message %q lacks a status", stop.msg)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, p.out)
	}
	t.Logf("SIGTERM to exit: %v", time.Since(stopAt))
	if testenv.IsMounted(dir) {
		t.Fatalf("%s still mounted after exit", dir)
	}
	if !strings.Contains(p.out.String(), "B2 calls: class A") {
		t.Errorf("no B2 call summary at unmount:\n%s", p.out)
	}
}

// TestWatchdog: with systemd's watchdog on (WATCHDOG_USEC), b2fs pings
// WATCHDOG=1 at half the interval while the mount answers, and stops when
// it stops.
func TestWatchdog(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	dir := mkdir(t, "mnt")
	sock, ch := notifySocket(t, dir)
	p := e.start(procOpts{Dir: dir, NoWait: true, Env: []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"}})
	var seen []string
	next(t, ch, "READY=1", &seen)
	start := time.Now()
	for i := 0; i < 5; i++ {
		n := next(t, ch, "WATCHDOG=1", &seen)
		if !n.mounted {
			t.Fatal("watchdog ping while the mount was not live")
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("5 pings took %v with a 200ms watchdog", d)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.out)
	}
	if strings.Contains(p.out.String(), "not pinging the systemd watchdog") {
		t.Errorf("watchdog complained:\n%s", p.out)
	}
}
