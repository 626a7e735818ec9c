// Restart or uninstall: what the agent does with its mirrors' kernel state at SIGTERM, from what
// it knows of its own DaemonSet. Pure functions; the real uninstall is in test/realnode.
import { describe, expect, test } from '@jest/globals';
import { KubeError } from '../../../lib/kube/kube.js';
import { ownerFromLookup, shutdownDecision, type OwnerState } from '../../../agent/src/runner/uninstall.js';

describe('shutdownDecision', () => {
  const cases: [string, OwnerState, boolean][] = [
    ['process agent, no DaemonSet configured', { kind: 'unmanaged' }, false],
    ['DaemonSet still there (restart, rollout, drain)', { kind: 'present' }, false],
    ['DaemonSet being deleted (helm uninstall --cascade foreground)', { kind: 'present', deletionTimestamp: '2026-12-05T10:00:00Z' }, true],
    ['DaemonSet gone (helm uninstall, background propagation)', { kind: 'deleted' }, true],
    ['token rejected: the release\'s ServiceAccount was deleted', { kind: 'unauthenticated', message: 'Unauthorized' }, true],
    ['API server unreachable', { kind: 'unknown', message: 'connect ECONNREFUSED 10.0.0.1:6443' }, false],
    ['forbidden (RoleBinding gone or older chart)', { kind: 'unknown', message: 'HTTP 403: forbidden' }, false],
  ];
  test.each(cases)('%s', (_name, owner, remove) => {
    const d = shutdownDecision(owner, 'DaemonSet ringtap-system/ringtap-agent');
    expect(d.removeKernelState).toBe(remove);
    expect(d.why).not.toBe('');
  });

  test('the reason names the DaemonSet and what was seen', () => {
    expect(shutdownDecision({ kind: 'deleted' }, 'DaemonSet ns/ds').why).toBe('DaemonSet ns/ds is gone: uninstall');
    expect(shutdownDecision({ kind: 'unknown', message: 'no answer from the API server within 3000 ms' }, 'DaemonSet ns/ds').why)
      .toBe('cannot tell whether DaemonSet ns/ds is gone (no answer from the API server within 3000 ms): keeping the state as for a restart');
  });
});

describe('ownerFromLookup', () => {
  test('the object: present, with its deletionTimestamp if any', () => {
    expect(ownerFromLookup({})).toEqual({ kind: 'present' });
    expect(ownerFromLookup({ deletionTimestamp: '2026-12-05T10:00:00Z' })).toEqual({ kind: 'present', deletionTimestamp: '2026-12-05T10:00:00Z' });
  });

  test('404: deleted; 401: unauthenticated; 403, 5xx and network errors: unknown', () => {
    expect(ownerFromLookup(new KubeError(404, 'NotFound', 'daemonsets.apps "ringtap-agent" not found'))).toEqual({ kind: 'deleted' });
    expect(ownerFromLookup(new KubeError(401, 'Unauthorized', 'Unauthorized'))).toEqual({ kind: 'unauthenticated', message: 'Unauthorized' });
    expect(ownerFromLookup(new KubeError(403, 'Forbidden', 'forbidden'))).toEqual({ kind: 'unknown', message: 'HTTP 403: forbidden' });
    expect(ownerFromLookup(new KubeError(503, 'ServiceUnavailable', 'etcd down'))).toEqual({ kind: 'unknown', message: 'HTTP 503: etcd down' });
    expect(ownerFromLookup(new Error('connect ECONNREFUSED'))).toEqual({ kind: 'unknown', message: 'connect ECONNREFUSED' });
  });

  test('every lookup outcome leads to one decision: remove only when the DaemonSet is gone or going', () => {
    const remove = (r: Parameters<typeof ownerFromLookup>[0]) => shutdownDecision(ownerFromLookup(r)).removeKernelState;
    expect(remove({})).toBe(false);
    expect(remove({ deletionTimestamp: '2026-12-05T10:00:00Z' })).toBe(true);
    expect(remove(new KubeError(404, 'NotFound', 'not found'))).toBe(true);
    expect(remove(new Error('no answer from the API server within 3000 ms'))).toBe(false);
  });
});
