#!/usr/bin/env bash
# The demo: a local Kubernetes control plane with two simulated nodes and three pods of an
# app spread over them. Installs what it needs first (hack/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
export RINGTAP_RUN_DIR=${RINGTAP_RUN_DIR:-$PWD/.run/cluster}

hack/cluster down
hack/cluster up
hack/cluster node add node-a
hack/cluster node add node-b
hack/cluster pod add node-a demo web-1 app=web
hack/cluster pod add node-b demo web-2 app=web
hack/cluster pod add node-a demo web-3 app=web
hack/cluster pod add node-b demo client app=client

echo
hack/cluster kubectl get nodes,pods -A -o wide

# ringtap: the operator and one agent per node, as processes under their own ServiceAccounts.
hack/cluster ringtap start
for _ in $(seq 100); do
  [ -n "$(hack/cluster kubectl get node node-b -o jsonpath='{.metadata.labels.ringtap\.dev/tpacket-v3}')" ] && break
  sleep 0.1
done
echo
echo "Node capabilities the agents found:"
hack/cluster kubectl get nodes -L ringtap.dev/tpacket-v3,ringtap.dev/af-xdp,ringtap.dev/tc-mirror,ringtap.dev/ppp-kernel-bridge

# Capture the app's ICMP echo traffic for 15 seconds, on every node that runs one of its pods.
hack/cluster kubectl apply -f - <<'YAML'
apiVersion: ringtap.dev/v1alpha1
kind: PacketCapture
metadata:
  name: web-echo
  namespace: demo
spec:
  targets:
    pods:
      selector:
        matchLabels: { app: web }
  filter: icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply
  limits:
    duration: 15s
YAML

# Wait until every agent has attached its pods, then make traffic from the client pod.
for _ in $(seq 150); do
  attached=$(hack/cluster kubectl get nodetasks -n demo -o jsonpath='{range .items[*]}{range .status.targets[*]}{.state}{"\n"}{end}{end}' 2>/dev/null | grep -c '^Attached$' || true)
  [ "$attached" -ge 3 ] && break
  sleep 0.2
done
client_ns=$(grep '^POD_NETNS=' "$RINGTAP_RUN_DIR/pods/demo_client.env" | cut -d= -f2)
for p in web-1 web-2 web-3; do
  ip=$(grep '^POD_IP=' "$RINGTAP_RUN_DIR/pods/demo_$p.env" | cut -d= -f2)
  ip netns exec "$client_ns" ping -q -c 5 -i 0.2 "$ip" >/dev/null
  # UDP noise that the filter keeps out of the files.
  ip netns exec "$client_ns" python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b'x', ('$ip', 9)) for _ in range(20)]"
done
echo
echo "Capturing; the capture ends itself after 15 s..."
hack/cluster kubectl wait packetcapture/web-echo -n demo --for=jsonpath='{.status.phase}'=Completed --timeout=90s >/dev/null
echo
hack/cluster kubectl get ringtap -A
echo
echo "Per-node files (read with tshark), packets per pod interface:"
for f in $(find "$RINGTAP_RUN_DIR/agent-data" -path '*/demo/web-echo/*' -name '*.pcapng' | sort); do
  echo "  $f"
  tshark -r "$f" -T fields -e frame.interface_description 2>/dev/null | sort | uniq -c | sed 's/^/    /'
done
cat <<TXT

The PacketCapture web-echo ran on both nodes: the operator placed one NodeTask per node, each
agent captured its pods' eth0 inside their network namespaces through TPACKET_V3 rings, kept
only the packets the filter matched (the UDP noise is not in the files), stopped after 15 s and
reported its counts into the capture's status (kubectl get ringtap above).

Use the cluster with:

  eval "\$(hack/cluster env)"      # KUBECONFIG and the matching kubectl on PATH
  kubectl get ringtap -A           # every ringtap resource with its printer columns
  kubectl describe packetcapture web-echo -n demo
  kubectl explain packetcapture.spec.limits
  hack/cluster status              # processes, nodes and pods of this run (logs in $RINGTAP_RUN_DIR/logs)
  hack/cluster down                # stop everything and remove all state
TXT
