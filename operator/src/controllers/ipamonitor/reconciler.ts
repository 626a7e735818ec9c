// The IPAMonitor controller, in the shape of the PortMirror one. An IPAMonitor is
// cluster-scoped; its NodeTasks live in the operator's namespace, as every kind's do. Three
// concerns in one level-based reconcile keyed by the monitor's name:
//   placement   one NodeTask per node matching spec.nodeSelector (default: nodes the agent
//               labelled ringtap.dev/ipa=true); a node that no longer matches, or is gone,
//               loses its task (its agent stops the reader and removes the files)
//   status      aggregate the NodeTasks' status.ipa into totals, per-node state and a bounded
//               traffic matrix (ipamonitor-status.ts, pure)
//   cleanup     on deletion, ask agents to stop their readers and remove files, wait (bounded),
//               delete the NodeTasks, drop the finalizer
// RBAC (operator/src/rbac.ts already grants it): ipamonitors get list watch update patch,
// ipamonitors/status patch, ipamonitors/finalizers update; nodetasks; nodes get list watch.
import type { Logger } from '../../../../lib/observe/log.js';
import {
  type ConditionReason,
  DEFAULT_SNAP_LENGTH,
  IPA_NODE_LABEL,
  type IPACaptureWork,
  type IPAMonitorSpec,
  IPAMonitorType,
  type IPAMonitorWork,
  type NodeTaskSpec,
  NodeTaskType,
} from '../../../../crds/src/index.js';
import type { Controller, Result } from '../../../../lib/kube/controller.js';
import { mergeConditions, nowTime, type Condition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import type { Informer } from '../../../../lib/kube/informer.js';
import { createOrPatch } from '../../../../lib/kube/writes.js';
import type { KubeClient, KubeObject } from '../../../../lib/kube/kube.js';
import type { IPAMonitor, NodeTask } from '../../../../lib/kube/objects.js';
import { deriveIPAMonitorStatus, type ObservedIPATask } from './status.js';
import { deleteTask, ensureFinalizer, ParentStatusWriter, sameJson, taskLabels, taskName } from '../shared/parent.js';
import { BY_PARENT } from '../shared/cache.js';
import { matchesSelector } from '../shared/selectors.js';
import { parseDurationMs, resolveFiles } from '../shared/units.js';



/** A NodeTask name distinct from other kinds' tasks of the same parent name on the same node. */
export function ipaTaskName(monitor: string, node: string): string {
  return taskName({ kind: 'IPAMonitor', name: monitor }, node);
}

export interface IPAMonitorDeps {
  client: KubeClient;
  monitors: Informer<IPAMonitor>;
  tasks: Informer<NodeTask>;
  nodes: Informer<KubeObject>;
  events: EventRecorder;
  /** The operator's namespace, where every NodeTask lives. */
  namespace: string;
}

/** The per-node work: the monitor's spec with every user quantity resolved to numbers. */
export function resolveIPAWork(spec: IPAMonitorSpec): IPAMonitorWork {
  const c = spec.capture;
  const r = c?.rotation, k = c?.retention;
  const capture: IPACaptureWork | undefined = c ? {
    enabled: c.enabled ?? false,
    snapLength: c.snapLength ?? DEFAULT_SNAP_LENGTH,
    ...(c.endpoints ? { endpoints: c.endpoints } : {}),
    output: { format: c.output?.format ?? 'pcapng' },
    ...resolveFiles(r, k),
  } : undefined;
  return {
    device: spec.device ?? 'auto',
    ...(spec.source ? { source: spec.source } : {}),
    ipaVersion: spec.ipaVersion ?? 'auto',
    ...(capture ? { capture } : {}),
    metricsIntervalSeconds: Math.min(86400, Math.max(1, Math.ceil(parseDurationMs(spec.metricsInterval ?? '30s') / 1000))),
  };
}

export class IPAMonitorReconciler {
  private readonly status: ParentStatusWriter;

  constructor(private deps: IPAMonitorDeps, private controller: Controller) {
    this.status = new ParentStatusWriter(deps.client, IPAMonitorType);
  }

  register(): void {
    const { monitors, tasks, nodes } = this.deps;
    monitors.onChange((_t, m) => this.controller.enqueue(m.metadata.name));
    tasks.onChange((_t, task) => {
      const p = task.spec?.parent;
      if (p?.kind === 'IPAMonitor') this.controller.enqueue(p.name);
    });
    // A node gaining or losing the IPA label (or any label a selector names) changes placement.
    nodes.onChange(() => {
      for (const m of monitors.list()) this.controller.enqueue(m.metadata.name);
    });
  }

  private selectedNodes(m: IPAMonitor): string[] {
    const sel = m.spec.nodeSelector ?? { matchLabels: { [IPA_NODE_LABEL]: 'true' } };
    return this.deps.nodes.list()
      .filter((n) => !n.metadata.deletionTimestamp && matchesSelector(sel, n.metadata.labels))
      .map((n) => n.metadata.name)
      .sort();
  }

  reconcile = async (name: string, log: Logger): Promise<Result | void> => {
    const cached = this.deps.monitors.get(undefined, name);
    if (!cached) return; // deleted: its cleanup deleted its NodeTasks, or the orphan sweep will
    const monitor = structuredClone(cached);
    const ns = this.deps.namespace;
    const mine = () => this.deps.tasks.byIndex(BY_PARENT, monitor.metadata.uid!).filter((t) => t.spec?.parent?.kind === 'IPAMonitor');

    if (monitor.metadata.deletionTimestamp) return this.status.cleanup(monitor, mine(), this.deps.nodes, log, 'stop their IPA readers and remove files');
    if (await ensureFinalizer(this.deps.client, IPAMonitorType, monitor)) return; // the update event brings us back

    let invalid: { reason: ConditionReason; message: string } | undefined;
    let work: IPAMonitorWork | undefined;
    try {
      work = resolveIPAWork(monitor.spec);
    } catch (err) {
      invalid = { reason: 'InvalidSpec', message: (err as Error).message };
    }
    if (work?.capture?.enabled && work.capture.output.format !== 'pcapng') {
      invalid = { reason: 'InvalidSpec', message: 'spec.capture.output.format: IPAMonitor captures are pcapng only (the decoded header travels in packet comments and a custom option)' };
    }
    const selected = invalid ? [] : this.selectedNodes(monitor);
    const existing = mine();
    const wanted = new Set<string>();
    if (!invalid && work) {
      for (const node of selected) {
        const taskName = ipaTaskName(name, node);
        wanted.add(taskName);
        const spec: NodeTaskSpec = {
          node,
          parent: { kind: 'IPAMonitor', name, uid: monitor.metadata.uid!, generation: monitor.metadata.generation ?? 1 },
          ipaMonitor: work,
        };
        const prev = existing.find((t) => t.metadata.name === taskName);
        if (prev && sameJson(prev.spec, { ...prev.spec, ...spec })) continue;
        await createOrPatch(this.deps.client, NodeTaskType, this.deps.tasks, {
          metadata: { name: taskName, namespace: ns, labels: taskLabels('IPAMonitor', monitor, node) },
          spec,
        } as NodeTask);
        log.info({ node, task: taskName }, prev ? 'updated NodeTask' : 'created NodeTask');
      }
    }
    for (const t of existing) {
      if (wanted.has(t.metadata.name)) continue;
      await deleteTask(this.deps.client, t);
      log.info({ node: t.spec.node, task: t.metadata.name }, 'deleted NodeTask: its node is no longer selected');
    }
    return this.writeStatus(monitor, invalid, selected.length, mine().filter((t) => wanted.has(t.metadata.name)), log);
  };

  private async writeStatus(monitor: IPAMonitor, invalid: { reason: ConditionReason; message: string } | undefined, selectedNodes: number, tasks: NodeTask[], log: Logger): Promise<Result | void> {
    const observed: ObservedIPATask[] = tasks.map((t) => ({
      node: t.spec.node,
      ...(t.status?.phase ? { phase: t.status.phase } : {}),
      ...(t.status?.reason ? { reason: t.status.reason } : {}),
      ...(t.status?.message ? { message: t.status.message } : {}),
      ...(t.status?.ipaVersion ? { ipaVersion: t.status.ipaVersion } : {}),
      ...(t.status?.ipa ? { ipa: t.status.ipa } : {}),
      packets: t.status?.counters?.packets ?? 0,
      bytes: t.status?.counters?.bytes ?? 0,
      drops: t.status?.counters?.drops ?? 0,
      files: t.status?.files?.length ?? 0,
    }));
    const d = deriveIPAMonitorStatus({ ...(invalid ? { invalid } : {}), selectedNodes, tasks: observed });
    const prev = monitor.status ?? {};
    const status = {
      observedGeneration: monitor.metadata.generation,
      phase: d.phase,
      conditions: mergeConditions(prev.conditions as Condition[] | undefined, d.conditions, monitor.metadata.generation, nowTime()),
      totals: d.totals,
      nodes: d.nodes,
      matrix: d.matrix,
      otherPairs: d.otherPairs,
      byException: d.byException,
      byOpcode: d.byOpcode,
      decodeErrors: d.decodeErrors,
      truncated: d.truncated,
    };
    return this.status.writeAndAnnounce(monitor, status, d, this.deps.events, log);
  }
}
