#!/usr/bin/env bash
# Runs every b2fs test: unit tests, b2emu conformance and fuzz seeds, rclone
# interop, and the end-to-end tests that mount b2fs with FUSE and drive it with
# ordinary tools. Installs what the tests need when it is missing (Debian).
#
#   scripts/test.sh                      everything
#   scripts/test.sh ./b2client/...       only these packages (go test patterns)
#   scripts/test.sh --partial [PKGS]     accept skipped tests (B2FS_TEST_PARTIAL=1)
#
# A test whose requirement (/dev/fuse, fusermount3, rclone, ...) is missing
# skips, and a run with skipped tests fails unless a partial run was asked
# for. With CI=true such a test fails instead of skipping (CI always sets
# it). Output: one line per package, the whole output of every failed test,
# one line per skipped test, and as the last line
# "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

partial="${B2FS_TEST_PARTIAL:-}"
if [ "${1:-}" = "--partial" ]; then
  partial=1
  shift
fi

ensure_tools
ensure_go
go version

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

echo "== go vet"
go vet "${pkgs[@]}"
echo "== go build"
go build -o bin/ ./cmd/... ./test/testsummary
echo "== Debian package"
# Built once for test/debpkg and test/systemd (which installs it).
B2FS_TEST_DEB=$(scripts/package.sh --out dist | tail -n 1)
export B2FS_TEST_DEB
echo "$B2FS_TEST_DEB"
echo "== go test -race"
summary=(bin/testsummary)
[ -z "$partial" ] || [ "$partial" = 0 ] || summary+=(-partial)
# Each test package cleans up its own mounts and servers; the timeout is a
# last resort well under CI's limit. go test's own status also counts
# (pipefail): a run the summary cannot see fail still fails.
#
# The test under a real systemd (test/systemd) boots a container, which
# takes a copy of the host's mounts: it runs after the others, so that no
# FUSE mount of another test is copied into it (a copy keeps the FUSE
# connection alive after that test's unmount).
serial=./test/systemd
mapfile -t listed < <(go list "${pkgs[@]}")
rest=() last=()
for p in "${listed[@]}"; do
  if [ "$p" = "github.com/b2fs/b2fs/${serial#./}" ]; then last+=("$p"); else rest+=("$p"); fi
done
{
  set +e
  st=0
  if [ ${#rest[@]} -gt 0 ]; then
    go test -race -count=1 -timeout 45m -json "${rest[@]}" 2>&1 || st=1
  fi
  if [ ${#last[@]} -gt 0 ]; then
    go test -race -count=1 -timeout 30m -json "${last[@]}" 2>&1 || st=1
  fi
  exit $st
} | "${summary[@]}"
