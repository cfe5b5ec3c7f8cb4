package model

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"pgregory.net/rapid"
)

// runner drives one rapid check: it draws operations, applies each to the
// model and to the target, and compares what both show.
type runner struct {
	t       *rapid.T
	tg      Target
	lc      Lifecycle
	m       *mfs
	steps   int
	touched map[string]bool // paths to compare after the current step
	// stuck is called when a step takes longer than stepTimeout (a hung
	// system call): it dumps b2fs's goroutines and kills it.
	stuck func()
	stats *runStats
	// rootStat is the mount root's attributes since the last start: the
	// defaults b2fs gives a directory whose metadata it does not know.
	rootStat Stat
	strict   bool // B2FS_MODEL_STRICT: no tolerance for known bugs
	// writersWaitForReaders: an open for writing waits for the file's
	// read-only descriptors, which do not see a truncation by name (see
	// closeReadersFor).
	writersWaitForReaders bool
	// backgroundUploads: the target uploads files in the background
	// (write-back), at any time after a change.
	backgroundUploads bool
	history           []string
	delay             string // b2fs's --metadata-delay
}

// runStats counts operations across checks.
type runStats struct {
	ops, checks, remounts, crashes, faults int
}

const (
	maxHandles  = 4
	stepTimeout = 2 * time.Minute
)

func (r *runner) logf(format string, args ...any) {
	line := fmt.Sprintf("%4d "+format, append([]any{r.steps}, args...)...)
	r.history = append(r.history, line)
	r.t.Log(line)
}

// failf fails the check with the operations so far (rapid prints the
// shrunk sequence too, but a failure that does not replay is reported
// with the original's traceback only) and the target's log attached.
func (r *runner) failf(format string, args ...any) {
	r.t.Helper()
	h := r.history
	if len(h) > 150 {
		h = h[len(h)-150:]
	}
	r.t.Fatalf("step %d: %s\n--- operations (last %d):\n%s\n--- b2fs log (tail):\n%s", r.steps, fmt.Sprintf(format, args...),
		len(h), strings.Join(h, "\n"), r.lc.Log())
}

// wantErr compares the target's result with the model's.
func (r *runner) wantErr(op string, want, got error) {
	r.t.Helper()
	if !sameErr(want, got) {
		r.failf("%s: got %s, model says %s", op, errName(got), errName(want))
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error()
}

func (r *runner) touch(paths ...string) {
	for _, p := range paths {
		r.touched[p] = true
		r.touched[parentPath(p)] = true
	}
}

func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// step runs one drawn operation and compares the touched paths.
func (r *runner) step(t *rapid.T) {
	r.t = t
	r.steps++
	r.stats.ops++
	r.touched = map[string]bool{}
	timer := time.AfterFunc(stepTimeout, r.stuck)
	defer timer.Stop()
	runOp(r, t, rapid.SampledFrom(opTable).Draw(t, "op"))
	paths := make([]string, 0, len(r.touched))
	for p := range r.touched {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		r.compare(p)
	}
	if !timer.Stop() {
		r.failf("step took longer than %v (hung system call?)", stepTimeout)
	}
}

// compare checks everything observable at path p: existence and errno,
// type, mode, owner, size, mtime, content, symlink target, user xattrs
// and, for a directory, its listing.
func (r *runner) compare(p string) {
	r.t.Helper()
	n, merr := r.m.lookup(p)
	st, err := r.tg.Lstat(p)
	if merr != nil || err != nil {
		if !sameErr(merr, err) {
			r.failf("lstat %q: got %s %+v, model says %s", p, errName(err), st, errName(merr))
		}
		return
	}
	r.compareStat("lstat "+p, n, st)
	switch n.typ {
	case syscall.S_IFREG:
		h, err := r.tg.Open(p, syscall.O_RDONLY, 0)
		if err != nil {
			r.failf("open %q to compare: %s", p, errName(err))
		}
		buf := make([]byte, len(n.data)+1)
		k, err := h.ReadAt(buf, 0)
		h.Close()
		if err != nil {
			r.failf("read %q to compare: %s", p, errName(err))
		}
		if !bytes.Equal(buf[:k], n.data) {
			r.failf("content of %q differs: %s", p, diffBytes(buf[:k], n.data))
		}
	case syscall.S_IFLNK:
		target, err := r.tg.Readlink(p)
		if err != nil || target != n.target {
			r.failf("readlink %q: %q %s, model says %q", p, target, errName(err), n.target)
		}
	case syscall.S_IFDIR:
		ents, err := r.tg.ReadDir(p)
		if err != nil {
			r.failf("readdir %q: %s", p, errName(err))
		}
		var got, want []string
		for _, e := range ents {
			got = append(got, fmt.Sprintf("%s:%o", e.Name, e.Type>>12))
		}
		for name, c := range n.children {
			want = append(want, fmt.Sprintf("%s:%o", name, c.typ>>12))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			r.failf("readdir %q: %v, model says %v", p, got, want)
		}
	}
	if n.typ != syscall.S_IFLNK {
		x, err := r.readXattrs(p)
		if err != nil {
			r.failf("xattrs of %q: %v", p, err)
		}
		if !maps2Equal(x, n.meta.xattr) {
			r.failf("xattrs of %q: %v, model says %v", p, x, n.meta.xattr)
		}
	}
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readXattrs lists and reads the user xattrs of p.
func (r *runner) readXattrs(p string) (map[string]string, error) {
	names, err := r.tg.Llistxattr(p)
	if err != nil {
		return nil, fmt.Errorf("listxattr: %s", errName(err))
	}
	x := map[string]string{}
	for _, name := range names {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		v, err := r.tg.Lgetxattr(p, name)
		if err != nil {
			return nil, fmt.Errorf("getxattr %s: %s", name, errName(err))
		}
		x[name] = string(v)
	}
	return x, nil
}

// compareStat compares the attributes b2fs promises. An mtime the model
// knows only as a range is pinned to what the target shows, so that it
// may not change later without a cause.
func (r *runner) compareStat(what string, n *node, st Stat) {
	r.t.Helper()
	if st.Type != n.typ {
		r.failf("%s: type %o, model says %o", what, st.Type, n.typ)
	}
	if n == r.m.root {
		// The mount root is the bucket itself: its mode, owner and times
		// are the mount's (--uid, --gid, --umask, the start of the mount);
		// b2fs stores no metadata for it and the model changes none.
		return
	}
	var size int64
	switch n.typ {
	case syscall.S_IFREG:
		size = int64(len(n.data))
	case syscall.S_IFLNK:
		size = int64(len(n.target))
	default:
		size = st.Size // a directory's size means nothing
	}
	want := n.meta
	if !n.altMtime.IsZero() && st.Mtime.Equal(n.altMtime) {
		want.mtime = exact(n.altMtime)
		n.meta.mtime = want.mtime
	}
	for _, a := range n.dirAlt {
		if a.contains(st.Mtime) {
			want.mtime = exact(st.Mtime)
			n.meta.mtime = want.mtime
		}
	}
	n.dirAlt = nil
	if st.Perm != want.perm&0o7777 || st.UID != want.uid || st.GID != want.gid || st.Size != size || !want.mtime.contains(st.Mtime) {
		r.failf("%s: mode %04o owner %d:%d size %d mtime %s; model says mode %04o owner %d:%d size %d mtime %v",
			what, st.Perm, st.UID, st.GID, st.Size, st.Mtime.UTC().Format("2006-01-02T15:04:05.000000000"),
			want.perm, want.uid, want.gid, size, want.mtime)
	}
	if !want.mtime.lo.Equal(want.mtime.hi) {
		pinned := exact(st.Mtime)
		if k := len(n.metaHist); k > 0 && n.metaHist[k-1].mtime == n.meta.mtime {
			n.metaHist[k-1].mtime = pinned
		}
		n.meta.mtime = pinned
	}
}

// compareAll compares every path of the model, and the target's listing of
// every directory (compare does), so nothing extra hides anywhere.
func (r *runner) compareAll() {
	r.t.Helper()
	walk(r.m.root, func(n *node) { r.compare(n.path()) })
}

func diffBytes(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d bytes, model has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			j := i
			for j < len(got) && got[j] != want[j] {
				j++
			}
			return fmt.Sprintf("%d bytes; first difference at offset %d (%d bytes differ from there)", len(got), i, j-i)
		}
	}
	return "equal"
}

// pattern returns n deterministic bytes for seed.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// now runs f and returns the span of time it took.
func now(f func()) span {
	lo := time.Now()
	f()
	return span{lo, time.Now()}
}
