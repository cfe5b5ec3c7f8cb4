// Package cache holds b2fs's metadata cache: directory listings, single
// entries (files and directories found by a targeted lookup) and negative
// entries (names known not to exist).
//
// The cache is bounded by cost (one unit per cached entry, so a listing of
// 10,000 names costs 10,000) and backed by ristretto, which evicts by
// frequency and recency when the bound is reached. Every item carries its own
// expiry, checked against an injected clock (Options.Now), so TTL behaviour is
// deterministic in tests. An evicted or expired item is simply a miss: the
// filesystem lists again.
//
// Keys are plain strings chosen by the caller: a directory key names a
// directory (for b2fs: bucket and prefix), an entry is a name inside such a
// directory. The write path invalidates with Invalidate, InvalidateDir and
// Clear.
package cache
