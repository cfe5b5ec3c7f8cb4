package vfs

import (
	"context"
	"sort"

	"github.com/b2fs/b2fs/cache"
	"github.com/b2fs/b2fs/fs/listing"
)

// streamStep advances a reader of directory prefix of b: it waits for a
// page beyond those c has used, merges the staged files in (withStaged, as
// for a complete listing), and appends to c's entries those that became
// final, in B2's order (UTF-8 byte order of the B2 names: a directory "d"
// sorts as "d/"), so that entries already returned never move. A listing
// complete when the reader starts is returned whole, sorted by name.
func (f *FS) streamStep(ctx context.Context, b Bucket, prefix string, c dirCursor) (dirCursor, error) {
	if c.stream == nil {
		c.stream = f.meta.OpenStream(b, prefix)
	}
	all, last, pages, done, err := c.stream.Wait(ctx, c.seen)
	if err != nil {
		return c, err
	}
	merged := f.withStaged(b, prefix, all)
	if c.seen == 0 && done {
		return dirCursor{entries: merged, byName: merged, done: true, stream: c.stream, seen: pages}, nil
	}
	var add []cache.Entry
	for _, e := range merged {
		k := b2Key(e)
		if (!c.started || k > c.lastKey) && (done || listing.Final(prefix, last, b2Seg(e.Name))) {
			add = append(add, e)
		}
	}
	sort.Slice(add, func(i, j int) bool { return b2Key(add[i]) < b2Key(add[j]) })
	if len(add) > 0 {
		// In place: only this reader appends to its entries (go-fuse
		// serializes a handle's readdirs), and earlier copies of c
		// never look beyond their own length.
		c.entries = append(c.entries, add...)
		c.lastKey, c.started = b2Key(add[len(add)-1]), true
	}
	c.byName, c.seen, c.done = merged, pages, done
	return c, nil
}

// b2Key is the B2 name, relative to its directory, that an entry sorts by
// in B2's listing order.
func b2Key(e cache.Entry) string {
	if e.Dir {
		return b2Seg(e.Name) + "/"
	}
	return b2Seg(e.Name)
}
