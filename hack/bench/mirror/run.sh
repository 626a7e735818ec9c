#!/usr/bin/env bash
# PortMirror benchmark (not a test): throughput and CPU between two pods, with and without an
# active mirror, on the data path the tcmirror driver builds (cls_bpf + act_mirred, installed
# through agent/src/drivers/tcmirror/tc.ts itself).
#
# Topology (like a simulated node): namespace rtmn<pid> (the node: bridge rtmbr, host veths)
# and three pods: rtma<pid> (sender, 10.77.0.2), rtmb<pid> (receiver, 10.77.0.3), rtmc<pid>
# (collector, tcpdump-free: the copies are counted by its veth rx counter).
# The mirror is both directions of the sender's host veth, to the collector's host veth.
#
# Cases: off (no filter), mirror (match-all), mirror-filter (a libpcap filter that matches the
# traffic), mirror-sampled (1 in 100). Per case: a TCP stream (python, 64 KiB writes) for DUR s,
# then 64 B UDP datagrams as fast as one python sender goes; CPU from /proc/stat over the whole
# machine (all cores, so it includes the mirror's softirq work wherever it ran).
# Prints per case: TCP Gbit/s, CPU-seconds per GB moved, UDP kpps, CPU microseconds per UDP
# packet, copies seen by the collector (veth rx counter; a TCP GSO super-packet is one copy),
# and each mirror case's overhead relative to off.
# Env: DUR (s per run, default 5), ROUNDS (default 3; medians are printed).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../../.. && pwd)
NODE=$ROOT/node_modules/.bin/node
DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
N=rtmn$$ A=rtma$$ B=rtmb$$ C=rtmc$$
[ -f "$ROOT/dist/agent/src/drivers/tcmirror/tc.js" ] || { echo "build first: npm run build" >&2; exit 1; }
cleanup() { for ns in $A $B $C $N; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT
for ns in $N $A $B $C; do ip netns add "$ns"; ip -n "$ns" link set lo up; ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n $N link add rtmbr type bridge; ip -n $N link set rtmbr up
i=2
for ns in $A $B $C; do
  ip link add "h$ns" netns $N type veth peer name eth0 netns "$ns"
  ip -n $N link set "h$ns" master rtmbr up
  ip -n "$ns" addr add "10.77.0.$i/24" dev eth0; ip -n "$ns" link set eth0 up
  i=$((i + 1))
done

cpu_busy() { awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
hz=$(getconf CLK_TCK)

tc_mirror() { # FILTER SAMPLING
  ip netns exec $N "$NODE" --input-type=module -e "
    const t = await import('$ROOT/dist/agent/src/drivers/tcmirror/tc.js');
    const prog = t.withSampling(await t.compileBpf(process.argv[1]), Number(process.argv[2]));
    await t.ensureClsact('h$A');
    for (const hook of ['ingress', 'egress'])
      await t.addMirrorFilter({ dev: 'h$A', hook, prio: 16, prog, dest: 'h$C', cookie: '72746170000000000000000000000001' });
  " "$1" "$2"
}
tc_clear() { tc -n $N qdisc del dev "h$A" clsact 2>/dev/null || true; }
copies() { ip -n $C -j -s link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }

tcp_run() {
  ip netns exec $B python3 -c "
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('10.77.0.3',5201)); s.listen(1)
c,_=s.accept(); n=0
while True:
    d=c.recv(1<<20)
    if not d: break
    n+=len(d)
print(n)" > /tmp/rtm-recv.$$ &
  local rp=$!
  sleep 0.3
  read -r b0 t0 < <(cpu_busy)
  ip netns exec $A python3 -c "
import socket,time
s=socket.create_connection(('10.77.0.3',5201)); buf=b'x'*65536; end=time.time()+$DUR
while time.time()<end: s.sendall(buf)
s.close()"
  wait $rp
  read -r b1 t1 < <(cpu_busy)
  local bytes; bytes=$(cat /tmp/rtm-recv.$$); rm -f /tmp/rtm-recv.$$
  python3 -c "
b=$bytes; busy=($b1-$b0)/$hz; tot=($t1-$t0)/$hz
print(f'{b*8/$DUR/1e9:.2f} {busy/(b/1e9):.3f} {100*busy/tot:.1f}')"
}

udp_run() { # 64-byte datagrams, as fast as one python sender goes, for DUR s: "kpps cpu_us_per_packet"
  read -r b0 t0 < <(cpu_busy)
  local n
  n=$(ip netns exec $A python3 -c "
import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); p=b'x'*22; end=time.time()+$DUR; n=0
while time.time()<end:
    for _ in range(1000): s.sendto(p,('10.77.0.3',9))
    n+=1000
print(n)")
  read -r b1 t1 < <(cpu_busy)
  python3 -c "print(f'{$n/$DUR/1000:.0f} {1e6*(($b1-$b0)/$hz)/$n:.2f}')"
}

median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }

CASES="off mirror mirror-filter mirror-sampled"
declare -A GBPS CPG KPPS UPP COPIES
for r in $(seq 1 "$ROUNDS"); do # rounds interleave the cases, so drift hits all alike
  for c in $CASES; do
    tc_clear
    case $c in
      mirror) tc_mirror '' 1 ;;
      mirror-filter) tc_mirror 'tcp port 5201 or udp port 9' 1 ;;
      mirror-sampled) tc_mirror '' 100 ;;
    esac
    c0=$(copies)
    read -r gbps cpg _cpu < <(tcp_run)
    read -r kpps upp < <(udp_run)
    c1=$(copies)
    GBPS[$c]+=" $gbps"; CPG[$c]+=" $cpg"; KPPS[$c]+=" $kpps"; UPP[$c]+=" $upp"; COPIES[$c]+=" $((c1 - c0))"
  done
done
tc_clear
printf '%-16s %11s %13s %9s %12s %14s\n' case tcp_Gbit/s cpu_s_per_GB udp_kpps cpu_us_per_pkt copies/round
declare -A MG MC MK MU
for c in $CASES; do
  # shellcheck disable=SC2086
  MG[$c]=$(median ${GBPS[$c]}); MC[$c]=$(median ${CPG[$c]}); MK[$c]=$(median ${KPPS[$c]}); MU[$c]=$(median ${UPP[$c]})
  # shellcheck disable=SC2086
  printf '%-16s %11s %13s %9s %12s %14s\n' "$c" "${MG[$c]}" "${MC[$c]}" "${MK[$c]}" "${MU[$c]}" "$(median ${COPIES[$c]})"
done
for c in mirror mirror-filter mirror-sampled; do
  python3 -c "print(f'overhead $c vs off: tcp throughput {100*(${MG[$c]}/${MG[off]}-1):+.1f}%, CPU per GB {100*(${MC[$c]}/${MC[off]}-1):+.1f}%, CPU per 64 B packet {100*(${MU[$c]}/${MU[off]}-1):+.1f}% (Kube-OVN states 5-10% CPU)')"
done
