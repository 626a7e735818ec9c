#!/usr/bin/env bash
# The demo: a local Kubernetes control plane with two simulated nodes and three pods of an
# app spread over them, then the chart installed with helm on a real kubelet + containerd node.
# Installs what it needs first (hack/setup.sh).
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
hack/cluster kubectl get nodes -L ringtap.dev/tpacket-v3,ringtap.dev/tc-mirror,ringtap.dev/ppp-kernel-bridge

# A user of the demo namespace who may create captures and download them (ringtap-edit and
# ringtap-view), with a token kubeconfig: downloads are authorized for the user's own token.
hack/cluster kubectl create serviceaccount analyst -n demo >/dev/null
hack/cluster kubectl create rolebinding analyst-edit -n demo --clusterrole=ringtap-edit --serviceaccount=demo:analyst >/dev/null
hack/cluster kubectl create rolebinding analyst-view -n demo --clusterrole=ringtap-view --serviceaccount=demo:analyst >/dev/null
eval "$(hack/cluster env)"
USER_KUBECONFIG=$RINGTAP_RUN_DIR/analyst.kubeconfig
kubectl config view --raw --minify > "$USER_KUBECONFIG"
kubectl --kubeconfig "$USER_KUBECONFIG" config set-credentials analyst --token="$(kubectl create token analyst -n demo --duration=24h)" >/dev/null
kubectl --kubeconfig "$USER_KUBECONFIG" config set-context --current --user=analyst --namespace=demo >/dev/null
chmod 600 "$USER_KUBECONFIG"

# Capture the app's ICMP echo traffic for 15 seconds, on every node that runs one of its pods.
echo
echo "$ kubectl ringtap capture web-echo --selector app=web --filter '...echo...' --duration 15s"
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap capture web-echo --selector app=web \
  --filter 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply' --duration 15s

# Wait until every agent has attached its pods, then make traffic from the client pod.
for _ in $(seq 150); do
  attached=$(kubectl get nodetasks -n ringtap-system -l ringtap.dev/parent-namespace=demo -o jsonpath='{range .items[*]}{range .status.targets[*]}{.state}{"\n"}{end}{end}' 2>/dev/null | grep -c '^Attached$' || true)
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
echo "$ kubectl ringtap status web-echo --watch     (the capture ends itself after 15 s)"
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap status web-echo --watch
echo
kubectl get ringtap -A
echo
echo "$ kubectl ringtap fetch web-echo -o web-echo.pcapng"
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap fetch web-echo -o "$RINGTAP_RUN_DIR/web-echo.pcapng"
echo
echo "The merged file, read with tshark: packets per node/pod/interface"
tshark -r "$RINGTAP_RUN_DIR/web-echo.pcapng" -T fields -e frame.interface_description 2>/dev/null | sort | uniq -c | sed 's/^/  /'
echo "and the first packets, in time order across both nodes:"
tshark -r "$RINGTAP_RUN_DIR/web-echo.pcapng" -c 6 2>/dev/null | sed 's/^/  /'
# IPAMonitor: a third node with (simulated) Qualcomm IPA hardware. Its agent finds a monitor
# device and the ipa platform device's version where RINGTAP_IPA_* point it (a FIFO fed by
# hack/ipa-sim stands in for /dev/qcom_ipa0_monitor) and labels the node ringtap.dev/ipa=true.
echo
echo "IPAMonitor: node modem-1 with a simulated IPA v4.9 and its monitor stream"
IPA_DIR=$RINGTAP_RUN_DIR/ipa-modem-1
rm -rf "$IPA_DIR"
mkdir -p "$IPA_DIR/dev" "$IPA_DIR/sys/1e40000.ipa" "$RINGTAP_RUN_DIR/agent-env"
echo 4.9 >"$IPA_DIR/sys/1e40000.ipa/version"
mkfifo "$IPA_DIR/ipa.fifo"
cat >"$RINGTAP_RUN_DIR/agent-env/modem-1.env" <<ENV
RINGTAP_IPA_DEV_DIR=$IPA_DIR/dev
RINGTAP_IPA_SYSFS_DIR=$IPA_DIR/sys
RINGTAP_IPA_SOURCE=$IPA_DIR/ipa.fifo
RINGTAP_IPA_FORMAT=status
RINGTAP_IPA_ENDPOINT_NAMES=3=AP_LAN_RX,12=MODEM_TX,13=MODEM_RX,20=WLAN_RX,21=WLAN_TX,24=PCIE_RX
ENV
hack/cluster node add modem-1
for _ in $(seq 150); do
  [ "$(kubectl get node modem-1 -o jsonpath='{.metadata.labels.ringtap\.dev/ipa}')" = true ] && break
  sleep 0.2
done
kubectl get nodes -L ringtap.dev/ipa,ringtap.dev/ipa-version
echo
echo "$ kubectl apply -f - (IPAMonitor modem-traffic: metrics every 2 s, pcapng flight recorder)"
kubectl apply -f - <<'YAML'
apiVersion: ringtap.dev/v1alpha1
kind: IPAMonitor
metadata:
  name: modem-traffic
spec:
  metricsInterval: 2s
  capture:
    enabled: true
    rotation: { fileSize: 1Mi }
    retention: { maxFiles: 5 }
YAML
for _ in $(seq 150); do
  [ "$(kubectl get nodetasks -n ringtap-system -l ringtap.dev/parent-kind=IPAMonitor -o jsonpath='{.items[*].status.phase}')" = Running ] && break
  sleep 0.2
done
# The simulator writes a known mix (endpoint pairs, opcodes, exceptions, truncated packets and
# malformed records) into the FIFO and prints the counts the status must show.
node_modules/.bin/node dist/hack/ipa-sim/main.js --format status --version 4.9 --out "$IPA_DIR/ipa.fifo" \
  --repeat 3 --expected "$IPA_DIR/expected.json"
want=$(jq .expected.records "$IPA_DIR/expected.json")
for _ in $(seq 150); do
  [ "$(kubectl get ipamonitor modem-traffic -o jsonpath='{.status.totals.records}')" = "$want" ] && break
  sleep 0.2
done
echo
kubectl get ipamonitor modem-traffic
echo "The traffic matrix (records, bytes) in its status; the simulator sent $want records:"
kubectl get ipamonitor modem-traffic -o json |
  jq -r '.status.matrix[] | "  \(.from) -> \(.to): \(.records) records, \(.bytes) bytes"' | head -8
echo "exceptions: $(kubectl get ipamonitor modem-traffic -o json | jq -c '[.status.byException[] | {(.name): .records}] | add')"
echo "malformed input, counted and skipped: $(kubectl get ipamonitor modem-traffic -o json | jq -c '.status.decodeErrors')"
IPA_FILE=$(ls "$RINGTAP_RUN_DIR"/agent-data/modem-1/_cluster/ipamonitor/modem-traffic/modem-1/*.pcapng 2>/dev/null | head -1 || true)
if [ -n "$IPA_FILE" ]; then
  echo "and its pcapng (raw IP, the decoded IPA header in each packet, shown by cli/wireshark/ringtap_ipa.lua):"
  tshark -X lua_script:cli/wireshark/ringtap_ipa.lua -r "$IPA_FILE" -c 4 \
    -T fields -e frame.number -e _ws.col.Source -e _ws.col.Destination -e _ws.col.Protocol -e ringtap_ipa.opcode_name -e ringtap_ipa.exception_name -e ringtap_ipa.src -e ringtap_ipa.dst 2>/dev/null | sed 's/^/  /'
fi

# Part 2: ringtap as users install it. The process operator and agents make way for the chart:
# helm installs it, with the image hack/build-image.sh built without Docker or a registry, onto
# a real node (kubelet, kube-proxy and containerd in its own namespace), where it captures pods
# of a test-app image that run as a non-root user, with the chart's default privileges.
echo
echo "Part 2: the chart on a real kubelet + containerd node (the first run builds kubelet and the images: several minutes)"
kubectl delete ipamonitor modem-traffic --ignore-not-found >/dev/null
hack/cluster ringtap stop
node_modules/.bin/node dist/hack/print-rbac.js ringtap-system | kubectl delete -f - --ignore-not-found >/dev/null
hack/cluster node add --real node-r
hack/cluster ringtap install 2>&1 | tail -n 1
kubectl get nodes -L ringtap.dev/node-kind
kubectl -n ringtap-system get pods -o wide
kubectl create namespace shop >/dev/null
for p in web-1:web web-2:web client:client; do
  kubectl apply -f - >/dev/null <<JSON
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "${p%%:*}", "namespace": "shop", "labels": {"app": "${p#*:}"}},
 "spec": {"nodeSelector": {"ringtap.dev/node-kind": "real"}, "automountServiceAccountToken": false, "terminationGracePeriodSeconds": 1,
  "containers": [{"name": "app", "image": "localhost/ringtap/testapp:dev", "imagePullPolicy": "Never"}]}}
JSON
done
kubectl wait --for=condition=Ready pod --all -n shop --timeout=120s >/dev/null
kubectl get pods -n shop -o wide
echo "the test app runs as: $(kubectl exec -n shop web-1 -- id)"
hack/cluster kubectl create rolebinding analyst-edit -n shop --clusterrole=ringtap-edit --serviceaccount=demo:analyst >/dev/null
hack/cluster kubectl create rolebinding analyst-view -n shop --clusterrole=ringtap-view --serviceaccount=demo:analyst >/dev/null
echo
echo "$ kubectl ringtap capture shop-echo -n shop --selector app=web --filter '...echo...' --duration 15s"
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap capture shop-echo -n shop --selector app=web \
  --filter 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply' --duration 15s
for _ in $(seq 150); do
  attached=$(kubectl get nodetasks -n ringtap-system -l ringtap.dev/parent-namespace=shop -o jsonpath='{range .items[*]}{range .status.targets[*]}{.state}{"\n"}{end}{end}' 2>/dev/null | grep -c '^Attached$' || true)
  [ "$attached" -ge 2 ] && break
  sleep 0.2
done
for p in web-1 web-2; do
  kubectl exec -n shop client -- ping -q -c 5 -i 0.2 "$(kubectl get pod -n shop "$p" -o jsonpath='{.status.podIP}')" >/dev/null
done
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap status shop-echo -n shop --watch
KUBECONFIG=$USER_KUBECONFIG kubectl ringtap fetch shop-echo -n shop -o "$RINGTAP_RUN_DIR/shop-echo.pcapng"
echo "The file from the real node, read with tshark: packets per pod"
tshark -r "$RINGTAP_RUN_DIR/shop-echo.pcapng" -T fields -e frame.interface_description 2>/dev/null | sort | uniq -c | sed 's/^/  /'

cat <<TXT

The IPAMonitor modem-traffic decoded the simulated IPA stream on modem-1 and reported every
record, exception and malformed run in its status; delete it with
  kubectl delete ipamonitor modem-traffic

The PacketCapture web-echo ran on both nodes: the operator placed one NodeTask per node, each
agent captured its pods' eth0 inside their network namespaces through TPACKET_V3 rings, kept
only what the filter matched (the UDP noise is not there), stopped after 15 s and reported its
counts; kubectl ringtap fetch downloaded every node's files through the API server (as the
analyst, whose token the agents checked) and merged them into one file in time order:
  $RINGTAP_RUN_DIR/web-echo.pcapng

Part 2 ran the same capture as users run it: the chart's agent (a DaemonSet pod with NET_RAW,
NET_ADMIN and SYS_ADMIN only) on the real node node-r entered the test app's pods, whose
processes run as 65532, through the network namespaces containerd pins under /run/netns
(README, "Security model"), and the file came through the data API of the chart's operator:
  $RINGTAP_RUN_DIR/shop-echo.pcapng

Try more:

  eval "\$(hack/cluster env)"                       # KUBECONFIG, kubectl and kubectl-ringtap on PATH
  export KUBECONFIG=$USER_KUBECONFIG   # the analyst
  kubectl ringtap capture live --selector app=web --duration 2m
  kubectl ringtap stream live | tshark -r -         # live, merged across nodes; in another shell, traffic:
  ip netns exec $client_ns ping 10.$((128 + $(grep '^CLUSTER_INDEX=' "$RINGTAP_RUN_DIR/cluster.env" | cut -d= -f2))).1.2
  kubectl get ringtap -A; kubectl explain packetcapture.spec.limits
  hack/cluster status                               # processes, nodes and pods (logs in $RINGTAP_RUN_DIR/logs)
  hack/cluster down                                 # stop everything and remove all state
TXT
