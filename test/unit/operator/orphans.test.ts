// The orphan sweep's verdict: a NodeTask's parent exists only when the cache of its kind has an
// object of that namespace and name with the task's parent UID.
import { describe, expect, test } from '@jest/globals';
import type { ParentKind } from '../../../crds/src/index.js';
import type { KubeObject } from '../../../lib/kube/kube.js';
import type { NodeTask } from '../../../lib/kube/objects.js';
import { OrphanSweep, type ParentCaches } from '../../../operator/src/controllers/shared/orphans.js';

function cache(objects: KubeObject[]): ParentCaches[ParentKind] {
  return {
    get: (ns, name) => objects.find((o) => o.metadata.namespace === (ns || undefined) && o.metadata.name === name),
    onChange: () => undefined,
  };
}
const obj = (name: string, uid: string, namespace?: string): KubeObject => ({ metadata: { name, uid, ...(namespace ? { namespace } : {}) } });
const parents: ParentCaches = {
  PacketCapture: cache([obj('web', 'u-web-a', 'team-a')]),
  PortMirror: cache([obj('web', 'u-mirror', 'team-b')]),
  PPPBridge: cache([obj('br', 'u-br')]),
  IPAMonitor: cache([]),
};
const sweep = new OrphanSweep({ client: undefined as never, tasks: undefined as never, parents }, undefined as never);
const task = (kind: ParentKind, name: string, uid: string, namespace?: string): NodeTask => ({
  metadata: { name: 't', namespace: 'ringtap-system' },
  spec: { node: 'n1', parent: { kind, name, uid, generation: 1, ...(namespace ? { namespace } : {}) } },
} as NodeTask);

describe('OrphanSweep.parentOf', () => {
  test('a task whose parent exists with its UID has a parent', () => {
    expect(sweep.parentOf(task('PacketCapture', 'web', 'u-web-a', 'team-a'))?.metadata.uid).toBe('u-web-a');
    expect(sweep.parentOf(task('PPPBridge', 'br', 'u-br'))?.metadata.name).toBe('br');
  });

  test.each([
    ['the parent is gone', task('IPAMonitor', 'm', 'u-m')],
    ['a parent of that name was recreated (another UID)', task('PacketCapture', 'web', 'u-old', 'team-a')],
    ['the same name lives in another namespace only', task('PacketCapture', 'web', 'u-web-a', 'team-b')],
    ['the same name and namespace belong to another kind', task('PacketCapture', 'web', 'u-mirror', 'team-b')],
  ])('an orphan: %s', (_why, t) => {
    expect(sweep.parentOf(t)).toBeUndefined();
  });
});
