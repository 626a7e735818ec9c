// The in-kernel filter: a live-filtered capture equals `tcpdump -r unfiltered 'filter'` over an
// unfiltered capture of the same traffic, and the snap length truncates exactly.
import { afterAll, describe, expect, test } from '@jest/globals';

import { udpFrame } from '../../support/frames.js';
import { compileFilter, isNativeError, NativeErrorCode, RingCapture, transmit } from '../../../agent/src/native.js';
import { createVethPair, destroyAll, nsExec } from '../../support/netns.js';
import { FOREIGN_MAC, removeDir, tcpdumpLines, tempDir, tsharkFields, waitFor } from './helpers.js';

afterAll(() => destroyAll());

/** tcpdump lines without the timestamp (each socket stamps a packet itself). */
function packetsOf(file: string, filter?: string): string[] {
  return tcpdumpLines(file, filter).map((l) => l.replace(/^\S+\s/, ''));
}

describe('BPF filter', () => {
  test('live-filtered captures equal tcpdump -r unfiltered with the same filter', async () => {
    const pair = createVethPair('flt');
    const dir = tempDir('flt');
    const filters = [
      'udp',
      'udp port 5002',
      'icmp',
      'arp',
      `host ${pair.ipA} and not udp`,
      'not udp',
      'greater 500',
      'udp and dst port 53',
      `ether dst ${FOREIGN_MAC}`,
      'ip[8] = 17 or udp[8] = 0x42',
    ];
    const iface = { name: pair.ifB, netns: pair.nsPathB };
    const ring = { blockSize: 1 << 20, blockCount: 16, retireTimeoutMs: 20 };
    const all = new RingCapture({ interfaces: [iface], ring, output: { directory: dir, prefix: 'all' } });
    const filtered = filters.map(
      (f, i) => new RingCapture({ interfaces: [iface], ring, filter: f, output: { directory: dir, prefix: `f${i}` } }),
    );
    const caps = [all, ...filtered];
    try {
      for (const c of caps) c.start();
      const base = { srcMac: pair.macA, srcIp: pair.ipA, dstIp: pair.ipB, srcPort: 40000 };
      const frames = [
        udpFrame({ ...base, dstMac: FOREIGN_MAC, dstPort: 5001 }),
        udpFrame({ ...base, dstMac: FOREIGN_MAC, dstPort: 5002, frameLength: 800 }),
        udpFrame({ ...base, dstMac: pair.macB, dstPort: 53, frameLength: 120, fill: 0x42 }),
        udpFrame({ ...base, dstMac: FOREIGN_MAC, srcIp: '10.1.2.3', dstPort: 5002, ttl: 17 }),
      ];
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames, count: 400, ratePps: 20000 });
      // ICMP both ways (and ARP before it) from the real stack.
      nsExec(pair.nsA, 'ping', '-c', '3', '-i', '0.2', '-s', '600', '-W', '2', pair.ipB);
      // B answers the port-53 frames with ICMP port unreachable (rate limited), adding outbound traffic.
      const expectedAll = 400 + 6;
      await waitFor(() => all.stats().packets >= expectedAll, 'unfiltered capture to see all traffic');
      // stop() drains every ring, including the block the kernel is still filling.
      for (const c of caps) await c.stop();
      const allFile = `${dir}/all-000000.pcapng`;
      const everything = packetsOf(allFile);
      expect(everything.length).toBeGreaterThanOrEqual(expectedAll);
      // Neither side may have lost anything in the kernel, or the comparison is meaningless.
      for (const c of caps) expect(c.stats()).toMatchObject({ kernelDrops: 0, spillDrops: 0 });
      filters.forEach((f, i) => {
        const expected = packetsOf(allFile, f);
        const got = packetsOf(`${dir}/f${i}-000000.pcapng`);
        expect({ filter: f, lines: got }).toEqual({ filter: f, lines: expected });
      });
      // Each filter selected something and rejected something, so the comparison means something.
      for (const f of filters) {
        const n = packetsOf(allFile, f).length;
        expect({ f, some: n > 0, notAll: n < everything.length }).toEqual({ f, some: true, notAll: true });
      }
    } finally {
      for (const c of caps) c.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 90000);

  test('snap length truncates caplen and keeps orig_len', async () => {
    const pair = createVethPair('snp');
    const dir = tempDir('snp');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      snaplen: 96,
      filter: 'udp',
      ring: { blockCount: 16, retireTimeoutMs: 20 },
      output: { directory: dir, prefix: 'snap' },
    });
    try {
      cap.start();
      const frame = udpFrame({
        srcMac: pair.macA,
        dstMac: FOREIGN_MAC,
        srcIp: pair.ipA,
        dstIp: pair.ipB,
        srcPort: 1,
        dstPort: 2,
        frameLength: 1000,
      });
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: [frame], count: 10 });
      await waitFor(() => cap.stats().packets >= 10, 'ten packets');
      await cap.stop();
      const rows = tsharkFields(`${dir}/snap-000000.pcapng`, ['frame.len', 'frame.cap_len']);
      expect(rows).toEqual(Array.from({ length: 10 }, () => ['1000', '96']));
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('compileFilter validates with libpcap and reports its message', () => {
    expect(compileFilter('tcp port 80').instructions.length).toBeGreaterThan(3);
    expect(compileFilter('').instructions).toEqual(['(000) ret      #262144']);
    expect(compileFilter('', { snaplen: 128 }).instructions).toEqual(['(000) ret      #128']);
    let err: unknown;
    try {
      compileFilter('tcp port eighty');
    } catch (e) {
      err = e;
    }
    expect(isNativeError(err, NativeErrorCode.badFilter)).toBe(true);
    expect((err as Error).message).toMatch(/invalid capture filter 'tcp port eighty': .*eighty/);
  });

  test('a bad filter fails the capture before any socket is opened', () => {
    expect(() => new RingCapture({ filter: 'udp and and', interfaces: [{ name: 'lo' }] })).toThrow(
      expect.objectContaining({ code: NativeErrorCode.badFilter, message: expect.stringMatching(/syntax error/) }),
    );
  });
});
