#!/usr/bin/env bash
# Crash soak: kills b2fs with SIGKILL at many random moments during cp -r,
# rsync -a, git commits and a large sequential write, in the default mode
# and with --write-back, and checks after each restart that every
# acknowledged file is in B2 with the right bytes and metadata, that no torn
# version was ever stored under a final name, and that a fresh mount shows
# the tree the restarted one did (test/crash, docs/testing.md).
#
#   scripts/crash-soak.sh [MOMENTS]       (default 20 per workload and mode)
#
# Environment (all optional):
#   B2FS_CRASH_SEED=N             reproduce a run (printed at the start)
#   B2FS_CRASH_MODES=default,writeback
#   B2FS_CRASH_WORKLOADS=cp,rsync,git,large
#   B2FS_CRASH_FULL=0             the small CI sizes instead of the soak's
#                                 (cp 300 files, rsync 1,000, 12 commits, 3 x 8 MiB)
#   B2FS_SOAK_LOG=FILE            full output (default: a file in /tmp)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

moments=${1:-20}
case "$moments" in *[!0-9]*|"") echo "usage: scripts/crash-soak.sh [MOMENTS]" >&2; exit 2 ;; esac

ensure_tools
ensure_go

log=${B2FS_SOAK_LOG:-$(mktemp /tmp/b2fs-crash-soak-XXXXXX.log)}
bin=$(mktemp -d /tmp/b2fs-crash-soak-bin-XXXXXX)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/crash.test" ./test/crash

export B2FS_CRASH_MOMENTS="$moments" B2FS_CRASH_FULL="${B2FS_CRASH_FULL:-1}"
start=$(date +%s)
echo "crash soak: $moments moments per workload and mode; log $log"
st=0
(cd test/crash && "$bin/crash.test" -test.run '^TestCrash$' -test.count=1 -test.timeout=3h -test.v) >"$log" 2>&1 || st=$?

grep -m1 -o 'B2FS_CRASH_SEED=[0-9]*' "$log" || true
during=$(grep -c 'during the workload' "$log" || true)
after=$(grep -c 'after the workload' "$log" || true)
passed=$(grep -cE -- '--- PASS: TestCrash/[^/]+/[^/]+/[0-9]+ ' "$log" || true)
failed=$(grep -cE -- '--- FAIL: TestCrash/[^/]+/[^/]+/[0-9]+ ' "$log" || true)
echo "crash soak: $((passed + failed)) moments ($during kills during a workload, $after after it), $passed passed, $failed failed, $(( $(date +%s) - start ))s"
for m in $(grep -oE -- '--- (PASS|FAIL): TestCrash/[^/]+/[^/ ]+ ' "$log" | awk '{print $3}' | sort -u); do
  printf '  %-24s %s\n' "$m" "$(grep -cE -- "--- PASS: $m/[0-9]+ " "$log") passed, $(grep -cE -- "--- FAIL: $m/[0-9]+ " "$log") failed"
done
if [ "$st" -ne 0 ]; then
  echo "crash soak: FAILED (exit $st); failing moments:" >&2
  grep -E -- '--- FAIL: TestCrash/[^/]+/[^/]+/[0-9]+ ' "$log" | head -20 >&2
  echo "each failing moment's messages, tool output and b2fs log are in $log; rerun one with B2FS_CRASH_SEED=... go test -run 'TestCrash/MODE/WORKLOAD/N' ./test/crash" >&2
  exit 1
fi
echo "crash soak: passed"
