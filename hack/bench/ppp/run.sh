#!/usr/bin/env bash
# PPP relay benchmark (not a test): throughput of ringtap's userspace PppRelay in frames/s and
# CPU seconds of the relay thread per million frames, PPPoE -> L2TP and L2TP -> PPPoE, at 64 and
# 1400-byte frames (the Ethernet frame the generator sends, FCS excluded).
#
# Topology (namespaces removed on exit, also on failure):
#   rtpc<pid> (client, generator) --veth-- rtpr<pid> (relay) --veth, 10.96.0.1/.2, mtu 1600-- rtpl<pid> (LNS)
# The load comes from ringtap's TX_RING sender (hack/bench/capture/ringtap-tx.mjs), a separate
# process pinned to CPU0, as fast as it can; the relay thread is pinned to CPU1. The LNS has a
# UDP socket on 1701 that never reads (so no ICMP comes back); the client side just receives.
# Each line prints the generator's offered rate of the same run and the ratio relay/offered:
# a ratio near 1 means the relay kept up with this generator; below 1 it is the relay's limit
# (the rest is counted as rxOverflow).
#
# Measured on the 2-CPU development VM (kernel 6.18, shared and noisy: offered rates vary
# between runs), two runs each, relay frames/s (CPU s per Mframe of the relay thread):
#                       recvfrom/sendto (before)      recvmmsg/sendmmsg x32 (now)     offered
#   PPPoE->L2TP   64 B  256k, 255k (3.78, 3.73)       278k, 277k (3.46, 3.46)         ~0.9M
#   PPPoE->L2TP 1400 B  243k, 249k (3.80, 3.65)       270k, 280k (3.54, 3.40)         ~0.86M
#   L2TP->PPPoE   64 B  427k, 445k (2.28, 2.12)       398k, 552k (1.70, 1.70)         ~0.5-0.6M
#   L2TP->PPPoE 1400 B  404k, 429k (2.41, 2.26)       584k, 538k (1.63, 1.81)         ~0.57M
# The relay thread is CPU-bound in PPPoE->L2TP: its sendmmsg carries each datagram through UDP,
# IP and the veth into the LNS namespace's receive path, all charged to the relay's CPU here.
# RINGTAP_NATIVE=/path/ringtap_native.node benches another build of the addon (before/after).
#
# Env: SIZES (default "64 1400"), COUNT64 (default 1000000), COUNT1400 (default 300000),
#      DIRS (default "pppoe-to-l2tp l2tp-to-pppoe").
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../../.. && pwd)
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

echo "kernel $(uname -r), $(nproc) CPUs; generator: ringtap TX_RING (CPU0), relay thread on CPU1"
"$NODE" relay-bench.mjs
