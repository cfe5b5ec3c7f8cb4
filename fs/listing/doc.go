// Package listing is b2fs's listing engine: directory listings and
// lookups through the metadata cache (package cache), streamed directory
// listings shared by their readers, subtree prefetch, the merge of a
// listing's pages, and the mapping between Linux names and B2 names. It
// knows nothing of the kernel and imports no FUSE package; package vfs
// uses it.
//
//	m := listing.New(life, listing.Options{Backend: be, Cache: c, Logger: log,
//		PageSize: 10000, PrefetchPages: 3})
//	es, err := m.ListDir(ctx, b, "a/b/")          // sorted by name
//	e, ok, err := m.Lookup(ctx, b, "a/b/", "name") // one list call at most
//	s := m.OpenStream(b, "a/b/")                   // s.Wait(ctx, seen) page by page
//	m.Changed(b, "a/b/", "name", &e)               // a change made through the filesystem (nil: removed), before patching the cache
//	m.Invalidated(b, "a/b/")                       // a change Changed cannot describe (a directory rename)
//	m.Settled(b, "a/b/")                           // after the cache was patched (or invalidated) for the change
//	g := m.DirGen(b, "a/b/")                       // changes with every change of the directory
//	all, done, ok = s.Latest(all)                  // the stream's entries now, with the changes made since (!ok: open it again)
//	m.Shutdown()                                   // after life is cancelled
//
// Errors wrap the kinds of package errs (errs.ErrNameTooLong,
// errs.ErrInvalid for names; the Backend's errors, which wrap errs kinds,
// pass through); a cancelled listing wraps context.Canceled.
//
// # Layout
//
//   - meta.go, api.go: Meta (listings, lookups, the bucket list, shared
//     listings) and its exported API.
//   - stream.go, streampage.go: streamed directory listings and the merge
//     of their pages.
//   - patch.go: changes made through the filesystem while a listing is
//     being fetched (kept in the listing; directory generations).
//   - prefetch.go: subtree prefetch.
//   - names.go, markers.go: names and B2 names, entries built from
//     listings; directory markers found in listings.
//
// LOCK ORDER: Meta.streamMu, then Stream.mu (see stream.go), then the
// cache's locks; treeStates.mu is taken alone.
package listing
