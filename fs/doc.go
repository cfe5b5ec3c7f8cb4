// Package fs is b2fs's FUSE adapter (go-fuse v2): the node tree the kernel
// sees, its handles, the mount options, kernel readahead, FUSE passthrough
// of cached files, the versions view's nodes, and the one place where
// errors become errno values (errno.go: toErrno, with a table test). Every
// node method converts its arguments, calls package vfs, and converts the
// result; what only the kernel needs (inode numbers, its page and
// directory caches, entry timeouts) is kept here.
//
// # Packages
//
// Imports run one way: fs (this adapter) → vfs → engines (listing,
// readahead, staging, ...) → backend interfaces ← b2backend → b2client.
// Nothing below fs imports go-fuse or makes errno values (layers_test.go
// checks both).
//
//   - fs/vfs: the filesystem without the kernel: Dir, File and Handle
//     operations (namespace changes, metadata, deferred metadata, directory
//     times, copy, rename); Go errors of package errs.
//   - fs/listing: listings and lookups through the metadata cache,
//     streamed directory listings, subtree prefetch, the listing merge and
//     the mapping between paths and B2 names.
//   - fs/posixmeta: POSIX metadata in B2 file info (mode, owner, symlink
//     targets, special files, extended attributes) and B2's info limits.
//   - fs/errs: the error kinds (ErrNotExist, ErrExist, ErrNotEmpty, ...).
//   - fs/staging: files open for writing, staged on local disk and
//     uploaded at close and fsync; crash recovery.
//   - fs/readahead: ranged reads of one version with readahead under a
//     memory budget.
//   - fs/readcache: the persistent read cache of downloaded ranges.
//   - fs/versions: the time-travel view's answers from version listings.
//   - fs/backend: the interfaces the filesystem needs from B2 and the
//     values they carry.
//   - fs/b2backend: the one adapter of those interfaces (and staging's
//     Remote, and versions' Lister) to b2client; classifies its errors.
//   - fs/fstest: in-memory fakes of the backend interfaces for tests.
//   - fs/metrics: Prometheus metrics, FUSE request timing among them.
//   - fs/wire: the one place the layers are put together (cmd/b2fs and
//     its --demo call it).
//
// # Caching
//
// The kernel's entry, attribute and negative timeouts equal the metadata
// cache's TTLs. Files are read by file ID, so an open handle keeps reading
// the version it opened; the kernel page cache is kept across opens
// (FOPEN_KEEP_CACHE) while the file ID is unchanged, and dropped
// (NotifyContent) when the vfs reports a new version (File.OnNewVersion).
// Directory entries may be served from the kernel's own cache while b2fs's
// cached listing is the one it was filled from (dircache.go).
package fs
