// The tc mirror driver's pure parts, and its tc plumbing against a real veth pair in fresh
// network namespaces: direction mapping, cookies, sampling bytecode, adoption and cleanup.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mirrorVni } from '../../../crds/src/index.js';
import { deviceNames, hooksFor, mirrorFilterText, isRingtapCookie, mirrorCookie, MIRROR_PRIO, planHook } from '../../../agent/src/drivers/tcmirror/driver.js';
import { bytecodeArg, compileBpf, MATCH_ALL, withSampling, type TcFilter } from '../../../agent/src/drivers/tcmirror/tc.js';
import { createVethPair, destroyAll, nsExec } from '../../support/netns.js';

const UID = '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

describe('direction mapping', () => {
  test.each([
    ['ingress', 'pod', ['egress']], // what the pod receives, the host veth transmits
    ['egress', 'pod', ['ingress']], // what the pod sends arrives at the host veth
    ['both', 'pod', ['egress', 'ingress']],
    ['ingress', 'interface', ['ingress']],
    ['egress', 'interface', ['egress']],
    ['both', 'interface', ['ingress', 'egress']],
  ] as const)('%s of a %s -> tc hooks %j', (dir, kind, hooks) => {
    expect([...hooksFor(dir, kind)].sort()).toEqual([...hooks].sort());
  });
});

describe('identity', () => {
  test('the cookie is "rtap" and 12 bytes of the UID; the VNI is the first 24 bits of the UID', () => {
    expect(mirrorCookie(UID)).toBe('727461700a1b2c3d4e5f60718293a4b5');
    expect(isRingtapCookie(mirrorCookie(UID))).toBe(true);
    expect(isRingtapCookie('0a0b0c0d')).toBe(false);
    expect(mirrorVni(UID)).toBe(0x0a1b2c);
    expect(deviceNames(UID)).toEqual({ tx: 'rtmt0a1b2c3d4e', rx: 'rtmr0a1b2c3d4e' });
    expect(() => mirrorCookie('x; rm -rf /')).toThrow();
  });
});

describe('classic BPF', () => {
  test('libpcap compiles in process; bytecode has the count first', () => {
    expect(compileBpf('icmp')).toEqual([
      { code: 40, jt: 0, jf: 0, k: 12 }, { code: 21, jt: 0, jf: 3, k: 2048 }, { code: 48, jt: 0, jf: 0, k: 23 },
      { code: 21, jt: 0, jf: 1, k: 1 }, { code: 6, jt: 0, jf: 0, k: 262144 }, { code: 6, jt: 0, jf: 0, k: 0 },
    ]);
    expect(bytecodeArg(MATCH_ALL)).toBe('1,6 0 0 4294967295');
    expect(() => compileBpf('icmp and')).toThrow(/syntax error/);
    expect(() => compileBpf('icmp\0 or tcp')).toThrow(/NUL/);
    expect(compileBpf('')).toEqual(MATCH_ALL);
  });
  test('sampling prefixes a random draw that drops N-1 in N and leaves 1 in 1 alone', () => {
    expect(withSampling(MATCH_ALL, 1)).toBe(MATCH_ALL);
    const s = withSampling(MATCH_ALL, 10);
    expect(s.slice(0, 4)).toEqual([
      { code: 0x20, jt: 0, jf: 0, k: 0xfffff038 }, { code: 0x94, jt: 0, jf: 0, k: 10 }, { code: 0x15, jt: 1, jf: 0, k: 0 }, { code: 6, jt: 0, jf: 0, k: 0 },
    ]);
    expect(s.slice(4)).toEqual(MATCH_ALL);
  });
});

describe('filter text', () => {
  test('a node interface sending over VXLAN never mirrors its own encapsulated copies', () => {
    const vx = { address: '100.64.0.12', protocol: 'vxlan', port: 4789 };
    expect(mirrorFilterText('interface', 'tcp', vx)).toBe('(not (dst host 100.64.0.12 and udp dst port 4789)) and (tcp)');
    expect(mirrorFilterText('interface', undefined, vx)).toBe('not (dst host 100.64.0.12 and udp dst port 4789)');
    expect(mirrorFilterText('pod', 'tcp', vx)).toBe('tcp'); // a pod's veth never carries them
    expect(mirrorFilterText('interface', '', undefined)).toBe('');
    expect(() => mirrorFilterText('interface', '', { address: '1.2.3.4 or 1', protocol: 'vxlan' })).toThrow();
  });
});

describe('planHook', () => {
  const cookie = mirrorCookie(UID);
  const f = (handle: string, c: string, toDev = 'col', insns = MATCH_ALL): TcFilter => ({ pref: MIRROR_PRIO, handle, kind: 'bpf', insns, actions: [{ cookie: c, toDev, mirror: 'mirred:mirror', control: 'continue', packets: 1, bytes: 1, drops: 0 }] });
  const foreign: TcFilter = { pref: 1, handle: '0x1', kind: 'u32', actions: [] };
  test('keeps one matching filter of ours, removes duplicates, never touches others', () => {
    const p = planHook([foreign, f('0x1', cookie), f('0x2', cookie), f('0x3', '72746170ffffffffffffffffffffffff')], cookie, { prog: MATCH_ALL, dest: 'col' });
    expect(p.keep?.handle).toBe('0x1');
    expect(p.remove.map((x) => x.handle)).toEqual(['0x2']);
    expect(p.add).toBe(false);
  });
  test('a changed destination or program is replaced; nothing wanted removes all of ours', () => {
    expect(planHook([f('0x1', cookie, 'old')], cookie, { prog: MATCH_ALL, dest: 'col' })).toMatchObject({ remove: [{ handle: '0x1' }], add: true });
    expect(planHook([f('0x1', cookie)], cookie, { prog: withSampling(MATCH_ALL, 2), dest: 'col' })).toMatchObject({ add: true });
    expect(planHook([foreign, f('0x1', cookie)], cookie, undefined)).toEqual({ remove: [f('0x1', cookie)], add: false });
  });
});

describe('act_mirred through cls_bpf on a real veth (kernel)', () => {
  afterAll(() => destroyAll());
  test('a sampled mirror filter with a cookie installs, shows up with its cookie and counts', () => {
    const pair = createVethPair('tcm');
    const tc = (...a: string[]) => execFileSync('tc', ['-n', pair.nsA, ...a], { encoding: 'utf8' });
    tc('qdisc', 'add', 'dev', pair.ifA, 'clsact');
    tc('filter', 'add', 'dev', pair.ifA, 'egress', 'prio', String(MIRROR_PRIO), 'protocol', 'all', 'bpf', 'bytecode', bytecodeArg(withSampling(MATCH_ALL, 2)),
      'action', 'mirred', 'egress', 'mirror', 'dev', 'lo', 'cookie', mirrorCookie(UID));
    nsExec(pair.nsA, 'ping', '-c', '200', '-i', '0.002', '-q', pair.ipB);
    const out = JSON.parse(tc('-s', '-j', 'filter', 'show', 'dev', pair.ifA, 'egress')) as { options?: { actions?: { cookie: string; stats: { packets: number } }[] } }[];
    const a = out.flatMap((x) => x.options?.actions ?? []);
    expect(a).toHaveLength(1);
    expect(a[0]!.cookie).toBe(mirrorCookie(UID));
    // 200 requests (+ a few ARP) at 1 in 2: far from 0 and from all.
    expect(a[0]!.stats.packets).toBeGreaterThan(60);
    expect(a[0]!.stats.packets).toBeLessThan(145);
    pair.destroy();
  });

  test('two mirrors on one interface both see every packet: a copy continues classification', () => {
    const pair = createVethPair('tcm');
    const tc = (...a: string[]) => execFileSync('tc', ['-n', pair.nsA, ...a], { encoding: 'utf8' });
    tc('qdisc', 'add', 'dev', pair.ifA, 'clsact');
    for (const uid of [UID, '1a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9']) {
      tc('filter', 'add', 'dev', pair.ifA, 'egress', 'prio', String(MIRROR_PRIO), 'protocol', 'all', 'bpf', 'bytecode', bytecodeArg(MATCH_ALL),
        'action', 'mirred', 'egress', 'mirror', 'dev', 'lo', 'continue', 'cookie', mirrorCookie(uid));
    }
    nsExec(pair.nsA, 'ping', '-c', '20', '-i', '0.002', '-q', pair.ipB);
    const out = JSON.parse(tc('-s', '-j', 'filter', 'show', 'dev', pair.ifA, 'egress')) as { options?: { actions?: { stats: { packets: number } }[] } }[];
    const counts = out.flatMap((x) => x.options?.actions ?? []).map((a) => a.stats.packets);
    expect(counts).toHaveLength(2);
    expect(counts[0]).toBe(counts[1]);
    expect(counts[0]).toBeGreaterThanOrEqual(20);
    pair.destroy();
  });
});
