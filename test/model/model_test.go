package model

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// clockSlack is how far below the start of an operation a time it sets
// may lie: the kernel stamps times from its coarse clock (one tick behind
// at most, 4 ms at HZ=250) and B2 keeps milliseconds.
const clockSlack = 20 * time.Millisecond

// span is the set of times an mtime may have: exact when lo == hi, else
// "set by the operation that ran from lo to hi".
type span struct{ lo, hi time.Time }

func exact(t time.Time) span { return span{t, t} }

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s span) contains(t time.Time) bool {
	if s.lo.Equal(s.hi) {
		return t.Equal(s.lo)
	}
	return !t.Before(s.lo.Add(-clockSlack)) && !t.After(s.hi)
}

func (s span) String() string {
	if s.lo.Equal(s.hi) {
		return s.lo.UTC().Format("2006-01-02T15:04:05.000000000")
	}
	return fmt.Sprintf("[%s, %s]", s.lo.UTC().Format("15:04:05.000000"), s.hi.UTC().Format("15:04:05.000000"))
}

// meta is what b2fs stores per file besides its content.
type meta struct {
	perm     uint32
	uid, gid uint32
	mtime    span
	xattr    map[string]string // replaced, never changed in place
}

func (m meta) String() string {
	keys := make([]string, 0, len(m.xattr))
	for k := range m.xattr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var x []string
	for _, k := range keys {
		x = append(x, fmt.Sprintf("%s=%q", k, m.xattr[k]))
	}
	return fmt.Sprintf("mode %04o owner %d:%d mtime %v xattrs {%s}", m.perm, m.uid, m.gid, m.mtime, strings.Join(x, " "))
}

// node is a file, directory or symbolic link of the model.
type node struct {
	id       int
	typ      uint32 // syscall.S_IFREG, S_IFDIR, S_IFLNK
	meta     meta
	data     []byte           // regular file
	target   string           // symbolic link
	children map[string]*node // directory
	parent   *node            // nil once unlinked
	name     string

	// Durability. b2fs makes namespace changes (create, mkdir, unlink,
	// rename, symlink) in B2 before the call returns, so a crash never
	// undoes them. File data reaches B2 when close or fsync returns
	// (README "Writing files"); metadata changes of closed files when
	// fsync of the file or its directory, a rename, unmount or
	// --metadata-delay after the change (README "POSIX metadata"). After a
	// crash the model therefore accepts, per file, the content in B2
	// (durData) or, when b2fs's staged copy holds the whole file (local),
	// the content at the crash; and any metadata state from durMeta
	// through the states since (metaHist), since a background flush may
	// have sent any of them.
	durData  []byte
	dirty    bool // data differs from durData
	local    bool // the staged copy holds every byte (created, O_TRUNC, or empty in B2)
	durMeta  meta
	metaHist []meta
	writers  int // open handles that may write

	// altMtime is a second mtime POSIX allows (a truncation that did not
	// change the size may leave the mtime).
	altMtime time.Time

	// dirStoredDur is the mtime on a directory's .bzEmpty marker in B2
	// (set by mkdir and utimes), which it shows after a restart;
	// dirStoredHist the ones set since (a crash may leave any of them).
	dirStoredDur  span
	dirStoredHist []span

	// openedAt is when the file was last opened for writing with nothing
	// staged; streamed, set when a close uploaded it as a large file
	// (streamed while written), is the mtime it may show after a crash:
	// README "Writing files": B2 has the mtime of when streaming started
	// until the deferred metadata copy lands (--metadata-delay; fsync and
	// unmount make it).
	openedAt time.Time
	streamed span

	// dirAlt are the mtimes a directory may show after a restart, until
	// one is observed: the time on its marker (see dirStoredDur), the time
	// it had before (a marker b2fs rewrote meanwhile carries it), or,
	// without a marker, the time of the mount. b2fs keeps a marker only
	// where needed and adds or removes it in the background a moment
	// after a change (docs/posix.md "Directory markers"), so the model
	// cannot tell which.
	dirAlt []span
}

// dirStored is the mtime on the directory's marker.
func (n *node) dirStored() span {
	if k := len(n.dirStoredHist); k > 0 {
		return n.dirStoredHist[k-1]
	}
	return n.dirStoredDur
}

// dirDurable records that the directory's marker is in B2 as it is.
func (n *node) dirDurable() {
	n.dirStoredDur = n.dirStored()
	n.dirStoredHist = nil
}

func (n *node) isDir() bool { return n.typ == syscall.S_IFDIR }

// path returns the node's path ("" for the root).
func (n *node) path() string {
	if n.parent == nil {
		return ""
	}
	if n.parent.parent == nil {
		return n.name
	}
	return n.parent.path() + "/" + n.name
}

// dataChanged records a change of the content at time sp.
func (n *node) dataChanged(sp span) {
	mt := n.meta
	mt.mtime = sp
	n.setMeta(mt)
	n.altMtime = time.Time{}
}

// sizeSet records a truncation to the current size at time sp: POSIX
// updates the mtime only when the size changes (Linux's own filesystems
// update it anyway), so either the old time or sp is right.
func (n *node) sizeSet(sp span) {
	mt := n.meta
	old := mt.mtime
	mt.mtime = sp
	n.setMeta(mt)
	n.altMtime = time.Time{}
	if old.lo.Equal(old.hi) {
		n.altMtime = old.lo
	} else {
		n.meta.mtime = span{earlier(old.lo, sp.lo), sp.hi}
	}
}

// setMeta records a metadata change (not yet durable).
func (n *node) setMeta(m meta) {
	n.meta = m
	n.metaHist = append(n.metaHist, m)
}

// durable records that the node's content and metadata are in B2.
func (n *node) durable() {
	n.durData = bytes.Clone(n.data)
	n.dirty = false
	n.durMeta = n.meta
	n.metaHist = nil
}

// metaDurable records that the node's metadata is in B2.
func (n *node) metaDurable() {
	n.durMeta = n.meta
	n.metaHist = nil
}

// handle is an open file of the model.
type handle struct {
	id          int
	n           *node
	read, write bool
	desc        string
	th          Handle // the target's
}

// mfs is the reference model: a POSIX tree with b2fs's documented
// deviations.
type mfs struct {
	root    *node
	nextID  int
	handles []*handle
	uid     uint32 // the test's uid and gid, owner of new files
	gid     uint32
	umask   uint32
}

func newModel(uid, gid, umask uint32, rootMeta meta) *mfs {
	m := &mfs{uid: uid, gid: gid, umask: umask}
	m.root = &node{id: 0, typ: syscall.S_IFDIR, children: map[string]*node{}, meta: rootMeta}
	m.root.durMeta = rootMeta
	m.nextID = 1
	return m
}

func (m *mfs) newNode(typ uint32, perm uint32, now span) *node {
	n := &node{id: m.nextID, typ: typ, meta: meta{perm: perm, uid: m.uid, gid: m.gid, mtime: now}}
	m.nextID++
	if typ == syscall.S_IFDIR {
		n.children = map[string]*node{}
	}
	n.durMeta = n.meta
	n.local = true
	return n
}

// lookup resolves p without following a final symbolic link. Every link
// of the model dangles, so a link on the way gives ENOENT.
func (m *mfs) lookup(p string) (*node, error) {
	n := m.root
	if p == "" {
		return n, nil
	}
	for _, c := range strings.Split(p, "/") {
		switch n.typ {
		case syscall.S_IFLNK:
			return nil, syscall.ENOENT
		case syscall.S_IFREG:
			return nil, syscall.ENOTDIR
		}
		ch, ok := n.children[c]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = ch
	}
	return n, nil
}

// parentOf resolves the directory that holds p, and p's last name.
func (m *mfs) parentOf(p string) (*node, string, error) {
	d, err := m.lookup(path.Dir(p))
	if path.Dir(p) == "." {
		d, err = m.root, nil
	}
	if err != nil {
		return nil, "", err
	}
	switch d.typ {
	case syscall.S_IFLNK:
		return nil, "", syscall.ENOENT
	case syscall.S_IFREG:
		return nil, "", syscall.ENOTDIR
	}
	return d, path.Base(p), nil
}

// follow resolves p following a final symbolic link (which dangles).
func (m *mfs) follow(p string) (*node, error) {
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.typ == syscall.S_IFLNK {
		return nil, syscall.ENOENT
	}
	return n, nil
}

// touchDir records an entry change in directory d: its mtime moves (POSIX;
// docs/posix.md "Change times (ctime) and directory times"). b2fs keeps
// such times in memory only: after a restart a directory shows the time
// stored on its marker (see node.dirStored).
func (m *mfs) touchDir(d *node, now span) {
	mt := d.meta
	mt.mtime = now
	d.setMeta(mt)
}

func (m *mfs) attach(d *node, name string, n *node) {
	d.children[name] = n
	n.parent, n.name = d, name
}

func (m *mfs) detach(n *node) {
	delete(n.parent.children, n.name)
	n.parent = nil
}

// walk calls f for every node below and including n, parents first.
func walk(n *node, f func(*node)) {
	f(n)
	names := make([]string, 0, len(n.children))
	for k := range n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		walk(n.children[k], f)
	}
}

// isAncestor reports whether a is d or above it.
func isAncestor(a, d *node) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// xattrLimit is how many user xattrs a file or directory holds: B2 allows
// 10 fileInfo entries; b2fs uses mode, uid and gid and keeps room for
// src_last_modified_millis and large_file_sha1 (README "Limits").
const xattrLimit = 5

// resize sets the length of b, zero-filling growth.
func resize(b []byte, size int64) []byte {
	if int64(len(b)) >= size {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func cloneXattr(x map[string]string) map[string]string {
	if x == nil {
		return map[string]string{}
	}
	return maps.Clone(x)
}
