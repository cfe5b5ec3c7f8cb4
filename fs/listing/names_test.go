package listing

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestNormPrefix(t *testing.T) {
	tests := map[string]string{
		"":         "",
		"/":        "",
		"a":        "a/",
		"a/b":      "a/b/",
		"/a//b/":   "a/b/",
		"a b/ü/%+": "a b/ü/%+/",
	}
	for in, want := range tests {
		if got := normPrefix(in); got != want {
			t.Errorf("normPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildEntries(t *testing.T) {
	up := time.UnixMilli(1_700_000_000_000)
	objs := []Object{
		{Name: "d/", Folder: true},    // the directory's own placeholder file rolled up? skipped: empty
		{Name: "d//", Folder: true},   // from "d//x": empty component
		{Name: "d/.bzEmpty", Size: 0}, // marker
		{Name: "d/a", Size: 3, FileID: "f1", Uploaded: up},
		{Name: "d/a b.txt", Size: 1, FileID: "f2", Uploaded: up},
		{Name: "d/a/", Folder: true}, // clashes with file "a": directory wins
		{Name: "d/ü%+", Size: 5, FileID: "f3", Uploaded: up, Info: map[string]string{"src_last_modified_millis": "1600000000123"}},
		{Name: "d/sub/", Folder: true},
		{Name: "d/" + strings.Repeat("x", 256), Size: 1}, // too long for Linux
		{Name: "d/..", Size: 1},
		{Name: "other/x", Size: 1}, // outside the prefix
	}
	got := buildEntries(nil, "d/", objs)
	type want struct {
		name  string
		dir   bool
		size  int64
		mtime time.Time
	}
	wants := []want{
		{"a", true, 0, time.Time{}},
		{"a b.txt", false, 1, up},
		{"sub", true, 0, time.Time{}},
		{"ü%+", false, 5, time.UnixMilli(1600000000123)},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d entries %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Name != w.name || g.Dir != w.dir || g.Size != w.size || !g.ModTime.Equal(w.mtime) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	// Deterministic regardless of input order.
	rev := make([]Object, len(objs))
	for i := range objs {
		rev[len(objs)-1-i] = objs[i]
	}
	got2 := buildEntries(nil, "d/", rev)
	for i := range got {
		if got[i].Name != got2[i].Name || got[i].Dir != got2[i].Dir {
			t.Fatalf("order-dependent result: %+v vs %+v", got, got2)
		}
	}
}

// Listings show B2 names decoded (rclone's B2 encoding), and leave out
// segments that no Linux name encodes to.
func TestBuildEntriesDecodes(t *testing.T) {
	objs := []Object{
		{Name: "d/tab␉x", Size: 1},
		{Name: "d/nl␊/", Folder: true},
		{Name: "d/back＼slash", Size: 1},
		{Name: "d/‛．", Size: 1},
		{Name: "d/bad‛FF", Size: 1},
		{Name: "d/a‛‛b", Size: 1},
		{Name: "d/lone‛quote", Size: 1}, // Encode would double the quote
		{Name: "d/．", Size: 1},          // would be "."
		{Name: "d/a／b", Size: 1},        // would hold "/"
	}
	got := buildEntries(nil, "d/", objs)
	want := []string{"a‛b", "back\\slash", "bad\xff", "nl\n/", "tab\tx", "．"}
	var names []string
	for _, e := range got {
		n := e.Name
		if e.Dir {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("entries %q, want %q", names, want)
	}
	for _, n := range []string{"tab\tx", "a‛b", "bad\xff", "．"} {
		if c := childName("d/", n); !slices.ContainsFunc(objs, func(o Object) bool { return o.Name == c }) {
			t.Errorf("childName(d/, %q) = %q, not the listed name", n, c)
		}
	}
	if got := childDir("d/", "nl\n"); got != "d/nl␊/" {
		t.Errorf("childDir = %q", got)
	}
}

func TestResolveLookup(t *testing.T) {
	objs := []Object{
		{Name: "p/a", Size: 1, FileID: "x"},
		{Name: "p/a.txt", Size: 2},
		{Name: "p/a/", Folder: true},
		{Name: "p/ab", Size: 3},
	}
	tests := []struct {
		name  string
		found bool
		dir   bool
	}{
		{"a", true, true},
		{"a.txt", true, false},
		{"ab", true, false},
		{"b", false, false},
		{".bzEmpty", false, false},
	}
	for _, tc := range tests {
		e, ok := resolveLookup(nil, "p/", tc.name, append(objs, Object{Name: "p/.bzEmpty"}))
		if ok != tc.found || e.Dir != tc.dir {
			t.Errorf("resolveLookup(%q) = %+v %v, want found=%v dir=%v", tc.name, e, ok, tc.found, tc.dir)
		}
	}
}

func TestModTime(t *testing.T) {
	up := time.UnixMilli(1000)
	tests := []struct {
		info map[string]string
		want time.Time
	}{
		{nil, up},
		{map[string]string{"src_last_modified_millis": "5000"}, time.UnixMilli(5000)},
		{map[string]string{"src_last_modified_millis": "junk"}, up},
		{map[string]string{"src_last_modified_millis": "-3"}, up},
	}
	for _, tc := range tests {
		if got := (Object{Uploaded: up, Info: tc.info}).ModTime(); !got.Equal(tc.want) {
			t.Errorf("ModTime(%v) = %v, want %v", tc.info, got, tc.want)
		}
	}
}

func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"d/a", "d//", "d/a/", "d/.bzEmpty", "d/ü b", "x"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, name string, folder bool) {
		n, _, ok := entryName("d/", Object{Name: name, Folder: folder})
		if ok && (n == "" || strings.ContainsAny(n, "/\x00") || n == "." || n == ".." || len(n) > nameMax) {
			t.Fatalf("entryName(%q) = %q shown", name, n)
		}
		// A shown name leads back to the listed object.
		if ok && strings.HasPrefix(name, "d/") && !folder && !strings.HasSuffix(name, "/") && childName("d/", n) != name {
			t.Fatalf("entryName(%q) = %q, but childName gives %q", name, n, childName("d/", n))
		}
	})
}
