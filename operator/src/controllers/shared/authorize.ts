// One rule for what a namespaced resource may reach, used by every controller that places
// work on nodes (PacketCapture, PortMirror). RBAC decides who may write a resource in a
// namespace; this decides what that resource may then touch on the nodes:
//
//   - pods of its own namespace, unless they are on the host network: a hostNetwork pod's
//     interfaces are the node's (eth0, cni0, every pod's veth), so it is a node target;
//   - node interfaces (as targets, sources or a mirror's destination) and hostNetwork pods
//     only from the namespaces the operator trusts;
//   - a mirror's remote collector: from a trusted namespace anywhere; from any other only at
//     an address and port the operator's configuration allows (by default the cluster's node
//     addresses and the standard VXLAN port): the tenant's frames leave the cluster there,
//     and a VXLAN device binds its UDP port on every source node.
//
// A refusal names the field and is a Stalled condition; nothing is placed on any node.
import { isIP } from 'node:net';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { VXLAN_DEFAULT_PORT, type ConditionReason } from '../../../../crds/src/index.js';

export interface AccessRules {
  /** Namespaces whose resources may reach node interfaces, the host network and any remote. */
  trustedNamespaces: ReadonlySet<string>;
  /** Remote collector addresses other namespaces may use besides the cluster's node addresses (CIDRs). */
  remoteCidrs?: readonly string[];
  /** UDP ports other namespaces' VXLAN remotes may use; default only the standard port. */
  remotePorts?: ReadonlySet<number>;
}

export interface Refusal { reason: ConditionReason; message: string }

interface PodLike { metadata: { name: string }; spec?: Pick<IPodSpec, 'hostNetwork'> }

function trustedList(rules: AccessRules): string {
  return [...rules.trustedNamespaces].join(', ') || 'none';
}

/** A refusal for reaching the node from an untrusted namespace, naming the field. */
export function untrusted(rules: AccessRules, namespace: string, field: string, what: string): Refusal | undefined {
  if (rules.trustedNamespaces.has(namespace)) return undefined;
  return {
    reason: 'UntrustedNamespace',
    message: `${field}: ${what} may be used only from a trusted namespace (${trustedList(rules)}); namespace ${namespace} is not one`,
  };
}

/** A selected pod on the host network is a node target: only trusted namespaces may have it. */
export function authorizePods(rules: AccessRules, namespace: string, field: string, pods: readonly PodLike[]): Refusal | undefined {
  const host = pods.filter((p) => p.spec?.hostNetwork === true);
  if (host.length === 0) return undefined;
  return untrusted(rules, namespace, field, `hostNetwork pods (${host.slice(0, 3).map((p) => p.metadata.name).join(', ')}) share the node's interfaces and`);
}

/** What a PacketCapture's targets may reach. */
export function authorizeCapture(rules: AccessRules, namespace: string, spec: { targets?: { nodes?: unknown } }): Refusal | undefined {
  if (spec.targets?.nodes) return untrusted(rules, namespace, 'spec.targets.nodes', 'node interfaces');
  return undefined;
}

interface MirrorSpecLike {
  source: { nodes?: unknown };
  destination: { interface?: { name: string }; pod?: unknown; remote?: { address: string; protocol: string; port?: number } };
}

/** What a PortMirror's sources and destination may reach. `nodeAddresses` are the cluster's. */
export function authorizeMirror(rules: AccessRules, namespace: string, spec: MirrorSpecLike, nodeAddresses: ReadonlySet<string>): Refusal | undefined {
  if (spec.source.nodes) {
    const r = untrusted(rules, namespace, 'spec.source.nodes', 'node interfaces');
    if (r) return r;
  }
  const d = spec.destination;
  if (d.interface) {
    // A node interface as the destination puts the tenant's frames on it: the uplink, or
    // another namespace's pod veth (which delivers them into that pod).
    const r = untrusted(rules, namespace, 'spec.destination.interface', `a node interface (${d.interface.name}) as the destination`);
    if (r) return r;
  }
  if (d.remote && !rules.trustedNamespaces.has(namespace)) return authorizeRemote(rules, d.remote, nodeAddresses);
  return undefined;
}

/** A remote collector's address and port against the operator's configuration. */
export function authorizeRemote(rules: AccessRules, remote: { address: string; protocol: string; port?: number }, nodeAddresses: ReadonlySet<string>): Refusal | undefined {
  if (!nodeAddresses.has(remote.address) && !(rules.remoteCidrs ?? []).some((c) => inCidr(remote.address, c))) {
    const extra = rules.remoteCidrs?.length ? ` or in ${rules.remoteCidrs.join(', ')}` : '';
    return { reason: 'UntrustedNamespace', message: `spec.destination.remote.address: ${remote.address} is not an address the operator allows outside its trusted namespaces (a cluster node's address${extra})` };
  }
  if (remote.protocol === 'vxlan') {
    const port = remote.port ?? VXLAN_DEFAULT_PORT;
    const ports = rules.remotePorts ?? new Set([VXLAN_DEFAULT_PORT]);
    if (!ports.has(port)) {
      return { reason: 'UntrustedNamespace', message: `spec.destination.remote.port: ${port} is not a VXLAN port the operator allows outside its trusted namespaces (${[...ports].join(', ')}); the device binds it on every source node` };
    }
  }
  return undefined;
}

/** True when an IPv4 or IPv6 address lies in a CIDR (false for anything malformed). */
export function inCidr(address: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const family = isIP(address);
  if (!net || family === 0 || isIP(net) !== family) return false;
  const width = family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? width : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > width) return false;
  const a = toBigInt(address, family), n = toBigInt(net, family);
  const shift = BigInt(width - bits);
  return a >> shift === n >> shift;
}

function toBigInt(address: string, family: number): bigint {
  if (family === 4) return address.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  const [head = '', tail = ''] = address.split('::');
  const parse = (s: string) => (s ? s.split(':') : []).flatMap((g) => (g.includes('.') ? v4Groups(g) : [parseInt(g, 16)]));
  const h = parse(head), t = address.includes('::') ? parse(tail) : [];
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(g), 0n);
}

function v4Groups(dotted: string): number[] {
  const o = dotted.split('.').map(Number);
  return [((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0)];
}
