#!/usr/bin/env bash
# Python 3.14 and 3.15 from Debian sid, in a chroot that is built once and then reused.
#
#   scripts/sid_pythons.sh build        build the chroot if it is not there yet (needs root)
#   scripts/sid_pythons.sh run CMD ...  run CMD inside it, with this checkout at the same path
#
# The chroot lives outside the checkout (ASYNCLAB_SID_ROOT, default /var/cache/asynclab/sid) so that
# every clone on the machine shares it. `run` mounts /proc, /dev and the checkout in a private mount
# namespace, so nothing stays mounted when CMD ends. Exit status 3 means "cannot be made here".
set -euo pipefail
root=${ASYNCLAB_SID_ROOT:-/var/cache/asynclab/sid}
here=$(cd "$(dirname "$0")/.." && pwd)
packages=python3.15,python3.15-venv,python3.14,python3.14-venv,ca-certificates,make  # make: `make lab` is tested there too

cannot() { echo "sid_pythons: $*" >&2; exit 3; }

built() { [ -f "$root/.complete" ] && [ "$(cat "$root/.complete")" = "$packages" ]; }

build() {
  built && return 0
  [ "$(id -u)" = 0 ] || cannot "building the chroot needs root"
  command -v unshare >/dev/null || cannot "unshare (util-linux) is missing"
  command -v flock >/dev/null || cannot "flock (util-linux) is missing"
  # test_envs.py sets up 3.14 and 3.15 side by side: the second build waits for the first.
  mkdir -p "$(dirname "$root")"
  exec 9>"$root.lock"
  flock 9
  built && return 0
  if ! command -v debootstrap >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq debootstrap; } >/dev/null 2>&1 || cannot "debootstrap could not be installed"
  fi
  local mirror
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || cannot "no Debian mirror is configured on this machine"
  rm -rf "$root.partial"
  echo "sid_pythons: building $root from $mirror (about 3 minutes, once)" >&2
  debootstrap --variant=minbase --include="$packages" sid "$root.partial" "$mirror" >"$root.log" 2>&1 \
    || cannot "debootstrap failed; see $root.log"
  rm -rf "$root" && mv "$root.partial" "$root"
  echo "$packages" > "$root/.complete"
}

run() {
  [ -f "$root/.complete" ] || cannot "no chroot at $root: run '$0 build' first"
  [ "$(id -u)" = 0 ] || cannot "entering the chroot needs root"
  # Name resolution and the CA bundle come from the host, so pip reaches the same index.
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
  [ -f /etc/pip.conf ] && cp -L /etc/pip.conf "$root/etc/pip.conf"
  mkdir -p "$root$here" "$root/root/.cache" "$HOME/.cache"
  exec unshare --mount --propagation private sh -c '
    root=$1; here=$2; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --bind "$here" "$root$here"
    mount --bind "$HOME/.cache" "$root/root/.cache"  # pip and uv reuse the host'"'"'s downloads
    cd "$here"
    exec chroot "$root" /usr/bin/env -C "$here" HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"
  ' sh "$root" "$here" "$@"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 build | run CMD ..." >&2; exit 2 ;;
esac
