package versions

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/b2fs/b2fs/fs/backend"
)

// VersionLayout is the time format of version names: RFC 3339 in UTC with
// milliseconds (B2's upload time precision), fixed width, so that names
// sort chronologically.
const VersionLayout = "2006-01-02T15:04:05.000Z"

// DeletedSuffix ends the name of a hide marker's entry.
const DeletedSuffix = ".deleted"

// Named is one version of a name in a history directory.
type Named struct {
	// Name is VersionName of the version, with ".2", ".3"... added when
	// versions share an upload millisecond.
	Name    string
	Version backend.Object
	// Current: the live tree shows this version (the newest, not a hide
	// marker).
	Current bool
}

// VersionName names a version by its upload time.
func VersionName(v backend.Object) string {
	s := v.Uploaded.UTC().Format(VersionLayout)
	if v.Hidden {
		s += DeletedSuffix
	}
	return s
}

// History returns every stored version of the B2 name name (hide markers
// included), oldest first. root is the top of the view (name is below it).
func (v *View) History(ctx context.Context, bucketID, root, name string) ([]Named, error) {
	if name == "" || strings.HasSuffix(name, "/") {
		return nil, nil
	}
	dir := name[:strings.LastIndexByte(name, '/')+1]
	l, err := v.list(ctx, bucketID, root, dir)
	if err != nil {
		return nil, err
	}
	lo := sort.Search(len(l.vs), func(i int) bool { return l.vs[i].Name >= name })
	var vs []backend.Object
	for i := lo; i < len(l.vs) && l.vs[i].Name == name; i++ {
		if !l.vs[i].Folder {
			vs = append(vs, l.vs[i])
		}
	}
	out := make([]Named, len(vs))
	for i := range vs {
		// B2 lists newest first; history reads oldest first.
		ver := vs[len(vs)-1-i]
		out[i] = Named{Name: VersionName(ver), Version: ver}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Version.Uploaded.Before(out[j].Version.Uploaded) })
	seen := map[string]int{}
	for i := range out {
		base := out[i].Name
		if n := seen[base]; n > 0 {
			out[i].Name = base + "." + strconv.Itoa(n+1)
		}
		seen[base]++
	}
	if n := len(out); n > 0 && !out[n-1].Version.Hidden {
		out[n-1].Current = true
	}
	return out, nil
}

// HistoryChildren returns the names (decoded, see Entry.Name) that ever
// existed directly in the directory prefix (deleted ones included), sorted. Each is a directory of
// the history view: its versions and, for a folder, its own children.
func (v *View) HistoryChildren(ctx context.Context, bucketID, root, prefix string) ([]string, error) {
	l, err := v.list(ctx, bucketID, root, prefix)
	if err != nil {
		return nil, err
	}
	key := "children\x00" + bucketID + "\x00" + prefix + "\x00" + itoa(l.gen)
	if x, ok := v.opts.Cache.Value(key); ok {
		return x.([]string), nil
	}
	out := children(l, prefix)
	v.opts.Cache.PutValue(key, out, int64(len(out))+1)
	return out, nil
}

func children(l *listing, prefix string) []string {
	var out []string
	last := ""
	for _, ver := range l.vs {
		seg, name, dir, ok := rel(prefix, ver)
		if !ok || (!dir && seg == EmptyMarker) || name == last {
			continue
		}
		// names arrive sorted by full name, so one component's names are
		// adjacent except where a longer file name sorts between ("a",
		// "a.txt", "a/b"): deduplicate after sorting.
		out = append(out, name)
		last = name
	}
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// HasHistory reports whether the name called name (decoded) in the
// directory dir has a version or names below it.
func (v *View) HasHistory(ctx context.Context, bucketID, root, dir, name string) (bool, error) {
	names, err := v.HistoryChildren(ctx, bucketID, root, dir)
	if err != nil {
		return false, err
	}
	i := sort.SearchStrings(names, name)
	return i < len(names) && names[i] == name, nil
}

// LookupVersion finds the version called vname in name's history.
func (v *View) LookupVersion(ctx context.Context, bucketID, root, name, vname string) (Named, bool, error) {
	h, err := v.History(ctx, bucketID, root, name)
	if err != nil {
		return Named{}, false, err
	}
	for _, n := range h {
		if n.Name == vname {
			return n, true, nil
		}
	}
	return Named{}, false, nil
}
