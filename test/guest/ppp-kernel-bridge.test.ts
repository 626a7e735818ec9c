// Kernel PPP channel bridging (PPPIOCBRIDGECHAN) through the native addon, under a stock Debian
// kernel in the guest (this host's kernel has no PPP).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';

import { PppKernelBridge } from '../../agent/src/native.js';
import { describeInGuest, GUEST_TIMEOUT_MS } from '../support/guest.js';
import { createNamespace, destroyAll, ip, macOf, type Namespace } from '../support/netns.js';
import { killPeers, L2TP_PEER, LCP_CONFREQ, PPPOE_PEER, PROTO, runPeer, startReceiver, writeSpec } from '../support/ppp/peers.js';
import { removeDir, tempDir } from '../unit/native/helpers.js';

describeInGuest('PppKernelBridge forwarding', () => {
  let ns: Namespace;
  let client: Namespace;
  let work = '';
  let cif = '';
  let rif = '';
  let a = '';
  let b = '';
  beforeAll(() => {
    work = tempDir('ppk');
    ns = createNamespace('ppk');
    client = createNamespace('ppkc');
    const tag = (process.pid % 100000).toString(36);
    a = `ka${tag}`;
    b = `kb${tag}`;
    cif = `kc${tag}`;
    rif = `kr${tag}`;
    ip('link', 'add', a, 'netns', ns.name, 'type', 'veth', 'peer', 'name', b, 'netns', ns.name);
    ip('-n', ns.name, 'link', 'set', a, 'up');
    ip('-n', ns.name, 'link', 'set', b, 'up');
    ip('-n', ns.name, 'addr', 'add', '10.98.0.1/30', 'dev', a);
    ip('-n', ns.name, 'addr', 'add', '10.98.0.2/30', 'dev', b);
    ip('link', 'add', cif, 'netns', client.name, 'type', 'veth', 'peer', 'name', rif, 'netns', ns.name);
    ip('-n', client.name, 'link', 'set', cif, 'up');
    ip('-n', ns.name, 'link', 'set', rif, 'up');
  });
  afterAll(() => {
    killPeers();
    destroyAll();
    removeDir(work);
  });

  test('PPPoE <-> L2TP frames cross the kernel bridge, FF 03 added; close() unbridges', async () => {
    const clientMac = macOf(client.name, cif);
    const l2tp = { type: 'l2tp' as const, netns: ns.path, localAddress: '10.98.0.1', localPort: 1701, peerAddress: '10.98.0.2', peerPort: 1701, tunnelId: 1, sessionId: 2, peerTunnelId: 3, peerSessionId: 4 };
    const bridge = new PppKernelBridge({ a: { type: 'pppoe', interface: rif, netns: ns.path, sessionId: 0x77, peerMac: clientMac }, b: l2tp });
    try {
      const ch = bridge.channels();
      expect(ch.bridged).toBe(true);
      expect(ch.a).not.toBe(ch.b);
      const rx = startReceiver(ns.name, L2TP_PEER, ['recv', '--bind', '10.98.0.2:1701', '--count', '1', '--timeout', '30']);
      await rx.ready;
      await runPeer(client.name, PPPOE_PEER, ['send', '--iface', cif, '--spec', writeSpec(work, 'k', [{ src: clientMac, dst: macOf(ns.name, rif), sid: 0x77, proto: PROTO.lcp, payload: LCP_CONFREQ }])]);
      expect(await rx.result).toEqual([expect.objectContaining({ tunnel: 3, session: 4, address: 0xff, control: 0x03, proto: PROTO.lcp, payload: LCP_CONFREQ })]);
    } finally {
      bridge.close();
    }
    expect(execFileSync('ip', ['netns', 'exec', ns.name, 'ss', '-H', '-u', '-a', '-n'], { encoding: 'utf8' })).not.toContain(':1701');
  }, GUEST_TIMEOUT_MS);
});
