// PortMirror to a remote collector over GRE (gretap) and ERSPAN (types II and III), through the
// tcmirror driver, under a stock Debian kernel in the guest (this host's kernel has no ip_gre).
// The driver runs in the guest's root namespace, as on a node; the independent check is
// test/support/mirror/gre_rx.py in the collector's namespace: a raw GRE socket that parses the
// GRE and ERSPAN headers itself and dissects the inner frames with scapy. ping (iputils) makes
// the traffic: its echo requests are the pod's egress, the replies its ingress.
//
//   pod ns (eth0 10.77.1.2) --veth-- root ns: host veth 10.77.1.1, rtmt<uid> (gretap|erspan|ip6erspan)
//                                    root ns: 10.77.2.1, 2001:db8::1 --veth-- collector ns: 10.77.2.2, 2001:db8::50
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse } from 'yaml';

import { capabilityLabels, probeCapabilities, type NodeCapabilities } from '../../agent/src/node/capabilities.js';
import type { DriverTask } from '../../agent/src/drivers/driver.js';
import { deviceNames, mirrorCookie, TcMirrorDriver } from '../../agent/src/drivers/tcmirror/driver.js';
import { listFilters, listLinks } from '../../agent/src/drivers/tcmirror/tc.js';
import type { MirrorDirection, NodeTaskSpec, NodeTaskStatus, PortMirror, RemoteDestination } from '../../crds/src/index.js';
import { describeInGuest, GUEST_TIMEOUT_MS } from '../support/guest.js';
import { createNamespace, destroyAll, ip, type Namespace } from '../support/netns.js';
import { killPeers, PYTHON, startReceiver } from '../support/ppp/peers.js';

const GRE_RX = fileURLToPath(new URL('../support/mirror/gre_rx.py', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../crds/examples/portmirror-erspan.yaml', import.meta.url));
const POD_IP = '10.77.1.2';
const HOST_IP = '10.77.1.1';
const NODE_IP = '10.77.2.1';
const COL_IP = '10.77.2.2';
const NODE_IP6 = '2001:db8::1';
const SENTINEL_PORT = 9;
// Echo payload sizes: a small frame, one of 1442 bytes (1400 + 8 ICMP + 20 IP + 14 Ethernet)
// and a full-size one (1514 bytes, DF set): above what fits in one outer packet of the
// underlay's MTU 1500. gretap sends it whole (fragmented outside); ERSPAN cuts it.
const SIZES = [56, 1400, 1472];
const PINGS = 3; // per size

interface GreRecord {
  outerSrc: string; outerDst?: string; greFlags: number; greProto: number; key?: number; seq?: number;
  erspan?: Record<string, number>;
  inner: { len: number; ipSrc?: string; ipDst?: string; icmp?: number; udpDport?: number } | null;
}

describeInGuest('PortMirror over GRE and ERSPAN', () => {
  let pod: Namespace;
  let col: Namespace;
  let caps: NodeCapabilities;
  const hostVeth = `rtgh${process.pid % 100000}`;
  const colVeth = `rtgc${process.pid % 100000}`;
  const driver = new TcMirrorDriver();
  let task: DriverTask | undefined;
  let updates: Partial<NodeTaskStatus>[] = [];

  beforeAll(async () => {
    pod = createNamespace('gp');
    col = createNamespace('gc');
    ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name);
    execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${hostVeth}.disable_ipv6=1`]);
    ip('addr', 'add', `${HOST_IP}/24`, 'dev', hostVeth);
    ip('link', 'set', hostVeth, 'up');
    ip('-n', pod.name, 'addr', 'add', `${POD_IP}/24`, 'dev', 'eth0');
    ip('-n', pod.name, 'link', 'set', 'eth0', 'up');
    // The collector's link carries IPv4 and IPv6 (the ERSPAN example's collector is 2001:db8::50).
    ip('link', 'add', colVeth, 'type', 'veth', 'peer', 'name', 'c0', 'netns', col.name);
    execFileSync('ip', ['netns', 'exec', col.name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', 'net.ipv6.conf.c0.disable_ipv6=0']);
    ip('addr', 'add', `${NODE_IP}/24`, 'dev', colVeth);
    ip('addr', 'add', `${NODE_IP6}/64`, 'dev', colVeth, 'nodad');
    ip('link', 'set', colVeth, 'up');
    ip('-n', col.name, 'addr', 'add', `${COL_IP}/24`, 'dev', 'c0');
    ip('-n', col.name, 'addr', 'add', '2001:db8::50/64', 'dev', 'c0', 'nodad');
    ip('-n', col.name, 'link', 'set', 'c0', 'up');
    caps = await probeCapabilities();
    await driver.probe(caps);
  }, GUEST_TIMEOUT_MS);

  afterEach(async () => {
    await task?.stop({ cleanup: true });
    task = undefined;
    killPeers();
  }, GUEST_TIMEOUT_MS);

  afterAll(() => {
    for (const l of [hostVeth, colVeth]) {
      try { ip('link', 'del', l); } catch { /* gone with its namespace's peer */ }
    }
    destroyAll();
  });

  let seq = 0;
  async function mirror(destination: RemoteDestination, direction: MirrorDirection): Promise<{ uid: string; tx: string }> {
    const uid = `${(++seq).toString(16).padStart(8, '0')}-4e5f-6071-8293-a4b5c6d7e8f9`;
    updates = [];
    const spec: NodeTaskSpec = {
      node: 'guest',
      parent: { kind: 'PortMirror', name: `m${seq}`, namespace: 'default', uid, generation: 1 },
      portMirror: { sources: [{ pod: { name: 'web', namespace: 'default', uid: 'f0000000-0000-4000-8000-000000000001', hostVeth } }], direction, sampling: 1, destination: { remote: destination } },
    };
    const reporter = { update: (s: Partial<NodeTaskStatus>) => void updates.push(s), log: pino({ level: 'silent' }) };
    task = await driver.start(spec, { namespace: 'ringtap-system', name: `t${seq}`, uid: `u${seq}`, node: 'guest', dataDir: '/nonexistent', reporter });
    return { uid, tx: deviceNames(uid).tx };
  }

  /** Pings from the pod (PINGS per size), then the sentinel; what the collector received. */
  async function traffic(family: 4 | 6, count: number): Promise<GreRecord[]> {
    const rx = startReceiver(col.name, GRE_RX, ['--family', String(family), '--count', String(count), '--sentinel-port', String(SENTINEL_PORT), '--timeout', '60']);
    await rx.ready;
    for (const size of SIZES) {
      execFileSync('ip', ['netns', 'exec', pod.name, 'ping', '-q', '-n', '-M', 'do', '-c', String(PINGS), '-i', '0.2', '-W', '10', '-s', String(size), HOST_IP], { timeout: 60_000 });
    }
    execFileSync('ip', ['netns', 'exec', pod.name, PYTHON, '-c', `import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'end', ('${HOST_IP}', ${SENTINEL_PORT}))`], { timeout: 60_000 });
    return (await rx.result) as unknown as GreRecord[];
  }

  /**
   * The mirror left the traffic it copies alone: no smaller path MTU towards the pod on the
   * node (a tunnel that cannot carry a copy may lower it) and a full-size DF ping still passes.
   */
  function sourceUndisturbed(): void {
    expect(ip('route', 'get', POD_IP)).not.toMatch(/\bmtu\b/);
    expect(execFileSync('ping', ['-q', '-n', '-M', 'do', '-c', '1', '-W', '10', '-s', '1472', POD_IP], { encoding: 'utf8', timeout: 60_000 })).toMatch(/1 received/);
  }

  const requests = (got: GreRecord[]) => got.filter((r) => r.inner?.icmp === 8 && r.inner.ipSrc === POD_IP && r.inner.ipDst === HOST_IP);
  const replies = (got: GreRecord[]) => got.filter((r) => r.inner?.icmp === 0 && r.inner.ipSrc === HOST_IP && r.inner.ipDst === POD_IP);
  /** The inner frame lengths of echo messages, sorted: one per ping per size. */
  const lengths = (n: number) => SIZES.flatMap((s) => Array<number>(n).fill(14 + 20 + 8 + s));
  const attached = () => updates.filter((u) => u.phase === 'Running').at(-1);
  /** ERSPAN sends a frame longer than its device's MTU cut to it, with the T bit set. */
  const cutTo = (mtu: number) => (len: number) => ({ len: Math.min(len, mtu + 14), t: len > mtu + 14 ? 1 : 0 });
  const mtuOf = (dev: string) => (JSON.parse(ip('-j', 'link', 'show', dev)) as { mtu: number }[])[0]!.mtu;
  const byLen = (a: { len: number }, b: { len: number }) => a.len - b.len;

  test('the guest kernel makes gretap and erspan devices: the gre capability and label are true', () => {
    expect(caps.gre).toEqual({ available: true });
    expect(caps.erspan).toEqual({ available: true });
    expect(capabilityLabels(caps)['ringtap.dev/gre']).toBe('true');
  });

  test('gretap with a key, both directions: every echo request and reply arrives once, whole (full-size ones too), with the key', async () => {
    const { tx, uid } = await mirror({ address: COL_IP, protocol: 'gre', key: 5 }, 'both');
    expect(updates.at(-1)).toMatchObject({ phase: 'Running' });
    expect(attached()?.targets).toEqual([expect.objectContaining({ name: 'pod/default/web', state: 'Attached' })]);
    const link = (await listLinks()).find((l) => l.ifname === tx);
    expect(link).toMatchObject({ kind: 'gretap', mtu: 65000, gre: { remote: COL_IP, okey: '0.0.0.5', pmtudisc: false, ignore_df: true } });
    const got = await traffic(4, 2 * PINGS * SIZES.length + 1);
    for (const r of got) expect(r).toMatchObject({ outerSrc: NODE_IP, outerDst: COL_IP, greProto: 0x6558, greFlags: 0x2000, key: 5 });
    expect(requests(got).map((r) => r.inner!.len).sort((a, b) => a - b)).toEqual(lengths(PINGS));
    expect(replies(got).map((r) => r.inner!.len).sort((a, b) => a - b)).toEqual(lengths(PINGS));
    sourceUndisturbed();
    // One filter of this mirror per hook on the pod's host veth.
    const filters = [...(await listFilters(hostVeth, 'ingress')), ...(await listFilters(hostVeth, 'egress'))];
    expect(filters.filter((f) => f.actions.some((a) => a.cookie === mirrorCookie(uid)))).toHaveLength(2);
  }, 4 * GUEST_TIMEOUT_MS);

  test('ERSPAN type II (version 1), both directions: session id 7 on every frame, GRE sequence numbers consecutive, exact counts', async () => {
    const { tx } = await mirror({ address: COL_IP, protocol: 'erspan', erspan: { version: 1, sessionId: 7 } }, 'both');
    expect(updates.at(-1)).toMatchObject({ phase: 'Running' });
    expect((await listLinks()).find((l) => l.ifname === tx)).toMatchObject({ kind: 'erspan', gre: { remote: COL_IP, erspan_ver: 1, erspan_index: 0 } });
    const got = await traffic(4, 2 * PINGS * SIZES.length + 1);
    for (const r of got) {
      expect(r).toMatchObject({ outerSrc: NODE_IP, outerDst: COL_IP, greProto: 0x88be, greFlags: 0x1000, erspan: { ver: 1, session: 7, index: 0 } });
      expect(r.key).toBeUndefined(); // ERSPAN's GRE header has none
    }
    const seqs = got.map((r) => r.seq!).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const cut = cutTo(mtuOf(tx)); // 1450 over IPv4: the full-size frames are cut to 1464 bytes
    expect(requests(got).map((r) => ({ len: r.inner!.len, t: r.erspan!.t })).sort(byLen)).toEqual(lengths(PINGS).map(cut));
    expect(replies(got).map((r) => ({ len: r.inner!.len, t: r.erspan!.t })).sort(byLen)).toEqual(lengths(PINGS).map(cut));
    expect(lengths(PINGS).map(cut).filter((c) => c.t === 1)).toHaveLength(PINGS);
    sourceUndisturbed();
  }, 4 * GUEST_TIMEOUT_MS);

  test('crds/examples/portmirror-erspan.yaml as written: ERSPAN type III to 2001:db8::50, session 7, egress only', async () => {
    const example = parse(readFileSync(EXAMPLE, 'utf8')) as PortMirror;
    const { direction, destination } = example.spec;
    expect(destination.remote).toMatchObject({ address: '2001:db8::50', protocol: 'erspan', erspan: { version: 2, sessionId: 7 } });
    const { tx } = await mirror(destination.remote!, direction!);
    const dev = (await listLinks()).find((l) => l.ifname === tx);
    // An IPv6 tunnel transmits only with a source address: the driver takes the route's.
    expect(dev).toMatchObject({ kind: 'ip6erspan', gre: { remote: '2001:db8::50', local: NODE_IP6, okey: '0.0.0.7', erspan_ver: 2, erspan_dir: 'egress' } });
    const cut = cutTo(mtuOf(tx)); // 1418 over IPv6: the 1442- and 1514-byte frames are cut
    const got = await traffic(6, PINGS * SIZES.length + 1);
    for (const r of got) expect(r).toMatchObject({ outerSrc: NODE_IP6, greProto: 0x22eb, greFlags: 0x1000, erspan: { ver: 2, session: 7, dir: 1, hwid: 0 } });
    expect(requests(got).map((r) => ({ len: r.inner!.len, t: r.erspan!.t })).sort(byLen)).toEqual(lengths(PINGS).map(cut));
    expect(lengths(PINGS).map(cut).filter((c) => c.t === 1)).toHaveLength(2 * PINGS);
    expect(replies(got)).toEqual([]); // the pod's ingress is not asked for
    sourceUndisturbed();
  }, 4 * GUEST_TIMEOUT_MS);

  test('cleanup removes the tunnel device and every filter of the mirror; a restarted pass adopts an existing device', async () => {
    const { tx, uid } = await mirror({ address: COL_IP, protocol: 'gre' }, 'both');
    const ifindex = () => (JSON.parse(ip('-j', 'link', 'show', tx)) as { ifindex: number }[])[0]!.ifindex;
    const before = ifindex();
    expect((await listLinks()).find((l) => l.ifname === tx)).toMatchObject({ kind: 'gretap' });
    // An agent restart: a second task for the same mirror finds the device and keeps it.
    const again = await driver.start({ ...{ node: 'guest', parent: { kind: 'PortMirror', name: 'again', namespace: 'default', uid, generation: 1 } }, portMirror: { sources: [{ pod: { name: 'web', namespace: 'default', uid: 'f0000000-0000-4000-8000-000000000001', hostVeth } }], direction: 'both', sampling: 1, destination: { remote: { address: COL_IP, protocol: 'gre' } } } }, { namespace: 'ringtap-system', name: 'again', uid: 'again', node: 'guest', dataDir: '/nonexistent', reporter: { update: () => undefined, log: pino({ level: 'silent' }) } });
    await again.stop({ cleanup: false });
    expect(ifindex()).toBe(before); // the same device, not one made again
    await task!.stop({ cleanup: true });
    task = undefined;
    expect((await listLinks()).some((l) => l.ifname === tx)).toBe(false);
    const left = [...(await listFilters(hostVeth, 'ingress')), ...(await listFilters(hostVeth, 'egress'))];
    expect(left.filter((f) => f.actions.some((a) => a.cookie === mirrorCookie(uid)))).toEqual([]);
  }, 4 * GUEST_TIMEOUT_MS);
});
