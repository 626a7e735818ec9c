#!/usr/bin/env bash
# End to end on a real Kubernetes (kind) for a workstation with Docker. NOT run in CI here:
# this machine has no Docker engine; the local suites use hack/cluster instead.
#
#   bash hack/kind-e2e.sh            create the cluster, build and load the image, helm install,
#                                    run the scenario, delete the cluster
#   KEEP=1 bash hack/kind-e2e.sh     keep the cluster afterwards (kind delete cluster --name ringtap-e2e)
#
# Needs: docker, kind, kubectl, tshark (or capinfos) and this repository's setup (hack/setup.sh
# builds helm into ~/.cache/ringtap). The scenario is the one of test/e2e/packetcapture.test.ts
# with real pods: the jest e2e suite itself drives simulated nodes (hack/cluster node/pod add)
# and cannot run against kind until it learns a real-cluster mode.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-ringtap-e2e}
IMAGE=${IMAGE:-ringtap:e2e}
NS=ringtap-system
APP_NS=ringtap-e2e-app
for t in docker kind kubectl; do command -v "$t" >/dev/null || { echo "kind-e2e: $t is required" >&2; exit 1; }; done
bash hack/build-helm.sh >/dev/null
HELM=$(ls -d "${RINGTAP_CACHE:-$HOME/.cache/ringtap}"/bin/helm-*/helm | tail -1)
WORK=$(mktemp -d)
export KUBECONFIG="$WORK/kubeconfig"

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Two workers, so that a capture spans nodes and the merge is real.
cat >"$WORK/kind.yaml" <<'KIND'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
KIND
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --wait 120s
kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG"

docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

"$HELM" upgrade --install ringtap charts/ringtap --namespace "$NS" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set-json "operator.trustedNamespaces=[\"$NS\",\"$APP_NS\"]" --wait --timeout 5m
kubectl -n "$NS" rollout status deployment/ringtap-operator --timeout 3m
kubectl -n "$NS" rollout status daemonset/ringtap-agent --timeout 3m

# An app of three pods spread over the workers, pinging each other.
kubectl create namespace "$APP_NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$APP_NS" apply -f - <<'APP'
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      topologySpreadConstraints:
        - { maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: { matchLabels: { app: web } } }
      containers:
        - name: pinger
          image: busybox:1.36
          command: [sh, -c, 'while true; do for ip in $(nslookup web-peers 2>/dev/null | sed -n "s/^Address: //p"); do ping -c1 -W1 $ip >/dev/null; done; sleep 0.2; done']
---
apiVersion: v1
kind: Service
metadata: { name: web-peers }
spec: { clusterIP: None, selector: { app: web } }
APP
kubectl -n "$APP_NS" rollout status deployment/web --timeout 3m

# A user's capture, with the plugin from the same image's tree.
export PATH="$PWD/bin:$PATH"
kubectl ringtap capture web-echo -n "$APP_NS" --selector app=web --filter icmp --duration 20s
kubectl ringtap status web-echo -n "$APP_NS" --watch
kubectl ringtap fetch web-echo -n "$APP_NS" -o "$WORK/web-echo.pcapng"
packets=$(tshark -r "$WORK/web-echo.pcapng" -Y icmp 2>/dev/null | wc -l)
echo "kind-e2e: $packets ICMP packets captured across nodes"
[ "$packets" -gt 0 ] || { echo "kind-e2e: FAILED: no packets" >&2; exit 1; }

# Admission: the agents wrote their own NodeTasks' status; the chart's policy is in force.
kubectl get validatingadmissionpolicy ringtap-agent-own-node >/dev/null
kubectl -n "$NS" get nodetasks -l "ringtap.dev/parent-namespace=$APP_NS" -o wide
echo "kind-e2e: PASSED"
