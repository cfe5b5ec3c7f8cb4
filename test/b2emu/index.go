package b2emu

import "sort"

// nameIndex keeps a bucket's names sorted by raw bytes in chunks of bounded
// size, so inserting and deleting cost O(log n + chunk) instead of moving
// the whole slice, and a listing starts with two binary searches.
type nameIndex struct {
	chunks [][]*nameEntry // every chunk non-empty and sorted; chunks in order
	n      int
}

const chunkMax = 512

// cursor is a position in a nameIndex; it is invalidated by any change.
type cursor struct {
	x      *nameIndex
	ci, pi int
}

func (x *nameIndex) len() int { return x.n }

// seek returns a cursor at the first name >= name.
func (x *nameIndex) seek(name string) cursor {
	ci := sort.Search(len(x.chunks), func(i int) bool {
		c := x.chunks[i]
		return c[len(c)-1].name >= name
	})
	if ci == len(x.chunks) {
		return cursor{x: x, ci: ci}
	}
	c := x.chunks[ci]
	pi := sort.Search(len(c), func(i int) bool { return c[i].name >= name })
	return cursor{x: x, ci: ci, pi: pi}
}

func (c *cursor) valid() bool       { return c.ci < len(c.x.chunks) }
func (c *cursor) entry() *nameEntry { return c.x.chunks[c.ci][c.pi] }
func (c *cursor) next() {
	c.pi++
	if c.pi >= len(c.x.chunks[c.ci]) {
		c.ci++
		c.pi = 0
	}
}

// insert adds e (whose name is not yet present).
func (x *nameIndex) insert(e *nameEntry) {
	x.n++
	if len(x.chunks) == 0 {
		x.chunks = [][]*nameEntry{{e}}
		return
	}
	cur := x.seek(e.name)
	ci, pi := cur.ci, cur.pi
	if ci == len(x.chunks) {
		ci = len(x.chunks) - 1
		pi = len(x.chunks[ci])
	}
	c := append(x.chunks[ci], nil)
	copy(c[pi+1:], c[pi:])
	c[pi] = e
	if len(c) > 2*chunkMax {
		left := append([]*nameEntry(nil), c[:chunkMax]...)
		right := append([]*nameEntry(nil), c[chunkMax:]...)
		x.chunks = append(x.chunks, nil)
		copy(x.chunks[ci+2:], x.chunks[ci+1:])
		x.chunks[ci], x.chunks[ci+1] = left, right
		return
	}
	x.chunks[ci] = c
}

// remove deletes the entry with e's name.
func (x *nameIndex) remove(e *nameEntry) {
	cur := x.seek(e.name)
	if !cur.valid() || cur.entry() != e {
		return
	}
	x.n--
	c := x.chunks[cur.ci]
	c = append(c[:cur.pi], c[cur.pi+1:]...)
	if len(c) == 0 {
		x.chunks = append(x.chunks[:cur.ci], x.chunks[cur.ci+1:]...)
		return
	}
	x.chunks[cur.ci] = c
}

// each calls fn for every entry in order.
func (x *nameIndex) each(fn func(*nameEntry)) {
	for _, c := range x.chunks {
		for _, e := range c {
			fn(e)
		}
	}
}
