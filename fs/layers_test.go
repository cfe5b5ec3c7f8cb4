package fs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// belowAdapter are the packages under the go-fuse adapter: none may
// import go-fuse, and none may make errno values.
var belowAdapter = []string{
	"github.com/b2fs/b2fs/fs/vfs",
	"github.com/b2fs/b2fs/fs/listing",
	"github.com/b2fs/b2fs/fs/staging",
	"github.com/b2fs/b2fs/fs/versions",
	"github.com/b2fs/b2fs/fs/backend",
	"github.com/b2fs/b2fs/fs/b2backend",
	"github.com/b2fs/b2fs/fs/errs",
	"github.com/b2fs/b2fs/fs/fstest",
	"github.com/b2fs/b2fs/fs/readcache",
	"github.com/b2fs/b2fs/fs/readahead",
	"github.com/b2fs/b2fs/fs/posixmeta",
	"github.com/b2fs/b2fs/cache",
	"github.com/b2fs/b2fs/b2client",
}

// TestLayersDoNotImportGoFuse: the vfs layer and everything below it are
// FUSE-free (go list -deps, test dependencies included).
func TestLayersDoNotImportGoFuse(t *testing.T) {
	args := append([]string{"list", "-deps", "-test", "-f", "{{.ImportPath}}"}, belowAdapter...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(belowAdapter) {
		t.Fatalf("go list listed %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.Contains(d, "hanwen/go-fuse") {
			t.Errorf("a package below the FUSE adapter depends on %s", d)
		}
	}
}

// TestErrnoOnlyInAdapter: errno values (syscall.E*) are made only in the
// adapter (this package, and its FUSE metrics in fs/metrics). Below it
// they appear only to recognise what the operating system returned
// (errors.Is(err, syscall.ENOSPC) of a local disk write).
func TestErrnoOnlyInAdapter(t *testing.T) {
	errno := regexp.MustCompile(`\bsyscall\.E[A-Z0-9]+\b`)
	dirs := []string{"vfs", "listing", "staging", "versions", "backend", "b2backend", "errs", "fstest", "readcache", "readahead", "posixmeta", "../cache", "../b2client"}
	checked := 0
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			checked++
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for line := 1; sc.Scan(); line++ {
				if m := errno.FindString(sc.Text()); m != "" && !strings.Contains(sc.Text(), "errors.Is(") {
					t.Errorf("%s:%d: %s outside the FUSE adapter", p, line, m)
				}
			}
			return sc.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d files", checked)
	}
}
