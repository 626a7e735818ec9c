#!/usr/bin/env bash
# Download benchmark (see bench.ts): a capture of GIB GiB (default 1) across two nodes of a local
# cluster of its own, through the API server against reading the same files directly.
#   bash hack/bench/download/run.sh [GiB]
#   OPERATOR_NODE_OPTIONS=--max-semi-space-size=4 bash hack/bench/download/run.sh
# The capture is a real PacketCapture on two simulated nodes (its agents serve its directory);
# its files are synthesized into the agents' data directories after it completed, because
# capturing a gigabyte through veth pairs on a small machine measures the capture path, not
# the download.
set -euo pipefail
cd "$(dirname "$0")/../../.."
GIB=${1:-1}
export RINGTAP_RUN_DIR=$(mktemp -d /tmp/ringtap-bench-dl-XXXXXX)
# KEEP=1 leaves the cluster up for a closer look (hack/cluster down with this RINGTAP_RUN_DIR ends it).
[ "${KEEP:-0}" = 1 ] || trap 'hack/cluster down >/dev/null 2>&1 || true' EXIT
npm run --silent build >/dev/null 2>&1 || true
[ -f dist/hack/bench/download/bench.js ] || { echo "build failed" >&2; exit 1; }
NODE=node_modules/.bin/node
hack/cluster up >/dev/null
for n in bench-a bench-b; do hack/cluster node add "$n" >/dev/null; done
hack/cluster kubectl create namespace bench >/dev/null
hack/cluster pod add bench-a bench p0 app=bench >/dev/null
hack/cluster pod add bench-b bench p1 app=bench >/dev/null
# OPERATOR_NODE_OPTIONS: V8 flags for the operator and agents (e.g. --max-semi-space-size=4).
# MALLOC_ARENA_MAX=2: what the chart's operator Deployment sets (the agents have it from hack/cluster).
MALLOC_ARENA_MAX=2 NODE_OPTIONS=${OPERATOR_NODE_OPTIONS:-} RINGTAP_LOG_LEVEL=warn hack/cluster ringtap start >/dev/null
# shellcheck disable=SC1091
. "$RINGTAP_RUN_DIR/cluster.env"
K() { hack/cluster kubectl "$@"; }
deadline=$(( $(date +%s) + 60 ))
until [ "$(K get apiservice v1alpha1.data.ringtap.dev -o 'jsonpath={.status.conditions[?(@.type=="Available")].status}')" = True ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "the data API did not become available; operator log:" >&2; tail -20 "$RINGTAP_RUN_DIR/logs/operator-0.log" >&2; exit 1; }
  sleep 0.2
done
K apply -f - >/dev/null <<YAML
apiVersion: ringtap.dev/v1alpha1
kind: PacketCapture
metadata: {name: dl, namespace: bench}
spec:
  targets: {pods: {selector: {matchLabels: {app: bench}}}}
  filter: udp port 9
  limits: {duration: 3s}
YAML
deadline=$(( $(date +%s) + 60 ))
until [ "$(K get packetcapture dl -n bench -o jsonpath='{.status.phase}')" = Completed ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "the capture did not complete" >&2; exit 1; }
  sleep 0.5
done
start_ns=$(( $(date +%s) * 1000000000 ))
bytes=$(( GIB * 1024 * 1024 * 1024 / 2 ))
dirs=()
for n in bench-a bench-b; do
  d="$RINGTAP_RUN_DIR/agent-data/$n/bench/dl/$n"
  mkdir -p "$d"
  "$NODE" dist/hack/bench/download/bench.js generate "$d" "$n" "$bytes" "$start_ns" >/dev/null
  dirs+=("$d")
done
BENCH_DIRS=$(IFS=,; echo "${dirs[*]}") \
BENCH_REORDER_MS=200 \
BENCH_KUBECTL="$(eval "$(hack/cluster env)"; command -v kubectl)" \
BENCH_KUBECONFIG="$RINGTAP_RUN_DIR/admin.kubeconfig" \
BENCH_PATH=/apis/data.ringtap.dev/v1alpha1/watch/namespaces/bench/packetcaptures/dl/pcap \
BENCH_OPERATOR_PID=$(cat "$RINGTAP_RUN_DIR/pids/operator-0.pid") \
BENCH_PIDS="operator=$(cat "$RINGTAP_RUN_DIR/pids/operator-0.pid"),agent-a=$(cat "$RINGTAP_RUN_DIR/pids/agent-bench-a.pid"),agent-b=$(cat "$RINGTAP_RUN_DIR/pids/agent-bench-b.pid"),kube-apiserver=$(cat "$RINGTAP_RUN_DIR/pids/kube-apiserver.pid")" \
  "$NODE" dist/hack/bench/download/bench.js measure
