// Label selector matching (metav1.LabelSelector semantics) and the pod target sets built on it.
import type { LabelSelector, PodTargets } from '../../../../crds/src/index.js';

export type { LabelSelector };

/** True when labels satisfy the selector. An empty selector matches everything, as in Kubernetes. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'In': if (!has || !(r.values ?? []).includes(l[r.key]!)) return false; break;
      case 'NotIn': if (has && (r.values ?? []).includes(l[r.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/** True when a pod belongs to a target set: every pod, a pod named in it, or one its selector matches. */
export function podTargeted(targets: PodTargets | undefined, pod: { metadata: { name: string; labels?: Record<string, string> } }): boolean {
  if (!targets) return false;
  return targets.all === true || (targets.names?.includes(pod.metadata.name) ?? false) || matchesSelector(targets.selector, pod.metadata.labels);
}
