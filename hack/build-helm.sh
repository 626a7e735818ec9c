#!/usr/bin/env bash
# Builds helm (helm.sh/helm/v3 cmd/helm) from a pinned release through the Go module proxy,
# like the control-plane binaries: a wrapper module outside the repository, the binary in a
# cache keyed by version. A second run with the same version is a no-op.
set -euo pipefail

HELM_VERSION=${RINGTAP_HELM_VERSION:-v3.22.0}
CACHE=${RINGTAP_CACHE:-$HOME/.cache/ringtap}
BIN="$CACHE/bin/helm-$HELM_VERSION"

if [ -x "$BIN/helm" ]; then
  echo "helm present in $BIN"
  exit 0
fi

export GOMODCACHE="$CACHE/gomod" GOCACHE="$CACHE/gobuild"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOPROXY=${GOPROXY:-https://proxy.golang.org}
command -v go >/dev/null || { echo "go is required to build helm (apt-get install golang-go, or a Go >= 1.26 toolchain)" >&2; exit 1; }

mkdir -p "$BIN"
start=$(date +%s)
hdir="$CACHE/src/helm-$HELM_VERSION"
mkdir -p "$hdir"
(
  cd "$hdir"
  [ -f go.mod ] || go mod init ringtap.local/helmbin
  go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  # What helm's Makefile sets: its own version, and the Kubernetes version of its client
  # libraries, which `helm template` and `helm lint` assume (.Capabilities.KubeVersion;
  # without it they assume v1.20 and refuse charts that need a newer cluster).
  kmod=$(go list -m -f '{{.Version}}' k8s.io/client-go)
  kminor=$(echo "$kmod" | cut -d. -f2)
  LDF="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDF="$LDF -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
  done
  echo "building helm $HELM_VERSION (Kubernetes client $kmod)"
  go build -trimpath -ldflags "$LDF" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm
  mv "$BIN/helm.tmp" "$BIN/helm"
)
echo "built helm $HELM_VERSION into $BIN in $(( $(date +%s) - start ))s"
