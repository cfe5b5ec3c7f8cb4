package listing

import (
	"log/slog"

	"github.com/b2fs/b2fs/cache"
)

// appendPage adds the entries of one more page of a directory listing
// (page, from buildEntries: sorted by name, each name once) to all, the
// entries of the pages before (sorted by name, each name once), and returns
// the result with the same rules as buildEntries over all the pages' objects:
// sorted by name, and a directory hides a file of the same name.
//
// Names mostly arrive in name order, so the page is appended in place
// (amortized O(page) per page rather than rebuilding, sorting and
// re-indexing the whole listing for every page: a 100,000-name directory
// took 55 pages' worth of work and garbage for its 10 pages). Appending in
// place is safe for readers holding an earlier all: they never look beyond
// their own length, and only the stream's fetcher appends. When a page's
// first name does not sort after the last one (B2 orders "a/" after "a-b",
// so a folder and names near it can straddle a page boundary), the two are
// merged into a new slice. When all has no room for the page, it moves
// to a slice twice as long, or, for the listing's last page (final),
// exactly as long as needed: the listing is cached as it is, and
// append's smaller steps copied a 100,000-name listing twice as often.
func appendPage(log *slog.Logger, dir string, all, page []cache.Entry, final bool) []cache.Entry {
	if all == nil {
		return page
	}
	if len(page) == 0 {
		return all
	}
	if len(all) == 0 || all[len(all)-1].Name < page[0].Name {
		if n := len(all) + len(page); n > cap(all) {
			c := n
			if !final {
				c = max(n, 2*cap(all))
			}
			out := make([]cache.Entry, n, c)
			copy(out[copy(out, all):], page)
			return out
		}
		return append(all, page...)
	}
	out := make([]cache.Entry, 0, len(all)+len(page))
	i, j := 0, 0
	for i < len(all) || j < len(page) {
		switch {
		case j == len(page) || i < len(all) && all[i].Name < page[j].Name:
			out = append(out, all[i])
			i++
		case i == len(all) || page[j].Name < all[i].Name:
			out = append(out, page[j])
			j++
		default: // the same name in both
			a, p := all[i], page[j]
			if a.Dir != p.Dir && log != nil {
				log.Warn("a file and a folder share a name; showing the directory", "dir", dir, "name", a.Name)
			}
			if p.Dir {
				a = p
			}
			out = append(out, a)
			i++
			j++
		}
	}
	return out
}
