package model

import (
	"bytes"
	"fmt"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"pgregory.net/rapid"

	"github.com/b2fs/b2fs/test/b2emu"
)

// opWeights says how often each operation is drawn. Shrinking moves
// towards the first entries.
var opWeights = []struct {
	name   string
	weight int
	run    func(*runner, *rapid.T)
}{
	{"mkdir", 6, (*runner).opMkdir},
	{"create", 8, (*runner).opCreate},
	{"write", 12, (*runner).opWrite},
	{"close", 7, (*runner).opClose},
	{"writefile", 6, (*runner).opWriteFile},
	{"open", 5, (*runner).opOpen},
	{"read", 6, (*runner).opRead},
	{"ftruncate", 3, (*runner).opFtruncate},
	{"fsync", 3, (*runner).opFsync},
	{"fstat", 3, (*runner).opFstat},
	{"truncate", 3, (*runner).opTruncate},
	{"rename", 8, (*runner).opRename},
	{"unlink", 5, (*runner).opUnlink},
	{"rmdir", 3, (*runner).opRmdir},
	{"symlink", 3, (*runner).opSymlink},
	{"readlink", 1, (*runner).opReadlink},
	{"chmod", 3, (*runner).opChmod},
	{"chown", 3, (*runner).opChown},
	{"utimes", 3, (*runner).opUtimes},
	{"setxattr", 4, (*runner).opSetxattr},
	{"removexattr", 2, (*runner).opRemovexattr},
	{"fsyncpath", 2, (*runner).opFsyncPath},
	{"link", 1, (*runner).opLink},
	{"fault", 2, (*runner).opFault},
	{"remount", 1, (*runner).opRemount},
	{"crash", 1, (*runner).opCrash},
}

var (
	opTable []string
	opRun   = map[string]func(*runner, *rapid.T){}
)

func init() {
	for _, o := range opWeights {
		for range o.weight {
			opTable = append(opTable, o.name)
		}
		opRun[o.name] = o.run
	}
}

// run executes the operation named o.
func runOp(r *runner, t *rapid.T, o string) { opRun[o](r, t) }

// names are the names paths are made of: few, so that operations collide.
var names = []string{"a", "b", "c", "d", "e f"}

// existing draws a path of the model (not the root) of one of the types,
// or "" when there is none.
func (r *runner) existing(t *rapid.T, label string, types ...uint32) (string, bool) {
	var paths []string
	walk(r.m.root, func(n *node) {
		if n == r.m.root {
			return
		}
		for _, ty := range types {
			if n.typ == ty {
				paths = append(paths, n.path())
			}
		}
	})
	if len(paths) == 0 {
		return "", false
	}
	return rapid.SampledFrom(paths).Draw(t, label), true
}

// anyPath draws a path: mostly one of the model's (of the given types),
// else a name that may not exist inside an existing directory, or
// inside a path that is not a directory.
func (r *runner) anyPath(t *rapid.T, label string, types ...uint32) string {
	if len(types) > 0 && rapid.IntRange(0, 9).Draw(t, label+"-existing") < 6 {
		if p, ok := r.existing(t, label, types...); ok {
			return p
		}
	}
	parent := ""
	if p, ok := r.existing(t, label+"-parent", syscall.S_IFDIR, syscall.S_IFDIR, syscall.S_IFDIR, syscall.S_IFREG); ok && rapid.IntRange(0, 2).Draw(t, label+"-nested") > 0 {
		parent = p
	}
	name := rapid.SampledFrom(names).Draw(t, label+"-name")
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// handle draws an open handle, or nil.
func (r *runner) handle(t *rapid.T) *handle {
	if len(r.m.handles) == 0 {
		return nil
	}
	return r.m.handles[rapid.IntRange(0, len(r.m.handles)-1).Draw(t, "handle")]
}

// ioHandle draws an open handle to read, write, truncate, sync or stat
// through (also of a file unlinked or replaced since it was opened), or
// nil.
func (r *runner) ioHandle(t *rapid.T) *handle {
	return r.handle(t)
}

var perms = rapid.Custom(func(t *rapid.T) uint32 {
	p := rapid.Uint32Range(0, 0o777).Draw(t, "perm")
	if rapid.IntRange(0, 9).Draw(t, "sticky") == 0 {
		p |= 0o1000
	}
	return p
})

// data draws bytes to write: mostly small, sometimes several parts.
func drawData(t *rapid.T) []byte {
	var n int
	switch rapid.IntRange(0, 9).Draw(t, "size-class") {
	case 0:
		n = rapid.IntRange(partSize, 3*partSize).Draw(t, "len")
	case 1, 2:
		n = rapid.IntRange(4096, partSize).Draw(t, "len")
	default:
		n = rapid.IntRange(1, 4096).Draw(t, "len")
	}
	return pattern(rapid.Uint64().Draw(t, "seed"), n)
}

func drawOffset(t *rapid.T, size int) int64 {
	switch rapid.IntRange(0, 5).Draw(t, "off-class") {
	case 0:
		return 0
	case 1:
		return int64(size) // append
	case 2:
		return int64(size + rapid.IntRange(1, partSize).Draw(t, "gap")) // hole
	default:
		return int64(rapid.IntRange(0, max(size, 1)).Draw(t, "off"))
	}
}

// --- handles ---------------------------------------------------------

func (r *runner) opCreate(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	flags := syscall.O_CREAT | rapid.SampledFrom([]int{syscall.O_WRONLY, syscall.O_RDWR}).Draw(t, "acc")
	if rapid.IntRange(0, 3).Draw(t, "excl") == 0 {
		flags |= syscall.O_EXCL
	}
	if rapid.IntRange(0, 2).Draw(t, "trunc") == 0 {
		flags |= syscall.O_TRUNC
	}
	perm := perms.Draw(t, "mode")
	r.open(t, p, flags, perm)
}

func (r *runner) opOpen(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	flags := rapid.SampledFrom([]int{syscall.O_RDONLY, syscall.O_WRONLY, syscall.O_RDWR}).Draw(t, "acc")
	if flags != syscall.O_RDONLY && rapid.IntRange(0, 3).Draw(t, "trunc") == 0 {
		flags |= syscall.O_TRUNC
	}
	r.open(t, p, flags, 0)
}

func flagString(flags int) string {
	s := map[int]string{syscall.O_RDONLY: "O_RDONLY", syscall.O_WRONLY: "O_WRONLY", syscall.O_RDWR: "O_RDWR"}[flags&syscall.O_ACCMODE]
	for _, f := range []struct {
		bit  int
		name string
	}{{syscall.O_CREAT, "O_CREAT"}, {syscall.O_EXCL, "O_EXCL"}, {syscall.O_TRUNC, "O_TRUNC"}} {
		if flags&f.bit != 0 {
			s += "|" + f.name
		}
	}
	return s
}

// open opens p on both sides. The handle stays open when there is room.
func (r *runner) open(t *rapid.T, p string, flags int, perm uint32) {
	m := r.m
	desc := fmt.Sprintf("open(%q, %s, %04o)", p, flagString(flags), perm)
	acc := flags & syscall.O_ACCMODE
	write := acc != syscall.O_RDONLY
	var want error
	var n *node
	var create bool
	var d *node
	var name string
	if flags&syscall.O_CREAT != 0 {
		d, name, want = m.parentOf(p)
		if want == nil {
			n = d.children[name]
			switch {
			case n == nil:
				create = true
			case flags&syscall.O_EXCL != 0:
				want = syscall.EEXIST
			case n.typ == syscall.S_IFLNK:
				want = syscall.ENOENT // follows the dangling link; its directory does not exist
			case n.typ == syscall.S_IFDIR:
				want = syscall.EISDIR
			}
		}
	} else {
		n, want = m.follow(p)
		if want == nil && n.typ == syscall.S_IFDIR && write {
			want = syscall.EISDIR
		}
	}
	if write && want == nil && n != nil && n.typ == syscall.S_IFREG {
		r.closeReadersFor(n)
	}
	var th Handle
	var err error
	sp := now(func() { th, err = r.tg.Open(p, flags, perm) })
	r.logf("%s = %s", desc, errName(err))
	r.wantErr(desc, want, err)
	r.touch(p)
	if err != nil {
		return
	}
	if n != nil && n.typ == syscall.S_IFDIR {
		th.Close()
		return
	}
	if create {
		// A new file reaches B2 (empty) before open returns.
		n = m.newNode(syscall.S_IFREG, perm&^m.umask, sp)
		m.attach(d, name, n)
		m.touchDir(d, sp)
	}
	if write && n.writers == 0 && !n.dirty {
		// A fresh staged copy: whole when B2 has nothing of the file.
		n.local = len(n.durData) == 0
		n.openedAt = sp.lo
	}
	if flags&syscall.O_TRUNC != 0 && !create {
		if len(n.data) == 0 {
			n.sizeSet(sp) // nothing truncated
		} else {
			n.dataChanged(sp)
		}
		n.data = nil
		n.dirty = !bytes.Equal(n.data, n.durData) || n.dirty
		n.local = true
	}
	if write {
		n.writers++
	}
	h := &handle{id: m.nextID, n: n, read: acc != syscall.O_WRONLY, write: write, desc: desc, th: th}
	m.nextID++
	m.handles = append(m.handles, h)
	if len(m.handles) > maxHandles {
		r.closeHandle(m.handles[0])
	}
}

// closeReadersFor closes the read-only descriptors of n before n is
// opened for writing or truncated by name, on a target where such an open
// waits for them and such a reader keeps reading the version it opened
// (FUSE passthrough, docs/read-cache.md: the open would fail with ETXTBSY
// after 5 seconds).
func (r *runner) closeReadersFor(n *node) {
	if !r.writersWaitForReaders {
		return
	}
	for _, h := range append([]*handle(nil), r.m.handles...) {
		if h.n == n && !h.write {
			r.logf("(passthrough: closing reader h%d before the file changes)", h.id)
			r.closeHandle(h)
		}
	}
}

func (r *runner) closeHandle(h *handle) {
	m := r.m
	err := h.th.Close()
	r.logf("close(h%d %s) = %s", h.id, h.desc, errName(err))
	for i, x := range m.handles {
		if x == h {
			m.handles = append(m.handles[:i], m.handles[i+1:]...)
			break
		}
	}
	r.wantErr(fmt.Sprintf("close(h%d)", h.id), nil, err)
	if h.write {
		h.n.writers--
		if h.n.parent != nil && h.n.dirty {
			// close uploads the staged copy with its metadata. A close
			// with no data to upload sends nothing: a metadata change
			// made while the file was open stays deferred
			// (docs/semantics.md "Durability": fsync, rename, unmount).
			if len(h.n.data) >= 2*partSize {
				// B2 has the time of when streaming started: a write's
				// time until the close, or a time set before (utimes
				// to the past makes meta.mtime.hi no upper bound).
				h.n.streamed = span{h.n.openedAt, later(h.n.meta.mtime.hi, time.Now())}
			}
			if r.backgroundUploads {
				// Write-back: the data may have gone up in the
				// background before a metadata change made while the
				// file was open, which then stays deferred as for a
				// closed file; close makes only the data durable.
				h.n.durData = bytes.Clone(h.n.data)
				h.n.dirty = false
			} else {
				h.n.durable()
			}
		}
	}
	if h.n.parent != nil {
		r.touch(h.n.path())
	}
}

func (r *runner) opClose(t *rapid.T) {
	if h := r.handle(t); h != nil {
		r.closeHandle(h)
	}
}

func (r *runner) opWrite(t *rapid.T) {
	h := r.ioHandle(t)
	if h == nil {
		return
	}
	n := h.n
	off := drawOffset(t, len(n.data))
	b := drawData(t)
	var k int
	var err error
	sp := now(func() { k, err = h.th.WriteAt(b, off) })
	r.logf("pwrite(h%d, %d bytes, off %d) = %d, %s", h.id, len(b), off, k, errName(err))
	var want error
	if !h.write {
		want = syscall.EBADF
	}
	r.wantErr(fmt.Sprintf("pwrite(h%d)", h.id), want, err)
	if err != nil {
		return
	}
	end := off + int64(len(b))
	if end > int64(len(n.data)) {
		n.data = resize(n.data, end)
	}
	copy(n.data[off:], b)
	n.dirty = true
	n.dataChanged(sp)
	r.compareHandle(h)
	if n.parent != nil {
		r.touch(n.path())
	}
}

func (r *runner) opRead(t *rapid.T) {
	h := r.ioHandle(t)
	if h == nil {
		return
	}
	n := h.n
	off := drawOffset(t, len(n.data))
	size := rapid.IntRange(1, 3*partSize).Draw(t, "len")
	buf := make([]byte, size)
	k, err := h.th.ReadAt(buf, off)
	r.logf("pread(h%d, %d, off %d) = %d, %s", h.id, size, off, k, errName(err))
	var want error
	if !h.read {
		want = syscall.EBADF
	}
	r.wantErr(fmt.Sprintf("pread(h%d)", h.id), want, err)
	if err != nil {
		return
	}
	var exp []byte
	if off < int64(len(n.data)) {
		exp = n.data[off:min(int64(len(n.data)), off+int64(size))]
	}
	if !bytes.Equal(buf[:k], exp) {
		r.failf("pread(h%d %s, %d, off %d) differs: %s", h.id, h.desc, size, off, diffBytes(buf[:k], exp))
	}
}

func (r *runner) opFtruncate(t *rapid.T) {
	h := r.ioHandle(t)
	if h == nil {
		return
	}
	n := h.n
	size := drawOffset(t, len(n.data))
	var err error
	sp := now(func() { err = h.th.Truncate(size) })
	r.logf("ftruncate(h%d, %d) = %s", h.id, size, errName(err))
	var want error
	if !h.write {
		want = syscall.EINVAL
	}
	r.wantErr(fmt.Sprintf("ftruncate(h%d)", h.id), want, err)
	if err != nil {
		return
	}
	if size == int64(len(n.data)) {
		n.sizeSet(sp)
	} else {
		n.dataChanged(sp)
	}
	n.data = resize(n.data, size)
	// A truncation to the size the file has changes nothing to upload.
	n.dirty = !bytes.Equal(n.data, n.durData) || n.dirty
	if size == 0 {
		n.local = true
	}
	r.compareHandle(h)
	if n.parent != nil {
		r.touch(n.path())
	}
}

func (r *runner) opFsync(t *rapid.T) {
	h := r.ioHandle(t)
	if h == nil {
		return
	}
	err := h.th.Sync()
	r.logf("fsync(h%d) = %s", h.id, errName(err))
	r.wantErr(fmt.Sprintf("fsync(h%d)", h.id), nil, err)
	if h.n.parent != nil {
		h.n.durable()
		h.n.streamed = span{}
		r.touch(h.n.path())
	}
}

func (r *runner) opFstat(t *rapid.T) {
	if h := r.ioHandle(t); h != nil {
		r.logf("fstat(h%d)", h.id)
		r.compareHandle(h)
	}
}

// compareHandle compares fstat of an open handle.
func (r *runner) compareHandle(h *handle) {
	st, err := h.th.Stat()
	if err != nil {
		r.failf("fstat(h%d %s): %s", h.id, h.desc, errName(err))
	}
	r.compareStat(fmt.Sprintf("fstat(h%d %s)", h.id, h.desc), h.n, st)
	if want := uint64(1); st.Type == syscall.S_IFREG {
		if h.n.parent == nil {
			want = 0 // unlinked or replaced
		}
		if st.Nlink != want {
			r.failf("fstat(h%d %s): st_nlink %d, model says %d", h.id, h.desc, st.Nlink, want)
		}
	}
}

// --- paths -----------------------------------------------------------

func (r *runner) opWriteFile(t *rapid.T) {
	// The shell's "cat > p": create or truncate, write, close.
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFDIR)
	r.open(t, p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, 0o644)
	if len(r.m.handles) == 0 {
		return
	}
	h := r.m.handles[len(r.m.handles)-1]
	if h.n.parent == nil || h.n.path() != p {
		return // the open failed
	}
	b := drawData(t)
	var err error
	sp := now(func() { _, err = h.th.WriteAt(b, 0) })
	r.logf("pwrite(h%d, %d bytes, off 0) = %s", h.id, len(b), errName(err))
	r.wantErr("write", nil, err)
	h.n.data = b
	h.n.dirty = true
	h.n.dataChanged(sp)
	r.closeHandle(h)
}

func (r *runner) opTruncate(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	n, want := r.m.follow(p)
	size := int64(0)
	if want == nil && n.typ == syscall.S_IFDIR {
		want = syscall.EISDIR
	}
	if want == nil {
		size = drawOffset(t, len(n.data))
		r.closeReadersFor(n)
	}
	var err error
	sp := now(func() { err = r.tg.Truncate(p, size) })
	r.logf("truncate(%q, %d) = %s", p, size, errName(err))
	r.wantErr(fmt.Sprintf("truncate(%q)", p), want, err)
	r.touch(p)
	if err != nil {
		return
	}
	same := size == int64(len(n.data))
	if same {
		n.sizeSet(sp)
	} else {
		n.dataChanged(sp)
	}
	n.data = resize(n.data, size)
	if n.writers == 0 && same {
		// Nothing to cut: the content stays, and a pending metadata
		// change stays deferred.
	} else if n.writers == 0 {
		n.durable() // a closed file is staged, cut and uploaded at once
	} else {
		// As ftruncate: a truncation of an open file to the size it has
		// changes nothing to upload, so the close that follows makes no
		// metadata durable.
		n.dirty = !bytes.Equal(n.data, n.durData) || n.dirty
		if size == 0 {
			n.local = true
		}
	}
}

func (r *runner) opMkdir(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFDIR, syscall.S_IFREG)
	perm := perms.Draw(t, "mode")
	d, name, want := r.m.parentOf(p)
	if want == nil && d.children[name] != nil {
		want = syscall.EEXIST
	}
	var err error
	sp := now(func() { err = r.tg.Mkdir(p, perm) })
	r.logf("mkdir(%q, %04o) = %s", p, perm, errName(err))
	r.wantErr(fmt.Sprintf("mkdir(%q)", p), want, err)
	r.touch(p)
	if err != nil {
		return
	}
	n := r.m.newNode(syscall.S_IFDIR, perm&^r.m.umask, sp)
	n.dirStoredDur = sp // mkdir writes the marker
	r.m.attach(d, name, n)
	r.m.touchDir(d, sp)
}

func (r *runner) opRmdir(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFDIR, syscall.S_IFDIR, syscall.S_IFREG)
	n, want := r.m.lookup(p)
	if want == nil {
		switch {
		case n.typ != syscall.S_IFDIR:
			want = syscall.ENOTDIR
		case len(n.children) > 0:
			want = syscall.ENOTEMPTY
		}
	}
	var err error
	sp := now(func() { err = r.tg.Rmdir(p) })
	r.logf("rmdir(%q) = %s", p, errName(err))
	r.wantErr(fmt.Sprintf("rmdir(%q)", p), want, err)
	r.touch(p)
	if err != nil {
		return
	}
	d := n.parent
	r.m.detach(n)
	r.m.touchDir(d, sp)
}

func (r *runner) opUnlink(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFLNK, syscall.S_IFDIR)
	n, want := r.m.lookup(p)
	if want == nil && n.typ == syscall.S_IFDIR {
		want = syscall.EISDIR
	}
	var err error
	sp := now(func() { err = r.tg.Unlink(p) })
	r.logf("unlink(%q) = %s", p, errName(err))
	r.wantErr(fmt.Sprintf("unlink(%q)", p), want, err)
	r.touch(p)
	if err != nil {
		return
	}
	d := n.parent
	r.m.detach(n) // open handles keep the node: POSIX unlink while open
	r.m.touchDir(d, sp)
}

const (
	renameNoReplace = unix.RENAME_NOREPLACE
	renameExchange  = unix.RENAME_EXCHANGE
)

func (r *runner) opRename(t *rapid.T) {
	m := r.m
	from := r.anyPath(t, "from", syscall.S_IFREG, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	to := r.anyPath(t, "to", syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	flags := uint(rapid.SampledFrom([]int{0, 0, 0, renameNoReplace, renameExchange}).Draw(t, "flags"))
	want, apply := m.renameResult(from, to, flags)
	var err error
	sp := now(func() { err = r.tg.Rename(from, to, flags) })
	fl := map[uint]string{0: "0", renameNoReplace: "RENAME_NOREPLACE", renameExchange: "RENAME_EXCHANGE"}[flags]
	r.logf("rename(%q, %q, %s) = %s", from, to, fl, errName(err))
	r.wantErr(fmt.Sprintf("rename(%q, %q, %s)", from, to, fl), want, err)
	r.touch(from, to)
	if err != nil || apply == nil {
		return
	}
	apply(sp)
	if n, _ := m.lookup(to); n != nil && n.isDir() {
		walk(n, func(c *node) { r.touch(c.path()) })
	}
}

// renameResult is rename(2) as Linux checks it (do_renameat2, vfs_rename)
// and b2fs answers it. apply (nil for a no-op) changes the model.
func (m *mfs) renameResult(from, to string, flags uint) (error, func(span)) {
	fd, fname, err := m.parentOf(from)
	if err != nil {
		return err, nil
	}
	td, tname, err := m.parentOf(to)
	if err != nil {
		return err, nil
	}
	src := fd.children[fname]
	if src == nil {
		return syscall.ENOENT, nil
	}
	dst := td.children[tname]
	if flags&renameNoReplace != 0 && dst != nil {
		return syscall.EEXIST, nil
	}
	if flags&renameExchange != 0 && dst == nil {
		return syscall.ENOENT, nil
	}
	if src.isDir() && isAncestor(src, td) {
		return syscall.EINVAL, nil // into its own subtree
	}
	if dst != nil && isAncestor(dst, fd) {
		if flags&renameExchange != 0 {
			return syscall.EINVAL, nil
		}
		return syscall.ENOTEMPTY, nil
	}
	if src == dst {
		return nil, nil // the same name: nothing happens
	}
	if flags&renameExchange != 0 {
		// b2fs deviation: RENAME_EXCHANGE is not supported (B2 cannot swap
		// two names atomically); b2fs answers EINVAL.
		return syscall.EINVAL, nil
	}
	if dst != nil {
		switch {
		case src.isDir() && !dst.isDir():
			return syscall.ENOTDIR, nil
		case !src.isDir() && dst.isDir():
			return syscall.EISDIR, nil
		case dst.isDir() && len(dst.children) > 0:
			return syscall.ENOTEMPTY, nil
		}
	}
	return nil, func(sp span) {
		if dst != nil {
			m.detach(dst)
		}
		m.detach(src)
		m.attach(td, tname, src)
		m.touchDir(fd, sp)
		m.touchDir(td, sp)
		// A file is uploaded before it is copied, and its pending
		// metadata rides on the copy; a directory's files likewise.
		walk(src, func(c *node) {
			if !c.isDir() {
				c.durable()
			}
		})
	}
}

// danglingTargets are symlink targets that never resolve: no name of the
// model starts with "no-such-dir", and the absolute one is outside.
var danglingTargets = []string{"no-such-dir/x", "/nonexistent-b2fs-model/target", "../no-such-dir/y z", "no-such-dir/" + string(bytes.Repeat([]byte("long"), 60))}

func (r *runner) opSymlink(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFLNK)
	target := rapid.SampledFrom(danglingTargets).Draw(t, "target")
	d, name, want := r.m.parentOf(p)
	if want == nil && d.children[name] != nil {
		want = syscall.EEXIST
	}
	var err error
	sp := now(func() { err = r.tg.Symlink(target, p) })
	r.logf("symlink(%q, %q) = %s", target, p, errName(err))
	r.wantErr(fmt.Sprintf("symlink(%q)", p), want, err)
	r.touch(p)
	if err != nil {
		return
	}
	n := r.m.newNode(syscall.S_IFLNK, 0o777, sp)
	n.target = target
	r.m.attach(d, name, n)
	r.m.touchDir(d, sp)
}

func (r *runner) opReadlink(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFLNK, syscall.S_IFREG)
	n, want := r.m.lookup(p)
	if want == nil && n.typ != syscall.S_IFLNK {
		want = syscall.EINVAL
	}
	got, err := r.tg.Readlink(p)
	r.logf("readlink(%q) = %q, %s", p, got, errName(err))
	r.wantErr(fmt.Sprintf("readlink(%q)", p), want, err)
	if err == nil && got != n.target {
		r.failf("readlink(%q) = %q, model says %q", p, got, n.target)
	}
}

// metaOp applies a metadata change to the node at p.
func (r *runner) metaOp(desc, p string, follow bool, call func() error, change func(*meta) error) {
	var n *node
	var want error
	if follow {
		n, want = r.m.follow(p)
	} else {
		n, want = r.m.lookup(p)
	}
	var mt meta
	if want == nil {
		mt = n.meta
		mt.xattr = cloneXattr(mt.xattr)
		want = change(&mt)
	}
	err := call()
	r.logf("%s = %s", desc, errName(err))
	r.wantErr(desc, want, err)
	r.touch(p)
	if err == nil {
		n.setMeta(mt)
	}
}

// rootless keeps metadata changes off the mount root, which b2fs gives
// the mount's attributes (see compareStat).
func (r *runner) rootless(t *rapid.T, types ...uint32) (string, bool) {
	p := r.anyPath(t, "path", types...)
	return p, p != ""
}

func (r *runner) opChmod(t *rapid.T) {
	p, _ := r.rootless(t, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	perm := perms.Draw(t, "mode")
	r.metaOp(fmt.Sprintf("chmod(%q, %04o)", p, perm), p, true, func() error { return r.tg.Chmod(p, perm) },
		func(m *meta) error { m.perm = perm; return nil })
}

var owners = []int{-1, 0, 1000, 65534}

func (r *runner) opChown(t *rapid.T) {
	p, _ := r.rootless(t, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	uid := rapid.SampledFrom(owners).Draw(t, "uid")
	gid := rapid.SampledFrom(owners).Draw(t, "gid")
	r.metaOp(fmt.Sprintf("lchown(%q, %d, %d)", p, uid, gid), p, false, func() error { return r.tg.Lchown(p, uid, gid) },
		func(m *meta) error {
			if uid >= 0 {
				m.uid = uint32(uid)
			}
			if gid >= 0 {
				m.gid = uint32(gid)
			}
			return nil
		})
}

func (r *runner) opUtimes(t *rapid.T) {
	p, _ := r.rootless(t, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	sec := rapid.Int64Range(0, 2e9).Draw(t, "sec")
	nsec := rapid.SampledFrom([]int64{0, 123_000_000, 999_999_999, 1}).Draw(t, "nsec")
	mt := time.Unix(sec, nsec)
	n, _ := r.m.lookup(p)
	r.metaOp(fmt.Sprintf("lutimes(%q, %s)", p, mt.UTC().Format(time.RFC3339Nano)), p, false,
		func() error { return r.tg.Lutimes(p, mt) },
		func(m *meta) error {
			// b2fs keeps mtimes in milliseconds (src_last_modified_millis,
			// README "POSIX metadata").
			m.mtime = exact(time.UnixMilli(mt.UnixMilli()))
			if n.isDir() {
				n.dirStoredHist = append(n.dirStoredHist, m.mtime)
			}
			return nil
		})
}

var (
	xattrNames  = []string{"user.a", "user.b", "user.c", "user.d", "user.e", "user.Upper", "user.odd name~%"}
	xattrValues = []string{"", "v", "hello world", "\x00\x01\xff binary", "=%25 percent", string(bytes.Repeat([]byte("x"), 300))}
)

func (r *runner) opSetxattr(t *rapid.T) {
	p, _ := r.rootless(t, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	name := rapid.SampledFrom(xattrNames).Draw(t, "name")
	value := rapid.SampledFrom(xattrValues).Draw(t, "value")
	flags := rapid.SampledFrom([]int{0, 0, unix.XATTR_CREATE, unix.XATTR_REPLACE}).Draw(t, "flags")
	n, _ := r.m.lookup(p)
	r.metaOp(fmt.Sprintf("lsetxattr(%q, %s, %d bytes, %d)", p, name, len(value), flags), p, false,
		func() error { return r.tg.Lsetxattr(p, name, []byte(value), flags) },
		func(m *meta) error {
			if n.typ == syscall.S_IFLNK {
				return syscall.EPERM // Linux allows user xattrs on files and directories only
			}
			_, has := m.xattr[name]
			switch {
			case flags == unix.XATTR_CREATE && has:
				return syscall.EEXIST
			case flags == unix.XATTR_REPLACE && !has:
				return syscall.ENODATA
			case !has && len(m.xattr) >= xattrLimit:
				return syscall.ENOSPC // b2fs: B2's fileInfo holds 10 entries (README "Limits")
			}
			m.xattr[name] = value
			return nil
		})
}

func (r *runner) opRemovexattr(t *rapid.T) {
	p, _ := r.rootless(t, syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	name := rapid.SampledFrom(xattrNames).Draw(t, "name")
	n, _ := r.m.lookup(p)
	r.metaOp(fmt.Sprintf("lremovexattr(%q, %s)", p, name), p, false,
		func() error { return r.tg.Lremovexattr(p, name) },
		func(m *meta) error {
			if n.typ == syscall.S_IFLNK {
				return syscall.EPERM
			}
			if _, has := m.xattr[name]; !has {
				return syscall.ENODATA
			}
			delete(m.xattr, name)
			return nil
		})
}

func (r *runner) opFsyncPath(t *rapid.T) {
	p := r.anyPath(t, "path", syscall.S_IFREG, syscall.S_IFDIR, syscall.S_IFLNK)
	if rapid.IntRange(0, 4).Draw(t, "root") == 0 {
		p = ""
	}
	n, want := r.m.lookup(p)
	if want == nil && n.typ == syscall.S_IFLNK {
		want = syscall.ELOOP // O_NOFOLLOW
	}
	err := r.tg.FsyncPath(p)
	r.logf("fsync(open(%q)) = %s", p, errName(err))
	r.wantErr(fmt.Sprintf("fsync(%q)", p), want, err)
	if err != nil {
		return
	}
	switch n.typ {
	case syscall.S_IFREG:
		n.durable() // fsync of any handle on the file uploads its staged copy
		n.streamed = span{}
	case syscall.S_IFDIR:
		// fsync of a directory sends the pending metadata of the files
		// in it (README "POSIX metadata").
		n.metaDurable()
		n.dirDurable()
		for _, c := range n.children {
			if !c.dirty {
				c.metaDurable()
			}
		}
	}
}

func (r *runner) opLink(t *rapid.T) {
	from := r.anyPath(t, "from", syscall.S_IFREG, syscall.S_IFDIR)
	to := r.anyPath(t, "to", syscall.S_IFREG)
	_, want := r.m.lookup(from)
	if want == nil {
		d, name, err := r.m.parentOf(to)
		switch {
		case err != nil:
			want = err
		case d.children[name] != nil:
			want = syscall.EEXIST
		default:
			// b2fs deviation: B2 has no hard links; link(2) fails with
			// EPERM (README "Writing files", "Metadata").
			want = syscall.EPERM
		}
	}
	err := r.tg.Link(from, to)
	r.logf("link(%q, %q) = %s", from, to, errName(err))
	r.wantErr(fmt.Sprintf("link(%q, %q)", from, to), want, err)
	r.touch(from, to)
}

// --- lifecycle and faults ----------------------------------------------

func (r *runner) opRemount(t *rapid.T) {
	for len(r.m.handles) > 0 {
		r.closeHandle(r.m.handles[0])
	}
	err := r.lc.Remount()
	r.logf("remount = %v", err)
	if err != nil {
		r.failf("remount: %v", err)
	}
	r.stats.remounts++
	r.restarted()
	// Unmount applies every pending change. Directories show the time on
	// their markers again (docs/posix.md).
	walk(r.m.root, func(n *node) {
		if n.isDir() && n != r.m.root {
			n.dirAlt = append([]span{n.dirStored(), n.meta.mtime, exact(r.rootStat.Mtime)}, n.dirStoredHist...)
			n.dirDurable()
		}
		n.durable()
		n.streamed = span{}
	})
	r.compareAll()
}

func (r *runner) opCrash(t *rapid.T) {
	err := r.lc.Crash()
	r.logf("crash (kill -9) and restart = %v", err)
	if err != nil {
		r.failf("restart after crash: %v", err)
	}
	r.stats.crashes++
	for _, h := range r.m.handles {
		h.th.Close() // dead: its mount is gone
		if h.write {
			h.n.writers--
		}
	}
	r.m.handles = nil
	r.restarted()
	r.recover()
	r.compareAll()
}

// restarted notes a new start of the filesystem.
func (r *runner) restarted() {
	st, err := r.tg.Lstat("")
	if err != nil {
		r.failf("stat of the root after the restart: %s", errName(err))
	}
	r.rootStat = st
}

// recover checks the tree after a crash against what may have survived
// (see node's durability fields) and adopts what the target shows.
func (r *runner) recover() {
	walk(r.m.root, func(n *node) {
		if n == r.m.root {
			return
		}
		p := n.path()
		st, err := r.tg.Lstat(p)
		if err != nil {
			r.failf("after the crash, lstat %q: %s (namespace changes are durable when they return)", p, errName(err))
		}
		recovered := false
		if n.typ == syscall.S_IFREG {
			h, err := r.tg.Open(p, syscall.O_RDONLY, 0)
			if err != nil {
				r.failf("after the crash, open %q: %s", p, errName(err))
			}
			buf := make([]byte, max(len(n.data), len(n.durData))+1)
			k, err := h.ReadAt(buf, 0)
			h.Close()
			if err != nil {
				r.failf("after the crash, read %q: %s", p, errName(err))
			}
			got := buf[:k]
			switch {
			case bytes.Equal(got, n.durData):
				n.data = bytes.Clone(n.durData)
			case bytes.Equal(got, n.data):
				recovered = true
				// The staged copy was recovered. README: it is, unless b2fs
				// died while a partial overwrite was being written (when
				// its manifest cannot tell new bytes from old ones); the
				// model cannot see that moment, so it accepts both.
			default:
				r.failf("after the crash, %q has %s; the model allows %d bytes in B2 or %d bytes staged (whole: %v)",
					p, diffBytes(got, n.data), len(n.durData), len(n.data), n.local)
			}
		}
		x := map[string]string{}
		if n.typ != syscall.S_IFLNK {
			if x, err = r.readXattrs(p); err != nil {
				r.failf("after the crash, xattrs of %q: %v", p, err)
			}
		}
		allowed := append([]meta{n.durMeta}, n.metaHist...)
		if recovered {
			// The staging manifest is saved before a write changes the
			// data, so a file recovered from it can show the mtime of an
			// earlier write than its content's last one: any time since
			// the file was last durable.
			lo, hi := n.meta.mtime.lo, n.meta.mtime.hi
			for _, a := range allowed {
				lo, hi = earlier(lo, a.mtime.lo), later(hi, a.mtime.hi)
			}
			for _, a := range allowed {
				a.mtime = span{lo, hi.Add(time.Nanosecond)}
				allowed = append(allowed, a)
			}
		}
		if !n.altMtime.IsZero() {
			for _, a := range allowed {
				a.mtime = exact(n.altMtime)
				allowed = append(allowed, a)
			}
		}
		if !n.streamed.lo.IsZero() {
			// The time of when streaming started, with any metadata
			// the file may show: the copy that sets its final time is
			// deferred metadata, lost in a crash with the changes
			// folded into it (a chmod since the close).
			for _, a := range append(append([]meta(nil), allowed...), n.meta) {
				a.mtime = n.streamed
				allowed = append(allowed, a)
			}
		}
		if n.isDir() {
			// A directory shows the time on its marker after a restart,
			// or the mount's (see node.dirAlt).
			var withTimes []meta
			for _, a := range allowed {
				for _, t := range append([]span{n.dirStoredDur, n.meta.mtime, exact(r.rootStat.Mtime)}, n.dirStoredHist...) {
					a.mtime = t
					withTimes = append(withTimes, a)
				}
			}
			allowed = withTimes
		}
		found := false
		for _, a := range allowed {
			if st.Perm == a.perm && st.UID == a.uid && st.GID == a.gid && a.mtime.contains(st.Mtime) && maps2Equal(x, a.xattr) {
				n.meta = a
				n.meta.mtime = exact(st.Mtime)
				found = true
				break
			}
		}
		if !found {
			var s []string
			for _, a := range allowed {
				s = append(s, a.String())
			}
			r.failf("after the crash, %q shows mode %04o owner %d:%d mtime %s xattrs %v; the model allows one of:\n  %s",
				p, st.Perm, st.UID, st.GID, st.Mtime.UTC().Format(time.RFC3339Nano), x, joinLines(s))
		}
		n.durable()
		n.streamed = span{}
		if n.isDir() {
			n.dirStoredDur, n.dirStoredHist = n.meta.mtime, nil
		}
	})
}

func joinLines(s []string) string {
	sort.Strings(s)
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}

// faultAPIs are the B2 calls b2fs makes while the model runs.
var faultAPIs = []string{"*", "b2_upload_file", "b2_upload_part", "b2_copy_file", "b2_copy_part",
	"b2_list_file_names", "b2_download_file_by_id", "b2_hide_file", "b2_delete_file_version",
	"b2_get_upload_url", "b2_start_large_file", "b2_finish_large_file"}

// opFault arranges a transient B2 failure for the next calls. b2client
// makes 5 attempts per call, so at most two failures per rule: a fault
// may slow an operation down, never change its result.
func (r *runner) opFault(t *rapid.T) {
	var f Fault
	kind := rapid.SampledFrom([]string{"503", "500", "429", "reset", "expired", "expire-all", "stall"}).Draw(t, "fault")
	rule := b2emu.FaultRule{
		API:   rapid.SampledFrom(faultAPIs).Draw(t, "api"),
		Skip:  rapid.IntRange(0, 5).Draw(t, "skip"),
		Times: rapid.IntRange(1, 2).Draw(t, "times"),
	}
	switch kind {
	case "503", "500":
		rule.Action, rule.Status = "error", map[string]int{"503": 503, "500": 500}[kind]
	case "429":
		rule.Action, rule.Status, rule.RetryAfter = "error", 429, 1
		rule.Times = 1
	case "reset":
		rule.Action, rule.ResetAfterBytes = "reset", int64(rapid.IntRange(0, 4096).Draw(t, "after"))
	case "expired":
		rule.Action, rule.Status = "error", 401
	case "stall":
		rule.Action, rule.Delay = "stall", b2emu.Duration(rapid.IntRange(10, 300).Draw(t, "ms"))*b2emu.Duration(time.Millisecond)
	}
	if kind == "expire-all" {
		f.ExpireTokens = true
	} else {
		f.Rule = rule
	}
	r.logf("fault: %v", f)
	r.lc.Fault(f)
	r.stats.faults++
}
