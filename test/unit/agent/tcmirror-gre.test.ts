// The tc mirror driver's GRE and ERSPAN destinations, on this host: the device arguments the
// spec turns into, the refusals, the capability probe. The devices themselves and the frames
// they send are tested in the guest (test/guest/portmirror-gre.test.ts): this kernel has no GRE.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { parse } from 'yaml';
import { capabilitiesFrom, probeTunnels, type ProbeInput } from '../../../agent/src/node/capabilities.js';
import { greSpec, mirrorFilterText, TcMirrorDriver } from '../../../agent/src/drivers/tcmirror/driver.js';
import { greLinkArgs, sameGre, type GreSpec } from '../../../agent/src/drivers/tcmirror/tc.js';
import type { NodeTaskSpec, NodeTaskStatus, PortMirror, RemoteDestination } from '../../../crds/src/index.js';

const EXAMPLE = fileURLToPath(new URL('../../../crds/examples/portmirror-erspan.yaml', import.meta.url));

describe('GRE device arguments', () => {
  test('gretap: the key when given, whole copies of full-size frames (MTU 65000, the outer packet fragmented); not to an IPv6 collector', () => {
    expect(greLinkArgs(greSpec('rtmt1', { address: '192.0.2.9', protocol: 'gre', key: 5 }, 'both')))
      .toEqual(['link', 'add', 'rtmt1', 'mtu', '65000', 'type', 'gretap', 'remote', '192.0.2.9', 'key', '5', 'nopmtudisc', 'ignore-df']);
    expect(() => greSpec('rtmt1', { address: '2001:db8::9', protocol: 'gre' }, 'both'))
      .toThrow(expect.objectContaining({ reason: 'InvalidSpec', message: expect.stringMatching(/^spec\.destination\.remote\.address: GRE to an IPv6 collector \(2001:db8::9\) is not supported/) }));
  });
  test('erspan: sequence numbers, the session id as the kernel key, version 1 with the default index 0, version 2 with the direction', () => {
    expect(greLinkArgs(greSpec('rtmt1', { address: '192.0.2.9', protocol: 'erspan', erspan: { sessionId: 7 } }, 'both')))
      .toEqual(['link', 'add', 'rtmt1', 'type', 'erspan', 'remote', '192.0.2.9', 'seq', 'key', '7', 'erspan_ver', '1']);
    expect(greLinkArgs(greSpec('rtmt1', { address: '192.0.2.9', protocol: 'erspan' }, 'ingress')))
      .toEqual(['link', 'add', 'rtmt1', 'type', 'erspan', 'remote', '192.0.2.9', 'seq', 'key', '0', 'erspan_ver', '1']);
    expect(greLinkArgs(greSpec('rtmt1', { address: '2001:db8::50', protocol: 'erspan', erspan: { version: 2, sessionId: 1023 } }, 'both')))
      .toEqual(['link', 'add', 'rtmt1', 'type', 'ip6erspan', 'remote', '2001:db8::50', 'seq', 'key', '1023', 'erspan_ver', '2', 'erspan_dir', 'ingress', 'erspan_hwid', '0']);
  });
  test('crds/examples/portmirror-erspan.yaml: its fields are the ones the agent uses', () => {
    const pm = parse(readFileSync(EXAMPLE, 'utf8')) as PortMirror;
    expect(greLinkArgs(greSpec('rtmt1', pm.spec.destination.remote!, pm.spec.direction!)))
      .toEqual(['link', 'add', 'rtmt1', 'type', 'ip6erspan', 'remote', '2001:db8::50', 'seq', 'key', '7', 'erspan_ver', '2', 'erspan_dir', 'egress', 'erspan_hwid', '0']);
  });
  test('refused: a GRE key on ERSPAN (its frames have none), out-of-range values, a name or address that is not one', () => {
    expect(() => greSpec('rtmt1', { address: '192.0.2.9', protocol: 'erspan', key: 100, erspan: { sessionId: 7 } }, 'both'))
      .toThrow(expect.objectContaining({ reason: 'InvalidSpec', message: expect.stringMatching(/^spec\.destination\.remote\.key: ERSPAN frames carry no GRE key/) }));
    const g: GreSpec = { name: 'rtmt1', remote: '192.0.2.9' };
    expect(() => greLinkArgs({ ...g, key: 2 ** 32 })).toThrow(/key 4294967296 is not an integer/);
    expect(() => greLinkArgs({ ...g, erspan: { version: 1, sessionId: 1024 } })).toThrow(/session id 1024/);
    expect(() => greLinkArgs({ ...g, remote: '192.0.2.9 key 1' })).toThrow(/not an IP address/);
    expect(() => greLinkArgs({ ...g, name: 'a b' })).toThrow(/not a valid interface name/);
    expect(() => greLinkArgs({ ...g, local: '2001:db8::1' })).toThrow(/not an address of the remote's family/);
    expect(greLinkArgs({ name: 'rtmt1', remote: '2001:db8::50', local: '2001:db8::1' })).toEqual(['link', 'add', 'rtmt1', 'type', 'ip6gretap', 'remote', '2001:db8::50', 'local', '2001:db8::1']);
  });
  test('an existing device is kept only when it is the one asked for', () => {
    const g: GreSpec = { name: 'rtmt1', remote: '192.0.2.9', erspan: { version: 1, sessionId: 7 } };
    const link = { ifname: 'rtmt1', kind: 'erspan', gre: { remote: '192.0.2.9', local: 'any', okey: '0.0.0.7', erspan_ver: 1, erspan_index: 0 } };
    expect(sameGre(link, g)).toBe(true);
    expect(sameGre({ ...link, gre: { ...link.gre, okey: '0.0.0.8' } }, g)).toBe(false);
    expect(sameGre({ ...link, kind: 'gretap' }, g)).toBe(false);
    const tap = { ifname: 'rtmt1', kind: 'gretap', mtu: 65000, gre: { remote: '192.0.2.9', pmtudisc: false, ignore_df: true } };
    expect(sameGre(tap, { name: 'rtmt1', remote: '192.0.2.9' })).toBe(true);
    expect(sameGre({ ...tap, gre: { ...tap.gre, okey: '0.0.1.0' } }, { name: 'rtmt1', remote: '192.0.2.9', key: 256 })).toBe(true);
    expect(sameGre({ ...tap, mtu: 1462 }, { name: 'rtmt1', remote: '192.0.2.9' })).toBe(false); // made by an older agent
    expect(sameGre({ ...tap, gre: { ...tap.gre, pmtudisc: true } }, { name: 'rtmt1', remote: '192.0.2.9' })).toBe(false);
    expect(sameGre(undefined, g)).toBe(false);
    const v6 = { ifname: 'rtmt1', kind: 'ip6gretap', gre: { remote: '2001:db8::50', local: '2001:db8::1' } };
    expect(sameGre(v6, { name: 'rtmt1', remote: '2001:db8::50', local: '2001:db8::1' })).toBe(true);
    expect(sameGre(v6, { name: 'rtmt1', remote: '2001:db8::50', local: '2001:db8::2' })).toBe(false); // the route moved
  });
  test('a node interface mirrored over GRE never mirrors its own encapsulated copies', () => {
    const gre: RemoteDestination = { address: '192.0.2.9', protocol: 'gre' };
    expect(mirrorFilterText('interface', 'tcp', gre)).toBe('(not (dst host 192.0.2.9 and proto 47)) and (tcp)');
    expect(mirrorFilterText('interface', undefined, { address: '2001:db8::50', protocol: 'erspan' })).toBe('not (dst host 2001:db8::50 and proto 47)');
    expect(mirrorFilterText('pod', 'tcp', gre)).toBe('tcp');
  });
});

describe('the gre and erspan capabilities', () => {
  const base: ProbeInput = { kernelRelease: '6.1.0', config: 'CONFIG_NET_IPGRE=m\n', protocols: ['PACKET'], devPpp: false, ipaDevices: [] };
  test('what creating the devices showed decides; a configuration without the option is reported as such', () => {
    expect(capabilitiesFrom({ ...base, tunnels: { gretap: null, erspan: null } })).toMatchObject({ gre: { available: true }, erspan: { available: true } });
    expect(capabilitiesFrom({ ...base, tunnels: { gretap: 'Error: Unknown device type.', erspan: 'Error: Unknown device type.' } }).gre)
      .toEqual({ available: false, reason: 'cannot create a gretap device: Error: Unknown device type.' });
    expect(capabilitiesFrom({ ...base, config: '', tunnels: { gretap: 'Error: Unknown device type.', erspan: 'x' } }).gre)
      .toEqual({ available: false, reason: 'kernel lacks GRE (CONFIG_NET_IPGRE)' });
    expect(capabilitiesFrom({ ...base, config: undefined, tunnels: { gretap: null, erspan: null } }).gre).toEqual({ available: true });
  });
  test('this host: the probe and the capabilities agree (creating a device in a throwaway namespace)', async () => {
    const t = await probeTunnels();
    for (const r of [t.gretap, t.erspan]) expect(r === null || (typeof r === 'string' && r.length > 0)).toBe(true);
    const links = JSON.parse((await import('node:child_process')).execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[];
    expect(links.some((l) => l.ifname === 'rtprobe')).toBe(false); // nothing left in this namespace
  });
});

describe('the driver refuses before it makes anything', () => {
  const spec = (remote: RemoteDestination): NodeTaskSpec => ({
    node: 'n', parent: { kind: 'PortMirror', name: 'm', namespace: 'default', uid: '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9', generation: 1 },
    portMirror: { sources: [{ interface: 'lo' }], direction: 'both', sampling: 1, destination: { remote } },
  });
  async function run(remote: RemoteDestination, gre: boolean): Promise<Partial<NodeTaskStatus>[]> {
    const updates: Partial<NodeTaskStatus>[] = [];
    const d = new TcMirrorDriver();
    const caps = capabilitiesFrom({ kernelRelease: '6.1.0', config: `CONFIG_NET_SCH_INGRESS=y\nCONFIG_NET_ACT_MIRRED=y\nCONFIG_NET_CLS_BPF=y\nCONFIG_VXLAN=y\n${gre ? 'CONFIG_NET_IPGRE=m\n' : ''}`, protocols: [], devPpp: false, ipaDevices: [] });
    await d.probe(caps);
    const t = await d.start(spec(remote), { namespace: 'ringtap-system', name: 't', uid: 'u', node: 'n', dataDir: '/nonexistent', reporter: { update: (s) => void updates.push(s), log: pino({ level: 'silent' }) } });
    await t.stop({ cleanup: false });
    return updates;
  }
  test('a key on ERSPAN: Failed, InvalidSpec, naming the field', async () => {
    expect((await run({ address: '192.0.2.9', protocol: 'erspan', key: 100 }, true)).at(-1))
      .toMatchObject({ phase: 'Failed', reason: 'InvalidSpec', message: expect.stringMatching(/^spec\.destination\.remote\.key/) });
  });
  test('a node without GRE: Failed, CapabilityMissing, saying why', async () => {
    expect((await run({ address: '192.0.2.9', protocol: 'gre' }, false)).at(-1))
      .toMatchObject({ phase: 'Failed', reason: 'CapabilityMissing', message: 'gre is not available on this node (kernel lacks GRE (CONFIG_NET_IPGRE))' });
  });
});
