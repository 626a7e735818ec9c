// The orphan sweep: deletes a NodeTask whose parent no longer exists. NodeTasks live in the
// operator's namespace and no owner reference ties them to their parent (one cannot cross
// namespaces), so a parent that went while no operator ran its cleanup (deleted with the
// operator down and its finalizer removed by hand, or force-deleted) would leave its tasks,
// and their agents' work, behind. Each task is checked when it appears (at start-up every task
// does, from the informer's first list) and again when a parent goes; its parent is looked up
// by kind, namespace and name in the operator's own caches and must have the task's parent UID.
// The agent of a deleted task stops its work and removes its files, as after a cleanup.
//
// The controller must start only once every cache has synced: before that, a parent not yet
// listed would look gone.
import type { Controller } from '../../../../lib/kube/controller.js';
import type { Informer } from '../../../../lib/kube/informer.js';
import type { KubeClient, KubeObject } from '../../../../lib/kube/kube.js';
import type { NodeTask } from '../../../../lib/kube/objects.js';
import type { Logger } from '../../../../lib/observe/log.js';
import type { ParentKind } from '../../../../crds/src/index.js';
import { BY_PARENT } from './cache.js';
import { deleteTask } from './parent.js';

/** Where the sweep looks a parent up: each kind's informer. */
export type ParentCaches = Record<ParentKind, Pick<Informer<KubeObject>, 'get' | 'onChange'>>;

export class OrphanSweep {
  constructor(private deps: { client: KubeClient; tasks: Informer<NodeTask>; parents: ParentCaches }, private controller: Controller) {}

  register(): void {
    const { tasks, parents } = this.deps;
    const key = (t: NodeTask) => `${t.metadata.namespace}/${t.metadata.name}`;
    tasks.onChange((type, t) => {
      if (type !== 'delete') this.controller.enqueue(key(t));
    });
    for (const cache of Object.values(parents)) {
      cache.onChange((type, parent) => {
        if (type === 'delete' && parent.metadata.uid) for (const t of tasks.byIndex(BY_PARENT, parent.metadata.uid)) this.controller.enqueue(key(t));
      });
    }
  }

  /** The parent a task names, if it still exists with the task's parent UID. */
  parentOf(t: NodeTask): KubeObject | undefined {
    const p = t.spec?.parent;
    const cache = p && this.deps.parents[p.kind];
    const parent = cache?.get(p.namespace, p.name);
    return parent?.metadata.uid === p?.uid ? parent : undefined;
  }

  reconcile = async (key: string, log: Logger): Promise<void> => {
    const [ns, name] = key.split('/') as [string, string];
    const t = this.deps.tasks.get(ns, name);
    if (!t || this.parentOf(t)) return;
    const p = t.spec?.parent;
    await deleteTask(this.deps.client, t);
    log.info({ node: t.spec?.node, parent: p ? `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name} (uid ${p.uid})` : 'none' }, 'deleted orphaned NodeTask: its parent is gone');
  };
}
