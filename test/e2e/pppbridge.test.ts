// PPPBridge end to end in userspace mode (this kernel has no PPP): the operator and the agent of
// a simulated node, a PPPoE client namespace and an LNS namespace with independent scapy peers.
//
//   client ns (pppoe_peer.py) --veth-- node netns (agent: PppRelay) --veth-- lns ns (l2tp_peer.py)
//              02:..  SID 0x2345       ACCESS_IF | 10.97.0.1:1701          10.97.0.2:1701
//
// Frames of LCP, PAP, CHAP, IPCP and IP up to the MTU cross both ways and are dissected field by
// field by scapy on the far side; the status counters equal what was sent; frames of other
// sessions and malformed frames are not forwarded (and counted where the relay sees them);
// unsupported modes and missing interfaces or nodes are Stalled with the reason; deleting the
// bridge stops forwarding and leaves no packet socket, filter or UDP socket in the node.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { NodeTaskType, type PPPBridgeSpec, PPPBridgeType } from '../../crds/src/index.js';
import type { NodeTask, PPPBridge } from '../../lib/kube/objects.js';
import { KubeClient, isNotFound } from '../../lib/kube/kube.js';
import { addNode, cluster, delNode, type SimNode } from '../support/cluster.js';
import { adminConfig, uniqueName, waitFor } from '../support/kube.js';
import { createNamespace, destroyAll, ip, macOf, type Namespace } from '../support/netns.js';
import { CHAP_CHALLENGE, IPCP_CONFREQ, killPeers, L2TP_PEER, LCP_CONFREQ, PAP_AUTHREQ, PPPOE_PEER, PROTO, runPeer, startReceiver, writeSpec } from '../support/ppp/peers.js';
import { removeDir, tempDir } from '../unit/native/helpers.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
const OPERATOR_NS = 'ringtap-system';
const SID = 0x2345;
const NODE_IP = '10.97.0.1';
const LNS_IP = '10.97.0.2';
const PORT = 1701;
const IDS = { tunnelId: 100, sessionId: 200, peerTunnelId: 300, peerSessionId: 400 };
const MAX_PPP = 1500 - 6; // PPPoE payload at the access link's MTU 1500: protocol + 1492
const LACKS = 'kernel lacks PPP (CONFIG_PPP, CONFIG_PPPOE, CONFIG_PPPOL2TP)';

let node: SimNode;
let client: Namespace;
let lns: Namespace;
let clientIf = '';
let accessIf = ''; // the node's side of the access link (the PPPoE session's interface)
let coreIf = ''; // the node's side of the link to the LNS
let lnsIf = '';
let clientMac = '';
let accessMac = '';
let work = '';
const bridges = new Set<string>();

const hex = (n: number) => randomBytes(n).toString('hex');
const pppoeEnd = () => ({ pppoe: { interface: accessIf, sessionId: SID, peerMAC: clientMac } });
const l2tpEnd = (port = PORT, ids = IDS) => ({ l2tp: { localAddress: NODE_IP, peerAddress: LNS_IP, localPort: port, peerPort: port, ...ids } });

async function createBridge(name: string, spec: Omit<PPPBridgeSpec, 'nodeName'> & { nodeName?: string }): Promise<void> {
  bridges.add(name);
  await admin.create(PPPBridgeType, { metadata: { name }, spec: { nodeName: node.name, ...spec } } as unknown as PPPBridge);
}
const getBridge = (name: string) => admin.get<PPPBridge>(PPPBridgeType, undefined, name);
async function tasksOf(name: string): Promise<NodeTask[]> {
  return (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-kind=PPPBridge,ringtap.dev/parent-name=${name}` })).items;
}
async function deleteBridge(name: string): Promise<void> {
  await admin.delete(PPPBridgeType, undefined, name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  await waitFor(`${name} to be gone`, async () => getBridge(name).then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 30_000, 100);
  bridges.delete(name);
}
const cond = (b: PPPBridge, type: string) => b.status?.conditions?.find((c) => c.type === type);
async function waitCondition(name: string, type: string, reason: string, timeoutMs = 30_000): Promise<PPPBridge> {
  return waitFor(`${name}: ${type}=True reason ${reason}`, async () => {
    const b = await getBridge(name);
    const c = cond(b, type);
    return c?.status === 'True' && c.reason === reason && b.status?.observedGeneration === b.metadata.generation ? b : undefined;
  }, timeoutMs, 100);
}

/** Counter equality (the API server returns keys in its own order). */
const sameCounters = (got: object | undefined, want: { packets: number; bytes: number; drops: number }) =>
  got !== undefined && Object.keys(got).length === 3 && Object.entries(want).every(([k, v]) => (got as Record<string, unknown>)[k] === v);

/** The node netns's packet sockets bound to PPPoE session frames (0x8864), from /proc/net/packet. */
function pppoePacketSockets(): string[] {
  const out = execFileSync('ip', ['netns', 'exec', node.netns, 'cat', '/proc/net/packet'], { encoding: 'utf8' });
  return out.split('\n').slice(1).filter((l) => l.trim().split(/\s+/)[3] === '8864');
}
function udpSockets(): string {
  return execFileSync('ip', ['netns', 'exec', node.netns, 'ss', '-H', '-u', '-a', '-n'], { encoding: 'utf8' });
}

beforeAll(async () => {
  work = tempDir('e2e-ppp');
  node = await addNode(uniqueName('ppp'));
  client = createNamespace('e2pc');
  lns = createNamespace('e2pl');
  const tag = (process.pid % 100000).toString(36);
  clientIf = `ec${tag}`;
  accessIf = `ea${tag}`;
  coreIf = `eu${tag}`;
  lnsIf = `el${tag}`;
  ip('link', 'add', clientIf, 'netns', client.name, 'type', 'veth', 'peer', 'name', accessIf, 'netns', node.netns);
  ip('link', 'add', coreIf, 'netns', node.netns, 'type', 'veth', 'peer', 'name', lnsIf, 'netns', lns.name);
  // The IP core carries 1494-byte PPP frames plus FF 03, L2TP, UDP and IP without fragmenting.
  ip('-n', node.netns, 'link', 'set', coreIf, 'mtu', '1600');
  ip('-n', lns.name, 'link', 'set', lnsIf, 'mtu', '1600');
  ip('-n', node.netns, 'addr', 'add', `${NODE_IP}/30`, 'dev', coreIf);
  ip('-n', lns.name, 'addr', 'add', `${LNS_IP}/30`, 'dev', lnsIf);
  ip('-n', client.name, 'link', 'set', clientIf, 'up');
  ip('-n', node.netns, 'link', 'set', accessIf, 'up');
  ip('-n', node.netns, 'link', 'set', coreIf, 'up');
  ip('-n', lns.name, 'link', 'set', lnsIf, 'up');
  clientMac = macOf(client.name, clientIf);
  accessMac = macOf(node.netns, accessIf);
  await cluster(['ringtap', 'start']);
  // The agent publishes what the node can do before it takes tasks.
  await waitFor('the node capabilities', async () => {
    const n = await admin.get<{ metadata: { name: string; annotations?: Record<string, string> } }>({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false }, undefined, node.name);
    return n.metadata.annotations?.['ringtap.dev/capabilities'];
  }, 60_000, 200);
}, 180_000);

afterEach(async () => {
  killPeers();
  for (const b of [...bridges]) await deleteBridge(b).catch(() => undefined);
}, 90_000);

afterAll(async () => {
  killPeers();
  // A bridge left behind by a failed cleanup: drop the finalizer so it can go without the operator.
  for (const b of [...bridges]) {
    await admin.mergePatch(PPPBridgeType, undefined, b, { metadata: { finalizers: [] } }).catch(() => undefined);
    await admin.delete(PPPBridgeType, undefined, b).catch(() => undefined);
  }
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  await delNode(node.name).catch(() => undefined);
  destroyAll();
  if (work) removeDir(work);
}, 180_000);

interface Frame { proto: number; payload: string }

// A receiver waits for the frames a test expects (--count) for up to WAIT_S, so a slow sender (a
// Python with scapy takes seconds to start on a loaded machine) cannot outlast it. Frames that must
// not be forwarded are sent before the last expected one: forwarded, they would be among those
// counted and the last expected one would be missing. 'Bridged' means the relay's sockets are
// bound (the agent publishes it after opening them), so sending may start then.
const WAIT_S = '30';
const l2tpRecv = (port: number, count: number) => ['recv', '--bind', `${LNS_IP}:${port}`, '--count', String(count), '--timeout', WAIT_S];
const pppoeRecv = (count: number) => ['recv', '--iface', clientIf, '--count', String(count), '--timeout', WAIT_S, '--ignore-src', clientMac];

describe('userspace bridge, PPPoE <-> L2TPv2', () => {
  test('mode auto picks userspace here; frames cross both ways exactly; counters match; bad frames are dropped; delete leaves nothing', async () => {
    const name = uniqueName('pppb-auto');
    await createBridge(name, { a: pppoeEnd(), b: l2tpEnd() });
    const b = await waitCondition(name, 'Ready', 'Bridged');
    expect(b.status).toMatchObject({ phase: 'Bridged', dataPath: 'userspace' });
    expect(b.status?.bridgedSince).toMatch(/^\d{4}-\d\d-\d\dT/);
    const [task] = await tasksOf(name);
    expect(task!.metadata.namespace).toBe(OPERATOR_NS);
    expect(task!.metadata.labels).toMatchObject({ 'ringtap.dev/parent-kind': 'PPPBridge', 'ringtap.dev/parent-name': name, 'ringtap.dev/parent-uid': b.metadata.uid, 'ringtap.dev/node': node.name });
    // No owner reference: the operator deletes its NodeTasks itself (ADR 0012).
    expect(task!.metadata.ownerReferences).toBeUndefined();
    expect(task!.spec.pppBridge).toMatchObject({ mode: 'auto', a: pppoeEnd(), b: l2tpEnd() });

    // a -> b: PPPoE session frames become L2TPv2 data messages to the LNS.
    const good: Frame[] = [
      { proto: PROTO.lcp, payload: LCP_CONFREQ },
      { proto: PROTO.pap, payload: PAP_AUTHREQ },
      { proto: PROTO.chap, payload: CHAP_CHALLENGE },
      { proto: PROTO.ipcp, payload: IPCP_CONFREQ },
      { proto: PROTO.ip, payload: hex(46) },
      { proto: PROTO.ip, payload: hex(1400) },
      { proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
    ];
    const base = { src: clientMac, dst: accessMac, sid: SID };
    const bad = [
      { ...base, sid: SID + 1, proto: PROTO.ip, payload: hex(20) }, // another session: the kernel filter drops it
      { ...base, src: '02:00:00:00:00:99', proto: PROTO.ip, payload: hex(20) }, // another peer: likewise
      { ...base, version: 2, proto: PROTO.lcp, payload: LCP_CONFREQ }, // badVersion
      { ...base, len: 200, proto: PROTO.ip, payload: hex(10) }, // badLength
      { ...base, len: 1, proto: PROTO.ip, payload: '' }, // short
    ];
    let rx = startReceiver(lns.name, L2TP_PEER, l2tpRecv(PORT, good.length));
    await rx.ready;
    const goodFrames = good.map((g) => ({ ...base, ...g }));
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'a-b', [...bad.slice(0, 3), ...goodFrames.slice(0, -1), ...bad.slice(3), ...goodFrames.slice(-1)])]);
    expect(await rx.result).toEqual(good.map((g) => ({
      size: 12 + g.payload.length / 2, flags: 0x4002, hdr: 0x400, version: 2, len: 12 + g.payload.length / 2,
      tunnel: IDS.peerTunnelId, session: IDS.peerSessionId, address: 0xff, control: 0x03, proto: g.proto, payload: g.payload,
    })));

    // b -> a: L2TP data messages (with and without FF 03, with sequence numbers) become PPPoE frames to the client.
    const back: (Frame & { hdr: string; ff03: boolean; ns?: number; nr?: number })[] = [
      { hdr: 'length', ff03: true, proto: PROTO.lcp, payload: LCP_CONFREQ },
      { hdr: 'length+sequence', ns: 1, nr: 2, ff03: true, proto: PROTO.chap, payload: CHAP_CHALLENGE },
      { hdr: '', ff03: false, proto: PROTO.ipcp, payload: IPCP_CONFREQ },
      { hdr: 'length', ff03: true, proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
    ];
    const ids = { tunnel: IDS.tunnelId, session: IDS.sessionId };
    const badBack = [
      { hdr: 'length', ...ids, session: IDS.sessionId + 1, proto: PROTO.ip, payload: hex(20) }, // another session: badSession
      { raw: 'c802001400640000000000008008000000000006' }, // control: never relayed
      { hdr: 'length', version: 3, ...ids, proto: PROTO.ip, payload: hex(20) }, // badVersion
    ];
    const rxa = startReceiver(client.name, PPPOE_PEER, pppoeRecv(back.length));
    await rxa.ready;
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:${PORT}`, '--to', `${NODE_IP}:${PORT}`, '--spec', writeSpec(work, 'b-a', [...badBack, ...back.map((g) => ({ ...ids, ...g }))])]);
    expect(await rxa.result).toEqual(back.map((g) => ({
      src: accessMac, dst: clientMac, type: 0x8864, frameLen: 22 + g.payload.length / 2, version: 1, pppoeType: 1, code: 0,
      sid: SID, len: 2 + g.payload.length / 2, proto: g.proto, payload: g.payload, trailing: 0,
    })));

    // The counters reach the NodeTask and the PPPBridge, exactly.
    const bytes = (l: Frame[]) => l.reduce((s, g) => s + 2 + g.payload.length / 2, 0);
    const aToB = { packets: good.length, bytes: bytes(good), drops: 3 };
    const bToA = { packets: back.length, bytes: bytes(back), drops: 3 };
    await waitFor('the counters in the PPPBridge status', async () => {
      const x = await getBridge(name);
      return sameCounters(x.status?.aToB, aToB) && sameCounters(x.status?.bToA, bToA) ? x : undefined;
    }, 20_000, 200);
    const t = (await tasksOf(name))[0]!;
    expect(t.status?.pppBridge?.aToB?.dropReasons).toEqual({ short: 1, badVersion: 1, badSession: 0, badLength: 1, control: 0, sendError: 0, rxOverflow: 0 });
    expect(t.status?.pppBridge?.bToA?.dropReasons).toEqual({ short: 0, badVersion: 1, badSession: 1, badLength: 0, control: 1, sendError: 0, rxOverflow: 0 });
    expect(t.status?.counters).toMatchObject({ packets: good.length + back.length, drops: 6 });

    // The relay's sockets exist while it runs (so the checks below can see them go).
    expect(pppoePacketSockets()).toHaveLength(1);
    expect(udpSockets()).toContain(`${NODE_IP}:${PORT}`);

    await deleteBridge(name);
    expect(pppoePacketSockets()).toEqual([]);
    expect(udpSockets()).not.toContain(`${NODE_IP}:${PORT}`);
    await waitFor('the NodeTask to be collected', async () => ((await tasksOf(name)).length === 0) || undefined, 30_000, 200);
    // Nothing is forwarded any more: of a frame the client sends and then a marker the LNS sends
    // itself once the client's sender has exited, the LNS hears the marker first.
    rx = startReceiver(lns.name, L2TP_PEER, l2tpRecv(PORT, 1));
    await rx.ready;
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'after', [{ ...base, proto: PROTO.lcp, payload: LCP_CONFREQ }])]);
    const marker = hex(8);
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:${PORT + 100}`, '--to', `${LNS_IP}:${PORT}`, '--spec', writeSpec(work, 'marker', [{ tunnel: 1, session: 1, proto: PROTO.ip, payload: marker }])]);
    expect((await rx.result).map((f) => f.payload)).toEqual([marker]);
  }, 120_000);

  test('mode userspace on other L2TP ids and port: IP frames both ways, counters match; a smaller MTU applies in place', async () => {
    const name = uniqueName('pppb-us');
    const ids = { tunnelId: 11, sessionId: 12, peerTunnelId: 13, peerSessionId: 14 };
    await createBridge(name, { mode: 'userspace', a: l2tpEnd(1702, ids), b: pppoeEnd(), mtu: 1492 });
    const b = await waitCondition(name, 'Ready', 'Bridged');
    expect(b.status?.dataPath).toBe('userspace');
    const frames: Frame[] = [{ proto: PROTO.pap, payload: PAP_AUTHREQ }, { proto: PROTO.ip, payload: hex(64) }, { proto: PROTO.ip, payload: hex(1400) }];
    // a (L2TP) -> b (PPPoE)
    const rxa = startReceiver(client.name, PPPOE_PEER, pppoeRecv(frames.length));
    await rxa.ready;
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:1702`, '--to', `${NODE_IP}:1702`, '--spec', writeSpec(work, 'us-a-b', frames.map((g) => ({ hdr: 'length', tunnel: 11, session: 12, ...g })))]);
    expect((await rxa.result).map((f) => [f.sid, f.dst, f.proto, f.payload])).toEqual(frames.map((g) => [SID, clientMac, g.proto, g.payload]));
    // b (PPPoE) -> a (L2TP)
    const rx = startReceiver(lns.name, L2TP_PEER, l2tpRecv(1702, frames.length));
    await rx.ready;
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'us-b-a', frames.map((g) => ({ src: clientMac, dst: accessMac, sid: SID, ...g })))]);
    expect((await rx.result).map((f) => [f.tunnel, f.session, f.address, f.control, f.proto, f.payload])).toEqual(frames.map((g) => [13, 14, 0xff, 0x03, g.proto, g.payload]));
    const bytes = frames.reduce((s, g) => s + 2 + g.payload.length / 2, 0);
    await waitFor('the counters', async () => {
      const x = await getBridge(name);
      const want = { packets: frames.length, bytes, drops: 0 };
      return (sameCounters(x.status?.aToB, want) && sameCounters(x.status?.bToA, want)) || undefined;
    }, 20_000, 200);

    // A smaller MTU applies in place: a frame above it is dropped (sendError), one at it passes.
    await admin.mergePatch(PPPBridgeType, undefined, name, { spec: { mtu: 600 } });
    const applied = await waitFor('the agent to apply mtu 600', async () => {
      const t = (await tasksOf(name))[0];
      return (t?.status?.message?.includes('mtu 600') && t) || undefined;
    }, 20_000, 200);
    // The agent says which spec its status describes (kstatus reads NodeTasks too).
    expect(applied.status?.observedGeneration).toBe(applied.metadata.generation);
    expect(applied.status?.conditions?.every((c) => c.observedGeneration === applied.metadata.generation)).toBe(true);
    const sized: Frame[] = [{ proto: PROTO.ip, payload: hex(601) }, { proto: PROTO.ip, payload: hex(600) }];
    // The frame above the MTU goes first: forwarded, it would be the one received.
    const rx2 = startReceiver(lns.name, L2TP_PEER, l2tpRecv(1702, 1));
    await rx2.ready;
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'us-mtu', sized.map((g) => ({ src: clientMac, dst: accessMac, sid: SID, ...g })))]);
    expect((await rx2.result).map((f) => (f.payload as string).length / 2)).toEqual([600]);
    await waitFor('the MTU drop counted', async () => {
      const t = (await tasksOf(name))[0];
      return (t?.status?.pppBridge?.bToA?.dropReasons?.sendError === 1 && t.status.pppBridge.bToA.packets === frames.length + 1) || undefined;
    }, 20_000, 200);
  }, 120_000);
});

describe('agent restart', () => {
  test('a restarted agent bridges again and its counters continue from its predecessor\'s', async () => {
    const name = uniqueName('pppb-rs');
    await createBridge(name, { mode: 'userspace', a: pppoeEnd(), b: l2tpEnd(1706) });
    const first = await waitCondition(name, 'Ready', 'Bridged');
    const send = async (tag: string, n: number) => {
      const frames = Array.from({ length: n }, () => ({ src: clientMac, dst: accessMac, sid: SID, proto: PROTO.ip, payload: hex(100) }));
      const rx = startReceiver(lns.name, L2TP_PEER, l2tpRecv(1706, n));
      await rx.ready;
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, tag, frames)]);
      expect((await rx.result).map((f) => f.payload)).toEqual(frames.map((f) => f.payload));
    };
    const counted = (packets: number) => waitFor(`${packets} frames a to b in the status`, async () => ((await getBridge(name)).status?.aToB?.packets === packets) || undefined, 20_000, 200);
    await send('rs-1', 3);
    await counted(3);
    await cluster(['ringtap', 'agent', node.name]);
    // The new agent re-bridges (a new bridgedSince) ...
    await waitFor('the bridge re-established by the new agent', async () => {
      const b = await getBridge(name);
      return (cond(b, 'Ready')?.status === 'True' && b.status?.bridgedSince !== first.status?.bridgedSince) || undefined;
    }, 60_000, 200);
    // ... and counts on from 3.
    await send('rs-2', 2);
    await counted(5);
  }, 120_000);
});

describe('userspace bridge, L2TP <-> L2TP', () => {
  test('tunnel and session ids are rewritten; frames for our tunnel but another session are counted, not forwarded', async () => {
    const name = uniqueName('pppb-ll');
    const idsA = { tunnelId: 21, sessionId: 22, peerTunnelId: 23, peerSessionId: 24 };
    const idsB = { tunnelId: 31, sessionId: 32, peerTunnelId: 33, peerSessionId: 34 };
    await createBridge(name, { a: l2tpEnd(1704, idsA), b: l2tpEnd(1705, idsB) });
    expect((await waitCondition(name, 'Ready', 'Bridged')).status?.dataPath).toBe('userspace');
    const frames: Frame[] = [{ proto: PROTO.lcp, payload: LCP_CONFREQ }, { proto: PROTO.chap, payload: CHAP_CHALLENGE }, { proto: PROTO.ip, payload: hex(1400) }];
    const rx = startReceiver(lns.name, L2TP_PEER, l2tpRecv(1705, frames.length));
    await rx.ready;
    const spec = [
      { hdr: 'length', tunnel: 21, session: 99, proto: PROTO.ip, payload: hex(8) }, // another session: badSession
      ...frames.map((g) => ({ hdr: 'length+sequence', ns: 5, nr: 6, tunnel: 21, session: 22, ...g })),
    ];
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:1704`, '--to', `${NODE_IP}:1704`, '--spec', writeSpec(work, 'l2tp-l2tp', spec)]);
    expect(await rx.result).toEqual(frames.map((g) => ({
      size: 12 + g.payload.length / 2, flags: 0x4002, hdr: 0x400, version: 2, len: 12 + g.payload.length / 2,
      tunnel: 33, session: 34, address: 0xff, control: 0x03, proto: g.proto, payload: g.payload,
    })));
    const want = { packets: frames.length, bytes: frames.reduce((s, g) => s + 2 + g.payload.length / 2, 0), drops: 1 };
    await waitFor('the counters', async () => sameCounters((await getBridge(name)).status?.aToB, want) || undefined, 20_000, 200);
  }, 120_000);
});

describe('conditions', () => {
  test('mode kernel on this node is Stalled with CapabilityMissing and the kernel\'s reason; no NodeTask', async () => {
    const name = uniqueName('pppb-k');
    await createBridge(name, { mode: 'kernel', a: pppoeEnd(), b: l2tpEnd() });
    const b = await waitCondition(name, 'Stalled', 'CapabilityMissing');
    expect(b.status?.phase).toBe('Failed');
    // What the condition says is what the node's agent published.
    const n = await admin.get<{ metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } }>({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false }, undefined, node.name);
    expect(n.metadata.labels?.['ringtap.dev/ppp-kernel-bridge']).toBe('false');
    expect(JSON.parse(n.metadata.annotations!['ringtap.dev/capabilities']!).pppKernelBridge).toEqual({ available: false, reason: LACKS });
    expect(cond(b, 'Stalled')!.message).toContain(LACKS);
    expect(cond(b, 'Ready')!.status).toBe('False');
    expect(await tasksOf(name)).toEqual([]);
  }, 60_000);

  test('an interface that does not exist is Reconciling naming it (not Stalled: the bridge waits for the world); the bridge comes up when it appears', async () => {
    const name = uniqueName('pppb-if');
    const missing = `eq${(process.pid % 100000).toString(36)}`;
    await createBridge(name, { mode: 'userspace', a: { pppoe: { interface: missing, sessionId: 7, peerMAC: '02:00:00:00:00:07' } }, b: l2tpEnd(1703) });
    const b = await waitCondition(name, 'Reconciling', 'InterfaceNotFound');
    expect(cond(b, 'Reconciling')!.message).toContain(missing);
    expect(cond(b, 'Stalled')!.status).toBe('False');
    expect(b.status?.phase).toBe('Pending');
    // The agent retries: once the interface exists the sessions are bridged.
    ip('-n', node.netns, 'link', 'add', missing, 'type', 'veth', 'peer', 'name', `${missing}p`);
    try {
      ip('-n', node.netns, 'link', 'set', missing, 'up');
      await waitCondition(name, 'Ready', 'Bridged');
      await deleteBridge(name);
    } finally {
      ip('-n', node.netns, 'link', 'del', missing);
    }
  }, 90_000);

  test('a node that does not exist is Reconciling with NodeNotFound (waiting for it); no NodeTask', async () => {
    const name = uniqueName('pppb-nn');
    await createBridge(name, { nodeName: 'no-such-node', a: pppoeEnd(), b: l2tpEnd() });
    const b = await waitCondition(name, 'Reconciling', 'NodeNotFound');
    expect(cond(b, 'Reconciling')!.message).toContain('no-such-node');
    expect(cond(b, 'Stalled')!.status).toBe('False');
    expect(await tasksOf(name)).toEqual([]);
  }, 60_000);
});
