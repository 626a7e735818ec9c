// Bad objects are rejected by the real API server at apply time, and every rejection says
// which field is wrong and what is allowed. Each case starts from a valid example, breaks
// one thing, and asserts substrings of the server's message: the field path first, then
// the allowed values or the rule.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { installCRDs } from '../../support/crds.js';
import { adminConfig, apiMessage, createNamespace, deleteNamespace, uniqueName } from '../../support/kube.js';
import { isNamespaced, loadExample, Objects, type Obj } from './objects.js';

type Mutation = (o: Obj) => void;

interface BadCase {
  /** What is wrong, in words. */
  what: string;
  /** The example the case starts from. */
  base: string;
  /** Breaks the object before it is created... */
  create?: Mutation;
  /** ...or after a valid create, on update (immutable fields), or on the status subresource. */
  update?: Mutation;
  status?: Mutation;
  /** Substrings of the server's message: the field path, then what is allowed. */
  expect: string[];
}

// Paths into the plain objects under test.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const spec = (o: Obj): Any => o.spec;

const PC = 'packetcapture-dns-debug.yaml';
const PC_NODE = 'packetcapture-node-flight-recorder.yaml';
const PM = 'portmirror-web-to-ids.yaml';
const PM_VXLAN = 'portmirror-remote-vxlan.yaml';
const PM_ERSPAN = 'portmirror-erspan.yaml';
const PB = 'pppbridge-pppoe-to-l2tp.yaml';
const IPA = 'ipamonitor-with-capture.yaml';
const NT = 'nodetask-packetcapture.yaml';
const NT_PPP = 'nodetask-pppbridge.yaml';

const cases: BadCase[] = [
  // ---- PacketCapture ------------------------------------------------------------------
  { what: 'capture with no targets', base: PC, create: (o) => { spec(o).targets = {}; }, expect: ['spec.targets', 'set targets.pods, targets.nodes or both'] },
  {
    what: 'capture with an empty pod selector {} (would match every pod)',
    base: PC,
    create: (o) => { spec(o).targets.pods = { selector: {} }; },
    expect: ['spec.targets.pods', 'non-empty selector', 'names, or with all: true'],
  },
  {
    what: 'capture with an empty matchLabels map',
    base: PC,
    create: (o) => { spec(o).targets.pods = { selector: { matchLabels: {} } }; },
    expect: ['spec.targets.pods', 'an empty selector would match every pod in the namespace'],
  },
  {
    what: 'capture with all: true and a selector',
    base: PC,
    create: (o) => { spec(o).targets.pods.all = true; },
    expect: ['spec.targets.pods', 'cannot be combined with selector or names'],
  },
  {
    what: 'capture with no limit at all',
    base: PC,
    create: (o) => { delete spec(o).limits; },
    expect: ['spec.limits', 'a capture must be bounded', 'limits.duration, limits.maxPackets or limits.maxBytes', 'retention.maxFiles or retention.maxTotalBytes'],
  },
  {
    what: 'capture with empty limits',
    base: PC,
    create: (o) => { spec(o).limits = {}; },
    expect: ['spec.limits', 'set at least one of duration, maxPackets or maxBytes'],
  },
  {
    what: 'flight recorder bounded only by age',
    base: PC_NODE,
    create: (o) => { spec(o).retention = { maxAge: '1h' }; },
    expect: ['spec.limits', 'a capture must be bounded'],
  },
  {
    what: 'retention without rotation',
    base: PC,
    create: (o) => { spec(o).retention = { maxFiles: 3 }; },
    expect: ['spec.retention', 'retention requires rotation'],
  },
  { what: 'snapLength 0', base: PC, create: (o) => { spec(o).snapLength = 0; }, expect: ['spec.snapLength', 'should be greater than or equal to 1'] },
  { what: 'snapLength above 262144', base: PC, create: (o) => { spec(o).snapLength = 262145; }, expect: ['spec.snapLength', 'should be less than or equal to 262144'] },
  { what: 'snapLength of the wrong type', base: PC, create: (o) => { spec(o).snapLength = 'all'; }, expect: ['spec.snapLength', 'must be of type integer'] },
  {
    what: 'duration that is not a Go duration',
    base: PC,
    create: (o) => { spec(o).limits.duration = '5 minutes'; },
    expect: ['spec.limits.duration', 'should match', '(ns|us|µs|ms|s|m|h)'],
  },
  { what: 'maxPackets 0', base: PC, create: (o) => { spec(o).limits.maxPackets = 0; }, expect: ['spec.limits.maxPackets', 'should be greater than or equal to 1'] },
  {
    what: 'maxBytes that is not a byte quantity',
    base: PC,
    create: (o) => { spec(o).limits.maxBytes = '1 gigabyte'; },
    expect: ['spec.limits.maxBytes', 'should match', 'Ki|Mi|Gi'],
  },
  {
    what: 'unknown output format',
    base: PC,
    create: (o) => { spec(o).output.format = 'erf'; },
    expect: ['spec.output.format', 'Unsupported value: "erf"', 'supported values: "pcapng", "pcap"'],
  },
  {
    what: 'unknown capture point',
    base: PC,
    create: (o) => { spec(o).capturePoint = 'node'; },
    expect: ['spec.capturePoint', 'supported values: "pod", "hostVeth"'],
  },
  {
    what: 'unknown timestamp source',
    base: PC,
    create: (o) => { spec(o).timestamps = 'ptp'; },
    expect: ['spec.timestamps', 'supported values: "software", "hardware"'],
  },
  {
    what: 'unknown match protocol',
    base: PC,
    create: (o) => { spec(o).match.protocol = 'igmp'; },
    expect: ['spec.match.protocol', 'supported values: "tcp", "udp", "icmp", "icmpv6", "sctp", "any"'],
  },
  {
    what: 'port out of range',
    base: PC,
    create: (o) => { spec(o).match.ports = [{ port: 70000 }]; },
    expect: ['spec.match.ports[0].port', 'should be less than or equal to 65535'],
  },
  {
    what: 'port range ending before it starts',
    base: PC,
    create: (o) => { spec(o).match.ports = [{ port: 8080, endPort: 80 }]; },
    expect: ['spec.match.ports[0]', 'endPort must be greater than or equal to port'],
  },
  {
    what: 'ports with protocol icmp',
    base: PC,
    create: (o) => { spec(o).match.protocol = 'icmp'; },
    expect: ['spec.match.ports', 'ports cannot be used with protocol icmp or icmpv6'],
  },
  {
    what: 'tcpFlags with protocol udp',
    base: PC,
    create: (o) => { spec(o).match = { protocol: 'udp', tcpFlags: ['SYN'] }; },
    expect: ['spec.match.tcpFlags', 'tcpFlags requires protocol tcp'],
  },
  {
    what: 'unknown TCP flag',
    base: PC,
    create: (o) => { spec(o).match = { protocol: 'tcp', tcpFlags: ['SYNACK'] }; },
    expect: ['spec.match.tcpFlags[0]', 'supported values: "SYN", "ACK"'],
  },
  {
    what: 'malformed CIDR',
    base: PC,
    create: (o) => { spec(o).match.cidrs = ['10.0.0.0/33']; },
    expect: ['spec.match.cidrs[0]', 'must be a CIDR such as 10.0.0.0/8 or fd00::/64'],
  },
  {
    what: 'BPF filter longer than 4096 characters',
    base: PC,
    create: (o) => { spec(o).filter = 'port 53 or '.repeat(400) + 'port 53'; },
    expect: ['spec.filter', 'may not be more than 4096 bytes'],
  },
  {
    what: 'pod name that is not a DNS subdomain',
    base: PC,
    create: (o) => { spec(o).targets.pods = { names: ['Checkout_1'] }; },
    expect: ['spec.targets.pods.names[0]', 'should match', '[a-z0-9]'],
  },
  {
    what: 'label selector In without values',
    base: PC,
    create: (o) => { spec(o).targets.pods.selector = { matchExpressions: [{ key: 'app', operator: 'In' }] }; },
    expect: ['spec.targets.pods.selector.matchExpressions[0]', 'values must be non-empty when operator is In or NotIn'],
  },
  {
    what: 'unknown label selector operator',
    base: PC,
    create: (o) => { spec(o).targets.pods.selector = { matchExpressions: [{ key: 'app', operator: 'Matches', values: ['x'] }] }; },
    expect: ['spec.targets.pods.selector.matchExpressions[0].operator', 'supported values: "In", "NotIn", "Exists", "DoesNotExist"'],
  },
  {
    what: 'node targets without interfaces',
    base: PC_NODE,
    create: (o) => { delete spec(o).targets.nodes.interfaces; },
    expect: ['spec.targets.nodes.interfaces', 'Required value'],
  },
  {
    what: 'interface name longer than 15 characters',
    base: PC_NODE,
    create: (o) => { spec(o).targets.nodes.interfaces = ['eth0-with-a-long-name']; },
    expect: ['spec.targets.nodes.interfaces[0]', 'may not be more than 15 bytes'],
  },
  {
    what: 'node targets with an empty selector',
    base: PC_NODE,
    create: (o) => { spec(o).targets.nodes = { selector: { matchExpressions: [] }, interfaces: ['eth0'] }; },
    expect: ['spec.targets.nodes', 'an empty selector would match every node'],
  },
  {
    what: 'podInterfaces with capturePoint hostVeth',
    base: PC,
    create: (o) => { spec(o).capturePoint = 'hostVeth'; spec(o).podInterfaces = ['eth0']; },
    expect: ['spec.podInterfaces', 'podInterfaces requires capturePoint pod'],
  },
  {
    what: 'unknown field (typo of snapLength)',
    base: PC,
    create: (o) => { spec(o).snaplen = 96; },
    expect: ['unknown field "spec.snaplen"'],
  },
  {
    what: 'changed targets of a running capture',
    base: PC,
    update: (o) => { spec(o).targets.pods.selector.matchLabels.app = 'cart'; },
    expect: ['spec.targets', 'targets is immutable'],
  },
  {
    what: 'a filter added to a running capture',
    base: PC,
    update: (o) => { spec(o).filter = 'udp'; },
    expect: ['spec.filter', 'filter is immutable'],
  },
  {
    what: 'changed output format of a running capture',
    base: PC,
    update: (o) => { spec(o).output.format = 'pcap'; },
    expect: ['spec.output', 'output is immutable'],
  },
  {
    what: 'unknown capture phase in status',
    base: PC,
    status: (o) => { o.status = { phase: 'Done' }; },
    expect: ['status.phase', 'supported values: "Pending", "Running", "Stopping", "Completed", "Failed"'],
  },
  {
    what: 'condition with an unknown status',
    base: PC,
    status: (o) => {
      o.status = { conditions: [{ type: 'Ready', status: 'Yes', reason: 'Capturing', lastTransitionTime: '2026-11-23T12:00:00Z' }] };
    },
    expect: ['status.conditions[0].status', 'supported values: "True", "False", "Unknown"'],
  },

  // ---- PortMirror ------------------------------------------------------------------
  {
    what: 'mirror with two destinations',
    base: PM,
    create: (o) => { spec(o).destination.interface = { name: 'mon0' }; },
    expect: ['spec.destination', 'set exactly one of destination.interface, destination.pod or destination.remote'],
  },
  {
    what: 'mirror with an empty destination',
    base: PM,
    create: (o) => { spec(o).destination = {}; },
    expect: ['spec.destination', 'set exactly one of destination.interface, destination.pod or destination.remote'],
  },
  {
    what: 'mirror source with both pods and nodes',
    base: PM,
    create: (o) => { spec(o).source.nodes = { names: ['worker-1'], interfaces: ['eth0'] }; },
    expect: ['spec.source', 'set exactly one of source.pods or source.nodes'],
  },
  {
    what: 'mirror source with an empty selector',
    base: PM,
    create: (o) => { spec(o).source.pods = { selector: { matchLabels: {} } }; },
    expect: ['spec.source.pods', 'non-empty selector'],
  },
  {
    what: 'VXLAN destination without a VNI',
    base: PM_VXLAN,
    create: (o) => { delete spec(o).destination.remote.vni; },
    expect: ['spec.destination.remote.vni', 'vni is required when protocol is vxlan'],
  },
  {
    what: 'VNI above 24 bits',
    base: PM_VXLAN,
    create: (o) => { spec(o).destination.remote.vni = 16777216; },
    expect: ['spec.destination.remote.vni', 'should be less than or equal to 16777215'],
  },
  {
    what: 'VNI on a GRE destination',
    base: PM_VXLAN,
    create: (o) => { spec(o).destination.remote.protocol = 'gre'; },
    expect: ['spec.destination.remote.vni', 'vni is allowed only when protocol is vxlan'],
  },
  {
    what: 'remote address that is a host name',
    base: PM_VXLAN,
    create: (o) => { spec(o).destination.remote.address = 'collector.example.com'; },
    expect: ['spec.destination.remote.address', 'must be an IPv4 or IPv6 address'],
  },
  {
    what: 'unknown encapsulation',
    base: PM_VXLAN,
    create: (o) => { spec(o).destination.remote.protocol = 'geneve'; },
    expect: ['spec.destination.remote.protocol', 'supported values: "vxlan", "gre", "erspan"'],
  },
  {
    what: 'ERSPAN session id above 1023',
    base: PM_ERSPAN,
    create: (o) => { spec(o).destination.remote.erspan.sessionId = 1024; },
    expect: ['spec.destination.remote.erspan.sessionId', 'should be less than or equal to 1023'],
  },
  { what: 'sampling 0', base: PM, create: (o) => { spec(o).sampling = 0; }, expect: ['spec.sampling', 'should be greater than or equal to 1'] },
  {
    what: 'unknown mirror direction',
    base: PM,
    create: (o) => { spec(o).direction = 'inbound'; },
    expect: ['spec.direction', 'supported values: "ingress", "egress", "both"'],
  },
  {
    what: 'changed destination of a running mirror',
    base: PM,
    update: (o) => { spec(o).destination.pod.name = 'zeek'; },
    expect: ['spec.destination', 'destination is immutable'],
  },

  // ---- PPPBridge ---------------------------------------------------------------------
  {
    what: 'L2TP version 3',
    base: PB,
    create: (o) => { spec(o).b.l2tp.version = 3; },
    expect: ['spec.b.l2tp.version', 'Unsupported value: 3', 'supported values: "2"'],
  },
  {
    what: 'a bridge from a session to itself (a == b)',
    base: PB,
    create: (o) => { spec(o).b = structuredClone(spec(o).a); },
    expect: ['spec.b', 'a and b must be different sessions'],
  },
  {
    what: 'an endpoint with both pppoe and l2tp',
    base: PB,
    create: (o) => { spec(o).a.l2tp = structuredClone(spec(o).b.l2tp); },
    expect: ['spec.a', 'set exactly one of pppoe or l2tp'],
  },
  { what: 'an empty endpoint', base: PB, create: (o) => { spec(o).a = {}; }, expect: ['spec.a', 'set exactly one of pppoe or l2tp'] },
  {
    what: 'PPPoE session id 65535 (reserved)',
    base: PB,
    create: (o) => { spec(o).a.pppoe.sessionId = 65535; },
    expect: ['spec.a.pppoe.sessionId', 'should be less than or equal to 65534'],
  },
  {
    what: 'PPPoE session id 0',
    base: PB,
    create: (o) => { spec(o).a.pppoe.sessionId = 0; },
    expect: ['spec.a.pppoe.sessionId', 'should be greater than or equal to 1'],
  },
  {
    what: 'malformed peer MAC',
    base: PB,
    create: (o) => { spec(o).a.pppoe.peerMAC = '02:00:00:aa:bb'; },
    expect: ['spec.a.pppoe.peerMAC', 'should match', '[0-9A-Fa-f]{2}'],
  },
  {
    what: 'L2TP tunnel id above 65535',
    base: PB,
    create: (o) => { spec(o).b.l2tp.tunnelId = 70000; },
    expect: ['spec.b.l2tp.tunnelId', 'should be less than or equal to 65535'],
  },
  {
    what: 'L2TP peer session id 0',
    base: PB,
    create: (o) => { spec(o).b.l2tp.peerSessionId = 0; },
    expect: ['spec.b.l2tp.peerSessionId', 'should be greater than or equal to 1'],
  },
  {
    what: 'L2TP local port 0',
    base: PB,
    create: (o) => { spec(o).b.l2tp.localPort = 0; },
    expect: ['spec.b.l2tp.localPort', 'should be greater than or equal to 1'],
  },
  {
    what: 'malformed L2TP peer address',
    base: PB,
    create: (o) => { spec(o).b.l2tp.peerAddress = '300.1.1.1'; },
    expect: ['spec.b.l2tp.peerAddress', 'must be an IPv4 or IPv6 address'],
  },
  {
    what: 'L2TP addresses of different IP families',
    base: PB,
    create: (o) => { spec(o).b.l2tp.peerAddress = '2001:db8::2'; },
    expect: ['spec.b.l2tp.peerAddress', 'must be of the same IP family'],
  },
  {
    what: 'unknown bridge mode',
    base: PB,
    create: (o) => { spec(o).mode = 'fast'; },
    expect: ['spec.mode', 'supported values: "auto", "kernel", "userspace"'],
  },
  { what: 'MTU below 576', base: PB, create: (o) => { spec(o).mtu = 100; }, expect: ['spec.mtu', 'should be greater than or equal to 576'] },
  { what: 'bridge without a node', base: PB, create: (o) => { delete spec(o).nodeName; }, expect: ['spec.nodeName', 'Required value'] },
  {
    what: 'bridge moved to another node',
    base: PB,
    update: (o) => { spec(o).nodeName = 'bng-2'; },
    expect: ['spec.nodeName', 'nodeName is immutable'],
  },
  {
    what: 'bridge endpoint changed after create',
    base: PB,
    update: (o) => { spec(o).b.l2tp.sessionId = 4002; },
    expect: ['spec.b', 'b is immutable'],
  },

  // ---- IPAMonitor ------------------------------------------------------------------
  {
    what: 'unknown IPA version',
    base: IPA,
    create: (o) => { spec(o).ipaVersion = '6.0'; },
    expect: ['spec.ipaVersion', 'Unsupported value: "6.0"', '"auto", "3.0", "3.1"', '"4.11", "5.0"'],
  },
  {
    what: 'IPA version written as a number',
    base: IPA,
    create: (o) => { spec(o).ipaVersion = 4.5; },
    expect: ['spec.ipaVersion', 'must be of type string'],
  },
  {
    what: 'enabled IPA capture that is not a bounded flight recorder',
    base: IPA,
    create: (o) => { delete spec(o).capture.retention; },
    expect: ['spec.capture.retention', 'an enabled capture must be bounded', 'rotation and retention.maxFiles or retention.maxTotalBytes'],
  },
  {
    what: 'IPA device given as a host path',
    base: IPA,
    create: (o) => { spec(o).device = '/dev/qcom_ipa0_monitor'; },
    expect: ['spec.device', 'should match', 'auto|'],
  },
  {
    what: 'IPA payload alignment that is not a power of two',
    base: IPA,
    create: (o) => { spec(o).source = { payloadAlignment: 3 }; },
    expect: ['spec.source.payloadAlignment', 'supported values', '"4"'],
  },
  {
    what: 'IPA network-device source together with a named device',
    base: IPA,
    create: (o) => { spec(o).device = 'ipa_adpl'; spec(o).source = { netdev: { interface: 'ipamon0' } }; },
    expect: ['spec.source.netdev', 'two stream sources'],
  },
  {
    what: 'IPA network device given as a path',
    base: IPA,
    create: (o) => { spec(o).source = { netdev: { interface: 'a/b' } }; },
    expect: ['spec.source.netdev.interface', 'should match'],
  },
  {
    what: 'metrics interval without a unit',
    base: IPA,
    create: (o) => { spec(o).metricsInterval = '10'; },
    expect: ['spec.metricsInterval', 'should match'],
  },
  {
    what: 'IPA endpoint id above 255',
    base: IPA,
    create: (o) => { spec(o).capture.endpoints.sources = [2, 256]; },
    expect: ['spec.capture.endpoints.sources[1]', 'should be less than or equal to 255'],
  },
  {
    what: 'IPA rotation with a malformed file size',
    base: IPA,
    create: (o) => { spec(o).capture.rotation.fileSize = '50MB'; },
    expect: ['spec.capture.rotation.fileSize', 'should match'],
  },

  // ---- NodeTask ------------------------------------------------------------------
  {
    what: 'task with two kinds of work',
    base: NT,
    create: (o) => { spec(o).pppBridge = structuredClone(loadExample(NT_PPP).spec.pppBridge); },
    expect: ['spec', 'set exactly one of packetCapture, portMirror, pppBridge or ipaMonitor: the one matching parent.kind'],
  },
  {
    what: 'task whose work does not match the parent kind',
    base: NT,
    create: (o) => { spec(o).parent.kind = 'PortMirror'; },
    expect: ['spec', 'the one matching parent.kind'],
  },
  {
    what: 'unknown parent kind',
    base: NT,
    create: (o) => { spec(o).parent.kind = 'Pod'; },
    expect: ['spec.parent.kind', 'supported values: "PacketCapture", "PortMirror", "PPPBridge", "IPAMonitor"'],
  },
  {
    what: 'namespaced parent without a namespace',
    base: NT,
    create: (o) => { delete spec(o).parent.namespace; },
    expect: ['spec.parent.namespace', 'namespace is required for PacketCapture and PortMirror parents'],
  },
  {
    what: 'cluster-scoped parent with a namespace',
    base: NT_PPP,
    create: (o) => { spec(o).parent.namespace = 'default'; },
    expect: ['spec.parent.namespace', 'must be empty for PPPBridge and IPAMonitor parents'],
  },
  {
    what: 'task snap length 0',
    base: NT,
    create: (o) => { spec(o).packetCapture.snapLength = 0; },
    expect: ['spec.packetCapture.snapLength', 'should be greater than or equal to 1'],
  },
  {
    what: 'task pod IP that is not an address',
    base: NT,
    create: (o) => { spec(o).packetCapture.pods[0].ips = ['10.128.1.300']; },
    expect: ['spec.packetCapture.pods[0].ips[0]', 'must be an IPv4 or IPv6 address'],
  },
  {
    what: 'task moved to another node',
    base: NT,
    update: (o) => { spec(o).node = 'worker-2'; },
    expect: ['spec.node', 'node is immutable'],
  },
  {
    what: 'task re-parented',
    base: NT,
    update: (o) => { spec(o).parent.uid = '00000000-0000-4000-8000-000000000000'; },
    expect: ['spec.parent', 'parent kind, name, namespace and uid are immutable'],
  },
  {
    what: 'cleanup withdrawn',
    base: NT,
    create: (o) => { spec(o).cleanup = true; },
    update: (o) => { spec(o).cleanup = false; },
    expect: ['spec.cleanup', 'cleanup cannot be undone'],
  },
  {
    what: 'unknown task phase in status',
    base: NT,
    status: (o) => { o.status = { phase: 'Capturing' }; },
    expect: ['status.phase', 'supported values: "Pending", "Running", "Completed", "Failed", "Stopped"'],
  },
  {
    what: 'task file name with a path',
    base: NT,
    status: (o) => { o.status = { files: [{ name: '../../etc/passwd', size: 1 }] }; },
    expect: ['status.files[0].name', 'should match'],
  },
];

let kc: k8s.KubeConfig;
let ns: string;
let objects: Objects;
const toDelete: Obj[] = [];

beforeAll(async () => {
  kc = adminConfig();
  await installCRDs(kc);
  ns = await createNamespace('crd-reject', kc);
  objects = new Objects(kc, ns);
});

afterAll(async () => {
  for (const o of toDelete) if (!isNamespaced(o.kind)) await objects.delete(o.kind, o.metadata.name);
  await deleteNamespace(ns, kc);
});

/** Runs the case and returns the server's message, failing if the server accepted the object. */
async function rejection(c: BadCase): Promise<string> {
  const o = loadExample(c.base);
  o.metadata = { name: uniqueName(o.metadata.name.slice(0, 40)), ...(o.metadata.labels ? { labels: o.metadata.labels } : {}) };
  const bad = structuredClone(o);
  if (c.update || c.status) {
    if (c.create) c.create(o);
    const created = await objects.create(o);
    toDelete.push(created);
    const next = structuredClone(created);
    (c.update ?? c.status)!(next);
    try {
      await (c.update ? objects.replace(next) : objects.replaceStatus(next));
    } catch (err) {
      expect(err).toBeInstanceOf(k8s.ApiException);
      return apiMessage(err);
    }
    throw new Error(`${c.what}: the server accepted the ${c.update ? 'update' : 'status'}`);
  }
  c.create!(bad);
  try {
    toDelete.push(await objects.create(bad));
  } catch (err) {
    expect(err).toBeInstanceOf(k8s.ApiException);
    return apiMessage(err);
  }
  throw new Error(`${c.what}: the server accepted ${JSON.stringify(bad.spec)}`);
}

describe('bad objects are rejected with the field path and what is allowed', () => {
  test('there are at least 30 distinct cases', () => {
    expect(new Set(cases.map((c) => c.what)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  test.each(cases.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const message = await rejection(c);
    for (const s of c.expect) expect(message).toContain(s);
  });
});
