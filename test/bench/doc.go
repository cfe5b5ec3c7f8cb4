// Command bench compares b2fs with rclone mount on the same b2emu, the same
// files and the same machine, in one run, next to the physical limit: the
// same bytes moved (or the same listing made) by b2client straight to and
// from the emulator.
//
// For each link profile (loopback as is, and a WAN model made of b2emu's
// --latency and per-request --bandwidth) and each tool (b2fs, rclone mount
// with defaults, rclone mount with --vfs-cache-mode writes) it mounts the
// bucket afresh for every workload, so every read starts cold, and measures:
//
//	seq-read     sequential read of a big file (default 1 GiB)
//	reread       the big file read again after a restart of the tool (same
//	             cache directory) with the page cache dropped; its limit is
//	             the same file read from local disk
//	seq-write    sequential write of a big file until it is durable in B2
//	rand-read    random 4 KiB reads with fio (fixed count, time cap)
//	small-files  cp -r of a tree of small files until all are durable
//	ls-cold/warm ls -l of a big directory, cold then warm on the same mount
//	find         find over a tree of files in many directories
//
// Around each workload it resets and reads b2emu's transaction counters
// (/b2emu/stats), subtracting the calls the harness itself made to check
// durability, and it reads the tool's peak RSS (VmHWM). It prints one
// Markdown table, evaluates b2fs against its targets (PASS/MISS) and writes
// the table, with the date, the machine and the command, into a Markdown
// file between "<!-- bench:begin -->" and "<!-- bench:end -->".
//
// Read-only data is seeded straight through the B2 API (concurrent uploads)
// before the first profile; b2emu keeps it in its --data directory across
// the restart that changes the link profile.
//
// Every step is bounded by a timeout, and mounts and processes are removed
// even when a step fails or the run is interrupted. scripts/bench.sh builds
// the binaries and runs this program; see docs/benchmarks.md ("How to run").
package main
