#!/usr/bin/env bash
# Lays out the container image's file tree in a directory: exactly what the Dockerfile's build
# stage copies into the runtime image (the Dockerfile runs this script). CI builds it without
# Docker and test/unit/chart/image-root.test.ts checks it.
#
#   bash hack/build-image-root.sh [OUT]      default OUT: build/image-root
#
# Needs the TypeScript build (npm run build) and the native addon (npm run build:native).
# OUT/opt/ringtap        package.json, dist/ (operator, agent, cli, lib, crds: .js only), node_modules/
#                        (production dependencies and the native addon, nothing else)
# OUT/usr/local/bin      ringtap (entrypoint: operator|agent|cli), kubectl-ringtap
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/image-root}
NODE=${NODE:-node_modules/.bin/node}
[ -x "$NODE" ] || NODE=node

for f in dist/operator/src/main.js dist/agent/src/main.js dist/cli/src/main.js agent/native/build/Release/ringtap_native.node; do
  [ -f "$f" ] || { echo "build-image-root: $f is missing (npm run build && npm run build:native)" >&2; exit 1; }
done

rm -rf "$OUT"
app="$OUT/opt/ringtap"
mkdir -p "$app/dist" "$app/node_modules" "$OUT/usr/local/bin"

# Runtime package.json: ESM, the version, the production dependencies; no scripts.
"$NODE" -e '
const p = require("./package.json");
const out = { name: p.name, version: p.version, private: true, type: p.type, license: p.license,
  dependencies: { ...p.dependencies, "@ringtap/native": "file:agent/native" } };
process.stdout.write(JSON.stringify(out, null, 2) + "\n");' >"$app/package.json"

# The compiled programs, without source maps (their sources are not in the image).
for d in operator/src agent/src crds/src cli/src lib; do
  (cd dist && find "$d" -name '*.js' -print0) | while IFS= read -r -d '' f; do
    mkdir -p "$app/dist/$(dirname "$f")"
    cp "dist/$f" "$app/dist/$f"
  done
done

# Production dependencies, as npm resolved them (paths relative to node_modules/).
npm ls --omit=dev --all --parseable 2>/dev/null | sed -n "s|^$PWD/node_modules/||p" | sort -u | while read -r rel; do
  case "$rel" in
    @ringtap/native) continue ;;        # a workspace symlink; copied below
    */node_modules/*) ;;                # nested: copied with its parent
  esac
  [ -e "$app/node_modules/$rel" ] && continue
  mkdir -p "$app/node_modules/$(dirname "$rel")"
  cp -a "node_modules/$rel" "$app/node_modules/$rel"
done

# The native addon: the loader and the compiled module, not its sources or objects.
native="$app/node_modules/@ringtap/native"
mkdir -p "$native/build/Release"
cp agent/native/package.json agent/native/index.cjs "$native/"
cp agent/native/build/Release/ringtap_native.node "$native/build/Release/"
"$NODE" -e '
const f = process.argv[1]; const p = require(f); delete p.scripts; delete p.dependencies;
require("fs").writeFileSync(f, JSON.stringify(p, null, 2) + "\n");' "$(cd "$native" && pwd)/package.json"

# No tests, maps, TypeScript sources or docs of dependencies that would only grow the image.
find "$app/node_modules" \( -name '*.map' -o -name '*.ts' -o -name '*.md' -o -name '*.test.js' -o -name '__tests__' -o -name test -o -name tests \) -prune -exec rm -rf {} + 2>/dev/null || true

install -m 0755 hack/image/ringtap "$OUT/usr/local/bin/ringtap"
printf '#!/bin/sh\nexec /usr/local/bin/ringtap cli "$@"\n' >"$OUT/usr/local/bin/kubectl-ringtap"
chmod 0755 "$OUT/usr/local/bin/kubectl-ringtap"
echo "image root in $OUT: $(du -sh "$OUT" | cut -f1)"
