// Package fs is b2fs's FUSE filesystem (go-fuse v2): buckets are
// directories, B2 "folders" (name prefixes ending in "/") are
// subdirectories, and file versions are regular files read with ranged
// downloads.
//
// # Layers
//
// The go-fuse-facing nodes (nodes.go: accountNode, dirNode, fileNode and
// their handles) are thin. Kernel-free code does the work and is tested
// without /dev/fuse:
//
//   - backend.go: Backend, the narrow interface of what the filesystem needs
//     from B2 (list buckets, list one page of a directory, stream a byte
//     range of a file version), with sentinel errors; b2backend.go adapts
//     *b2client.Client to it, so decorators can wrap it.
//   - names.go: path↔name mapping and the listing merge (folders become
//     directories, .bzEmpty markers and odd names are hidden, a file and a
//     folder with the same name resolve to the directory). Name components
//     are stored with rclone's B2 encoding (package b2client/nameenc), so
//     every name Linux allows can be created.
//   - meta.go: listings and lookups through the metadata cache (package
//     cache). A directory listing pages b2_list_file_names with delimiter
//     "/" and maxFileCount 10000 and fills the cache with every entry's
//     attributes, so ls -l, stat, find and du cost list calls only. A lookup
//     in a directory whose listing is not cached makes one targeted list call
//     (prefix = directory prefix + name); it never asks for file info.
//   - prefetch.go: the first listing of a directory lists its whole
//     subtree without a delimiter (up to Options.ListPrefetchPages pages)
//     and caches a complete listing of every directory in it, so a tree
//     walk costs ceil(N/10,000) list calls; directories cut by the page
//     budget fall back to the delimiter listing.
//   - readahead.go: rangeReader, the per-handle reader. A sequential reader
//     gets a window that doubles from 1 MiB to 64 MiB, fetched as 8 MiB
//     ranged downloads in parallel; a random reader fetches only the aligned
//     range it asked for. Readahead memory is bounded per handle (the window,
//     one chunk, and 8 MiB kept behind the reader for reads the kernel
//     sends out of order) and overall (Budget). Segment buffers are
//     recycled through a free list held by the Budget (idle buffers keep
//     their budget share until evicted), so reads copy into the request
//     buffer: go-fuse writes a reply after Read returns, when a consumed
//     segment's buffer may already serve another download.
//   - errno.go: toErrno, the one place errors become errno values.
//   - package versions (fs/versions): the time-travel view's answers (the
//     tree at a moment, one name's history) from cached
//     b2_list_file_versions listings; view_nodes.go, view_history.go and
//     view_files.go are its read-only nodes under Options.VersionsDir, and
//     b2backend_versions.go its Lister over b2client.
//
// # Attributes and caching
//
// Attributes come from the listing: size, mtime from
// src_last_modified_millis (else the upload time), mode, owner, symlink
// target and user xattrs from b2fs-* file info keys, else the mount-wide
// defaults (FS.fileAttr derives them all; posix.go and posix_nodes.go hold
// the encoding and the chmod/chown/utimes/symlink/xattr operations, each
// one metadata-replacing server-side copy, free for files with a pending
// upload). special.go stores FIFOs, devices and sockets the same way (type
// and rdev in the file info); ctime.go derives ctimes from upload times and
// keeps directory times in memory; links.go refuses hard links. Directories
// keep their metadata on their .bzEmpty marker, kept only where needed
// (markers.go). The kernel's entry,
// attribute and negative timeouts equal the cache's TTLs. Files are read by
// file ID, so an open handle keeps reading the version it opened; the kernel
// page cache is kept across opens (FOPEN_KEEP_CACHE) while the file ID is
// unchanged, and dropped (NotifyContent) when a listing shows a new one.
//
// # Writes
//
// write.go and write_nodes.go add the write path (staging in fs/staging);
// with Options.Write left zero, or on a read-only mount, every change
// answers EROFS.
package fs
