#!/usr/bin/env bash
# hack/jest-guest.sh [jest args...]: the `guest` jest project (test/guest/**), run INSIDE a qemu
# guest booted from a stock Debian kernel (hack/guest), for kernel paths this host lacks (PPP,
# PPPoE, L2TP, ...). Jest itself runs in the guest; --outputFile's directory is shared
# read-write, so `--json --outputFile=DIR/x.json` comes back to the host like any project's.
# Where no guest can be had (no qemu, no kernel package: `hack/guest check` exits 3) the project
# runs on the host with RINGTAP_GUEST_SKIP=<reason>, and its tests report `skipped: <reason>`.
#
# Env: RINGTAP_GUEST_KERNEL (6.1 | 6.12, default 6.1), RINGTAP_GUEST_TIMEOUT (whole run, s;
# default 1800). Jest's cache lives in ${RINGTAP_CACHE:-~/.cache/ringtap}/guest/jest-cache
# (shared read-write): a fresh tmpfs would transpile every file again under TCG.
set -uo pipefail
cd "$(dirname "$0")/.."

# The kernel modules every guest test may need, loaded before jest starts.
MODULES="pppoe l2tp_ppp l2tp_netlink"

rw=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --outputFile=*) rw+=(--rw "$(dirname "${args[i]#*=}")") ;;
    --outputFile) rw+=(--rw "$(dirname "${args[i + 1]}")") ;;
  esac
done

rc=0
out=$(hack/guest check 2>&1) || rc=$?
if [ "$rc" -eq 3 ]; then
  reason=$(printf '%s\n' "$out" | tail -1)
  export RINGTAP_GUEST_SKIP=${reason#guest: unavailable: }
  exec bash hack/jest.sh guest "$@"
elif [ "$rc" -ne 0 ]; then
  printf '%s\n' "$out" >&2
  exit 1
fi

cache=${RINGTAP_CACHE:-$HOME/.cache/ringtap}/guest/jest-cache
mkdir -p "$cache"
exec hack/guest run --timeout "${RINGTAP_GUEST_TIMEOUT:-1800}" --modprobe "$MODULES" --rw "$cache" "${rw[@]}" \
  -- bash hack/jest.sh guest --cacheDirectory "$cache" --no-watchman "$@"
