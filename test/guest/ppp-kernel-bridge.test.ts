// Kernel PPP channel bridging (PPPIOCBRIDGECHAN) through ringtap's native addon and its pppbridge
// driver, under a stock Debian kernel in the guest (this host's kernel has no PPP). Independent
// checks: scapy peers (test/support/ppp) build and dissect every frame; ppp_chan.py drives the
// kernel's PPP ioctls directly for the error paths.
//
//   client ns (pppoe_peer.py) --veth-- bridge ns (PppKernelBridge) --veth, mtu 1600-- lns ns (l2tp_peer.py)
//                                      ACCESS | 10.98.0.1:1701/1702     10.98.0.2:1701/1702
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

import { probeCapabilities } from '../../agent/src/node/capabilities.js';
import { kernelDirectionCounters, PppBridgeDriver } from '../../agent/src/drivers/pppbridge/driver.js';
import { isNativeError, NativeErrorCode, PppKernelBridge, type PppRelayEndpoint } from '../../agent/src/native.js';
import type { NodeTaskStatus } from '../../crds/src/index.js';
import { describeInGuest, GUEST_TIMEOUT_MS } from '../support/guest.js';
import { createNamespace, destroyAll, ip, macOf, type Namespace } from '../support/netns.js';
import { CHAP_CHALLENGE, IPCP_CONFREQ, killPeers, L2TP_PEER, LCP_CONFREQ, PAP_AUTHREQ, PPPOE_PEER, PROTO, PYTHON, runPeer, startReceiver, writeSpec } from '../support/ppp/peers.js';
import { removeDir, tempDir } from '../unit/native/helpers.js';

const PPP_CHAN = fileURLToPath(new URL('../support/ppp/ppp_chan.py', import.meta.url));
const BR_IP = '10.98.0.1';
const LNS_IP = '10.98.0.2';
const SID = 0x77;
const MAX_PPP = 1500 - 6; // PPPoE payload at the access link's MTU 1500: protocol + 1492
const hex = (n: number) => randomBytes(n).toString('hex');

interface Frame { proto: number; payload: string }
// Every PPP protocol a session carries: LCP, PAP, CHAP, IPCP, then IP from small to the MTU.
const ALL: Frame[] = [
  { proto: PROTO.lcp, payload: LCP_CONFREQ },
  { proto: PROTO.pap, payload: PAP_AUTHREQ },
  { proto: PROTO.chap, payload: CHAP_CHALLENGE },
  { proto: PROTO.ipcp, payload: IPCP_CONFREQ },
  { proto: PROTO.ip, payload: hex(46) },
  { proto: PROTO.ip, payload: hex(1400) },
  { proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
];
// L2TP -> bridge: header variants the kernel must accept (length, sequence numbers, no FF 03).
// Sequence numbers count from 0 per session, without gaps: the kernel discards frames out of
// sequence (no reorder timeout).
type L2tpFrame = Frame & { hdr: string; ff03: boolean; ns?: number; nr?: number };
const variants = (frames: Frame[]): L2tpFrame[] => {
  let ns = 0;
  return frames.map((f, i) => (
    i % 3 === 0 ? { hdr: 'length', ff03: true, ...f } : i % 3 === 1 ? { hdr: 'length+sequence', ns: ns++, nr: 0, ff03: true, ...f } : { hdr: '', ff03: false, ...f }
  ));
};
/** The L2TP message's bytes as the kernel counts them: header (6, +2 length, +4 sequence), FF 03, PPP frame. */
const l2tpBytes = (f: Partial<L2tpFrame> & Frame) =>
  6 + ((f.hdr ?? '').includes('length') ? 2 : 0) + ((f.hdr ?? '').includes('sequence') ? 4 : 0) + (f.ff03 === false ? 0 : 2) + 2 + f.payload.length / 2;
/** What scapy dissects of a frame the kernel sent on L2TP: a 6-byte header (no length, no sequence numbers), FF 03, the PPP frame. */
const fromKernelL2tp = (f: Frame, tunnel: number, session: number) => ({
  size: 10 + f.payload.length / 2, flags: 0x0002, hdr: 0, version: 2, len: null, tunnel, session, address: 0xff, control: 0x03, proto: f.proto, payload: f.payload,
});
/** The bytes counted for a PPPoE session packet: the PPPoE header (6), protocol, information. */
const pppoeBytes = (l: Frame[]) => l.reduce((n, f) => n + 6 + 2 + f.payload.length / 2, 0);
const pppoeStats = (tx: Frame[], rx: Frame[]) => ({ type: 'pppoe', txPackets: tx.length, txBytes: pppoeBytes(tx), rxPackets: rx.length, rxBytes: pppoeBytes(rx) });
/** The bytes the kernel counts for frames it sent on L2TP: the datagrams as received. */
const sizes = (l: Record<string, unknown>[]) => l.reduce((n, f) => n + (f.size as number), 0);

describeInGuest('PPP kernel bridge', () => {
  let br: Namespace;
  let client: Namespace;
  let lns: Namespace;
  let work = '';
  let cif = '';
  let access = '';
  let core = '';
  let lif = '';
  let clientMac = '';
  let accessMac = '';
  const holders = new Set<ChildProcess>();

  const pppoe = (sid = SID): PppRelayEndpoint => ({ type: 'pppoe', interface: access, netns: br.path, sessionId: sid, peerMac: clientMac });
  const l2tp = (port: number, ids: { tunnelId: number; sessionId: number; peerTunnelId: number; peerSessionId: number }): PppRelayEndpoint => (
    { type: 'l2tp', netns: br.path, localAddress: BR_IP, localPort: port, peerAddress: LNS_IP, peerPort: port, ...ids });
  const IDS = { tunnelId: 1, sessionId: 2, peerTunnelId: 3, peerSessionId: 4 };

  /** PPPoE frames from the client to the bridge; what the LNS receives on `port`. */
  async function clientToLns(tag: string, frames: Frame[], port: number, count = frames.length, timeout = 30): Promise<Record<string, unknown>[]> {
    const rx = startReceiver(lns.name, L2TP_PEER, ['recv', '--bind', `${LNS_IP}:${port}`, '--count', String(count), '--timeout', String(timeout)]);
    await rx.ready;
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', cif, '--spec', writeSpec(work, tag, frames.map((f) => ({ src: clientMac, dst: accessMac, sid: SID, ...f })))]);
    return rx.result;
  }
  /** L2TP data messages from the LNS (port) to the bridge (toPort); what the client receives. */
  async function lnsToClient(tag: string, frames: L2tpFrame[], port: number, ids: { tunnel: number; session: number }, count = frames.length, timeout = 30): Promise<Record<string, unknown>[]> {
    const rx = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', cif, '--count', String(count), '--timeout', String(timeout), '--ignore-src', clientMac]);
    await rx.ready;
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:${port}`, '--to', `${BR_IP}:${port}`, '--spec', writeSpec(work, tag, frames.map((f) => ({ ...ids, ...f })))]);
    return rx.result;
  }
  const pppoeFromKernel = (f: Frame, sid = SID) => ({
    src: accessMac, dst: clientMac, type: 0x8864, frameLen: 22 + f.payload.length / 2, version: 1, pppoeType: 1, code: 0, sid, len: 2 + f.payload.length / 2, proto: f.proto, payload: f.payload, trailing: 0,
  });
  /** ppp_chan.py in the bridge's namespace (PPP channel indexes are per namespace). */
  const chan = (...args: string[]) => JSON.parse(execFileSync('ip', ['netns', 'exec', br.name, PYTHON, PPP_CHAN, ...args], { encoding: 'utf8', timeout: 30_000 }).trim()) as { errno: string | null };
  /** A PPPoE session held open by ppp_chan.py (optionally in a PPP unit) until close(). */
  async function hold(sid: number, unit = false): Promise<{ channel: number; unit: number | null; close: () => Promise<void> }> {
    const child = spawn('ip', ['netns', 'exec', br.name, PYTHON, PPP_CHAN, 'hold', access, String(sid), clientMac, ...(unit ? ['--unit'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    holders.add(child);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const line = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) res(out.split('\n')[0]!);
      });
      child.once('close', (code) => rej(new Error(`ppp_chan.py hold exited ${code}: ${err}`)));
    });
    const closed = new Promise<void>((res) => child.once('close', () => res()));
    return {
      ...(JSON.parse(line) as { channel: number; unit: number | null }),
      close: async () => {
        child.stdin.end();
        await closed;
        holders.delete(child);
      },
    };
  }

  beforeAll(() => {
    work = tempDir('ppk');
    br = createNamespace('ppkb');
    client = createNamespace('ppkc');
    lns = createNamespace('ppkl');
    const tag = (process.pid % 100000).toString(36);
    cif = `kc${tag}`;
    access = `ka${tag}`;
    core = `ku${tag}`;
    lif = `kl${tag}`;
    ip('link', 'add', cif, 'netns', client.name, 'type', 'veth', 'peer', 'name', access, 'netns', br.name);
    ip('link', 'add', core, 'netns', br.name, 'type', 'veth', 'peer', 'name', lif, 'netns', lns.name);
    // The IP core carries maximum-size PPP frames plus FF 03, L2TP, UDP and IP unfragmented.
    ip('-n', br.name, 'link', 'set', core, 'mtu', '1600');
    ip('-n', lns.name, 'link', 'set', lif, 'mtu', '1600');
    ip('-n', br.name, 'addr', 'add', `${BR_IP}/30`, 'dev', core);
    ip('-n', lns.name, 'addr', 'add', `${LNS_IP}/30`, 'dev', lif);
    for (const [ns, dev] of [[client.name, cif], [br.name, access], [br.name, core], [lns.name, lif]] as const) ip('-n', ns, 'link', 'set', dev, 'up');
    clientMac = macOf(client.name, cif);
    accessMac = macOf(br.name, access);
  });
  afterEach(() => {
    killPeers();
    for (const h of holders) h.kill('SIGKILL');
    holders.clear();
  });
  afterAll(() => {
    destroyAll();
    removeDir(work);
  });

  /** The Udp InCsumErrors counter of a namespace (/proc/net/snmp). */
  const udpInCsumErrors = (ns: string) => {
    const udp = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('Udp: '));
    const [names, values] = udp.map((l) => l.split(/\s+/));
    return Number(values![names!.indexOf('InCsumErrors')]);
  };
  const udpSockets = () => execFileSync('ip', ['netns', 'exec', br.name, 'ss', '-H', '-u', '-a', '-n'], { encoding: 'utf8' });

  test('PPPoE -> L2TP: every PPP protocol both ways, each header field exact; both sessions\' counters equal what was sent; close() unbridges and frees the port', async () => {
    const bridge = new PppKernelBridge({ a: pppoe(), b: l2tp(1701, IDS) });
    try {
      const ch = bridge.channels();
      expect(ch).toEqual({ a: expect.any(Number), b: expect.any(Number), bridged: true });
      expect(ch.a).not.toBe(ch.b);
      expect(bridge.stats()).toEqual({ a: pppoeStats([], []), b: { type: 'l2tp', txPackets: 0, txBytes: 0, txErrors: 0, rxPackets: 0, rxBytes: 0, rxSeqDiscards: 0, rxOosPackets: 0, rxErrors: 0 } });

      expect(await clientToLns('pl-ab', ALL, 1701)).toEqual(ALL.map((f) => fromKernelL2tp(f, IDS.peerTunnelId, IDS.peerSessionId)));
      const back = variants(ALL);
      expect(await lnsToClient('pl-ba', back, 1701, { tunnel: IDS.tunnelId, session: IDS.sessionId })).toEqual(back.map((f) => pppoeFromKernel(f)));

      const s = bridge.stats();
      expect(s.a).toEqual(pppoeStats(back, ALL));
      expect(s.b).toEqual({
        type: 'l2tp', txPackets: ALL.length, txBytes: ALL.reduce((n, f) => n + l2tpBytes(f), 0), txErrors: 0,
        rxPackets: back.length, rxBytes: back.reduce((n, f) => n + l2tpBytes(f), 0), rxSeqDiscards: 0, rxOosPackets: 0, rxErrors: 0,
      });
      // The driver's status counters are these, per direction.
      expect(kernelDirectionCounters(s)).toEqual({
        aToB: { packets: ALL.length, bytes: s.b!.txBytes, drops: 0, dropReasons: expect.objectContaining({ sendError: 0 }) },
        bToA: { packets: back.length, bytes: pppoeBytes(back), drops: 0, dropReasons: expect.objectContaining({ sendError: 0 }) },
      });
      expect(udpSockets()).toContain(`${BR_IP}:1701`);
    } finally {
      bridge.close();
    }
    expect(udpSockets()).not.toContain(`${BR_IP}:1701`);
    // Unbridged and gone: the LNS hears nothing of what the client sends.
    expect(await clientToLns('pl-after', [ALL[0]!], 1701, 1, 3)).toEqual([]);
  }, 4 * GUEST_TIMEOUT_MS);

  test('L2TP -> PPPoE (a is the L2TP session): every PPP protocol both ways; both sessions\' counters equal what was sent', async () => {
    const ids = { tunnelId: 11, sessionId: 12, peerTunnelId: 13, peerSessionId: 14 };
    const bridge = new PppKernelBridge({ a: l2tp(1702, ids), b: pppoe() });
    try {
      const fwd = variants(ALL);
      expect(await lnsToClient('lp-ab', fwd, 1702, { tunnel: 11, session: 12 })).toEqual(fwd.map((f) => pppoeFromKernel(f)));
      const got = await clientToLns('lp-ba', ALL, 1702);
      expect(got).toEqual(ALL.map((f) => fromKernelL2tp(f, 13, 14)));
      const s = bridge.stats();
      expect(s.b).toEqual(pppoeStats(fwd, ALL));
      expect(s.a).toMatchObject({ type: 'l2tp', rxPackets: fwd.length, rxBytes: fwd.reduce((n, f) => n + l2tpBytes(f), 0), txPackets: ALL.length, txBytes: sizes(got) });
      expect(kernelDirectionCounters(s)).toEqual({
        aToB: { packets: fwd.length, bytes: pppoeBytes(fwd), drops: 0, dropReasons: expect.any(Object) },
        bToA: { packets: ALL.length, bytes: sizes(got), drops: 0, dropReasons: expect.any(Object) },
      });
    } finally {
      bridge.close();
    }
  }, 4 * GUEST_TIMEOUT_MS);

  test('L2TP <-> L2TP with the LNS on this machine: tunnel and session ids rewritten both ways, UDP checksums the LNS accepts; both sessions count', async () => {
    const idsA = { tunnelId: 21, sessionId: 22, peerTunnelId: 23, peerSessionId: 24 };
    const idsB = { tunnelId: 31, sessionId: 32, peerTunnelId: 33, peerSessionId: 34 };
    const bridge = new PppKernelBridge({ a: l2tp(1703, idsA), b: l2tp(1704, idsB) });
    const relay = async (tag: string, frames: L2tpFrame[], from: number, to: number, ids: { tunnel: number; session: number }) => {
      const rx = startReceiver(lns.name, L2TP_PEER, ['recv', '--bind', `${LNS_IP}:${to}`, '--count', String(frames.length), '--timeout', '30']);
      await rx.ready;
      // The LNS is on this machine: its datagrams cross the veth as CHECKSUM_PARTIAL skbs, which
      // the kernel's L2TP -> PPP -> L2TP path re-encapsulates in that state. The bridge's tunnel
      // sockets send without UDP checksums (SO_NO_CHECK), or the checksum the kernel computed
      // from the stale offload offsets would be wrong and the LNS would drop every datagram.
      await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:${from}`, '--to', `${BR_IP}:${from}`, '--spec', writeSpec(work, tag, frames.map((f) => ({ ...ids, ...f })))]);
      return rx.result;
    };
    const csumErrors0 = udpInCsumErrors(lns.name);
    try {
      const ab = variants(ALL);
      const atB = await relay('ll-ab', ab, 1703, 1704, { tunnel: 21, session: 22 });
      expect(atB).toEqual(ALL.map((f) => fromKernelL2tp(f, 33, 34)));
      const ba = variants(ALL.slice(0, 4));
      const atA = await relay('ll-ba', ba, 1704, 1703, { tunnel: 31, session: 32 });
      expect(atA).toEqual(ba.map((f) => fromKernelL2tp(f, 23, 24)));
      const s = bridge.stats();
      const sent = (l: L2tpFrame[]) => l.reduce((n, f) => n + l2tpBytes(f), 0);
      expect(s.a).toEqual({ type: 'l2tp', rxPackets: ab.length, rxBytes: sent(ab), txPackets: ba.length, txBytes: sizes(atA), txErrors: 0, rxSeqDiscards: 0, rxOosPackets: 0, rxErrors: 0 });
      expect(s.b).toEqual({ type: 'l2tp', rxPackets: ba.length, rxBytes: sent(ba), txPackets: ab.length, txBytes: sizes(atB), txErrors: 0, rxSeqDiscards: 0, rxOosPackets: 0, rxErrors: 0 });
      expect(udpInCsumErrors(lns.name)).toBe(csumErrors0);
    } finally {
      bridge.close();
    }
    expect(udpSockets()).not.toMatch(/:170[34]\b/);
  }, 4 * GUEST_TIMEOUT_MS);

  test('PPPoE <-> PPPoE: two sessions on the access link bridged; every PPP protocol both ways; both sessions\' counters equal what was sent', async () => {
    const SID2 = 0x78;
    const bridge = new PppKernelBridge({ a: pppoe(), b: pppoe(SID2) });
    /** PPPoE frames from the client on session `from`; what the client receives (the bridge's frames). */
    const across = async (tag: string, frames: Frame[], from: number) => {
      const rx = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', cif, '--count', String(frames.length), '--timeout', '30', '--ignore-src', clientMac]);
      await rx.ready;
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', cif, '--spec', writeSpec(work, tag, frames.map((f) => ({ src: clientMac, dst: accessMac, sid: from, ...f })))]);
      return rx.result;
    };
    try {
      expect(await across('pp-ab', ALL, SID)).toEqual(ALL.map((f) => pppoeFromKernel(f, SID2)));
      const ba = ALL.slice(0, 4);
      expect(await across('pp-ba', ba, SID2)).toEqual(ba.map((f) => pppoeFromKernel(f, SID)));
      const s = bridge.stats();
      expect(s).toEqual({ a: pppoeStats(ba, ALL), b: pppoeStats(ALL, ba) });
      expect(kernelDirectionCounters(s)).toEqual({
        aToB: { packets: ALL.length, bytes: pppoeBytes(ALL), drops: 0, dropReasons: expect.objectContaining({ sendError: 0 }) },
        bToA: { packets: ba.length, bytes: pppoeBytes(ba), drops: 0, dropReasons: expect.objectContaining({ sendError: 0 }) },
      });
    } finally {
      bridge.close();
    }
  }, 4 * GUEST_TIMEOUT_MS);

  test('MTU: the kernel bridge has none of its own; a frame beyond the access link\'s MTU is not delivered, one at it is', async () => {
    // Before bridging: the kernel ends the PPPoE sessions of a device whose MTU changes.
    ip('-n', br.name, 'link', 'set', access, 'mtu', '1000');
    ip('-n', client.name, 'link', 'set', cif, 'mtu', '1000');
    const bridge = new PppKernelBridge({ a: pppoe(), b: l2tp(1705, IDS) });
    try {
      // The PPPoE payload (protocol + information) at MTU 1000 is 994 bytes.
      // (veth admits 4 bytes beyond the MTU for a VLAN tag: the first frame is well beyond.)
      const frames: L2tpFrame[] = [{ hdr: 'length', ff03: true, proto: PROTO.ip, payload: hex(1100) }, { hdr: 'length', ff03: true, proto: PROTO.ip, payload: hex(992) }];
      expect((await lnsToClient('mtu', frames, 1705, { tunnel: 1, session: 2 }, 1)).map((f) => f.len)).toEqual([994]);
    } finally {
      bridge.close();
      ip('-n', br.name, 'link', 'set', access, 'mtu', '1500');
      ip('-n', client.name, 'link', 'set', cif, 'mtu', '1500');
    }
  }, 4 * GUEST_TIMEOUT_MS);

  test('error paths: ENXIO, EALREADY (bridged, in a unit, a second bridge on a session), EINVAL after PPPIOCUNBRIDGECHAN, and traffic stops', async () => {
    const bridge = new PppKernelBridge({ a: pppoe(), b: l2tp(1706, IDS) });
    const free = await hold(0x101);
    const inUnit = await hold(0x102, true);
    try {
      const { a, b } = bridge.channels();
      expect(inUnit.unit).toEqual(expect.any(Number));
      // A channel that does not exist in this namespace.
      expect(chan('bridge', String(free.channel), '99999')).toEqual({ errno: 'ENXIO' });
      // Bridging to a channel in a bridge, or to / from one in a unit.
      expect(chan('bridge', String(free.channel), String(a))).toEqual({ errno: 'EALREADY' });
      expect(chan('bridge', String(free.channel), String(inUnit.channel))).toEqual({ errno: 'EALREADY' });
      expect(chan('bridge', String(inUnit.channel), String(free.channel))).toEqual({ errno: 'EALREADY' });
      // A bridged channel cannot join a unit.
      expect(chan('unit', String(b))).toEqual({ errno: 'EINVAL' });
      // ringtap refuses a second bridge on a session already bridged, before connect(): the
      // kernel would answer EALREADY, but closing that socket unhooks the first one's session.
      let err: unknown;
      try {
        new PppKernelBridge({ a: pppoe(), b: l2tp(1707, { ...IDS, tunnelId: 5 }) }).close();
      } catch (e) {
        err = e;
      }
      expect(isNativeError(err, NativeErrorCode.pppChannelBusy)).toBe(true);
      expect((err as Error).message).toMatch(/PPPoE session 119 on .* is already held by another socket .*: refused/);
      expect(udpSockets()).not.toContain(':1707'); // the refused bridge closed what it had opened
      // ... and on an L2TP session whose tunnel is taken.
      err = undefined;
      try {
        new PppKernelBridge({ a: pppoe(0x103), b: l2tp(1708, IDS) }).close();
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).toMatch(/L2TP_CMD_TUNNEL_CREATE 1: File exists/);

      // The bridge forwards; after PPPIOCUNBRIDGECHAN (one call, both directions) it does not.
      expect(await clientToLns('err-before', [ALL[0]!], 1706)).toHaveLength(1);
      expect(chan('unbridge', String(a))).toEqual({ errno: null });
      expect(chan('unbridge', String(a))).toEqual({ errno: 'EINVAL' });
      expect(chan('unbridge', String(b))).toEqual({ errno: 'EINVAL' });
      expect(await clientToLns('err-after', [ALL[0]!], 1706, 1, 3)).toEqual([]);
      expect(bridge.stats().b).toMatchObject({ txPackets: 1 });
    } finally {
      bridge.close(); // the unbridge's EINVAL is no error here
      await free.close();
      await inUnit.close();
    }
    expect(udpSockets()).not.toContain(':1706');
  }, 4 * GUEST_TIMEOUT_MS);

  test('closing one session\'s socket unbridges the other, which stays usable', async () => {
    const one = await hold(0x201);
    const two = await hold(0x202);
    const three = await hold(0x203);
    try {
      expect(chan('bridge', String(one.channel), String(two.channel))).toEqual({ errno: null });
      expect(chan('bridge', String(three.channel), String(two.channel))).toEqual({ errno: 'EALREADY' });
      await one.close();
      expect(chan('unbridge', String(two.channel))).toEqual({ errno: 'EINVAL' });
      expect(chan('bridge', String(three.channel), String(two.channel))).toEqual({ errno: null });
    } finally {
      await two.close();
      await three.close();
    }
  }, 2 * GUEST_TIMEOUT_MS);

  test('the pppbridge driver: auto picks kernel mode here; frames cross both ways; the status counters equal what was sent; stop unbridges', async () => {
    const caps = await probeCapabilities();
    expect(caps.pppKernelBridge).toEqual({ available: true });
    const updates: Partial<NodeTaskStatus>[] = [];
    const reporter = { update: (s: Partial<NodeTaskStatus>) => void updates.push(s), log: pino({ level: 'silent' }) };
    const ctx = { namespace: 'ringtap-system', name: 't', uid: 'u', node: 'n', dataDir: work, reporter };
    // Like the agent, the driver opens its sockets in its own namespace (the guest's): a PPPoE
    // access link from there to the client, L2TP on 127.0.0.1 to an LNS peer in the same namespace.
    const tag = (process.pid % 100000).toString(36);
    const dcl = `dc${tag}`;
    const dacc = `da${tag}`;
    ip('link', 'add', dacc, 'type', 'veth', 'peer', 'name', dcl, 'netns', client.name);
    ip('link', 'set', dacc, 'up');
    ip('-n', client.name, 'link', 'set', dcl, 'up');
    ip('netns', 'attach', `rtroot${tag}`, '1'); // a name for the guest's own namespace, for the peers
    const root = `rtroot${tag}`;
    const dclMac = macOf(client.name, dcl);
    const daccMac = macOf(root, dacc);
    const d = new PppBridgeDriver();
    await d.probe(caps);
    const t = await d.start({
      node: 'n', parent: { kind: 'PPPBridge', name: 'b', uid: 'u', generation: 1 },
      pppBridge: {
        mode: 'auto', a: { pppoe: { interface: dacc, sessionId: 0x301, peerMAC: dclMac } },
        b: { l2tp: { localAddress: '127.0.0.1', peerAddress: '127.0.0.1', localPort: 1710, peerPort: 1711, tunnelId: 51, peerTunnelId: 52, sessionId: 53, peerSessionId: 54 } },
      },
    }, ctx);
    try {
      expect(updates[0]).toMatchObject({ phase: 'Running', dataPath: 'kernel', message: 'bridged (kernel)' });
      const ab = ALL.slice(0, 5);
      const rx = startReceiver(root, L2TP_PEER, ['recv', '--bind', '127.0.0.1:1711', '--count', String(ab.length), '--timeout', '30']);
      await rx.ready;
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', dcl, '--spec', writeSpec(work, 'drv-ab', ab.map((f) => ({ src: dclMac, dst: daccMac, sid: 0x301, ...f })))]);
      expect(await rx.result).toEqual(ab.map((f) => fromKernelL2tp(f, 52, 54)));
      const ba = variants(ALL.slice(0, 4));
      const rxa = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', dcl, '--count', String(ba.length), '--timeout', '30', '--ignore-src', dclMac]);
      await rxa.ready;
      await runPeer(root, L2TP_PEER, ['send', '--bind', '127.0.0.1:1711', '--to', '127.0.0.1:1710', '--spec', writeSpec(work, 'drv-ba', ba.map((f) => ({ tunnel: 51, session: 53, ...f })))]);
      expect((await rxa.result).map((f) => [f.sid, f.proto, f.payload])).toEqual(ba.map((f) => [0x301, f.proto, f.payload]));

      // a -> b: the L2TP messages the kernel sent (6-byte header, FF 03); b -> a: the PPPoE packets.
      const want = (l: Frame[]) => ({ packets: l.length, bytes: l.reduce((n, f) => n + l2tpBytes(f), 0), drops: 0 });
      const wantPppoe = (l: Frame[]) => ({ packets: l.length, bytes: pppoeBytes(l), drops: 0 });
      const deadline = Date.now() + 30_000;
      const done = (u: Partial<NodeTaskStatus>) => u.pppBridge?.aToB?.packets === ab.length && u.pppBridge.bToA?.packets === ba.length;
      while (!updates.some(done)) {
        if (Date.now() > deadline) throw new Error(`no status with the counters; last: ${JSON.stringify(updates.at(-1))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const last = updates.find(done)!;
      expect(last.pppBridge?.aToB).toMatchObject(want(ab));
      expect(last.pppBridge?.bToA).toMatchObject(wantPppoe(ba));
      expect(last.counters).toEqual({ packets: ab.length + ba.length, bytes: want(ab).bytes + wantPppoe(ba).bytes, drops: 0 });
    } finally {
      await t.stop({ cleanup: false });
      ip('netns', 'delete', root);
      ip('link', 'del', dacc);
    }
    expect(execFileSync('ss', ['-H', '-u', '-a', '-n'], { encoding: 'utf8' })).not.toContain(':1710');
  }, 4 * GUEST_TIMEOUT_MS);
});
