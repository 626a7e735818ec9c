// The PPPBridge controller, on the same runtime as PortMirror. One level-based reconcile keyed
// by the (cluster-scoped) bridge name, in three small steps:
//   placement   one NodeTask on spec.nodeName, in the operator's namespace (where every
//               NodeTask lives); none while the node is missing or cannot do the requested
//               mode (mode kernel on a node whose published pppKernelBridge capability says no)
//   status      derived from the node and the task's status (pppbridge-status.ts)
//   cleanup     on deletion, ask the agent to close its sockets (or unbridge), wait (bounded),
//               delete the NodeTask, drop the finalizer
// RBAC (operator/src/rbac.ts already grants it): pppbridges get list watch update patch,
// pppbridges/status patch, pppbridges/finalizers update; nodetasks; nodes get list watch.
import type { Controller, Result } from '../../../../lib/kube/controller.js';
import { mergeConditions, nowTime, type Condition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import type { Informer } from '../../../../lib/kube/informer.js';
import { createOrPatch } from '../../../../lib/kube/writes.js';
import type { KubeClient, KubeObject } from '../../../../lib/kube/kube.js';
import type { NodeTask, PPPBridge } from '../../../../lib/kube/objects.js';
import type { Logger } from '../../../../lib/observe/log.js';
import {
  CAPABILITY_ANNOTATION,
  NodeTaskType,
  PPPBridgeType,
  type NodeTaskSpec,
  type PPPBridgeSpec,
  type PPPBridgeWork,
} from '../../../../crds/src/index.js';
import { deleteTask, ensureFinalizer, ParentStatusWriter, sameJson, taskLabels, taskName } from '../shared/parent.js';
import { BY_PARENT } from '../shared/cache.js';
import { blocked, deriveBridgeStatus, type BridgeState } from './status.js';



/** The bridge's NodeTask name: distinct from a capture's or a mirror's of the same name. */
export function bridgeTaskName(bridgeName: string, node: string): string {
  return taskName({ kind: 'PPPBridge', name: bridgeName }, node);
}

/** The node's pppKernelBridge capability from its annotation; undefined when not (validly) published. */
export function kernelCapability(node: KubeObject | undefined): { available: boolean; reason?: string } | undefined {
  const raw = node?.metadata.annotations?.[CAPABILITY_ANNOTATION];
  if (!raw) return undefined;
  try {
    const c = (JSON.parse(raw) as { pppKernelBridge?: { available?: unknown; reason?: unknown } }).pppKernelBridge;
    if (typeof c?.available !== 'boolean') return undefined;
    return { available: c.available, ...(typeof c.reason === 'string' ? { reason: c.reason } : {}) };
  } catch {
    return undefined;
  }
}

/** The NodeTask work of a bridge: the parent's sessions as they are, the mode defaulted. */
export function bridgeWork(spec: PPPBridgeSpec): PPPBridgeWork {
  return { mode: spec.mode ?? 'auto', a: spec.a, b: spec.b, ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) };
}

export interface PPPBridgeDeps {
  client: KubeClient;
  bridges: Informer<PPPBridge>;
  tasks: Informer<NodeTask>;
  nodes: Informer<KubeObject>;
  events: EventRecorder;
  /** The operator's namespace, where every NodeTask lives. */
  namespace: string;
}

export class PPPBridgeReconciler {
  private readonly status: ParentStatusWriter;

  constructor(private deps: PPPBridgeDeps, private controller: Controller) {
    this.status = new ParentStatusWriter(deps.client, PPPBridgeType);
  }

  register(): void {
    const { bridges, tasks, nodes } = this.deps;
    bridges.onChange((_t, b) => this.controller.enqueue(b.metadata.name));
    tasks.onChange((_t, task) => {
      const p = task.spec?.parent;
      if (p?.kind === 'PPPBridge') this.controller.enqueue(p.name);
    });
    // A node appearing, going or (re)publishing its capabilities changes what its bridges can do.
    nodes.onChange((_t, n) => {
      for (const b of bridges.list()) if (b.spec.nodeName === n.metadata.name) this.controller.enqueue(b.metadata.name);
    });
  }

  reconcile = async (key: string, log: Logger): Promise<Result | void> => {
    const cached = this.deps.bridges.get(undefined, key);
    if (!cached) return;
    const bridge = structuredClone(cached);
    const l = log.child({ bridge: bridge.metadata.name, node: bridge.spec.nodeName });
    const mine = () => this.deps.tasks.byIndex(BY_PARENT, bridge.metadata.uid!).filter((t) => t.spec?.parent?.kind === 'PPPBridge');

    if (bridge.metadata.deletionTimestamp) return this.status.cleanup(bridge, mine(), this.deps.nodes, l, 'unbridge and close the sessions');
    if (await ensureFinalizer(this.deps.client, PPPBridgeType, bridge)) return; // the update event brings us back

    const node = this.deps.nodes.get(undefined, bridge.spec.nodeName);
    const capability = kernelCapability(node);
    const state: BridgeState = {
      nodeName: bridge.spec.nodeName,
      nodeExists: node !== undefined && !node.metadata.deletionTimestamp,
      mode: bridge.spec.mode ?? 'auto',
      ...(capability ? { kernelCapability: capability } : {}),
    };
    const task = await this.place(bridge, mine(), blocked(state), l);
    const ts = task?.status;
    const p = ts?.pppBridge;
    state.task = {
      ...(ts?.phase ? { phase: ts.phase } : {}),
      ...(ts?.reason ? { reason: ts.reason } : {}),
      ...(ts?.message ? { message: ts.message } : {}),
      ...(ts?.dataPath ? { dataPath: ts.dataPath } : {}),
      ...(p?.bridgedSince ? { bridgedSince: p.bridgedSince } : {}),
      ...(p?.aToB ? { aToB: p.aToB } : {}),
      ...(p?.bToA ? { bToA: p.bToA } : {}),
    };
    if (!task) delete state.task;
    return this.writeStatus(bridge, state, l);
  };

  /** Ensures exactly the wanted NodeTask (none when blocked); returns it as last observed. */
  private async place(bridge: PPPBridge, existing: NodeTask[], isBlocked: boolean, log: Logger): Promise<NodeTask | undefined> {
    const ns = this.deps.namespace;
    const node = bridge.spec.nodeName;
    const name = bridgeTaskName(bridge.metadata.name, node);
    for (const t of existing) {
      if (t.metadata.name === name && !isBlocked) continue;
      await deleteTask(this.deps.client, t);
      log.info({ task: t.metadata.name }, isBlocked ? 'deleted NodeTask: the node is gone or cannot do the mode' : 'deleted stray NodeTask');
    }
    if (isBlocked) return undefined;
    const spec: NodeTaskSpec = {
      node,
      parent: { kind: 'PPPBridge', name: bridge.metadata.name, uid: bridge.metadata.uid!, generation: bridge.metadata.generation ?? 1 },
      pppBridge: bridgeWork(bridge.spec),
    };
    const prev = existing.find((t) => t.metadata.name === name);
    if (prev && sameJson(prev.spec, { ...prev.spec, ...spec })) return prev;
    const { object: applied } = await createOrPatch(this.deps.client, NodeTaskType, this.deps.tasks, {
      metadata: { name, namespace: ns, labels: taskLabels('PPPBridge', bridge, node) },
      spec,
    } as NodeTask);
    log.info({ task: name, mode: spec.pppBridge!.mode }, prev ? 'updated NodeTask' : 'created NodeTask');
    return prev ?? applied;
  }

  private async writeStatus(bridge: PPPBridge, state: BridgeState, log: Logger): Promise<Result | void> {
    const d = deriveBridgeStatus(state);
    const prev = bridge.status ?? {};
    const status = {
      observedGeneration: bridge.metadata.generation,
      phase: d.phase,
      conditions: mergeConditions(prev.conditions as Condition[] | undefined, d.conditions, bridge.metadata.generation, nowTime()),
      aToB: d.aToB,
      bToA: d.bToA,
      ...(d.dataPath ? { dataPath: d.dataPath } : {}),
      ...(d.bridgedSince ? { bridgedSince: d.bridgedSince } : {}),
      ...(d.message ? { message: d.message } : {}),
    };
    return this.status.writeAndAnnounce(bridge, status, d, this.deps.events, log);
  }
}
