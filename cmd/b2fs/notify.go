package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

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
