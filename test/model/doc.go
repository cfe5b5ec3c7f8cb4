// Package model holds b2fs's model-based tests: random sequences of
// file-system operations (pgregory.net/rapid, with shrinking) run against
// b2fs and against a reference model of a POSIX tree, comparing everything
// observable after each step, while b2emu injects transient faults.
//
// The filesystem under test is a Target (target_test.go). TestModelFUSE
// drives a real b2fs mount (the b2fs binary as a subprocess over an
// in-process b2emu on 127.0.0.1). The model (model_test.go) encodes b2fs's
// documented deviations from POSIX explicitly, each with a comment: no hard
// links, RENAME_EXCHANGE unsupported, what survives a crash only after
// close or fsync.
//
// docs/testing.md explains how to run, reproduce a failure and soak.
package model
