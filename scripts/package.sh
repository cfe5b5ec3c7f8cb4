#!/bin/sh
# Builds the Debian package b2fs_VERSION_ARCH.deb with dpkg-deb.
#
#   scripts/package.sh [--out DIR] [--version VERSION]
#
#   --out DIR          where the .deb goes (default dist/); its path is the
#                      last line printed
#   --version VERSION  package version (default: from git: a vX.Y.Z tag, or
#                      0.0~gitYYYYMMDD.COMMIT)
#
# Contents:
#   /usr/bin/b2fs, /usr/bin/b2emu           the programs
#   /sbin/mount.fuse.b2fs -> /usr/bin/b2fs  mount(8) helper (fuse.b2fs type;
#                                           libmount looks in /sbin, /sbin/fs.d, /sbin/fs)
#   /lib/systemd/system/b2fs@.service       unit template (scripts/systemd/)
#   /etc/b2fs/b2fs.conf.example             example settings of b2fs@NAME
#   /usr/share/man/man1/b2fs.1.gz, b2emu.1.gz, man8/mount.fuse.b2fs.8.gz
#                                           generated from the flag definitions (--man)
#   /usr/share/doc/b2fs/copyright, changelog.gz
#
# Needs go, dpkg-deb and gzip. The binaries are static (CGO_ENABLED=0).
set -eu

out=
version=
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--version) version=$2; shift 2 ;;
	--version=*) version=${1#*=}; shift ;;
	-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cd "$top"
[ -n "$out" ] || out=$top/dist
mkdir -p "$out"
out=$(cd "$out" && pwd)

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
date_rfc=$(git log -1 --format=%cD 2>/dev/null || date -R)
if [ -z "$version" ]; then
	tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || true)
	if [ -n "$tag" ]; then
		version=${tag#v}
	else
		version=0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$commit
	fi
fi
case "$version" in
[0-9]*) ;;
*) echo "package.sh: version $version must start with a digit" >&2; exit 2 ;;
esac

arch=$(dpkg --print-architecture)
case "$arch" in
amd64) goarch=amd64 ;;
arm64) goarch=arm64 ;;
i386) goarch=386 ;;
armhf) goarch=arm; export GOARM=7 ;;
riscv64) goarch=riscv64 ;;
ppc64el) goarch=ppc64le ;;
s390x) goarch=s390x ;;
*) echo "package.sh: unsupported architecture $arch" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/DEBIAN"
umask 022

# Programs: static position-independent executables (lintian: a static
# non-PIE binary is an error), stripped, reproducible paths.
ldflags="-s -w -X main.version=$version"
for cmd in b2fs b2emu; do
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -buildmode=pie \
		-ldflags "$ldflags" -o "$root/usr/bin/$cmd" "./cmd/$cmd"
done
chmod 0755 "$root/usr/bin/"*

install -d "$root/sbin" "$root/lib/systemd/system" "$root/etc/b2fs" \
	"$root/usr/share/man/man1" "$root/usr/share/man/man8" "$root/usr/share/doc/b2fs"
ln -s /usr/bin/b2fs "$root/sbin/mount.fuse.b2fs"
sed 's|/usr/local/bin/b2fs|/usr/bin/b2fs|g' scripts/systemd/b2fs@.service >"$root/lib/systemd/system/b2fs@.service"
install -m 0644 scripts/systemd/b2fs.conf.example "$root/etc/b2fs/b2fs.conf.example"

# Manual pages from the flag definitions of the binaries just built (built
# for this machine when cross-compiling).
if [ "$goarch" = "$(go env GOHOSTARCH)" ]; then
	mandir=$root/usr/bin
else
	mandir=$tmp/host
	go build -o "$mandir/" ./cmd/b2fs ./cmd/b2emu
fi
"$mandir/b2fs" --man >"$tmp/b2fs.1"
"$mandir/b2emu" --man >"$tmp/b2emu.1"
gzip -9n <"$tmp/b2fs.1" >"$root/usr/share/man/man1/b2fs.1.gz"
gzip -9n <"$tmp/b2emu.1" >"$root/usr/share/man/man1/b2emu.1.gz"
ln -s ../man1/b2fs.1.gz "$root/usr/share/man/man8/mount.fuse.b2fs.8.gz"

# changelog (a native package: changelog.gz).
cat >"$tmp/changelog" <<EOF
b2fs ($version) unstable; urgency=medium

  * Built from commit $commit.

 -- b2fs developers <dev@b2fs.invalid>  $date_rfc
EOF
gzip -9n <"$tmp/changelog" >"$root/usr/share/doc/b2fs/changelog.gz"

# copyright: b2fs, the Go standard library and every module linked into the
# binaries, with the license each one ships.
"$here/lib/copyright.sh" "$root/usr/bin/b2fs" "$root/usr/bin/b2emu" >"$root/usr/share/doc/b2fs/copyright"
chmod 0644 "$root/usr/share/doc/b2fs/"* "$root/lib/systemd/system/b2fs@.service" "$root/usr/share/man/man1/"*

# Maintainer scripts.
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# Makes systemd see the new or changed b2fs@.service; does nothing in a
# chroot or a container being built (no running systemd).
set -e
if [ "$1" = "configure" ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
exit 0
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# Makes systemd forget the removed unit. Staged files in /var/cache/b2fs
# are never removed here: they may hold changes not yet in B2.
set -e
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
echo /etc/b2fs/b2fs.conf.example >"$root/DEBIAN/conffiles"

size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: b2fs
Version: $version
Architecture: $arch
Maintainer: b2fs developers <dev@b2fs.invalid>
Installed-Size: $size
Depends: fuse3
Section: utils
Priority: optional
Homepage: https://github.com/b2fs/b2fs
Description: mount Backblaze B2 buckets as local directories (FUSE)
 b2fs mounts a Backblaze B2 bucket, a prefix inside one, or a whole account
 as a local directory with FUSE, so that ordinary tools (ls, cp, rsync, tar,
 editors) work on it. Writes are staged on local disk and uploaded when a
 file is closed; stopping b2fs waits for the uploads.
 .
 It runs in the foreground, as the mount(8) helper for the fuse.b2fs type
 (fstab, x-systemd.automount), or as the systemd service b2fs@NAME.
 .
 The package also holds b2emu, an emulator of the B2 Native API for tests.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles"

deb=$out/b2fs_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
