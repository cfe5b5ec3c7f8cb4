package versions

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/backend"
	"golang.org/x/sync/singleflight"
)

// Page is one page of a version listing.
type Page struct {
	Versions []backend.Object
	// NextName and NextID start the next page; NextName is "" after the
	// last page.
	NextName, NextID string
}

// Lister lists file versions (b2_list_file_versions). Errors should wrap
// the filesystem's sentinel errors so that they map to errno values.
type Lister interface {
	// ListVersions returns one page of the versions (hide markers
	// included) of names starting with prefix, sorted by name and newest
	// first within a name, starting at startName/startID (inclusive; ""
	// for the first page), at most max entries. With delimiter "/",
	// names below a further "/" are rolled up into folder entries.
	ListVersions(ctx context.Context, bucketID, prefix, delimiter, startName, startID string, max int) (Page, error)
}

// EmptyMarker is the zero-length file that keeps an empty folder: it marks
// its directory and is never shown as a file.
const EmptyMarker = ".bzEmpty"

// nameMax is the longest name component Linux accepts.
const nameMax = 255

// Options configure a View.
type Options struct {
	Lister Lister
	// Cache holds the listings (for its DirTTL; each version counts as
	// one entry against its bound).
	Cache *cache.Cache
	// PageSize is maxFileCount of each list call (default and maximum
	// 10,000).
	PageSize int
	// TreePages is how many pages a subtree listing may take before a
	// directory is listed on its own with the delimiter (default 10).
	TreePages int
}

// View answers the time-travel questions for any number of buckets.
type View struct {
	opts Options
	sf   singleflight.Group
	gen  atomic.Uint64 // numbers listings, so derived results know their source
}

// New returns a View.
func New(opts Options) (*View, error) {
	if opts.Lister == nil || opts.Cache == nil {
		return nil, errors.New("versions: Lister and Cache are required")
	}
	if opts.PageSize <= 0 || opts.PageSize > 10000 {
		opts.PageSize = 10000
	}
	if opts.TreePages <= 0 {
		opts.TreePages = 10
	}
	return &View{opts: opts}, nil
}

// listing is every version under prefix, in B2's order (by name, newest
// first within a name).
type listing struct {
	gen    uint64
	prefix string
	// tree: the listing holds the whole subtree (no folder entries);
	// else it was made with delimiter "/".
	tree bool
	vs   []backend.Object
}

// sub returns the part of a tree listing under prefix (a descendant of
// l.prefix).
func (l *listing) sub(prefix string) *listing {
	if prefix == l.prefix {
		return l
	}
	lo := sort.Search(len(l.vs), func(i int) bool { return l.vs[i].Name >= prefix })
	hi := lo + sort.Search(len(l.vs)-lo, func(i int) bool { return !strings.HasPrefix(l.vs[lo+i].Name, prefix) })
	return &listing{gen: l.gen, prefix: prefix, tree: true, vs: l.vs[lo:hi]}
}

func listKey(bucketID, prefix string) string { return "versions\x00" + bucketID + "\x00" + prefix }

// parentPrefix returns the directory prefix holding prefix ("a/b/" ->
// "a/"); ok is false for "".
func parentPrefix(prefix string) (string, bool) {
	if prefix == "" {
		return "", false
	}
	p := strings.TrimSuffix(prefix, "/")
	i := strings.LastIndex(p, "/")
	return p[:i+1], true
}

// cached returns the listing of prefix that the cache can give: a tree
// listing of prefix or of an ancestor down to root, prefix's own
// delimiter listing, or an empty listing when the parent's delimiter
// listing shows that nothing is below prefix.
func (v *View) cached(bucketID, root, prefix string) (*listing, bool) {
	for p := prefix; ; {
		if x, ok := v.opts.Cache.Value(listKey(bucketID, p)); ok {
			l := x.(*listing)
			if l.tree {
				return l.sub(prefix), true
			}
			if p == prefix {
				return l, true
			}
		}
		if p == root {
			break
		}
		next, ok := parentPrefix(p)
		if !ok || !strings.HasPrefix(next, root) {
			break
		}
		p = next
	}
	if prefix == root {
		return nil, false
	}
	parent, _ := parentPrefix(prefix)
	if x, ok := v.opts.Cache.Value(listKey(bucketID, parent)); ok {
		l := x.(*listing)
		// Sorted by name: the first name at or after prefix tells.
		i := sort.Search(len(l.vs), func(i int) bool { return l.vs[i].Name >= prefix })
		if i < len(l.vs) && strings.HasPrefix(l.vs[i].Name, prefix) {
			return nil, false // something is below: list it
		}
		return &listing{gen: l.gen, prefix: prefix}, true
	}
	return nil, false
}

// list returns the versions under prefix (a directory prefix at or below
// root), from the cache or from B2.
func (v *View) list(ctx context.Context, bucketID, root, prefix string) (*listing, error) {
	if l, ok := v.cached(bucketID, root, prefix); ok {
		return l, nil
	}
	key := listKey(bucketID, prefix)
	// One listing serves every concurrent caller; it runs on its own
	// (bounded) context so that an interrupted ls does not fail the
	// others, and each caller still returns when its own ctx is done.
	ch := v.sf.DoChan(key, func() (any, error) {
		if l, ok := v.cached(bucketID, root, prefix); ok {
			return l, nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
		defer cancel()
		l, err := v.fetch(sctx, bucketID, prefix)
		if err != nil {
			return nil, err
		}
		v.opts.Cache.PutValue(key, l, int64(len(l.vs))+1)
		return l, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*listing), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sharedTimeout bounds a listing shared by concurrent callers.
const sharedTimeout = 10 * time.Minute

// fetch lists prefix's subtree within the page budget, else prefix alone
// with the delimiter.
func (v *View) fetch(ctx context.Context, bucketID, prefix string) (*listing, error) {
	vs, complete, err := v.pages(ctx, bucketID, prefix, "", v.opts.TreePages)
	if err != nil {
		return nil, err
	}
	if complete {
		return &listing{gen: v.gen.Add(1), prefix: prefix, tree: true, vs: vs}, nil
	}
	vs, _, err = v.pages(ctx, bucketID, prefix, "/", 0)
	if err != nil {
		return nil, err
	}
	return &listing{gen: v.gen.Add(1), prefix: prefix, vs: vs}, nil
}

// pages lists up to budget pages (0: all) and reports whether the listing
// is complete.
func (v *View) pages(ctx context.Context, bucketID, prefix, delim string, budget int) ([]backend.Object, bool, error) {
	var out []backend.Object
	startName, startID := "", ""
	for n := 0; budget == 0 || n < budget; n++ {
		p, err := v.opts.Lister.ListVersions(ctx, bucketID, prefix, delim, startName, startID, v.opts.PageSize)
		if err != nil {
			return nil, false, fmt.Errorf("list versions of %q: %w", prefix, err)
		}
		out = append(out, p.Versions...)
		if p.NextName == "" {
			return out, true, nil
		}
		if p.NextName == startName && p.NextID == startID && len(p.Versions) == 0 {
			return nil, false, fmt.Errorf("list versions of %q: listing does not advance at %q", prefix, p.NextName)
		}
		startName, startID = p.NextName, p.NextID
	}
	return out, false, nil
}
