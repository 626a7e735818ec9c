#!/usr/bin/env bash
# Operator benchmark on a cluster of its own (not a test; see bench.ts for what it measures):
#   bash hack/bench/operator/run.sh [captures] [burst nodes]
# Quick check: STEADY_SECONDS=10 REST_SECONDS=10 PODS=2000 NODES=100 AGENT_TASKS=20 bash hack/bench/operator/run.sh 200 20
set -euo pipefail
cd "$(dirname "$0")/../../.."
export RINGTAP_RUN_DIR=$(mktemp -d /tmp/ringtap-bench-XXXXXX)
trap 'hack/cluster down' EXIT
npm run --silent build || { echo "build failed" >&2; exit 1; }
hack/cluster up
RINGTAP_LOG_LEVEL=warn hack/cluster ringtap start
CAPTURES=${1:-${CAPTURES:-1000}} BURST_NODES=${2:-${BURST_NODES:-50}} \
  node_modules/.bin/node dist/hack/bench/operator/bench.js
