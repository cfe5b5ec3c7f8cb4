package service

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
	"github.com/b2fs/b2fs/test/testenv"
)

// install runs scripts/install.sh into a new root and returns it.
func install(t *testing.T, extra ...string) string {
	t.Helper()
	bin := testenv.Binary(t, "b2fs")
	root := filepath.Join(t.TempDir(), "root")
	args := append([]string{filepath.Join(testenv.RepoRoot(t), "scripts", "install.sh"), "--root", root, "--binary", bin}, extra...)
	out, err := exec.Command("sh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	return root
}

// credsFile writes e's key in a 0600 credentials file.
func (e *env) credsFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte("key_id="+e.ts.KeyID+"\nkey="+e.ts.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// daemonPIDs returns the pids of b2fs processes whose command line names
// dir.
func daemonPIDs(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cl), "\x00")
		if len(args) > 0 && strings.Contains(args[0], "b2fs") && strings.Contains(string(cl), "\x00"+dir+"\x00") {
			out = append(out, pid)
		}
	}
	return out
}

// cleanupDaemon makes sure nothing stays mounted at dir or running for it.
func cleanupDaemon(t *testing.T, dir string) {
	t.Cleanup(func() {
		if testenv.IsMounted(dir) {
			exec.Command("umount", dir).Run()
		}
		deadline := time.Now().Add(15 * time.Second)
		for len(daemonPIDs(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if testenv.IsMounted(dir) {
			exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
		for _, pid := range daemonPIDs(dir) {
			t.Errorf("b2fs daemon %d still running for %s; killing it", pid, dir)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// runHelper runs the installed b2fs the way mount(8) runs a helper:
// argv[0] /sbin/mount.fuse.b2fs, SOURCE MOUNTPOINT -o OPTIONS.
func runHelper(t *testing.T, root string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "usr/local/bin/b2fs"))
	cmd.Args = append([]string{"/sbin/mount.fuse.b2fs"}, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("mount helper: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestInstallAndSystemdVerify: install.sh lays out the binary, the mount
// helper link, the unit template and the example configuration, and
// systemd-analyze verify accepts the installed unit.
func TestInstallAndSystemdVerify(t *testing.T) {
	testenv.RequireTool(t, "systemd-analyze")
	for _, tc := range []struct {
		name, prefix string
	}{{"default", "/usr/local"}, {"prefix", "/opt/b2fs"}} {
		t.Run(tc.name, func(t *testing.T) {
			var root string
			if tc.prefix == "/usr/local" {
				root = install(t)
			} else {
				root = install(t, "--prefix", tc.prefix)
			}
			bin := filepath.Join(root, tc.prefix, "bin/b2fs")
			if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
				t.Fatalf("binary %s: %v", bin, err)
			}
			if target, err := os.Readlink(filepath.Join(root, "sbin/mount.fuse.b2fs")); err != nil || target != tc.prefix+"/bin/b2fs" {
				t.Fatalf("mount helper link -> %q, %v", target, err)
			}
			unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/b2fs@.service"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"ExecStart=" + tc.prefix + "/bin/b2fs --credentials-file=${CREDENTIALS_DIRECTORY}/b2",
				"Type=notify", "KillMode=mixed", "Restart=on-failure", "LoadCredential=b2:/etc/b2fs/%i.key",
				"DeviceAllow=/dev/fuse rw", "CapabilityBoundingSet=CAP_SYS_ADMIN", "NoNewPrivileges=yes",
			} {
				if !strings.Contains(string(unit), want) {
					t.Errorf("unit lacks %q", want)
				}
			}
			if strings.Contains(string(unit), "B2_APPLICATION_KEY") {
				t.Error("the unit mentions the key variables; credentials must come from LoadCredential")
			}
			// The timeouts and the restart policy are checked against
			// b2fs's own flag parser in cmd/b2fs (TestUnitExecStartParses);
			// here: install.sh keeps them.
			for _, want := range []string{"--shutdown-timeout=5m ", "TimeoutStopSec=6min", "RestartPreventExitStatus=2", "StartLimitBurst=5"} {
				if !strings.Contains(string(unit), want) {
					t.Errorf("installed unit lacks %q", want)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "etc/b2fs/b2fs.conf.example")); err != nil {
				t.Error(err)
			}
			// systemd-analyze needs the system's own units (sysinit.target...)
			// under the root.
			if out, err := exec.Command("cp", "-r", "/lib/systemd/system", filepath.Join(root, "lib/systemd/")).CombinedOutput(); err != nil {
				if err := os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("cp", "-r", "/lib/systemd/system", filepath.Join(root, "lib/systemd/")).CombinedOutput(); err != nil {
					t.Fatalf("copy system units: %v %s", err, out)
				}
				_ = out
			}
			verify := func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", "--root="+root, "--man=no", "b2fs@media.service").CombinedOutput()
				return string(out), err
			}
			if out, err := verify(); err != nil || strings.Contains(out, "b2fs@") {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
			// The check is real: without the binary the unit is rejected.
			if err := os.Remove(bin); err != nil {
				t.Fatal(err)
			}
			if out, err := verify(); err == nil || !strings.Contains(out, "not executable") {
				t.Fatalf("verify accepted a unit whose binary is missing: %v\n%s", err, out)
			}
		})
	}
}

// TestMountHelper: mount(8)'s helper convention works: SOURCE MOUNTPOINT
// -o OPTIONS with fstab-only options ignored, b2fs long flags as
// key=value, uid/gid/umask applied; the helper returns only once the mount
// serves requests, leaves a daemon that exits when unmounted, reports
// failures with a non-zero status, and -f does nothing.
func TestMountHelper(t *testing.T) {
	e := newEnv(t, b2emu.Options{})
	if _, err := e.ts.PutFile(bucket, "docs/a.txt", []byte("alpha"), nil); err != nil {
		t.Fatal(err)
	}
	root := install(t)
	creds := e.credsFile(t)
	cache := mkdir(t, "cache")
	logFile := filepath.Join(t.TempDir(), "helper.log")
	dir := mkdir(t, "mnt")
	cleanupDaemon(t, dir)
	opts := strings.Join([]string{
		"rw", "_netdev", "x-systemd.automount", "x-systemd.idle-timeout=60", "nofail", "defaults", "noauto", "user", "nosuid", "nodev",
		"credentials-file=" + creds, "endpoint=" + e.ts.URL, "cache-dir=" + cache, "log-file=" + logFile,
		"part-size=65536", "uid=1234", "gid=2345", "umask=027",
	}, ",")

	if code, out := runHelper(t, root, bucket, dir, "-f", "-o", opts); code != 0 || testenv.IsMounted(dir) {
		t.Fatalf("mount -f: status %d, mounted %v: %s", code, testenv.IsMounted(dir), out)
	}
	code, out := runHelper(t, root, bucket, dir, "-n", "-o", opts)
	if code != 0 {
		t.Fatalf("mount helper: status %d: %s", code, out)
	}
	// Ready means ready: no polling.
	if !testenv.IsMounted(dir) || !isFUSE(dir) {
		t.Fatalf("helper returned before %s was mounted", dir)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "docs/a.txt"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 1234 || st.Gid != 2345 || st.Mode&0o777 != 0o640 {
		t.Errorf("docs/a.txt: uid %d gid %d mode %o, want 1234 2345 640", st.Uid, st.Gid, st.Mode&0o777)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs/b.txt"), []byte("beta"), 0o644); err != nil {
		t.Fatalf("write through the helper mount: %v", err)
	}
	pids := daemonPIDs(dir)
	if len(pids) != 1 {
		t.Fatalf("daemons for %s: %v", dir, pids)
	}
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitFor(t, 30*time.Second, "the daemon to exit after umount", func() bool { return len(daemonPIDs(dir)) == 0 })
	if e.remoteSHA1("docs/b.txt") != sha1Hex([]byte("beta")) {
		t.Error("docs/b.txt did not reach B2")
	}
	logs, _ := os.ReadFile(logFile)
	if !strings.Contains(string(logs), "unmounted externally") || !strings.Contains(string(logs), "B2 calls: class A") {
		t.Errorf("daemon log:\n%s", logs)
	}

	// A failure is reported by the helper itself, and nothing stays.
	code, out = runHelper(t, root, "no-such-bucket", dir, "-o", "credentials-file="+creds+",endpoint="+e.ts.URL+",cache-dir="+cache+",log-file="+logFile)
	if code == 0 || !strings.Contains(out, `bucket "no-such-bucket" not found`) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("failing mount: status %d, output %q", code, out)
	}
	if testenv.IsMounted(dir) || len(daemonPIDs(dir)) != 0 {
		t.Fatal("a failed mount left a mount or a daemon")
	}
}

// TestMountTypeFuseB2fs: a real "mount -t fuse.b2fs" (mount(8) finds
// /sbin/mount.fuse.b2fs), with ro from the options.
func TestMountTypeFuseB2fs(t *testing.T) {
	testenv.RequireTool(t, "mount", "umount")
	const helper = "/sbin/mount.fuse.b2fs"
	e := newEnv(t, b2emu.Options{})
	if _, err := e.ts.PutFile(bucket, "x.txt", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(helper); err == nil {
		// Another installation owns it; use it only if it is ours.
		if target, _ := os.Readlink(helper); target != testenv.Binary(t, "b2fs") {
			t.Logf("%s exists (-> %q); using it as installed", helper, target)
		}
	} else {
		if err := os.Symlink(testenv.Binary(t, "b2fs"), helper); err != nil {
			t.Fatalf("install %s: %v", helper, err)
		}
		t.Cleanup(func() {
			// Remove it only if it is still the link this test made.
			if target, _ := os.Readlink(helper); target == testenv.Binary(t, "b2fs") {
				os.Remove(helper)
			}
		})
	}
	dir := mkdir(t, "mnt")
	cleanupDaemon(t, dir)
	creds := e.credsFile(t)
	opts := "ro,_netdev,nofail,credentials-file=" + creds + ",endpoint=" + e.ts.URL + ",cache-dir=" + mkdir(t, "cache") + ",log-file=" + filepath.Join(t.TempDir(), "log")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mount", "-t", "fuse.b2fs", bucket, dir, "-o", opts).CombinedOutput(); err != nil {
		t.Fatalf("mount -t fuse.b2fs: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "x.txt")); err != nil || string(b) != "x" {
		t.Fatalf("read: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "y.txt"), []byte("y"), 0o644); !errorsIsErrno(err, syscall.EROFS) {
		t.Errorf("write on an ro mount: %v, want EROFS", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var line string
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[1] == dir {
			line = l
		}
	}
	if !strings.Contains(line, "fuse.b2fs") || !strings.HasPrefix(strings.Fields(line)[3], "ro") {
		t.Errorf("mount entry %q: want type fuse.b2fs, ro", line)
	}
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitFor(t, 30*time.Second, "the daemon to exit", func() bool { return len(daemonPIDs(dir)) == 0 })
}

func errorsIsErrno(err error, want syscall.Errno) bool {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return e == want
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
