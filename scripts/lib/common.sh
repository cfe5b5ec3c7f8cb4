# Shared shell helpers for b2fs scripts. Source, don't run.

# apt_install PKG... installs Debian packages (apt-get update first).
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ensure_tools makes sure every program the tests and benchmarks use is
# installed, installing the Debian packages of the missing ones.
ensure_tools() {
  local pkgs=()
  command -v fusermount3 >/dev/null || pkgs+=(fuse3)
  command -v rclone >/dev/null || pkgs+=(rclone)
  command -v fio >/dev/null || pkgs+=(fio)
  command -v setfattr >/dev/null || pkgs+=(attr)
  command -v rsync >/dev/null || pkgs+=(rsync)
  # The crash tests (test/crash) watch real tools acknowledge files with strace.
  command -v strace >/dev/null || pkgs+=(strace)
  command -v git >/dev/null || pkgs+=(git)
  command -v curl >/dev/null || pkgs+=(curl ca-certificates)
  command -v unzip >/dev/null || pkgs+=(unzip)
  command -v gcc >/dev/null || pkgs+=(gcc libc6-dev)
  command -v systemd-analyze >/dev/null || pkgs+=(systemd)
  command -v sqlite3 >/dev/null || pkgs+=(sqlite3)
  command -v tar >/dev/null || pkgs+=(tar)
  command -v diff >/dev/null || pkgs+=(diffutils)
  # promtool checks the alert rules (Debian ships it in the prometheus package).
  command -v promtool >/dev/null || pkgs+=(prometheus)
  # The Debian package (scripts/package.sh, test/debpkg) and the test under
  # a real systemd booted in a container (test/systemd).
  command -v dpkg-deb >/dev/null || pkgs+=(dpkg)
  command -v lintian >/dev/null || pkgs+=(lintian)
  command -v groff >/dev/null || pkgs+=(groff-base)
  command -v systemd-nspawn >/dev/null || pkgs+=(systemd-container)
  command -v debootstrap >/dev/null || pkgs+=(debootstrap)
  command -v nsenter >/dev/null || pkgs+=(util-linux)
  if [ ${#pkgs[@]} -gt 0 ]; then
    apt_install "${pkgs[@]}"
  fi
}

# ensure_go puts a Go toolchain of at least the go.mod version on PATH.
# Order: go on PATH, /usr/local/go, then Debian's golang-go used only to learn
# the module proxy, from which the toolchain module is fetched.
ensure_go() {
  local want
  want=$(awk '/^go /{print $2; exit}' go.mod)
  [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
  if command -v go >/dev/null; then
    # GOTOOLCHAIN=auto lets a newer-than-installed go.mod fetch its toolchain.
    export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
    return 0
  fi
  apt_install golang-go curl ca-certificates unzip
  local proxy ver zip dir
  proxy=$(go env GOPROXY | cut -d, -f1)
  ver="go${want}"
  case "$ver" in go*.*.*) ;; *) ver="${ver}.0" ;; esac
  dir="$HOME/.cache/b2fs-go/$ver"
  if [ ! -x "$dir/bin/go" ]; then
    mkdir -p "$dir"
    zip=$(mktemp)
    curl -fsSL -o "$zip" "$proxy/golang.org/toolchain/@v/v0.0.1-${ver}.linux-$(dpkg --print-architecture).zip"
    unzip -q -o "$zip" -d "$dir.tmp"
    rm -f "$zip"
    rm -rf "$dir" && mv "$dir.tmp/golang.org/toolchain@v0.0.1-${ver}.linux-$(dpkg --print-architecture)" "$dir"
    rm -rf "$dir.tmp"
    chmod +x "$dir/bin/"* "$dir/pkg/tool/"*/* 2>/dev/null || true
  fi
  export PATH="$dir/bin:$PATH"
}
