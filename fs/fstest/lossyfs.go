package fstest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/b2fs/b2fs/fs/staging"
)

// LossyFS is a staging.FileSystem over a real directory tree that keeps
// track of what has been made durable, the way a strict POSIX file system
// promises it: a file's content at its last fsync, a directory's entries
// at its last fsync. PowerCut then throws away everything else: files
// get back the content of their last fsync (empty if never fsynced),
// directories the entries of their last fsync (entries created since are
// gone, removed ones come back, renames are undone). Tests use it to show
// that nothing is acknowledged before it is durable.
type LossyFS struct {
	root string

	// live is held shared by every operation and exclusively by
	// PowerCut, so that no operation straddles the cut.
	live sync.RWMutex
	dead bool // guarded by live

	mu    sync.Mutex // guards the fields below
	next  int
	ids   map[uint64]int            // inode -> the identity of the file it holds now
	data  map[int][]byte            // identity -> content at its last fsync
	dirs  map[string]map[string]int // directory -> entries at its last fsync
	isDir map[int]bool

	fileSyncs, dirSyncs atomic.Int64 // counted for tests of fsync costs
}

// Syncs returns how many file and directory fsyncs were made so far.
func (l *LossyFS) Syncs() (files, dirs int64) { return l.fileSyncs.Load(), l.dirSyncs.Load() }

var _ staging.FileSystem = (*LossyFS)(nil)

// errPowerCut is what every operation returns after PowerCut.
var errPowerCut = errors.New("lossyfs: the power is off")

// NewLossyFS returns a LossyFS over root, whose current content (created
// by root if missing) counts as durable.
func NewLossyFS(root string) (*LossyFS, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	l := &LossyFS{root: root, ids: map[uint64]int{}, data: map[int][]byte{}, dirs: map[string]map[string]int{}, isDir: map[int]bool{}}
	if err := l.snapshotTree(root); err != nil {
		return nil, err
	}
	return l, nil
}

func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// idLocked returns the identity of the file at inode ino.
func (l *LossyFS) idLocked(ino uint64) int {
	id, ok := l.ids[ino]
	if !ok {
		l.next++
		id = l.next
		l.ids[ino] = id
	}
	return id
}

// snapshotTree records dir and everything below it as durable.
func (l *LossyFS) snapshotTree(dir string) error {
	if err := l.snapshotDir(dir); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if err := l.snapshotTree(p); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.data[l.idLocked(inodeOf(fi))] = b
		l.mu.Unlock()
	}
	return nil
}

// snapshotDir records the entries of dir as durable.
func (l *LossyFS) snapshotDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	m := map[string]int{}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range ents {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		id := l.idLocked(inodeOf(fi))
		m[e.Name()] = id
		if fi.IsDir() {
			l.isDir[id] = true
		}
	}
	l.dirs[filepath.Clean(dir)] = m
	return nil
}

func (l *LossyFS) enter() error {
	l.live.RLock()
	if l.dead {
		l.live.RUnlock()
		return errPowerCut
	}
	return nil
}

func (l *LossyFS) leave() { l.live.RUnlock() }

// OpenFile opens name; a file it creates gets a new identity (with no
// durable content).
func (l *LossyFS) OpenFile(name string, flag int, perm os.FileMode) (staging.FSFile, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	_, statErr := os.Lstat(name)
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 && statErr != nil {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		l.mu.Lock()
		delete(l.ids, inodeOf(fi)) // a reused inode is a new file
		l.idLocked(inodeOf(fi))
		l.mu.Unlock()
	}
	return &lossyFile{l: l, f: f}, nil
}

// Remove removes name (durably only once its directory is fsynced).
func (l *LossyFS) Remove(name string) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	return os.Remove(name)
}

// Rename renames (durably only once both directories are fsynced).
func (l *LossyFS) Rename(oldpath, newpath string) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	return os.Rename(oldpath, newpath)
}

// ReadDir lists name.
func (l *LossyFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	return os.ReadDir(name)
}

// Stat stats name.
func (l *LossyFS) Stat(name string) (os.FileInfo, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	return os.Stat(name)
}

// Mkdir makes a directory (durably once its parent is fsynced).
func (l *LossyFS) Mkdir(name string, perm os.FileMode) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	if err := os.Mkdir(name, perm); err != nil {
		return err
	}
	l.mu.Lock()
	l.dirs[filepath.Clean(name)] = map[string]int{} // nothing in it is durable yet
	l.mu.Unlock()
	return nil
}

// SyncDir makes the entries of name durable.
func (l *LossyFS) SyncDir(name string) error {
	if err := l.enter(); err != nil {
		return err
	}
	defer l.leave()
	l.dirSyncs.Add(1)
	return l.snapshotDir(name)
}

// PowerCut cuts the power: operations in progress finish, later ones
// fail, and the tree under the root is put back to its durable state. It
// returns a fresh LossyFS over that state (the machine after reboot).
func (l *LossyFS) PowerCut() (*LossyFS, error) {
	l.live.Lock()
	l.dead = true
	l.live.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	ents, err := os.ReadDir(l.root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(l.root, e.Name())); err != nil {
			return nil, err
		}
	}
	if err := l.restoreLocked(filepath.Clean(l.root)); err != nil {
		return nil, err
	}
	return NewLossyFS(l.root)
}

func (l *LossyFS) restoreLocked(dir string) error {
	ents := l.dirs[dir]
	names := make([]string, 0, len(ents))
	for n := range ents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		id, p := ents[n], filepath.Join(dir, n)
		if l.isDir[id] {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			if err := l.restoreLocked(p); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(p, l.data[id], 0o600); err != nil {
			return fmt.Errorf("lossyfs: restore %s: %w", p, err)
		}
	}
	return nil
}

type lossyFile struct {
	l *LossyFS
	f *os.File
}

func (x *lossyFile) ReadAt(p []byte, off int64) (int, error) {
	if err := x.l.enter(); err != nil {
		return 0, err
	}
	defer x.l.leave()
	return x.f.ReadAt(p, off)
}

func (x *lossyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := x.l.enter(); err != nil {
		return 0, err
	}
	defer x.l.leave()
	return x.f.WriteAt(p, off)
}

func (x *lossyFile) Truncate(size int64) error {
	if err := x.l.enter(); err != nil {
		return err
	}
	defer x.l.leave()
	return x.f.Truncate(size)
}

func (x *lossyFile) Stat() (os.FileInfo, error) {
	if err := x.l.enter(); err != nil {
		return nil, err
	}
	defer x.l.leave()
	return x.f.Stat()
}

// Sync makes the file's current content durable.
func (x *lossyFile) Sync() error {
	if err := x.l.enter(); err != nil {
		return err
	}
	defer x.l.leave()
	x.l.fileSyncs.Add(1)
	fi, err := x.f.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, fi.Size())
	if _, err := x.f.ReadAt(b, 0); err != nil && err != io.EOF {
		return err
	}
	x.l.mu.Lock()
	x.l.data[x.l.idLocked(inodeOf(fi))] = b
	x.l.mu.Unlock()
	return nil
}

func (x *lossyFile) Close() error { return x.f.Close() }
