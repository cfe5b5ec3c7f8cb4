package versions

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKernelFree: the view's logic imports neither go-fuse nor the
// filesystem package, and uses no errno values (the adapter maps errors).
func TestKernelFree(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "hanwen/go-fuse") || dep == "github.com/b2fs/b2fs/fs" {
			t.Errorf("fs/versions depends on %s", dep)
		}
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "syscall.") {
			t.Errorf("%s uses syscall", f)
		}
	}
}
