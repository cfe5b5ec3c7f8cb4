package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestStopWithMountCopiedElsewhere stops b2fs while another mount
// namespace holds a copy of its mount, as one does that a sandboxed
// service (PrivateTmp=, ProtectSystem=) or a container started after the
// mount made. Unmounting removes the mount here, but the kernel keeps the
// FUSE connection for the copy; b2fs must still exit (mount.stop fails the
// test if it takes more than 15 s).
func TestStopWithMountCopiedElsewhere(t *testing.T) {
	testenv.RequireTool(t, "unshare")
	ts := newServer(t, b2emu.Options{}, "nsbucket")
	m := startMount(t, ts, mountOpts{Source: "nsbucket"})
	sh(t, m.Dir, "echo hi > f")

	// unshare -m makes the copies private: the unmount here does not
	// reach them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	holder := exec.CommandContext(ctx, "unshare", "-m", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	time.Sleep(200 * time.Millisecond) // the namespace exists once unshare has run

	start := time.Now()
	m.stop(t)
	t.Logf("b2fs stopped in %v with a copy of its mount in another namespace", time.Since(start).Round(time.Millisecond))
}
