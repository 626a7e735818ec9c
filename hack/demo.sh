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

# ringtap: the operator as a process under its own ServiceAccount, then a capture of the app.
hack/cluster ringtap start
hack/cluster kubectl apply -f - <<'YAML'
apiVersion: ringtap.dev/v1alpha1
kind: PacketCapture
metadata:
  name: web-http
  namespace: demo
spec:
  targets:
    pods:
      selector:
        matchLabels: { app: web }
  filter: tcp port 80 or icmp
  limits:
    duration: 5m
    maxPackets: 10000
YAML
# The operator places one NodeTask per node that runs a selected pod.
for _ in $(seq 100); do
  [ "$(hack/cluster kubectl get nodetasks -n demo --no-headers 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.1
done
echo
hack/cluster kubectl get ringtap -A
echo
hack/cluster kubectl get nodetasks -n demo -o custom-columns='NODETASK:.metadata.name,NODE:.spec.node,PODS:.spec.packetCapture.pods[*].name,FILTER:.spec.packetCapture.filter'
cat <<TXT

The local cluster is up, with the ringtap operator running as a process (logs in
$RINGTAP_RUN_DIR/logs). The PacketCapture web-http selected the app's pods on both nodes and
the operator wrote one NodeTask per node; the node agents that carry NodeTasks out are the
next piece of ringtap and are not part of this build yet, so the capture waits in Pending.

Use the cluster with:

  eval "\$(hack/cluster env)"      # KUBECONFIG and the matching kubectl on PATH
  kubectl get ringtap -A           # every ringtap resource with its printer columns
  kubectl explain packetcapture.spec.limits
  hack/cluster status              # processes, nodes and pods of this run
  hack/cluster down                # stop everything and remove all state
TXT
