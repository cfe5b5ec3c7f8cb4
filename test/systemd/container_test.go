package systemd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

// The container's root file system: Debian bookworm, minbase, with what
// b2fs needs to run as a service. Built once with debootstrap and cached,
// keyed on everything that goes into it.
const (
	suite    = "bookworm"
	variant  = "minbase"
	packages = "systemd,systemd-sysv,dbus,fuse3,procps"
)

// cacheBase holds the cached roots; B2FS_TEST_ROOT_CACHE overrides it (to
// measure an uncached run, or on a machine where /var/cache is small).
func cacheBase() string {
	if d := os.Getenv("B2FS_TEST_ROOT_CACHE"); d != "" {
		return d
	}
	return "/var/cache/b2fs-test"
}

// runBase holds the per-run copies of the root.
const runBase = "/var/tmp"

// debianMirror is the Debian archive this machine's apt uses (one-line or
// deb822 sources), so debootstrap reaches only the mirror apt already uses.
func debianMirror() string {
	var files []string
	files = append(files, "/etc/apt/sources.list")
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(files, more...)
	more, _ = filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, more...)
	return debianMirrorFrom(files)
}

// debianMirrorFrom picks the mirror from these apt source files.
func debianMirrorFrom(files []string) string {
	var best, any string // a .../debian archive with our suite; any .../debian archive
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// Each stanza (deb822) or line (one-line format) gives URIs and
		// suites.
		var uris, suites []string
		flush := func() {
			for _, u := range uris {
				u = strings.TrimRight(u, "/")
				if !strings.HasSuffix(u, "/debian") {
					continue
				}
				if any == "" {
					any = u
				}
				for _, s := range suites {
					if s == suite && best == "" {
						best = u
					}
				}
			}
			uris, suites = nil, nil
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case l == "":
				flush()
			case strings.HasPrefix(l, "#"):
			case strings.HasPrefix(l, "URIs:"):
				uris = strings.Fields(strings.TrimPrefix(l, "URIs:"))
			case strings.HasPrefix(l, "Suites:"):
				suites = strings.Fields(strings.TrimPrefix(l, "Suites:"))
			case strings.HasPrefix(l, "deb "):
				f := strings.Fields(l)[1:]
				if len(f) > 0 && strings.HasPrefix(f[0], "[") {
					for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
						f = f[1:]
					}
					if len(f) > 0 {
						f = f[1:]
					}
				}
				if len(f) >= 2 {
					uris, suites = f[:1], f[1:2]
					flush()
				}
			}
		}
		flush()
	}
	switch {
	case best != "":
		return best
	case any != "":
		return any
	}
	return "http://deb.debian.org/debian"
}

// cachedRoot returns the cached root, running debootstrap when there is
// none (about a minute or two; once per package list and mirror).
func cachedRoot(t *testing.T) string {
	t.Helper()
	mirror := debianMirror()
	sum := sha256.Sum256([]byte(fmt.Sprintf("suite=%s variant=%s include=%s mirror=%s", suite, variant, packages, mirror)))
	key := hex.EncodeToString(sum[:])[:16]
	base := cacheBase()
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, suite+"-"+key)
	// One builder at a time, across processes.
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "usr/lib/systemd/systemd")); err == nil {
		t.Logf("cached root %s (mirror %s)", dir, mirror)
		return dir
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant="+variant, "--include="+packages, suite, tmp, mirror)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("debootstrap %s from %s: %v\n%s", suite, mirror, err, testenv.Tail(string(out), 30))
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap %s from %s into %s: %v", suite, mirror, dir, time.Since(start).Round(time.Second))
	return dir
}

// container is a Debian system booted with systemd-nspawn.
type container struct {
	name    string
	dir     string // run directory: root/, console.log, nspawn.pid
	root    string
	cmd     *exec.Cmd
	pid     int // the container's PID 1, as the host sees it
	exited  chan struct{}
	stopped sync.Once
	stopErr []string
}

var (
	liveMu sync.Mutex
	live   = map[*container]bool{}
)

// teardownAll stops every container still running (on a signal).
func teardownAll() {
	liveMu.Lock()
	cs := make([]*container, 0, len(live))
	for c := range live {
		cs = append(cs, c)
	}
	liveMu.Unlock()
	for _, c := range cs {
		c.stop()
		c.removeDir()
	}
}

// removeDir deletes the run directory unless something is still mounted
// below it (then deleting could reach into the mounted file system).
func (c *container) removeDir() error {
	if m := mountsBelow(c.dir); len(m) > 0 {
		return fmt.Errorf("still mounted below %s: %v; not removing it", c.dir, m)
	}
	return os.RemoveAll(c.dir)
}

func TestMain(m *testing.M) {
	// A test binary stopped by a signal (^C, go test's own kill on
	// timeout sends SIGQUIT first) still powers its containers off.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "test/systemd: %v: stopping containers\n", s)
		teardownAll()
		os.Exit(1)
	}()
	sweepStale()
	code := m.Run()
	teardownAll()
	testenv.Cleanup()
	os.Exit(code)
}

// sweepStale cleans up after earlier runs that died without their
// cleanup (a test binary killed with SIGKILL or by go test's timeout):
// systemd-nspawn dies with the test binary (Pdeathsig) but the container's
// PID 1 survives it, so it is killed here by its recorded PID and start
// time; then the run directory is removed if nothing is mounted below it.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(runBase, "b2fs-systemd-*"))
	for _, d := range dirs {
		// Another test binary's, still running (or just created)?
		if alive(filepath.Join(d, "owner.pid")) || alive(filepath.Join(d, "nspawn.pid")) {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "owner.pid")); err != nil {
			// No owner yet: being created now, or its binary died at
			// once. Only old ones are taken.
			if st, err := os.Stat(d); err != nil || time.Since(st.ModTime()) < 10*time.Minute {
				continue
			}
		}
		if b, err := os.ReadFile(filepath.Join(d, "init.pid")); err == nil {
			var pid int
			var started string
			if _, err := fmt.Sscan(string(b), &pid, &started); err == nil && pid > 1 && startTime(pid) == started {
				syscall.Kill(pid, syscall.SIGKILL)
				for i := 0; i < 100 && startTime(pid) == started; i++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
		if len(mountsBelow(d)) == 0 {
			os.RemoveAll(d)
		}
	}
}

// alive reports whether the process a pid file names ("PID [START]") still
// runs.
func alive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	return len(f) < 2 || startTime(pid) == f[1]
}

// startTime is field 22 of /proc/PID/stat (clock ticks since boot), which
// tells a process from a later one with the same PID; "" if there is none.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

// mountsBelow lists the host's mount points at or below dir.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := strings.ReplaceAll(fields[4], `\040`, " ")
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
			}
		}
	}
	return out
}

// newContainer copies the cached root, lets prepare write files into it,
// boots it and waits until systemd has finished starting. Cleanup powers
// it off (killing it if it does not stop), makes sure nothing is left
// mounted and removes the copy.
func newContainer(t *testing.T, prepare func(root string)) *container {
	t.Helper()
	cached := cachedRoot(t)
	dir, err := os.MkdirTemp(runBase, "b2fs-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	// Marks the directory as this test binary's for sweepStale.
	me := os.Getpid()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(fmt.Sprintf("%d %s\n", me, startTime(me))), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &container{name: "b2fs-" + filepath.Base(dir)[len("b2fs-systemd-"):], dir: dir, root: filepath.Join(dir, "root"), exited: make(chan struct{})}
	t.Cleanup(func() {
		c.stop()
		for _, e := range c.stopErr {
			t.Error(e)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "console.log")); err == nil {
				t.Logf("container console (tail):\n%s", testenv.Tail(string(b), 40))
			}
		}
		if err := c.removeDir(); err != nil {
			t.Error(err)
		}
	})
	start := time.Now()
	if out, err := exec.Command("cp", "-a", "--reflink=auto", cached, c.root).CombinedOutput(); err != nil {
		t.Fatalf("copy root: %v\n%s", err, out)
	}
	t.Logf("copied the root in %v", time.Since(start).Round(time.Millisecond))
	prepare(c.root)

	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	c.cmd = exec.Command("systemd-nspawn", "-D", c.root, "--boot",
		"--bind=/dev/fuse", "--capability=all", "--system-call-filter=bpf",
		"-M", c.name, "--register=no", "--keep-unit")
	c.cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	c.cmd.Stdout, c.cmd.Stderr = console, console
	// nspawn dies with the test binary; its container dies with nspawn.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	liveMu.Lock()
	live[c] = true
	liveMu.Unlock()
	go func() { c.cmd.Wait(); close(c.exited) }()
	os.WriteFile(filepath.Join(dir, "nspawn.pid"), []byte(strconv.Itoa(c.cmd.Process.Pid)), 0o644)

	// PID 1 of the container is nspawn's child running systemd.
	deadline := time.Now().Add(30 * time.Second)
	for c.pid == 0 {
		select {
		case <-c.exited:
			t.Fatalf("systemd-nspawn exited at once; console:\n%s", readTail(filepath.Join(dir, "console.log")))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no systemd in the container after 30s")
		}
		c.pid = findInit(c.cmd.Process.Pid)
		if c.pid == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.WriteFile(filepath.Join(dir, "init.pid"), []byte(fmt.Sprintf("%d %s\n", c.pid, startTime(c.pid))), 0o644)
	// go test's -timeout ends the binary without cleanups: power off
	// before that.
	if d, ok := t.Deadline(); ok {
		timer := time.AfterFunc(time.Until(d)-time.Minute, func() {
			fmt.Fprintf(os.Stderr, "test/systemd: the test's deadline is near: stopping the container\n")
			c.stop()
		})
		t.Cleanup(func() { timer.Stop() })
	}
	// systemctl answers once systemd has its private socket; then wait
	// for the boot to finish.
	var state string
	deadline = time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		out, _ := c.exec(ctx, "systemctl", "is-system-running", "--wait")
		cancel()
		state = strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(state, "Failed to connect") && state != "offline" && state != "starting" && state != "initializing" {
			t.Fatalf("system state %q; console:\n%s", state, readTail(filepath.Join(dir, "console.log")))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("booted in %v: %s", time.Since(start).Round(time.Millisecond), state)
	if state == "degraded" {
		failed, _ := c.exec(context.Background(), "systemctl", "--failed", "--no-legend")
		t.Logf("failed units at boot (not b2fs's):\n%s", failed)
	}
	return c
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	return testenv.Tail(string(b), 40)
}

// findInit returns the child of nspawn that is PID 1 in its own PID
// namespace.
func findInit(nspawn int) int {
	kids, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", nspawn))
	for _, k := range kids {
		b, _ := os.ReadFile(k)
		for _, f := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + f + "/status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(st), "\n") {
				if strings.HasPrefix(l, "NSpid:") && strings.HasSuffix(l, "\t1") {
					comm, _ := os.ReadFile("/proc/" + f + "/comm")
					if strings.TrimSpace(string(comm)) == "systemd" {
						n, _ := strconv.Atoi(f)
						return n
					}
				}
			}
		}
	}
	return 0
}

// command returns a command run inside the container (all its namespaces)
// with a plain environment.
func (c *container) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(c.pid), "-a", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "TERM=dumb"}
	return cmd
}

// exec runs a command inside the container and returns its combined
// output.
func (c *container) exec(ctx context.Context, args ...string) (string, error) {
	out, err := c.command(ctx, args...).CombinedOutput()
	return string(out), err
}

// must runs a command inside the container; a failure fails the test.
func (c *container) must(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.exec(ctx, args...)
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// sh runs a shell script inside the container.
func (c *container) sh(t *testing.T, script string) string {
	t.Helper()
	return c.must(t, "sh", "-c", script)
}

// show returns one property of a unit.
func (c *container) show(t *testing.T, unit, prop string) string {
	t.Helper()
	return strings.TrimSpace(c.must(t, "systemctl", "show", "-p", prop, "--value", unit))
}

// journal returns a unit's log.
func (c *container) journal(t *testing.T, unit string) string {
	t.Helper()
	out, _ := c.exec(context.Background(), "journalctl", "--no-pager", "-o", "cat", "-u", unit)
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop powers the container off, kills it when that takes more than 30
// seconds, and waits for systemd-nspawn to exit. The FUSE mounts live in
// the container's mount namespace and go with it.
func (c *container) stop() {
	c.stopped.Do(func() {
		liveMu.Lock()
		delete(live, c)
		liveMu.Unlock()
		if c.cmd == nil || c.cmd.Process == nil {
			return
		}
		// SIGRTMIN+4 (glibc's SIGRTMIN is 34) asks systemd to power off;
		// unlike systemctl it needs no socket. Sent again every 2s: early
		// in the boot systemd has no handler yet.
		deadline := time.After(30 * time.Second)
	wait:
		for {
			if c.pid != 0 {
				syscall.Kill(c.pid, syscall.Signal(34+4))
			}
			select {
			case <-c.exited:
				return
			case <-deadline:
				break wait
			case <-time.After(2 * time.Second):
			}
		}
		c.stopErr = append(c.stopErr, "the container did not power off within 30s; killed")
		if c.pid != 0 {
			syscall.Kill(c.pid, syscall.SIGKILL) // ends its whole PID namespace
		}
		select {
		case <-c.exited:
			return
		case <-time.After(10 * time.Second):
		}
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			c.stopErr = append(c.stopErr, "systemd-nspawn survived SIGKILL")
		}
	})
}
