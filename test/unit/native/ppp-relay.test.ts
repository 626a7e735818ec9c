// Userspace PPP relay between independent peers written with scapy (test/support/ppp/):
// a PPPoE client namespace and an LNS namespace, the relay in a third namespace between them.
//   client (pppoe_peer.py) <-veth-> relay (PppRelay: PPPoE sid 0x1234 <-> L2TP 100/200 : 300/400) <-veth-> lns (l2tp_peer.py)
// Every forwarded frame is dissected by scapy on the far side and checked field by field; other
// sessions and malformed frames are not forwarded and the per-direction counters match exactly.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { isNativeError, NativeErrorCode, PppRelay, type PppRelayOptions, type PppRelayStats } from '../../../agent/src/native.js';
import { createNamespace, destroyAll, ip, macOf, type Namespace } from '../../support/netns.js';
import { countFds, countThreads, removeDir, tempDir, waitFor } from './helpers.js';
import {
  CHAP_CHALLENGE,
  IPCP_CONFREQ,
  killPeers,
  L2TP_PEER,
  LCP_CONFREQ,
  PAP_AUTHREQ,
  PPPOE_PEER,
  PROTO,
  runPeer,
  startReceiver,
  writeSpec,
} from '../../support/ppp/peers.js';

const SID = 0x1234;
const TUNNEL = 100; // ours (relay side)
const SESSION = 200;
const PEER_TUNNEL = 300; // the LNS's
const PEER_SESSION = 400;
const RELAY_IP = '10.99.0.1';
const LNS_IP = '10.99.0.2';
const L2TP_PORT = 1701;

const MAX_PPP = 1500 - 6; // PPPoE payload at MTU 1500: protocol + 1492

let client: Namespace;
let relayNs: Namespace;
let lns: Namespace;
let clientIf = '';
let relayDown = ''; // relay's interface towards the client
let relayUp = ''; // relay's interface towards the LNS
let lnsIf = '';
let clientMac = '';
let relayMac = '';
let clientIf2 = ''; // a second access link, for PPPoE <-> PPPoE
let relayDown2 = '';
let clientMac2 = '';
let work = '';

interface Spec {
  proto: number;
  payload: string;
}

function hex(n: number): string {
  return randomBytes(n).toString('hex');
}

function relayOptions(): PppRelayOptions {
  return {
    a: { type: 'pppoe', interface: relayDown, netns: relayNs.path, sessionId: SID, peerMac: clientMac },
    b: {
      type: 'l2tp',
      netns: relayNs.path,
      localAddress: RELAY_IP,
      localPort: L2TP_PORT,
      peerAddress: LNS_IP,
      peerPort: L2TP_PORT,
      tunnelId: TUNNEL,
      sessionId: SESSION,
      peerTunnelId: PEER_TUNNEL,
      peerSessionId: PEER_SESSION,
    },
  };
}

const noDrops = { short: 0, badVersion: 0, badSession: 0, badLength: 0, control: 0, sendError: 0, rxOverflow: 0 };

beforeAll(() => {
  work = tempDir('ppp');
  client = createNamespace('ppc');
  relayNs = createNamespace('ppr');
  lns = createNamespace('ppl');
  const tag = (process.pid % 100000).toString(36);
  clientIf = `pc${tag}`;
  relayDown = `prd${tag}`;
  relayUp = `pru${tag}`;
  lnsIf = `pl${tag}`;
  ip('link', 'add', clientIf, 'netns', client.name, 'type', 'veth', 'peer', 'name', relayDown, 'netns', relayNs.name);
  clientIf2 = `pc2${tag}`;
  relayDown2 = `prd2${tag}`;
  ip('link', 'add', clientIf2, 'netns', client.name, 'type', 'veth', 'peer', 'name', relayDown2, 'netns', relayNs.name);
  ip('link', 'add', relayUp, 'netns', relayNs.name, 'type', 'veth', 'peer', 'name', lnsIf, 'netns', lns.name);
  // The IP core carries PPPoE's 1500-byte PPP frames plus L2TP/UDP/IP without fragmenting.
  ip('-n', relayNs.name, 'link', 'set', relayUp, 'mtu', '1600');
  ip('-n', lns.name, 'link', 'set', lnsIf, 'mtu', '1600');
  ip('-n', relayNs.name, 'addr', 'add', `${RELAY_IP}/30`, 'dev', relayUp);
  ip('-n', lns.name, 'addr', 'add', `${LNS_IP}/30`, 'dev', lnsIf);
  for (const [ns, dev] of [
    [client, clientIf],
    [relayNs, relayDown],
    [client, clientIf2],
    [relayNs, relayDown2],
    [relayNs, relayUp],
    [lns, lnsIf],
  ] as const) {
    ip('-n', ns.name, 'link', 'set', dev, 'up');
  }
  clientMac = macOf(client.name, clientIf);
  relayMac = macOf(relayNs.name, relayDown);
  clientMac2 = macOf(client.name, clientIf2);
});

afterAll(() => {
  killPeers();
  destroyAll();
  if (work) removeDir(work);
});

describe('PppRelay (userspace, PPPoE <-> L2TPv2)', () => {
  let relay: PppRelay | undefined;
  beforeAll(() => {
    relay = new PppRelay(relayOptions());
  });
  afterAll(() => relay?.close());
  const stats = (): PppRelayStats => (relay as PppRelay).stats();

  test('PPPoE session frames of every PPP protocol, up to the MTU, arrive as exact L2TPv2 data messages', async () => {
    const good: Spec[] = [
      { proto: PROTO.lcp, payload: LCP_CONFREQ },
      { proto: PROTO.pap, payload: PAP_AUTHREQ },
      { proto: PROTO.chap, payload: CHAP_CHALLENGE },
      { proto: PROTO.ipcp, payload: IPCP_CONFREQ },
      { proto: PROTO.ip, payload: hex(1) },
      { proto: PROTO.ip, payload: hex(46) },
      { proto: PROTO.ip, payload: hex(512) },
      { proto: PROTO.ip, payload: hex(1400) },
      { proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
    ];
    const base = { src: clientMac, dst: relayMac, sid: SID };
    const bad = [
      { ...base, sid: SID + 1, proto: PROTO.ip, payload: hex(20) }, // another session: kernel filter
      { ...base, src: '02:00:00:00:00:99', proto: PROTO.ip, payload: hex(20) }, // another peer: kernel filter
      { ...base, version: 2, proto: PROTO.lcp, payload: LCP_CONFREQ }, // badVersion
      { ...base, code: 0x09, proto: PROTO.lcp, payload: LCP_CONFREQ }, // badVersion (discovery code)
      { ...base, len: 200, proto: PROTO.ip, payload: hex(10) }, // badLength: beyond the frame
      { ...base, len: 1, proto: PROTO.ip, payload: '' }, // short: no whole protocol field
      { ...base, truncate: 18, proto: PROTO.ip, payload: hex(10) }, // short: cut inside the PPPoE header
    ];
    const spec = [...good.slice(0, 3).map((g) => ({ ...base, ...g })), ...bad, ...good.slice(3).map((g) => ({ ...base, ...g }))];

    const rx = startReceiver(lns.name, L2TP_PEER, ['recv', '--bind', `${LNS_IP}:${L2TP_PORT}`, '--timeout', '2']);
    await rx.ready;
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'pppoe-to-l2tp', spec)]);
    const got = (await rx.result) as Record<string, unknown>[];

    expect(got).toEqual(
      good.map((g) => ({
        size: 8 + 2 + 2 + g.payload.length / 2,
        flags: 0x4002, // T=0, L=1, S=0, O=0, P=0, version 2
        hdr: 0x400, // scapy's 12-bit flag field: 'length' only
        version: 2,
        len: 8 + 2 + 2 + g.payload.length / 2,
        tunnel: PEER_TUNNEL,
        session: PEER_SESSION,
        address: 0xff,
        control: 0x03,
        proto: g.proto,
        payload: g.payload,
      })),
    );
    await waitFor(() => stats().aToB.drops.short === 2, 'short drops counted', 5000);
    expect(stats().aToB).toEqual({
      frames: good.length,
      bytes: good.reduce((s, g) => s + 2 + g.payload.length / 2, 0),
      drops: { ...noDrops, short: 2, badVersion: 2, badLength: 1 },
    });
    expect(stats().bToA).toEqual({ frames: 0, bytes: 0, drops: noDrops });
    expect(stats().running).toBe(true);
  }, 60000);

  test('L2TPv2 data messages (with and without L, S, O and FF 03) arrive as exact PPPoE session frames', async () => {
    const before = stats();
    const good: (Spec & { hdr: string; ff03: boolean; ns?: number; nr?: number; offset?: number })[] = [
      { hdr: 'length', ff03: true, proto: PROTO.lcp, payload: LCP_CONFREQ },
      { hdr: '', ff03: true, proto: PROTO.pap, payload: PAP_AUTHREQ },
      { hdr: 'length+sequence', ns: 7, nr: 9, ff03: true, proto: PROTO.chap, payload: CHAP_CHALLENGE },
      { hdr: 'length+offset', offset: 2, ff03: true, proto: PROTO.ipcp, payload: IPCP_CONFREQ },
      { hdr: 'length', ff03: false, proto: PROTO.ip, payload: hex(1) },
      { hdr: 'length', ff03: true, proto: PROTO.ip, payload: hex(512) },
      { hdr: 'length', ff03: true, proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
    ];
    const ids = { tunnel: TUNNEL, session: SESSION };
    const bad = [
      { raw: 'c802001400640000000000008008000000000006' }, // control (HELLO): counted, not relayed
      { hdr: 'length', version: 3, ...ids, proto: PROTO.ip, payload: hex(20) }, // badVersion
      { hdr: 'length', ...ids, tunnel: TUNNEL + 1, proto: PROTO.ip, payload: hex(20) }, // badSession
      { hdr: 'length', ...ids, session: SESSION + 1, proto: PROTO.ip, payload: hex(20) }, // badSession
      { hdr: 'length', ...ids, len: 2000, proto: PROTO.ip, payload: hex(20) }, // badLength
      { raw: '4002' }, // short
      { hdr: 'length', ...ids, proto: PROTO.ip, payload: hex(MAX_PPP - 1) }, // one byte above the PPPoE MTU: sendError
    ];
    const spec = [...bad.slice(0, 3), ...good.map((g) => ({ ...ids, ...g })), ...bad.slice(3)];

    const rx = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', clientIf, '--timeout', '4', '--ignore-src', clientMac]);
    await rx.ready;
    await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:${L2TP_PORT}`, '--to', `${RELAY_IP}:${L2TP_PORT}`, '--spec', writeSpec(work, 'l2tp-to-pppoe', spec)]);
    const got = (await rx.result) as Record<string, unknown>[];

    expect(got).toEqual(
      good.map((g) => ({
        src: relayMac,
        dst: clientMac,
        type: 0x8864,
        frameLen: 14 + 6 + 2 + g.payload.length / 2,
        version: 1,
        pppoeType: 1,
        code: 0,
        sid: SID,
        len: 2 + g.payload.length / 2,
        proto: g.proto,
        payload: g.payload,
        trailing: 0,
      })),
    );
    await waitFor(() => stats().bToA.drops.sendError === 1, 'the oversized frame counted', 5000);
    expect(stats().bToA).toEqual({
      frames: good.length,
      bytes: good.reduce((s, g) => s + 2 + g.payload.length / 2, 0),
      drops: { ...noDrops, control: 1, badVersion: 1, badSession: 2, badLength: 1, short: 1, sendError: 1 },
    });
    expect(stats().aToB).toEqual(before.aToB);
  }, 60000);

  test('close() stops forwarding and leaves no thread or socket behind', async () => {
    (relay as PppRelay).close();
    relay = undefined;
    const threads = countThreads();
    const fds = countFds();
    const r = new PppRelay(relayOptions());
    expect(countThreads()).toBe(threads + 1);
    expect(countFds()).toBe(fds + 3); // packet socket, UDP socket, eventfd
    expect(r.stats().running).toBe(true);
    r.close();
    r.close(); // idempotent
    expect(r.stats().running).toBe(false);
    await waitFor(() => countThreads() === threads, 'the relay thread to exit', 5000);
    expect(countFds()).toBe(fds);
    // The relay's UDP port is free again in its namespace (no socket left behind).
    const ss = execFileSync('ip', ['netns', 'exec', relayNs.name, 'ss', '-H', '-u', '-a', '-n'], { encoding: 'utf8' });
    expect(ss).not.toContain(`${RELAY_IP}:${L2TP_PORT}`);

    // Nothing is forwarded once closed.
    const rx = startReceiver(lns.name, L2TP_PEER, ['recv', '--bind', `${LNS_IP}:${L2TP_PORT}`, '--timeout', '1']);
    await rx.ready;
    const spec = [{ src: clientMac, dst: relayMac, sid: SID, proto: PROTO.lcp, payload: LCP_CONFREQ }];
    await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'after-close', spec)]);
    expect(await rx.result).toEqual([]);
  }, 60000);
});

describe('PppRelay (PPPoE <-> PPPoE, L2TP <-> L2TP)', () => {
  test('PPPoE to PPPoE rewrites MACs and the session id, both ways', async () => {
    const SID2 = 0x0042;
    const LOCAL2 = '02:00:00:00:00:42';
    const r = new PppRelay({
      a: { type: 'pppoe', interface: relayDown, netns: relayNs.path, sessionId: SID, peerMac: clientMac },
      b: { type: 'pppoe', interface: relayDown2, netns: relayNs.path, sessionId: SID2, peerMac: clientMac2, localMac: LOCAL2 },
    });
    try {
      const frames: Spec[] = [
        { proto: PROTO.lcp, payload: LCP_CONFREQ },
        { proto: PROTO.chap, payload: CHAP_CHALLENGE },
        { proto: PROTO.ip, payload: hex(MAX_PPP - 2) },
      ];
      const expectFrames = (src: string, dst: string, sid: number): unknown[] =>
        frames.map((g) => ({
          src,
          dst,
          type: 0x8864,
          frameLen: 14 + 6 + 2 + g.payload.length / 2,
          version: 1,
          pppoeType: 1,
          code: 0,
          sid,
          len: 2 + g.payload.length / 2,
          proto: g.proto,
          payload: g.payload,
          trailing: 0,
        }));
      // a -> b: from the first access link to the second.
      let rx = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', clientIf2, '--timeout', '3', '--ignore-src', clientMac2]);
      await rx.ready;
      const toB = frames.map((g) => ({ src: clientMac, dst: relayMac, sid: SID, ...g }));
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf, '--spec', writeSpec(work, 'pppoe-a-b', toB)]);
      expect(await rx.result).toEqual(expectFrames(LOCAL2, clientMac2, SID2));
      // b -> a: the second link's session, answered on the first with the interface's own MAC.
      rx = startReceiver(client.name, PPPOE_PEER, ['recv', '--iface', clientIf, '--timeout', '3', '--ignore-src', clientMac]);
      await rx.ready;
      const relayMac2 = macOf(relayNs.name, relayDown2);
      const toA = frames.map((g) => ({ src: clientMac2, dst: relayMac2, sid: SID2, ...g }));
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', clientIf2, '--spec', writeSpec(work, 'pppoe-b-a', toA)]);
      expect(await rx.result).toEqual(expectFrames(relayMac, clientMac, SID));
      const bytes = frames.reduce((s, g) => s + 2 + g.payload.length / 2, 0);
      expect(r.stats()).toEqual({
        running: true,
        aToB: { frames: frames.length, bytes, drops: noDrops },
        bToA: { frames: frames.length, bytes, drops: noDrops },
      });
    } finally {
      r.close();
    }
  }, 60000);

  test('L2TP to L2TP rewrites tunnel and session ids', async () => {
    const r = new PppRelay({
      a: {
        type: 'l2tp',
        netns: relayNs.path,
        localAddress: RELAY_IP,
        localPort: 1702,
        peerAddress: LNS_IP,
        peerPort: 1702,
        tunnelId: 11,
        sessionId: 12,
        peerTunnelId: 13,
        peerSessionId: 14,
      },
      b: relayOptions().b,
    });
    try {
      const frames: Spec[] = [
        { proto: PROTO.pap, payload: PAP_AUTHREQ },
        { proto: PROTO.ipcp, payload: IPCP_CONFREQ },
        { proto: PROTO.ip, payload: hex(1400) },
      ];
      const rx = startReceiver(lns.name, L2TP_PEER, ['recv', '--bind', `${LNS_IP}:${L2TP_PORT}`, '--timeout', '2']);
      await rx.ready;
      const spec = [
        ...frames.map((g) => ({ hdr: 'length+sequence', ns: 1, nr: 2, tunnel: 11, session: 12, ff03: true, ...g })),
        { hdr: 'length', tunnel: 13, session: 14, proto: PROTO.ip, payload: hex(8) }, // the peer's ids, not ours
      ];
      await runPeer(lns.name, L2TP_PEER, ['send', '--bind', `${LNS_IP}:1702`, '--to', `${RELAY_IP}:1702`, '--spec', writeSpec(work, 'l2tp-l2tp', spec)]);
      expect(await rx.result).toEqual(
        frames.map((g) => ({
          size: 12 + g.payload.length / 2,
          flags: 0x4002,
          hdr: 0x400,
          version: 2,
          len: 12 + g.payload.length / 2,
          tunnel: PEER_TUNNEL,
          session: PEER_SESSION,
          address: 0xff,
          control: 0x03,
          proto: g.proto,
          payload: g.payload,
        })),
      );
      expect(r.stats().aToB).toEqual({
        frames: frames.length,
        bytes: frames.reduce((s, g) => s + 2 + g.payload.length / 2, 0),
        drops: { ...noDrops, badSession: 1 },
      });
    } finally {
      r.close();
    }
  }, 60000);
});

describe('PppRelay errors', () => {
  const codeOf = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (e) {
      return isNativeError(e) ? e.code : String(e);
    }
    return undefined;
  };

  test('bad options, missing interface, missing namespace, busy port', () => {
    const opts = relayOptions();
    expect(codeOf(() => new PppRelay({ ...opts, a: { ...opts.a, type: 'pppoe', interface: 'nope0' } as never }))).toBe(
      NativeErrorCode.noSuchInterface,
    );
    expect(codeOf(() => new PppRelay({ ...opts, a: { ...opts.a, peerMac: 'zz' } as never }))).toBe(NativeErrorCode.invalidArgument);
    expect(codeOf(() => new PppRelay({ ...opts, a: { ...opts.a, sessionId: 0 } as never }))).toBe(NativeErrorCode.invalidArgument);
    expect(codeOf(() => new PppRelay({ ...opts, b: { ...opts.b, netns: '/run/netns/does-not-exist' } }))).toBe(NativeErrorCode.netns);
    expect(codeOf(() => new PppRelay({ ...opts, b: { ...opts.b, localAddress: 'x' } as never }))).toBe(NativeErrorCode.invalidArgument);
    const fds = countFds();
    // Both ends on the same local UDP port: the second bind fails, and the first socket is closed.
    expect(codeOf(() => new PppRelay({ a: opts.b, b: opts.b }))).toBe(NativeErrorCode.socket);
    expect(countFds()).toBe(fds);
  });
});
