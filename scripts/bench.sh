#!/usr/bin/env bash
# Benchmarks b2fs against rclone mount on the same b2emu, the same files and
# the same machine, next to the limit (b2client straight to b2emu), on a
# loopback and a modelled WAN link, with B2 transactions by billing class
# and b2fs's peak RSS for every workload. See docs/benchmarks.md ("How to run").
#
#   scripts/bench.sh                    full run (~20 min on a busy 2-core machine), writes docs/benchmarks.md
#   B2FS_BENCH_QUICK=1 scripts/bench.sh small smoke run (~1-2 min), prints only
#   scripts/bench.sh --workloads ls,find --profiles wan   extra flags go to the driver
#
# Environment (all optional):
#   B2FS_BENCH_QUICK=1            small sizes, short time budget
#   B2FS_BENCH_SIZE=1GiB          big file of the sequential and random workloads
#   B2FS_BENCH_RAND_READS=2000    random 4 KiB reads (capped by B2FS_BENCH_RAND_CAP=30s)
#   B2FS_BENCH_SMALL_FILES=1000   files created with cp -r
#   B2FS_BENCH_LIST_FILES=10000   files in the directory listed with ls -l
#   B2FS_BENCH_TREE_FILES=5000    files of the tree walked by find (B2FS_BENCH_TREE_DIRS=100)
#   B2FS_BENCH_BIG_DIR_FILES=100000  files of the big directory listed with ls -l
#   B2FS_BENCH_HUGE_FILES=1000000 files of the tree walked by find-huge (B2FS_BENCH_HUGE_DIRS=1000)
#   B2FS_BENCH_PROFILES=loopback,wan
#   B2FS_BENCH_WAN_LATENCY=30ms   B2FS_BENCH_WAN_BANDWIDTH=40MB (per connection)
#   B2FS_BENCH_TOOLS=b2fs,rclone,rclone-w
#   B2FS_BENCH_WORKLOADS=all      or seq-read,reread,seq-write,rand-read,small-files,ls,find,bigdir;
#                                 find-huge (a million names, not part of all; see docs/benchmarks.md)
#   B2FS_BENCH_RUNS=1             runs of each workload, the limit and the tools taking turns (medians)
#   B2FS_BENCH_DEADLINE=30m       time budget of the measurements
#   B2FS_BENCH_TIMEOUT=32m        hard bound of the driver process
#   B2FS_BENCH_OUT=FILE           results file (default docs/benchmarks.md, none in quick mode)
#   B2FS_BENCH_WORK=DIR           work directory (default a temporary one)
#   B2FS_BENCH_KEEP=1             keep the work directory (logs, emulator data)
#   B2FS_BENCH_SUITE=writeback    the write-back suite instead: cp -r, rsync -a and git commits
#                                 with b2fs in both modes and rclone --vfs-cache-mode writes (wan);
#                                 writes its own section of docs/benchmarks.md
#   B2FS_BENCH_WB_RUNS=3          runs of each write-back workload (medians)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

ensure_tools
ensure_go

echo "== building b2fs, b2emu and the benchmark driver" >&2
go build -o bin/ ./cmd/...
go build -o bin/b2fs-bench ./test/bench

args=(--b2fs bin/b2fs --b2emu bin/b2emu)
shown="scripts/bench.sh"
add() { # add FLAG ENVVAR
  local v="${!2:-}"
  if [ -n "$v" ]; then
    args+=("$1" "$v")
    shown="$2=$v $shown"
  fi
}
if [ "${B2FS_BENCH_QUICK:-}" = 1 ]; then
  args+=(--quick)
  shown="B2FS_BENCH_QUICK=1 $shown"
  out="${B2FS_BENCH_OUT:-}"
else
  out="${B2FS_BENCH_OUT:-docs/benchmarks.md}"
  args+=(--deadline "${B2FS_BENCH_DEADLINE:-30m}")
fi
add --size B2FS_BENCH_SIZE
add --rand-reads B2FS_BENCH_RAND_READS
add --rand-cap B2FS_BENCH_RAND_CAP
add --small-files B2FS_BENCH_SMALL_FILES
add --list-files B2FS_BENCH_LIST_FILES
add --tree-files B2FS_BENCH_TREE_FILES
add --big-dir-files B2FS_BENCH_BIG_DIR_FILES
add --huge-files B2FS_BENCH_HUGE_FILES
add --huge-dirs B2FS_BENCH_HUGE_DIRS
add --tree-dirs B2FS_BENCH_TREE_DIRS
add --profiles B2FS_BENCH_PROFILES
add --wan-latency B2FS_BENCH_WAN_LATENCY
add --wan-bandwidth B2FS_BENCH_WAN_BANDWIDTH
add --tools B2FS_BENCH_TOOLS
add --suite B2FS_BENCH_SUITE
add --wb-runs B2FS_BENCH_WB_RUNS
add --workloads B2FS_BENCH_WORKLOADS
add --runs B2FS_BENCH_RUNS
[ "${B2FS_BENCH_QUICK:-}" = 1 ] && add --deadline B2FS_BENCH_DEADLINE
[ -n "$out" ] && args+=(--out "$out")
[ $# -gt 0 ] && shown="$shown $*"

work="${B2FS_BENCH_WORK:-}"
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/b2fs-bench.XXXXXX)
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
args+=(--work "$work" --keep --command "$shown")

driver=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
    kill -INT "$driver" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$driver" 2>/dev/null || break; sleep 1; done
    kill -KILL "$driver" 2>/dev/null || true
  fi
  # Last resort: lazily unmount anything the run left under its directory.
  awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | while read -r m; do
    fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if [ "${B2FS_BENCH_KEEP:-}" = 1 ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== running: bin/b2fs-bench ${args[*]} $*" >&2
# The driver keeps to its own deadline; the outer timeout is a last resort
# (SIGINT makes it stop, print what it measured and clean up).
timeout --signal=INT --kill-after=60s "${B2FS_BENCH_TIMEOUT:-32m}" bin/b2fs-bench "${args[@]}" "$@" &
driver=$!
wait "$driver"
