#!/usr/bin/env bash
# Builds the Kubernetes binaries from the pinned releases through the Go module proxy, into a
# cache keyed by version. A second run with the same versions is a no-op.
#
#   bash hack/build-controlplane.sh           etcd, kube-apiserver, kube-controller-manager, kubectl
#   bash hack/build-controlplane.sh --node    also kubelet, kube-proxy, kube-scheduler (same release and
#                                             wrapper module) and crictl: what a real node needs
#
# Builds may run at the same time (two test runs, a test and the demo): one lock serialises
# them, and every binary is written under a unique temporary name and renamed into place.
set -euo pipefail

K8S_VERSION=${RINGTAP_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${RINGTAP_ETCD_VERSION:-v3.6.16}
CRICTL_VERSION=${RINGTAP_CRICTL_VERSION:-v1.37.0}
CACHE=${RINGTAP_CACHE:-$HOME/.cache/ringtap}
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
CRICTL_BIN="$CACHE/bin/crictl-$CRICTL_VERSION"

export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gobuild"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=${GOPROXY:-https://proxy.golang.org}

k8s_want=(kube-apiserver kube-controller-manager kubectl)
[ "${1:-}" = --node ] && k8s_want+=(kubelet kube-proxy kube-scheduler)

missing() {
  local b
  for b in "${k8s_want[@]}" etcd; do [ -x "$BIN/$b" ] || return 0; done
  [ "${1:-}" = --node ] && [ ! -x "$CRICTL_BIN/crictl" ] && return 0
  return 1
}
if ! missing "$@"; then
  echo "Kubernetes binaries present in $BIN"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the control plane (apt-get install golang-go, or a Go >= 1.26 toolchain)" >&2; exit 1; }
mkdir -p "$BIN"
exec 9>"$CACHE/bin/.build.lock"
flock 9
missing "$@" || { echo "Kubernetes binaries present in $BIN (built by a concurrent run)"; exit 0; }
start=$(date +%s)

# build_to DEST GO-BUILD-ARGS...: go build into a temporary name unique to this run, then rename.
build_to() {
  local dest=$1 tmp; shift
  tmp=$(mktemp "$dest.XXXXXX.tmp")
  go build -trimpath -o "$tmp" "$@" || { rm -f "$tmp"; return 1; }
  mv -f "$tmp" "$dest"
}

# --- Kubernetes: a wrapper module that replaces every staging module with its published twin.
kdir="$CACHE/src/k8s-$K8S_VERSION"
mkdir -p "$kdir"
todo=()
for b in "${k8s_want[@]}"; do [ -x "$BIN/$b" ] || todo+=("$b"); done
if [ ${#todo[@]} -gt 0 ]; then
  (
    cd "$kdir"
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$gomod" ] || { echo "cannot download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
    staging=$(grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}')
    goline=$(grep -E '^go [0-9]' "$gomod")
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    patch=$(echo "$K8S_VERSION" | cut -d. -f3)
    if [ ! -f go.mod ]; then
      {
        echo "module ringtap.local/k8sbins"
        echo
        echo "$goline"
        grep -E '^godebug ' "$gomod" || true
        echo
        echo "require k8s.io/kubernetes $K8S_VERSION"
        echo
        echo "replace ("
        for m in $staging; do echo "	$m => $m v0.$minor.$patch"; done
        echo ")"
      } > go.mod
      echo "wrapper module: $(echo "$staging" | wc -l) staging modules replaced"
    fi
    pkgs=()
    for b in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$K8S_VERSION"); done
    go get "${pkgs[@]}"
    LDF="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    for b in "${todo[@]}"; do
      echo "building $b $K8S_VERSION"
      build_to "$BIN/$b" -ldflags "$LDF" "k8s.io/kubernetes/cmd/$b"
    done
  )
fi

# --- etcd: the module root is package main; a wrapper module and an explicit -o.
if [ ! -x "$BIN/etcd" ]; then
  edir="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$edir"
  (
    cd "$edir"
    [ -f go.mod ] || go mod init ringtap.local/etcdbin
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    echo "building etcd $ETCD_VERSION"
    build_to "$BIN/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  )
fi

# --- crictl (sigs.k8s.io/cri-tools): talks CRI to a real node's containerd, e.g. to remove its
# pod sandboxes through the runtime so that the CNI plugins release what they set up.
if [ "${1:-}" = --node ] && [ ! -x "$CRICTL_BIN/crictl" ]; then
  cdir="$CACHE/src/cri-tools-$CRICTL_VERSION"
  mkdir -p "$cdir" "$CRICTL_BIN"
  (
    cd "$cdir"
    [ -f go.mod ] || go mod init ringtap.local/crictlbin
    go get "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
    echo "building crictl $CRICTL_VERSION"
    build_to "$CRICTL_BIN/crictl" -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
  )
fi

echo "built Kubernetes binaries into $BIN in $(( $(date +%s) - start ))s"
