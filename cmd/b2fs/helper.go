package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// isMountHelper reports whether b2fs was started as a mount(8) helper:
// mount -t fuse.b2fs runs /sbin/mount.fuse.b2fs (a link to b2fs).
func isMountHelper(argv0 string) bool {
	base := filepath.Base(argv0)
	return base == "mount.fuse.b2fs" || base == "mount.b2fs"
}

// helperArgs turns mount(8)'s helper calling convention
//
//	mount.fuse.b2fs SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t TYPE] [-N NS]
//
// into b2fs arguments: --daemon -o OPTIONS SOURCE MOUNTPOINT. SOURCE may be
// written "b2fs#BUCKET" (the fuse type#source convention); "none" or "b2fs"
// alone mount the account. fake is true for -f (mount -f: do everything but
// the mount).
func helperArgs(args []string) (out []string, fake bool, err error) {
	var pos, opts []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 >= len(args) {
				return nil, false, usageError{fmt.Sprintf("mount helper: %s needs a value", a)}
			}
			if a == "-o" {
				opts = append(opts, args[i+1])
			}
			i++
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts = append(opts, a[2:])
		case strings.HasPrefix(a, "--"):
			out = append(out, a) // a b2fs long flag given directly
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 's', 'n', 'v': // sloppy, no mtab, verbose: nothing to do
				case 'f':
					fake = true
				default:
					return nil, false, usageError{fmt.Sprintf("mount helper: unknown option -%c", c)}
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, false, usageError{"mount helper: expected SOURCE MOUNTPOINT [-o OPTIONS]"}
	}
	src := strings.TrimPrefix(pos[0], "b2fs#")
	if src == "none" || src == "b2fs" {
		src = ""
	}
	out = append([]string{"--daemon"}, out...)
	for _, o := range opts {
		out = append(out, "-o", o)
	}
	if src != "" {
		out = append(out, src)
	}
	return append(out, pos[1]), fake, nil
}

// daemonize starts b2fs again in the background with args, in its own
// session with stdio on /dev/null, and waits until the child reports that
// the mount serves requests (exit status 0) or that it failed (1).
// With logFile set, the child's stderr (where a crash would print) goes
// there too.
func daemonize(args []string, logFile string, stderr io.Writer, wait time.Duration) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "b2fs: cannot find own executable: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "b2fs: %v\n", err)
		return 1
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "b2fs: %v\n", err)
		return 1
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	if logFile != "" {
		lf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "b2fs: log file: %v\n", err)
			return 1
		}
		defer lf.Close()
		cmd.Stderr = lf
	}
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		fmt.Fprintf(stderr, "b2fs: start background process: %v\n", err)
		return 1
	}
	w.Close()
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	msg := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		msg <- strings.TrimSpace(line)
	}()
	var timeout <-chan time.Time // wait 0: no limit
	if wait > 0 {
		timeout = time.After(wait)
	}
	select {
	case m := <-msg:
		switch {
		case m == "ok":
			return 0
		case strings.HasPrefix(m, "error: "):
			fmt.Fprintf(stderr, "b2fs: %s\n", strings.TrimPrefix(m, "error: "))
			// Return once the child is gone, so that a failed mount
			// leaves nothing behind.
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
		default:
			fmt.Fprintf(stderr, "b2fs: the background process (pid %d) exited before mounting; see its log (syslog or --log-file)\n", pid)
		}
	case <-timeout:
		fmt.Fprintf(stderr, "b2fs: the background process (pid %d) did not mount within %v; it keeps trying, see its log\n", pid, wait)
	}
	return 1
}
