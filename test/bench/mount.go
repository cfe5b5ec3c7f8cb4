package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Tool names.
const (
	toolB2fs          = "b2fs"
	toolB2fsWriteBack = "b2fs-wb"
	toolRclone        = "rclone"
	toolRcloneWrites  = "rclone-w"
)

// toolTitle is how a tool's column is headed in the table.
var toolTitle = map[string]string{
	toolB2fs:          "b2fs",
	toolB2fsWriteBack: "b2fs write-back",
	toolRclone:        "rclone",
	toolRcloneWrites:  "rclone vfs=writes",
}

// mount is one running FUSE mount: the tool's process and its mountpoint.
type mount struct {
	tool     string
	dir      string
	cacheDir string
	cmd      *exec.Cmd
	done     chan struct{}
	logPath  string
	rcURL    string // rclone's remote control (rclone-w with mountEnv.rcloneRC)
}

// mounts tracks every live mount so that all of them can be removed when
// the run fails or is interrupted.
type mounts struct {
	mu   sync.Mutex // guards live
	live map[*mount]bool
}

func (ms *mounts) add(m *mount) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.live == nil {
		ms.live = map[*mount]bool{}
	}
	ms.live[m] = true
}

func (ms *mounts) remove(m *mount) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.live, m)
}

// cleanup unmounts and stops everything still live.
func (ms *mounts) cleanup() {
	ms.mu.Lock()
	var all []*mount
	for m := range ms.live {
		all = append(all, m)
	}
	ms.mu.Unlock()
	for _, m := range all {
		m.unmount()
		ms.remove(m)
	}
}

// mountEnv is what starting a mount needs.
type mountEnv struct {
	b2fsBin  string
	url      string
	keyID    string
	key      string
	bucket   string
	workDir  string
	seq      int
	b2fsArgs []string
	rcArgs   []string
	// rcloneRC serves rclone-w's remote control on 127.0.0.1, so that the
	// harness can ask it whether uploads are still queued (vfs/stats).
	rcloneRC bool
	// b2fsCacheDir tells whether b2fs has a write path with --cache-dir.
	b2fsCacheDir bool
}

// b2fsHasFlag reports whether b2fs --help lists flag.
func b2fsHasFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	return strings.Contains(string(out), flag)
}

// startMount mounts the bucket with tool at a fresh directory and waits
// until the kernel shows the mount.
func (ms *mounts) startMount(ctx context.Context, env *mountEnv, tool string) (*mount, error) {
	env.seq++
	name := fmt.Sprintf("%s-%03d", tool, env.seq)
	m := &mount{
		tool:     tool,
		dir:      filepath.Join(env.workDir, "mnt", name),
		cacheDir: filepath.Join(env.workDir, "cache", name),
		logPath:  filepath.Join(env.workDir, "logs", name+".log"),
	}
	if err := ms.start(ctx, env, m); err != nil {
		return nil, err
	}
	return m, nil
}

// restart stops m's process, keeping its cache directory, and mounts
// again at the same place with the same cache directory.
func (ms *mounts) restart(ctx context.Context, env *mountEnv, m *mount) error {
	cache := m.cacheDir
	m.cacheDir = "" // kept
	ms.stop(m)
	m.cacheDir = cache
	m.logPath = strings.TrimSuffix(m.logPath, ".log") + "-restarted.log"
	return ms.start(ctx, env, m)
}

// start runs m's tool and waits until the kernel shows the mount.
func (ms *mounts) start(ctx context.Context, env *mountEnv, m *mount) error {
	tool := m.tool
	m.done = make(chan struct{})
	for _, d := range []string{m.dir, m.cacheDir, filepath.Dir(m.logPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	var cmd *exec.Cmd
	switch tool {
	case toolB2fs, toolB2fsWriteBack:
		args := []string{"--endpoint", env.url, "--log-level", "warn"}
		if tool == toolB2fsWriteBack {
			args = append(args, "--write-back")
		}
		if env.b2fsCacheDir {
			args = append(args, "--cache-dir", m.cacheDir)
		}
		args = append(args, env.b2fsArgs...)
		args = append(args, env.bucket, m.dir)
		cmd = exec.Command(env.b2fsBin, args...)
		cmd.Env = append(os.Environ(), "B2_APPLICATION_KEY_ID="+env.keyID, "B2_APPLICATION_KEY="+env.key)
	case toolRclone, toolRcloneWrites:
		args := []string{"mount", ":b2:" + env.bucket, m.dir, "--cache-dir", m.cacheDir, "--log-level", "NOTICE"}
		if tool == toolRcloneWrites {
			args = append(args, "--vfs-cache-mode", "writes")
		}
		if tool == toolRcloneWrites && env.rcloneRC {
			port, err := freePort()
			if err != nil {
				return err
			}
			m.rcURL = fmt.Sprintf("http://127.0.0.1:%d/", port)
			args = append(args, "--rc", "--rc-no-auth", "--rc-addr", fmt.Sprintf("127.0.0.1:%d", port))
		}
		args = append(args, env.rcArgs...)
		cmd = exec.Command("rclone", args...)
		conf := filepath.Join(env.workDir, "rclone.conf")
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			return err
		}
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf, "RCLONE_B2_ACCOUNT="+env.keyID,
			"RCLONE_B2_KEY="+env.key, "RCLONE_B2_ENDPOINT="+env.url)
	default:
		return fmt.Errorf("unknown tool %q", tool)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", tool, err)
	}
	m.cmd = cmd
	go func() { _ = cmd.Wait(); close(m.done) }()
	ms.add(m)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ok, _ := isMounted(m.dir); ok {
			return nil
		}
		select {
		case <-m.done:
			ms.remove(m)
			return fmt.Errorf("%s exited before mounting: %s", tool, tail(m.logPath))
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
		}
		m.unmount()
		ms.remove(m)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s did not mount within 30s: %s", tool, tail(m.logPath))
	}
}

// stop unmounts (SIGTERM lets the tool finish and unmount itself; a lazy
// unmount and SIGKILL follow when it does not within the timeout) and
// removes the cache directory.
func (ms *mounts) stop(m *mount) {
	m.unmount()
	ms.remove(m)
}

func (m *mount) unmount() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(30 * time.Second):
		}
	}
	if ok, _ := isMounted(m.dir); ok {
		_ = exec.Command("fusermount3", "-u", "-z", m.dir).Run()
	}
	if m.cmd != nil && m.cmd.Process != nil {
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	}
	_ = os.Remove(m.dir)
	if m.cacheDir != "" {
		_ = os.RemoveAll(m.cacheDir)
	}
}

// alive reports whether the tool's process still runs.
func (m *mount) alive() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// peakRSS returns the tool process's VmHWM in bytes.
func (m *mount) peakRSS() (int64, error) { return m.statusBytes("VmHWM:") }

// rss returns the tool process's VmRSS (its memory now) in bytes.
func (m *mount) rss() (int64, error) { return m.statusBytes("VmRSS:") }

// statusBytes reads a kB field of the tool process's /proc status.
func (m *mount) statusBytes(field string) (int64, error) {
	if m.cmd == nil || m.cmd.Process == nil || !m.alive() {
		return 0, errors.New("process not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, err
				}
				return kb << 10, nil
			}
		}
	}
	return 0, errors.New("no " + field + " in /proc status")
}

// isMounted reports whether dir is a mountpoint in this mount namespace.
func isMounted(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	if s == "" {
		return "(empty log)"
	}
	return strings.Join(strings.Fields(s), " ")
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
