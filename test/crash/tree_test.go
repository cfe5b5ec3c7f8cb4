package crash

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// entry is what a mount shows for one path.
type entry struct {
	kind   byte // 'd', 'f', 'l'
	perm   os.FileMode
	size   int64
	sha1   string // files
	mtime  int64  // files: milliseconds
	target string // symlinks
}

func (x entry) String() string {
	switch x.kind {
	case 'f':
		return fmt.Sprintf("file %v %d bytes sha1 %.12s mtime %d", x.perm, x.size, x.sha1, x.mtime)
	case 'l':
		return "symlink -> " + x.target
	}
	return fmt.Sprintf("dir %v", x.perm)
}

// snapshot walks a mount and returns every path (relative, slash
// separated) with what it shows.
func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		x := entry{perm: fi.Mode().Perm()}
		switch {
		case fi.IsDir():
			x.kind = 'd'
		case fi.Mode()&os.ModeSymlink != 0:
			x.kind = 'l'
			x.target, err = os.Readlink(p)
		default:
			x.kind = 'f'
			x.size, x.mtime = fi.Size(), fi.ModTime().UnixMilli()
			var b []byte
			b, err = os.ReadFile(p)
			x.sha1 = sha1Hex(b)
			if err == nil && int64(len(b)) != x.size {
				err = fmt.Errorf("%s: stat says %d bytes, read %d", rel, x.size, len(b))
			}
		}
		out[filepath.ToSlash(rel)] = x
		return err
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// diffTrees lists the differences between two snapshots (at most 20).
func diffTrees(a, b map[string]entry, aName, bName string) []string {
	var names []string
	for k := range a {
		names = append(names, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		x, okx := a[k]
		y, oky := b[k]
		switch {
		case !okx:
			out = append(out, fmt.Sprintf("%s: missing in %s, %s shows %v", k, aName, bName, y))
		case !oky:
			out = append(out, fmt.Sprintf("%s: missing in %s, %s shows %v", k, bName, aName, x))
		case x != y:
			out = append(out, fmt.Sprintf("%s: %s shows %v, %s shows %v", k, aName, x, bName, y))
		}
		if len(out) == 20 {
			out = append(out, "...")
			break
		}
	}
	return out
}

// ---- acknowledgements observed with strace ----

// straceArgs runs a tool under strace so that its acknowledged closes and
// renames can be read back with parseAcks: every process (-f) in its own
// file (-ff), file descriptors shown with their paths (-y).
func straceArgs(prefix string, tool ...string) []string {
	return append([]string{"strace", "-f", "-ff", "-y", "-qq", "-e", "signal=none",
		"-e", "trace=close,rename,renameat,renameat2", "-o", prefix}, tool...)
}

var (
	// close(3</path/to/file>) = 0
	closeRe = regexp.MustCompile(`^close\(\d+<(.*)>\)\s+= 0$`)
	// rename("a", "b") = 0; renameat(AT_FDCWD</cwd>, "a", AT_FDCWD</cwd>, "b") = 0;
	// renameat2(..., "b", RENAME_NOREPLACE) = 0
	renameRe   = regexp.MustCompile(`^rename\("((?:[^"\\]|\\.)*)", "((?:[^"\\]|\\.)*)"\)\s+= 0$`)
	renameatRe = regexp.MustCompile(`^renameat2?\(\w+(?:<([^>]*)>)?, "(?:[^"\\]|\\.)*", \w+(?:<([^>]*)>)?, "((?:[^"\\]|\\.)*)"(?:, \w+)?\)\s+= 0$`)
)

// acks are the paths a traced tool saw closed or renamed into with success.
type acks struct {
	closed  map[string]bool // absolute paths
	renamed map[string]bool // absolute destination paths
}

// parseAcks reads the strace files prefix.PID. Relative rename paths are
// resolved against cwd (rsync works in its destination directory).
func parseAcks(prefix, cwd string) (acks, error) {
	a := acks{closed: map[string]bool{}, renamed: map[string]bool{}}
	files, err := filepath.Glob(prefix + ".*")
	if err != nil {
		return a, err
	}
	if len(files) == 0 {
		return a, fmt.Errorf("no strace output at %s.*", prefix)
	}
	for _, f := range files {
		if err := a.parseFile(f, cwd); err != nil {
			return a, err
		}
	}
	return a, nil
}

func (a acks) parseFile(path, cwd string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		a.parseLine(sc.Text(), cwd)
	}
	return sc.Err()
}

func (a acks) parseLine(line, cwd string) {
	line = strings.TrimSpace(line)
	if m := closeRe.FindStringSubmatch(line); m != nil {
		a.closed[unquote(m[1])] = true
		return
	}
	if m := renameRe.FindStringSubmatch(line); m != nil {
		a.renamed[resolve(cwd, unquote(m[2]))] = true
		return
	}
	if m := renameatRe.FindStringSubmatch(line); m != nil {
		dir := cwd
		if m[2] != "" {
			dir = m[2]
		}
		a.renamed[resolve(dir, unquote(m[3]))] = true
	}
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// unquote undoes strace's escapes in a string argument (the test's names
// are plain; this keeps a \" or \\ from being misread).
func unquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
		return u
	}
	return s
}
