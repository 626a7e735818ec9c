#!/usr/bin/env bash
# hack/jest.sh PROJECT [jest args...]: one jest project on the project's Node, ESM mode.
# Positional arguments (test path patterns) come before --selectProjects, which would
# otherwise take them for more project names.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$1; shift
extra=()
[ "$project" = unit ] || extra=(--runInBand)
exec node_modules/.bin/node --experimental-vm-modules --disable-warning=ExperimentalWarning \
  node_modules/jest/bin/jest.js "$@" "${extra[@]}" --selectProjects "$project"
