package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// detachGrace is how long the serve loops are given to end once the mount
// is detached.
const detachGrace = 2 * time.Second

// unmount detaches the mount at mp, lazily when files are still open
// (lazy is then true), and returns once the mount is detached and either
// the kernel has ended the FUSE connection (done is closed) or
// detachGrace has passed.
//
// The kernel ends the connection when the filesystem's last mount goes.
// A mount namespace created while b2fs was mounted (unshare, a container)
// holds a copy of the mount, so the connection can outlive the unmount;
// go-fuse's Unmount then waits for its serve loops forever. b2fs does not
// wait for them: when it exits, the connection ends.
func (s *session) unmount(mp string, done <-chan struct{}) (lazy bool) {
	dev, _ := mountDev(absMountpoint(mp))
	res := make(chan error, 1)
	go func() { res <- s.srv.Unmount() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-res:
			if err == nil {
				return false
			}
			s.log.Info("mount point busy (files still open); detaching it lazily and waiting for them to close", "mountpoint", mp, "shutdown_timeout", s.cfg.svc.shutdownTimeout)
			if err := lazyUnmount(mp); err != nil {
				s.log.Error("cannot detach the mount", "mountpoint", mp, "err", err)
			}
			return true
		case <-tick.C:
			if d, ok := mountDev(absMountpoint(mp)); dev == "" || ok && d == dev {
				continue
			}
			// Detached: Unmount now waits for the serve loops.
			select {
			case <-done:
			case <-time.After(detachGrace):
				s.log.Info("the FUSE connection stays open after the unmount (the mount is still referenced elsewhere, e.g. by another mount namespace); it ends when b2fs exits", "mountpoint", mp)
			}
			return false
		}
	}
}

// absMountpoint is mp as /proc/self/mountinfo names it: absolute, its
// parent's symbolic links resolved (mp itself is not looked at: that would
// be a request to the filesystem).
func absMountpoint(mp string) string {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return mp
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// mountDev returns the device (major:minor) of the topmost mount at mp,
// read from /proc/self/mountinfo (which, unlike a stat of mp, sends the
// filesystem no request).
func mountDev(mp string) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	esc := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(mp)
	dev, found := "", false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) > 4 && fl[4] == esc {
			dev, found = fl[2], true
		}
	}
	return dev, found
}
