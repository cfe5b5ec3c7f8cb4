package staging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// FileSystem is the file I/O of the staging directory: the staged data,
// the manifests and the directory entries naming them. The Manager uses
// the operating system's (OSFS) unless Options.FS says otherwise; tests
// put in one that forgets, at a simulated power cut, whatever was not
// made durable (fstest.LossyFS). Directory locking (flock) and the read
// cache's hard links stay on the operating system.
type FileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (FSFile, error)
	Remove(name string) error
	Rename(oldpath, newpath string) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	Mkdir(name string, perm os.FileMode) error
	// SyncDir fsyncs the directory name: its entries become durable.
	SyncDir(name string) error
}

// FSFile is an open file of a FileSystem (*os.File is one).
type FSFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	// Sync makes the content durable (fsync).
	Sync() error
	Stat() (os.FileInfo, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FileSystem = OSFS{}

// OpenFile is os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (FSFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove is os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename is os.Rename.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// ReadDir is os.ReadDir.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Stat is os.Stat.
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

// Mkdir is os.Mkdir.
func (OSFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }

// SyncDir opens the directory and fsyncs it.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", name, err)
	}
	return nil
}

// readFile returns the content of the file name.
func readFile(fsys FileSystem, name string) ([]byte, error) {
	fd, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := fd.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}

// globJSON returns the paths of the manifests (*.json) in dir, sorted.
func globJSON(fsys FileSystem, dir string) ([]string, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
