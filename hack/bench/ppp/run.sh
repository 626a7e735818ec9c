#!/usr/bin/env bash
# PPP bridge benchmark (not a test): ringtap's kernel bridge (PPPIOCBRIDGECHAN) against its
# userspace relay (PppRelay), in the same machine and run: frames/s and CPU per frame,
# PPPoE -> L2TP and L2TP -> PPPoE, at 64 and 1400-byte frames (the Ethernet frame the generator
# sends, FCS excluded), and the ratio kernel/userspace.
#
# Where: in a qemu guest under a stock Debian kernel (hack/guest: this host's kernel has no PPP),
# so both modes run on the same kernel. Under TCG the absolute figures mean little (every guest
# instruction is emulated); the ratio is what counts. GUEST=0 runs on this machine instead
# (MODES=userspace where its kernel has no PPP).
#
# Topology (namespaces removed on exit, also on failure):
#   rtpc<pid> (client, generator) --veth-- rtpr<pid> (bridge) --veth, 10.96.0.1/.2, mtu 1600-- rtpl<pid> (LNS)
# The load comes from ringtap's TX_RING sender (hack/bench/capture/ringtap-tx.mjs), a separate
# process pinned to CPU0, as fast as it can; the relay thread is pinned to CPU1 (the kernel
# bridge runs in the receive softirq, on the generator's CPU). The LNS has a UDP socket on 1701
# that never reads (so no ICMP comes back); the client side just receives.
#
# Measured in the guest (6.1.0-57-amd64, TCG, 2 vCPUs, on the 2-CPU development VM at load ~18),
# COUNT64=COUNT1400=20000; CPU = all CPUs' busy time (generator included) per forwarded frame:
#   direction      size   kernel fps (fwd)   CPU us   userspace fps (fwd)   CPU us  fps k/u  CPU k/u
#   PPPoE->L2TP    64 B    5247 (20000/20000)   257     13269 ( 5899/20000)   436    0.40     0.59
#   PPPoE->L2TP  1400 B    1780 (20000/20000)   416      1432 ( 6943/20000)   688    1.24     0.60
#   L2TP->PPPoE    64 B   20933 (20000/20000)    94      2606 (11640/20000)   489    8.03     0.19
#   L2TP->PPPoE  1400 B    7397 (20000/20000)   180      2825 ( 8815/20000)   528    2.62     0.34
# Read the CPU ratio first: the kernel bridge forwards in the receive softirq of the generator's
# own CPU, so its frames/s is the generator's (slowed by that work), with no frame lost; the relay
# has a CPU of its own but lost 30-70% of what was offered (rxOverflow).
#
# Measured on the 2-CPU development VM itself (kernel 6.18, userspace relay only), relay
# frames/s (CPU s per Mframe of the relay thread), recvmmsg/sendmmsg x32:
#   PPPoE->L2TP 64 B 278k (3.46), 1400 B 270k-280k (3.4-3.5); L2TP->PPPoE 64 B 398k-552k (1.70),
#   1400 B 538k-584k (1.63-1.81); offered ~0.5-0.9M.
# RINGTAP_NATIVE=/path/ringtap_native.node benches another build of the addon (before/after).
#
# Env: SIZES (default "64 1400"), COUNT64 (default 1000000; 20000 in the guest), COUNT1400
#      (default 300000; 20000 in the guest), DIRS (default "pppoe-to-l2tp l2tp-to-pppoe"),
#      MODES (default "kernel userspace"), GUEST (default 1).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../../.. && pwd)
if [ -z "${RINGTAP_GUEST:-}" ] && [ "${GUEST:-1}" != 0 ]; then
  export COUNT64=${COUNT64:-20000} COUNT1400=${COUNT1400:-20000}
  exec "$ROOT/hack/guest" run --timeout 3600 --modprobe "pppoe l2tp_ppp l2tp_netlink" \
    --env SIZES --env COUNT64 --env COUNT1400 --env DIRS --env MODES --env RINGTAP_NATIVE -- bash "$PWD/run.sh"
fi
export NODE=$ROOT/node_modules/.bin/node
export NS_CLIENT=rtpc$$ NS_RELAY=rtpr$$ NS_LNS=rtpl$$
export CLIENT_IF=pc$$ RELAY_DOWN=prd$$ RELAY_UP=pru$$ LNS_IF=pl$$
export RELAY_IP=10.96.0.1 LNS_IP=10.96.0.2
SINK_PID=

cleanup() {
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  for ns in "$NS_CLIENT" "$NS_RELAY" "$NS_LNS"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for ns in "$NS_CLIENT" "$NS_RELAY" "$NS_LNS"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$CLIENT_IF" netns "$NS_CLIENT" type veth peer name "$RELAY_DOWN" netns "$NS_RELAY"
ip link add "$RELAY_UP" netns "$NS_RELAY" type veth peer name "$LNS_IF" netns "$NS_LNS"
for x in "$NS_CLIENT $CLIENT_IF" "$NS_RELAY $RELAY_DOWN" "$NS_RELAY $RELAY_UP" "$NS_LNS $LNS_IF"; do
  set -- $x
  ip netns exec "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
  ip -n "$1" link set "$2" up
done
ip -n "$NS_RELAY" link set "$RELAY_UP" mtu 1600
ip -n "$NS_LNS" link set "$LNS_IF" mtu 1600
ip -n "$NS_RELAY" addr add "$RELAY_IP/30" dev "$RELAY_UP"
ip -n "$NS_LNS" addr add "$LNS_IP/30" dev "$LNS_IF"
# Static neighbours: no ARP in the measurement.
mac() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
export CLIENT_MAC=$(mac "$NS_CLIENT" "$CLIENT_IF") RELAY_DOWN_MAC=$(mac "$NS_RELAY" "$RELAY_DOWN")
export RELAY_UP_MAC=$(mac "$NS_RELAY" "$RELAY_UP") LNS_MAC=$(mac "$NS_LNS" "$LNS_IF")
ip -n "$NS_RELAY" neigh replace "$LNS_IP" lladdr "$LNS_MAC" dev "$RELAY_UP"
ip -n "$NS_LNS" neigh replace "$RELAY_IP" lladdr "$RELAY_UP_MAC" dev "$LNS_IF"
# The LNS: a bound UDP socket that never reads (the kernel drops once its buffer is full).
ip netns exec "$NS_LNS" python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],1701)); time.sleep(86400)' "$LNS_IP" &
SINK_PID=$!

echo "kernel $(uname -r), $(nproc) CPUs; generator: ringtap TX_RING (CPU0), relay thread on CPU1, kernel bridge in softirq"
"$NODE" relay-bench.mjs
