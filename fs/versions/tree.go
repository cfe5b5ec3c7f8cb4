package versions

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/b2fs/b2fs/b2client/nameenc"
	"github.com/b2fs/b2fs/fs/backend"
)

// Entry is one name in a directory of the view.
type Entry struct {
	// Name is the name inside the directory (no slashes), decoded from
	// its B2 segment (package nameenc).
	Name string
	Dir  bool
	// Version is a file's version. For a directory of the tree at a
	// moment it is the directory's .bzEmpty marker when one is shown
	// (its file info holds the directory's mode and owner), else zero.
	Version backend.Object
}

// rel splits a listed name under prefix into its first segment (as stored
// in B2) and whether more follows (the segment is a directory), and returns
// the Linux name shown for the segment (see nameenc.Local: segments that
// do not decode to a name Linux allows are not shown).
func rel(prefix string, v backend.Object) (seg, name string, dir, ok bool) {
	r, found := strings.CutPrefix(v.Name, prefix)
	if !found {
		return "", "", false, false
	}
	if i := strings.IndexByte(r, '/'); i >= 0 {
		r, dir = r[:i], true
	}
	name, ok = nameenc.Local(r)
	if !ok || len(name) > nameMax {
		return "", "", false, false
	}
	return r, name, dir, true
}

// groups calls fn with each name's versions (newest first), in name order.
func groups(vs []backend.Object, fn func(vs []backend.Object)) {
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && vs[j].Name == vs[i].Name {
			j++
		}
		fn(vs[i:j])
		i = j
	}
}

// at returns the version a name shows at t (its newest version uploaded at
// or before t), if it is shown.
func at(vs []backend.Object, t time.Time) (backend.Object, bool) {
	for _, v := range vs {
		if v.Folder {
			return v, true
		}
		if !v.Uploaded.After(t) {
			return v, !v.Hidden
		}
	}
	return backend.Object{}, false
}

func atKey(l *listing, bucketID string, t time.Time) string {
	return "at\x00" + bucketID + "\x00" + l.prefix + "\x00" + t.UTC().Format(time.RFC3339Nano) + "\x00" + itoa(l.gen)
}

// At returns the directory prefix of bucketID (at or below root, the top
// of the view) as it was at t, sorted by name.
func (v *View) At(ctx context.Context, bucketID, root, prefix string, t time.Time) ([]Entry, error) {
	l, err := v.list(ctx, bucketID, root, prefix)
	if err != nil {
		return nil, err
	}
	key := atKey(l, bucketID, t)
	if x, ok := v.opts.Cache.Value(key); ok {
		return x.([]Entry), nil
	}
	es := treeAt(l, t)
	v.opts.Cache.PutValue(key, es, int64(len(es))+1)
	return es, nil
}

// treeAt computes the entries of l's directory at t. When a file and a
// directory share a name, the directory wins (as in the live tree).
func treeAt(l *listing, t time.Time) []Entry {
	idx := map[string]int{}
	var out []Entry
	groups(l.vs, func(vs []backend.Object) {
		ver, shown := at(vs, t)
		if !shown {
			return
		}
		seg, name, dir, ok := rel(l.prefix, ver)
		if !ok || (!dir && seg == EmptyMarker) {
			return
		}
		e := Entry{Name: name, Dir: dir}
		if !dir {
			e.Version = ver
		} else if !ver.Folder && ver.Name == l.prefix+seg+"/"+EmptyMarker {
			e.Version = ver
		}
		i, seen := idx[name]
		switch {
		case !seen:
			idx[name] = len(out)
			out = append(out, e)
		case dir && !out[i].Dir:
			out[i] = e
		case dir && e.Version.FileID != "":
			out[i].Version = e.Version
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupAt finds name in the directory prefix as it was at t.
func (v *View) LookupAt(ctx context.Context, bucketID, root, prefix, name string, t time.Time) (Entry, bool, error) {
	es, err := v.At(ctx, bucketID, root, prefix, t)
	if err != nil {
		return Entry{}, false, err
	}
	i := sort.Search(len(es), func(i int) bool { return es[i].Name >= name })
	if i < len(es) && es[i].Name == name {
		return es[i], true, nil
	}
	return Entry{}, false, nil
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
