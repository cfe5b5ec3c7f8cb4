package listing

import (
	"log/slog"
	"sort"
	"strings"

	"github.com/b2fs/b2fs/b2client/nameenc"
	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/errs"
)

// Names in b2fs: a directory is identified by its bucket and its prefix, the
// B2 name prefix that every name inside it starts with ("" for a bucket's
// root, else ending in "/"). A child called n of the directory with prefix p
// is the B2 name p+e (a file) or the folder p+e+"/", where e is n encoded
// the way rclone's B2 backend encodes names (package nameenc: control
// characters, DEL, backslash and invalid UTF-8 become look-alike
// characters). Names in memory (cache entries, inodes) are Linux names;
// prefixes and B2 names are encoded: build them only with childName and
// childDir, and read names out of listings only with entryName.

// EmptyMarker is the name of the zero-length file that makes an otherwise
// empty B2 "folder" exist. It keeps its directory listed but is never shown.
const EmptyMarker = ".bzEmpty"

// maxNameLen is the longest B2 file name in bytes.
const maxNameLen = nameenc.MaxName

// nameMax is the longest name component Linux accepts (NAME_MAX).
const nameMax = 255

// maxSegment is the longest "/"-separated segment of a B2 name that every
// B2 client accepts; statfs reports it as the longest name.
const maxSegment = nameenc.MaxSegment

// normPrefix turns a user-supplied prefix ("a/b", "/a/b/", "a//b") into a
// directory prefix: no leading slash, no empty components, and a trailing
// "/" unless empty.
func normPrefix(p string) string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "/") + "/"
}

// childName returns the B2 name of the file called name in the directory
// with prefix dir.
func childName(dir, name string) string { return dir + nameenc.Encode(name) }

// childDir returns the prefix of the subdirectory called name of dir.
func childDir(dir, name string) string { return dir + nameenc.Encode(name) + "/" }

// localName returns the name component shown for the B2 segment seg, and
// whether there is one (see nameenc.Local).
func localName(seg string) (string, bool) {
	name, ok := nameenc.Local(seg)
	return name, ok && len(name) <= nameMax
}

// b2Seg returns the B2 segment of the name component name.
func b2Seg(name string) string { return nameenc.Encode(name) }

// checkName validates a name component used to look something up inside
// dir: errs.ErrNameTooLong when its B2 name could not exist.
func checkName(dir, name string) error {
	if len(dir)+len(b2Seg(name))+1 > maxNameLen {
		return errs.ErrNameTooLong
	}
	return nil
}

// validNewName validates a name a change creates inside directory prefix:
// errs.ErrNameTooLong when its B2 segment (encoded, see childName) passes 250
// bytes or the B2 name 1024 bytes (counting room for a directory marker),
// errs.ErrInvalid for names no Linux directory holds.
func validNewName(prefix, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return errs.ErrInvalid
	}
	seg := b2Seg(name)
	if len(seg) > maxSegment || len(prefix)+len(seg)+len("/"+EmptyMarker) > maxNameLen {
		return errs.ErrNameTooLong
	}
	return nil
}

// entryName returns the name an object of a listing of prefix dir has inside
// that directory, whether it is a directory, and whether it is shown at all.
func entryName(dir string, o Object) (name string, isDir, ok bool) {
	rel, found := strings.CutPrefix(o.Name, dir)
	if !found {
		return "", false, false
	}
	isDir = o.Folder
	if isDir {
		rel = strings.TrimSuffix(rel, "/")
	} else if strings.HasSuffix(rel, "/") {
		// A file whose name ends in "/" (made by other tools as a folder
		// placeholder): a directory marker, like .bzEmpty.
		rel = strings.TrimSuffix(rel, "/")
		isDir = true
	}
	if strings.Contains(rel, "/") {
		return rel, isDir, false
	}
	if !isDir && rel == EmptyMarker {
		return rel, false, false
	}
	name, ok = localName(rel)
	if !ok {
		return rel, isDir, false
	}
	return name, isDir, true
}

// entryFromObject converts a listed file to its cache entry.
func entryFromObject(name string, o Object) cache.Entry {
	e := cache.Entry{
		Name:        name,
		Size:        o.Size,
		ModTime:     o.ModTime(),
		FileID:      o.FileID,
		ContentType: o.ContentType,
		SHA1:        o.SHA1,
	}
	e.SetInfo(o.Info)
	e.SetChanged(o.Uploaded)
	return e
}

// buildEntries turns the objects of a complete listing of dir into
// directory entries sorted by name. Rules for odd names, applied the same
// way every time:
//   - folder entries become directories; .bzEmpty markers and files whose
//     name ends in "/" are not shown;
//   - names that cannot be a Linux file name (empty components from "//",
//     ".", "..", longer than 255 bytes) are skipped and logged, and so are
//     segments that decode to a name which encodes differently (they were
//     not written with the encoding, see nameenc.Local);
//   - when a file and a folder share a name ("a" and "a/"), the directory
//     wins and the file is hidden (logged).
func buildEntries(log *slog.Logger, dir string, objs []Object) []cache.Entry {
	out := make([]cache.Entry, 0, len(objs))
	// The entries of a page share their content types' strings (a
	// listing keeps them as long as it is cached).
	var types map[string]string
	for _, o := range objs {
		name, isDir, ok := entryName(dir, o)
		if !ok {
			if name != EmptyMarker && name != "" && log != nil {
				log.Debug("skipping B2 name that cannot be shown", "name", o.Name)
			} else if name == "" && !strings.HasSuffix(o.Name, "/") && log != nil {
				log.Debug("skipping B2 name with an empty path component", "name", o.Name)
			}
			continue
		}
		var e cache.Entry
		if isDir {
			e = cache.Entry{Name: name, Dir: true}
		} else {
			if ct, ok := types[o.ContentType]; ok {
				o.ContentType = ct
			} else if len(types) < 64 {
				if types == nil {
					types = make(map[string]string)
				}
				types[o.ContentType] = o.ContentType
			}
			e = entryFromObject(name, o)
		}
		out = append(out, e)
	}
	// B2's order is the names' order but for folders ("a/" sorts after
	// "a-b"); equal names are then next to each other, the first one
	// received first.
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Name < out[j].Name }) {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	w := 0
	for _, e := range out {
		if w > 0 && out[w-1].Name == e.Name {
			if prev := &out[w-1]; !prev.Dir || !e.Dir {
				if log != nil {
					log.Warn("a file and a folder share a name; showing the directory", "dir", dir, "name", e.Name)
				}
				if e.Dir {
					*prev = e
				}
			}
			continue
		}
		out[w] = e
		w++
	}
	return out[:w]
}

// resolveLookup decides what name is in directory dir from the objects of a
// targeted listing (prefix dir+name, delimiter "/"), with the same rules as
// buildEntries. The caller makes sure objs reach the folder dir+name+"/"
// when one exists (see Meta.lookup).
func resolveLookup(log *slog.Logger, dir, name string, objs []Object) (cache.Entry, bool) {
	var match []Object
	for _, o := range objs {
		n, _, ok := entryName(dir, o)
		if ok && n == name {
			match = append(match, o)
		}
	}
	es := buildEntries(log, dir, match)
	if len(es) == 1 {
		return es[0], true
	}
	return cache.Entry{}, false
}

func sortEntries(es []cache.Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
}

// ChildName is the B2 name of name (a local name) in directory prefix: its
// segment encoded as B2 stores it (see childName).
func ChildName(prefix, name string) string { return childName(prefix, name) }

// ChildDir is the prefix of subdirectory name of directory prefix.
func ChildDir(prefix, name string) string { return childDir(prefix, name) }

// NormPrefix turns a user-supplied prefix ("a/b", "/a/b/", "a//b") into a
// directory prefix (see normPrefix).
func NormPrefix(p string) string { return normPrefix(p) }

// LocalName returns the name component shown for the B2 segment seg, and
// whether there is one.
func LocalName(seg string) (string, bool) { return localName(seg) }

// B2Seg returns the B2 segment of the name component name.
func B2Seg(name string) string { return b2Seg(name) }

// ValidNewName validates a name a change creates inside directory prefix:
// errs.ErrNameTooLong or errs.ErrInvalid (see validNewName).
func ValidNewName(prefix, name string) error { return validNewName(prefix, name) }

// EntryFromObject converts a listed file called name to its cache entry.
func EntryFromObject(name string, o Object) cache.Entry { return entryFromObject(name, o) }

// SortEntries sorts directory entries by name.
func SortEntries(es []cache.Entry) { sortEntries(es) }

// NameMax is the longest name component Linux accepts (NAME_MAX).
const NameMax = nameMax

// MaxSegment is the longest "/"-separated segment of a B2 name that every
// B2 client accepts.
const MaxSegment = maxSegment
