#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the
# pinned releases through the Go module proxy, into a cache keyed by version.
# A second run with the same versions is a no-op.
set -euo pipefail

K8S_VERSION=${RINGTAP_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${RINGTAP_ETCD_VERSION:-v3.6.16}
CACHE=${RINGTAP_CACHE:-$HOME/.cache/ringtap}
BIN="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gobuild"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=${GOPROXY:-https://proxy.golang.org}

want=(etcd kube-apiserver kube-controller-manager kubectl)
missing=0
for b in "${want[@]}"; do [ -x "$BIN/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "control-plane binaries present in $BIN"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the control plane (apt-get install golang-go, or a Go >= 1.26 toolchain)" >&2; exit 1; }
mkdir -p "$BIN"
start=$(date +%s)

# --- Kubernetes: a wrapper module that replaces every staging module with its published twin.
kdir="$CACHE/src/k8s-$K8S_VERSION"
mkdir -p "$kdir"
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-controller-manager" ] || [ ! -x "$BIN/kubectl" ]; then
  (
    cd "$kdir"
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$gomod" ] || { echo "cannot download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
    staging=$(grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}')
    goline=$(grep -E '^go [0-9]' "$gomod")
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    patch=$(echo "$K8S_VERSION" | cut -d. -f3)
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
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
    LDF="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
    for b in kube-apiserver kube-controller-manager kubectl; do
      [ -x "$BIN/$b" ] && continue
      echo "building $b $K8S_VERSION"
      go build -trimpath -ldflags "$LDF" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
      mv "$BIN/$b.tmp" "$BIN/$b"
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
    go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
    mv "$BIN/etcd.tmp" "$BIN/etcd"
  )
fi

echo "built control plane into $BIN in $(( $(date +%s) - start ))s"
