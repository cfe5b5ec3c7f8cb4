// Package debpkg tests the Debian package scripts/package.sh builds: its
// contents, the generated manual pages, and lintian. Installing it and
// running the service under a real systemd is test/systemd's job.
package debpkg

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPackageContents: the package holds the programs, the mount helper
// where libmount looks for it, the unit (pointing at the packaged binary),
// the example configuration as a conffile, manual pages that list every
// flag, copyright and changelog, all owned by root.
func TestPackageContents(t *testing.T) {
	testenv.RequireTool(t, "dpkg-deb")
	deb := testenv.DebPackage(t)
	if !regexp.MustCompile(`/b2fs_[0-9][^_]*_[a-z0-9]+\.deb$`).MatchString(deb) {
		t.Errorf("package file name %s is not b2fs_VERSION_ARCH.deb", deb)
	}
	listing := run(t, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/bin/b2fs\n",
		"-rwxr-xr-x root/root .* ./usr/bin/b2emu\n",
		"lrwxrwxrwx root/root .* ./sbin/mount.fuse.b2fs -> /usr/bin/b2fs\n",
		"-rw-r--r-- root/root .* ./lib/systemd/system/b2fs@.service\n",
		"-rw-r--r-- root/root .* ./etc/b2fs/b2fs.conf.example\n",
		"-rw-r--r-- root/root .* ./usr/share/man/man1/b2fs.1.gz\n",
		"-rw-r--r-- root/root .* ./usr/share/man/man1/b2emu.1.gz\n",
		"lrwxrwxrwx root/root .* ./usr/share/man/man8/mount.fuse.b2fs.8.gz -> ../man1/b2fs.1.gz\n",
		"-rw-r--r-- root/root .* ./usr/share/doc/b2fs/copyright\n",
		"-rw-r--r-- root/root .* ./usr/share/doc/b2fs/changelog.gz\n",
	} {
		if !regexp.MustCompile(want).MatchString(listing) {
			t.Errorf("package lacks %q:\n%s", strings.TrimSpace(want), listing)
		}
	}
	if strings.Contains(listing, "/usr/local") {
		t.Errorf("package installs below /usr/local:\n%s", listing)
	}
	if got := strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, "Package")); got != "b2fs" {
		t.Errorf("Package: %q", got)
	}
	if dep := run(t, "dpkg-deb", "--field", deb, "Depends"); !strings.Contains(dep, "fuse3") {
		t.Errorf("Depends: %q lacks fuse3 (fusermount3)", dep)
	}
	if cf := run(t, "dpkg-deb", "--info", deb, "conffiles"); strings.TrimSpace(cf) != "/etc/b2fs/b2fs.conf.example" {
		t.Errorf("conffiles: %q", cf)
	}

	dir := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, dir)
	// The unit is the shipped one with the packaged path, nothing else.
	repoUnit, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "scripts/systemd/b2fs@.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(dir, "lib/systemd/system/b2fs@.service"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(string(repoUnit), "/usr/local/bin/b2fs", "/usr/bin/b2fs"); string(unit) != want {
		t.Errorf("packaged unit differs from scripts/systemd/b2fs@.service beyond the binary's path")
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/b2fs ") {
		t.Errorf("packaged unit does not run /usr/bin/b2fs")
	}
	// The packaged binary is the right one and reports the package version.
	bin := filepath.Join(dir, "usr/bin/b2fs")
	version := strings.TrimSpace(run(t, "dpkg-deb", "--field", deb, "Version"))
	if v := run(t, bin, "--version"); !strings.Contains(v, "b2fs "+version+" ") {
		t.Errorf("b2fs --version: %q, want version %s", v, version)
	}
	// Every visible flag of --help is in the manual page.
	page := gunzip(t, filepath.Join(dir, "usr/share/man/man1/b2fs.1.gz"))
	help := run(t, bin, "--help")
	flags := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(help, -1)
	if len(flags) < 20 {
		t.Fatalf("found only %d flags in --help", len(flags))
	}
	for _, f := range flags {
		if !strings.Contains(page, `\-\-`+strings.ReplaceAll(f[1], "-", `\-`)+`\fR`) {
			t.Errorf("man page lacks --%s", f[1])
		}
	}
	emuPage := gunzip(t, filepath.Join(dir, "usr/share/man/man1/b2emu.1.gz"))
	for _, f := range []string{"listen", "latency", "data", "key\\-id"} {
		if !strings.Contains(emuPage, `\-\-`+f+`\fR`) {
			t.Errorf("b2emu man page lacks --%s", f)
		}
	}
	// The pages render without groff warnings.
	if _, err := exec.LookPath("groff"); err == nil {
		for _, p := range []string{"usr/share/man/man1/b2fs.1.gz", "usr/share/man/man1/b2emu.1.gz"} {
			cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
			cmd.Stdin = strings.NewReader(gunzip(t, filepath.Join(dir, p)))
			if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("groff warnings for %s: %v\n%s", p, err, out)
			}
		}
	}
	cp, err := os.ReadFile(filepath.Join(dir, "usr/share/doc/b2fs/copyright"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"github.com/hanwen/go-fuse/v2", "github.com/spf13/pflag", "Files: go/std"} {
		if !strings.Contains(string(cp), mod) {
			t.Errorf("copyright does not mention %s", mod)
		}
	}
}

// TestLintian: lintian finds no errors in the package; its warnings are
// logged.
func TestLintian(t *testing.T) {
	testenv.RequireTool(t, "lintian")
	deb := testenv.DebPackage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "lintian", "--pedantic", "--display-info", deb)
	out, err := cmd.CombinedOutput()
	var errs, other []string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(l, "E: "):
			errs = append(errs, l)
		case strings.HasPrefix(l, "W: "), strings.HasPrefix(l, "I: "), strings.HasPrefix(l, "P: "):
			other = append(other, l)
		}
	}
	t.Logf("lintian: %d errors, other tags:\n%s", len(errs), strings.Join(other, "\n"))
	if len(errs) > 0 {
		t.Errorf("lintian errors:\n%s", strings.Join(errs, "\n"))
	}
	// lintian exits non-zero on errors only; anything else is lintian
	// itself failing.
	if err != nil && len(errs) == 0 {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
