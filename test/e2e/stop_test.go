package e2e

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestStopWithMountInOtherNamespace stops b2fs while another mount
// namespace (created after the mount, as unshare and containers do) holds
// a copy of its mount: the unmount then does not end the FUSE connection,
// and b2fs must still exit promptly after SIGTERM (mount.stop fails the
// test after 15 s).
func TestStopWithMountInOtherNamespace(t *testing.T) {
	testenv.RequireTool(t, "unshare")
	ts := newServer(t, b2emu.Options{}, "ns-bucket")
	put(t, ts, "ns-bucket", "f", []byte("hello"), nil)
	m := startMount(t, ts, mountOpts{Source: "ns-bucket"})
	if got := sh(t, m.Dir, "cat f"); got != "hello" {
		t.Fatalf("cat f: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := exec.CommandContext(ctx, "unshare", "--mount", "sleep", "120")
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Process.Kill(); ns.Wait() })
	// Wait until the new namespace holds the mount.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mi, _ := os.ReadFile("/proc/" + strconv.Itoa(ns.Process.Pid) + "/mountinfo")
		self, _ := os.Readlink("/proc/self/ns/mnt")
		other, _ := os.Readlink("/proc/" + strconv.Itoa(ns.Process.Pid) + "/ns/mnt")
		if other != "" && other != self && strings.Contains(string(mi), m.Dir) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mount namespace of unshare does not show %s", m.Dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	m.stop(t)
	t.Logf("b2fs stopped %v after SIGTERM", time.Since(start))
	if !strings.Contains(m.stderr.String(), "FUSE connection stays open after the unmount") {
		t.Errorf("b2fs did not log why it did not wait for the connection to end")
	}
}
