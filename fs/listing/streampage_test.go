package listing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/b2fs/b2fs/cache"
)

// TestAppendPageMatchesBuildEntries: building a listing page by page gives
// exactly what buildEntries gives over all the objects at once, for names
// that straddle page boundaries around "/" and files hidden by folders.
func TestAppendPageMatchesBuildEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dir = "d/"
	parts := []string{"a", "a-b", "a.", "a0", "b", "ab", "a b", "z", "é"}
	for round := 0; round < 300; round++ {
		// B2's listing with the delimiter: names sorted by byte, folders
		// as "x/" entries, each at most once.
		set := map[string]Object{}
		for k := rng.IntN(40); k >= 0; k-- {
			n := parts[rng.IntN(len(parts))]
			if rng.IntN(3) == 0 {
				n += fmt.Sprint(rng.IntN(3))
			}
			if rng.IntN(3) == 0 {
				set[dir+n+"/"] = Object{Name: dir + n + "/", Folder: true}
			} else {
				set[dir+n] = Object{Name: dir + n, FileID: "id-" + n, Size: int64(len(n))}
			}
		}
		if rng.IntN(4) == 0 {
			set[dir+EmptyMarker] = Object{Name: dir + EmptyMarker}
		}
		var objs []Object
		for _, o := range set {
			objs = append(objs, o)
		}
		slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Name, b.Name) })
		want := buildEntries(nil, dir, objs)
		var all []cache.Entry
		for rest := objs; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(5))
			all = appendPage(nil, dir, all, buildEntries(nil, dir, rest[:n]), n == len(rest))
			rest = rest[n:]
		}
		if !slices.EqualFunc(all, want, func(a, b cache.Entry) bool { return a.Name == b.Name && a.Dir == b.Dir && a.FileID == b.FileID }) {
			t.Fatalf("objects %v:\npaged %v\nwhole %v", objs, all, want)
		}
	}
}

// TestAppendPageKeepsEarlierViews: a reader's earlier view of the listing
// is unchanged by later pages.
func TestAppendPageKeepsEarlierViews(t *testing.T) {
	p1 := []cache.Entry{{Name: "a"}, {Name: "b"}}
	all := appendPage(nil, "", nil, p1, false)
	view := all
	all = appendPage(nil, "", all, []cache.Entry{{Name: "c"}}, false)
	all = appendPage(nil, "", all, []cache.Entry{{Name: "a", Dir: true}}, true) // merge path
	if len(view) != 2 || view[0].Name != "a" || view[0].Dir || view[1].Name != "b" {
		t.Fatalf("earlier view changed: %v", view)
	}
	if len(all) != 3 || !all[0].Dir {
		t.Fatalf("listing %v", all)
	}
}
