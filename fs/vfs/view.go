package vfs

import (
	"fmt"
	"strings"

	"github.com/b2fs/b2fs/fs/versions"
)

// The time-travel view (Options.VersionsDir): package versions computes
// its answers and the FUSE adapter serves its nodes; the filesystem knows
// where it is, so that no change touches it.

// View returns the versions view, nil when it is off.
func (f *FS) View() *versions.View { return f.view }

// ViewAt reports whether the directory prefix of bucket b holds the view.
func (f *FS) ViewAt(b Bucket, prefix string) bool {
	if f.view == nil {
		return false
	}
	if f.opts.Bucket.Name == "" {
		return prefix == ""
	}
	return prefix == f.opts.Prefix
}

// isViewName reports whether name in directory n is the view's entry.
func (f *FS) isViewName(n *Dir, name string) bool {
	if f.view == nil || name != f.opts.VersionsDir {
		return false
	}
	b, prefix := n.loc()
	return f.ViewAt(b, prefix)
}

// IsViewName reports whether name in n is the view's entry.
func (n *Dir) IsViewName(name string) bool { return n.fsys.isViewName(n, name) }

// CheckVersionsDir validates a name for Options.VersionsDir: one path
// component ("" turns the view off).
func CheckVersionsDir(name string) error {
	if name == "." || name == ".." || len(name) > nameMax || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q cannot name the versions directory (one file name, not . or ..)", name)
	}
	return nil
}
