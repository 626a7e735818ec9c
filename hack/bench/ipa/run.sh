#!/usr/bin/env bash
# IPA decode benchmark (not a test): records/s of the walker alone, with stats, and with
# pcapng writing, per format. Env: RECORDS (per format, default 300000), WORK (directory on the
# filesystem under test for the pcapng files, default /tmp).
set -euo pipefail
cd "$(dirname "$0")/../../.."
node_modules/.bin/tsc -p tsconfig.json
exec node_modules/.bin/node dist/hack/bench/ipa/bench.js "${RECORDS:-300000}" "${WORK:-/tmp}"
