package staging

import "sort"

// span is the half-open byte range [Off, End).
type span struct {
	Off int64 `json:"off"`
	End int64 `json:"end"`
}

// rangeSet is a sorted set of disjoint, non-adjacent half-open ranges.
// The zero value is empty.
type rangeSet struct {
	s []span
}

// add inserts [off, end), merging with overlapping or adjacent ranges.
func (r *rangeSet) add(off, end int64) {
	if end <= off {
		return
	}
	// first span whose End >= off (may merge)
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].End >= off })
	j := i
	for j < len(r.s) && r.s[j].Off <= end {
		if r.s[j].Off < off {
			off = r.s[j].Off
		}
		if r.s[j].End > end {
			end = r.s[j].End
		}
		j++
	}
	out := make([]span, 0, len(r.s)-(j-i)+1)
	out = append(out, r.s[:i]...)
	out = append(out, span{off, end})
	out = append(out, r.s[j:]...)
	r.s = out
}

// clip removes everything at or beyond end.
func (r *rangeSet) clip(end int64) {
	out := r.s[:0]
	for _, s := range r.s {
		if s.Off >= end {
			break
		}
		if s.End > end {
			s.End = end
		}
		out = append(out, s)
	}
	r.s = out
}

// covers reports whether [off, end) is entirely inside the set.
func (r *rangeSet) covers(off, end int64) bool {
	if end <= off {
		return true
	}
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].End > off })
	return i < len(r.s) && r.s[i].Off <= off && r.s[i].End >= end
}

// intersects reports whether any byte of [off, end) is in the set.
func (r *rangeSet) intersects(off, end int64) bool {
	if end <= off {
		return false
	}
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].End > off })
	return i < len(r.s) && r.s[i].Off < end
}

// gaps returns the parts of [off, end) that are not in the set, in order.
func (r *rangeSet) gaps(off, end int64) []span {
	var out []span
	if end <= off {
		return nil
	}
	i := sort.Search(len(r.s), func(i int) bool { return r.s[i].End > off })
	cur := off
	for ; i < len(r.s) && r.s[i].Off < end; i++ {
		if r.s[i].Off > cur {
			out = append(out, span{cur, r.s[i].Off})
		}
		if r.s[i].End > cur {
			cur = r.s[i].End
		}
	}
	if cur < end {
		out = append(out, span{cur, end})
	}
	return out
}

// coveredLen returns how many bytes of [off, end) are in the set.
func (r *rangeSet) coveredLen(off, end int64) int64 {
	var n int64
	for _, s := range r.s {
		a, b := max(s.Off, off), min(s.End, end)
		if b > a {
			n += b - a
		}
	}
	return n
}

// spans returns a copy of the ranges.
func (r *rangeSet) spans() []span {
	return append([]span(nil), r.s...)
}
