package service

import (
	"net"
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

// TestSIGTERMDuringCloseUploads: SIGTERM arrives while a writer is closing
// a large file (its final upload call is held up by the emulator). b2fs
// refuses new writes (EROFS), lets the close finish, and exits 0 only after
// the file is complete in B2.
func TestSIGTERMDuringCloseUploads(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	data := testenv.Pattern(7, 1<<20+12345) // 17 parts of 64 KiB
	src := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := mkdir(t, "mnt")
	sock, notes := notifySocket(t, dir)
	p := e.start(procOpts{Dir: dir, Env: []string{"NOTIFY_SOCKET=" + sock}})
	dirFD, err := syscall.Open(p.dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if dirFD >= 0 {
			syscall.Close(dirFD)
		}
	}()
	e.ts.AddFault(b2emu.FaultRule{API: "b2_finish_large_file", Times: 1, Action: "stall", Delay: b2emu.Duration(3 * time.Second)})

	writer := exec.Command("cp", src, filepath.Join(p.dir, "big.bin"))
	var werr strings.Builder
	writer.Stderr = &werr
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan error, 1)
	go func() { writerDone <- writer.Wait() }()
	waitFor(t, 30*time.Second, "the close to reach b2_finish_large_file", func() bool {
		return e.ts.Stats().Calls["b2_finish_large_file"] >= 1
	})
	p.signal(syscall.SIGTERM)
	var seen []string
	stop := next(t, notes, "STOPPING=1", &seen)
	if !strings.Contains(stop.msg, "pending files: 1 (1.0 MiB), uploading: 1, oldest ") {
		t.Errorf("STOPPING status %q does not show the upload in progress", stop.msg)
	}
	waitFor(t, 10*time.Second, "b2fs to stop accepting writes", func() bool {
		return strings.Contains(p.out.String(), "no longer accepting new writes")
	})
	// The mount point may already be detached; the directory handle still
	// reaches the filesystem.
	// EINTR: the Go runtime's preemption signal can interrupt a FUSE
	// request; retry as libc callers would.
	fd, err := syscall.Openat(dirFD, "late.txt", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	for i := 0; i < 10 && err == syscall.EINTR; i++ {
		fd, err = syscall.Openat(dirFD, "late.txt", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	}
	if err != syscall.EROFS {
		if err == nil {
			syscall.Close(fd)
		}
		t.Errorf("creating a file while stopping: %v, want EROFS", err)
	}
	syscall.Close(dirFD)
	dirFD = -1

	select {
	case err := <-writerDone:
		if err != nil {
			t.Fatalf("cp failed: %v: %s", err, werr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cp did not finish")
	}
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.out)
	}
	if got, want := e.remoteSHA1("big.bin"), sha1Hex(data); got != want {
		t.Fatalf("B2 has big.bin with SHA-1 %q, want %s", got, want)
	}
	if e.remoteSHA1("late.txt") != "" {
		t.Error("late.txt reached B2 although it was refused")
	}
	if testenv.IsMounted(p.dir) {
		t.Error("still mounted")
	}
}

// TestLazyUnmountWhileWriting: the user detaches the mount lazily while a
// file is open for writing. The writer keeps writing through its open
// handle and closes; b2fs serves it until then, uploads it, and exits 0.
func TestLazyUnmountWhileWriting(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	p := e.start(procOpts{})
	f, err := os.Create(filepath.Join(p.dir, "open.bin"))
	if err != nil {
		t.Fatal(err)
	}
	first, second := testenv.Pattern(3, 200_000), testenv.Pattern(4, 150_000)
	if _, err := f.Write(first); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", p.dir).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u -z: %v %s", err, out)
	}
	if testenv.IsMounted(p.dir) {
		t.Fatal("still in mountinfo after a lazy unmount")
	}
	select {
	case <-p.exited:
		t.Fatalf("b2fs exited while a file was still open:\n%s", p.out)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := f.Write(second); err != nil {
		t.Fatalf("write after the lazy unmount: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after the lazy unmount: %v", err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, p.out)
	}
	if !strings.Contains(p.out.String(), "unmounted externally") {
		t.Errorf("log does not say the mount went away:\n%s", p.out)
	}
	if got, want := e.remoteSHA1("open.bin"), sha1Hex(append(append([]byte(nil), first...), second...)); got != want {
		t.Fatalf("B2 has open.bin with SHA-1 %q, want %s", got, want)
	}
}

// TestSIGTERMWhileStarting: a stop request while b2fs is still starting
// (here: B2 does not answer) ends it at once, with nothing mounted.
func TestSIGTERMWhileStarting(t *testing.T) {
	testenv.RequireFUSE(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and never answer
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e := &env{t: t}
	e.ts = &b2emu.TestServer{URL: "http://" + ln.Addr().String(), KeyID: "id", Key: "Knotusedbecausenobodyanswers"}
	p := e.start(procOpts{NoWait: true})
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	p.signal(syscall.SIGTERM)
	code := p.wait(10 * time.Second)
	if code != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("status %d after %v:\n%s", code, time.Since(start), p.out)
	}
	if !strings.Contains(p.out.String(), "b2fs: ") || testenv.IsMounted(p.dir) {
		t.Fatalf("no error line, or still mounted:\n%s", p.out)
	}
}
