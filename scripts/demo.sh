#!/usr/bin/env bash
# Builds b2fs and mounts its demo: a sample bucket served by an embedded B2
# emulator, no account or credentials needed. Installs fuse3 and Go when
# missing (Debian). Stop it with Ctrl-C; the mount goes away with it.
#
#   scripts/demo.sh [MOUNTPOINT]      (default /mnt/b2fs-demo)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/common.sh

mnt="${1:-/mnt/b2fs-demo}"
command -v fusermount3 >/dev/null || apt_install fuse3
ensure_go
go build -o bin/ ./cmd/...
mkdir -p "$mnt"
echo "mounting the demo bucket at $mnt (Ctrl-C to stop); try: ls -l $mnt" >&2
exec bin/b2fs --demo "$mnt"
