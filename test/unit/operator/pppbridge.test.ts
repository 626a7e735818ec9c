// PPPBridge controller logic without a cluster: status derivation (table), the node's
// capability as published, the NodeTask work and name.
import { describe, expect, test } from '@jest/globals';
import { blocked, type BridgeState, deriveBridgeStatus } from '../../../operator/src/controllers/pppbridge/status.js';
import { bridgeTaskName, bridgeWork, kernelCapability } from '../../../operator/src/controllers/pppbridge/reconciler.js';
import { CAPABILITY_ANNOTATION } from '../../../crds/src/index.js';

const LACKS = 'kernel lacks PPP (CONFIG_PPP, CONFIG_PPPOE, CONFIG_PPPOL2TP)';
const cond = (s: ReturnType<typeof deriveBridgeStatus>, type: string) => s.conditions.find((c) => c.type === type)!;
const base: BridgeState = { nodeName: 'n1', nodeExists: true, mode: 'auto' };
const counts = { aToB: { packets: 3, bytes: 300, drops: 1 }, bToA: { packets: 2, bytes: 200, drops: 0 } };

describe('deriveBridgeStatus', () => {
  test.each<[string, BridgeState, string, string, string, string, RegExp]>([
    ['node missing: waiting for it', { ...base, nodeExists: false }, 'Pending', 'Reconciling', 'True', 'NodeNotFound', /node n1 does not exist/],
    ['kernel mode, node cannot', { ...base, mode: 'kernel', kernelCapability: { available: false, reason: LACKS } }, 'Failed', 'Stalled', 'True', 'CapabilityMissing', new RegExp(LACKS.replace(/[()]/g, '\\$&'))],
    ['kernel mode, capability not published yet', { ...base, mode: 'kernel' }, 'Pending', 'Reconciling', 'True', 'Starting', /./],
    ['auto mode, node cannot do kernel: not blocked', { ...base, kernelCapability: { available: false, reason: LACKS } }, 'Pending', 'Reconciling', 'True', 'Starting', /./],
    ['agent says CapabilityMissing', { ...base, mode: 'kernel', task: { phase: 'Failed', reason: 'CapabilityMissing', message: LACKS } }, 'Failed', 'Stalled', 'True', 'CapabilityMissing', /kernel lacks PPP/],
    ['interface missing, agent retrying: waiting for it', { ...base, task: { phase: 'Pending', reason: 'InterfaceNotFound', message: "no such interface 'eth9'" } }, 'Pending', 'Reconciling', 'True', 'InterfaceNotFound', /eth9/],
    ['other agent failure', { ...base, task: { phase: 'Failed', reason: 'BridgeFailed', message: 'ERR_RINGTAP_SOCKET: bind: Address in use' } }, 'Failed', 'Stalled', 'True', 'BridgeFailed', /Address in use/],
    ['agent starting', { ...base, task: {} }, 'Pending', 'Reconciling', 'True', 'Starting', /./],
    ['no task yet', base, 'Pending', 'Reconciling', 'True', 'Starting', /./],
    ['bridged', { ...base, task: { phase: 'Running', dataPath: 'userspace', ...counts } }, 'Bridged', 'Ready', 'True', 'Bridged', /userspace.*3 frames.*2 frames/],
    ['bridged after a missing interface came', { ...base, task: { phase: 'Running', dataPath: 'userspace', message: 'old' } }, 'Bridged', 'Ready', 'True', 'Bridged', /./],
  ])('%s', (_n, state, phase, type, status, reason, message) => {
    const d = deriveBridgeStatus(state);
    expect(d.phase).toBe(phase);
    expect(cond(d, type)).toMatchObject({ status, reason });
    expect(cond(d, type).message).toMatch(message);
    // Exactly one of the three kstatus conditions explains the state.
    const on = d.conditions.filter((c) => c.status === 'True').map((c) => c.type);
    expect(on).toHaveLength(1);
  });

  test('counters, data path and bridgedSince come from the task', () => {
    const d = deriveBridgeStatus({ ...base, task: { phase: 'Running', dataPath: 'kernel', bridgedSince: '2026-01-01T00:00:00Z', ...counts } });
    expect(d).toMatchObject({ dataPath: 'kernel', bridgedSince: '2026-01-01T00:00:00Z', aToB: counts.aToB, bToA: counts.bToA });
    expect(deriveBridgeStatus(base)).toMatchObject({ aToB: { packets: 0, bytes: 0, drops: 0 }, bToA: { packets: 0, bytes: 0, drops: 0 } });
    expect(deriveBridgeStatus(base).dataPath).toBeUndefined();
  });

  test('no NodeTask while the node is missing or cannot do the mode asked for', () => {
    expect(blocked({ nodeExists: false, mode: 'auto' })).toBe(true);
    expect(blocked({ nodeExists: true, mode: 'kernel', kernelCapability: { available: false } })).toBe(true);
    expect(blocked({ nodeExists: true, mode: 'kernel', kernelCapability: { available: true } })).toBe(false);
    expect(blocked({ nodeExists: true, mode: 'kernel' })).toBe(false); // unknown: the agent decides
    expect(blocked({ nodeExists: true, mode: 'userspace', kernelCapability: { available: false } })).toBe(false);
  });

});

describe('node capability', () => {
  const node = (annotations?: Record<string, string>) => ({ metadata: { name: 'n1', ...(annotations ? { annotations } : {}) } });
  test.each([
    ['published, missing', { pppKernelBridge: { available: false, reason: LACKS } }, { available: false, reason: LACKS }],
    ['published, available', { pppKernelBridge: { available: true } }, { available: true }],
    ['other capabilities only', { tcMirror: { available: true } }, undefined],
  ])('%s', (_n, caps, want) => {
    expect(kernelCapability(node({ [CAPABILITY_ANNOTATION]: JSON.stringify(caps) }))).toEqual(want);
  });
  test('absent or garbled annotation: unknown', () => {
    expect(kernelCapability(undefined)).toBeUndefined();
    expect(kernelCapability(node())).toBeUndefined();
    expect(kernelCapability(node({ [CAPABILITY_ANNOTATION]: '{not json' }))).toBeUndefined();
  });
});

describe('NodeTask work', () => {
  const a = { pppoe: { interface: 'eth1', sessionId: 7, peerMAC: '02:00:00:00:00:01' } };
  const b = { l2tp: { localAddress: '10.0.0.1', peerAddress: '10.0.0.2', tunnelId: 1, peerTunnelId: 2, sessionId: 3, peerSessionId: 4 } };
  test('mode defaults to auto; sessions and mtu are copied as they are', () => {
    expect(bridgeWork({ nodeName: 'n1', a, b })).toEqual({ mode: 'auto', a, b });
    expect(bridgeWork({ nodeName: 'n1', mode: 'userspace', a, b, mtu: 1400 })).toEqual({ mode: 'userspace', a, b, mtu: 1400 });
  });
  test('task names are stable, distinct per node and from other kinds', () => {
    expect(bridgeTaskName('br', 'n1')).toBe(bridgeTaskName('br', 'n1'));
    expect(bridgeTaskName('br', 'n1')).not.toBe(bridgeTaskName('br', 'n2'));
    expect(bridgeTaskName('br', 'n1')).toMatch(/^ppp-br-n1-[0-9a-f]{16}$/);
    expect(bridgeTaskName('x'.repeat(253), 'n'.repeat(253)).length).toBeLessThanOrEqual(63);
  });
});
