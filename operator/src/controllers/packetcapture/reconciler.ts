// The PacketCapture controller. Three concerns, each a small step of one level-based
// reconcile keyed by namespace/name:
//   placement   resolve targets to pods/interfaces per node; one NodeTask per node, in the
//               operator's namespace (docs/adr/0012-nodetasks-in-the-operator-namespace.md)
//   status      aggregate the NodeTasks' statuses into the capture's status
//   cleanup     on deletion, ask agents to clean up, wait (bounded), delete the NodeTasks,
//               drop the finalizer
// RBAC this controller needs (the chart grants exactly these):
//   ringtap.dev packetcaptures: get list watch update patch; packetcaptures/status: patch;
//   packetcaptures/finalizers: update; nodetasks (in the operator's namespace): get list watch create patch delete;
//   core pods, nodes: get list watch; events.k8s.io events: create.
import type { Logger } from '../../../../lib/observe/log.js';
import {
  API_VERSION,
  DEFAULT_SNAP_LENGTH,
  MAX_TASK_PODS,
  NodeTaskType,
  PACKET_CAPTURE_TERMINAL_PHASES,
  PacketCaptureType,
  type ConditionReason,
  type PacketCaptureWork,
  type ResolvedPod,
} from '../../../../crds/src/index.js';
import type { Controller, Result } from '../../../../lib/kube/controller.js';
import { mergeConditions, nowTime, type Condition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import type { Informer } from '../../../../lib/kube/informer.js';
import type { KubeClient } from '../../../../lib/kube/kube.js';
import { createOrPatch } from '../../../../lib/kube/writes.js';
import type { NodeTask, PacketCapture } from '../../../../lib/kube/objects.js';
import { effectiveFilter } from '../shared/bpf.js';
import { deriveCaptureStatus, type ObservedTask } from './status.js';
import { parseBytes, parseDurationMs, resolveFiles } from '../shared/units.js';
import { FILTER_PENDING, FILTER_PENDING_RECHECK_MS } from '../shared/filters.js';
import { deleteTask, ensureFinalizer, ParentStatusWriter, sameJson, taskLabels, taskName, type FilterValidator } from '../shared/parent.js';
import { authorizeCapture, authorizePods } from '../shared/authorize.js';
import { podTargeted } from '../shared/selectors.js';
import { BY_PARENT, selectTargets, type PlacementNode, type PlacementPod } from '../shared/cache.js';


type Pod = PlacementPod;
type Node = PlacementNode;

export interface PacketCaptureDeps {
  client: KubeClient;
  captures: Informer<PacketCapture>;
  tasks: Informer<NodeTask>;
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  events: EventRecorder;
  validateFilter: FilterValidator;
  trustedNamespaces: ReadonlySet<string>;
  /** The operator's namespace, where every NodeTask lives. */
  namespace: string;
}

export class PacketCaptureReconciler {
  private status: ParentStatusWriter;

  constructor(private deps: PacketCaptureDeps, private controller: Controller) {
    this.status = new ParentStatusWriter(deps.client, PacketCaptureType, (o) => deps.captures.observe(o as PacketCapture));
  }

  /** Wires informer events to capture keys. */
  register(): void {
    const { captures, tasks, pods, nodes } = this.deps;
    captures.onChange((_t, c) => this.controller.enqueue(`${c.metadata.namespace}/${c.metadata.name}`));
    tasks.onChange((_t, task) => {
      const p = task.spec?.parent;
      if (p?.kind === 'PacketCapture') this.controller.enqueue(`${p.namespace}/${p.name}`);
    });
    // A pod change may add it to or remove it from any capture of its namespace.
    pods.onChange((_t, pod, old) => {
      for (const c of captures.list(pod.metadata.namespace)) {
        if (this.podSelected(c, pod) || (old && this.podSelected(c, old)) || pod.metadata.deletionTimestamp) {
          this.controller.enqueue(`${c.metadata.namespace}/${c.metadata.name}`);
        }
      }
    });
    // Placement reads a node's name, labels and existence: nothing else of a node wakes it.
    nodes.onChange((t, node, old) => {
      if (t === 'update' && old && sameJson(node.metadata.labels ?? {}, old.metadata.labels ?? {})) return;
      for (const c of captures.list()) if (c.spec.targets?.nodes) this.controller.enqueue(`${c.metadata.namespace}/${c.metadata.name}`);
    });
  }

  private podSelected(c: PacketCapture, pod: Pod): boolean {
    return podTargeted(c.spec.targets?.pods, pod);
  }

  reconcile = async (key: string, log: Logger): Promise<Result | void> => {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.deps.captures.get(namespace, name);
    if (!cached) return; // deleted: its cleanup deleted its NodeTasks, or the orphan sweep will
    const capture = structuredClone(cached);
    const myTasks = this.deps.tasks.byIndex(BY_PARENT, capture.metadata.uid!).filter((t) => t.spec?.parent?.kind === 'PacketCapture');

    if (capture.metadata.deletionTimestamp) return this.status.cleanup(capture, myTasks, this.deps.nodes, log, 'clean up');
    // Go on with the answer rather than wait for the update event: placement need not wait a
    // round trip through the watch, and the cache knows the new version at once.
    const finalized = await ensureFinalizer(this.deps.client, PacketCaptureType, capture);
    if (finalized) {
      this.deps.captures.observe(finalized as PacketCapture);
      capture.metadata = structuredClone(finalized.metadata);
    }

    // Validation the schema cannot do.
    const filter = effectiveFilter(capture.spec.filter, capture.spec.match);
    const snap = capture.spec.snapLength ?? DEFAULT_SNAP_LENGTH;
    let invalid: { reason: ConditionReason; message: string } | undefined;
    if (filter) {
      const err = this.deps.validateFilter(filter, snap, namespace, { id: key, wake: () => this.controller.enqueue(key) });
      if (err === FILTER_PENDING) return { requeueAfterMs: FILTER_PENDING_RECHECK_MS };
      if (err) invalid = { reason: 'InvalidFilter', message: `spec.filter: ${err}` };
    }
    invalid ??= authorizeCapture(this.deps, namespace, capture.spec) ?? this.checkPods(capture);

    const terminal = (PACKET_CAPTURE_TERMINAL_PHASES as readonly string[]).includes(capture.status?.phase ?? '') && capture.status?.observedGeneration === capture.metadata.generation && !invalid && myTasks.length > 0;
    let targetsFound = 0;
    if (invalid) {
      // Nothing may run on a spec we refuse.
      for (const t of myTasks) await deleteTask(this.deps.client, t);
    } else if (!terminal) {
      targetsFound = await this.place(capture, filter, myTasks, log);
    } else {
      targetsFound = myTasks.length;
    }

    // The tasks as they are now: the cache holds this reconcile's own writes (observe()).
    const current = this.deps.tasks.byIndex(BY_PARENT, capture.metadata.uid!);
    return this.writeStatus(capture, invalid, targetsFound, invalid ? [] : current, log);
  };

  /** The selected pods against the authorization rule (hostNetwork pods are node targets) and the per-node limit. */
  private checkPods(capture: PacketCapture): { reason: ConditionReason; message: string } | undefined {
    const ns = capture.metadata.namespace!;
    const t = capture.spec.targets?.pods;
    const selected = t ? selectTargets(this.deps.pods, ns, t).filter((p) => !p.metadata.deletionTimestamp) : [];
    const refused = authorizePods(this.deps, ns, 'spec.targets.pods', selected);
    if (refused) return refused;
    const perNode = new Map<string, number>();
    for (const p of selected) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    for (const [node, n] of perNode) {
      if (n > MAX_TASK_PODS) return { reason: 'InvalidSpec', message: `spec.targets.pods: ${n} pods selected on node ${node}; one capture takes at most ${MAX_TASK_PODS} pods per node` };
    }
    return undefined;
  }

  /** Writes one NodeTask per node with targets, deletes the rest; returns the number of targets. */
  private async place(capture: PacketCapture, filter: string, existing: NodeTask[], log: Logger): Promise<number> {
    const ns = capture.metadata.namespace!;
    const byNode = new Map<string, { pods: ResolvedPod[]; interfaces: string[] }>();
    const slot = (node: string) => {
      let s = byNode.get(node);
      if (!s) byNode.set(node, (s = { pods: [], interfaces: [] }));
      return s;
    };
    const pt = capture.spec.targets?.pods;
    for (const pod of pt ? selectTargets(this.deps.pods, ns, pt) : []) {
      if (pod.metadata.deletionTimestamp) continue;
      const node = pod.spec?.nodeName;
      if (!node || pod.status?.phase !== 'Running') continue;
      const ips = pod.status.podIPs?.map((p) => p.ip) ?? (pod.status.podIP ? [pod.status.podIP] : []);
      slot(node).pods.push({ name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid!, ips });
    }
    const nt = capture.spec.targets?.nodes;
    if (nt) {
      for (const node of selectTargets(this.deps.nodes, undefined, nt)) slot(node.metadata.name).interfaces.push(...nt.interfaces);
    }
    let targets = 0;
    const wanted = new Set<string>();
    for (const [node, work] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
      work.pods.sort((a, b) => a.name.localeCompare(b.name) || a.uid.localeCompare(b.uid));
      targets += work.pods.length + work.interfaces.length;
      const name = taskName({ kind: 'PacketCapture', namespace: ns, name: capture.metadata.name }, node);
      wanted.add(name);
      const spec: NodeTask['spec'] = {
        node,
        parent: { kind: 'PacketCapture', name: capture.metadata.name, namespace: ns, uid: capture.metadata.uid!, generation: capture.metadata.generation ?? 1 },
        packetCapture: resolveWork(capture, work.pods, work.interfaces, filter),
      };
      const prev = existing.find((t) => t.metadata.name === name);
      if (prev && sameJson(prev.spec, { ...prev.spec, ...spec })) continue;
      // The first placement is announced by the phase event, not pod by pod.
      if (existing.length > 0) this.recordChurn(capture, node, prev?.spec.packetCapture?.pods ?? [], work.pods);
      await this.apply({
        metadata: { name, namespace: this.deps.namespace, labels: taskLabels('PacketCapture', capture, node) },
        spec,
      });
      log.info({ node, task: name, pods: work.pods.length, interfaces: work.interfaces.length }, prev ? 'updated NodeTask' : 'created NodeTask');
    }
    for (const t of existing) {
      if (wanted.has(t.metadata.name)) continue;
      if (!this.deps.nodes.get(undefined, t.spec.node)) {
        await deleteTask(this.deps.client, t);
        log.info({ node: t.spec.node, task: t.metadata.name }, 'deleted NodeTask: its node is gone');
        continue;
      }
      // A node whose last target left keeps its NodeTask, emptied: deleting it would delete
      // the node's files, and the pod that left is often about to come back (a restart).
      if ((t.spec.packetCapture?.pods?.length ?? 0) === 0 && (t.spec.packetCapture?.interfaces?.length ?? 0) === 0) continue;
      this.recordChurn(capture, t.spec.node, t.spec.packetCapture?.pods ?? [], []);
      const pc = t.spec.packetCapture;
      await this.apply({
        metadata: { name: t.metadata.name, namespace: t.metadata.namespace, labels: taskLabels('PacketCapture', capture, t.spec.node) },
        spec: { ...t.spec, ...(pc ? { packetCapture: { ...pc, pods: [], interfaces: [] } } : {}) },
      });
      log.info({ node: t.spec.node, task: t.metadata.name }, 'emptied NodeTask: node has no targets left');
    }
    return targets;
  }

  /** A NodeTask created, or patched where it differs (lib/kube/writes.ts); the answer goes into the cache at once. */
  private async apply(task: Omit<NodeTask, 'status'>): Promise<void> {
    await createOrPatch(this.deps.client, NodeTaskType, this.deps.tasks, task as NodeTask);
  }

  /** One event per node and direction, however many pods joined or left there (a rollout moves many at once). */
  private recordChurn(capture: PacketCapture, node: string, before: ResolvedPod[], after: ResolvedPod[]): void {
    const b = new Set(before.map((p) => p.uid)), a = new Set(after.map((p) => p.uid));
    const ref = { ...capture, apiVersion: API_VERSION, kind: 'PacketCapture' };
    const joined = after.filter((p) => !b.has(p.uid)), left = before.filter((p) => !a.has(p.uid));
    const names = (ps: ResolvedPod[]) => ps.map((p) => `${p.name} (uid ${p.uid})`).join(', ');
    if (joined.length) void this.deps.events.record(ref, 'Normal', 'PodJoined', `${joined.length === 1 ? 'pod' : `${joined.length} pods`} ${names(joined)} on node ${node} joined the capture`);
    if (left.length) void this.deps.events.record(ref, 'Normal', 'PodLeft', `${left.length === 1 ? 'pod' : `${left.length} pods`} ${names(left)} on node ${node} left the capture`);
  }

  private async writeStatus(capture: PacketCapture, invalid: { reason: ConditionReason; message: string } | undefined, targetsFound: number, tasks: NodeTask[], log: Logger): Promise<Result | void> {
    const observed: ObservedTask[] = tasks.map((t) => ({
      node: t.spec.node,
      pods: t.spec.packetCapture?.pods?.length ?? 0,
      ...(t.status?.phase ? { phase: t.status.phase } : {}),
      packets: t.status?.counters?.packets ?? 0,
      bytes: t.status?.counters?.bytes ?? 0,
      drops: t.status?.counters?.drops ?? 0,
      freezes: t.status?.counters?.freezes ?? 0,
      files: t.status?.files?.length ?? 0,
      ...(t.status?.stopReason ? { stopReason: t.status.stopReason } : {}),
      ...(t.status?.message ? { message: t.status.message } : {}),
      ...(t.status?.targets?.length ? {
        attached: t.status.targets.filter((x) => x.state === 'Attached').length,
        failedTargets: t.status.targets.filter((x) => x.state === 'Failed').length,
        notAttached: t.status.targets.filter((x) => x.state !== 'Attached').map((x) => `${x.name} ${x.state}${x.message ? `: ${x.message}` : ''}`),
      } : {}),
    }));
    const d = deriveCaptureStatus({ ...(invalid ? { invalid } : {}), targetsFound, tasks: observed, ...(capture.status?.phase ? { previousPhase: capture.status.phase } : {}) });
    const now = nowTime();
    const prev = capture.status ?? {};
    const startTime = prev.startTime ?? (d.phase === 'Running' || d.terminal ? now : undefined);
    const status = {
      observedGeneration: capture.metadata.generation,
      phase: d.phase,
      conditions: mergeConditions(prev.conditions as Condition[] | undefined, d.conditions, capture.metadata.generation, now),
      totals: d.totals,
      nodes: d.nodes,
      ...(startTime ? { startTime } : {}),
      ...(d.terminal ? { completionTime: prev.completionTime ?? now } : {}),
      ...(d.stopReason ? { stopReason: d.stopReason } : {}),
    };
    let result: Result | undefined;
    // The duration deadline: come back when it passes, to see the agents' final counts.
    const dur = capture.spec.limits?.duration;
    if (dur && startTime && !d.terminal) {
      const left = Date.parse(startTime) + parseDurationMs(dur) - Date.now();
      result = { requeueAfterMs: Math.max(left + 2_000, 1_000) };
    }
    return this.status.writeAndAnnounce(capture, status, d, this.deps.events, log, result);
  }

}

/** The per-node work: the capture's spec with every user quantity resolved to numbers. */
export function resolveWork(capture: PacketCapture, pods: ResolvedPod[], interfaces: string[], filter: string): PacketCaptureWork {
  const s = capture.spec;
  const l = s.limits, r = s.rotation, k = s.retention;
  const durationMs = l?.duration ? parseDurationMs(l.duration) : undefined;
  const startTime = capture.status?.startTime;
  return {
    pods,
    interfaces,
    capturePoint: s.capturePoint ?? 'pod',
    ...(s.podInterfaces ? { podInterfaces: s.podInterfaces } : {}),
    filter,
    snapLength: s.snapLength ?? DEFAULT_SNAP_LENGTH,
    ...(l ? {
      limits: {
        ...(durationMs !== undefined ? { durationSeconds: Math.ceil(durationMs / 1000) } : {}),
        // An absolute deadline survives agent restarts and pods that join late.
        ...(durationMs !== undefined && startTime ? { stopAt: new Date(Date.parse(startTime) + durationMs).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
        ...(l.maxPackets !== undefined ? { maxPackets: l.maxPackets } : {}),
        ...(l.maxBytes !== undefined ? { maxBytes: parseBytes(l.maxBytes) } : {}),
      },
    } : {}),
    output: { format: s.output?.format ?? 'pcapng' },
    ...resolveFiles(r, k),
    timestamps: s.timestamps ?? 'software',
  };
}
