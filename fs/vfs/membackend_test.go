package vfs

import "github.com/b2fs/b2fs/fs/fstest"

// memBackend is the in-memory account of package fstest: every backend
// interface over one set of files, with B2's listing semantics.
type memBackend = fstest.Store

// newMemBackend returns buckets b1 (alpha) and b2 (beta) with names in b1
// (see fstest.NewSeeded).
func newMemBackend(names ...string) *memBackend { return fstest.NewSeeded(names...) }
