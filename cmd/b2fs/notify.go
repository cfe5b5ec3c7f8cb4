package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// readyFDEnv names the file descriptor on which a --daemon child reports
// to its parent: "ok\n" once the mount serves requests, or "error: MSG\n".
const readyFDEnv = "B2FS_READY_FD"

// notifier tells systemd (Type=notify, via NOTIFY_SOCKET) and a waiting
// --daemon parent about the service's state.
type notifier struct {
	log *slog.Logger

	mu     sync.Mutex
	parent *os.File // the --daemon parent's pipe, nil once reported
}

func newNotifier(getenv func(string) string, log *slog.Logger) *notifier {
	n := &notifier{log: log}
	if s := getenv(readyFDEnv); s != "" {
		if fd, err := strconv.Atoi(s); err == nil && fd > 2 {
			n.parent = os.NewFile(uintptr(fd), "ready-pipe")
		}
	}
	return n
}

// sd sends one state to systemd; without NOTIFY_SOCKET it does nothing.
func (n *notifier) sd(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Debug("sd_notify", "state", state, "err", err)
	}
}

// ready reports that the mount serves requests.
func (n *notifier) ready(status string) {
	n.sd(daemon.SdNotifyReady + "\nSTATUS=" + status)
	n.report("ok\n")
}

// status updates the one-line status systemctl shows.
func (n *notifier) status(s string) { n.sd("STATUS=" + s) }

// waiting reports that the start waits for B2, and asks systemd for more
// time than TimeoutStartSec= when --startup-timeout allows a longer wait
// (EXTEND_TIMEOUT_USEC; the next attempt comes well within 90s).
func (n *notifier) waiting(status string) {
	n.sd("STATUS=" + status + "\nEXTEND_TIMEOUT_USEC=90000000")
}

// stopping reports that b2fs is shutting down.
func (n *notifier) stopping(status string) {
	n.sd(daemon.SdNotifyStopping + "\nSTATUS=" + status)
}

// failed tells a waiting --daemon parent why the mount did not happen.
func (n *notifier) failed(err error) {
	n.report("error: " + strings.Join(strings.Fields(err.Error()), " ") + "\n")
}

func (n *notifier) report(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.parent == nil {
		return
	}
	if _, err := fmt.Fprint(n.parent, msg); err != nil {
		n.log.Warn("report to the waiting mount command", "err", err)
	}
	n.parent.Close()
	n.parent = nil
}

// watchdog pings systemd's watchdog (WatchdogSec=, WATCHDOG_USEC) at half
// the interval, but only while the kernel gets an answer to a statfs of the
// mount within that time: a b2fs whose FUSE server hangs stops pinging and
// systemd restarts it (the restart cleans the stale mount and recovers
// staged files). It returns when ctx ends; without a watchdog it returns
// at once.
func (n *notifier) watchdog(ctx context.Context, mountpoint string) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	every := interval / 2
	n.log.Info("systemd watchdog enabled", "interval", interval)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := waitServing(mountpoint, every); err != nil {
			n.log.Error("mount does not answer; not pinging the systemd watchdog", "err", err)
			continue
		}
		n.sd(daemon.SdNotifyWatchdog)
	}
}

// extend updates the status and asks systemd for d more before it gives up
// waiting (EXTEND_TIMEOUT_USEC; while starting or stopping).
func (n *notifier) extend(status string, d time.Duration) {
	n.sd(fmt.Sprintf("STATUS=%s\nEXTEND_TIMEOUT_USEC=%d", status, d.Microseconds()))
}
