package model

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	b2fs "github.com/b2fs/b2fs/fs"

	"github.com/b2fs/b2fs/fs/vfs"
)

// --- system calls ------------------------------------------------------

// errno converts a vfs error as the adapter does, logging unexpected
// causes.
func errno(err error) error {
	if err == nil {
		return nil
	}
	return b2fs.Errno(errLog, "", err)
}

// errLog receives errno's log lines: the log of the target running (one
// at a time per test process).
var errLog *slog.Logger

// caller is the context of a call that creates something: the test's
// process owns it, as with a FUSE request.
func (t *vfsTarget) caller() context.Context {
	return vfs.WithCaller(t.ctx, uint32(os.Getuid()), uint32(os.Getgid()))
}

func (t *vfsTarget) root() *vfs.Dir { return t.inst.fsys.Root().(*vfs.Dir) }

func isLink(ctx context.Context, n vfs.Node) (*vfs.File, bool) {
	f, ok := n.(*vfs.File)
	return f, ok && f.Attr(ctx, nil).Mode&syscall.S_IFMT == syscall.S_IFLNK
}

// maxLinks is the kernel's bound on symbolic links followed in one walk.
const maxLinks = 40

// resolved is a walked path: the node and its directory's chain from the
// root (for ".." and for the checks of rename).
type resolved struct {
	node vfs.Node
	dirs []*vfs.Dir // the directories from the root to the node's parent
	path string     // canonical, "" for the root
}

// walk resolves p from the root, following a final symbolic link when
// follow is set.
func (t *vfsTarget) walk(p string, follow bool) (resolved, error) {
	links := 0
	return t.walkFrom(resolved{node: t.root()}, p, follow, &links)
}

func (t *vfsTarget) walkFrom(at resolved, p string, follow bool, links *int) (resolved, error) {
	ctx := t.ctx
	cur := at
	if p == "" {
		return cur, nil
	}
	comps := strings.Split(p, "/")
	for i, c := range comps {
		last := i == len(comps)-1
		d, ok := cur.node.(*vfs.Dir)
		if !ok {
			return resolved{}, syscall.ENOTDIR
		}
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur.dirs) == 0 {
				return resolved{}, syscall.ENOENT // above the root: outside the filesystem
			}
			k := len(cur.dirs) - 1
			cur = resolved{node: cur.dirs[k], dirs: cur.dirs[:k], path: parentPath(cur.path)}
			continue
		}
		n, err := d.Lookup(ctx, c)
		if err != nil {
			return resolved{}, errno(err)
		}
		next := resolved{node: n, dirs: append(append([]*vfs.Dir(nil), cur.dirs...), d), path: joinPath(cur.path, c)}
		if f, ok := isLink(ctx, n); ok && (!last || follow) {
			if *links++; *links > maxLinks {
				return resolved{}, syscall.ELOOP
			}
			target, err := f.Readlink(ctx)
			if err != nil {
				return resolved{}, errno(err)
			}
			if strings.HasPrefix(string(target), "/") {
				return resolved{}, syscall.ENOENT // outside the filesystem
			}
			if next, err = t.walkFrom(cur, string(target), true, links); err != nil {
				return resolved{}, err
			}
		}
		cur = next
	}
	return cur, nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// parent resolves the directory holding p's last name.
func (t *vfsTarget) parent(p string) (*vfs.Dir, resolved, string, error) {
	r, err := t.walk(parentPath(p), true)
	if err != nil {
		return nil, resolved{}, "", err
	}
	d, ok := r.node.(*vfs.Dir)
	if !ok {
		return nil, resolved{}, "", syscall.ENOTDIR
	}
	name := p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		name = p[i+1:]
	}
	return d, r, name, nil
}

// child looks name up in d: nil without error when it does not exist.
func (t *vfsTarget) child(d *vfs.Dir, name string) (vfs.Node, error) {
	n, err := d.Lookup(t.ctx, name)
	if e := errno(err); e == syscall.ENOENT {
		return nil, nil
	} else if e != nil {
		return nil, e
	}
	return n, nil
}

func (t *vfsTarget) attr(n vfs.Node, h vfs.Handle) vfs.Attr {
	switch n := n.(type) {
	case *vfs.Dir:
		return n.Attr(t.ctx, true)
	case *vfs.File:
		return n.Attr(t.ctx, h)
	}
	panic(fmt.Sprintf("node of type %T", n))
}

func statOfAttr(a vfs.Attr) Stat {
	return Stat{Type: a.Mode & syscall.S_IFMT, Perm: a.Mode & 0o7777, UID: a.Uid, GID: a.Gid, Size: int64(a.Size), Mtime: a.Mtime, Nlink: uint64(a.Nlink)}
}

func (t *vfsTarget) Open(p string, flags int, perm uint32) (Handle, error) {
	var n vfs.Node
	if flags&syscall.O_CREAT != 0 {
		d, dr, name, err := t.parent(p)
		if err != nil {
			return nil, err
		}
		c, err := t.child(d, name)
		if err != nil {
			return nil, err
		}
		if c == nil {
			mode := syscall.S_IFREG | perm&0o7777&^umask // the kernel applies the umask
			f, h, err := d.Create(t.caller(), name, uint32(flags), mode)
			if err != nil {
				return nil, errno(err)
			}
			return &vfsHandle{t: t, in: t.inst, f: f, h: h, acc: flags & syscall.O_ACCMODE}, nil
		}
		if flags&syscall.O_EXCL != 0 {
			return nil, syscall.EEXIST
		}
		if _, ok := isLink(t.ctx, c); ok {
			// O_CREAT follows the link, and creates its target when only the
			// last name is missing.
			target, err := c.(*vfs.File).Readlink(t.ctx)
			if err != nil {
				return nil, errno(err)
			}
			tp := string(target)
			if strings.HasPrefix(tp, "/") {
				return nil, syscall.ENOENT
			}
			return t.Open(joinPath(dr.path, tp), flags, perm)
		}
		n = c
	} else {
		r, err := t.walk(p, true)
		if err != nil {
			return nil, err
		}
		n = r.node
	}
	acc := flags & syscall.O_ACCMODE
	if _, ok := n.(*vfs.Dir); ok {
		if acc != syscall.O_RDONLY || flags&syscall.O_CREAT != 0 {
			return nil, syscall.EISDIR
		}
		return dirOpen{}, nil
	}
	f := n.(*vfs.File)
	// go-fuse does not ask for atomic O_TRUNC: the kernel opens without it
	// and truncates through the new handle.
	h, err := f.Open(t.ctx, uint32(flags&^(syscall.O_CREAT|syscall.O_EXCL|syscall.O_TRUNC)))
	if err != nil {
		return nil, errno(err)
	}
	vh := &vfsHandle{t: t, in: t.inst, f: f, h: h, acc: acc}
	if flags&syscall.O_TRUNC != 0 {
		zero := uint64(0)
		if _, err := f.Setattr(t.ctx, h, &vfs.SetAttr{Size: &zero}); err != nil {
			vh.Close()
			return nil, errno(err)
		}
	}
	return vh, nil
}

// dirOpen is a directory opened read-only (the model closes it at once).
type dirOpen struct{}

func (dirOpen) ReadAt(p []byte, off int64) (int, error)  { return 0, syscall.EISDIR }
func (dirOpen) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EBADF }
func (dirOpen) Truncate(size int64) error                { return syscall.EINVAL }
func (dirOpen) Sync() error                              { return nil }
func (dirOpen) Stat() (Stat, error)                      { return Stat{}, syscall.EISDIR }
func (dirOpen) Close() error                             { return nil }

func (t *vfsTarget) Mkdir(p string, perm uint32) error {
	d, _, name, err := t.parent(p)
	if err != nil {
		return err
	}
	if c, err := t.child(d, name); err != nil || c != nil {
		return cmpErr(err, syscall.EEXIST)
	}
	_, err = d.Mkdir(t.caller(), name, perm&0o7777&^umask)
	return errno(err)
}

// cmpErr returns err, or else alt.
func cmpErr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}

func (t *vfsTarget) Rmdir(p string) error {
	d, _, name, err := t.parent(p)
	if err != nil {
		return err
	}
	c, err := t.child(d, name)
	if err != nil || c == nil {
		return cmpErr(err, syscall.ENOENT)
	}
	if _, ok := c.(*vfs.Dir); !ok {
		return syscall.ENOTDIR
	}
	return errno(d.Rmdir(t.ctx, name))
}

func (t *vfsTarget) Unlink(p string) error {
	d, _, name, err := t.parent(p)
	if err != nil {
		return err
	}
	c, err := t.child(d, name)
	if err != nil || c == nil {
		return cmpErr(err, syscall.ENOENT)
	}
	if _, ok := c.(*vfs.Dir); ok {
		return syscall.EISDIR
	}
	return errno(d.Unlink(t.ctx, name))
}

func (t *vfsTarget) Link(oldpath, newpath string) error {
	src, err := t.walk(oldpath, false)
	if err != nil {
		return err
	}
	d, _, name, err := t.parent(newpath)
	if err != nil {
		return err
	}
	if c, err := t.child(d, name); err != nil || c != nil {
		return cmpErr(err, syscall.EEXIST)
	}
	if _, ok := src.node.(*vfs.Dir); ok {
		return syscall.EPERM // no hard links to directories
	}
	return errno(d.Link(t.ctx, src.node, name))
}

// Rename does the checks of renameat2(2) that the kernel makes before
// asking the filesystem.
func (t *vfsTarget) Rename(from, to string, flags uint) error {
	if flags&renameNoReplace != 0 && flags&renameExchange != 0 {
		return syscall.EINVAL
	}
	fd, fr, fname, err := t.parent(from)
	if err != nil {
		return err
	}
	td, tr, tname, err := t.parent(to)
	if err != nil {
		return err
	}
	src, err := t.child(fd, fname)
	if err != nil || src == nil {
		return cmpErr(err, syscall.ENOENT)
	}
	dst, err := t.child(td, tname)
	if err != nil {
		return err
	}
	if flags&renameNoReplace != 0 && dst != nil {
		return syscall.EEXIST
	}
	if flags&renameExchange != 0 && dst == nil {
		return syscall.ENOENT
	}
	srcPath, dstPath := joinPath(fr.path, fname), joinPath(tr.path, tname)
	_, srcDir := src.(*vfs.Dir)
	if srcDir && under(tr.path, srcPath) {
		return syscall.EINVAL // into its own subtree
	}
	if dst != nil && under(fr.path, dstPath) {
		if flags&renameExchange != 0 {
			return syscall.EINVAL
		}
		return syscall.ENOTEMPTY
	}
	if srcPath == dstPath {
		return nil
	}
	if dst != nil && flags&renameExchange == 0 {
		_, dstDir := dst.(*vfs.Dir)
		switch {
		case srcDir && !dstDir:
			return syscall.ENOTDIR
		case !srcDir && dstDir:
			return syscall.EISDIR
		}
	}
	return errno(fd.Rename(t.ctx, fname, td, tname, uint32(flags)))
}

// under reports whether path p is a or below it.
func under(p, a string) bool {
	return p == a || a == "" || strings.HasPrefix(p, a+"/")
}

func (t *vfsTarget) Symlink(target, p string) error {
	d, _, name, err := t.parent(p)
	if err != nil {
		return err
	}
	if c, err := t.child(d, name); err != nil || c != nil {
		return cmpErr(err, syscall.EEXIST)
	}
	_, err = d.Symlink(t.caller(), target, name)
	return errno(err)
}

func (t *vfsTarget) Readlink(p string) (string, error) {
	r, err := t.walk(p, false)
	if err != nil {
		return "", err
	}
	f, ok := isLink(t.ctx, r.node)
	if !ok {
		return "", syscall.EINVAL
	}
	b, err := f.Readlink(t.ctx)
	return string(b), errno(err)
}

func (t *vfsTarget) Lstat(p string) (Stat, error) {
	r, err := t.walk(p, false)
	if err != nil {
		return Stat{}, err
	}
	return statOfAttr(t.attr(r.node, nil)), nil
}

func (t *vfsTarget) ReadDir(p string) ([]DirEntry, error) {
	r, err := t.walk(p, true)
	if err != nil {
		return nil, err
	}
	d, ok := r.node.(*vfs.Dir)
	if !ok {
		return nil, syscall.ENOTDIR
	}
	h := d.Opendir()
	var out []DirEntry
	for {
		e, err := h.Readdirent(t.ctx)
		if err != nil {
			return nil, errno(err)
		}
		if e == nil {
			return out, nil
		}
		if e.Name != "." && e.Name != ".." {
			out = append(out, DirEntry{Name: e.Name, Type: e.Mode & syscall.S_IFMT})
		}
	}
}

// setattr sets attributes of the node at p.
func (t *vfsTarget) setattr(p string, follow bool, in *vfs.SetAttr) error {
	r, err := t.walk(p, follow)
	if err != nil {
		return err
	}
	switch n := r.node.(type) {
	case *vfs.Dir:
		if in.Size != nil {
			return syscall.EISDIR
		}
		_, err = n.Setattr(t.ctx, in)
	case *vfs.File:
		_, err = n.Setattr(t.ctx, nil, in)
	}
	return errno(err)
}

func (t *vfsTarget) Chmod(p string, perm uint32) error {
	m := perm & 0o7777
	return t.setattr(p, true, &vfs.SetAttr{Mode: &m})
}

func (t *vfsTarget) Lchown(p string, uid, gid int) error {
	var in vfs.SetAttr
	if uid >= 0 {
		u := uint32(uid)
		in.UID = &u
	}
	if gid >= 0 {
		g := uint32(gid)
		in.GID = &g
	}
	return t.setattr(p, false, &in)
}

func (t *vfsTarget) Lutimes(p string, mtime time.Time) error {
	return t.setattr(p, false, &vfs.SetAttr{Mtime: &mtime})
}

func (t *vfsTarget) Truncate(p string, size int64) error {
	s := uint64(size)
	return t.setattr(p, true, &vfs.SetAttr{Size: &s})
}

// xattrNode resolves p for an xattr call; the kernel allows user xattrs
// on regular files and directories only (EPERM to change, ENODATA to read
// one of a symbolic link).
func (t *vfsTarget) xattrNode(p, name string, write bool) (vfs.Node, error) {
	r, err := t.walk(p, false)
	if err != nil {
		return nil, err
	}
	if _, ok := isLink(t.ctx, r.node); ok && strings.HasPrefix(name, "user.") {
		if write {
			return nil, syscall.EPERM
		}
		return nil, syscall.ENODATA
	}
	return r.node, nil
}

func (t *vfsTarget) Lsetxattr(p, name string, value []byte, flags int) error {
	n, err := t.xattrNode(p, name, true)
	if err != nil {
		return err
	}
	switch n := n.(type) {
	case *vfs.Dir:
		return errno(n.Setxattr(t.ctx, name, value, uint32(flags)))
	case *vfs.File:
		return errno(n.Setxattr(t.ctx, name, value, uint32(flags)))
	}
	return syscall.EIO
}

func (t *vfsTarget) Lremovexattr(p, name string) error {
	n, err := t.xattrNode(p, name, true)
	if err != nil {
		return err
	}
	switch n := n.(type) {
	case *vfs.Dir:
		return errno(n.Removexattr(t.ctx, name))
	case *vfs.File:
		return errno(n.Removexattr(t.ctx, name))
	}
	return syscall.EIO
}

func (t *vfsTarget) Lgetxattr(p, name string) ([]byte, error) {
	n, err := t.xattrNode(p, name, false)
	if err != nil {
		return nil, err
	}
	var v []byte
	switch n := n.(type) {
	case *vfs.Dir:
		v, err = n.Getxattr(t.ctx, name)
	case *vfs.File:
		v, err = n.Getxattr(t.ctx, name)
	}
	return v, errno(err)
}

func (t *vfsTarget) Llistxattr(p string) ([]string, error) {
	r, err := t.walk(p, false)
	if err != nil {
		return nil, err
	}
	var v []byte
	switch n := r.node.(type) {
	case *vfs.Dir:
		v, err = n.Listxattr(t.ctx)
	case *vfs.File:
		v, err = n.Listxattr(t.ctx)
	}
	if err != nil {
		return nil, errno(err)
	}
	var names []string
	for _, s := range strings.Split(string(v), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names, nil
}

// FsyncPath is open(O_RDONLY|O_NOFOLLOW), fsync and close.
func (t *vfsTarget) FsyncPath(p string) error {
	r, err := t.walk(p, false)
	if err != nil {
		return err
	}
	if _, ok := isLink(t.ctx, r.node); ok {
		return syscall.ELOOP
	}
	switch n := r.node.(type) {
	case *vfs.Dir:
		return errno(n.Opendir().Fsync(t.ctx))
	case *vfs.File:
		h, err := n.Open(t.ctx, syscall.O_RDONLY)
		if err != nil {
			return errno(err)
		}
		vh := &vfsHandle{t: t, in: t.inst, f: n, h: h, acc: syscall.O_RDONLY}
		err = vh.Sync()
		return cmpErr(err, vh.Close())
	}
	return syscall.EIO
}

// vfsHandle is an open file: a vfs.Handle with the access mode the kernel
// checks.
type vfsHandle struct {
	t      *vfsTarget
	in     *vfsInst // dead after a crash or remount
	f      *vfs.File
	h      vfs.Handle
	acc    int
	closed bool
}

func (h *vfsHandle) ReadAt(p []byte, off int64) (int, error) {
	if h.in.dead {
		return 0, syscall.ENOTCONN
	}
	if h.acc == syscall.O_WRONLY {
		return 0, syscall.EBADF
	}
	total := 0
	for total < len(p) {
		n, err := h.h.Read(h.t.ctx, p[total:], off+int64(total))
		if err != nil {
			return total, errno(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, nil
}

func (h *vfsHandle) WriteAt(p []byte, off int64) (int, error) {
	if h.in.dead {
		return 0, syscall.ENOTCONN
	}
	if h.acc == syscall.O_RDONLY {
		return 0, syscall.EBADF
	}
	n, err := h.h.Write(h.t.ctx, p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, errno(err)
}

func (h *vfsHandle) Truncate(size int64) error {
	if h.in.dead {
		return syscall.ENOTCONN
	}
	if h.acc == syscall.O_RDONLY {
		return syscall.EINVAL
	}
	s := uint64(size)
	_, err := h.f.Setattr(h.t.ctx, h.h, &vfs.SetAttr{Size: &s})
	return errno(err)
}

func (h *vfsHandle) Sync() error {
	if h.in.dead {
		return syscall.ENOTCONN
	}
	return errno(h.h.Fsync(h.t.ctx))
}

func (h *vfsHandle) Stat() (Stat, error) {
	if h.in.dead {
		return Stat{}, syscall.ENOTCONN
	}
	return statOfAttr(h.f.Attr(h.t.ctx, h.h)), nil
}

// Close is close(2): FLUSH reports the upload's result, RELEASE follows.
// A handle of a filesystem that is gone is only forgotten.
func (h *vfsHandle) Close() error {
	if h.closed || h.in.dead {
		h.closed = true
		return nil
	}
	h.closed = true
	err := h.h.Flush(h.t.ctx)
	h.h.Release(h.t.ctx)
	return errno(err)
}
