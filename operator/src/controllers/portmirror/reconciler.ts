// The PortMirror controller, in the shape of the PacketCapture one. Three concerns, each a
// small step of one level-based reconcile keyed by namespace/name:
//   placement   resolve sources (pods by selector or name in the mirror's namespace; node
//               interfaces, from trusted namespaces only) and the destination; one NodeTask
//               per node with sources, plus the collector pod's node (the VXLAN receive side),
//               in the operator's namespace
//   status      aggregate the NodeTasks' statuses (per node, totals, kstatus conditions)
//   cleanup     on deletion, ask agents to remove their tc state, wait (bounded), delete the
//               NodeTasks, drop the finalizer
// A collector pod on another node than a source is reached over VXLAN: the source node's
// destination becomes remote = the collector node's InternalIP, VNI mirrorVni(uid), port 4789,
// and the collector node's agent decapsulates into the collector's host veth.
// RBAC (operator/src/rbac.ts already grants it): portmirrors get list watch update patch,
// portmirrors/status patch, portmirrors/finalizers update; nodetasks (in the operator's
// namespace); pods, nodes get list watch.
import type { Logger } from '../../../../lib/observe/log.js';
import {
  type ConditionReason,
  DEFAULT_SNAP_LENGTH,
  type MirrorSourceRef,
  mirrorVni,
  type NodeTaskSpec,
  NodeTaskType,
  PortMirrorType,
  type PortMirrorWork,
  type ResolvedMirrorDestination,
  VXLAN_DEFAULT_PORT,
} from '../../../../crds/src/index.js';
import type { Controller, Result } from '../../../../lib/kube/controller.js';
import { mergeConditions, nowTime, type Condition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import type { Informer } from '../../../../lib/kube/informer.js';
import { createOrPatch } from '../../../../lib/kube/writes.js';
import type { KubeClient } from '../../../../lib/kube/kube.js';
import type { NodeTask, PortMirror } from '../../../../lib/kube/objects.js';
import { deriveMirrorStatus, type ObservedMirrorTask } from './status.js';
import { FILTER_PENDING, FILTER_PENDING_RECHECK_MS } from '../shared/filters.js';
import { deleteTask, ensureFinalizer, ParentStatusWriter, sameJson, taskLabels, taskName, type FilterValidator } from '../shared/parent.js';
import { authorizeMirror, authorizePods, type AccessRules } from '../shared/authorize.js';
import { matchesSelector, podTargeted } from '../shared/selectors.js';
import { BY_PARENT, type PlacementNode as Node, type PlacementPod as Pod } from '../shared/cache.js';

/** The NodeTask name of a mirror's share on a node. */
export function mirrorTaskName(mirror: PortMirror, node: string): string {
  return taskName({ kind: 'PortMirror', namespace: mirror.metadata.namespace, name: mirror.metadata.name }, node);
}

export interface PortMirrorDeps {
  client: KubeClient;
  mirrors: Informer<PortMirror>;
  tasks: Informer<NodeTask>;
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  events: EventRecorder;
  validateFilter: FilterValidator;
  trustedNamespaces: ReadonlySet<string>;
  remoteCidrs?: readonly string[];
  remotePorts?: ReadonlySet<number>;
  /** The operator's namespace, where every NodeTask lives. */
  namespace: string;
}

export function podIps(pod: Pod): string[] {
  return pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
}

/** Every address a node may send from (InternalIP and ExternalIP). */
export function nodeAddresses(node: Node | undefined): string[] {
  return (node?.status?.addresses ?? []).filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address);
}

export function nodeAddress(node: Node | undefined): string | undefined {
  const a = node?.status?.addresses ?? [];
  return (a.find((x) => x.type === 'InternalIP') ?? a.find((x) => x.type === 'ExternalIP'))?.address;
}

export class PortMirrorReconciler {
  private readonly status: ParentStatusWriter;

  constructor(private deps: PortMirrorDeps, private controller: Controller) {
    this.status = new ParentStatusWriter(deps.client, PortMirrorType);
  }

  register(): void {
    const { mirrors, tasks, pods, nodes } = this.deps;
    const key = (m: PortMirror) => `${m.metadata.namespace}/${m.metadata.name}`;
    mirrors.onChange((_t, m) => this.controller.enqueue(key(m)));
    tasks.onChange((_t, task) => {
      const p = task.spec?.parent;
      if (p?.kind === 'PortMirror') this.controller.enqueue(`${p.namespace}/${p.name}`);
    });
    pods.onChange((_t, pod, old) => {
      for (const m of mirrors.list(pod.metadata.namespace)) {
        if (this.podSelected(m, pod) || (old && this.podSelected(m, old)) || m.spec.destination?.pod?.name === pod.metadata.name || pod.metadata.deletionTimestamp) {
          this.controller.enqueue(key(m));
        }
      }
    });
    // Nodes matter to node sources and to the collector's node (its address, the VXLAN remote).
    nodes.onChange(() => {
      for (const m of mirrors.list()) if (m.spec.source?.nodes || m.spec.destination?.pod) this.controller.enqueue(key(m));
    });
  }

  podSelected(m: PortMirror, pod: Pod): boolean {
    if (m.spec.destination?.pod?.name === pod.metadata.name) return false; // never mirror the collector into itself
    return podTargeted(m.spec.source?.pods, pod);
  }

  reconcile = async (key: string, log: Logger): Promise<Result | void> => {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.deps.mirrors.get(namespace, name);
    if (!cached) return;
    const mirror = structuredClone(cached);
    const mine = () => this.deps.tasks.byIndex(BY_PARENT, mirror.metadata.uid!).filter((t) => t.spec?.parent?.kind === 'PortMirror');

    if (mirror.metadata.deletionTimestamp) return this.status.cleanup(mirror, mine(), this.deps.nodes, log, 'remove their tc state');
    if (await ensureFinalizer(this.deps.client, PortMirrorType, mirror)) return; // the update event brings us back

    let invalid: { reason: ConditionReason; message: string } | undefined;
    if (mirror.spec.filter) {
      const err = this.deps.validateFilter(mirror.spec.filter, DEFAULT_SNAP_LENGTH, mirror.metadata.namespace!, { id: key, wake: () => this.controller.enqueue(key) });
      if (err === FILTER_PENDING) return { requeueAfterMs: FILTER_PENDING_RECHECK_MS };
      if (err) invalid = { reason: 'InvalidFilter', message: `spec.filter: ${err}` };
    }
    invalid ??= this.authorize(mirror);
    let waiting: { reason: ConditionReason; message: string } | undefined;
    let sourcesFound = 0;
    if (invalid) {
      for (const t of mine()) await deleteTask(this.deps.client, t);
    } else {
      const r = await this.place(mirror, mine(), log);
      sourcesFound = r.sources;
      waiting = r.waiting;
    }
    return this.writeStatus(mirror, invalid, waiting, sourcesFound, invalid ? [] : mine(), log);
  };

  /** The sources and the destination against the one authorization rule (authorize.ts). */
  private authorize(mirror: PortMirror): { reason: ConditionReason; message: string } | undefined {
    const ns = mirror.metadata.namespace!;
    const rules: AccessRules = this.deps;
    const addresses = new Set(this.deps.nodes.list().flatMap((n) => (n.status?.addresses ?? []).map((a) => a.address)));
    const refused = authorizeMirror(rules, ns, mirror.spec, addresses);
    if (refused) return refused;
    const sources = this.deps.pods.list(ns).filter((p) => this.podSelected(mirror, p) && !p.metadata.deletionTimestamp);
    const collector = mirror.spec.destination.pod ? this.deps.pods.get(ns, mirror.spec.destination.pod.name) : undefined;
    return authorizePods(rules, ns, 'spec.source.pods', sources) ?? authorizePods(rules, ns, 'spec.destination.pod', collector ? [collector] : []);
  }

  /** The per-node share: sources on each node and the destination as seen from that node. */
  resolve(mirror: PortMirror): { byNode: Map<string, MirrorSourceRef[]>; destination: (node: string) => ResolvedMirrorDestination | undefined; collectorNode?: string; waiting?: { reason: ConditionReason; message: string } } {
    const ns = mirror.metadata.namespace!;
    const byNode = new Map<string, MirrorSourceRef[]>();
    const slot = (n: string) => byNode.get(n) ?? (byNode.set(n, []), byNode.get(n)!);
    for (const pod of this.deps.pods.list(ns)) {
      if (!this.podSelected(mirror, pod) || pod.metadata.deletionTimestamp) continue;
      const node = pod.spec?.nodeName;
      if (!node || pod.status?.phase !== 'Running') continue;
      slot(node).push({ pod: { name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid!, ips: podIps(pod) } });
    }
    const nt = mirror.spec.source.nodes;
    if (nt) {
      for (const node of this.deps.nodes.list()) {
        const picked = nt.all === true || (nt.names?.includes(node.metadata.name) ?? false) || (nt.selector !== undefined && matchesSelector(nt.selector, node.metadata.labels));
        if (picked) slot(node.metadata.name).push(...nt.interfaces.map((i) => ({ interface: i })));
      }
    }
    for (const list of byNode.values()) list.sort((a, b) => (a.pod?.name ?? a.interface ?? '').localeCompare(b.pod?.name ?? b.interface ?? '') || (a.pod?.uid ?? '').localeCompare(b.pod?.uid ?? ''));
    const d = mirror.spec.destination;
    if (d.interface) return { byNode, destination: () => ({ interface: { name: d.interface!.name } }) };
    if (d.remote) return { byNode, destination: () => ({ remote: { ...d.remote!, ...(d.remote!.protocol === 'vxlan' ? { port: d.remote!.port ?? VXLAN_DEFAULT_PORT } : {}) } }) };
    const collector = this.deps.pods.get(ns, d.pod!.name);
    const cnode = collector?.spec?.nodeName;
    if (!collector || !cnode || collector.status?.phase !== 'Running' || collector.metadata.deletionTimestamp) {
      return { byNode, destination: () => undefined, waiting: { reason: 'CollectorNotFound', message: `destination.pod: collector pod ${d.pod!.name} is not running in ${ns}; waiting for it` } };
    }
    const address = nodeAddress(this.deps.nodes.get(undefined, cnode));
    // The collector's node accepts this mirror's VXLAN frames only from its source nodes.
    const receiveFrom = [...new Set([...byNode.keys()].filter((n) => n !== cnode).flatMap((n) => nodeAddresses(this.deps.nodes.get(undefined, n))))].sort();
    const local: ResolvedMirrorDestination = {
      pod: {
        name: collector.metadata.name, namespace: ns, uid: collector.metadata.uid!, ips: podIps(collector), node: cnode, interface: d.pod!.interface ?? 'eth0',
        ...(receiveFrom.length ? { receiveFrom } : {}),
      },
    };
    return {
      byNode, collectorNode: cnode,
      destination: (node) => (node === cnode ? local : address ? { remote: { address, protocol: 'vxlan', vni: mirrorVni(mirror.metadata.uid!), port: VXLAN_DEFAULT_PORT } } : undefined),
      ...(address ? {} : { waiting: { reason: 'CollectorNodeUnreachable', message: `node ${cnode} of the collector pod has no InternalIP` } }),
    };
  }

  private async place(mirror: PortMirror, existing: NodeTask[], log: Logger): Promise<{ sources: number; waiting?: { reason: ConditionReason; message: string } }> {
    const ns = mirror.metadata.namespace!;
    const r = this.resolve(mirror);
    let sources = 0;
    for (const l of r.byNode.values()) sources += l.length;
    // The collector's node takes part as the receive side, with or without sources of its own.
    if (r.collectorNode && !r.byNode.has(r.collectorNode)) r.byNode.set(r.collectorNode, []);
    const wanted = new Set<string>();
    const apply = async (node: string, work: PortMirrorWork) => {
      const name = mirrorTaskName(mirror, node);
      const spec: NodeTaskSpec = {
        node,
        parent: { kind: 'PortMirror', name: mirror.metadata.name, namespace: ns, uid: mirror.metadata.uid!, generation: mirror.metadata.generation ?? 1 },
        portMirror: work,
      };
      const prev = existing.find((t) => t.metadata.name === name);
      if (prev && sameJson(prev.spec, { ...prev.spec, ...spec })) return;
      await createOrPatch(this.deps.client, NodeTaskType, this.deps.tasks, {
        metadata: { name, namespace: this.deps.namespace, labels: taskLabels('PortMirror', mirror, node) },
        spec,
      } as NodeTask);
      log.info({ node, task: name, sources: work.sources.length }, prev ? 'updated NodeTask' : 'created NodeTask');
    };
    const base = { direction: mirror.spec.direction ?? 'both', sampling: mirror.spec.sampling ?? 1, ...(mirror.spec.filter ? { filter: mirror.spec.filter } : {}) } as const;
    if (!r.waiting) {
      for (const [node, list] of [...r.byNode].sort(([a], [b]) => a.localeCompare(b))) {
        const destination = r.destination(node);
        if (!destination) continue;
        wanted.add(mirrorTaskName(mirror, node));
        await apply(node, { ...base, sources: list, destination });
      }
    }
    for (const t of existing) {
      if (wanted.has(t.metadata.name)) continue;
      if (!this.deps.nodes.get(undefined, t.spec.node)) {
        await deleteTask(this.deps.client, t);
        log.info({ node: t.spec.node, task: t.metadata.name }, 'deleted NodeTask: its node is gone');
        continue;
      }
      // As with captures (docs/adr/0003): a node that lost its sources keeps its task, emptied;
      // the agent removes the filters of the sources that left.
      const pm = t.spec.portMirror;
      if (!pm || pm.sources.length === 0) continue;
      await apply(t.spec.node, { ...pm, sources: [] });
      log.info({ node: t.spec.node, task: t.metadata.name }, 'emptied NodeTask: node has no sources left');
    }
    return { sources, ...(r.waiting ? { waiting: r.waiting } : {}) };
  }

  private async writeStatus(mirror: PortMirror, invalid: { reason: ConditionReason; message: string } | undefined, waiting: { reason: ConditionReason; message: string } | undefined, sourcesFound: number, tasks: NodeTask[], log: Logger): Promise<Result | void> {
    const observed: ObservedMirrorTask[] = tasks.map((t) => ({
      node: t.spec.node,
      sources: t.spec.portMirror?.sources.length ?? 0,
      ...(t.status?.phase ? { phase: t.status.phase } : {}),
      attached: t.status?.targets?.filter((g) => g.state === 'Attached').length ?? 0,
      failed: t.status?.targets?.filter((g) => g.state === 'Failed').map((g) => `${g.name}${g.message ? `: ${g.message}` : ''}`) ?? [],
      packets: t.status?.counters?.packets ?? 0,
      bytes: t.status?.counters?.bytes ?? 0,
      drops: t.status?.counters?.drops ?? 0,
      ...(t.status?.reason ? { reason: t.status.reason } : {}),
      ...(t.status?.message ? { message: t.status.message } : {}),
    }));
    const d = deriveMirrorStatus({ ...(invalid ? { invalid } : {}), ...(waiting ? { waiting } : {}), sourcesFound, tasks: observed });
    const now = nowTime();
    const prev = mirror.status ?? {};
    const status = {
      observedGeneration: mirror.metadata.generation,
      phase: d.phase,
      conditions: mergeConditions(prev.conditions as Condition[] | undefined, d.conditions, mirror.metadata.generation, now),
      totals: d.totals,
      nodes: d.nodes,
    };
    return this.status.writeAndAnnounce(mirror, status, d, this.deps.events, log);
  }

}
