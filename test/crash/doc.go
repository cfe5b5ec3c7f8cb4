// Package crash holds the process-level crash tests of b2fs: real tools
// (cp -r, git, rsync -a, a large sequential write) run on a real mount
// backed by b2emu on 127.0.0.1, b2fs is killed with SIGKILL at a random
// moment (seeded; the seed is logged), started again on the same cache
// directory, brought in sync with B2, and then B2 and the remounted tree are
// checked:
//
//   - every file whose close (or, for rsync, whose rename to its final
//     name) had returned success is in B2 with the right bytes, and with
//     the mode and modification time the tool set;
//   - every version B2 ever stored under a final name holds a state the
//     file really had (never a torn or foreign content);
//   - the restarted mount, B2 and a fresh mount show the same tree, and no
//     unfinished large file is left behind.
//
// Which operations were acknowledged is observed, not assumed: the tool
// runs under strace (-f -y), and a close(fd</mnt/...>) = 0 or a rename to a
// final name = 0 is an acknowledgement. A FLUSH or RENAME can only succeed
// while b2fs is alive to answer it, so no timing enters the decision. git
// commits are acknowledged by the exit status of git commit (their hashes
// are known in advance: the same script runs first on local disk with fixed
// dates).
//
// The tests run both modes: the default (close waits for B2) and
// --write-back. B2FS_CRASH_MOMENTS sets the kills per workload and mode
// (CI: a few), B2FS_CRASH_SEED the seed, B2FS_CRASH_WORKLOADS and
// B2FS_CRASH_MODES a subset; scripts/crash-soak.sh runs many. See
// docs/testing.md.
package crash
