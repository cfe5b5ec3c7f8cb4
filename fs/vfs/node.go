package vfs

import (
	"context"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/staging"
)

// Node is a *Dir, a *File or the *Account root.
type Node interface{ node() }

func (*Dir) node()     {}
func (*File) node()    {}
func (*Account) node() {}

// Account is the root of an account mount: one directory per bucket.
type Account struct {
	fsys *FS
}

// Dir is a directory: a bucket's root or a folder inside it.
type Dir struct {
	fsys *FS

	locMu  sync.Mutex // guards bucket, prefix and gone (a rename changes them); use loc()
	bucket Bucket
	prefix string // "" or ending in "/"
	// gone holds the attributes the directory had when rmdir or a rename
	// over it removed it (nil while it exists): it no longer stands for
	// its prefix, which another directory may take.
	gone *Attr
	ino  uint64 // see inoFor
	// displaced: ino is in registry.displaced (guarded by registry.mu)
	displaced bool
}

// File is a file: one name in a bucket, currently at the version
// entry.FileID.
type File struct {
	fsys *FS

	mu     sync.Mutex // guards the fields below
	bucket Bucket     // bucket, dir and entry.Name change on rename; use loc()
	dir    string     // the parent's prefix
	entry  cache.Entry
	// onNewVersion, when set, is called (without locks, in its own
	// goroutine) when the file's version changes from old to new.
	onNewVersion func(old, new string)
	// pend is the metadata change not yet in B2 (see metaflush.go).
	pend *pendingMeta
	// own: set when this mount created the file at a name B2 did not
	// have, with the versions it stored there since (see ownversions.go).
	own *ownVersions
	// gone: the file was unlinked or replaced by a rename. It no longer
	// stands for its name (another file may take it): entry is what it
	// was when it went, and only its open handles still reach it.
	gone       bool
	goneStaged *staging.File // the staged copy it had then (its handles may still write it)
	// replacing: a rename over the file is under way. The name may show
	// the file taking its place before gone is set: current() and
	// lookups of the name (updateFromName) keep to entry, and
	// stagedFile() to goneStaged (its staged copy then), meanwhile.
	replacing bool
	// wrote counts the versions this mount uploaded for the file (its
	// read handles follow them; see readHandle).
	wrote uint64
	ino   uint64 // see inoFor
	// displaced: ino is in registry.displaced (guarded by registry.mu)
	displaced bool
}

// inoFor is the inode number a node loaded or created at name in bucket b
// is given: a 64-bit FNV-1a hash of the bucket ID and the full name, with
// the top bit clear (go-fuse numbers the nodes it numbers itself from
// 2^63 up) and never 0 or 1 (1 is the root). So a file keeps its inode
// number when the kernel forgets its inode and looks it up again, and
// across remounts (git's index, rsync and backup tools compare it). A node
// keeps its number through renames while it stays loaded; until it is
// forgotten, its number is displaced (registry.freeIno): a new node at
// its old name (git's next lock file after a rename, a new log file after
// rotation, a file created after an unlink while the old one is open)
// takes the next free number, so two loaded nodes never share one. Two
// names can share a number only by a hash collision (about one chance in
// 2^63 per pair).
func inoFor(b Bucket, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(b.ID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	ino := h.Sum64() &^ (1 << 63)
	if ino < 2 {
		ino += 2
	}
	return ino
}

// Ino returns the directory's inode number (see inoFor).
func (n *Dir) Ino() uint64 { return n.ino }

// Ino returns the file's inode number (see inoFor).
func (n *File) Ino() uint64 { return n.ino }

// registry interns the loaded nodes by location, so that every operation
// on one name sees the same *File (its pending metadata, the versions this
// mount made) and a rename moves what is loaded below a directory.
type registry struct {
	mu    sync.Mutex // guards the maps; taken before no other lock
	files map[fileKey]*File
	dirs  map[string]*Dir
	// displaced counts the loaded nodes holding each inode number that
	// no longer stand at the name it was made from (renamed, unlinked,
	// replaced or removed) until they are forgotten: see inoFor.
	displaced map[uint64]int
}

// freeIno returns ino, or the next number after it that no displaced node
// holds. r.mu is held.
func (r *registry) freeIno(ino uint64) uint64 {
	for r.displaced[ino] > 0 {
		ino = (ino + 1) &^ (1 << 63)
		if ino < 2 {
			ino = 2
		}
	}
	return ino
}

// displace records that the node holding ino, whose displaced flag is
// *flag, no longer stands at the name ino was made from. r.mu is held.
func (r *registry) displace(ino uint64, flag *bool) {
	if *flag {
		return
	}
	*flag = true
	if r.displaced == nil {
		r.displaced = map[uint64]int{}
	}
	r.displaced[ino]++
}

// undisplace drops what displace recorded (the node is forgotten). r.mu
// is held.
func (r *registry) undisplace(ino uint64, flag *bool) {
	if !*flag {
		return
	}
	*flag = false
	if r.displaced[ino]--; r.displaced[ino] <= 0 {
		delete(r.displaced, ino)
	}
}

// newIno returns the inode number for a node created at name in b.
func (f *FS) newIno(b Bucket, name string) uint64 {
	r := &f.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.freeIno(inoFor(b, name))
}

func regKey(b Bucket, name string) string { return b.ID + "\x00" + name }

// fileKey is a file's location in the registry: its strings are those the
// File holds already, so a listing of many names adds no key strings.
type fileKey struct{ bucket, dir, name string }

func fkey(b Bucket, dir, name string) fileKey { return fileKey{b.ID, dir, name} }

// dirNode returns the directory prefix of b.
func (f *FS) dirNode(b Bucket, prefix string) *Dir {
	r := &f.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	k := regKey(b, prefix)
	if d := r.dirs[k]; d != nil {
		return d
	}
	d := &Dir{fsys: f, bucket: b, prefix: prefix, ino: r.freeIno(inoFor(b, prefix))}
	if r.dirs == nil {
		r.dirs = map[string]*Dir{}
	}
	r.dirs[k] = d
	return d
}

// fileNode returns the file for entry e of directory dir in b, recording e
// as its newest view (see updateFromName).
func (f *FS) fileNode(b Bucket, dir string, e cache.Entry) *File {
	r := &f.reg
	r.mu.Lock()
	k := fkey(b, dir, e.Name)
	n := r.files[k]
	if n == nil {
		n = &File{fsys: f, bucket: b, dir: dir, entry: e, ino: r.freeIno(inoFor(b, dir+e.Name))}
		if r.files == nil {
			r.files = map[fileKey]*File{}
		}
		r.files[k] = n
		r.mu.Unlock()
		return n
	}
	r.mu.Unlock()
	n.updateFromName(e)
	return n
}

// loadedDir returns the loaded directory prefix of b, or nil.
func (f *FS) loadedDir(b Bucket, prefix string) *Dir {
	r := &f.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirs[regKey(b, prefix)]
}

// dirGone forgets the loaded directory d, removed or replaced, which had
// the attributes a: a directory made at its prefix later is another one.
func (f *FS) dirGone(d *Dir, a Attr) {
	b, p := d.loc()
	r := &f.reg
	r.mu.Lock()
	if k := regKey(b, p); r.dirs[k] == d {
		delete(r.dirs, k)
	}
	r.displace(d.ino, &d.displaced)
	r.mu.Unlock()
	d.setGone(a)
}

// loadedFile returns the loaded file called name in directory dir of b, or
// nil.
func (f *FS) loadedFile(b Bucket, dir, name string) *File {
	r := &f.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[fkey(b, dir, name)]
}

// moved records that the file n, at (ob, odir, oname) before, now has the
// location (b, dir, name), replacing any file loaded there.
func (f *FS) moved(n *File, ob Bucket, odir, oname string, b Bucket, dir, name string) {
	r := &f.reg
	r.mu.Lock()
	if k := fkey(ob, odir, oname); r.files[k] == n {
		delete(r.files, k)
	}
	if r.files == nil {
		r.files = map[fileKey]*File{}
	}
	r.files[fkey(b, dir, name)] = n
	r.displace(n.ino, &n.displaced)
	r.mu.Unlock()
	n.setLoc(b, dir, name)
}

// removed forgets the file loaded at name in dir of b (unlinked).
func (f *FS) removed(b Bucket, dir, name string) {
	r := &f.reg
	r.mu.Lock()
	if n := r.files[fkey(b, dir, name)]; n != nil {
		r.displace(n.ino, &n.displaced)
		delete(r.files, fkey(b, dir, name))
	}
	r.mu.Unlock()
}

// relocate gives every loaded directory and file under from in fb the
// location under to in tb (a directory rename).
func (f *FS) relocate(fb Bucket, from string, tb Bucket, to string) {
	r := &f.reg
	r.mu.Lock()
	var ds []*Dir
	var fs []*File
	for k, d := range r.dirs {
		if b, p, _ := strings.Cut(k, "\x00"); b == fb.ID && strings.HasPrefix(p, from) {
			delete(r.dirs, k)
			r.displace(d.ino, &d.displaced)
			ds = append(ds, d)
		}
	}
	for k, n := range r.files {
		if k.bucket == fb.ID && strings.HasPrefix(childName(k.dir, k.name), from) {
			delete(r.files, k)
			r.displace(n.ino, &n.displaced)
			fs = append(fs, n)
		}
	}
	for _, d := range ds {
		_, p := d.loc()
		np := to + p[len(from):]
		d.setLoc(tb, np)
		r.dirs[regKey(tb, np)] = d
	}
	for _, n := range fs {
		_, dir, name := n.loc()
		nd := to + dir[len(from):]
		n.setLoc(tb, nd, name)
		r.files[fkey(tb, nd, name)] = n
	}
	r.mu.Unlock()
}

// Forget drops n from the loaded nodes (the kernel forgot its inode)
// unless it has metadata changes pending. A later lookup loads it again;
// what n knew of the versions this mount made is forgotten with it, as
// the kernel forgot the inode.
func (f *FS) Forget(n Node) {
	r := &f.reg
	switch n := n.(type) {
	case *File:
		n.mu.Lock()
		pending := n.pend != nil // the timer and fsync need this node
		n.mu.Unlock()
		if pending {
			return
		}
		b, dir, name := n.loc()
		r.mu.Lock()
		if k := fkey(b, dir, name); r.files[k] == n {
			delete(r.files, k)
		}
		r.undisplace(n.ino, &n.displaced)
		r.mu.Unlock()
	case *Dir:
		b, p := n.loc()
		r.mu.Lock()
		if k := regKey(b, p); r.dirs[k] == n {
			delete(r.dirs, k)
		}
		r.undisplace(n.ino, &n.displaced)
		r.mu.Unlock()
	}
}

// loc returns the directory's bucket and prefix (a rename changes them).
func (n *Dir) loc() (Bucket, string) {
	n.locMu.Lock()
	defer n.locMu.Unlock()
	return n.bucket, n.prefix
}

// Loc returns the directory's bucket and prefix ("" or ending in "/").
func (n *Dir) Loc() (Bucket, string) { return n.loc() }

func (n *Dir) setLoc(b Bucket, prefix string) {
	n.locMu.Lock()
	n.bucket, n.prefix = b, prefix
	n.locMu.Unlock()
}

// loc returns the file's bucket, parent prefix and name.
func (n *File) loc() (Bucket, string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bucket, n.dir, n.entry.Name
}

// Loc returns the file's bucket, its directory's prefix and its name.
func (n *File) Loc() (Bucket, string, string) { return n.loc() }

func (n *File) setLoc(b Bucket, dir, name string) {
	n.mu.Lock()
	n.bucket, n.dir, n.entry.Name = b, dir, name
	n.mu.Unlock()
}

// OnNewVersion sets the function called (in a goroutine of its own) when
// the file's version changes: the FUSE adapter drops the kernel's cached
// pages.
func (n *File) OnNewVersion(fn func(old, new string)) {
	n.mu.Lock()
	n.onNewVersion = fn
	n.mu.Unlock()
}

// stagedFile returns the staged file of n, or nil (always nil once n is
// gone: what is staged under its name belongs to another file).
func (n *File) stagedFile() *staging.File {
	n.mu.Lock()
	b, dir, name, gone, replacing, sf := n.bucket, n.dir, n.entry.Name, n.gone, n.replacing, n.goneStaged
	n.mu.Unlock()
	if gone {
		return nil
	}
	if replacing {
		return sf // the name's staged file may be the source's already
	}
	return n.fsys.staged(b, childName(dir, name))
}

// lastEntry is the file's entry as it is now (its staged copy's when it
// has one): what setGone keeps.
func (n *File) lastEntry() cache.Entry {
	if sf := n.stagedFile(); sf != nil {
		return n.stagedView(n.name(), sf)
	}
	return n.current()
}

// setReplacing marks a rename over n under way (on), whose staged copy
// then was sf, or unmarks it (the rename failed).
func (n *File) setReplacing(on bool, sf *staging.File) {
	n.mu.Lock()
	n.replacing = on
	if !n.gone {
		n.goneStaged = sf
	}
	n.mu.Unlock()
}

// isGone reports whether n was unlinked or replaced.
func (n *File) isGone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gone
}

// setGone records that n was unlinked or replaced; e is the entry it had
// and sf its staged copy (taken before the change, pending metadata
// applied; nil when none). A pending metadata change of n is dropped by
// the caller: nothing of n reaches B2 again.
func (n *File) setGone(e cache.Entry, sf *staging.File) {
	n.mu.Lock()
	e.Name = n.entry.Name
	n.entry, n.gone, n.goneStaged = e, true, sf
	n.mu.Unlock()
	r := &n.fsys.reg
	r.mu.Lock()
	r.displace(n.ino, &n.displaced)
	r.mu.Unlock()
}

// goneStagedFile returns the staged copy the file had when it went (see
// setGone).
func (n *File) goneStagedFile() *staging.File {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.goneStaged
}

// isGone reports whether the directory was removed or replaced.
func (n *Dir) isGone() bool {
	n.locMu.Lock()
	defer n.locMu.Unlock()
	return n.gone != nil
}

// setGone records that the directory was removed or replaced; a is the
// attributes it had.
func (n *Dir) setGone(a Attr) {
	a.Nlink = 0
	a.Unsure = false
	n.locMu.Lock()
	n.gone = &a
	n.locMu.Unlock()
}

// update records a newer view of the file.
func (n *File) update(e cache.Entry) { n.setEntry(e, false) }

// updateFromName records e, what the file's name shows now (a listing or a
// lookup), as a newer view of the file, unless the file went or a rename
// over it is under way (then the name shows another file, see replacing):
// ok false, and the file keeps its entry.
func (n *File) updateFromName(e cache.Entry) (ok bool) { return n.setEntry(e, true) }

func (n *File) setEntry(e cache.Entry, fromName bool) bool {
	n.mu.Lock()
	if fromName && (n.gone || n.replacing) {
		n.mu.Unlock()
		return false
	}
	old := n.entry.FileID
	n.entry = e
	hook := n.onNewVersion
	n.mu.Unlock()
	if old != "" && old != e.FileID {
		n.fsys.keptForget(old) // a new version: the local copy is stale
		if hook != nil {
			// Never from inside an operation on this node: the kernel
			// may hold locks the notification needs.
			go hook(old, e.FileID)
		}
	}
	return true
}

// current returns the newest view of the file, pending metadata applied
// (the entry it had when it went, once it is gone).
func (n *File) current() cache.Entry {
	n.mu.Lock()
	if n.gone {
		defer n.mu.Unlock()
		return n.entry
	}
	if n.replacing {
		defer n.mu.Unlock()
		return n.overlayLocked(n.entry)
	}
	n.mu.Unlock()
	// A fresher view may be in the cache (a later listing of the parent).
	b, dir, name := n.loc()
	if e, r := n.fsys.meta.Cache().Lookup(dirKey(b, dir), name); r == cache.Found && !e.Dir {
		n.mu.Lock()
		changed := e.FileID != n.entry.FileID
		n.mu.Unlock()
		if changed && !n.updateFromName(e) {
			return n.current() // a rename over the file began meanwhile
		}
		return n.overlay(e)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.overlayLocked(n.entry)
}

// Entry returns the file's current directory entry (version, size, time,
// info).
func (n *File) Entry() cache.Entry { return n.current() }

// wroteCount returns File.wrote.
func (n *File) wroteCount() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wrote
}

func (n *File) name() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.entry.Name
}

// child returns the node for entry e of directory prefix in b.
func (f *FS) child(b Bucket, prefix string, e cache.Entry) Node {
	if e.Dir {
		return f.dirNode(b, childDir(prefix, e.Name))
	}
	return f.fileNode(b, prefix, e)
}

var _ = context.Background
