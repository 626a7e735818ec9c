// The agent's own check of a NodeTask against the world, before it does anything for it.
// NodeTasks are written only by the operator (an admission policy denies every other writer),
// but the agent runs privileged code for them, so it does not rest on that alone: a task that
// could only have been forged is refused, whoever wrote it.
//
//   - The task lives in the operator's namespace, where the operator writes every NodeTask
//     (docs/adr/0012-nodetasks-in-the-operator-namespace.md); the agent watches only that
//     namespace, so this is a second line. The parent's namespace is spec.parent.namespace,
//     never the namespace the task was written in.
//   - A pod it names is, on this node, a pod of the parent's namespace (by UID, from the API).
//   - Node interfaces, hostNetwork pods, PPP and IPA work come only from trusted namespaces
//     (cluster-scoped parents are a cluster administrator's and are trusted).
//   - Cleanup removes only the parent's own files: the task names that parent, and only the
//     operator (or a cluster administrator) can write a task in the operator's namespace.
import type { MirrorSourceRef, NodeTaskSpec, ResolvedPod } from '../../../crds/src/index.js';

export interface TrustConfig {
  /** Where the operator runs and writes every NodeTask. */
  operatorNamespace: string;
  /** Namespaces whose resources may reach node interfaces and the host network. */
  trustedNamespaces: ReadonlySet<string>;
}

/** What the API says about a pod on this node. */
export interface PodFacts { namespace: string; name: string; hostNetwork: boolean }

export type Verdict =
  | { ok: true }
  /** The task asks for what its namespace may not have: it fails, with this message. */
  | { ok: false; forbidden: string }
  /** A pod it names is not known on this node yet: ask again shortly. */
  | { ok: false; unknownPod: string };

/**
 * Checks one NodeTask. `pods` looks a pod of this node up by UID; `node` is this node (pods
 * named for another node, such as a mirror's collector elsewhere, are that node's to check).
 */
export function checkTask(taskNamespace: string, spec: NodeTaskSpec, trust: TrustConfig, pods: (uid: string) => PodFacts | undefined): Verdict {
  const parentNs = spec.parent.namespace;
  const where = parentNs ? `namespace ${parentNs}` : 'a cluster-scoped parent';
  if (taskNamespace !== trust.operatorNamespace) {
    return { ok: false, forbidden: `Forbidden: a NodeTask must live in the operator's namespace ${trust.operatorNamespace}, not ${taskNamespace}` };
  }
  const trusted = !parentNs || trust.trustedNamespaces.has(parentNs);
  const untrusted = (what: string): Verdict => ({
    ok: false, forbidden: `Forbidden: ${what} may be used only from a trusted namespace (${[...trust.trustedNamespaces].join(', ')}); ${where} is not one`,
  });

  const local: ResolvedPod[] = [];
  const nodeInterfaces: string[] = [];
  if (spec.packetCapture) {
    local.push(...(spec.packetCapture.pods ?? []));
    nodeInterfaces.push(...(spec.packetCapture.interfaces ?? []));
  }
  if (spec.portMirror) {
    const m = spec.portMirror;
    for (const s of m.sources as MirrorSourceRef[]) {
      if (s.pod) local.push(s.pod);
      if (s.interface) nodeInterfaces.push(s.interface);
    }
    if (m.destination.interface) nodeInterfaces.push(m.destination.interface.name);
    if (m.destination.pod && m.destination.pod.node === spec.node) local.push(m.destination.pod);
  }
  if (!trusted) {
    if (nodeInterfaces.length) return untrusted(`node interfaces (${nodeInterfaces.slice(0, 4).join(', ')})`);
    if (spec.pppBridge) return untrusted('PPP bridging');
    if (spec.ipaMonitor) return untrusted('IPA monitoring');
  }
  for (const p of local) {
    const facts = pods(p.uid);
    if (!facts) return { ok: false, unknownPod: `pod ${p.namespace}/${p.name} (uid ${p.uid}) is not known on node ${spec.node}` };
    if (parentNs && facts.namespace !== parentNs) {
      return { ok: false, forbidden: `Forbidden: pod uid ${p.uid} is ${facts.namespace}/${facts.name}, not a pod of ${where}` };
    }
    if (facts.hostNetwork && !trusted) return untrusted(`hostNetwork pod ${facts.namespace}/${facts.name} (it shares the node's interfaces)`);
  }
  return { ok: true };
}
