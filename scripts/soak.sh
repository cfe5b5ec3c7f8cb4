#!/usr/bin/env bash
# Runs the model-based test (test/model, TestModelFUSE) over and over with
# fresh random seeds until DURATION has passed: random file-system
# operations against a real b2fs mount and a reference model, with b2emu
# faults, remounts and kill -9 crashes. Exits non-zero at the first
# failure, after printing the rapid seed, the fail file and the shrunk
# operation sequence. See docs/testing.md.
#
#   scripts/soak.sh 30m          (DURATION: N, Ns, Nm or Nh)
#
# Environment (all optional):
#   B2FS_SOAK_CHECKS=20      rapid checks per round (one b2emu and mount each)
#   B2FS_SOAK_STEPS=60       average operations per check
#   B2FS_SOAK_LOG=FILE       full output (default: a file in /tmp, printed at the end)
#   B2FS_MODEL_RACE=1        build b2fs with the race detector (default on)
#   B2FS_MODEL_STRICT=1      do not tolerate the known bugs listed in the model
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
export B2FS_MODEL_STATS="$stats" B2FS_MODEL_RACE="${B2FS_MODEL_RACE:-1}"
# The test binary is built once; every round draws new seeds.
bin=$(mktemp -d /tmp/b2fs-soak-bin-XXXXXX)
trap 'rm -rf "$bin" "$stats"' EXIT
go test -c -o "$bin/model.test" ./test/model

start=$(date +%s)
deadline=$(( start + secs ))
round=0
echo "soak: $1, $checks checks of ~$steps operations per round; log $log"
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  echo "=== round $round ($(date -u +%H:%M:%S))" >>"$log"
  # Relative paths in the test (fail files) are below test/model.
  if ! (cd test/model && "$bin/model.test" -test.run '^TestModelFUSE$' -test.count=1 -test.timeout=60m -test.v \
        -rapid.checks="$checks" -rapid.steps="$steps") >>"$log" 2>&1; then
    ops=$(awk '{s+=$1} END {print s+0}' "$stats")
    echo "soak: FAILED in round $round after $(( $(date +%s) - start ))s and $ops operations of passed rounds" >&2
    grep -v '\[rapid\] draw' "$log" | sed -n '/=== round '"$round"' /,$p' | tail -120 >&2 || true
    echo "soak: full log $log; reproduce with the -rapid.failfile or -rapid.seed printed above (docs/testing.md)" >&2
    exit 1
  fi
done
ops=$(awk '{s+=$1} END {print s+0}' "$stats")
n=$(awk '{s+=$2} END {print s+0}' "$stats")
echo "soak: passed: $round rounds, $n checks, $ops operations in $(( $(date +%s) - start ))s; log $log"
