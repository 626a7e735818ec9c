#!/usr/bin/env bash
# IPA decode benchmark (not a test): records/s of the walker alone, with stats, and with
# pcapng writing, per format; the driver's FIFO path on the main thread and in its worker; and
# records/s per source (file, FIFO, character device, network device through the ring engine).
# Env: RECORDS (per format, default 300000), WORK (directory on the filesystem under test for the
# pcapng files, default /tmp), SOURCES=0 (skip the per-source part; the network device needs
# root), ONLY=sources (run only it).
set -euo pipefail
cd "$(dirname "$0")/../../.."
node_modules/.bin/tsc -p tsconfig.json
exec node_modules/.bin/node dist/hack/bench/ipa/bench.js "${RECORDS:-300000}" "${WORK:-/tmp}"
