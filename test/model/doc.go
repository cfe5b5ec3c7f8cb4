// Package model holds b2fs's model-based tests: random sequences of
// file-system operations (pgregory.net/rapid, with shrinking) run against
// b2fs and against a reference model of a POSIX tree, comparing everything
// observable after each step, while b2emu injects transient faults.
//
// The filesystem under test is a Target (target_test.go); the model,
// the operations (ops_test.go) and the comparisons (runner_test.go) are
// the same for every target. TestModelFUSE drives a real b2fs mount (the
// b2fs binary as a subprocess over an in-process b2emu on 127.0.0.1,
// fusetarget_test.go). TestModelVFS, TestModelVFSB2 and
// TestModelVFSWriteBack drive package vfs in the test's process, without
// FUSE or the kernel (vfstarget_test.go, vfscalls_test.go), over the
// in-memory store of fs/fstest or b2emu. The model (model_test.go) encodes b2fs's
// documented deviations from POSIX explicitly, each with a comment: no hard
// links, RENAME_EXCHANGE unsupported, what survives a crash only after
// close or fsync.
//
// docs/testing.md explains how to run, reproduce a failure and soak.
package model
