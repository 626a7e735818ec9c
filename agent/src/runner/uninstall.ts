// Restart or uninstall? On SIGTERM the agent keeps the mirrors' kernel state (tc filters, the
// clsact qdisc, VXLAN/GRE devices, the receive iptables chains) so that mirroring carries on
// while the DaemonSet rolls or restarts it; the next agent adopts that state. When the chart is
// uninstalled there is no next agent, so that state must go with this one.
//
// What tells them apart is the agent's owning DaemonSet. `helm uninstall` deletes it with
// propagationPolicy Background (helm's --cascade default): the DaemonSet is gone from the API
// before the garbage collector deletes its pods, so the pods get SIGTERM after it went. With
// --cascade foreground it still exists, with a deletionTimestamp, while its pods are deleted.
// A restart, a rollout or a drain leaves it in place.
//
// Helm deletes the agent's RoleBinding and ServiceAccount right after the DaemonSet, usually
// before the pods get SIGTERM, so a look at the API at SIGTERM time often gets 403 or 401
// instead of 404. The agent therefore watches its DaemonSet while it runs, and remembers the
// deletion it saw; the lookup at SIGTERM is the fallback. A 401 there means the token the
// kubelet gave this pod is rejected: its ServiceAccount, which the chart owns, was deleted.
// Anything that does not say "gone" (the API server unreachable, a timeout, 403) keeps the state:
// a lost mirror for good is worse than a filter left for an agent that comes back.
import { Informer } from '../../../lib/kube/informer.js';
import { KubeError, type KubeClient, type KubeObject, type ResourceType } from '../../../lib/kube/kube.js';
import type { Logger } from '../../../lib/observe/log.js';

const DaemonSetType: ResourceType = { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true };

/** What the agent knows of its owning DaemonSet at SIGTERM. */
export type OwnerState =
  | { kind: 'unmanaged' } // not run by a DaemonSet (RINGTAP_AGENT_DAEMONSET unset): a process agent
  | { kind: 'present'; deletionTimestamp?: string }
  | { kind: 'deleted' } // seen going away by the watch, or 404 from the API
  | { kind: 'unauthenticated'; message: string } // 401: this pod's ServiceAccount is gone
  | { kind: 'unknown'; message: string }; // unreachable, timed out, forbidden, a server error

export interface ShutdownDecision { removeKernelState: boolean; why: string }

/** Pure: what to do with the node's kernel state, given what is known of the DaemonSet. */
export function shutdownDecision(owner: OwnerState, daemonSet = 'the DaemonSet'): ShutdownDecision {
  switch (owner.kind) {
    case 'unmanaged':
      return { removeKernelState: false, why: 'no owning DaemonSet configured (RINGTAP_AGENT_DAEMONSET): restart semantics' };
    case 'present':
      return owner.deletionTimestamp
        ? { removeKernelState: true, why: `${daemonSet} is being deleted (since ${owner.deletionTimestamp}): uninstall` }
        : { removeKernelState: false, why: `${daemonSet} still exists: a restart or rollout, the next agent adopts the state` };
    case 'deleted':
      return { removeKernelState: true, why: `${daemonSet} is gone: uninstall` };
    case 'unauthenticated':
      return { removeKernelState: true, why: `the agent's token is rejected (its ServiceAccount was deleted with the release): uninstall (${owner.message})` };
    case 'unknown':
      return { removeKernelState: false, why: `cannot tell whether ${daemonSet} is gone (${owner.message}): keeping the state as for a restart` };
  }
}

/** Maps the answer to a GET of the DaemonSet (the object, or the error) to an OwnerState. */
export function ownerFromLookup(result: { deletionTimestamp?: string } | Error): OwnerState {
  if (!(result instanceof Error)) return { kind: 'present', ...(result.deletionTimestamp ? { deletionTimestamp: result.deletionTimestamp } : {}) };
  if (result instanceof KubeError && result.code === 404) return { kind: 'deleted' };
  if (result instanceof KubeError && result.code === 401) return { kind: 'unauthenticated', message: result.message };
  return { kind: 'unknown', message: result instanceof KubeError ? `HTTP ${result.code}: ${result.message}` : result.message };
}

/**
 * Watches the agent's own DaemonSet (RBAC: get/list/watch on that one name, in its namespace)
 * and answers, at SIGTERM, whether it went away.
 */
export class OwnerWatch {
  private informer: Informer<KubeObject>;
  private going?: OwnerState;

  constructor(private client: KubeClient, private namespace: string, readonly name: string, private log: Logger) {
    this.informer = new Informer<KubeObject>(client, DaemonSetType, log, { namespace, fieldSelector: `metadata.name=${name}` });
    this.informer.onChange((type, obj) => {
      if (type === 'delete') this.going = { kind: 'deleted' };
      else if (obj.metadata.deletionTimestamp) this.going = { kind: 'present', deletionTimestamp: obj.metadata.deletionTimestamp };
    });
  }

  /** Starts watching; does not wait for the first list (a failing watch is logged and retried). */
  start(): void {
    void this.informer.start();
  }

  /** What is known at shutdown: the deletion the watch saw, else one lookup within timeoutMs. */
  async state(timeoutMs: number): Promise<OwnerState> {
    if (this.going) {
      this.informer.stop();
      return this.going;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Error>((resolve) => { timer = setTimeout(() => resolve(new Error(`no answer from the API server within ${timeoutMs} ms`)), timeoutMs); });
    const lookup = this.client.get<KubeObject>(DaemonSetType, this.namespace, this.name).then(
      (ds) => (ds.metadata.deletionTimestamp ? { deletionTimestamp: ds.metadata.deletionTimestamp } : {}),
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    const result = await Promise.race([lookup, timeout]);
    clearTimeout(timer);
    this.informer.stop();
    // The watch may have heard of the deletion while the lookup was on its way.
    return this.going ?? ownerFromLookup(result);
  }
}
