// What the operator's caches keep of the objects it watches, and the indexes its lookups go
// through. A cluster of 10,000 pods is mostly status and managedFields the operator never
// reads: placement needs a pod's name, UID, labels, node, host networking, phase and IPs
// (authorization reads hostNetwork), and a node's name,
// labels, annotations (the agent's capabilities) and addresses. Everything else is dropped as
// the object enters the cache, and a change to nothing but what was dropped wakes no controller
// (the informer emits no update when the transformed object is unchanged).
import type { INodeStatus } from 'kubernetes-models/v1/NodeStatus';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IPodStatus } from 'kubernetes-models/v1/PodStatus';
import type { KubeObject, ObjectMeta } from '../../../../lib/kube/kube.js';
import type { NodeTask } from '../../../../lib/kube/objects.js';
import { matchesSelector, type LabelSelector } from './selectors.js';

/** Index of every cache by label: `<namespace>/<key>=<value>` (namespace empty for cluster-scoped objects). */
export const BY_LABEL = 'label';
/** Index of NodeTasks by their parent's UID. */
export const BY_PARENT = 'parent';

export function labelIndex(obj: KubeObject): string[] {
  const ns = obj.metadata.namespace ?? '';
  return Object.entries(obj.metadata.labels ?? {}).map(([k, v]) => `${ns}/${k}=${v}`);
}

export function parentIndex(task: NodeTask): string[] {
  const uid = task.spec?.parent?.uid;
  return uid ? [uid] : [];
}

/** The lookups selection needs: an Informer has them. */
export interface IndexedCache<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  byIndex(index: string, value: string): T[];
  countByIndex(index: string, value: string): number;
}

/** A Pod as placement reads it: the fields of kubernetes-models' IPod the cache keeps. */
export interface PlacementPod extends KubeObject {
  spec?: Pick<IPodSpec, 'nodeName' | 'hostNetwork'>;
  status?: Pick<IPodStatus, 'phase' | 'podIP' | 'podIPs'>;
}

/** A Node as placement reads it: the fields of kubernetes-models' INode the cache keeps. */
export interface PlacementNode extends KubeObject {
  status?: Pick<INodeStatus, 'addresses'>;
}

/** The metadata every cached object keeps: identity, version, labels and the deletion mark. */
function identity(m: ObjectMeta): ObjectMeta {
  return {
    name: m.name,
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
    ...(m.uid !== undefined ? { uid: m.uid } : {}),
    ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
    ...(m.labels ? { labels: m.labels } : {}),
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
  };
}

/** Keeps of a Pod its identity, labels, node, host networking, phase and IPs. */
export function podForPlacement(pod: PlacementPod): PlacementPod {
  const s = pod.status;
  return {
    ...(pod.apiVersion ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind ? { kind: pod.kind } : {}),
    metadata: identity(pod.metadata),
    spec: {
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(pod.spec?.hostNetwork !== undefined ? { hostNetwork: pod.spec.hostNetwork } : {}),
    },
    status: {
      ...(s?.phase ? { phase: s.phase } : {}),
      ...(s?.podIP ? { podIP: s.podIP } : {}),
      ...(s?.podIPs ? { podIPs: s.podIPs.map((p) => ({ ip: p.ip })) } : {}),
    },
  };
}

/** Keeps of a Node its identity, labels, annotations and addresses: not its heartbeats, images or conditions. */
export function nodeForPlacement(node: PlacementNode): PlacementNode {
  return {
    ...(node.apiVersion ? { apiVersion: node.apiVersion } : {}),
    ...(node.kind ? { kind: node.kind } : {}),
    metadata: { ...identity(node.metadata), ...(node.metadata.annotations ? { annotations: node.metadata.annotations } : {}) },
    status: node.status?.addresses ? { addresses: node.status.addresses.map((a) => ({ type: a.type, address: a.address })) } : {},
  };
}

/**
 * The objects of a namespace (undefined: cluster-scoped) that a label selector selects. With
 * matchLabels, the candidates are the smallest of its label index entries; otherwise the
 * namespace's objects. Either way each candidate is checked against the whole selector.
 */
export function selectByLabels<T extends KubeObject>(informer: IndexedCache<T>, namespace: string | undefined, selector: LabelSelector): T[] {
  const ns = namespace ?? '';
  let best: string | undefined, bestCount = Infinity;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    const value = `${ns}/${k}=${v}`, n = informer.countByIndex(BY_LABEL, value);
    if (n < bestCount) { best = value; bestCount = n; }
  }
  const candidates = best !== undefined ? informer.byIndex(BY_LABEL, best) : informer.list(namespace);
  return candidates.filter((o) => matchesSelector(selector, o.metadata.labels));
}

/** Label selection the way the CRDs spell it: all, names, or a selector (any of them). */
export interface TargetSelection { all?: boolean; names?: string[]; selector?: LabelSelector }

/** The objects a target selection picks, through the indexes; each once. */
export function selectTargets<T extends KubeObject>(informer: IndexedCache<T>, namespace: string | undefined, t: TargetSelection): T[] {
  if (t.all === true) return informer.list(namespace);
  const picked = new Map<string, T>();
  for (const name of t.names ?? []) {
    const o = informer.get(namespace, name);
    if (o) picked.set(name, o);
  }
  if (t.selector !== undefined) for (const o of selectByLabels(informer, namespace, t.selector)) picked.set(o.metadata.name, o);
  return [...picked.values()];
}
