#!/usr/bin/env bash
# Operator benchmark on a cluster of its own: bash hack/bench/operator/run.sh [captures] [nodes]
set -euo pipefail
cd "$(dirname "$0")/../../.."
export RINGTAP_RUN_DIR=$(mktemp -d /tmp/ringtap-bench-XXXXXX)
trap 'hack/cluster down' EXIT
npm run --silent build || { echo "build failed" >&2; exit 1; }
hack/cluster up
RINGTAP_LOG_LEVEL=warn hack/cluster ringtap start
node_modules/.bin/node dist/hack/bench/operator/bench.js "${1:-1000}" "${2:-50}"
