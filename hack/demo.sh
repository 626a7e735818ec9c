#!/usr/bin/env bash
# The demo: a local Kubernetes control plane with two simulated nodes and three pods of an
# app spread over them. Installs what it needs first (hack/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
export RINGTAP_RUN_DIR=${RINGTAP_RUN_DIR:-$PWD/.run/cluster}

hack/cluster down
hack/cluster up
hack/cluster node add node-a
hack/cluster node add node-b
hack/cluster pod add node-a demo web-1 app=web
hack/cluster pod add node-b demo web-2 app=web
hack/cluster pod add node-a demo client app=client

echo
hack/cluster kubectl get nodes,pods -A -o wide
cat <<TXT

The local cluster is up. Use it with:

  eval "\$(hack/cluster env)"      # KUBECONFIG and the matching kubectl on PATH
  kubectl get nodes,pods -A
  hack/cluster status              # processes, nodes and pods of this run
  hack/cluster down                # stop everything and remove all state
TXT
