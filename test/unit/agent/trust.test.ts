// The agent's own check of a NodeTask, written as the forgeries a namespace owner would try:
// a task in their namespace (never the operator's, where all NodeTasks live), naming another
// namespace's pod, the node's interfaces or a hostNetwork pod, or asking for PPP or IPA work.
// The parent's namespace is spec.parent's, never the task's own.
import { describe, expect, test } from '@jest/globals';
import type { NodeTaskSpec } from '../../../crds/src/index.js';
import { checkTask, type PodFacts, type TrustConfig } from '../../../agent/src/runner/trust.js';

const trust: TrustConfig = { operatorNamespace: 'ringtap-system', trustedNamespaces: new Set(['ringtap-system', 'netops']) };
const pods = new Map<string, PodFacts>([
  ['uid-a1', { namespace: 'team-a', name: 'a1', hostNetwork: false }],
  ['uid-b1', { namespace: 'team-b', name: 'b1', hostNetwork: false }],
  ['uid-c1', { namespace: 'team-c', name: 'c1', hostNetwork: false }],
  ['uid-chost', { namespace: 'team-c', name: 'chost', hostNetwork: true }],
  ['uid-nhost', { namespace: 'netops', name: 'probe', hostNetwork: true }],
]);
const lookup = (uid: string) => pods.get(uid);

function capture(ns: string | undefined, work: Partial<NonNullable<NodeTaskSpec['packetCapture']>>): NodeTaskSpec {
  return {
    node: 'node-a',
    parent: { kind: 'PacketCapture', name: 'cap', ...(ns ? { namespace: ns } : {}), uid: 'p', generation: 1 },
    packetCapture: { capturePoint: 'pod', snapLength: 262144, output: { format: 'pcapng' }, timestamps: 'software', ...work },
  } as NodeTaskSpec;
}
const pod = (uid: string, ns: string, name: string) => ({ uid, namespace: ns, name });
const OP = 'ringtap-system';

describe('checkTask', () => {
  test('the operator\'s own task, in its namespace, for a tenant\'s pod passes', () => {
    expect(checkTask(OP, capture('team-c', { pods: [pod('uid-c1', 'team-c', 'c1')] }), trust, lookup)).toEqual({ ok: true });
  });

  test.each([
    ['a task in team-c for a parent in team-b', 'team-c', capture('team-b', { pods: [pod('uid-b1', 'team-b', 'b1')] }), /NodeTask must live in the operator's namespace ringtap-system, not team-c/],
    ['a task in team-c for its own namespace\'s pod', 'team-c', capture('team-c', { pods: [pod('uid-c1', 'team-c', 'c1')] }), /NodeTask must live in the operator's namespace ringtap-system, not team-c/],
    ['cleanup of team-b\'s files from team-c', 'team-c', { ...capture('team-b', {}), cleanup: true }, /must live in the operator's namespace/],
    ['team-b\'s pod UID, claimed to be team-c\'s', OP, capture('team-c', { pods: [pod('uid-b1', 'team-c', 'b1')] }), /pod uid uid-b1 is team-b\/b1, not a pod of namespace team-c/],
    ['the node\'s eth0 from an untrusted namespace', OP, capture('team-c', { interfaces: ['eth0'] }), /node interfaces \(eth0\).*trusted namespace.*namespace team-c is not one/],
    ['a hostNetwork pod of an untrusted namespace', OP, capture('team-c', { pods: [pod('uid-chost', 'team-c', 'chost')] }), /hostNetwork pod team-c\/chost/],
    ['a cluster-scoped parent\'s task outside the operator namespace', 'team-c', capture(undefined, { interfaces: ['eth0'] }), /must live in the operator's namespace/],
    ['a trusted namespace\'s task written in that namespace, not the operator\'s', 'netops', capture('netops', { interfaces: ['eth0'] }), /must live in the operator's namespace ringtap-system, not netops/],
  ])('%s is forbidden', (_what, ns, spec, message) => {
    const v = checkTask(ns, spec as NodeTaskSpec, trust, lookup);
    expect(v.ok).toBe(false);
    expect('forbidden' in v && v.forbidden).toMatch(message);
    expect('forbidden' in v && v.forbidden).toMatch(/^Forbidden: /);
  });

  test('a mirror from team-c into the uplink or team-b\'s pod is forbidden', () => {
    const mirror = (destination: object): NodeTaskSpec => ({
      node: 'node-a', parent: { kind: 'PortMirror', name: 'm', namespace: 'team-c', uid: 'p', generation: 1 },
      portMirror: { sources: [{ pod: pod('uid-c1', 'team-c', 'c1') }], direction: 'both', sampling: 1, destination },
    } as NodeTaskSpec);
    expect(checkTask(OP, mirror({ interface: { name: 'eth0' } }), trust, lookup)).toMatchObject({ ok: false, forbidden: expect.stringMatching(/node interfaces \(eth0\)/) });
    expect(checkTask(OP, mirror({ pod: { ...pod('uid-b1', 'team-c', 'b1'), node: 'node-a', interface: 'eth0' } }), trust, lookup))
      .toMatchObject({ ok: false, forbidden: expect.stringMatching(/uid-b1 is team-b\/b1/) });
    expect(checkTask(OP, mirror({ pod: { ...pod('uid-c1', 'team-c', 'c1'), node: 'node-a', interface: 'eth0' } }), trust, lookup)).toEqual({ ok: true });
  });

  test('PPP and IPA work under a namespaced, untrusted parent is forbidden', () => {
    const spec = { node: 'node-a', parent: { kind: 'PPPBridge', name: 'b', namespace: 'team-c', uid: 'p', generation: 1 }, pppBridge: {} } as unknown as NodeTaskSpec;
    expect(checkTask(OP, spec, trust, lookup)).toMatchObject({ ok: false, forbidden: expect.stringMatching(/PPP bridging/) });
  });

  test('trusted namespaces may use node interfaces and hostNetwork pods', () => {
    expect(checkTask(OP, capture('netops', { interfaces: ['eth0'], pods: [pod('uid-nhost', 'netops', 'probe')] }), trust, lookup)).toEqual({ ok: true });
    expect(checkTask('ringtap-system', capture(undefined, { interfaces: ['eth0'] }), trust, lookup)).toEqual({ ok: true });
  });

  test('a pod this node does not know yet is asked for again, not refused', () => {
    expect(checkTask(OP, capture('team-c', { pods: [pod('uid-new', 'team-c', 'c2')] }), trust, lookup)).toEqual({ ok: false, unknownPod: expect.stringMatching(/team-c\/c2 \(uid uid-new\) is not known on node node-a/) });
  });
});
