// Package readcache is b2fs's persistent read cache: the bytes of B2 file
// versions kept on local disk, keyed by file ID, across mounts.
//
// A B2 file ID names one immutable version, so cached bytes never go stale;
// what can go wrong is the local disk (a crash in the middle of a fill, a
// corrupted sector, someone editing the files). Every stored block carries
// a CRC-32C checksum that is verified before any of its bytes is served; a
// block that fails is dropped and downloaded again.
//
// # Layout
//
// The cache directory (0700) holds:
//
//   - lock: flock'ed by the process using the cache; a second mount of the
//     same cache directory runs without a read cache.
//   - index: the block index, an append-only log of text records (see
//     index.go and docs/read-cache.md), compacted at every start.
//   - data/<h>: one sparse file (0600) per file version, h being the first
//     32 hex digits of SHA-256(file ID), truncated to the version's size;
//     block i holds bytes [i*BlockSize, min((i+1)*BlockSize, size)).
//
// # Durability
//
// A block is written with pwrite, then, in batches (every
// Options.SyncInterval or when enough is pending), its record (with its
// CRC-32C) is appended to the index and the index fsynced. The data file
// is not fsynced first: writeback of a file being filled holds up the
// writes into it. After a process crash (kill -9) the data is in the page
// cache anyway; after a power loss, a recorded block whose data did not
// reach the disk fails its CRC-32C when read and is downloaded again. The
// verified marker (C record) that lets passthrough skip that check is only
// written after an fsync of the data file (verify.go). A torn record at
// the end of the index fails its own checksum and is ignored. Within a
// run, blocks written but not yet recorded are served too: their checksum
// is verified like any other.
//
// # Bounds
//
// Options.MaxSize bounds the stored bytes; the least recently used file
// versions are evicted to make room. A write that fails with ENOSPC lowers
// the bound to what the disk holds and evicts down to it; the read that
// triggered it is served from the download as usual. Download errors never
// evict anything: a failed download stores nothing and drops nothing.
//
// # Whole files
//
// OpenComplete hands out the data file of a version whose every block is
// present (after verifying each block once per run), for FUSE passthrough.
// Adopt takes in a file this mount uploaded (the staging area's copy,
// hard linked), Alias records that a new file ID (a server-side copy made
// by b2fs) has the same content as an old one.
//
// LOCK ORDER: Cache.createMu, then Cache.flushMu, then Cache.mu. file.fd
// is only closed when the file is dropped and its last reference released.
package readcache
