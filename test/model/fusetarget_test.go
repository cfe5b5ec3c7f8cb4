package model

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// Fault is a transient failure of B2: one b2emu fault rule, or the expiry
// of every account token issued so far.
type Fault struct {
	Rule         b2emu.FaultRule
	ExpireTokens bool
}

func (f Fault) String() string {
	if f.ExpireTokens {
		return "expire-tokens"
	}
	r := f.Rule
	s := fmt.Sprintf("%s %s", r.API, r.Action)
	switch r.Action {
	case "error":
		s += fmt.Sprintf(" %d", r.Status)
		if r.RetryAfter > 0 {
			s += fmt.Sprintf(" retry-after=%d", r.RetryAfter)
		}
	case "reset":
		s += fmt.Sprintf(" after %d bytes", r.ResetAfterBytes)
	case "stall":
		s += fmt.Sprintf(" %v", time.Duration(r.Delay))
	}
	return s + fmt.Sprintf(" skip=%d times=%d", r.Skip, r.Times)
}

// emu is an in-process b2emu on 127.0.0.1 with one bucket.
type emu struct {
	srv    *b2emu.Server
	hs     *httptest.Server
	bucket string
	keyID  string
	key    string
}

// partSize is the part size of the emulator and of b2fs: files of twice
// this size go up as large files, so small test files exercise both paths.
const partSize = 64 << 10

func newEmu() (*emu, error) {
	o := b2emu.Options{KeyID: "model0key", Key: "Kmodeltestkey0123456789", AbsoluteMinimumPartSize: partSize, RecommendedPartSize: partSize}
	s, err := b2emu.New(o)
	if err != nil {
		return nil, err
	}
	e := &emu{srv: s, hs: httptest.NewServer(s), bucket: "model-bucket", keyID: o.KeyID, key: o.Key}
	if _, err := s.CreateBucket(e.bucket, "allPrivate"); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *emu) close() {
	e.hs.CloseClientConnections()
	e.hs.Close()
	e.srv.Close()
}

// fuseTarget is a b2fs subprocess mounting the emulator's bucket.
type fuseTarget struct {
	emu   *emu
	bin   string
	dir   string // mount point
	cache string
	args  []string
	log   *os.File
	cmd   *exec.Cmd
	done  chan struct{}
	err   error // of cmd.Wait, valid once done is closed

	passthrough bool
}

// fuseConfig chooses b2fs flags.
type fuseConfig struct {
	MetadataDelay string // --metadata-delay
	// NoPassthrough runs b2fs with --passthrough=false. With passthrough
	// (a fully cached file opened read-only is read by the kernel from the
	// cache file), an open of the file in any other way waits for those
	// readers to close and fails with ETXTBSY after 5 seconds, and such a
	// reader keeps reading the version it opened when truncate(2) changes
	// the file (docs/read-cache.md): the model then closes a file's
	// read-only descriptors before it opens the file for writing or
	// truncates it by name.
	NoPassthrough bool
	// WriteBack runs b2fs with --write-back=WriteBack ("": the default
	// mode). The model's promises after a crash hold as they are: a file's
	// data is durable once close returns (in B2 or in the cache
	// directory's journal), namespace changes once their call returns.
	WriteBack string
}

func startFUSE(bin, tmp string, cfg fuseConfig) (*fuseTarget, error) {
	e, err := newEmu()
	if err != nil {
		return nil, err
	}
	ft := &fuseTarget{emu: e, bin: bin, dir: filepath.Join(tmp, "mnt"), cache: filepath.Join(tmp, "cache"), passthrough: !cfg.NoPassthrough}
	if err := os.Mkdir(ft.dir, 0o755); err != nil {
		e.close()
		return nil, err
	}
	if ft.log, err = os.Create(filepath.Join(tmp, "b2fs.log")); err != nil {
		e.close()
		return nil, err
	}
	// --dir-markers all: the model predicts a directory's time after a
	// restart from its marker. With the default (needed), a directory with
	// entries and default metadata keeps no marker and shows the mount's
	// start time after a restart (docs/posix.md), which the model does not
	// predict yet.
	ft.args = []string{"--endpoint", e.hs.URL, "--cache-dir", ft.cache, "--part-size", "64KiB",
		"--metadata-delay", cfg.MetadataDelay, "--dir-markers", "all"}
	if cfg.NoPassthrough {
		ft.args = append(ft.args, "--passthrough=false")
	}
	if cfg.WriteBack != "" {
		ft.args = append(ft.args, "--write-back="+cfg.WriteBack)
	}
	if extra := os.Getenv("B2FS_MODEL_ARGS"); extra != "" {
		ft.args = append(ft.args, strings.Fields(extra)...) // more b2fs flags
	}
	if lvl := os.Getenv("B2FS_MODEL_LOG"); lvl != "" {
		ft.args = append(ft.args, "--log-level", lvl) // e.g. debug
	}
	ft.args = append(ft.args, e.bucket, ft.dir)
	if err := ft.start(); err != nil {
		ft.Close()
		return nil, err
	}
	return ft, nil
}

// start runs b2fs and waits until it has mounted and finished starting.
func (ft *fuseTarget) start() error {
	fmt.Fprintf(ft.log, "=== model: starting b2fs %s\n", strings.Join(ft.args, " "))
	off, _ := ft.log.Seek(0, 2)
	ft.cmd = exec.Command(ft.bin, ft.args...)
	ft.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // b2fs goes if the test binary dies
	ft.cmd.Env = testenv.CredEnv(ft.emu.keyID, ft.emu.key)
	ft.cmd.Stdout, ft.cmd.Stderr = ft.log, ft.log
	if err := ft.cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	ft.done = done
	cmd := ft.cmd
	go func() { ft.err = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(ft.log.Name())
		if int64(len(b)) > off && strings.Contains(string(b[off:]), "msg=mounted") && testenv.IsMounted(ft.dir) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("b2fs exited before mounting: %v", ft.err)
		default:
		}
		if time.Now().After(deadline) {
			ft.kill()
			return fmt.Errorf("b2fs did not mount within 60s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (ft *fuseTarget) stop() error {
	select {
	case <-ft.done:
		return fmt.Errorf("b2fs had exited: %v", ft.err)
	default:
	}
	ft.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ft.done:
	case <-time.After(60 * time.Second):
		ft.kill()
		return fmt.Errorf("b2fs did not exit within 60s of SIGTERM")
	}
	if ft.err != nil {
		return fmt.Errorf("b2fs exited with %v after SIGTERM", ft.err)
	}
	if testenv.IsMounted(ft.dir) {
		exec.Command("fusermount3", "-u", "-z", ft.dir).Run()
		return fmt.Errorf("%s still mounted after b2fs exited", ft.dir)
	}
	return nil
}

// kill ends b2fs with SIGKILL and waits for it.
func (ft *fuseTarget) kill() {
	select {
	case <-ft.done:
	default:
		ft.cmd.Process.Kill()
		<-ft.done
	}
}

// dumpStacks asks b2fs (a Go program) for its goroutines (SIGQUIT prints
// them to the log and exits).
func (ft *fuseTarget) dumpStacks() {
	select {
	case <-ft.done:
	default:
		ft.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-ft.done:
		case <-time.After(5 * time.Second):
		}
	}
}

func (ft *fuseTarget) Remount() error {
	if err := ft.stop(); err != nil {
		return err
	}
	return ft.start()
}

// Crash kills b2fs with SIGKILL and starts it again without unmounting:
// b2fs must find the dead mount (ENOTCONN), detach it and recover what was
// staged.
func (ft *fuseTarget) Crash() error {
	ft.kill()
	fmt.Fprintf(ft.log, "=== model: b2fs killed (SIGKILL)\n")
	if err := ft.start(); err != nil {
		return err
	}
	// What b2fs recovered shows at once, while it uploads in the
	// background (cmd/b2fs): the model does not wait for the uploads.
	return nil
}

func (ft *fuseTarget) Fault(f Fault) {
	if f.ExpireTokens {
		ft.emu.srv.ExpireTokens()
		return
	}
	ft.emu.srv.AddFault(f.Rule)
}

func (ft *fuseTarget) ClearFaults() { ft.emu.srv.ClearFaults() }

func (ft *fuseTarget) Log() string {
	b, _ := os.ReadFile(ft.log.Name())
	if p := os.Getenv("B2FS_MODEL_KEEPLOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "=== model: failure at %s\n", time.Now().UTC().Format(time.RFC3339Nano))
			f.Write(b)
			f.Close()
		}
	}
	return testenv.Tail(string(b), 80)
}

// Close stops b2fs (cleanly if it can), removes any mount left behind and
// stops the emulator. It reports a crash in b2fs's log.
func (ft *fuseTarget) Close() error {
	var err error
	if ft.cmd != nil {
		select {
		case <-ft.done:
		default:
			err = ft.stop()
		}
		ft.kill()
	}
	if testenv.IsMounted(ft.dir) {
		exec.Command("fusermount3", "-u", "-z", ft.dir).Run()
	}
	ft.emu.close()
	if ft.log != nil {
		b, _ := os.ReadFile(ft.log.Name())
		s := string(b)
		if err == nil && (strings.Contains(s, "panic:") || strings.Contains(s, "DATA RACE")) {
			err = fmt.Errorf("b2fs log shows a crash")
		}
		ft.log.Close()
	}
	return err
}

func (ft *fuseTarget) p(path string) string {
	if path == "" {
		return ft.dir
	}
	return ft.dir + "/" + path
}

// retry repeats a system call that failed with EINTR, as Go's os package
// does. b2fs answers a FUSE request the kernel interrupted (a signal to
// the caller: Go's preemption signals arrive all the time) with EINTR.
func retry(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

func (ft *fuseTarget) Open(path string, flags int, perm uint32) (Handle, error) {
	var fd int
	err := retry(func() (err error) { fd, err = unix.Open(ft.p(path), flags|unix.O_CLOEXEC, perm); return })
	if err != nil {
		return nil, errnoOf(err)
	}
	return fuseHandle(fd), nil
}

func (ft *fuseTarget) Mkdir(path string, perm uint32) error {
	return errnoOf(retry(func() error { return unix.Mkdir(ft.p(path), perm) }))
}
func (ft *fuseTarget) Rmdir(path string) error {
	return errnoOf(retry(func() error { return unix.Rmdir(ft.p(path)) }))
}
func (ft *fuseTarget) Unlink(path string) error {
	return errnoOf(retry(func() error { return unix.Unlink(ft.p(path)) }))
}
func (ft *fuseTarget) Link(o, n string) error {
	return errnoOf(retry(func() error { return unix.Link(ft.p(o), ft.p(n)) }))
}

func (ft *fuseTarget) Rename(from, to string, flags uint) error {
	return errnoOf(retry(func() error { return unix.Renameat2(unix.AT_FDCWD, ft.p(from), unix.AT_FDCWD, ft.p(to), flags) }))
}

func (ft *fuseTarget) Symlink(target, path string) error {
	return errnoOf(retry(func() error { return unix.Symlink(target, ft.p(path)) }))
}

func (ft *fuseTarget) Readlink(path string) (string, error) {
	buf := make([]byte, 4096)
	var n int
	err := retry(func() (err error) { n, err = unix.Readlink(ft.p(path), buf); return })
	if err != nil {
		return "", errnoOf(err)
	}
	return string(buf[:n]), nil
}

func statOf(st *unix.Stat_t) Stat {
	return Stat{Type: st.Mode & unix.S_IFMT, Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Size: st.Size,
		Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Nlink: uint64(st.Nlink)}
}

func (ft *fuseTarget) Lstat(path string) (Stat, error) {
	var st unix.Stat_t
	if err := retry(func() error { return unix.Lstat(ft.p(path), &st) }); err != nil {
		return Stat{}, errnoOf(err)
	}
	return statOf(&st), nil
}

func (ft *fuseTarget) ReadDir(path string) ([]DirEntry, error) {
	f, err := os.Open(ft.p(path))
	if err != nil {
		return nil, errnoOf(err)
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, errnoOf(err)
	}
	out := make([]DirEntry, 0, len(des))
	for _, d := range des {
		var typ uint32
		switch {
		case d.IsDir():
			typ = unix.S_IFDIR
		case d.Type()&os.ModeSymlink != 0:
			typ = unix.S_IFLNK
		case d.Type().IsRegular():
			typ = unix.S_IFREG
		}
		out = append(out, DirEntry{Name: d.Name(), Type: typ})
	}
	return out, nil
}

func (ft *fuseTarget) Chmod(path string, perm uint32) error {
	return errnoOf(retry(func() error { return unix.Chmod(ft.p(path), perm) }))
}
func (ft *fuseTarget) Lchown(path string, uid, gid int) error {
	return errnoOf(retry(func() error { return unix.Lchown(ft.p(path), uid, gid) }))
}

func (ft *fuseTarget) Lutimes(path string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	return errnoOf(retry(func() error {
		return unix.UtimesNanoAt(unix.AT_FDCWD, ft.p(path), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

func (ft *fuseTarget) Truncate(path string, size int64) error {
	return errnoOf(retry(func() error { return unix.Truncate(ft.p(path), size) }))
}

func (ft *fuseTarget) Lsetxattr(path, name string, value []byte, flags int) error {
	return errnoOf(retry(func() error { return unix.Lsetxattr(ft.p(path), name, value, flags) }))
}

func (ft *fuseTarget) Lremovexattr(path, name string) error {
	return errnoOf(retry(func() error { return unix.Lremovexattr(ft.p(path), name) }))
}

func (ft *fuseTarget) Lgetxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 64<<10)
	var n int
	err := retry(func() (err error) { n, err = unix.Lgetxattr(ft.p(path), name, buf); return })
	if err != nil {
		return nil, errnoOf(err)
	}
	return buf[:n], nil
}

func (ft *fuseTarget) Llistxattr(path string) ([]string, error) {
	buf := make([]byte, 64<<10)
	var n int
	err := retry(func() (err error) { n, err = unix.Llistxattr(ft.p(path), buf); return })
	if err != nil {
		return nil, errnoOf(err)
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}

func (ft *fuseTarget) FsyncPath(path string) error {
	var fd int
	err := retry(func() (err error) {
		fd, err = unix.Open(ft.p(path), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		return
	})
	if err != nil {
		return errnoOf(err)
	}
	err = retry(func() error { return unix.Fsync(fd) })
	unix.Close(fd)
	return errnoOf(err)
}

// fuseHandle is a file descriptor on the mount.
type fuseHandle int

func (h fuseHandle) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		var n int
		err := retry(func() (err error) { n, err = unix.Pread(int(h), p[total:], off+int64(total)); return })
		if err != nil {
			return total, errnoOf(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, nil
}

func (h fuseHandle) WriteAt(p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		var n int
		err := retry(func() (err error) { n, err = unix.Pwrite(int(h), p[total:], off+int64(total)); return })
		if err != nil {
			return total, errnoOf(err)
		}
		total += n
	}
	return total, nil
}

func (h fuseHandle) Truncate(size int64) error {
	return errnoOf(retry(func() error { return unix.Ftruncate(int(h), size) }))
}
func (h fuseHandle) Sync() error  { return errnoOf(retry(func() error { return unix.Fsync(int(h)) })) }
func (h fuseHandle) Close() error { return errnoOf(unix.Close(int(h))) } // never retried: the fd is gone
func (h fuseHandle) Stat() (Stat, error) {
	var st unix.Stat_t
	if err := retry(func() error { return unix.Fstat(int(h), &st) }); err != nil {
		return Stat{}, errnoOf(err)
	}
	return statOf(&st), nil
}

// writersWaitForReaders: with passthrough, an open for writing waits for
// the file's read-only descriptors, and they do not see a truncation (see
// fuseConfig.NoPassthrough).
func (ft *fuseTarget) writersWaitForReaders() bool { return ft.passthrough }
