package service

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// TestUnitPrivileges: b2fs works with exactly the privileges the systemd
// unit leaves it (no_new_privs, capability bounding set CAP_SYS_ADMIN):
// it mounts, writes, and unmounts at SIGTERM. Without CAP_SYS_ADMIN it
// cannot mount and says so.
func TestUnitPrivileges(t *testing.T) {
	testenv.RequireTool(t, "setpriv")
	e := newEnv(t, b2emu.Options{})
	p := e.start(procOpts{Wrap: []string{"setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all,+sys_admin"}})
	status, err := os.ReadFile("/proc/" + itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "NoNewPrivs:\t1") || !strings.Contains(string(status), "CapBnd:\t0000000000200000") {
		t.Fatalf("b2fs does not run with the unit's privileges:\n%s", status)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "w.txt"), []byte("written"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 || testenv.IsMounted(p.dir) {
		t.Fatalf("status %d, mounted %v:\n%s", code, testenv.IsMounted(p.dir), p.out)
	}
	if e.remoteSHA1("w.txt") != sha1Hex([]byte("written")) {
		t.Error("w.txt did not reach B2")
	}

	// The capability is needed.
	q := e.start(procOpts{NoWait: true, Wrap: []string{"setpriv", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"}})
	if code := q.wait(30 * time.Second); code != 1 || testenv.IsMounted(q.dir) || !strings.Contains(q.out.String(), "b2fs: mount") {
		t.Fatalf("without CAP_SYS_ADMIN: status %d, mounted %v:\n%s", code, testenv.IsMounted(q.dir), q.out)
	}
}
