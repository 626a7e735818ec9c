#!/usr/bin/env bash
# Runs every check and test: setup (installs what is missing), type-check, lint, then the
# unit, integration, e2e and guest (inside a qemu guest) jest projects. Ends with one line
# `N passed, N failed, N skipped`.
set -uo pipefail
cd "$(dirname "$0")/.."

# A fresh setup must leave the checkout as it found it (no rewritten lockfile, no regenerated
# file that differs from the committed one): compare the tracked files before and after.
tracked() { git diff HEAD --binary 2>/dev/null | sha1sum; }
in_git=false
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=true
if $in_git; then before=$(tracked); fi
bash hack/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
if $in_git && [ "$(tracked)" != "$before" ]; then
  echo "FAILED: setup changed tracked files:" >&2
  git diff HEAD --stat >&2
  echo "0 passed, 1 failed"
  exit 1
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
step() { # step NAME CMD...: a non-test check; counts as one failed test when it fails
  local name=$1; shift
  echo "=== $name"
  if ! "$@"; then echo "FAILED: $name"; echo 1 >"$results/$name.fail"; status=1; fi
}
jest_project() {
  local p=$1; shift
  echo "=== jest: $p"
  if [ "$p" = guest ]; then bash hack/jest-guest.sh --json --outputFile="$results/$p.json" "$@" || status=1
  else npm run --silent "test:$p" -- --json --outputFile="$results/$p.json" "$@" || status=1; fi
  [ -s "$results/$p.json" ] || { echo 1 >"$results/$p.fail"; status=1; }
}

step typecheck npm run --silent typecheck
step lint npm run --silent lint
jest_project unit
jest_project integration
jest_project e2e
jest_project realnode
jest_project guest

node_modules/.bin/node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
let passed = 0, failed = 0, skipped = 0;
for (const f of fs.readdirSync(dir)) {
  if (f.endsWith(".fail")) { failed += 1; continue; }
  const r = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  passed += r.numPassedTests; failed += r.numFailedTests + (r.numRuntimeErrorTestSuites || 0);
  skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results"
exit $status
