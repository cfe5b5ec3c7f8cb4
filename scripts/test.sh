#!/usr/bin/env bash
# Runs every b2fs test: unit tests, b2emu conformance and fuzz seeds, rclone
# interop, and the end-to-end tests that mount b2fs with FUSE and drive it with
# ordinary tools. Installs what the tests need when it is missing (Debian).
#
#   scripts/test.sh                 everything
#   scripts/test.sh ./b2client/...  only these packages (go test patterns)
#
# Set CI=true to make tests fail instead of skipping when FUSE or a tool is
# missing (CI always does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

ensure_tools
ensure_go
go version

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

echo "== go vet"
go vet "${pkgs[@]}"
echo "== go build"
go build -o bin/ ./cmd/...
echo "== Debian package"
# Built once for test/debpkg and test/systemd (which installs it).
B2FS_TEST_DEB=$(scripts/package.sh --out dist | tail -n 1)
export B2FS_TEST_DEB
echo "$B2FS_TEST_DEB"
echo "== go test -race"
# Each test package cleans up its own mounts and servers; the timeout is a
# last resort well under CI's limit.
go test -race -count=1 -timeout 45m "${pkgs[@]}"
