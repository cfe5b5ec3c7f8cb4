// Package docs checks the documentation against the repository: the tests
// docs/semantics.md cites exist, and relative links resolve.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/test/testenv"
)

var (
	testFuncRE = regexp.MustCompile(`(?m)^func (Test[A-Z0-9][A-Za-z0-9_]*)\(`)
	citedRE    = regexp.MustCompile("`(Test[A-Z0-9][A-Za-z0-9_]*)`")
	linkRE     = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
)

// repoTests returns the names of every test function in the repository.
func repoTests(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range testFuncRE.FindAllStringSubmatch(string(b), -1) {
				out[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSemanticsCitesExistingTests: every test docs/semantics.md names
// exists, and every table row and bullet (outside "Not covered by a test")
// names at least one.
func TestSemanticsCitesExistingTests(t *testing.T) {
	root := testenv.RepoRoot(t)
	tests := repoTests(t, root)
	if !tests["TestSemanticsCitesExistingTests"] || len(tests) < 100 {
		t.Fatalf("found %d tests; the scan is broken", len(tests))
	}
	b, err := os.ReadFile(filepath.Join(root, "docs", "semantics.md"))
	if err != nil {
		t.Fatal(err)
	}
	cited := 0
	section := ""
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "## ") {
			section = l[3:]
		}
		names := citedRE.FindAllStringSubmatch(l, -1)
		for _, m := range names {
			cited++
			if !tests[m[1]] {
				t.Errorf("docs/semantics.md:%d cites %s, which does not exist", i+1, m[1])
			}
		}
		claim := strings.HasPrefix(l, "- ") ||
			strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| operation |") && !strings.HasPrefix(l, "| error |") && !strings.HasPrefix(l, "| workload |")
		if claim && section != "Not covered by a test" && len(names) == 0 {
			t.Errorf("docs/semantics.md:%d names no test: %s", i+1, l)
		}
	}
	if cited < 50 {
		t.Errorf("docs/semantics.md cites %d tests; the scan is broken", cited)
	}
}

// TestDocLinks: relative links in README.md and docs/*.md point to files
// that exist.
func TestDocLinks(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				rel, _ := filepath.Rel(root, f)
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
		}
	}
}
