// The pppbridge driver's decisions: which data path a mode gets on a node, how a resource
// endpoint becomes a native one, and how relay counters become status counters.
import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { capabilitiesFrom, type NodeCapabilities } from '../../../agent/src/node/capabilities.js';
import { pino } from 'pino';
import { addCounters, chooseDataPath, directionCounters, kernelDirectionCounters, nativeEndpoint, PppBridgeDriver } from '../../../agent/src/drivers/pppbridge/driver.js';
import type { NodeTaskSpec, NodeTaskStatus, PPPBridgeWork } from '../../../crds/src/index.js';

const noPpp: NodeCapabilities = capabilitiesFrom({ kernelRelease: '6.18.0', config: 'CONFIG_PACKET=y\n', protocols: ['PACKET'], devPpp: false, ipaDevices: [] });
const ppp: NodeCapabilities = capabilitiesFrom({
  kernelRelease: '6.1.0', config: 'CONFIG_PPP=m\nCONFIG_PPPOE=m\nCONFIG_PPPOL2TP=m\n', protocols: ['PACKET'], devPpp: true, ipaDevices: [],
});
const old: NodeCapabilities = capabilitiesFrom({
  kernelRelease: '5.10.0', config: 'CONFIG_PPP=m\nCONFIG_PPPOE=m\nCONFIG_PPPOL2TP=m\n', protocols: ['PACKET'], devPpp: true, ipaDevices: [],
});

describe('chooseDataPath', () => {
  test.each([
    ['auto without PPP', 'auto', noPpp, { dataPath: 'userspace' }],
    ['auto with PPP', 'auto', ppp, { dataPath: 'kernel' }],
    ['auto on 5.10', 'auto', old, { dataPath: 'userspace' }],
    ['userspace with PPP', 'userspace', ppp, { dataPath: 'userspace' }],
    ['kernel with PPP', 'kernel', ppp, { dataPath: 'kernel' }],
    ['kernel without PPP', 'kernel', noPpp, { error: 'kernel lacks PPP (CONFIG_PPP, CONFIG_PPPOE, CONFIG_PPPOL2TP)' }],
    ['kernel on 5.10', 'kernel', old, { error: 'kernel 5.10.0 predates PPPIOCBRIDGECHAN (5.11)' }],
    ['kernel, capabilities unknown', 'kernel', undefined, { error: 'capabilities not probed' }],
  ] as const)('%s', (_n, mode, caps, want) => {
    expect(chooseDataPath(mode, caps)).toEqual(want);
  });
});

describe('nativeEndpoint', () => {
  test('PPPoE', () => {
    expect(nativeEndpoint({ pppoe: { interface: 'eth1', sessionId: 7, peerMAC: '02:00:00:00:00:01' } })).toEqual({ type: 'pppoe', interface: 'eth1', sessionId: 7, peerMac: '02:00:00:00:00:01' });
    expect(nativeEndpoint({ pppoe: { interface: 'eth1', sessionId: 7, peerMAC: '02:00:00:00:00:01', localMAC: '02:00:00:00:00:02' } })).toMatchObject({ localMac: '02:00:00:00:00:02' });
  });
  test('L2TP: ports default to 1701; our ids received, the peer ids sent', () => {
    expect(nativeEndpoint({ l2tp: { localAddress: '10.0.0.1', peerAddress: '10.0.0.2', tunnelId: 1, peerTunnelId: 2, sessionId: 3, peerSessionId: 4 } })).toEqual({
      type: 'l2tp', localAddress: '10.0.0.1', localPort: 1701, peerAddress: '10.0.0.2', peerPort: 1701, tunnelId: 1, sessionId: 3, peerTunnelId: 2, peerSessionId: 4,
    });
    expect(nativeEndpoint({ l2tp: { localAddress: '10.0.0.1', peerAddress: '10.0.0.2', localPort: 1702, peerPort: 1703, tunnelId: 1, peerTunnelId: 2, sessionId: 3, peerSessionId: 4 } })).toMatchObject({ localPort: 1702, peerPort: 1703 });
  });
  test('neither: an error', () => {
    expect(() => nativeEndpoint({})).toThrow(/neither pppoe nor l2tp/);
  });
});

test('directionCounters: drops are the sum of the reasons', () => {
  const drops = { short: 1, badVersion: 2, badSession: 3, badLength: 4, control: 5, sendError: 6, rxOverflow: 7 };
  expect(directionCounters({ frames: 10, bytes: 1000, drops })).toEqual({ packets: 10, bytes: 1000, drops: 28, dropReasons: drops });
});

test('kernelDirectionCounters: a -> b from b\'s sends (else a\'s receives); failed L2TP sends are sendError; nothing counted: nothing', () => {
  const l2tp = (tx: number, rx: number, txErrors = 0) => ({ type: 'l2tp' as const, txPackets: tx, txBytes: tx * 100, txErrors, rxPackets: rx, rxBytes: rx * 10, rxSeqDiscards: 0, rxOosPackets: 0, rxErrors: 0 });
  const zero = { short: 0, badVersion: 0, badSession: 0, badLength: 0, control: 0, sendError: 0, rxOverflow: 0 };
  expect(kernelDirectionCounters({ a: null, b: l2tp(5, 3, 1) })).toEqual({
    aToB: { packets: 5, bytes: 500, drops: 1, dropReasons: { ...zero, sendError: 1 } }, bToA: { packets: 3, bytes: 30, drops: 0, dropReasons: zero },
  });
  expect(kernelDirectionCounters({ a: l2tp(2, 4), b: l2tp(7, 9) })).toMatchObject({ aToB: { packets: 7, bytes: 700 }, bToA: { packets: 2, bytes: 200 } });
  const pppoe = { type: 'pppoe' as const, txPackets: 6, txBytes: 66, rxPackets: 8, rxBytes: 88 };
  expect(kernelDirectionCounters({ a: pppoe, b: l2tp(7, 9) })).toMatchObject({ aToB: { packets: 7, bytes: 700 }, bToA: { packets: 6, bytes: 66, drops: 0 } });
  expect(kernelDirectionCounters({ a: null, b: null })).toEqual({});
});

test('addCounters: totals across relays (agent restarts, re-bridges) add field by field', () => {
  const zero = { short: 0, badVersion: 0, badSession: 0, badLength: 0, control: 0, sendError: 0, rxOverflow: 0 };
  expect(addCounters(undefined, undefined)).toEqual({ packets: 0, bytes: 0, drops: 0, dropReasons: zero });
  expect(addCounters({ packets: 2, bytes: 20, drops: 1, dropReasons: { short: 1 } }, { packets: 3, bytes: 30, drops: 2, dropReasons: { ...zero, short: 1, control: 1 } }))
    .toEqual({ packets: 5, bytes: 50, drops: 3, dropReasons: { ...zero, short: 2, control: 1 } });
  // A predecessor's status without reasons (kernel mode) still adds up.
  expect(addCounters({ packets: 7 }, undefined)).toMatchObject({ packets: 7, bytes: 0, drops: 0 });
});

describe('PppBridgeDriver on this machine (real addon, no PPP in the kernel)', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });
  const updates: Partial<NodeTaskStatus>[] = [];
  const reporter = { update: (s: Partial<NodeTaskStatus>) => void updates.push(s), log: pino({ level: 'silent' }) };
  const ctx = { namespace: 'ringtap-system', name: 't', uid: 'u', node: 'n', dataDir: '/nonexistent', reporter };
  const spec = (work: Partial<PPPBridgeWork>): NodeTaskSpec => ({
    node: 'n', parent: { kind: 'PPPBridge', name: 'b', uid: 'u', generation: 1 },
    pppBridge: {
      mode: 'auto',
      a: { pppoe: { interface: 'rtnone0', sessionId: 7, peerMAC: '02:00:00:00:00:01' } },
      b: { l2tp: { localAddress: '127.0.0.1', peerAddress: '127.0.0.1', localPort: 17011, peerPort: 17012, tunnelId: 1, peerTunnelId: 2, sessionId: 3, peerSessionId: 4 } },
      ...work,
    },
  });

  test('kernel mode where the capability was wrongly reported: CapabilityMissing with the kernel\'s words', async () => {
    const d = new PppBridgeDriver();
    await d.probe(ppp); // claims PPP; this kernel has none
    await expect(d.start(spec({ mode: 'kernel' }), ctx)).rejects.toMatchObject({ reason: 'CapabilityMissing', message: expect.stringMatching(/^kernel lacks PPP \(CONFIG_PPP\/PPPOE\/PPPOL2TP\)/) });
  });

  test('kernel mode on a node known to lack PPP: CapabilityMissing with the capability\'s reason', async () => {
    const d = new PppBridgeDriver();
    await d.probe(noPpp);
    await expect(d.start(spec({ mode: 'kernel' }), ctx)).rejects.toMatchObject({ reason: 'CapabilityMissing', message: 'kernel lacks PPP (CONFIG_PPP, CONFIG_PPPOE, CONFIG_PPPOL2TP)' });
  });

  test('a missing interface keeps the task Pending with InterfaceNotFound; stop() ends the retries', async () => {
    updates.length = 0;
    const d = new PppBridgeDriver();
    await d.probe(noPpp);
    const t = await d.start(spec({}), ctx);
    expect(updates).toEqual([{ phase: 'Pending', reason: 'InterfaceNotFound', dataPath: 'userspace', message: expect.stringMatching(/rtnone0/) }]);
    await t.stop({ cleanup: true });
    jest.advanceTimersByTime(10_000); // several retry periods: nothing more is tried or reported
    expect(updates).toHaveLength(1);
  });

  test('each retry tries again and reports the interface still missing', async () => {
    updates.length = 0;
    const d = new PppBridgeDriver();
    await d.probe(noPpp);
    const t = await d.start(spec({}), ctx);
    jest.advanceTimersByTime(2_000);
    expect(updates.map((u) => u.phase)).toEqual(['Pending', 'Pending']);
    await t.stop({ cleanup: true });
  });
});
