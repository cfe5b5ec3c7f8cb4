#!/usr/bin/env bash
# Runs the model-based tests (test/model) over and over with fresh random
# seeds until DURATION has passed: random file-system operations against a
# real b2fs mount (TestModelFUSE: b2emu faults, remounts, kill -9 crashes)
# and, in the same round, against the vfs layer in process (TestModelVFS
# over the in-memory store, TestModelVFSB2 over b2emu with faults,
# TestModelVFSWriteBack), each compared with a reference model. Exits
# non-zero at the first failure, after printing the rapid seed, the fail
# file and the shrunk operation sequence. See docs/testing.md.
#
#   scripts/soak.sh 30m          (DURATION: N, Ns, Nm or Nh)
#
# Environment (all optional):
#   B2FS_SOAK_CHECKS=20      rapid checks per round (one b2emu and mount each)
#   B2FS_SOAK_STEPS=60       average operations per check
#   B2FS_SOAK_VFS_CHECKS=300 rapid checks per round of each in-process test
#   B2FS_SOAK_TARGETS="fuse vfs"  which targets a round runs
#   B2FS_SOAK_LOG=FILE       full output (default: a file in /tmp, printed at the end)
#   B2FS_MODEL_RACE=1        build b2fs with the race detector (default on)
#   B2FS_MODEL_STRICT=1      do not tolerate the known bugs listed in the model
#   B2FS_SOAK_CONTINUE=1     run the whole DURATION, collecting every failing
#                            round, and exit non-zero at the end if any failed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

usage() { echo "usage: scripts/soak.sh DURATION   (e.g. 30m, 2h, 90s)" >&2; exit 2; }
[ $# -eq 1 ] || usage
case "$1" in
  *h) secs=$(( ${1%h} * 3600 )) ;;
  *m) secs=$(( ${1%m} * 60 )) ;;
  *s) secs=${1%s} ;;
  *[!0-9]*|"") usage ;;
  *) secs=$1 ;;
esac 2>/dev/null || usage
[ "$secs" -gt 0 ] 2>/dev/null || usage

ensure_tools
ensure_go

checks=${B2FS_SOAK_CHECKS:-20}
steps=${B2FS_SOAK_STEPS:-60}
log=${B2FS_SOAK_LOG:-$(mktemp /tmp/b2fs-soak-XXXXXX.log)}
stats=$(mktemp /tmp/b2fs-soak-stats-XXXXXX)
vfs_checks=${B2FS_SOAK_VFS_CHECKS:-300}
targets=${B2FS_SOAK_TARGETS:-fuse vfs}
export B2FS_MODEL_STATS="$stats" B2FS_MODEL_RACE="${B2FS_MODEL_RACE:-1}"
# The test binary is built once (with the race detector too: the
# in-process targets run b2fs's code in it); every round draws new seeds.
bin=$(mktemp -d /tmp/b2fs-soak-bin-XXXXXX)
trap 'rm -rf "$bin" "$stats"' EXIT
race=()
[ "$B2FS_MODEL_RACE" = 1 ] && race=(-race)
go test -c "${race[@]}" -o "$bin/model.test" ./test/model

# run_tests PATTERN CHECKS: one run of the test binary, appended to the log.
run_tests() {
  # Relative paths in the test (fail files) are below test/model.
  (cd test/model && "$bin/model.test" -test.run "$1" -test.count=1 -test.timeout=60m -test.v \
    -rapid.seed=0 -rapid.checks="$2" -rapid.steps="$steps") >>"$log" 2>&1
}

start=$(date +%s)
deadline=$(( start + secs ))
round=0
failed=()
echo "soak: $1, targets $targets; per round $checks FUSE checks and $vfs_checks checks of each in-process test, ~$steps operations each; log $log"
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  echo "=== round $round ($(date -u +%H:%M:%S))" >>"$log"
  ok=1
  for tg in $targets; do
    case $tg in
      fuse) run_tests '^TestModelFUSE$' "$checks" || ok=0 ;;
      vfs) run_tests '^(TestModelVFS|TestModelVFSB2|TestModelVFSWriteBack)$' "$vfs_checks" || ok=0 ;;
      *) echo "soak: unknown target $tg in B2FS_SOAK_TARGETS (fuse, vfs)" >&2; exit 2 ;;
    esac
  done
  if [ $ok = 0 ]; then
    failed+=("$round")
    echo "soak: round $round FAILED after $(( $(date +%s) - start ))s" >&2
    # Keep the fail files, out of the way of the next round (rapid replays
    # the ones it finds in testdata first).
    mkdir -p "$log.failfiles"
    mv test/model/testdata/rapid/*/*.fail "$log.failfiles/" 2>/dev/null || true
    grep -v '\[rapid\] draw' "$log" | sed -n '/=== round '"$round"' /,$p' | grep -E '\[rapid\]|Original traceback|To reproduce|-rapid.failfile' | head -8 >&2 || true
    [ "${B2FS_SOAK_CONTINUE:-0}" = 1 ] || break
  fi
done
ops=$(awk '{s+=$1} END {print s+0}' "$stats")
n=$(awk '{s+=$2} END {print s+0}' "$stats")
echo "soak: $round rounds, $n checks and $ops operations, $(( $(date +%s) - start ))s; log $log"
# Per test: operations and checks (B2FS_MODEL_STATS lines: ops checks test).
awk '{o[$3]+=$1; c[$3]+=$2} END {for (t in o) printf "soak:   %s: %d checks, %d operations\n", t, c[t], o[t]}' "$stats" | sort
if [ ${#failed[@]} -gt 0 ]; then
  echo "soak: FAILED rounds: ${failed[*]} (the log has each one's operations, b2fs log and rapid seed; fail files in $log.failfiles; docs/testing.md)" >&2
  exit 1
fi
echo "soak: passed"
