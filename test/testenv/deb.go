package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var debPath string

// DebPackage returns the path of the b2fs Debian package. scripts/test.sh
// builds it once with scripts/package.sh and passes it in B2FS_TEST_DEB;
// without it the package is built here, once per test binary, into the
// directory Cleanup removes.
func DebPackage(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("B2FS_TEST_DEB"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("B2FS_TEST_DEB: %v", err)
		}
		return p
	}
	RequireTool(t, "dpkg-deb", "gzip")
	buildMu.Lock()
	defer buildMu.Unlock()
	if debPath != "" {
		return debPath
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "b2fs-testbin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, "deb")
	cmd := exec.Command("scripts/package.sh", "--out", out)
	cmd.Dir = RepoRoot(t)
	var stderr SyncBuffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, Tail(stderr.String(), 30))
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	debPath = lines[len(lines)-1]
	return debPath
}
