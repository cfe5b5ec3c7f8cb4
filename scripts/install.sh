#!/bin/sh
# Installs b2fs: the binary, the mount helper for "mount -t fuse.b2fs" and
# fstab, the systemd unit template and an example configuration.
#
#   scripts/install.sh [--prefix DIR] [--root DIR] [--binary FILE]
#
#   --prefix DIR   where the binary goes below the root (default /usr/local)
#   --root DIR     install into DIR instead of / (packaging, tests)
#   --binary FILE  install this b2fs binary instead of building one
#
# Files (below ROOT):
#   PREFIX/bin/b2fs                          the program
#   /sbin/mount.fuse.b2fs -> PREFIX/bin/b2fs mount(8) helper (fuse.b2fs type)
#   /etc/systemd/system/b2fs@.service        unit template (ExecStart uses PREFIX)
#   /etc/b2fs/b2fs.conf.example              example settings for b2fs@NAME
set -eu

prefix=/usr/local
root=
binary=
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--root) root=$2; shift 2 ;;
	--root=*) root=${1#*=}; shift ;;
	--binary) binary=$2; shift 2 ;;
	--binary=*) binary=${1#*=}; shift ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$prefix" in
/*) ;;
*) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
if [ -z "$binary" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	version=$(git -C "$top" describe --tags --always --dirty 2>/dev/null || echo dev)
	(cd "$top" && go build -ldflags "-X main.version=$version" -o "$tmp/b2fs" ./cmd/b2fs)
	binary=$tmp/b2fs
fi

install -d -m 0755 "$root$prefix/bin" "$root/sbin" "$root/etc/systemd/system" "$root/etc/b2fs"
install -m 0755 "$binary" "$root$prefix/bin/b2fs"
# The helper is a symbolic link to the installed path (without ROOT), so it
# is right once ROOT becomes /.
ln -sf "$prefix/bin/b2fs" "$root/sbin/mount.fuse.b2fs"
sed "s|/usr/local/bin/b2fs|$prefix/bin/b2fs|g" "$here/systemd/b2fs@.service" >"$root/etc/systemd/system/b2fs@.service"
chmod 0644 "$root/etc/systemd/system/b2fs@.service"
install -m 0644 "$here/systemd/b2fs.conf.example" "$root/etc/b2fs/b2fs.conf.example"
chmod 0755 "$root/etc/b2fs"

cat <<MSG
installed b2fs into ${root:-/}:
  $prefix/bin/b2fs
  /sbin/mount.fuse.b2fs -> $prefix/bin/b2fs
  /etc/systemd/system/b2fs@.service
  /etc/b2fs/b2fs.conf.example
next: write /etc/b2fs/NAME.conf and /etc/b2fs/NAME.key (chmod 600), then
  systemctl daemon-reload && systemctl enable --now b2fs@NAME
or add an fstab line:
  BUCKET /mnt/b2 fuse.b2fs _netdev,x-systemd.automount,credentials-file=/etc/b2fs/NAME.key 0 0
MSG
