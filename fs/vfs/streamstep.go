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
	first := c.seen == 0
	if c.stream == nil {
		// Read before the stream is opened: a finished stream is the
		// listing as it was when it ended, and a change made after
		// (an upload shown, its staged file let go) must be seen as
		// one below, at this step or a later one.
		c.gen = f.meta.DirGen(b, prefix)
		c.stream = f.meta.OpenStream(b, prefix)
	}
	all, last, pages, done, err := c.stream.Wait(ctx, c.seen)
	if err != nil {
		return c, err
	}
	merged := f.withStaged(b, prefix, all)
	// A file whose background upload landed since the stream was opened
	// may have left the staged files and not be in what the stream gave:
	// the listing as it is now has it (listing.Meta.Changed), or the
	// directory is listed again.
	for i := 0; i < 3; i++ {
		g := f.meta.DirGen(b, prefix)
		if g == c.gen {
			break
		}
		c.gen = g
		latest, complete, ok := c.stream.Latest(all)
		if !ok {
			f.log.Debug("listing again: the directory changed after its listing ended", "bucket", b.Name, "prefix", prefix)
			c.stream = f.meta.OpenStream(b, prefix)
			if latest, pages, err = wholeListing(ctx, c.stream); err != nil {
				return c, err
			}
			complete = true
		}
		all = latest
		done = done || complete
		merged = f.withStaged(b, prefix, all)
	}
	if first && done {
		return dirCursor{entries: merged, byName: merged, done: true, stream: c.stream, seen: pages}, nil
	}
	if k, ok := inPlace(prefix, last, done, all, merged, c); ok {
		// The entries to add are all[len(c.entries):k], in B2's order
		// already: c.entries becomes a prefix of all instead of a copy
		// (capacity k, so an append by a later step copies).
		if k > len(c.entries) {
			c.entries = all[:k:k]
			c.lastKey, c.started = b2Key(all[k-1]), true
		}
		c.byName, c.seen, c.done = merged, pages, done
		return c, nil
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

// wholeListing waits until s has the directory's complete listing.
func wholeListing(ctx context.Context, s *listing.Stream) (all []cache.Entry, pages int, err error) {
	for {
		all, _, n, done, err := s.Wait(ctx, pages)
		if err != nil || done {
			return all, n, err
		}
		pages = n
	}
}

// inPlace reports whether the entries streamStep adds to c are exactly
// all[len(c.entries):k], in B2's order, with c.entries a prefix of all (the
// common case: no staged files merged in, and a listing that only grows
// at its end; all is only appended to, possibly moving, or replaced, see
// listing.Stream), and returns k.
func inPlace(prefix, last string, done bool, all, merged []cache.Entry, c dirCursor) (int, bool) {
	j := len(c.entries)
	if len(all) == 0 || len(merged) != len(all) || &merged[0] != &all[0] || j > len(all) || !samePrefix(c.entries, all) {
		return 0, false
	}
	prev, started := c.lastKey, c.started
	k := len(all)
	for i := j; i < len(all); i++ {
		e := all[i]
		key := b2Key(e)
		add := (!c.started || key > c.lastKey) && (done || listing.Final(prefix, last, b2Seg(e.Name)))
		switch {
		case add && k < i:
			return 0, false // an entry to add after one that is not
		case add && started && key <= prev:
			return 0, false // not in B2's order
		case add:
			prev, started = key, true
		case k == len(all):
			k = i
		}
	}
	return k, true
}

// samePrefix reports whether es are the first entries of all (the same
// array, or the array all grew from).
func samePrefix(es, all []cache.Entry) bool {
	if len(es) == 0 || &es[0] == &all[0] {
		return true
	}
	for i := range es {
		if es[i].Name != all[i].Name || es[i].Dir != all[i].Dir || es[i].FileID != all[i].FileID {
			return false
		}
	}
	return true
}

// b2Key is the B2 name, relative to its directory, that an entry sorts by
// in B2's listing order.
func b2Key(e cache.Entry) string {
	if e.Dir {
		return b2Seg(e.Name) + "/"
	}
	return b2Seg(e.Name)
}
